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

import contextvars
import datetime
import linecache
import re
import sys
import types
import typing
from collections.abc import Callable
from typing import Any, TypeVar

import attrs
import cattrs
import orjson
from cattrs.errors import BaseValidationError, StructureHandlerNotFoundError
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override

from .._core.errors import ResponseFormatError, RootCause
from . import models as _models
from . import option_rules as _option_rules
from .models import OpenEnum, OpenIntEnum

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

#: Takes a secret (the API key) out of a text; the transport hands one to the parsing of every
#: body it received, so a server that echoes the key into a malformed field cannot get it into
#: the error (or a deferred block's error, raised long after the call).
Scrub = Callable[[str], str]


#: What structuring malformed data can raise (``detailed_validation`` is off for speed, so
#: errors are the plain ones: KeyError for a missing field, TypeError/ValueError for bad types,
#: AttributeError for an array where an object was expected). :func:`structure_or_raise` turns
#: them into a :class:`ResponseFormatError` naming the JSON path.
StructureError: tuple[type[BaseException], ...] = (
    BaseValidationError,
    StructureHandlerNotFoundError,
    ValueError,
    TypeError,
    KeyError,
    AttributeError,
)

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


def _is_open_enum(t: Any) -> bool:
    return isinstance(t, type) and issubclass(t, (OpenEnum, OpenIntEnum))


def _structure_open_enum(value: Any, t: Any) -> Any:
    member = t._value2member_map_.get(value)  # fast path for known values
    # Unknown values become pseudo-members instead of raising.
    return member if member is not None else t(value)


converter.register_unstructure_hook_func(_is_open_enum, lambda member: member._value_)

# -- unions --------------------------------------------------------------------------------

_PRIMITIVES = (str, int, float, bool)
_SCALARS: dict[Any, str] = {str: "str", int: "int", float: "float", bool: "bool"}


# Scalars from a response: a number may come as another kind of number (or its text), but an
# object or array is never turned into text, and a boolean is a boolean (bool("false") is True).
def _to_str(value: Any) -> str:
    if type(value) is str:
        return value
    if type(value) in (int, float):
        return str(value)
    if isinstance(value, str):  # a str subclass, such as an open enum's member: its text
        return str.__str__(value)
    raise TypeError(f"expected a string, got {_json_kind(value)}")


def _to_float(value: Any) -> float:
    if type(value) is float:
        return value
    if type(value) is bool or type(value) in (dict, list):
        raise TypeError(f"expected a number, got {_json_kind(value)}")
    return float(value)


def _to_int(value: Any) -> int:
    if type(value) is int:
        return value
    if type(value) is float and value.is_integer():
        return int(value)
    if type(value) is str:
        return int(value)
    raise TypeError(f"expected an integer, got {_json_kind(value)}")


def _to_bool(value: Any) -> bool:
    if type(value) is bool:
        return value
    raise TypeError(f"expected true or false, got {_json_kind(value)}")


_STRICT: dict[Any, Callable[[Any], Any]] = {
    str: _to_str,
    float: _to_float,
    int: _to_int,
    bool: _to_bool,
}


def _scalar_hook(conv: Callable[[Any], Any]) -> Callable[[Any, Any], Any]:
    return lambda value, _: conv(value)


for _scalar, _conv in _STRICT.items():
    converter.register_structure_hook(_scalar, _scalar_hook(_conv))
# The open enums are str/int subclasses: their own (more specific) hook wins over the above.
converter.register_structure_hook(OpenEnum, _structure_open_enum)
converter.register_structure_hook(OpenIntEnum, _structure_open_enum)


def _union_members(t: Any) -> tuple[Any, ...]:
    if typing.get_origin(t) in (typing.Union, types.UnionType):
        return typing.get_args(t)
    return ()


def _is_object_union(t: Any) -> bool:
    return len([m for m in _union_members(t) if m is not type(None)]) >= 2


def _type_name(t: Any) -> str:
    if typing.get_origin(t) is None and hasattr(t, "__name__"):
        return str(t.__name__)
    return str(t).replace("typing.", "").replace("gladia_async._schema.models.", "")


