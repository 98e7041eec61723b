"""Staffing: smallest agent counts meeting service-level, ASA and abandonment targets.

Relevant requirements: R-TIER-3 (per-tier expected service level "answered within
n seconds"), R-SUP-4 (service level, ASA and abandonment KPIs).
"""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cti_server.staffing import (
    agents_for_asa,
    agents_for_service_level,
    agents_for_service_level_with_abandonment,
    erlang_a_metrics,
    erlang_c_metrics,
)


def _direct_erlang_c_service_level(n: int, a: float, aht: float, t: float) -> float:
    """Independent formulation: Erlang C by direct summation, SL = 1 - C·e^{-(n-a)t/AHT}."""
    head = math.fsum(a**k / math.factorial(k) for k in range(n))
    top = a**n / math.factorial(n) * n / (n - a)
    return 1 - top / (head + top) * math.exp(-(n - a) * t / aht)


def test_call_centre_helper_example_needs_fourteen_agents() -> None:
    """100 calls / 30 min, AHT 180 s (10 E), 80 % answered in 20 s (the Call Centre
    Helper worked example). By direct summation SL(13) = 79.6 % misses the target and
    SL(14) = 88.8 % meets it, so 14 agents."""
    lam = 100 / 1800
    assert agents_for_service_level(lam, 180.0, 0.8, 20.0) == 14
    for n, printed in ((13, 0.796), (14, 0.888)):
        direct = _direct_erlang_c_service_level(n, 10.0, 180.0, 20.0)
        assert direct == pytest.approx(printed, abs=5e-4)
        assert erlang_c_metrics(lam, 180.0, n, 20.0).service_level == pytest.approx(
            direct, rel=1e-12
        )


def test_occupancy_cap_adds_agents() -> None:
    """With a 85 % occupancy cap, 10 E needs ceil(10 / 0.85) = 12 agents even if the
    service level is met earlier."""
    lam = 100 / 1800
    assert agents_for_service_level(lam, 180.0, 0.2, 20.0) == 11
    assert agents_for_service_level(lam, 180.0, 0.2, 20.0, max_occupancy=0.85) == 12
    # Exactly on the cap counts as meeting it: 10 E / 0.8 = 12.5 -> 13, 10 E / (10/12) = 12.
    assert agents_for_service_level(lam, 180.0, 0.2, 20.0, max_occupancy=10 / 12) == 12
    assert agents_for_asa(lam, 180.0, 1e6, max_occupancy=0.8) == 13


def test_asa_target() -> None:
    """ASA at n agents = C·AHT/(n-a): the answer is the first n at or under the target."""
    lam, aht = 100 / 1800, 180.0
    n = agents_for_asa(lam, aht, 20.0)
    assert erlang_c_metrics(lam, aht, n, 0.0).asa <= 20.0
    assert erlang_c_metrics(lam, aht, n - 1, 0.0).asa > 20.0
    assert n == 13


def test_large_centre_is_fast_and_minimal() -> None:
    """3000 E offered (10 calls/s, AHT 300 s): square-root staffing puts the answer a few
    dozen agents above the load; the search must land on the exact minimum."""
    n = agents_for_service_level(10.0, 300.0, 0.8, 20.0)
    assert 3000 < n < 3100
    assert erlang_c_metrics(10.0, 300.0, n, 20.0).service_level >= 0.8
    assert erlang_c_metrics(10.0, 300.0, n - 1, 20.0).service_level < 0.8


def test_abandonment_lowers_the_requirement() -> None:
    """Impatient callers leave the queue, so Erlang A needs no more agents than Erlang C,
    and with infinite patience it is Erlang C."""
    lam, aht = 100 / 1800, 180.0
    erlang_c_agents = agents_for_service_level(lam, aht, 0.8, 20.0)
    erlang_a_agents = agents_for_service_level_with_abandonment(lam, aht, 120.0, 0.8, 20.0)
    assert erlang_a_agents <= erlang_c_agents
    metrics = erlang_a_metrics(lam, aht, 120.0, erlang_a_agents, 20.0)
    assert metrics.service_level >= 0.8
    assert erlang_a_metrics(lam, aht, 120.0, erlang_a_agents - 1, 20.0).service_level < 0.8
    assert (
        agents_for_service_level_with_abandonment(lam, aht, math.inf, 0.8, 20.0) == erlang_c_agents
    )


