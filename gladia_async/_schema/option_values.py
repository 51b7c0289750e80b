"""Plain values where request options want enums and config objects: one check, one place.

The generated request models (``TranscriptionOptions``, ``LanguageConfig``, ...) take an enum
field's plain value (``"en"`` as well as ``TranscriptionLanguageCode.EN``) and a config object as
a dict of its JSON fields. Their attrs converters call the functions here, so a bad value raises
:class:`~gladia_async.InvalidInput` naming the field when the object is built, before any
request. :func:`enum_member` is also what strict JSON options (``options_from_dict``) and the
command line check enum values with, so all three accept and refuse the same values, with the
same "did you mean" hint.

Parsing a response never comes here: the converter builds response models without calling
their ``__init__``, and a response's unknown enum values stay pseudo-members.
"""

from __future__ import annotations

import difflib
import enum
from collections.abc import Callable, Mapping, Sequence
from functools import cache
from typing import Any, TypeVar

from .._core.errors import InvalidInput

__all__ = [
    "config",
    "config_or_text_list",
    "enum_list",
    "enum_member",
    "install_options_from_dict",
    "json_kind",
]

E = TypeVar("E", bound=enum.Enum)
C = TypeVar("C")

#: Enums whose values are language codes: matched case-insensitively, ``en-US`` suggests ``en``.
_LANGUAGE_SUFFIX = "LanguageCode"


def json_kind(value: Any) -> str:
    """Return what ``value`` is, in JSON's words, for error messages (``a string ('x')``)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"a boolean ({str(value).lower()})"
    if isinstance(value, (int, float)):
        return f"a number ({value})"
    if isinstance(value, str):
        return f"a string ({value!r:.40})"
    if isinstance(value, (list, tuple)):
        return "an array"
    if isinstance(value, Mapping):
        return "an object"
    return type(value).__name__


@cache
def _folded(cls: type[enum.Enum]) -> dict[str, enum.Enum]:
    """Known members by case-folded value, only where the folding is unambiguous."""
    seen: dict[str, list[enum.Enum]] = {}
    for member in cls:
        if isinstance(member.value, str):
            seen.setdefault(member.value.casefold(), []).append(member)
    return {key: members[0] for key, members in seen.items() if len(members) == 1}


def _shown(known: list[str]) -> str:
    return ", ".join(known[:12]) + (", ..." if len(known) > 12 else "")


def _unknown(value: Any, cls: type[enum.Enum]) -> str:
    known = [str(m.value) for m in cls]
    text = str(value).strip().casefold()
    guesses: list[str] = []
    is_language = cls.__name__.endswith(_LANGUAGE_SUFFIX)
    if is_language:
        base = text.replace("_", "-").split("-", 1)[0]
        if base in known:
            guesses.append(base)  # en-US, pt_BR: the language part is what Gladia takes
    guesses += [
        g for g in difflib.get_close_matches(text, known, n=3, cutoff=0.6) if g not in guesses
    ]
    hint = f"; did you mean {' or '.join(guesses)}?" if guesses else ""
    if is_language:
        return (
            f"{value!r} is not a language code Gladia knows (ISO 639-1 codes such as en, fr, "
            f"es){hint}"
        )
    return f"{value!r} is not one of {_shown(known)}{hint}"


def enum_member(value: object, cls: type[E], argument: str, *, allow_unknown: bool = False) -> E:
    """Return the member of ``cls`` that ``value`` names, or raise :class:`InvalidInput`.

    A member of ``cls`` is returned as is (also a pseudo-member made on purpose, for a value
    the SDK does not know yet); a plain value must be a known one, matched exactly or else
    case-insensitively (``"EN"`` is ``en``). ``allow_unknown`` lets unknown values through as
    pseudo-members (the JSON path's ``allow_unknown_values``).
    """
    if type(value) is cls:
        return value
    if isinstance(value, enum.Enum):  # a member of another enum: its value is what counts
        value = value.value
    numeric = issubclass(cls, int)
    if isinstance(value, bool) or not isinstance(value, int if numeric else str):
        known = _shown([str(m.value) for m in cls])
        raise InvalidInput(argument, f"expected one of {known}, got {json_kind(value)}")
    member = cls._value2member_map_.get(value)
    if member is None and isinstance(value, str):
        member = _folded(cls).get(value.strip().casefold())
    if member is not None:
        return member  # type: ignore[return-value]
    if allow_unknown:
        return cls(value)
    raise InvalidInput(argument, _unknown(value, cls))


def _items(value: object, argument: str, what: str) -> Sequence[Any]:
    if isinstance(value, (str, bytes, bytearray)) or not isinstance(value, Sequence):
        raise InvalidInput(argument, f"expected a list of {what}, got {json_kind(value)}")
    return value


def enum_list(value: object, cls: type[E], argument: str) -> list[E]:
    """Return ``value`` (a sequence of members or plain values) as a list of members of ``cls``.

    A list that already holds members only is returned as is (no copy).
    """
    if type(value) is list:
        for item in value:
            if type(item) is not cls:
                break
        else:
            return value
    items = _items(value, argument, cls.__name__)
    return [enum_member(item, cls, f"{argument}[{i}]") for i, item in enumerate(items)]


def config(value: object, cls: type[C], argument: str) -> C:
    """Return ``value`` if it is a ``cls``; build one from a dict of its JSON fields, or raise.

    The dict is checked as strict JSON options are (:func:`gladia_async.options_from_dict`):
    unknown keys (with a "did you mean"), wrong types and unknown enum values raise
    :class:`InvalidInput` naming the path under ``argument``.
    """
    if isinstance(value, cls):
        return value
    if isinstance(value, Mapping):
        (options_from_dict,) = _options_from_dict
        built: C = options_from_dict(value, cls, argument=argument)
        return built
    raise InvalidInput(
        argument, f"expected a {cls.__name__} or a dict of its fields, got {json_kind(value)}"
    )


def config_or_text_list(value: object, cls: type[C], argument: str) -> list[C | str]:
    """Return ``value`` as a list whose items are ``cls`` objects (dicts converted) or strings."""
    if type(value) is list:
        for item in value:
            if type(item) is not cls and type(item) is not str:
                break
        else:
            return value
    items = _items(value, argument, f"strings or {cls.__name__} objects")
    return [
        item if isinstance(item, str) else config(item, cls, f"{argument}[{i}]")
        for i, item in enumerate(items)
    ]


#: The strict reading of a dict into a request object (``options_from_dict``). It is built on the
#: models, which are built on this module, so :mod:`.validation` installs it when it is imported:
#: importing any module of ``gladia_async._schema`` imports that one first (the package's
#: ``__init__``), so a model never meets a dict before it is installed.
_options_from_dict: list[Callable[..., Any]] = []


def install_options_from_dict(build: Callable[..., Any]) -> None:
    """Make :func:`config` read dicts with ``build`` (``validation.options_from_dict``)."""
    _options_from_dict[:] = [build]
