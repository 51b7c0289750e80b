"""Schema-driven request validation (NestJS ``class-validator`` style messages).

The schemas come from ``_spec_subset.json``, a trimmed copy of Gladia's OpenAPI components
(regenerate with ``python -m gladia_async.testing._gen_spec_subset SPEC``). Type/shape problems
are reported as a list of human readable messages (the ``validation_errors`` of a 400
``BadRequestErrorResponse``), e.g. ``Field "language_config.languages.0" must be one of the
following values: ...`` or ``property foo should not exist``.
"""

from __future__ import annotations

import functools
import importlib.resources
import math
from typing import Any
from urllib.parse import urlsplit

import orjson

__all__ = [
    "echo_request_params",
    "fill_defaults",
    "is_http_url",
    "rule_errors",
    "schema",
    "validate",
]

JSON = Any


@functools.cache
def _schemas() -> dict[str, Any]:
    raw = importlib.resources.files(__package__).joinpath("_spec_subset.json").read_bytes()
    data: dict[str, Any] = orjson.loads(raw)
    schemas: dict[str, Any] = data["schemas"]
    return schemas


def schema(name: str) -> dict[str, Any]:
    """Return the named component schema of the bundled spec subset."""
    found: dict[str, Any] = _schemas()[name]
    return found


def _resolve(node: dict[str, Any]) -> dict[str, Any]:
    """Flatten ``$ref`` and single-element ``allOf`` wrappers (keeping sibling keywords)."""
    while True:
        if "$ref" in node:
            target = schema(node["$ref"].rsplit("/", 1)[-1])
            rest = {k: v for k, v in node.items() if k != "$ref"}
            node = {**target, **rest}
            continue
        all_of = node.get("allOf")
        if isinstance(all_of, list) and len(all_of) == 1:
            rest = {k: v for k, v in node.items() if k != "allOf"}
            node = {**_resolve(all_of[0]), **rest}
            continue
        return node


def is_http_url(value: object) -> bool:
    """True for an absolute ``http``/``https`` URL with a host."""
    if not isinstance(value, str):
        return False
    try:
        parts = urlsplit(value)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def _fmt_num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _type_ok(expected: str, value: object) -> bool:
    if expected == "string":
        return isinstance(value, str)
    if expected == "boolean":
        return isinstance(value, bool)
    if expected == "number":
        return (
            isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        )
    if expected == "integer":
        if isinstance(value, bool):
            return False
        return isinstance(value, int) or (isinstance(value, float) and value.is_integer())
    if expected == "object":
        return isinstance(value, dict)
    if expected == "array":
        return isinstance(value, list)
    return True


_TYPE_MESSAGES = {
    "string": "must be a string",
    "number": "must be a number",
    "integer": "must be an integer number",
    "boolean": "must be a boolean value",
    "object": "must be an object",
    "array": "must be an array",
}


def _check(
    node: dict[str, Any],
    value: JSON,
    path: str,
    errors: list[str],
    skip_format: frozenset[str],
) -> None:
    node = _resolve(node)
    field = f'Field "{path}"'
    if value is None:
        if node.get("nullable"):
            return
        errors.append(f"{field} should not be null")
        return
    one_of = node.get("oneOf")
    if isinstance(one_of, list):
        for option in one_of:
            sub: list[str] = []
            _check(option, value, path, sub, skip_format)
            if not sub:
                return
        errors.append(f"{field} has an invalid shape")
        return
    expected = node.get("type")
    if isinstance(expected, str) and not _type_ok(expected, value):
        errors.append(f"{field} {_TYPE_MESSAGES.get(expected, 'has an invalid type')}")
        return
    enum = node.get("enum")
    if isinstance(enum, list) and value not in enum:
        allowed = ", ".join(str(v) for v in enum)
        errors.append(f"{field} must be one of the following values: {allowed}")
        return
    if expected in ("number", "integer"):
        if "minimum" in node and value < node["minimum"]:
            errors.append(f"{field} must not be less than {_fmt_num(node['minimum'])}")
        if "maximum" in node and value > node["maximum"]:
            errors.append(f"{field} must not be greater than {_fmt_num(node['maximum'])}")
    elif expected == "string":
        if node.get("format") == "uri" and path not in skip_format and not is_http_url(value):
            errors.append(f"{field} must be a URL address")
    elif expected == "array":
        if "minItems" in node and len(value) < node["minItems"]:
            errors.append(f"{field} must contain at least {node['minItems']} elements")
        if "maxItems" in node and len(value) > node["maxItems"]:
            errors.append(f"{field} must contain no more than {node['maxItems']} elements")
        items = node.get("items")
        if isinstance(items, dict):
            for index, item in enumerate(value):
                _check(items, item, f"{path}.{index}", errors, skip_format)
    elif expected == "object" or "properties" in node:
        _check_object(node, value, path, errors, skip_format)


