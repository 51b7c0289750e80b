"""The one cattrs converter of gladia-async, configured here and nowhere else.

* Unknown JSON keys are ignored, so a field the server adds never breaks an old client.
* Unknown enum values become pseudo-members (see :class:`~gladia_async._models.OpenEnum`).
* Unstructuring omits fields left at their default (``None``), so options serialize without
  unset fields; fields the spec requires but allows to be null are always written.
* ``date-time`` fields are timezone-aware :class:`datetime.datetime` (a naive timestamp is UTC);
  they serialize as ISO 8601 with ``Z``.
* ``oneOf`` unions dispatch on the spec's discriminator, or else try their members in order.

Use :func:`structure` / :func:`unstructure` / :func:`loads` / :func:`dumps`; wrap untrusted input
with :func:`structure_or_raise` to get a :class:`ResponseFormatError` on malformed data.
"""

from __future__ import annotations

import contextlib
import datetime
import gc
import linecache
import re
import threading
import types
import typing
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import attrs
import cattrs
import orjson
from cattrs.errors import BaseValidationError, StructureHandlerNotFoundError
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override

from . import _models
from ._errors import ResponseFormatError
from ._models import OpenEnum, OpenIntEnum

__all__ = [
    "GC_PAUSE_BYTES",
    "ResponseFormatError",
    "StructureError",
    "converter",
    "dumps",
    "loads",
    "loads_or_raise",
    "structure",
    "structure_or_raise",
    "unstructure",
]

T = TypeVar("T")


#: What structuring malformed data can raise (``detailed_validation`` is off for speed, so
#: errors are the plain ones: KeyError for a missing field, TypeError/ValueError for bad types).
StructureError: tuple[type[BaseException], ...] = (
    BaseValidationError,
    StructureHandlerNotFoundError,
    ValueError,
    TypeError,
    KeyError,
)

converter = cattrs.Converter(
    forbid_extra_keys=False,
    omit_if_default=True,
    detailed_validation=False,
)

# -- datetimes -----------------------------------------------------------------------------

_UTC = datetime.timezone.utc
_FRACTION = re.compile(r"(\.\d+)")


def _parse_datetime(value: Any, _: Any = None) -> datetime.datetime:
    if isinstance(value, datetime.datetime):
        parsed = value
    elif isinstance(value, str):
        text = value[:-1] + "+00:00" if value.endswith(("Z", "z")) else value
        try:
            parsed = datetime.datetime.fromisoformat(text)
        except ValueError:
            # Python 3.10 only takes 3 or 6 fractional digits: pad or cut to microseconds.
            text = _FRACTION.sub(lambda m: (m.group(1) + "000000")[:7], text, count=1)
            parsed = datetime.datetime.fromisoformat(text)
    else:
        raise TypeError(f"expected an ISO 8601 date-time string, got {type(value).__name__}")
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=_UTC)


def _format_datetime(value: datetime.datetime) -> str:
    if value.tzinfo is None:
        value = value.replace(tzinfo=_UTC)
    spec = "milliseconds" if value.microsecond % 1000 == 0 else "microseconds"
    text = value.isoformat(timespec=spec)
    return text[:-6] + "Z" if text.endswith("+00:00") else text


converter.register_structure_hook(datetime.datetime, _parse_datetime)
converter.register_unstructure_hook(datetime.datetime, _format_datetime)

# -- open enums ----------------------------------------------------------------------------


def _is_open_enum(t: Any) -> bool:
    return isinstance(t, type) and issubclass(t, (OpenEnum, OpenIntEnum))


def _enum_structure_factory(t: Any) -> Callable[[Any, Any], Any]:
    members = t._value2member_map_

    def structure_enum(value: Any, _: Any) -> Any:
        member = members.get(value)  # fast path for known values
        # Unknown values become pseudo-members instead of raising.
        return member if member is not None else t(value)

    return structure_enum


converter.register_structure_hook_factory(_is_open_enum, _enum_structure_factory)
converter.register_unstructure_hook_func(_is_open_enum, lambda member: member._value_)

