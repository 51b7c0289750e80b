"""What the converter reads off a type, computed once: a model's shape, a union's members.

A model's JSON keys, defaults and always-written keys (:class:`_Shape`), the members of a union
and the JSON kind each is built from, the strict readings of scalars from a response, and the
JSON name of a value's kind for error messages. Nothing here structures: the converter
(:mod:`.converter`), its fast paths and its error reports are built on these.
"""

from __future__ import annotations

import datetime
import types
import typing
from collections.abc import Callable
from typing import Any

import attrs

from . import models as _models
from . import option_rules as _option_rules
from .models import OpenEnum, OpenIntEnum


def _is_open_enum(t: Any) -> bool:
    return isinstance(t, type) and issubclass(t, (OpenEnum, OpenIntEnum))


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


def _has_init_logic(cls: Any) -> bool:
    """True if ``__init__`` does more than store fields (a rule check alone does not count)."""
    hook = getattr(cls, "__attrs_post_init__", None)
    return hook is not None and hook not in _option_rules.RULE_HOOKS


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
