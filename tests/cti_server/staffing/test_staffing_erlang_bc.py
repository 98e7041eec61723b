"""Erlang B and Erlang C (M/M/n): published values, exact rational oracles, properties.

Relevant requirements: R-TIER-3 (per-tier service level "answered within n s"),
R-SUP-4 (ASA and service level KPIs).
"""

from __future__ import annotations

import math
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cti_server.staffing import ErlangCResult, erlang_b, erlang_c, erlang_c_metrics


def exact_erlang_b(n: int, a: Fraction) -> Fraction:
    """Definition: (a^n/n!) / Σ_{k<=n} a^k/k!, in exact rational arithmetic."""
    terms = [a**k / math.factorial(k) for k in range(n + 1)]
    return terms[-1] / sum(terms)


def exact_erlang_c(n: int, a: Fraction) -> Fraction:
    """Definition: (a^n/n! · n/(n-a)) / (Σ_{k<n} a^k/k! + a^n/n! · n/(n-a))."""
    head = sum(a**k / math.factorial(k) for k in range(n))
    top = a**n / math.factorial(n) * n / (n - a)
    return top / (head + top)


def naive_float_erlang_b(n: int, a: float) -> float:
    """The textbook float recursion B(k) = aB(k-1) / (k + aB(k-1)): an independent method."""
    b = 1.0
    for k in range(1, n + 1):
        b = a * b / (k + a * b)
    return b


def _load_for_blocking(n: int, target: float) -> float:
    lo, hi = 0.0, 10.0 * n
    for _ in range(200):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if erlang_b(n, mid) < target else (lo, mid)
    return (lo + hi) / 2


def test_erlang_b_ten_servers_five_erlangs() -> None:
    """Standard Erlang B table value: B(10, 5 E) = 0.018385."""
    assert erlang_b(10, 5.0) == pytest.approx(0.018385, abs=5e-7)


@pytest.mark.parametrize(("grade", "table_load"), [(0.01, 4.46), (0.02, 5.08), (0.05, 6.22)])
def test_erlang_b_table_row_for_ten_trunks(grade: float, table_load: float) -> None:
    """Erlang B traffic table (e.g. the ITU-T / Bell System tables), row N = 10:
    1 % -> 4.46 E, 2 % -> 5.08 E, 5 % -> 6.22 E (printed to two decimals)."""
    assert _load_for_blocking(10, grade) == pytest.approx(table_load, abs=0.005)


@pytest.mark.parametrize(
    ("n", "a"), [(1, Fraction(1)), (2, Fraction(1)), (7, Fraction(13, 3)), (30, Fraction(45, 2))]
)
def test_erlang_b_matches_exact_rational_definition(n: int, a: Fraction) -> None:
    assert erlang_b(n, float(a)) == pytest.approx(float(exact_erlang_b(n, a)), rel=1e-13)


def test_erlang_b_small_closed_forms() -> None:
    """B(1, a) = a/(1+a); B(0, a) = 1; no load means no blocking."""
    assert erlang_b(1, 3.0) == pytest.approx(0.75, rel=1e-15)
    assert erlang_b(0, 7.0) == 1.0
    assert erlang_b(5, 0.0) == 0.0


@pytest.mark.parametrize(
    ("n", "a"), [(1000, 950.0), (3000, 2900.0), (5000, 4900.0), (2000, 3000.0), (4000, 1.0)]
)
def test_erlang_b_large_systems_do_not_overflow(n: int, a: float) -> None:
    """Thousands of agents and erlangs: the log-form recursion agrees with the float
    recursion (which also avoids overflow) and stays in [0, 1]."""
    b = erlang_b(n, a)
    assert 0.0 <= b <= 1.0
    assert b == pytest.approx(naive_float_erlang_b(n, a), rel=1e-10, abs=1e-300)


def test_erlang_b_overloaded_large_system_against_fluid_limit() -> None:
    """For a >> n the blocking tends to 1 - n/a (only n of a erlangs can be carried)."""
    assert erlang_b(2000, 4000.0) == pytest.approx(0.5, abs=2e-3)


def test_erlang_c_exact_small_cases() -> None:
    """C(2, 1) = 1/3 exactly; M/M/1 waits with probability ρ; a >= n means everyone waits."""
    assert erlang_c(2, 1.0) == pytest.approx(1 / 3, rel=1e-15)
    for rho in (0.1, 0.5, 0.93):
        assert erlang_c(1, rho) == pytest.approx(rho, rel=1e-14)
    assert erlang_c(5, 5.0) == 1.0
    assert erlang_c(5, 7.5) == 1.0
    assert erlang_c(0, 0.0) == 1.0
    assert erlang_c(3, 0.0) == 0.0


@pytest.mark.parametrize(
    ("n", "a"), [(11, Fraction(10)), (3, Fraction(5, 2)), (25, Fraction(41, 2)), (60, Fraction(55))]
)
def test_erlang_c_matches_exact_rational_definition(n: int, a: Fraction) -> None:
    assert erlang_c(n, float(a)) == pytest.approx(float(exact_erlang_c(n, a)), rel=1e-12)


