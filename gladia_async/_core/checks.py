"""Argument checks shared by the SDK's public calls: each raises :class:`InvalidInput`.

One section per package that owns the checks (the messages are part of the behaviour).
"""

from __future__ import annotations

from .errors import InvalidInput

__all__ = [
    "check_count",
    "check_interval",
    "check_minimum",
    "check_optional_integer",
    "check_positive_number",
    "check_seconds",
    "check_seconds_at_least_zero",
    "check_some_filter",
]


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


# -- _callbacks --


def check_positive_number(value: object, argument: str) -> float:
    """Return ``value``, a number > 0 (a bool is not one)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise InvalidInput(argument, f"must be a positive number, got {value!r}")
    return value


def check_seconds_at_least_zero(value: object, argument: str) -> float:
    """Return ``value``, a number of seconds >= 0 (a bool is not one)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidInput(argument, "expected a number of seconds")
    if value < 0:
        raise InvalidInput(argument, f"must be >= 0, got {value}")
    return value


# -- _session --


def check_optional_integer(value: object, argument: str, *, minimum: int) -> int | None:
    """Return ``value``, None or an integer >= ``minimum`` (a bool is not one)."""
    if value is not None and (
        isinstance(value, bool) or not isinstance(value, int) or value < minimum
    ):
        raise InvalidInput(argument, f"must be an integer >= {minimum} or None, got {value!r}")
    return value


def check_some_filter(everything: bool, *filters: object) -> None:
    """Refuse a bulk deletion with no filter, unless ``all=True`` says every job is meant."""
    if not everything and all(f is None for f in filters):
        raise InvalidInput(
            "filters",
            "delete_jobs() needs at least one filter (status, kind, date, after_date, "
            "before_date, custom_metadata) or all=True to delete every finished job",
        )