def test_abandonment_cap() -> None:
    lam, aht, patience = 1.0, 240.0, 60.0
    loose = agents_for_service_level_with_abandonment(lam, aht, patience, 0.5, 20.0)
    strict = agents_for_service_level_with_abandonment(
        lam, aht, patience, 0.5, 20.0, max_abandon=0.005
    )
    assert strict > loose
    assert erlang_a_metrics(lam, aht, patience, strict, 20.0).p_abandon <= 0.005
    assert erlang_a_metrics(lam, aht, patience, strict - 1, 20.0).p_abandon > 0.005


def test_zero_arrivals_need_no_agents() -> None:
    assert agents_for_service_level(0.0, 180.0, 0.8, 20.0) == 0
    assert agents_for_asa(0.0, 180.0, 20.0) == 0
    assert agents_for_service_level_with_abandonment(0.0, 180.0, 60.0, 0.8, 20.0) == 0


def test_max_agents_limit() -> None:
    with pytest.raises(ValueError, match="max_agents=50"):
        agents_for_service_level(1.0, 180.0, 0.8, 20.0, max_agents=50)
    with pytest.raises(ValueError, match="max_agents=190"):
        agents_for_service_level(1.0, 180.0, 0.99, 20.0, max_agents=190)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: agents_for_service_level(-1.0, 180.0, 0.8, 20.0), "arrival_rate"),
        (lambda: agents_for_service_level(1.0, 0.0, 0.8, 20.0), "aht must be"),
        (lambda: agents_for_service_level(1.0, 180.0, 0.0, 20.0), "target_sl"),
        (lambda: agents_for_service_level(1.0, 180.0, 1.0, 20.0), "target_sl"),
        (lambda: agents_for_service_level(1.0, 180.0, 80.0, 20.0), "strictly between 0 and 1"),
        (lambda: agents_for_service_level(1.0, 180.0, 0.8, -20.0), "answer_time"),
        (lambda: agents_for_service_level(1.0, 180.0, 0.8, 20.0, 0.0), "max_occupancy"),
        (lambda: agents_for_service_level(1.0, 180.0, 0.8, 20.0, 1.5), "max_occupancy"),
        (lambda: agents_for_asa(1.0, 180.0, 0.0), "target_asa must be a finite number > 0"),
        (
            lambda: agents_for_service_level_with_abandonment(1.0, 180.0, 0.0, 0.8, 20.0),
            "mean_patience",
        ),
        (
            lambda: agents_for_service_level_with_abandonment(
                1.0, 180.0, 60.0, 0.8, 20.0, max_abandon=1.0
            ),
            "max_abandon",
        ),
    ],
)
def test_bad_input(call: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()  # type: ignore[operator]


@settings(max_examples=60, deadline=None)
@given(
    lam=st.floats(0.001, 3.0),
    aht=st.floats(20.0, 900.0),
    target=st.floats(0.05, 0.99),
    t=st.floats(0.0, 120.0),
)
def test_erlang_c_staffing_is_minimal(lam: float, aht: float, target: float, t: float) -> None:
    n = agents_for_service_level(lam, aht, target, t)
    assert erlang_c_metrics(lam, aht, n, t).service_level >= target * (1 - 1e-12)
    if n - 1 > lam * aht:
        assert erlang_c_metrics(lam, aht, n - 1, t).service_level < target
    n_asa = agents_for_asa(lam, aht, aht * target)
    assert erlang_c_metrics(lam, aht, n_asa, 0.0).asa <= aht * target * (1 + 1e-12)
    if n_asa - 1 > lam * aht:
        assert erlang_c_metrics(lam, aht, n_asa - 1, 0.0).asa > aht * target


@settings(max_examples=40, deadline=None)
@given(
    lam=st.floats(0.001, 2.0),
    aht=st.floats(20.0, 600.0),
    patience=st.floats(10.0, 1800.0),
    target=st.floats(0.05, 0.95),
    t=st.floats(0.0, 60.0),
)
def test_erlang_a_staffing_is_minimal(
    lam: float, aht: float, patience: float, target: float, t: float
) -> None:
    n = agents_for_service_level_with_abandonment(lam, aht, patience, target, t)
    assert erlang_a_metrics(lam, aht, patience, n, t).service_level >= target * (1 - 1e-12)
    if n > 1:
        assert erlang_a_metrics(lam, aht, patience, n - 1, t).service_level < target
    assert n <= agents_for_service_level(lam, aht, target, t)