def _check_object(
    node: dict[str, Any],
    value: dict[str, Any],
    path: str,
    errors: list[str],
    skip_format: frozenset[str],
) -> None:
    props: dict[str, Any] = node.get("properties", {})
    additional = node.get("additionalProperties", False if props else True)
    prefix = f"{path}." if path else ""
    for name in node.get("required", ()):
        if name not in value or value[name] is None or value[name] == "":
            errors.append(f'Field "{prefix}{name}" should not be empty')
    for key, item in value.items():
        sub_path = f"{prefix}{key}"
        if key in props:
            if key in node.get("required", ()) and (item is None or item == ""):
                continue
            _check(props[key], item, sub_path, errors, skip_format)
        elif isinstance(additional, dict):
            _check(additional, item, sub_path, errors, skip_format)
        elif not additional:
            errors.append(f"property {sub_path} should not exist")


def validate(
    schema_name: str, body: JSON, *, skip_format: frozenset[str] = frozenset()
) -> list[str]:
    """Validate ``body`` against a bundled schema; return the list of violations."""
    errors: list[str] = []
    if not isinstance(body, dict):
        return ["Request body must be a JSON object"]
    _check_object(_resolve(schema(schema_name)), body, "", errors, skip_format)
    return errors


#: Rules of Gladia's docs beyond the spec (spec/ERRATA.md, "Option rules"), in the words of the
#: service's class-validator messages. The SDK checks the same (``_schema.option_rules``).
_SOLARIA_3_LANGUAGES = ("en", "fr", "de", "es", "it")
_LIVE_VOCABULARY_MAX_ENTRIES = 100
_LIVE_VOCABULARY_MAX_WORDS = 5
_LIVE_VOCABULARY_MAX_CHARS = 10_000


def rule_errors(schema_name: str, body: JSON) -> list[str]:
    """The option rules ``body`` breaks (``validation_errors`` of a 400), for a request schema.

    ``InitTranscriptionRequest``: solaria-3 takes only en, fr, de, es, it (or none) in
    ``language_config.languages`` and no code switching. ``StreamingRequest``: a live custom
    vocabulary has at most 100 entries, 5 words an entry, 10,000 characters in all.
    """
    if not isinstance(body, dict):
        return []
    if schema_name == "InitTranscriptionRequest":
        return _solaria_3_errors(body)
    if schema_name == "StreamingRequest":
        return _live_vocabulary_errors(body)
    return []


def _solaria_3_errors(body: dict[str, Any]) -> list[str]:
    if body.get("model") != "solaria-3":
        return []
    errors: list[str] = []
    config = body.get("language_config")
    config = config if isinstance(config, dict) else {}
    languages = config.get("languages")
    allowed = ", ".join(_SOLARIA_3_LANGUAGES)
    if isinstance(languages, list):  # none is allowed: the model detects among the five
        for index, code in enumerate(languages):
            if code not in _SOLARIA_3_LANGUAGES:
                errors.append(
                    f'Field "language_config.languages.{index}" must be one of the following '
                    f"values with model solaria-3: {allowed}"
                )
    if config.get("code_switching") is True:
        errors.append('Field "language_config.code_switching" must be false with model solaria-3')
    if body.get("enable_code_switching") is True:
        errors.append('Field "enable_code_switching" must be false with model solaria-3')
    return errors


