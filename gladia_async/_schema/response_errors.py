"""What a structuring failure tells: the JSON path of the bad value, nothing secret attached.

Only called once structuring failed (slow, thorough): :func:`locate_error` walks the type
alongside the data to the deepest value that fails on its own, and :func:`format_error` makes
the :class:`ResponseFormatError` naming it. With a ``scrub`` (the transport hands one with every
body), no text of the error, its cause or its chain shows the secret.
"""

from __future__ import annotations

import typing
from collections.abc import Callable
from typing import Any

import attrs
import cattrs
from cattrs.errors import BaseValidationError, StructureHandlerNotFoundError

from .._core.errors import ResponseFormatError, RootCause
from .shapes import _json_kind, _kind_check, _shape, _type_name, _union_members

__all__ = ["Scrub", "StructureError", "format_error", "locate_error"]

#: Takes a secret (the API key) out of a text; the transport hands one to the parsing of every
#: body it received, so a server that echoes the key into a malformed field cannot get it into
#: the error (or a deferred block's error, raised long after the call).
Scrub = Callable[[str], str]


#: What structuring malformed data can raise (``detailed_validation`` is off for speed, so
#: errors are the plain ones: KeyError for a missing field, TypeError/ValueError for bad types,
#: AttributeError for an array where an object was expected). ``structure_or_raise`` turns
#: them into a :class:`ResponseFormatError` naming the JSON path.
StructureError: tuple[type[BaseException], ...] = (
    BaseValidationError,
    StructureHandlerNotFoundError,
    ValueError,
    TypeError,
    KeyError,
    AttributeError,
)


def format_error(
    converter: cattrs.Converter,
    data: Any,
    cls: Any,
    path: str = "$",
    owner: Any = None,
    cause: BaseException | None = None,
    scrub: Scrub | None = None,
) -> ResponseFormatError:
    """The error for ``data`` (found at ``path`` of an ``owner``, by default itself) not
    fitting ``cls``, chained to ``cause``; with ``scrub``, nothing attached shows the secret."""
    name = _type_name(owner if owner is not None else cls)
    path, reason = locate_error(converter, data, cls, path, scrub)
    message = f"the response does not match {name}: at {path}: {reason}"
    error = ResponseFormatError(scrub(message) if scrub else message, cls_name=name)
    error.json_path = scrub(path) if scrub else path  # type: ignore[attr-defined]
    if cause is not None:
        error.__cause__ = cause if scrub is None else _scrubbed_cause(cause, scrub)
        error.__suppress_context__ = True
    return error


def _renderings(exc: BaseException) -> list[str] | None:
    """What ``exc`` and everything attached to it (chain, group members) can show; None when
    a rendering fails (then it is not trusted)."""
    seen: list[str] = []
    todo: list[BaseException] = [exc]
    visited: set[int] = set()
    while todo and len(visited) < 64:
        link = todo.pop()
        if id(link) in visited:
            continue
        visited.add(id(link))
        try:
            seen.append(f"{type(link).__qualname__}: {link}")
            seen += [repr(link), repr(link.args), repr(getattr(link, "__dict__", {}))]
        except Exception:
            return None
        todo += [e for e in (link.__cause__, link.__context__) if e is not None]
        todo += [e for e in getattr(link, "exceptions", ()) if isinstance(e, BaseException)]
    return seen


def _scrubbed_cause(exc: BaseException, scrub: Scrub) -> BaseException:
    """``exc`` as the cause of an error about server data: kept when nothing it renders (chain
    and group members included) shows the secret, else a frame-free scrubbed stand-in."""
    texts = _renderings(exc)
    if texts is not None and all(scrub(text) == text for text in texts):
        return exc
    try:
        detail = scrub(str(exc))
    except Exception:
        detail = "(unprintable)"
    replaced = RootCause(f"{type(exc).__module__}.{type(exc).__qualname__}: {detail}")
    replaced.__suppress_context__ = True
    return replaced


def locate_error(
    converter: cattrs.Converter, data: Any, tp: Any, path: str = "$", scrub: Scrub | None = None
) -> tuple[str, str]:
    """``(JSON path, reason)`` of the first value in ``data`` that does not fit ``tp``.

    Only called after structuring failed (slow, thorough): it walks the type alongside the data
    and reports the deepest value that fails on its own. A value shown in the reason is
    scrubbed before it is shortened (a cut secret would escape the scrub).
    """
    try:
        converter.structure(data, tp)
    except StructureError as exc:
        failure: BaseException = exc
    else:  # pragma: no cover - the caller saw it fail
        return path, "invalid value"
    members = _union_members(tp)
    if members:
        if data is None:
            return path, f"null where {_type_name(tp)} was expected"
        fitting = [m for m in members if m is not type(None) and _kind_check(m)(data)]
        if len(fitting) == 1:
            return locate_error(converter, data, fitting[0], path, scrub)
        return path, f"{_json_kind(data)} matches none of {_type_name(tp)}"
    origin = typing.get_origin(tp) or tp
    if attrs.has(origin):
        if type(data) is not dict:
            return path, f"expected an object ({_type_name(tp)}), got {_json_kind(data)}"
        hints = typing.get_type_hints(origin)
        shape = _shape(origin)
        for f in shape.fields:
            key = shape.key_of[f.name]
            if key not in data:
                if f.default is attrs.NOTHING:
                    return f"{path}.{key}", "required field missing"
                continue
            try:
                converter.structure(data[key], hints[f.name])
            except StructureError:
                return locate_error(converter, data[key], hints[f.name], f"{path}.{key}", scrub)
        return path, _reason(failure)
    if origin is list:
        if type(data) is not list:
            return path, f"expected an array, got {_json_kind(data)}"
        (item_type,) = typing.get_args(tp) or (Any,)
        for i, item in enumerate(data):
            try:
                converter.structure(item, item_type)
            except StructureError:
                return locate_error(converter, item, item_type, f"{path}[{i}]", scrub)
        return path, _reason(failure)
    if origin is dict:
        if type(data) is not dict:
            return path, f"expected an object, got {_json_kind(data)}"
        args = typing.get_args(tp)
        value_type = args[1] if len(args) == 2 else Any
        for key, item in data.items():
            try:
                converter.structure(item, value_type)
            except StructureError:
                return locate_error(converter, item, value_type, f"{path}.{key}", scrub)
        return path, _reason(failure)
    shown = repr(data) if scrub is None else scrub(repr(data))
    return path, f"expected {_type_name(tp)}, got {_json_kind(data)} {shown:.60}"


def _reason(exc: BaseException) -> str:
    if isinstance(exc, KeyError):
        return f"missing field {exc}"
    return str(exc) or type(exc).__name__