def _kind_check(t: Any) -> Callable[[Any], bool]:
    """Whether a JSON value has the kind (object, array, string...) that ``t`` is built from."""
    if t is str or t is datetime.datetime:
        return lambda v: type(v) is str
    if t is bool:
        return lambda v: type(v) is bool
    if t is int:
        return lambda v: type(v) is int
    if t is float:
        return lambda v: type(v) is float or type(v) is int
    if _is_open_enum(t):
        if issubclass(t, OpenIntEnum):
            return lambda v: type(v) is int or type(v) is float
        return lambda v: type(v) is str
    origin = typing.get_origin(t) or t
    if origin is list:
        return lambda v: type(v) is list
    if origin is dict or attrs.has(origin):
        return lambda v: type(v) is dict
    return lambda v: True


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

# -- attrs classes: renamed keys, unknown keys kept, presence restored ----------------------
# Every model derives from ``GladiaModel``: ``extra`` holds the JSON keys it does not declare,
# ``_flip`` the declared keys whose presence the defaults would get wrong when serializing (a key
# given as null or at its default value, which omit-if-default would drop; an always-written key
# that was absent). Both stay None in the common case, so they cost one check per object.


class _Shape:
    """What the converter needs to know about one model class, computed once."""

    def __init__(self, cls: Any) -> None:
        renames = _models.JSON_KEYS.get(cls, {})
        always = set(_models.ALWAYS_SERIALIZE.get(cls, ()))
        self.fields = [f for f in attrs.fields(cls) if f.name not in ("extra", "_flip")]
        self.key_of = {f.name: renames.get(f.name, f.name) for f in self.fields}
        self.name_of = {key: name for name, key in self.key_of.items()}
        self.known = frozenset(self.key_of.values())
        #: (JSON key, default value) of fields that are omitted when at their default.
        self.defaulted: list[tuple[str, Any]] = []
        #: JSON keys always written, even at None.
        self.always: list[str] = []
        for f in self.fields:
            if f.default is attrs.NOTHING:
                continue
            key = self.key_of[f.name]
            if f.name in always:
                self.always.append(key)
            else:
                default = f.default
                if isinstance(default, _FACTORY):
                    default = default.factory()
                self.defaulted.append((key, default))

    def flips(self, o: dict[str, Any]) -> frozenset[str] | None:
        found = None
        for key, default in self.defaulted:
            if key in o:
                value = o[key]
                if value is default or (value == default and type(value) is type(default)):
                    found = [key] if found is None else [*found, key]
        for key in self.always:
            if key not in o:
                found = [key] if found is None else [*found, key]
        return None if found is None else frozenset(found)


_SHAPES: dict[Any, _Shape] = {}
_FACTORY: Any = attrs.Factory


def _shape(cls: Any) -> _Shape:
    shape = _SHAPES.get(cls)
    if shape is None:
        shape = _SHAPES[cls] = _Shape(cls)
    return shape


_set = object.__setattr__


def _has_init_logic(cls: Any) -> bool:
    """True if ``__init__`` does more than store fields (a rule check alone does not count)."""
    hook = getattr(cls, "__attrs_post_init__", None)
    return hook is not None and hook not in _option_rules.RULE_HOOKS


def _structure_factory(cls: Any) -> Any:
    if not issubclass(cls, _models.GladiaModel) or _has_init_logic(cls):
        return make_dict_structure_fn(cls, converter)
    return _flat_structure_factory(cls)


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

# -- hot path: flat classes ------------------------------------------------------------------
# A finished job holds tens of thousands of ``Word`` objects. For classes whose fields are all
# scalars (str/int/float/bool/open enum, optionally None) we generate a tighter structure
# function than cattrs' generic one: no keyword-argument call into the frozen ``__init__``, just
# ``object.__new__`` and one slot store per field, with the same coercions cattrs applies
# (``str()``/``float()``/``int()``/``bool()``, enum lookup) and the same errors (KeyError for a
# missing required key, ValueError/TypeError for a bad value). Unknown keys and explicit nulls
# are kept exactly as the generic path keeps them.


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
    if cls in _models.ALWAYS_SERIALIZE or not issubclass(cls, _models.GladiaModel):
        return False
    fields = _shape(cls).fields
    if not fields or _has_init_logic(cls):
        return False
    if any(f.validator is not None or f.converter is not None or not f.init for f in fields):
        return False  # the fast path skips __init__, so nothing may depend on it
    if any(f.default is not attrs.NOTHING and f.default is not None for f in fields):
        return False
    types_ = typing.get_type_hints(cls)
    return all(_scalar_of(types_[f.name]) is not None for f in fields)


