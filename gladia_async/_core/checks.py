"""Argument checks shared by the package: one wording for every refused argument."""

from __future__ import annotations

from .errors import InvalidInput

__all__ = ["check_minimum"]


# -- _batch --


def check_minimum(value: object, argument: str, low: float) -> float:
    """Return ``value`` as a float: a number ``>= low`` (a bool is not one, nor is NaN)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= low:
        raise InvalidInput(argument, f"must be a number >= {low:g}, got {value!r}")
    return float(value)
