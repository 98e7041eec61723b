"""Argument checks shared by the staffing calculators.

Every public function validates its inputs here so that bad input raises a
``ValueError`` (or ``TypeError`` for a wrong type) naming the argument.
"""

from __future__ import annotations

import math


def check_agents(name: str, value: object, minimum: int) -> int:
    """Return ``value`` if it is an ``int`` (not ``bool``) and ``>= minimum``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return value


def _as_float(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    result = float(value)
    if math.isnan(result):
        raise ValueError(f"{name} must not be NaN")
    return result


def check_non_negative(name: str, value: object) -> float:
    """A finite number ``>= 0``."""
    result = _as_float(name, value)
    if not math.isfinite(result) or result < 0.0:
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    return result


def check_positive(name: str, value: object) -> float:
    """A finite number ``> 0``."""
    result = _as_float(name, value)
    if not math.isfinite(result) or result <= 0.0:
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return result


def check_patience(name: str, value: object) -> float:
    """A mean patience in seconds: ``> 0``; ``math.inf`` means callers never abandon."""
    result = _as_float(name, value)
    if result <= 0.0:
        raise ValueError(f"{name} must be > 0 seconds (math.inf for no abandonment), got {value!r}")
    return result


def check_open_fraction(name: str, value: object) -> float:
    """A fraction strictly between 0 and 1."""
    result = _as_float(name, value)
    if not 0.0 < result < 1.0:
        raise ValueError(f"{name} must be a fraction strictly between 0 and 1, got {value!r}")
    return result


def check_occupancy_cap(name: str, value: object) -> float:
    """A fraction in ``(0, 1]``."""
    result = _as_float(name, value)
    if not 0.0 < result <= 1.0:
        raise ValueError(f"{name} must be a fraction in (0, 1], got {value!r}")
    return result
