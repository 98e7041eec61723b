"""Special functions for the queueing formulas, in log form where it matters.

Pure Python (stdlib ``math``); no SciPy. The regularized lower incomplete gamma
function follows the classic split (series for ``z < s + 1``, modified-Lentz
continued fraction for the upper function otherwise) and returns logarithms so
that arguments in the millions do not overflow or underflow.
"""

from __future__ import annotations

import math

_EPS = 1e-16
_TINY = 1e-300


def softplus(z: float) -> float:
    """``log(1 + exp(z))`` without overflow."""
    if z > 0.0:
        return z + math.log1p(math.exp(-z))
    return math.log1p(math.exp(z))


def _max_iterations(s: float, z: float) -> int:
    return int(50.0 * math.sqrt(max(s, z, 1.0))) + 1000


def log_gamma_p(s: float, z: float) -> float:
    """``log P(s, z)``, the regularized lower incomplete gamma ``γ(s, z) / Γ(s)``.

    ``s > 0`` and ``z >= 0``; returns ``-inf`` for ``z == 0``.
    """
    if not s > 0.0:
        raise ValueError(f"shape s must be > 0, got {s!r}")
    if z < 0.0:
        raise ValueError(f"argument z must be >= 0, got {z!r}")
    if z == 0.0:
        return -math.inf
    log_prefactor = s * math.log(z) - z - math.lgamma(s)
    if z < s + 1.0:
        # γ(s, z) = z^s e^{-z} Σ_k z^k / (s (s+1) … (s+k)); terms decrease monotonically.
        term = 1.0 / s
        total = term
        denominator = s
        for _ in range(_max_iterations(s, z)):
            denominator += 1.0
            term *= z / denominator
            total += term
            if term < total * _EPS:
                return log_prefactor + math.log(total)
        raise ArithmeticError(f"incomplete gamma series did not converge (s={s}, z={z})")
    # Upper function Q(s, z) by the modified Lentz continued fraction (Numerical Recipes gcf).
    b = z + 1.0 - s
    c = 1.0 / _TINY
    d = 1.0 / b
    h = d
    for i in range(1, _max_iterations(s, z)):
        an = -i * (i - s)
        b += 2.0
        d = an * d + b
        if abs(d) < _TINY:
            d = _TINY
        c = b + an / c
        if abs(c) < _TINY:
            c = _TINY
        d = 1.0 / d
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < _EPS:
            q = math.exp(log_prefactor + math.log(h))
            return math.log1p(-q)
    raise ArithmeticError(f"incomplete gamma continued fraction did not converge (s={s}, z={z})")


def digamma(x: float) -> float:
    """ψ(x) for ``x > 0`` (recurrence up to 12, then the asymptotic series)."""
    if not x > 0.0:
        raise ValueError(f"digamma is implemented for x > 0 only, got {x!r}")
    result = 0.0
    while x < 12.0:
        result -= 1.0 / x
        x += 1.0
    inv = 1.0 / x
    inv2 = inv * inv
    series = inv2 * (
        1.0 / 12.0
        - inv2 * (1.0 / 120.0 - inv2 * (1.0 / 252.0 - inv2 * (1.0 / 240.0 - inv2 * (1.0 / 132.0))))
    )
    return result + math.log(x) - 0.5 * inv - series
