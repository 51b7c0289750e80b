"""Query-string parsing of the listing routes: paging, status/kind, dates, ``custom_metadata``.

The filter comes in two forms, both accepted, as the service does:

* JSON, as Gladia's docs write it: ``custom_metadata={"user": "42"}``;
* bracket keys, as the official SDK (gladiaio-sdk 2.2.1) sends it and its tests assert:
  ``custom_metadata[user]=42``; nested objects as ``custom_metadata[a][b]=x``, arrays as
  ``custom_metadata[tags][]=x`` (repeated).

A filter the emulator cannot read is a 400, never ignored: an ignored filter returns every job,
and a list-then-delete on it deletes everything.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from typing import Any

import orjson

__all__ = [
    "MAX_FILTER_CHARS",
    "date_param",
    "day_param",
    "enum_list",
    "int_param",
    "metadata_filter",
    "parse_datetime",
]

#: Longest ``custom_metadata`` filter, stringified (Gladia's custom metadata docs: 2,000).
MAX_FILTER_CHARS = 2000
_NAME = "custom_metadata"
_BRACKETS = re.compile(r"\[([^\[\]]*)\]")


def metadata_filter(query: Any, errors: list[str]) -> dict[str, Any] | None:
    """The ``custom_metadata`` filter of ``query`` (a multidict), or None when there is none.

    Problems are appended to ``errors`` (class-validator style messages) and None returned.
    """
    pairs = [(k, v) for k, v in _items(query) if k == _NAME or k.startswith(_NAME)]
    if not pairs:
        return None
    found: dict[str, Any] = {}
    for key, raw in pairs:
        if key == _NAME:
            value = _json_object(raw, errors)
            if value is None:
                return None
            found.update(value)
            continue
        path = _bracket_path(key[len(_NAME) :])
        if path is None:
            errors.append(
                f'Query parameter "{key}" is not a readable custom_metadata filter: use '
                'custom_metadata={"key": "value"} or custom_metadata[key]=value'
            )
            return None
        if not _assign(found, path, raw):
            errors.append(f'Query parameter "{key}" conflicts with another custom_metadata key')
            return None
    if len(orjson.dumps(found)) > MAX_FILTER_CHARS:
        errors.append(
            f'Field "custom_metadata" must be shorter than or equal to {MAX_FILTER_CHARS} '
            "characters"
        )
        return None
    return found


def _items(query: Any) -> Iterable[tuple[str, str]]:
    items = query.items()
    return [(str(k), str(v)) for k, v in items]


def _json_object(raw: str, errors: list[str]) -> dict[str, Any] | None:
    if len(raw) > MAX_FILTER_CHARS:
        errors.append(
            f'Field "custom_metadata" must be shorter than or equal to {MAX_FILTER_CHARS} '
            "characters"
        )
        return None
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        value = None
    if not isinstance(value, dict):
        errors.append('Field "custom_metadata" must be a JSON object')
        return None
    return value


def _bracket_path(rest: str) -> list[str] | None:
    """``[a][b][]`` -> ``["a", "b", ""]``; None when ``rest`` is not only bracket groups."""
    if not rest.startswith("["):
        return None
    parts = _BRACKETS.findall(rest)
    if "".join(f"[{p}]" for p in parts) != rest or not parts or parts[0] == "":
        return None
    if "" in parts[:-1]:  # an array marker only at the end
        return None
    return parts


def _assign(target: dict[str, Any], path: list[str], value: str) -> bool:
    node = target
    for i, key in enumerate(path[:-1]):
        last_hop = i == len(path) - 2
        if last_hop and path[-1] == "":
            existing = node.setdefault(key, [])
            if not isinstance(existing, list):
                return False
            existing.append(value)
            return True
        child = node.setdefault(key, {})
        if not isinstance(child, dict):
            return False
        node = child
    if path[-1] in node:
        return False
    node[path[-1]] = value
    return True


def int_param(
    query: Mapping[str, str], name: str, default: int, minimum: int, errors: list[str]
) -> int:
    raw = query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        errors.append(f'Field "{name}" must be an integer number')
        return default
    if value < minimum:
        errors.append(f'Field "{name}" must not be less than {minimum}')
        return default
    return value


def enum_list(
    query: Any, name: str, allowed: tuple[str, ...], errors: list[str]
) -> frozenset[str] | None:
    values = [v.strip() for raw in query.getall(name, []) for v in raw.split(",") if v.strip()]
    if not values:
        return None
    bad = [v for v in values if v not in allowed]
    if bad:
        errors.append(f'Field "{name}" must be one of the following values: {", ".join(allowed)}')
        return None
    return frozenset(values)


def parse_datetime(raw: str) -> datetime:
    text = raw.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment


def date_param(query: Mapping[str, str], name: str, errors: list[str]) -> float | None:
    raw = query.get(name)
    if raw is None:
        return None
    try:
        return parse_datetime(raw).timestamp()
    except ValueError:
        errors.append(f'Field "{name}" must be a valid ISO 8601 date string')
        return None


def day_param(query: Mapping[str, str], name: str, errors: list[str]) -> float | None:
    raw = query.get(name)
    if raw is None:
        return None
    try:
        moment = parse_datetime(raw).astimezone(timezone.utc)
    except ValueError:
        errors.append(f'Field "{name}" must be a valid ISO 8601 date string')
        return None
    day = datetime(moment.year, moment.month, moment.day, tzinfo=timezone.utc)
    return day.timestamp()
