"""Argument checks: a bad argument raises :class:`InvalidInput` naming it, before any request.

One section per package for the checks only it makes; the general ones come first. A boolean is
never a number here (``True`` is an ``int`` to Python, never a count or a number of seconds to
a caller).
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any, Literal, TypeGuard, overload

from .errors import InvalidInput

__all__ = [
    "at_least_one_setting",
    "check_count",
    "check_integer",
    "check_interval",
    "check_is_aware_datetime",
    "check_is_bool",
    "check_is_int",
    "check_is_number",
    "check_is_str",
    "check_minimum",
    "check_number",
    "check_seconds",
    "check_seconds_at_least_zero",
    "check_some_filter",
    "check_timeout",
    "check_token",
    "non_negative_setting",
    "positive_int_field",
    "positive_int_setting",
    "seconds_field",
]

# -- shared --------------------------------------------------------------------------------


def _is_number(value: object) -> TypeGuard[float]:
    """An int or a float (a boolean is not)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


@overload
def check_integer(
    argument: str, value: object, *, low: int = 1, allow_none: Literal[False] = False
) -> int: ...


@overload
def check_integer(
    argument: str, value: object, *, low: int = 1, allow_none: bool
) -> int | None: ...


def check_integer(
    argument: str, value: object, *, low: int = 1, allow_none: bool = False
) -> int | None:
    """Return ``value`` if it is an integer >= ``low`` (or None, with ``allow_none``), else raise.

    The message: ``must be an integer >= 1, got 0`` (``... >= 0 or None, got -1``).
    """
    if value is None and allow_none:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
        none = " or None" if allow_none else ""
        raise InvalidInput(argument, f"must be an integer >= {low}{none}, got {value!r}")
    return value


@overload
def check_number(
    argument: str,
    value: object,
    *,
    low: float = 0.0,
    above: bool = False,
    allow_none: Literal[False] = False,
) -> float: ...


@overload
def check_number(
    argument: str, value: object, *, low: float = 0.0, above: bool = False, allow_none: bool
) -> float | None: ...


def check_number(
    argument: str,
    value: object,
    *,
    low: float = 0.0,
    above: bool = False,
    allow_none: bool = False,
) -> float | None:
    """Return ``value`` as a float if it is a number >= ``low`` (> with ``above``), else raise.

    NaN is refused; infinity passes. ``allow_none`` lets None through. The messages:
    ``must be a number >= 1, got 0.5``, ``must be a positive number, got 0`` (``above`` with
    ``low=0``), ``must be a number > 2, got 2``, each with `` or None`` when None is allowed.
    """
    if value is None and allow_none:
        return None
    if _is_number(value) and (value > low if above else value >= low):  # NaN: False
        return float(value)
    if above and low == 0:
        what = "a positive number"
    else:
        what = f"a number {'>' if above else '>='} {low:g}"
    none = " or None" if allow_none else ""
    raise InvalidInput(argument, f"must be {what}{none}, got {value!r}")


def check_timeout(value: object, argument: str = "timeout") -> float | None:
    """Return ``value`` as a positive finite number of seconds (or None), else raise."""
    if value is None:
        return None
    if not _is_number(value):
        raise InvalidInput(argument, f"expected seconds as a number, got {type(value).__name__}")
    if not math.isfinite(value) or value <= 0:
        raise InvalidInput(argument, f"must be a positive finite number of seconds, got {value!r}")
    return float(value)


# -- _schema / _core -----------------------------------------------------------------------
# The configuration objects' attrs validators name the setting as ``Class.field``; the checks of
# a request object's scalar fields (``check_model``) name its path (``options.diarization``).


def _setting(instance: Any, attribute: Any) -> str:
    return f"{type(instance).__name__}.{attribute.name}"


def non_negative_setting(instance: Any, attribute: Any, value: Any) -> None:
    """A time or size setting: ``None`` (no limit) or a finite number >= 0."""
    if value is None:
        return
    if not _is_number(value) or not math.isfinite(value) or value < 0:
        raise InvalidInput(
            _setting(instance, attribute),
            f"must be a finite number >= 0 (or None for no limit), got {value!r}",
        )


def positive_int_setting(instance: Any, attribute: Any, value: Any) -> None:
    """A count setting: an integer >= 1."""
    check_integer(_setting(instance, attribute), value, low=1)


