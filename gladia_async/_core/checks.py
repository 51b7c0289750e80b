"""Argument checks shared by the SDK's public calls: each raises :class:`InvalidInput`.

One section per package that owns the checks (the messages are part of the behaviour).
"""

from __future__ import annotations

from .errors import InvalidInput

__all__ = ["check_count", "check_interval", "check_minimum", "check_seconds"]


# -- _live --


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