def test_call_centre_helper_worked_example() -> None:
    """Worked example popularised by Call Centre Helper ("Erlang C formula – made simple"):
    100 calls in 30 min, AHT 180 s (10 E), 11 agents, 80/20 target -> P(wait) = 68.21 %.
    The other numbers are checked against the closed forms evaluated in exact arithmetic:
    ASA = C·AHT/(n-a), SL = 1 - C·e^{-(n-a)t/AHT}, Lq = C·a/(n-a)."""
    result = erlang_c_metrics(100 / 1800, 180.0, 11, 20.0)
    c = float(exact_erlang_c(11, Fraction(10)))
    assert round(result.p_wait, 4) == 0.6821
    assert result.load == pytest.approx(10.0)
    assert result.asa == pytest.approx(c * 180.0, rel=1e-12)
    assert result.asa == pytest.approx(122.78, abs=0.01)
    assert result.service_level == pytest.approx(1 - c * math.exp(-20 / 180), rel=1e-12)
    assert result.service_level == pytest.approx(0.3896, abs=1e-4)
    assert result.occupancy == pytest.approx(10 / 11)
    assert result.queue_length == pytest.approx(c * 10, rel=1e-12)
    # Adding agents reaches 80 % in 20 s at 14 agents (13 is not enough).
    assert erlang_c_metrics(100 / 1800, 180.0, 13, 20.0).service_level < 0.8
    assert erlang_c_metrics(100 / 1800, 180.0, 14, 20.0).service_level >= 0.8


def test_mm1_metrics() -> None:
    """M/M/1: Wq = ρ/(μ-λ), P(Wq <= t) = 1 - ρ e^{-(μ-λ)t}, Lq = ρ²/(1-ρ)."""
    lam, mu = 0.8 / 60, 1 / 60
    result = erlang_c_metrics(lam, 60.0, 1, 30.0)
    rho = 0.8
    assert result.p_wait == pytest.approx(rho)
    assert result.asa == pytest.approx(rho / (mu - lam))
    assert result.service_level == pytest.approx(1 - rho * math.exp(-(mu - lam) * 30.0))
    assert result.queue_length == pytest.approx(rho**2 / (1 - rho))
    assert result.service_level_at(0.0) == pytest.approx(1 - rho)


def test_unstable_queue_reports_infinite_wait() -> None:
    result = erlang_c_metrics(1.0, 10.0, 10, 20.0)
    assert result == ErlangCResult(10, 1.0, 10.0, 10.0, 1.0, math.inf, 20.0, 0.0, 1.0, math.inf)
    assert not result.stable
    assert result.service_level_at(100.0) == 0.0


def test_result_is_frozen() -> None:
    result = erlang_c_metrics(0.1, 100.0, 12, 20.0)
    with pytest.raises(AttributeError):
        result.agents = 13  # type: ignore[misc]


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: erlang_b(-1, 1.0), "n must be >= 0"),
        (lambda: erlang_b(3, -0.5), "a must be a finite number >= 0"),
        (lambda: erlang_b(3, math.nan), "a must not be NaN"),
        (lambda: erlang_c(3, math.inf), "a must be a finite number >= 0"),
        (lambda: erlang_c_metrics(-0.1, 180.0, 5, 20.0), "arrival_rate"),
        (lambda: erlang_c_metrics(0.1, 0.0, 5, 20.0), "aht must be a finite number > 0"),
        (lambda: erlang_c_metrics(0.1, 180.0, 0, 20.0), "agents must be >= 1"),
        (lambda: erlang_c_metrics(0.1, 180.0, 5, -1.0), "answer_time"),
    ],
)
def test_bad_input_raises_value_error(call: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()  # type: ignore[operator]


@pytest.mark.parametrize("bad", [2.0, True, "3"])
def test_agent_count_must_be_int(bad: object) -> None:
    with pytest.raises(TypeError, match="must be an int"):
        erlang_b(bad, 1.0)  # type: ignore[arg-type]


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 400), a=st.floats(0.01, 500.0))
def test_erlang_b_and_c_properties(n: int, a: float) -> None:
    """0 <= B <= C <= 1, B falls with more servers and rises with more load."""
    b = erlang_b(n, a)
    c = erlang_c(n, a)
    assert 0.0 <= b <= c <= 1.0
    assert erlang_b(n + 1, a) <= b
    assert erlang_b(n, a * 1.01) >= b
    if a < n:
        assert erlang_c(n + 1, a) <= c
        result = erlang_c_metrics(a / 100.0, 100.0, n, 15.0)
        assert 0.0 <= result.service_level <= 1.0
        assert result.service_level_at(30.0) >= result.service_level
        assert result.asa == pytest.approx(result.queue_length / result.arrival_rate, rel=1e-9)
