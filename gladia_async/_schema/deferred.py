"""Deferred blocks: a job's ``result`` and ``request_params``, built on first read.

-- deferred blocks: a job's result and request echo, built on first read ------------------
A finished job's ``result`` is most of its body, and most reads of a job (polling, listings)
look at its status and id only. For bodies the SDK parsed itself (see ``loads_or_raise``)
those blocks stay as the parsed dict until first read; ``_LazyField`` (the class attribute in
place of the slot's own descriptor) builds the model then, stores it in the slot, and every
later read is a plain slot read. Equality, hashing, repr, pickling, ``attrs.evolve`` and
serialization all read through it, so a deferred block is indistinguishable from an eager one;
the only visible difference is *when* a malformed block is reported: on that first read, as a
``ResponseFormatError`` naming its JSON path. Only the kind is checked eagerly (an object).
"""

from __future__ import annotations

import contextvars
import typing
from typing import Any

import cattrs

from .._core.errors import ResponseFormatError
from . import models as _models
from .response_errors import Scrub, StructureError, format_error
from .shapes import _shape, _union_members

#: Fields of these classes are deferred (the model classes must be generated slotted).
_DEFERRED: dict[Any, tuple[str, ...]] = {
    _models.TranscriptionJob: ("request_params", "result"),
    _models.LiveJob: ("request_params", "result"),
}

#: Set while structuring a tree ``loads_or_raise`` parsed itself, where deferring is safe: a
#: 1-tuple of the body's scrub, which its deferred blocks keep for their own errors (one
#: variable, so the hot path sets and reads one).
_DEFER: contextvars.ContextVar[tuple[Scrub | None] | None] = contextvars.ContextVar(
    "gladia_defer", default=None
)


class _Deferred:
    """A parsed JSON object waiting in a slot to become its model."""

    __slots__ = ("data", "scrub")

    def __init__(self, data: dict[str, Any], scrub: Scrub | None = None) -> None:
        self.data = data
        self.scrub = scrub


class _LazyField:
    """The class attribute of a deferred field: reads build the model once, writes pass through."""

    __slots__ = ("converter", "key", "name", "slot", "tp")

    def __init__(self, cls: type, name: str, converter: cattrs.Converter) -> None:
        self.converter = converter
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
            value = self.converter.structure(data, self.tp)
        except StructureError as exc:
            failure = format_error(
                self.converter, data, self.tp, f"$.{self.key}", type(obj), exc, scrub
            )
        if failure is not None:  # raised outside the handler: no context to carry a secret
            raise failure
        self.slot.__set__(obj, value)
        return value


def _install_deferred(converter: cattrs.Converter) -> None:
    for cls, names in _DEFERRED.items():
        for name in names:
            if not isinstance(cls.__dict__.get(name), _LazyField):
                setattr(cls, name, _LazyField(cls, name, converter))


#: Listing pages: deferred whatever their size (a listing is read for ids and states).
_PAGES = frozenset({_models.JobPage, _models.TranscriptionJobPage, _models.LiveJobPage})