def at_least_one_setting(instance: Any, attribute: Any, value: Any) -> None:
    """A growth factor: a finite number >= 1."""
    non_negative_setting(instance, attribute, value)
    check_number(_setting(instance, attribute), value, low=1)


def check_is_bool(argument: str, value: object) -> None:
    """Raise unless ``value`` is ``True`` or ``False``."""
    if not isinstance(value, bool):
        raise InvalidInput(argument, f"expected true/false, got {value!r}")


def check_is_int(argument: str, value: object) -> None:
    """Raise unless ``value`` is an integer (a boolean is not)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(argument, f"expected an integer, got {value!r}")


def check_is_number(argument: str, value: object) -> None:
    """Raise unless ``value`` is a number, of any value (a boolean is not)."""
    if not _is_number(value):
        raise InvalidInput(argument, f"expected a number, got {value!r}")


def check_is_str(argument: str, value: object) -> None:
    """Raise unless ``value`` is a string."""
    if not isinstance(value, str):
        raise InvalidInput(argument, f"expected a string, got {type(value).__name__}")


def check_is_aware_datetime(argument: str, value: object) -> None:
    """Raise unless ``value`` is a timezone-aware datetime."""
    if not isinstance(value, datetime):
        raise InvalidInput(argument, f"expected a datetime, got {type(value).__name__}")
    if value.tzinfo is None:
        raise InvalidInput(argument, "naive datetime; give it a timezone (e.g. UTC)")


# -- _api ----------------------------------------------------------------------------------

#: Longest idempotency token (it travels in the job's ``custom_metadata``).
_TOKEN_MAX_CHARS = 200


def check_token(value: object, argument: str = "idempotency_token") -> str:
    """Return ``value`` if it can serve as an idempotency token, else raise."""
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(argument, "expected a non-empty string, e.g. uuid.uuid4().hex")
    if len(value) > _TOKEN_MAX_CHARS or not value.isprintable():
        raise InvalidInput(argument, f"at most {_TOKEN_MAX_CHARS} printable characters")
    return value


def seconds_field(_: Any, attribute: Any, value: Any) -> None:
    """An attrs validator naming the field alone: a finite number of seconds >= 0."""
    if not _is_number(value) or not math.isfinite(value):
        raise InvalidInput(attribute.name, f"expected a finite number, got {value!r}")
    if value < 0:
        raise InvalidInput(attribute.name, f"must be >= 0, got {value!r}")


def positive_int_field(_: Any, attribute: Any, value: Any) -> None:
    """An attrs validator naming the field alone: an integer >= 1."""
    check_integer(attribute.name, value, low=1)


# -- _live -----------------------------------------------------------------------------------------


def check_count(value: object, argument: str) -> int:
    """Return ``value``, an integer >= 1 (a bool is not one)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidInput(argument, f"must be an integer >= 1, got {value!r}")
    return value


def check_interval(value: object, argument: str) -> float | None:
    """Return ``value`` as seconds, a positive number, or None."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise InvalidInput(argument, f"must be a positive number or None, got {value!r}")
    return float(value)


def check_seconds(value: object, argument: str) -> float | None:
    """Return ``value``, a positive number of seconds, or None."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise InvalidInput(argument, "must be a positive number of seconds or None")
    return value


# -- _batch --


def check_minimum(value: object, argument: str, low: float) -> float:
    """Return ``value`` as a float: a number ``>= low`` (a bool is not one, nor is NaN)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= low:
        raise InvalidInput(argument, f"must be a number >= {low:g}, got {value!r}")
    return float(value)


# -- _callbacks --


def check_seconds_at_least_zero(value: object, argument: str) -> float:
    """Return ``value``, a number of seconds >= 0 (a bool is not one)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidInput(argument, "expected a number of seconds")
    if value < 0:
        raise InvalidInput(argument, f"must be >= 0, got {value}")
    return value


# -- _session --


def check_some_filter(everything: bool, *filters: object) -> None:
    """Refuse a bulk deletion with no filter, unless ``all=True`` says every job is meant."""
    if not everything and all(f is None for f in filters):
        raise InvalidInput(
            "filters",
            "delete_jobs() needs at least one filter (status, kind, date, after_date, "
            "before_date, custom_metadata) or all=True to delete every finished job",
        )