def _live_vocabulary_errors(body: dict[str, Any]) -> list[str]:
    processing = body.get("realtime_processing")
    config = processing.get("custom_vocabulary_config") if isinstance(processing, dict) else None
    vocabulary = config.get("vocabulary") if isinstance(config, dict) else None
    if not isinstance(vocabulary, list):
        return []
    path = "realtime_processing.custom_vocabulary_config.vocabulary"
    errors: list[str] = []
    if len(vocabulary) > _LIVE_VOCABULARY_MAX_ENTRIES:
        errors.append(
            f'Field "{path}" must contain no more than {_LIVE_VOCABULARY_MAX_ENTRIES} elements'
        )
    total = 0
    for index, entry in enumerate(vocabulary):
        text = entry.get("value") if isinstance(entry, dict) else entry
        if not isinstance(text, str):
            continue
        total += len(text)
        if len(text.split()) > _LIVE_VOCABULARY_MAX_WORDS:
            errors.append(
                f'Field "{path}.{index}" must contain no more than '
                f"{_LIVE_VOCABULARY_MAX_WORDS} words"
            )
    if total > _LIVE_VOCABULARY_MAX_CHARS:
        errors.append(
            f'Field "{path}" must contain no more than {_LIVE_VOCABULARY_MAX_CHARS} characters '
            "in all"
        )
    return errors


def fill_defaults(
    schema_name: str, given: dict[str, Any], *, always: frozenset[str] = frozenset()
) -> dict[str, Any]:
    """Echo ``given`` with every defaulted property filled in (as the service echoes params).

    Nested objects are filled when given, or when their name is in ``always``.
    """
    return _fill(_resolve(schema(schema_name)), given, always)


def _fill(node: dict[str, Any], given: dict[str, Any], always: frozenset[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, raw in node.get("properties", {}).items():
        prop = _resolve(raw)
        if name in given:
            value = given[name]
            if isinstance(value, dict) and "properties" in prop:
                value = _fill(prop, value, always)
            out[name] = value
        elif "default" in prop:
            default = prop["default"]
            out[name] = list(default) if isinstance(default, list) else default
        elif name in always and "properties" in prop:
            out[name] = _fill(prop, {}, always)
    for name, value in given.items():
        out.setdefault(name, value)
    return out


#: What a pre-recorded job's ``request_params`` shows besides what was sent, as the service
#: answers: the spec's own example of ``GET /v2/transcription/{id}`` (a real answer) echoes these
#: add-on flags at their default, and not ``custom_vocabulary``, ``callback``, ``audio_to_llm``
#: or ``pii_redaction``; real jobs also echo ``model`` (spec/ERRATA.md).
ECHOED_DEFAULTS = frozenset(
    {
        "subtitles",
        "diarization",
        "translation",
        "summarization",
        "sentences",
        "moderation",
        "named_entity_recognition",
        "name_consistency",
        "custom_spelling",
        "structured_data_extraction",
        "chapterization",
        "sentiment_analysis",
        "display_mode",
        "audio_enhancer",
        "language_config",
        "accurate_words_timestamps",
        "diarization_enhanced",
        "punctuation_enhanced",
        "model",
    }
)


def echo_request_params(given: dict[str, Any]) -> dict[str, Any]:
    """The ``request_params`` of a pre-recorded job created with body ``given`` (no metadata).

    What was sent (nested configs completed with their defaults), plus the defaults the service
    echoes (:data:`ECHOED_DEFAULTS`), and nothing else.
    """
    full = fill_defaults(
        "PreRecordedRequestParamsResponse", given, always=frozenset({"language_config"})
    )
    return {k: v for k, v in full.items() if k in given or k in ECHOED_DEFAULTS}