# -- unions --------------------------------------------------------------------------------

_PRIMITIVES = (str, int, float, bool)
_SCALARS: dict[Any, str] = {str: "str", int: "int", float: "float", bool: "bool"}


def _union_members(t: Any) -> tuple[Any, ...]:
    if typing.get_origin(t) in (typing.Union, types.UnionType):
        return typing.get_args(t)
    return ()


def _is_object_union(t: Any) -> bool:
    return len([m for m in _union_members(t) if m is not type(None)]) >= 2


def _union_structure_factory(t: Any) -> Callable[[Any, Any], Any]:
    members = _union_members(t)
    nullable = type(None) in members
    choices = tuple(m for m in members if m is not type(None))
    tagged = _models.DISCRIMINATORS.get(choices)
    hooks = [(m, converter.get_structure_hook(m)) for m in choices]

    def try_in_order(value: Any) -> Any:
        for member, hook in hooks:
            if member in _PRIMITIVES:
                if type(value) is member:
                    return value
                continue
            if isinstance(value, dict):
                try:
                    return hook(value, member)
                except StructureError:
                    continue
        raise ValueError(f"{value!r:.80} matches none of {' | '.join(m.__name__ for m in choices)}")

    if tagged is not None:
        prop, mapping = tagged
        by_tag = {tag: (converter.get_structure_hook(cls), cls) for tag, cls in mapping.items()}

        def structure_tagged(value: Any, _: Any) -> Any:
            if value is None and nullable:
                return None
            tag = value.get(prop) if isinstance(value, dict) else None
            found = by_tag.get(tag) if isinstance(tag, str) else None
            if found is None:
                return try_in_order(value)  # unknown tag: a future kind may still parse
            return found[0](value, found[1])

        return structure_tagged

    def structure_union(value: Any, _: Any) -> Any:
        if value is None and nullable:
            return None
        return try_in_order(value)

    return structure_union


converter.register_structure_hook_factory(_is_object_union, _union_structure_factory)


def _is_optional(t: Any) -> bool:
    members = _union_members(t)
    return len(members) == 2 and type(None) in members


def _optional_structure_factory(t: Any) -> Callable[[Any, Any], Any]:
    """``X | None`` with X's hook resolved once, not dispatched on every value.

    cattrs' generic optional handler looks X's hook up per call; results hold tens of
    thousands of optional fields, so that lookup was a sixth of a ``get()``'s CPU.
    """
    (inner,) = [m for m in _union_members(t) if m is not type(None)]
    if inner in _SCALARS:

        def structure_optional_scalar(value: Any, _: Any) -> Any:
            if value is None or type(value) is inner:
                return value
            return inner(value)

        return structure_optional_scalar
    hook = converter.get_structure_hook(inner)

    def structure_optional(value: Any, _: Any) -> Any:
        return None if value is None else hook(value, inner)

    return structure_optional


converter.register_structure_hook_factory(_is_optional, _optional_structure_factory)

# -- attrs classes: renamed keys and always-serialized nullable fields -------------------------


def _structure_factory(cls: Any) -> Any:
    renames = _models.JSON_KEYS.get(cls, {})
    overrides: dict[str, Any] = {name: override(rename=key) for name, key in renames.items()}
    return make_dict_structure_fn(cls, converter, _cattrs_forbid_extra_keys=False, **overrides)


def _unstructure_factory(cls: Any) -> Any:
    renames = _models.JSON_KEYS.get(cls, {})
    overrides: dict[str, Any] = {name: override(rename=key) for name, key in renames.items()}
    for name in _models.ALWAYS_SERIALIZE.get(cls, ()):
        overrides[name] = override(omit_if_default=False, rename=renames.get(name))
    return make_dict_unstructure_fn(cls, converter, _cattrs_omit_if_default=True, **overrides)


converter.register_structure_hook_factory(attrs.has, _structure_factory)
converter.register_unstructure_hook_factory(attrs.has, _unstructure_factory)

