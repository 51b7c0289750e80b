"""The one cattrs converter of gladia-async, configured here and nowhere else.

* Lossless: unknown JSON keys are kept on each model (``extra``, also readable as attributes)
  and written back when unstructured, as are keys given explicitly as ``null`` or at their
  default, so ``unstructure(structure(x)) == x`` (date-time text aside: it is normalised).
* Unknown enum values become pseudo-members (see :class:`~gladia_async._schema.models.OpenEnum`).
* Unstructuring omits fields left at their default (``None``), so options serialize without
  unset fields; fields the spec requires but allows to be null are always written.
* ``date-time`` fields are timezone-aware :class:`datetime.datetime` (a naive timestamp is UTC);
  they serialize as ISO 8601 with ``Z``.
* ``oneOf`` unions dispatch on the spec's discriminator, or else try the members whose JSON
  kind (object, array, string, number, boolean) matches the value, in order.
* Any structuring failure names the JSON path of the bad value (``$.result.sentences[0]``) in
  the :class:`ResponseFormatError`.

Use :func:`structure` / :func:`unstructure` / :func:`loads` / :func:`dumps`; wrap untrusted input
with :func:`structure_or_raise` to get a :class:`ResponseFormatError` on malformed data.
"""

from __future__ import annotations

import datetime
import re
import sys
import typing
from collections.abc import Callable
from typing import Any, TypeVar

import attrs
import cattrs
import orjson
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override

from .._core.errors import ResponseFormatError
from . import models as _models
from .deferred import _DEFER, _PAGES, _install_deferred
from .fast_paths import (
    _CONSUME,
    _flat_list_structure_factory,
    _flat_structure_factory,
    _is_flat,
    _is_flat_list,
)
from .models import OpenEnum, OpenIntEnum
from .response_errors import Scrub, StructureError, format_error
from .shapes import (
    _PRIMITIVES,
    _SCALARS,
    _STRICT,
    _has_init_logic,
    _is_object_union,
    _is_open_enum,
    _json_kind,
    _kind_check,
    _shape,
    _type_name,
    _union_members,
)

