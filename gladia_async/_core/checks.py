"""Argument checks of the public calls, in one place: one wording per kind of value.

Each check returns the value it accepted (typed) or raises :class:`InvalidInput` naming the
argument. A ``bool`` is never taken for a number, although Python says it is an ``int``.
"""

from __future__ import annotations

from .errors import InvalidInput

__all__ = [
    "check_integer",
    "check_optional_integer",
    "check_positive_number",
    "check_seconds_at_least_zero",
    "check_some_filter",
]


# -- _callbacks --


def check_positive_number(value: object, argument: str) -> float:
    """Return ``value`` if it is a number > 0, else raise."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise InvalidInput(argument, f"must be a positive number, got {value!r}")
    return value


def check_seconds_at_least_zero(value: object, argument: str) -> float:
    """Return ``value`` if it is a number of seconds >= 0, else raise."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidInput(argument, "expected a number of seconds")
    if value < 0:
        raise InvalidInput(argument, f"must be >= 0, got {value}")
    return value


# -- _session --


def check_integer(value: object, argument: str, *, minimum: int) -> int:
    """Return ``value`` if it is an integer >= ``minimum``, else raise."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise InvalidInput(argument, f"must be an integer >= {minimum}, got {value!r}")
    return value


def check_optional_integer(value: object, argument: str, *, minimum: int) -> int | None:
    """Return ``value`` if it is None or an integer >= ``minimum``, else raise."""
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
