"""Pacing proof in the simulator (a shorter day than the benchmark's, same campaign)."""

from __future__ import annotations

from dataclasses import replace

from cti_server.outbound import DialMode
from cti_server.outbound.sim import benchmark_scenario, compare, format_table, run_day

CEILING = 0.03


def test_predictive_stays_under_the_ceiling_and_beats_progressive_utilisation() -> None:
    scenario = benchmark_scenario(day_seconds=2 * 3600.0)
    result = compare(
        scenario, modes=(DialMode.PROGRESSIVE, DialMode.PREDICTIVE), replications=3, seed=11
    )
    predictive, progressive = result[DialMode.PREDICTIVE], result[DialMode.PROGRESSIVE]
    assert all(0 < day.abandon_rate <= CEILING for day in predictive.days)
    assert progressive.max_abandon_rate == 0.0  # every line has its agent reserved
    assert predictive.utilisation.low > progressive.utilisation.high + 0.05
    assert predictive.contacts_per_agent_hour.low > progressive.contacts_per_agent_hour.high
    table = format_table(result)
    assert "| predictive |" in table and "| progressive |" in table


def test_without_the_ceiling_an_aggressive_power_ratio_abandons_far_more() -> None:
    # 6 lines per idle agent at a 15-30 % answer rate: far too many. The ceiling cannot
    # undo the opening burst, but falls back to progressive for the rest of the hour.
    scenario = benchmark_scenario(day_seconds=3600.0)
    reckless = replace(
        scenario, pacing=replace(scenario.pacing, power_ratio=6.0, abandon_ceiling=0.99)
    )
    capped = replace(scenario, pacing=replace(scenario.pacing, power_ratio=6.0))
    wild = run_day(reckless, DialMode.POWER, seed=3)
    safe = run_day(capped, DialMode.POWER, seed=3)
    assert wild.abandon_rate > 0.10
    assert safe.fallback_share > 0.5
    assert safe.abandon_rate < wild.abandon_rate / 2


def test_a_day_is_reproducible_from_its_seed() -> None:
    scenario = benchmark_scenario(day_seconds=900.0, agents=10)
    first = run_day(scenario, DialMode.PREDICTIVE, seed=5)
    again = run_day(scenario, DialMode.PREDICTIVE, seed=5)
    other = run_day(scenario, DialMode.PREDICTIVE, seed=6)
    assert replace(first, wall_seconds=0.0) == replace(again, wall_seconds=0.0)
    assert (first.dials, first.connected) != (other.dials, other.connected)