def _flat_source(cls: Any, env: dict[str, Any], indent: str) -> list[str]:
    """Statements building ``self`` (a ``cls``) from the dict ``o`` (any model class).

    Scalars are converted inline; other fields call their hook, resolved once here. Unknown
    keys are detected by counting the known keys seen (no set built per object); keys whose
    presence the defaults would get wrong go to ``_flip``.
    """
    types_ = typing.get_type_hints(cls)
    shape = _shape(cls)
    always = set(_models.ALWAYS_SERIALIZE.get(cls, ()))
    env.update(
        {
            "__new": object.__new__,
            "__cls": cls,
            "__known": shape.known,
            "__dict": dict,
            "__frozen": frozenset,
            "__kind": _json_kind,
            "__missing": _MISSING,
            "__defer": _DEFER.get,
            "__scrub": _SCRUB.get,
            "__Deferred": _Deferred,
        }
    )
    # Each slot is written through its own (pre-bound) descriptor: no attribute lookup per store.
    for f in [*shape.fields, *attrs.fields(_models.GladiaModel)]:
        env[f"__set_{f.name}"] = _slot_setter(cls, f.name)
    lines = [
        f"{indent}if type(o) is not __dict:",
        f"{indent}    raise TypeError('expected an object for {cls.__name__}, got ' + __kind(o))",
        f"{indent}self = __new(__cls)",
        f"{indent}fl = None",
        f"{indent}n = 0",
    ]
    required = 0
    for i, f in enumerate(shape.fields):
        key = shape.key_of[f.name]
        setter = f"__set_{f.name}"
        flip = f"{indent}        fl = [{key!r}] if fl is None else [*fl, {key!r}]"
        scalar = _scalar_of(types_[f.name])
        if scalar is not None and _is_open_enum(scalar[0]):
            # Known members looked up inline; only an unknown value calls the enum.
            env[f"__m{i}"], env[f"__c{i}"] = scalar[0]._value2member_map_, scalar[0]
            value = f"m if (m := __m{i}.get(v)) is not None else __c{i}(v)"
        elif scalar is not None:  # the common case inline: the value already has the right type
            env[f"__c{i}"], env[f"__t{i}"] = _STRICT[scalar[0]], scalar[0]
            value = f"v if type(v) is __t{i} else __c{i}(v)"
        else:
            hint = types_[f.name]
            inner = [m for m in _union_members(hint) if m is not type(None)]
            target = inner[0] if len(inner) == 1 and type(None) in _union_members(hint) else hint
            env[f"__h{i}"], env[f"__T{i}"] = converter.get_structure_hook(target), target
            value = f"__h{i}(v, __T{i})"
        default = f.default
        if default is attrs.NOTHING:
            required += 1
            lines.append(f"{indent}v = o[{key!r}]")
            lines.append(f"{indent}{setter}(self, {value})")
        elif default is None:
            lines.append(f"{indent}v = o.get({key!r})")
            lines.append(f"{indent}if v is None:")
            lines.append(f"{indent}    {setter}(self, None)")
            if f.name in always:  # written even at None: flip when it was absent
                lines.append(f"{indent}    if {key!r} in o:")
                lines.append(f"{indent}        n += 1")
                lines.append(f"{indent}    else:")
                lines.append(flip)
            else:  # omitted at None: flip when it was given as null
                lines.append(f"{indent}    if {key!r} in o:")
                lines.append(f"{indent}        n += 1")
                lines.append(flip)
            lines.append(f"{indent}else:")
            lines.append(f"{indent}    n += 1")
            if scalar is None and f.name in _DEFERRED.get(cls, ()):
                # A job's heavy block: kept as the parsed dict, built on first read (_LazyField).
                lines.append(f"{indent}    if __defer() and type(v) is __dict:")
                lines.append(f"{indent}        {setter}(self, __Deferred(v, __scrub()))")
                lines.append(f"{indent}    else:")
                lines.append(f"{indent}        {setter}(self, {value})")
            else:
                lines.append(f"{indent}    {setter}(self, {value})")
        else:  # an erratum's default (x-sdk-default): absent means that value
            factory = isinstance(default, _FACTORY)
            env[f"__d{i}"] = default.factory if factory else default
            lines.append(f"{indent}v = o.get({key!r}, __missing)")
            lines.append(f"{indent}if v is __missing:")
            lines.append(f"{indent}    {setter}(self, __d{i}{'()' if factory else ''})")
            lines.append(f"{indent}else:")
            lines.append(f"{indent}    n += 1")
            lines.append(f"{indent}    v = {value}")
            lines.append(f"{indent}    {setter}(self, v)")
            lines.append(f"{indent}    if v == __d{i}{'()' if factory else ''}:")
            lines.append(flip.replace("        fl", "        fl", 1))
    lines += [
        f"{indent}if len(o) == n + {required}:",
        f"{indent}    __set_extra(self, None)",
        f"{indent}else:",
        f"{indent}    __set_extra(self, {{k: v for k, v in o.items() if k not in __known}})",
        f"{indent}__set__flip(self, None if fl is None else __frozen(fl))",
    ]
    return lines


