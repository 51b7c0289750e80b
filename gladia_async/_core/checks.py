"""Argument checks shared by the package: one wording for every refused argument."""

from __future__ import annotations

from .errors import InvalidInput

__all__ = ["check_minimum"]


# -- _batch --


def check_minimum(name: str, value: object, low: float) -> float:
    """Return ``value`` as a float if it is a number (not a bool) ``>= low``; else InvalidInput."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= low:
        raise InvalidInput(name, f"must be a number >= {low:g}, got {value!r}")
    return float(value)