# -- hot path: flat classes ------------------------------------------------------------------
# A finished job holds tens of thousands of ``Word`` objects. For classes whose fields are all
# scalars (str/int/float/bool/open enum, optionally None) we generate a tighter structure
# function than cattrs' generic one: no keyword-argument call into the frozen ``__init__``, just
# ``object.__new__`` and one slot store per field, with the same coercions cattrs applies
# (``str()``/``float()``/``int()``/``bool()``, enum lookup) and the same errors (KeyError for a
# missing required key, ValueError/TypeError for a bad value).


def _scalar_of(t: Any) -> tuple[Any, bool] | None:
    """``(scalar type, optional)`` if ``t`` is a scalar or ``scalar | None``, else None."""
    optional = False
    members = _union_members(t)
    if members:
        rest = [m for m in members if m is not type(None)]
        if len(rest) != 1 or len(members) != 2:
            return None
        t, optional = rest[0], True
    if t in _SCALARS or _is_open_enum(t):
        return t, optional
    return None


def _is_flat(cls: Any) -> bool:
    if not (attrs.has(cls) and isinstance(cls, type)) or cls in _models.JSON_KEYS:
        return False
    fields = attrs.fields(cls)
    if not fields or hasattr(cls, "__attrs_post_init__"):
        return False
    if any(f.validator is not None or f.converter is not None or not f.init for f in fields):
        return False  # the fast path skips __init__, so nothing may depend on it
    types_ = typing.get_type_hints(cls)
    return all(_scalar_of(types_[f.name]) is not None for f in fields)


def _enum_converter(t: Any) -> Callable[[Any], Any]:
    members = t._value2member_map_

    def convert(value: Any) -> Any:
        member = members.get(value)
        return member if member is not None else t(value)

    return convert


def _flat_source(cls: Any, env: dict[str, Any], indent: str) -> list[str]:
    """Statements building ``self`` (a ``cls``) from the dict ``o``."""
    types_ = typing.get_type_hints(cls)
    env.update({"__new": object.__new__, "__set": object.__setattr__, "__cls": cls})
    lines = [f"{indent}self = __new(__cls)"]
    for i, f in enumerate(attrs.fields(cls)):
        scalar = _scalar_of(types_[f.name])
        assert scalar is not None
        t, optional = scalar
        conv = f"__c{i}"
        env[conv] = _enum_converter(t) if _is_open_enum(t) else t
        if f.default is attrs.NOTHING and not optional:
            lines.append(f"{indent}__set(self, {f.name!r}, {conv}(o[{f.name!r}]))")
        else:
            lines.append(f"{indent}v = o.get({f.name!r})")
            lines.append(f"{indent}__set(self, {f.name!r}, None if v is None else {conv}(v))")
    return lines


def _compile(name: str, lines: list[str], env: dict[str, Any]) -> Callable[[Any, Any], Any]:
    source = "\n".join(lines) + "\n"
    filename = f"<gladia_async {name}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    exec(compile(source, filename, "exec"), env)
    return typing.cast(Callable[[Any, Any], Any], env["structure"])


def _flat_structure_factory(cls: Any) -> Callable[[Any, Any], Any]:
    env: dict[str, Any] = {}
    lines = ["def structure(o, _=None):", *_flat_source(cls, env, "    "), "    return self"]
    return _compile(f"structure {cls.__qualname__}", lines, env)


def _is_flat_list(t: Any) -> bool:
    if typing.get_origin(t) is not list:
        return False
    args = typing.get_args(t)
    return len(args) == 1 and _is_flat(args[0])


def _flat_list_structure_factory(t: Any) -> Callable[[Any, Any], Any]:
    # The per-item loop inlined: no hook call per word.
    (cls,) = typing.get_args(t)
    env: dict[str, Any] = {}
    lines = [
        "def structure(items, _=None):",
        "    out = []",
        "    append = out.append",
        "    for o in items:",
        *_flat_source(cls, env, "        "),
        "        append(self)",
        "    return out",
    ]
    return _compile(f"structure list[{cls.__qualname__}]", lines, env)