_MISSING = object()

# -- deferred blocks: a job's result and request echo, built on first read ------------------
# A finished job's ``result`` is most of its body, and most reads of a job (polling, listings)
# look at its status and id only. For bodies the SDK parsed itself (see ``loads_or_raise``)
# those blocks stay as the parsed dict until first read; ``_LazyField`` (the class attribute in
# place of the slot's own descriptor) builds the model then, stores it in the slot, and every
# later read is a plain slot read. Equality, hashing, repr, pickling, ``attrs.evolve`` and
# serialization all read through it, so a deferred block is indistinguishable from an eager one;
# the only visible difference is *when* a malformed block is reported: on that first read, as a
# ``ResponseFormatError`` naming its JSON path. Only the kind is checked eagerly (an object).

#: Fields of these classes are deferred (the model classes must be generated slotted).
_DEFERRED: dict[Any, tuple[str, ...]] = {
    _models.TranscriptionJob: ("request_params", "result"),
    _models.LiveJob: ("request_params", "result"),
}

#: True while structuring a tree ``loads_or_raise`` parsed itself, where deferring is safe.
_DEFER: contextvars.ContextVar[bool] = contextvars.ContextVar("gladia_defer", default=False)
#: The scrub of the body being structured, kept by its deferred blocks for their own errors.
_SCRUB: contextvars.ContextVar[Scrub | None] = contextvars.ContextVar("gladia_scrub", default=None)


class _Deferred:
    """A parsed JSON object waiting in a slot to become its model."""

    __slots__ = ("data", "scrub")

    def __init__(self, data: dict[str, Any], scrub: Scrub | None = None) -> None:
        self.data = data
        self.scrub = scrub


class _LazyField:
    """The class attribute of a deferred field: reads build the model once, writes pass through."""

    __slots__ = ("key", "name", "slot", "tp")

    def __init__(self, cls: type, name: str) -> None:
        self.slot: Any = cls.__dict__[name]
        self.name = name
        self.key = _shape(cls).key_of[name]
        hint = typing.get_type_hints(cls)[name]
        (self.tp,) = [m for m in _union_members(hint) if m is not type(None)]

    def __get__(self, obj: Any, owner: Any = None) -> Any:
        if obj is None:
            return self
        value = self.slot.__get__(obj, owner)
        if type(value) is _Deferred:
            value = self._build(obj, value.data, value.scrub)
        return value

    def __set__(self, obj: Any, value: Any) -> None:
        self.slot.__set__(obj, value)

    def __delete__(self, obj: Any) -> None:
        self.slot.__delete__(obj)

    def _build(self, obj: Any, data: dict[str, Any], scrub: Scrub | None) -> Any:
        failure: ResponseFormatError | None = None
        try:
            value = converter.structure(data, self.tp)
        except StructureError as exc:
            failure = _format_error(data, self.tp, f"$.{self.key}", type(obj), exc, scrub)
        if failure is not None:  # raised outside the handler: no context to carry a secret
            raise failure
        self.slot.__set__(obj, value)
        return value


