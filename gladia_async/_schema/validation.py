"""Client-side checks of arguments, so bad input fails before any request."""

from __future__ import annotations

import difflib
import enum
import re
import types
import typing
from collections.abc import Callable, Mapping
from datetime import datetime
from functools import cache
from typing import Any, TypeVar, Union, overload

import attrs

from .._core.checks import (
    check_is_aware_datetime,
    check_is_bool,
    check_is_int,
    check_is_number,
    check_is_str,
)
from .._core.errors import InvalidInput
from . import converter as _converter
from .models import TranscriptionOptions
from .option_rules import check_built
from .option_values import enum_member, install_options_from_dict
from .option_values import json_kind as _json_kind
from .shapes import _shape

__all__ = ["check_job_id", "check_model", "options_from_dict"]

T = TypeVar("T")

_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


def check_job_id(job_id: object, argument: str = "job_id") -> str:
    """Return ``job_id`` if it is a UUID string (the spec's id format), else raise."""
    if not isinstance(job_id, str):
        raise InvalidInput(argument, f"expected a job id string, got {type(job_id).__name__}")
    if not _UUID.match(job_id):
        raise InvalidInput(argument, f"{job_id!r} is not a job id (a UUID such as 45463597-...)")
    return job_id


@cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def check_model(value: object, argument: str) -> None:
    """Check an attrs request object's field values against their declared types.

    Enum fields accept a known value (or a member); an unknown plain string is refused so a
    typo fails here rather than as a 400 from the server.
    """
    cls = type(value)
    if not attrs.has(cls):
        raise InvalidInput(argument, f"expected {cls.__name__} options object")
    hints = _hints(cls)
    for field in attrs.fields(cls):
        _check(getattr(value, field.name), hints[field.name], f"{argument}.{field.name}")