converter.register_structure_hook_factory(_is_flat, _flat_structure_factory)
converter.register_structure_hook_factory(_is_flat_list, _flat_list_structure_factory)

# -- public helpers ------------------------------------------------------------------------


def structure(data: Any, cls: type[T]) -> T:
    """Build a ``cls`` from JSON-like ``data``; raises one of :data:`StructureError`."""
    return converter.structure(data, cls)


def unstructure(obj: Any) -> Any:
    """Turn a model (or a list/dict of them) into JSON-ready data, without unset fields."""
    return converter.unstructure(obj)


#: Payloads at least this big are parsed with the cyclic GC paused (see :func:`_gc_paused`).
GC_PAUSE_BYTES = 1 << 20

_gc_lock = threading.Lock()
_gc_depth = 0
_gc_was_enabled = False


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector for the duration (re-entrant, thread-safe).

    Structuring a finished 3-hour job creates ~65,000 small objects in one go; with the GC on,
    each few hundred allocations trigger a collection that walks them again (and one full
    collection walks the whole heap), which costs more than the structuring itself. None of
    these objects can form a cycle, so the collector has nothing to find there. The GC state is
    restored afterwards (it stays off if it was off).
    """
    global _gc_depth, _gc_was_enabled
    with _gc_lock:
        if _gc_depth == 0:
            _gc_was_enabled = gc.isenabled()
            gc.disable()
        _gc_depth += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_depth -= 1
            if _gc_depth == 0 and _gc_was_enabled:
                gc.enable()


def loads(raw: bytes | str, cls: type[T]) -> T:
    """Parse JSON ``raw`` with orjson and structure it into ``cls``.

    Raises ``orjson.JSONDecodeError`` (a ValueError) or one of :data:`StructureError`.
    """
    if len(raw) < GC_PAUSE_BYTES:
        return converter.structure(orjson.loads(raw), cls)
    with _gc_paused():
        return converter.structure(orjson.loads(raw), cls)


def loads_or_raise(raw: bytes | str, cls: type[T]) -> T:
    """Like :func:`loads`, but invalid JSON or data becomes a :class:`ResponseFormatError`."""
    name = getattr(cls, "__name__", str(cls))
    try:
        data = orjson.loads(raw) if len(raw) < GC_PAUSE_BYTES else None
    except orjson.JSONDecodeError as exc:
        raise ResponseFormatError(
            f"the response is not valid JSON: {exc}", cls_name=name, invalid_json=True
        ) from exc
    if data is not None:
        return structure_or_raise(data, cls)
    try:
        return loads(raw, cls)
    except orjson.JSONDecodeError as exc:
        raise ResponseFormatError(
            f"the response is not valid JSON: {exc}", cls_name=name, invalid_json=True
        ) from exc
    except StructureError as exc:
        raise _format_error(exc, name) from exc


def dumps(obj: Any) -> bytes:
    """Serialize a model to JSON bytes (orjson), without unset fields."""
    return orjson.dumps(converter.unstructure(obj))


def structure_or_raise(data: Any, cls: type[T]) -> T:
    """Like :func:`structure`, but any failure becomes a :class:`ResponseFormatError`."""
    try:
        return converter.structure(data, cls)
    except StructureError as exc:
        raise _format_error(exc, getattr(cls, "__name__", str(cls))) from exc


def _format_error(exc: BaseException, name: str) -> ResponseFormatError:
    detail = f"missing field {exc}" if isinstance(exc, KeyError) else str(exc)
    return ResponseFormatError(f"the response does not match {name}: {detail}", cls_name=name)


# Build the structure functions of the hot classes once, at import (nested classes come along).
for _cls in (
    _models.TranscriptionJob,
    _models.LiveJob,
    _models.JobCreated,
    _models.UploadedAudio,
    _models.JobPage,
    _models.TranscriptionJobPage,
    _models.LiveJobPage,
):
    converter.get_structure_hook(_cls)
converter.get_unstructure_hook(_models.TranscriptionOptions)
del _cls
