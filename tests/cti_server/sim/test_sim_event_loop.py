"""Event-loop behaviour of the simulator: seeds, time-varying arrivals, shifts, ACW,
warm-up. A spy subclass of the real routing engine records what the simulator did."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest

from cti_server.routing import CallSpec, RoutingEngine
from cti_server.routing.actions import Action
from cti_server.sim import (
    AgentPool,
    ArrivalStream,
    Deterministic,
    Exponential,
    QueueDef,
    Scenario,
    TierDef,
    build_engine,
    run_replication,
    simulate,
    summarize,
)


class SpyEngine(RoutingEngine):
    """The real engine, logging (event, id, agent, now) of every call the simulator makes."""

    log: list[tuple[str, str, str, float]]

    def call_arrived(self, call: CallSpec, now: float) -> list[Action]:
        self.log.append(("arrived", call.call_id, "", now))
        return super().call_arrived(call, now)

    def offer_accepted(self, call_id: str, agent_id: str, now: float) -> list[Action]:
        self.log.append(("answered", call_id, agent_id, now))
        return super().offer_accepted(call_id, agent_id, now)

    def call_ended(self, call_id: str, now: float) -> list[Action]:
        self.log.append(("ended", call_id, "", now))
        return super().call_ended(call_id, now)

    def agent_login(self, agent_id: str, now: float) -> list[Action]:
        self.log.append(("login", "", agent_id, now))
        return super().agent_login(agent_id, now)

    def agent_logout(self, agent_id: str, now: float) -> list[Action]:
        self.log.append(("logout", "", agent_id, now))
        return super().agent_logout(agent_id, now)


def spy_factory(store: list[SpyEngine]):  # type: ignore[no-untyped-def]
    def factory(scenario: Scenario, strategy: str) -> RoutingEngine:
        base = build_engine(scenario, strategy)
        base.__class__ = SpyEngine
        spy = base
        assert isinstance(spy, SpyEngine)
        spy.log = []
        store.append(spy)
        return spy

    return factory


def scenario(**kw: object) -> Scenario:
    base = Scenario(
        horizon=7200.0,
        warmup=0.0,
        replications=3,
        seed=11,
        tiers=(TierDef(tier_id="t", sl_seconds=20.0, sl_target=0.8),),
        queues=(QueueDef(queue_id="q", skill="q"),),
        arrivals=(
            ArrivalStream(
                queue_id="q", tier_id="t", rates_per_hour=(120.0,), service=Exponential(120.0)
            ),
        ),
        agents=(AgentPool(name="a", count=5, skills={"q": 1}),),
    )
    return replace(base, **kw)  # type: ignore[arg-type]


def test_same_seed_same_results_other_seed_differs() -> None:
    sc = scenario()
    a = run_replication(sc, 0)
    b = run_replication(sc, 0)
    c = run_replication(sc, 0, seed=12)
    d = run_replication(sc, 1)
    assert a.streams == b.streams and a.pool_busy == b.pool_busy
    assert a.streams != c.streams
    assert a.streams != d.streams  # replications are independent streams


def test_adding_a_stream_keeps_the_other_streams_draws() -> None:
    """Random streams are per arrival stream: a new call type does not reshuffle the old."""
    sc = scenario(agents=(AgentPool(name="a", count=50, skills={"q": 1}),))
    extra = replace(
        sc,
        agents=(AgentPool(name="a", count=50, skills={"q": 1, "r": 1}),),
        queues=(*sc.queues, QueueDef(queue_id="r", skill="r")),
        arrivals=(
            *sc.arrivals,
            ArrivalStream(
                queue_id="r", tier_id="t", rates_per_hour=(60.0,), service=Exponential(60.0)
            ),
        ),
    )
    spies: list[SpyEngine] = []
    run_replication(sc, 0, engine_factory=spy_factory(spies))
    run_replication(extra, 0, engine_factory=spy_factory(spies))

    def arrivals(spy: SpyEngine) -> list[float]:
        return [t for ev, cid, _, t in spy.log if ev == "arrived"]

    first = arrivals(spies[0])
    assert set(first) <= set(arrivals(spies[1]))
    assert len(arrivals(spies[1])) > len(first)


def test_piecewise_rates_put_arrivals_only_in_open_intervals() -> None:
    """rates_per_hour [0, 1800, 0, 600] with 15-minute intervals (R-ROUTE-5 time of day)."""
    sc = scenario(
        horizon=3600.0,
        interval=900.0,
        arrivals=(
            ArrivalStream(
                queue_id="q",
                tier_id="t",
                rates_per_hour=(0.0, 1800.0, 0.0, 600.0),
                service=Deterministic(1.0),
            ),
        ),
        agents=(AgentPool(name="a", count=3, skills={"q": 1}),),
    )
    spies: list[SpyEngine] = []
    counts = []
    for rep in range(20):
        run_replication(sc, rep, engine_factory=spy_factory(spies))
        times = [t for ev, _, _, t in spies[-1].log if ev == "arrived"]
        assert all(900 <= t < 1800 or 2700 <= t < 3600 for t in times)
        counts.append((sum(900 <= t < 1800 for t in times), sum(2700 <= t < 3600 for t in times)))
    mean_peak = sum(c[0] for c in counts) / 20
    mean_late = sum(c[1] for c in counts) / 20
    # Poisson means 450 and 150; 20 replications -> standard errors ~4.7 and ~2.7.
    assert mean_peak == pytest.approx(450, abs=20)
    assert mean_late == pytest.approx(150, abs=12)


def test_agent_finishes_call_then_logs_out_at_shift_end() -> None:
    """A shift ending mid-call: the call is completed, ACW done, then logout; no new calls."""
    sc = scenario(
        horizon=4000.0,
        queues=(QueueDef(queue_id="q", skill="q", acw_seconds=30.0),),
        arrivals=(
            ArrivalStream(
                queue_id="q", tier_id="t", rates_per_hour=(200.0,), service=Exponential(300.0)
            ),
        ),
        agents=(
            AgentPool(name="early", count=3, skills={"q": 1}, end=1000.0),
            AgentPool(name="late", count=3, skills={"q": 1}, start=900.0),
        ),
    )
    spies: list[SpyEngine] = []
    run_replication(sc, 0, engine_factory=spy_factory(spies))
    log = spies[0].log
    call_end = {cid: t for ev, cid, _, t in log if ev == "ended"}
    for i in (1, 2, 3):
        agent = f"early-{i}"
        logout = [t for ev, _, ag, t in log if ev == "logout" and ag == agent]
        answered = [(cid, t) for ev, cid, ag, t in log if ev == "answered" and ag == agent]
        assert len(logout) == 1 and logout[0] >= 1000.0
        assert all(t < 1000.0 for _, t in answered)  # no call after the shift ended
        last_cid = max(answered, key=lambda x: x[1])[0]
        if call_end[last_cid] > 1000.0 - 30.0:  # busy (talk or ACW) at shift end
            assert logout[0] == pytest.approx(call_end[last_cid] + 30.0)
        else:
            assert logout[0] == 1000.0
    logins = sorted(t for ev, _, ag, t in log if ev == "login" and ag.startswith("late"))
    assert logins == [900.0, 900.0, 900.0]
    assert all(t >= 900.0 for ev, _, ag, t in log if ev == "answered" and ag.startswith("late"))


def test_some_early_agent_is_mid_call_at_shift_end() -> None:
    """Guard for the test above: with 300 s calls and 3 agents at ~100 % load, at least
    one agent is busy when the shift ends, so the 'finish first' branch is exercised."""
    sc = scenario(
        horizon=4000.0,
        queues=(QueueDef(queue_id="q", skill="q", acw_seconds=30.0),),
        arrivals=(
            ArrivalStream(
                queue_id="q", tier_id="t", rates_per_hour=(200.0,), service=Exponential(300.0)
            ),
        ),
        agents=(
            AgentPool(name="early", count=3, skills={"q": 1}, end=1000.0),
            AgentPool(name="late", count=3, skills={"q": 1}, start=900.0),
        ),
    )
    spies: list[SpyEngine] = []
    run_replication(sc, 0, engine_factory=spy_factory(spies))
    late_logouts = [
        t for ev, _, ag, t in spies[0].log if ev == "logout" and ag.startswith("early") and t > 1000
    ]
    assert late_logouts


def test_occupancy_counts_acw_and_matches_offered_work() -> None:
    """Occupancy = λ (talk + ACW) / agents when no call is lost: 120/h x (120 s + 30 s)
    over 10 agents = 50 %. Without ACW it would be 40 %."""
    sc = scenario(
        horizon=40_000.0,
        warmup=2000.0,
        replications=4,
        queues=(QueueDef(queue_id="q", skill="q", acw_seconds=30.0),),
        agents=(AgentPool(name="a", count=10, skills={"q": 1}),),
    )
    s = summarize(simulate(sc))
    assert s.occupancy.mean == pytest.approx(0.50, abs=0.02)
    assert s.pools[0].occupancy.mean == pytest.approx(s.occupancy.mean)


def test_warmup_calls_are_not_counted() -> None:
    """Offered calls per replication follow the measured window, not the horizon."""
    sc = scenario(horizon=36_000.0, warmup=18_000.0, replications=4)
    s = summarize(simulate(sc))
    # 120 calls/hour over the 5 counted hours: 600 +- Poisson noise (sd ~24.5 per rep).
    assert s.total.metrics["offered"].mean == pytest.approx(600, abs=40)
    assert s.calls_simulated > 4 * 1000  # warm-up calls were simulated


def test_callers_without_agents_abandon_and_unresolved_are_reported() -> None:
    """With nobody logged in, patient callers never get an answer; impatient ones abandon."""
    sc = scenario(
        horizon=3600.0,
        replications=2,
        arrivals=(
            ArrivalStream(
                queue_id="q",
                tier_id="t",
                rates_per_hour=(60.0,),
                service=Exponential(60.0),
                patience=Exponential(30.0),
            ),
        ),
        agents=(AgentPool(name="a", count=2, skills={"q": 1}, start=7000.0),),
    )
    s = summarize(simulate(sc))
    assert s.total.abandon.mean == 1.0
    assert s.total.sl.mean == 0.0
    assert math.isnan(s.total.asa.mean)
    patient = replace(sc, arrivals=(replace(sc.arrivals[0], patience=Exponential(1e9)),))
    s2 = summarize(simulate(patient))
    assert s2.total.abandon.mean == 0.0
    assert s2.total.sl.mean == 0.0
