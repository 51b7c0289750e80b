"""The hot path: hand-tuned structure code for the classes a finished job holds by the thousand.


-- hot path: flat classes ------------------------------------------------------------------
A finished job holds tens of thousands of ``Word`` objects. For classes whose fields are all
scalars (str/int/float/bool/open enum, optionally None) we generate a tighter structure
function than cattrs' generic one: no keyword-argument call into the frozen ``__init__``, just
``object.__new__`` and one slot store per field, with the same coercions cattrs applies
(``str()``/``float()``/``int()``/``bool()``, enum lookup) and the same errors (KeyError for a

The code is generated per class on first use (cattrs caches it), with the converter's own
hooks resolved once for the fields that are not scalars.
"""

from __future__ import annotations

import contextvars
import linecache
import typing
from collections.abc import Callable
from typing import Any

import attrs
import cattrs

from . import models as _models
from .deferred import _DEFER, _DEFERRED, _Deferred, _LazyField
from .shapes import (
    _FACTORY,
    _SCALARS,
    _STRICT,
    _has_init_logic,
    _is_open_enum,
    _json_kind,
    _shape,
    _union_members,
)


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


def _flat_source(
    cls: Any, env: dict[str, Any], indent: str, converter: cattrs.Converter
) -> list[str]:
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
                lines.append(f"{indent}    if (d := __defer()) is not None and type(v) is __dict:")
                lines.append(f"{indent}        {setter}(self, __Deferred(v, d[0]))")
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


def _flat_structure_factory(cls: Any, converter: cattrs.Converter) -> Callable[[Any, Any], Any]:
    env: dict[str, Any] = {}
    lines = [
        "def structure(o, _=None):",
        *_flat_source(cls, env, "    ", converter),
        "    return self",
    ]
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


def _flat_list_structure_factory(t: Any, converter: cattrs.Converter) -> Callable[[Any, Any], Any]:
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
        *_flat_source(cls, env, "        ", converter),
        "        append(self)",
        "    if __consume():",
        "        items.clear()",
        "    return out",
    ]
    return _compile(f"structure list[{cls.__qualname__}]", lines, env)
