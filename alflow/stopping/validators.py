"""Argument checks shared by the stopping criteria: errors name the ``stopping.<key>`` at fault."""
from __future__ import annotations

import math
import numbers


def check_real(key: str, value: float, minimum: float, maximum: float = math.inf) -> float:
    """``value`` as a float in [minimum, maximum]; ValueError naming ``stopping.<key>`` otherwise."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value) \
            or not minimum <= value <= maximum:
        bounds = f">= {minimum}" if maximum == math.inf else f"in [{minimum}, {maximum}]"
        raise ValueError(f"stopping.{key} must be a finite number {bounds}, got {value!r}")
    return float(value)


def check_int(key: str, value: int, minimum: int) -> int:
    """``value`` as an int >= minimum; ValueError naming ``stopping.<key>`` otherwise."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"stopping.{key} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def check_choice(key: str, value: str, choices: tuple[str, ...]) -> str:
    """``value`` if it is one of ``choices``; ValueError naming ``stopping.<key>`` otherwise."""
    if value not in choices:
        raise ValueError(f"stopping.{key} must be one of {choices}, got {value!r}")
    return value
