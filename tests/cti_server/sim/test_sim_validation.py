"""The simulator (driving the real routing engine) against exact queueing results.

Small, fixed-seed versions of the full-size validation in bench/bench_sim.py. Each
check uses a 99 % Student-t CI over replications and is shown to have teeth: a
deliberately wrong expected value (one agent more or less, no abandonment, the other
staffing model) must fall outside the same CI, and the CI must be narrow.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from cti_server.sim import load_scenario, simulate, summarize
from cti_server.sim.validation import (
    compare_pooling,
    exact_for,
    mmc_scenario,
    pooling_scenario,
    run_mmc,
)
from cti_server.staffing import erlang_a_metrics

REPO = Path(__file__).resolve().parents[3]


def test_mmc_matches_erlang_c() -> None:
    """M/M/10 at 80 % load: P(wait), SL(20 s), ASA and occupancy inside 99 % CIs."""
    sc = mmc_scenario(agents=10, load=8.0, calls_per_replication=8000, replications=10, seed=1)
    summary, checks = run_mmc(sc, confidence=0.99)
    for c in checks:
        assert c.inside, c
    tier = summary.tiers[0]
    assert tier.p_wait.half_width < 0.03 and tier.sl.half_width < 0.03
    assert tier.abandon.mean == 0.0
    # Teeth: the Erlang C figures for 9 or 11 agents are outside the same CIs.
    for wrong_agents in (9, 11):
        wrong = erlang_a_metrics(8.0 / 180.0, 180.0, math.inf, wrong_agents, 20.0)
        assert not tier.p_wait.contains(wrong.p_wait)
        assert not tier.sl.contains(wrong.service_level)
        assert not tier.asa.contains(wrong.asa)


def test_mmc_with_patience_matches_erlang_a() -> None:
    """M/M/10+M at 95 % offered load, mean patience 2 x AHT: abandonment included."""
    sc = mmc_scenario(agents=10, load=9.5, mean_patience=360.0, calls_per_replication=8000,
                      replications=10, seed=2)  # fmt: skip
    summary, checks = run_mmc(sc, confidence=0.99)
    assert {c.metric for c in checks} >= {"P(wait)", "SL", "ASA", "abandoned", "occupancy"}
    for c in checks:
        assert c.inside, c
    tier = summary.tiers[0]
    exact = exact_for(sc)
    assert tier.abandon.half_width < 0.01
    # Teeth: ignoring abandonment (Erlang C) or doubling the patience is detected.
    no_abandon = erlang_a_metrics(9.5 / 180.0, 180.0, math.inf, 10, 20.0)
    assert not tier.abandon.contains(0.0)
    assert not tier.sl.contains(no_abandon.service_level)
    patient = erlang_a_metrics(9.5 / 180.0, 180.0, 720.0, 10, 20.0)
    assert not tier.abandon.contains(patient.p_abandon)
    assert exact.p_abandon > 0.05


@pytest.mark.slow
def test_pooled_vs_specialists_match_the_two_erlang_c_values() -> None:
    """6 call types x 15 specialists = six M/M/15 queues; 90 cross-trained agents under
    FIFO = one M/M/90 queue. Each run matches its own exact value and not the other's."""
    results = {}
    for pooled in (False, True):
        sc = pooling_scenario(pooled=pooled, calls_per_replication=12_000, replications=8,
                              seed=3)  # fmt: skip
        checks = compare_pooling(sc, summarize(simulate(sc), confidence=0.99))
        for c in checks:
            assert c.inside, c
        results[pooled] = {c.metric: c for c in checks}
    for metric in ("P(wait)", "SL", "ASA"):
        assert not results[True][metric].simulated.contains(results[False][metric].exact)
        assert not results[False][metric].simulated.contains(results[True][metric].exact)
    assert results[True]["P(wait)"].exact < 0.05
    assert results[False]["P(wait)"].exact > 0.25


@pytest.mark.slow
def test_three_tiers_sl_gap_beats_fifo_and_static_priority() -> None:
    """R-ROUTE-2 on the bench scenario (6 replications instead of 20): FIFO misses the
    VIP target, static priority leaves the normal tier far below SL-gap and below its
    target, and SL-gap meets every tier's target."""
    sc = load_scenario(REPO / "bench" / "scenarios" / "three_tiers_overload.toml")
    res = {
        s: summarize(simulate(sc, strategy=s, replications=6))
        for s in ("fifo", "static_priority", "sl_gap")
    }
    fifo, static, gap = (res[s] for s in ("fifo", "static_priority", "sl_gap"))
    assert fifo.tier("vip").sl.high < 0.8
    assert static.tier("normal").sl.mean < 0.6
    assert static.tier("normal").sl.mean < gap.tier("normal").sl.mean - 0.05
    assert gap.tier("vip").sl.mean > fifo.tier("vip").sl.mean + 0.1
    for tier in gap.tiers:
        assert tier.sl_target is not None
        assert tier.sl.mean >= tier.sl_target, tier
    # Static priority does serve the top tiers best (the engine really switched strategy).
    assert static.tier("vip").sl.mean > gap.tier("vip").sl.mean > fifo.tier("vip").sl.mean