__all__ = [
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

converter = cattrs.Converter(
    forbid_extra_keys=False,
    omit_if_default=True,
    detailed_validation=False,
)

# -- datetimes -----------------------------------------------------------------------------

_UTC = datetime.timezone.utc
#: ``fromisoformat`` reads "Z" and any number of fractional digits from 3.11 on.
_ISO_Z = sys.version_info >= (3, 11)
_FRACTION = re.compile(r"(\.\d+)")


def _parse_datetime(value: Any, _: Any = None) -> datetime.datetime:
    if _ISO_Z and type(value) is str:  # the API's form ("...Z"): one call, no regex
        try:
            parsed = datetime.datetime.fromisoformat(value)
        except ValueError:
            pass  # 3.10's narrower fromisoformat, or a malformed value: the full path below
        else:
            if parsed.tzinfo is not None:
                return parsed
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


def _structure_open_enum(value: Any, t: Any) -> Any:
    member = t._value2member_map_.get(value)  # fast path for known values
    # Unknown values become pseudo-members instead of raising.
    return member if member is not None else t(value)


converter.register_unstructure_hook_func(_is_open_enum, lambda member: member._value_)

# -- scalars: the strict readings of shapes._STRICT -----------------------------------------


def _scalar_hook(conv: Callable[[Any], Any]) -> Callable[[Any, Any], Any]:
    return lambda value, _: conv(value)


for _scalar, _conv in _STRICT.items():
    converter.register_structure_hook(_scalar, _scalar_hook(_conv))
# The open enums are str/int subclasses: their own (more specific) hook wins over the above.
converter.register_structure_hook(OpenEnum, _structure_open_enum)
converter.register_structure_hook(OpenIntEnum, _structure_open_enum)

# -- unions --------------------------------------------------------------------------------


def _union_structure_factory(t: Any) -> Callable[[Any, Any], Any]:
    members = _union_members(t)
    nullable = type(None) in members
    choices = tuple(m for m in members if m is not type(None))
    tagged = _models.DISCRIMINATORS.get(choices)
    hooks = [(m, converter.get_structure_hook(m)) for m in choices]

    checks = [(m, _kind_check(m), h) for m, h in hooks]

    def try_in_order(value: Any) -> Any:
        for member, fits, hook in checks:
            if not fits(value):
                continue
            if member in _PRIMITIVES:
                return value
            # A member that fails half-way must leave the value whole for the next one.
            token = _CONSUME.set(False)
            try:
                return hook(value, member)
            except StructureError:
                continue
            finally:
                _CONSUME.reset(token)
        raise ValueError(f"{value!r:.80} matches none of {' | '.join(map(_type_name, choices))}")

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
        strict = _STRICT[inner]

        def structure_optional_scalar(value: Any, _: Any) -> Any:
            if value is None or type(value) is inner:
                return value
            return strict(value)

        return structure_optional_scalar
    hook = converter.get_structure_hook(inner)

    def structure_optional(value: Any, _: Any) -> Any:
        return None if value is None else hook(value, inner)

    return structure_optional


converter.register_structure_hook_factory(_is_optional, _optional_structure_factory)

# -- attrs classes: renamed keys, unknown keys kept, presence restored (see shapes._Shape) ---


def _structure_factory(cls: Any) -> Any:
    if not issubclass(cls, _models.GladiaModel) or _has_init_logic(cls):
        return make_dict_structure_fn(cls, converter)
    return _flat_structure_factory(cls, converter)


def _unstructure_factory(cls: Any) -> Any:
    renames = _models.JSON_KEYS.get(cls, {})
    overrides: dict[str, Any] = {name: override(rename=key) for name, key in renames.items()}
    for name in _models.ALWAYS_SERIALIZE.get(cls, ()):
        overrides[name] = override(omit_if_default=False, rename=renames.get(name))
    overrides["extra"] = override(omit=True)
    overrides["_flip"] = override(omit=True)
    base = make_dict_unstructure_fn(cls, converter, _cattrs_omit_if_default=True, **overrides)
    name_of = _shape(cls).name_of
    unstructure_any = converter.unstructure

    def unstructure_model(obj: Any) -> Any:
        out = base(obj)
        flipped = obj._flip
        if flipped is not None:
            for key in flipped:
                if key in out:
                    del out[key]
                else:
                    out[key] = unstructure_any(getattr(obj, name_of[key]))
        extra = obj.extra
        if extra:
            out.update(extra)
        return out

    return unstructure_model


converter.register_structure_hook_factory(attrs.has, _structure_factory)
converter.register_unstructure_hook_factory(attrs.has, _unstructure_factory)

# -- lists and dicts; the flat classes' hand-tuned code (fast_paths) ------------------------


def _is_list(t: Any) -> bool:
    return typing.get_origin(t) is list


def _list_structure_factory(t: Any) -> Callable[[Any, Any], Any]:
    # cattrs would iterate anything: a string would become a list of its characters.
    (inner,) = typing.get_args(t) or (Any,)
    if inner in _SCALARS:  # list[str] and the like: the value usually has the type already
        strict = _STRICT[inner]

        def structure_scalar_list(items: Any, _: Any = None) -> list[Any]:
            if type(items) is not list:
                raise TypeError(f"expected an array, got {_json_kind(items)}")
            return [v if type(v) is inner else strict(v) for v in items]

        return structure_scalar_list
    hook = converter.get_structure_hook(inner)

    def structure_list(items: Any, _: Any = None) -> list[Any]:
        if type(items) is not list:
            raise TypeError(f"expected an array, got {_json_kind(items)}")
        return [hook(item, inner) for item in items]

    return structure_list


def _is_dict(t: Any) -> bool:
    return typing.get_origin(t) is dict or t is dict


def _dict_structure_factory(t: Any) -> Callable[[Any, Any], Any]:
    args = typing.get_args(t)
    inner = args[1] if len(args) == 2 else Any
    if inner is Any:

        def structure_any_dict(o: Any, _: Any = None) -> dict[str, Any]:
            if type(o) is not dict:
                raise TypeError(f"expected an object, got {_json_kind(o)}")
            return dict(o)

        return structure_any_dict
    hook = converter.get_structure_hook(inner)

    def structure_dict(o: Any, _: Any = None) -> dict[str, Any]:
        if type(o) is not dict:
            raise TypeError(f"expected an object, got {_json_kind(o)}")
        return {k: hook(v, inner) for k, v in o.items()}

    return structure_dict


converter.register_structure_hook_factory(_is_list, _list_structure_factory)
converter.register_structure_hook_factory(_is_dict, _dict_structure_factory)
converter.register_structure_hook_factory(_is_flat, _flat_structure_factory)
converter.register_structure_hook_factory(_is_flat_list, _flat_list_structure_factory)


# -- public helpers ------------------------------------------------------------------------


def structure(data: Any, cls: type[T]) -> T:
    """Build a ``cls`` from JSON-like ``data``; raises one of :data:`StructureError`."""
    return converter.structure(data, cls)


def unstructure(obj: Any) -> Any:
    """Turn a model (or a list/dict of them) into JSON-ready data, without unset fields."""
    return converter.unstructure(obj)


def loads(raw: bytes | str, cls: type[T]) -> T:
    """Parse JSON ``raw`` with orjson and structure it into ``cls``.

    Raises ``orjson.JSONDecodeError`` (a ValueError) or one of :data:`StructureError`.
    """
    return _structure_own(orjson.loads(raw), cls)


#: The structure hook of each class ``loads_or_raise`` has parsed (cattrs dispatches per call).
_HOOKS: dict[Any, Callable[[Any, Any], Any]] = {}

#: Below this size a body's tree is too small for consuming it to matter (see ``_CONSUME``).
_CONSUME_FROM_BYTES = 64 * 1024


def _structure_own(data: Any, cls: type[T]) -> T:
    """Structure a tree this module parsed itself (it may be consumed: see ``_CONSUME``)."""
    token = _CONSUME.set(True)
    try:
        return converter.structure(data, cls)
    finally:
        _CONSUME.reset(token)


def loads_or_raise(raw: bytes | str, cls: type[T], scrub: Scrub | None = None) -> T:
    """Like :func:`loads`, but invalid JSON or data becomes a :class:`ResponseFormatError`.

    ``scrub`` takes a secret out of every error text, now or when a deferred block is read.
    """
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ResponseFormatError(
            f"the response is not valid JSON: {exc}",
            cls_name=getattr(cls, "__name__", str(cls)),
            invalid_json=True,
        ) from exc
    failure: ResponseFormatError | None = None
    try:
        if len(raw) < _CONSUME_FROM_BYTES or cls in _PAGES:
            # Small bodies and listing pages: a job's heavy blocks are built on first read.
            token = _DEFER.set((scrub,))
            try:
                hook = _HOOKS.get(cls)
                if hook is None:  # cattrs' dispatch, once per class
                    hook = _HOOKS[cls] = converter.get_structure_hook(cls)
                return hook(data, cls)  # type: ignore[no-any-return]
            finally:
                _DEFER.reset(token)
        return _structure_own(data, cls)
    except StructureError as exc:
        # The tree may be partly consumed: locate the bad value in a fresh parse.
        failure = format_error(converter, orjson.loads(raw), cls, cause=exc, scrub=scrub)
    raise failure  # outside the handler: no context to carry a secret


def dumps(obj: Any) -> bytes:
    """Serialize a model to JSON bytes (orjson), without unset fields."""
    return orjson.dumps(converter.unstructure(obj))


def structure_or_raise(data: Any, cls: type[T]) -> T:
    """Like :func:`structure`, but any failure becomes a :class:`ResponseFormatError`.

    The error names the JSON path of the first value that does not fit (``$.result...``).
    """
    try:
        return converter.structure(data, cls)
    except StructureError as exc:
        raise format_error(converter, data, cls) from exc


def validation_error_items(raw: Any) -> list[str | _models.ValidationErrorDetail]:
    """The ``validation_errors`` of an error body as typed items (text or ``loc``/``msg``).

    Anything else (a number, a nested list) becomes its JSON text, never a Python repr.
    """
    if not isinstance(raw, list):
        return []
    items: list[str | _models.ValidationErrorDetail] = []
    for item in raw:
        if isinstance(item, str):
            items.append(item)
        elif isinstance(item, dict):
            try:
                items.append(converter.structure(item, _models.ValidationErrorDetail))
            except StructureError:
                items.append(orjson.dumps(item).decode())
        else:
            items.append(orjson.dumps(item, default=str).decode())
    return items


_install_deferred(converter)
# The models' to_dict()/to_json(): they cannot import this module, which is built on them.
_models.GladiaModel._unstructure = unstructure
_models.GladiaModel._dumps = dumps

# Structure and unstructure functions are generated on first use, per type (cattrs caches
# each one), not here: a program that never reads a job never pays for building its code.