def _install_deferred() -> None:
    for cls, names in _DEFERRED.items():
        for name in names:
            if not isinstance(cls.__dict__.get(name), _LazyField):
                setattr(cls, name, _LazyField(cls, name))


def _slot_setter(cls: type, name: str) -> Callable[[Any, Any], None]:
    for klass in cls.__mro__:
        descriptor = klass.__dict__.get(name)
        if isinstance(descriptor, _LazyField):
            descriptor = descriptor.slot
        if descriptor is not None:
            return typing.cast(Callable[[Any, Any], None], descriptor.__set__)
    raise AttributeError(f"{cls.__name__} has no slot {name!r}")  # pragma: no cover


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


#: True while structuring a tree :func:`loads` parsed itself: nobody else holds it, so the
#: hot lists (words) are emptied once structured. Their dicts are freed as the models are built,
#: so the process's live-object count (what triggers the cyclic GC) stays about flat instead of
#: doubling; that halves the GC's work on a large job without touching its settings.
_CONSUME: contextvars.ContextVar[bool] = contextvars.ContextVar("gladia_consume", default=False)


def _flat_list_structure_factory(t: Any) -> Callable[[Any, Any], Any]:
    # The per-item loop inlined: no hook call per word.
    (cls,) = typing.get_args(t)
    env: dict[str, Any] = {"__list": list, "__kind": _json_kind, "__consume": _CONSUME.get}
    lines = [
        "def structure(items, _=None):",
        "    if type(items) is not __list:",
        "        raise TypeError('expected an array, got ' + __kind(items))",
        "    out = []",
        "    append = out.append",
        "    for o in items:",
        *_flat_source(cls, env, "        "),
        "        append(self)",
        "    if __consume():",
        "        items.clear()",
        "    return out",
    ]
    return _compile(f"structure list[{cls.__qualname__}]", lines, env)


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


def _json_kind(value: Any) -> str:
    """The JSON name of a value's kind, for error messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


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
            token = _DEFER.set(True)
            scrub_token = _SCRUB.set(scrub)
            try:
                return converter.structure(data, cls)
            finally:
                _SCRUB.reset(scrub_token)
                _DEFER.reset(token)
        return _structure_own(data, cls)
    except StructureError as exc:
        # The tree may be partly consumed: locate the bad value in a fresh parse.
        failure = _format_error(orjson.loads(raw), cls, cause=exc, scrub=scrub)
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
        raise _format_error(data, cls) from exc


def _format_error(
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
    path, reason = locate_error(data, cls, path, scrub)
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


def locate_error(
    data: Any, tp: Any, path: str = "$", scrub: Scrub | None = None
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
            return locate_error(data, fitting[0], path, scrub)
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
                return locate_error(data[key], hints[f.name], f"{path}.{key}", scrub)
        return path, _reason(failure)
    if origin is list:
        if type(data) is not list:
            return path, f"expected an array, got {_json_kind(data)}"
        (item_type,) = typing.get_args(tp) or (Any,)
        for i, item in enumerate(data):
            try:
                converter.structure(item, item_type)
            except StructureError:
                return locate_error(item, item_type, f"{path}[{i}]", scrub)
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
                return locate_error(item, value_type, f"{path}.{key}", scrub)
        return path, _reason(failure)
    shown = repr(data) if scrub is None else scrub(repr(data))
    return path, f"expected {_type_name(tp)}, got {_json_kind(data)} {shown:.60}"


def _reason(exc: BaseException) -> str:
    if isinstance(exc, KeyError):
        return f"missing field {exc}"
    return str(exc) or type(exc).__name__


#: Listing pages: deferred whatever their size (a listing is read for ids and states).
_PAGES = frozenset({_models.JobPage, _models.TranscriptionJobPage, _models.LiveJobPage})

_install_deferred()

# Structure and unstructure functions are generated on first use, per type (cattrs caches
# each one), not here: a program that never reads a job never pays for building its code.
