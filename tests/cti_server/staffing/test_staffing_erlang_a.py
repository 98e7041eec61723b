"""Erlang A (M/M/n+M) against an independent truncated birth–death chain.

The oracle below solves the number-in-system chain directly (birth λ, death
min(k,n)μ + max(k-n,0)θ), gets waits of answered callers by first-step analysis
of a tagged caller, and the service level by uniformization of the tagged
caller's absorbing chain. The library instead uses incomplete-gamma closed forms
(Mandelbaum & Zeltyn, "The M/M/n+G queue: summary of performance measures") and
series sums. Relevant requirements: R-TIER-3 (service level per tier), R-SUP-4
(ASA, service level, abandonment KPIs).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cti_server.staffing import erlang_a_metrics, erlang_c_metrics


@dataclass(frozen=True)
class ChainSolution:
    p_wait: float
    p_abandon: float
    queue_length: float
    asa: float
    occupancy: float
    positions: list[float]  # P(arrival finds j callers waiting and all agents busy)


def solve_chain(lam: float, mu: float, theta: float, n: int, extra: int) -> ChainSolution:
    """Stationary distribution of states 0..n+extra, computed in log space."""
    log_pi = [0.0]
    for k in range(1, n + extra + 1):
        death = min(k, n) * mu + max(k - n, 0) * theta
        log_pi.append(log_pi[-1] + math.log(lam) - math.log(death))
    peak = max(log_pi)
    weights = [math.exp(v - peak) for v in log_pi]
    total = math.fsum(weights)
    pi = [w / total for w in weights]
    queue = pi[n:]
    p_wait = math.fsum(queue)
    queue_length = math.fsum(j * p for j, p in enumerate(queue))
    busy = math.fsum(min(k, n) * p for k, p in enumerate(pi))
    # Tagged caller at position j (j ahead): first-step analysis for
    # g_j = P(served), h_j = E[wait · 1{served}].
    c = n * mu
    g_prev, h_prev = 1.0, 0.0
    served = served_wait = 0.0
    for j, p in enumerate(queue):
        rate_down = c + j * theta
        total_rate = rate_down + theta
        g = rate_down / total_rate * g_prev
        h = rate_down / total_rate * (g_prev / total_rate + h_prev)
        served += p * g
        served_wait += p * h
        g_prev, h_prev = g, h
    p_served = (1.0 - p_wait) + served
    return ChainSolution(
        p_wait=p_wait,
        p_abandon=1.0 - p_served,
        queue_length=queue_length,
        asa=served_wait / p_served,
        occupancy=busy / n,
        positions=queue,
    )


def chain_service_level(sol: ChainSolution, mu: float, theta: float, n: int, t: float) -> float:
    """P(answered within t) by uniformization of the tagged caller's chain.

    States: position 0..K (callers ahead), then 'served' (absorbing); abandonment is
    mass that leaves. From position i: to i-1 (or served) at rate nμ + iθ, lost at θ.
    """
    c = n * mu
    size = len(sol.positions)
    uniform = c + size * theta
    vector = list(sol.positions)
    served = 0.0  # mass absorbed in 'served' after m jumps
    log_weight = -uniform * t  # log Poisson(m; uniform·t), starting at m = 0
    result = 1.0 - sol.p_wait  # callers answered at once
    steps = int(uniform * t + 12 * math.sqrt(uniform * t + 1) + 30)
    for m in range(steps + 1):
        result += math.exp(log_weight) * served
        # One jump of the uniformized chain.
        new = [0.0] * size
        newly_served = vector[0] * c / uniform
        for i, mass in enumerate(vector):
            if mass == 0.0:
                continue
            down = (c + i * theta) / uniform
            stay = 1.0 - down - theta / uniform
            new[i] += mass * stay
            if i > 0:
                new[i - 1] += mass * down
        vector = new
        served += newly_served
        log_weight += math.log(uniform * t) - math.log(m + 1)
    return result


# (arrival rate /s, AHT s, mean patience s, agents, extra queue states for truncation)
CASES = [
    pytest.param(1 / 30, 120.0, 60.0, 1, 200, id="single-agent"),
    pytest.param(0.05, 180.0, 600.0, 11, 400, id="moderate-load"),
    pytest.param(0.2, 60.0, 30.0, 5, 300, id="overloaded-small"),
    pytest.param(0.5, 200.0, 300.0, 90, 400, id="overloaded-90-agents"),
    pytest.param(2.0, 240.0, 90.0, 500, 500, id="large-centre"),
]


@pytest.mark.parametrize(("lam", "aht", "patience", "n", "extra"), CASES)
def test_matches_birth_death_chain(
    lam: float, aht: float, patience: float, n: int, extra: int
) -> None:
    mu, theta = 1 / aht, 1 / patience
    chain = solve_chain(lam, mu, theta, n, extra)
    result = erlang_a_metrics(lam, aht, patience, n, 20.0)
    assert result.p_wait == pytest.approx(chain.p_wait, rel=1e-9)
    assert result.p_abandon == pytest.approx(chain.p_abandon, rel=1e-9)
    assert result.queue_length == pytest.approx(chain.queue_length, rel=1e-9)
    assert result.asa == pytest.approx(chain.asa, rel=1e-9)
    assert result.occupancy == pytest.approx(chain.occupancy, rel=1e-9)
    # Little's law on the queue: mean wait of all callers = E[Lq] / λ.
    assert result.mean_wait == pytest.approx(chain.queue_length / lam, rel=1e-9)


@pytest.mark.parametrize(("lam", "aht", "patience", "n", "extra"), CASES)
@pytest.mark.parametrize("t", [5.0, 20.0, 60.0])
def test_service_level_matches_uniformization(  # noqa: PLR0917 - parametrized case columns
    lam: float, aht: float, patience: float, n: int, extra: int, t: float
) -> None:
    mu, theta = 1 / aht, 1 / patience
    chain = solve_chain(lam, mu, theta, n, extra)
    expected = chain_service_level(chain, mu, theta, n, t)
    result = erlang_a_metrics(lam, aht, patience, n, t)
    assert result.service_level == pytest.approx(expected, rel=1e-8, abs=1e-12)
    assert result.service_level_answered == pytest.approx(
        expected / (1 - chain.p_abandon), rel=1e-8, abs=1e-12
    )
    assert result.service_level_at(t) == pytest.approx(result.service_level, rel=1e-14)


def test_single_agent_closed_form() -> None:
    """n = 1 with λ = μ = θ: the death rate in state k is kλ, so π_k = π_0 / k! (Poisson(1)),
    giving P(wait > 0) = 1 - 1/e, E[Lq] = Σ (k-1)/k! · e^-1 = 1/e and P(ab) = θ·Lq/λ = 1/e."""
    result = erlang_a_metrics(1 / 60, 60.0, 60.0, 1, 0.0)
    assert result.p_wait == pytest.approx(1 - math.exp(-1), rel=1e-13)
    assert result.queue_length == pytest.approx(math.exp(-1), rel=1e-13)
    assert result.p_abandon == pytest.approx(math.exp(-1), rel=1e-13)
    assert result.service_level == pytest.approx(math.exp(-1), rel=1e-13)


@pytest.mark.parametrize(("lam", "aht", "n"), [(0.05, 180.0, 11), (1.0, 300.0, 320), (0.01, 60, 2)])
def test_long_patience_tends_to_erlang_c(lam: float, aht: float, n: int) -> None:
    """θ → 0 recovers Erlang C; math.inf patience is Erlang C exactly."""
    c = erlang_c_metrics(lam, aht, n, 20.0)
    a = erlang_a_metrics(lam, aht, 1e8, n, 20.0)
    assert a.p_wait == pytest.approx(c.p_wait, rel=1e-4)
    assert a.asa == pytest.approx(c.asa, rel=1e-4)
    assert a.service_level == pytest.approx(c.service_level, rel=1e-4)
    assert a.p_abandon < 1e-4
    exact = erlang_a_metrics(lam, aht, math.inf, n, 20.0)
    assert (exact.p_wait, exact.asa, exact.service_level) == (c.p_wait, c.asa, c.service_level)
    assert exact.p_abandon == 0.0
    assert exact.service_level_at(40.0) == c.service_level_at(40.0)


def test_impatient_callers_shorten_the_queue() -> None:
    """With abandonment the same staffing gives less waiting than Erlang C predicts."""
    c = erlang_c_metrics(0.05, 180.0, 10, 20.0)
    a = erlang_a_metrics(0.05, 180.0, 120.0, 10, 20.0)
    assert a.p_wait < c.p_wait
    assert a.asa < c.asa
    assert a.service_level > c.service_level


def test_thousands_of_agents_stay_finite() -> None:
    """3000 agents, 3300 E offered, 2 min patience: overloaded (efficiency-driven) regime
    where the fluid limit says 1 - n/a of callers abandon; everything stays finite and
    agrees with the chain."""
    result = erlang_a_metrics(3300 / 300, 300.0, 120.0, 3000, 20.0)
    assert 0.99 < result.p_wait <= 1.0
    assert result.p_abandon == pytest.approx(1 - 3000 / 3300, rel=0.01)
    assert result.p_abandon * result.arrival_rate == pytest.approx(
        result.queue_length / result.mean_patience, rel=1e-9
    )
    assert 0.0 < result.service_level < 1 - result.p_abandon
    assert result.occupancy <= 1.0
    chain = solve_chain(3300 / 300, 1 / 300, 1 / 120, 3000, 3000)
    assert result.p_wait == pytest.approx(chain.p_wait, rel=1e-9)
    assert result.asa == pytest.approx(chain.asa, rel=1e-8)


def test_very_patient_callers_in_overload() -> None:
    """Mean patience 1e5 s with half the needed agents: about 5e4 callers queue, so the
    library takes its lgamma/digamma path to the mode of the queue distribution; it must
    still agree with the chain solved state by state."""
    result = erlang_a_metrics(1.0, 100.0, 1e5, 50, 20.0)
    chain = solve_chain(1.0, 1 / 100, 1e-5, 50, 55_000)
    assert result.p_abandon == pytest.approx(chain.p_abandon, rel=1e-9)
    assert result.queue_length == pytest.approx(chain.queue_length, rel=1e-9)
    assert result.asa == pytest.approx(chain.asa, rel=1e-9)
    assert result.p_abandon == pytest.approx(0.5, rel=1e-3)  # fluid limit 1 - n/a


def test_no_arrivals() -> None:
    result = erlang_a_metrics(0.0, 180.0, 60.0, 3, 20.0)
    assert (result.p_wait, result.p_abandon, result.service_level, result.occupancy) == (
        0.0,
        0.0,
        1.0,
        0.0,
    )
    assert result.service_level_at(0.0) == 1.0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"mean_patience": 0.0}, "mean_patience must be > 0"),
        ({"mean_patience": -5.0}, "mean_patience must be > 0"),
        ({"aht": -1.0}, "aht must be a finite number > 0"),
        ({"arrival_rate": math.inf}, "arrival_rate"),
        ({"agents": 0}, "agents must be >= 1"),
        ({"answer_time": math.nan}, "answer_time must not be NaN"),
        ({"mean_patience": 1e12}, "use mean_patience=math.inf"),
    ],
)
def test_bad_input(kwargs: dict[str, float], message: str) -> None:
    args: dict[str, float] = {
        "arrival_rate": 0.1,
        "aht": 180.0,
        "mean_patience": 60.0,
        "agents": 20,
        "answer_time": 20.0,
    }
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        erlang_a_metrics(**args)  # type: ignore[arg-type]


@settings(max_examples=60, deadline=None)
@given(
    lam=st.floats(0.001, 5.0),
    aht=st.floats(10.0, 900.0),
    patience=st.floats(5.0, 3600.0),
    n=st.integers(1, 300),
    t=st.floats(0.0, 120.0),
)
def test_erlang_a_properties(lam: float, aht: float, patience: float, n: int, t: float) -> None:
    """Probabilities in range, Little's law for abandonment (θ·Lq = λ·P(ab)), the
    service level tends to the answered fraction, and more agents never hurt."""
    r = erlang_a_metrics(lam, aht, patience, n, t)
    assert 0.0 <= r.p_abandon <= r.p_wait <= 1.0
    assert 0.0 <= r.service_level <= 1.0 - r.p_abandon + 1e-12
    assert 0.0 <= r.occupancy <= 1.0
    assert r.p_abandon * lam == pytest.approx(r.queue_length / patience, rel=1e-9, abs=1e-300)
    assert r.service_level_at(0.0) == pytest.approx(1.0 - r.p_wait, abs=1e-12)
    assert r.service_level_at(patience * 200) == pytest.approx(1.0 - r.p_abandon, abs=1e-9)
    more = erlang_a_metrics(lam, aht, patience, n + 1, t)
    assert more.service_level >= r.service_level - 1e-12
    assert more.p_abandon <= r.p_abandon + 1e-15
    # both ≈ 1 in deep overload (λ=4.75/s, AHT 670 s, 1 → 2 agents): float noise ~2e-12
    assert more.occupancy <= r.occupancy + 1e-9