def _describe(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _check(value: Any, tp: Any, argument: str) -> None:
    origin = typing.get_origin(tp)
    if tp is Any or tp is object:
        return
    if origin in (Union, types.UnionType):
        options = typing.get_args(tp)
        if value is None and type(None) in options:
            return
        errors: list[InvalidInput] = []
        for option in options:
            if option is type(None):
                continue
            try:
                _check(value, option, argument)
                return
            except InvalidInput as exc:
                errors.append(exc)
        if len(errors) == 1:
            raise errors[0]
        raise InvalidInput(argument, f"{value!r} matches none of {_describe(tp)}")
    if origin is typing.Literal:
        if value not in typing.get_args(tp):
            raise InvalidInput(argument, f"must be one of {typing.get_args(tp)}, got {value!r}")
        return
    if origin in (list, tuple, typing.Sequence) or tp in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise InvalidInput(argument, f"expected a list, got {type(value).__name__}")
        args = typing.get_args(tp)
        for i, item in enumerate(value):
            if args:
                _check(item, args[0], f"{argument}[{i}]")
        return
    if origin is dict or tp is dict:
        if not isinstance(value, dict):
            raise InvalidInput(argument, f"expected an object (dict), got {type(value).__name__}")
        return
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        if not isinstance(value, tp):
            enum_member(value, tp, argument)  # the one check of enum values
        return
    if isinstance(tp, type) and attrs.has(tp):
        if not isinstance(value, tp):
            raise InvalidInput(argument, f"expected {tp.__name__}, got {type(value).__name__}")
        check_model(value, argument)
        return
    scalar = _SCALAR_CHECKS.get(tp)
    if scalar is not None:
        scalar(argument, value)


#: The checks of a request object's scalar fields, by declared type.
_SCALAR_CHECKS: dict[Any, Callable[[str, object], None]] = {
    bool: check_is_bool,
    int: check_is_int,
    float: check_is_number,
    str: check_is_str,
    datetime: check_is_aware_datetime,
}


@overload
def options_from_dict(
    data: Mapping[str, Any],
    cls: None = None,
    *,
    argument: str = "options",
    allow_unknown_values: bool = False,
) -> TranscriptionOptions: ...


@overload
def options_from_dict(
    data: Mapping[str, Any],
    cls: type[T],
    *,
    argument: str = "options",
    allow_unknown_values: bool = False,
) -> T: ...


def options_from_dict(
    data: Mapping[str, Any],
    cls: type[Any] | None = None,
    *,
    argument: str = "options",
    allow_unknown_values: bool = False,
) -> Any:
    """Return a ``cls`` (``TranscriptionOptions`` by default) built from JSON-like ``data``.

    Strict, unlike parsing a response: a wrong type (``"false"`` for a boolean, ``"3"`` for a
    number), an unknown key (with a "did you mean" hint) or an unknown enum value raises
    :class:`InvalidInput` naming the JSON path, before any request. Enum values are matched as
    the models' own fields match them (``"EN"`` is ``en``). ``allow_unknown_values`` lets enum
    values the SDK does not know yet through (a model Gladia just released).
    """
    target = TranscriptionOptions if cls is None else cls
    built = _converter.structure(_check_json(data, target, argument, allow_unknown_values), target)
    check_built(built)  # the rules between options (solaria-3's languages, ...): no __init__ ran
    return built


def _check_json(value: Any, tp: Any, path: str, allow: bool) -> Any:
    """Return ``value`` checked against ``tp``, in the form the converter structures.

    Enum values become their canonical text; model objects met inside (a ``LanguageConfig``
    within a dict of options) become their JSON fields.
    """
    origin = typing.get_origin(tp)
    if tp is Any or tp is object:
        return value
    if origin in (Union, types.UnionType):
        options = [o for o in typing.get_args(tp) if o is not type(None)]
        if value is None:
            if len(options) < len(typing.get_args(tp)):
                return None
            raise InvalidInput(path, "must not be null")
        problems: list[InvalidInput] = []
        for option in options:
            try:
                return _check_json(value, option, path, allow)
            except InvalidInput as exc:
                problems.append(exc)
        if len(problems) == 1:
            raise problems[0]
        raise InvalidInput(path, f"{value!r:.60} matches none of {_describe(tp)}")
    if isinstance(tp, type) and attrs.has(tp):
        if isinstance(value, tp):  # built already, its fields converted and checked
            return _converter.unstructure(value)
        if not isinstance(value, Mapping):
            raise InvalidInput(path, f"expected an object, got {_json_kind(value)}")
        shape = _shape(tp)
        hints = _hints(tp)
        out = {}
        for key, item in value.items():
            name = shape.name_of.get(key) if isinstance(key, str) else None
            if name is None:
                close = difflib.get_close_matches(str(key), sorted(shape.known), n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                raise InvalidInput(f"{path}.{key}", f"unknown option{hint}")
            out[key] = _check_json(item, hints[name], f"{path}.{key}", allow)
        for f in shape.fields:
            if f.default is attrs.NOTHING and shape.key_of[f.name] not in value:
                raise InvalidInput(f"{path}.{shape.key_of[f.name]}", "required")
        return out
    if origin is list or tp is list:
        # A tuple is fine from Python (the models' dict types say Sequence); never a string.
        if not isinstance(value, (list, tuple)):
            raise InvalidInput(path, f"expected an array, got {_json_kind(value)}")
        (item_type,) = typing.get_args(tp) or (Any,)
        return [_check_json(item, item_type, f"{path}[{i}]", allow) for i, item in enumerate(value)]
    if origin is dict or tp is dict:
        if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
            raise InvalidInput(path, f"expected an object, got {_json_kind(value)}")
        args = typing.get_args(tp)
        item_type = args[1] if len(args) == 2 else Any
        return {k: _check_json(item, item_type, f"{path}.{k}", allow) for k, item in value.items()}
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return enum_member(value, tp, path, allow_unknown=allow).value
    if tp is datetime:
        if not isinstance(value, str):
            raise InvalidInput(path, f"expected an ISO 8601 date-time, got {_json_kind(value)}")
        return value
    _check(value, tp, path)
    return value


install_options_from_dict(options_from_dict)
