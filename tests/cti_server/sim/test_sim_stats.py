"""Student-t quantiles and confidence intervals (the simulator's CI machinery)."""

from __future__ import annotations

import math
import random

import pytest

from cti_server.sim.stats import estimate, regularized_incomplete_beta, t_cdf, t_quantile

# Two-sided critical values from standard t tables.
TABLE = [
    (0.975, 1, 12.7062),
    (0.975, 2, 4.3027),
    (0.975, 4, 2.7764),
    (0.975, 9, 2.2622),
    (0.975, 19, 2.0930),
    (0.975, 29, 2.0452),
    (0.975, 120, 1.9799),
    (0.995, 4, 4.6041),
    (0.995, 9, 3.2498),
    (0.995, 19, 2.8609),
    (0.95, 9, 1.8331),
]


@pytest.mark.parametrize(("p", "df", "expected"), TABLE)
def test_t_quantile_matches_tables(p: float, df: int, expected: float) -> None:
    assert t_quantile(p, df) == pytest.approx(expected, abs=5e-4)


def test_t_quantile_is_inverse_of_cdf_and_symmetric() -> None:
    for df in (1, 3, 7.5, 50):
        for p in (0.6, 0.9, 0.99, 0.999):
            q = t_quantile(p, df)
            assert t_cdf(q, df) == pytest.approx(p, abs=1e-10)
            assert t_quantile(1 - p, df) == pytest.approx(-q)
    assert t_quantile(0.975, 1e6) == pytest.approx(1.95996, abs=1e-4)  # normal limit


def test_incomplete_beta_known_values() -> None:
    assert regularized_incomplete_beta(1, 1, 0.3) == pytest.approx(0.3)
    assert regularized_incomplete_beta(2, 3, 0.4) == pytest.approx(0.5248)
    with pytest.raises(ValueError, match="x must be"):
        regularized_incomplete_beta(1, 1, 1.5)


def test_estimate_mean_and_half_width() -> None:
    e = estimate([1.0, 2.0, 3.0, 4.0, 5.0])
    assert e.mean == 3.0
    assert e.half_width == pytest.approx(2.7764 * math.sqrt(2.5 / 5), abs=1e-3)
    assert e.contains(1.1) and not e.contains(0.9)
    single = estimate([4.0])
    assert math.isnan(single.half_width) and not single.contains(4.0)
    assert math.isnan(estimate([math.nan]).mean)


def test_ci_coverage_is_close_to_nominal() -> None:
    """95% CIs from 5 normal samples cover the true mean about 95% of the time."""
    rng = random.Random(3)
    trials = 4000
    covered = sum(
        estimate([rng.gauss(10, 2) for _ in range(5)]).contains(10) for _ in range(trials)
    )
    assert 0.93 < covered / trials < 0.97
