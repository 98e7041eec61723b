"""Special functions behind the Erlang A formulas (pure stdlib implementations)."""

from __future__ import annotations

import math

import pytest

from cti_server.staffing._special import digamma, log_gamma_p, softplus

EULER_GAMMA = 0.5772156649015329


def _poisson_upper_tail(s: int, z: float) -> float:
    """P(Poisson(z) >= s), which equals P(s, z) for integer s (summed in log space)."""
    log_terms = [k * math.log(z) - z - math.lgamma(k + 1) for k in range(s, s + 20 * int(z) + 200)]
    peak = max(log_terms)
    return math.exp(peak) * math.fsum(math.exp(v - peak) for v in log_terms)


@pytest.mark.parametrize("z", [1e-6, 0.3, 1.0, 2.0, 5.0, 30.0])
def test_shape_one_is_exponential_cdf(z: float) -> None:
    """P(1, z) = 1 - e^{-z} (series branch for z < 2, continued fraction above)."""
    assert math.exp(log_gamma_p(1.0, z)) == pytest.approx(-math.expm1(-z), rel=1e-13)


@pytest.mark.parametrize("z", [0.01, 0.4, 1.4, 3.0, 12.0])
def test_shape_half_is_erf(z: float) -> None:
    """P(1/2, z) = erf(sqrt(z))."""
    assert math.exp(log_gamma_p(0.5, z)) == pytest.approx(math.erf(math.sqrt(z)), rel=1e-13)


@pytest.mark.parametrize(
    ("s", "z"),
    [(3, 2.5), (10, 9.0), (10, 12.0), (200, 180.0), (200, 230.0), (2000, 2000.0), (5000, 5100.0)],
)
def test_integer_shape_matches_poisson_tail(s: int, z: float) -> None:
    """For integer s, P(s, z) = P(Poisson(z) >= s): checks both branches at large arguments."""
    assert math.exp(log_gamma_p(float(s), z)) == pytest.approx(_poisson_upper_tail(s, z), rel=1e-9)


def test_deep_lower_tail_stays_finite_in_log_space() -> None:
    """P(2000, 100) is about e^-4800: it underflows as a float but its log is exact."""
    expected = 2000 * math.log(100.0) - 100.0 - math.lgamma(2001.0)  # leading term of the series
    assert log_gamma_p(2000.0, 100.0) == pytest.approx(expected, abs=0.06)
    assert log_gamma_p(2000.0, 100.0) < -4000


def test_zero_argument_and_bad_input() -> None:
    assert log_gamma_p(3.0, 0.0) == -math.inf
    with pytest.raises(ValueError, match="shape"):
        log_gamma_p(0.0, 1.0)
    with pytest.raises(ValueError, match="argument"):
        log_gamma_p(1.0, -1.0)


def test_digamma_known_values() -> None:
    """ψ(1) = -γ, ψ(1/2) = -γ - 2 ln 2, ψ(n) = -γ + H_{n-1}."""
    assert digamma(1.0) == pytest.approx(-EULER_GAMMA, abs=1e-14)
    assert digamma(0.5) == pytest.approx(-EULER_GAMMA - 2 * math.log(2.0), abs=1e-14)
    harmonic = math.fsum(1.0 / k for k in range(1, 1000))
    assert digamma(1000.0) == pytest.approx(-EULER_GAMMA + harmonic, abs=1e-13)
    with pytest.raises(ValueError):
        digamma(0.0)


def test_softplus_no_overflow() -> None:
    assert softplus(1000.0) == 1000.0
    assert softplus(-1000.0) == 0.0
    assert softplus(0.0) == pytest.approx(math.log(2.0))
