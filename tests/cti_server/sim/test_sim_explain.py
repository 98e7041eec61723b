"""The simulator runs the engine with ``explain=False`` by default; ``explain=True`` (CLI
``--explain``) must give exactly the same results, also on a multi-skill, multi-tier
scenario with agent groups, overflow stages, max-wait overflow and callbacks, ACW, ring
delay, abandonment and shifts (R-ROUTE-1..5, R-SKILL-2/3, R-TIER-3)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from cti_server.routing import NOT_EXPLAINED, CallSpec, Offer
from cti_server.sim import build_engine, loads_scenario, run_replication
from cti_server.sim.__main__ import main

MULTI = """
[simulation]
horizon = 5400
warmup = 600
interval = 1800
seed = 3
ring_delay = { dist = "uniform", low = 2, high = 6 }

[[tiers]]
id = "platinum"
sl_seconds = 10
sl_target = 0.9
priority_weight = 3
[[tiers]]
id = "gold"
sl_seconds = 20
sl_target = 0.8
priority_weight = 2
[[tiers]]
id = "std"
sl_seconds = 30
sl_target = 0.7

[[agent_groups]]
id = "seniors"
tiers = ["platinum", "gold"]
[[agent_groups]]
id = "juniors"
tiers = ["gold", "std"]

[[queues]]
id = "billing"
max_level = 1
acw_seconds = 15
[[queues.overflow]]
after = 20
widen_to_level = 2
[[queues.overflow]]
after = 45
add_groups = ["juniors"]
add_queues = ["sales"]
[[queues]]
id = "sales"
acw_seconds = 10
max_wait = 120
max_wait_action = "overflow:billing"
[[queues]]
id = "tech"
max_wait = 200
acw_seconds = 20

[[arrivals]]
queue = "billing"
tier = "platinum"
rates_per_hour = [100, 200, 120]
service = { dist = "lognormal", mean = 200, sd = 100 }
patience = { dist = "exponential", mean = 120 }
priority = 1
[[arrivals]]
queue = "billing"
tier = "gold"
rates_per_hour = [200, 300, 200]
service = { dist = "exponential", mean = 180 }
patience = { dist = "exponential", mean = 150 }
[[arrivals]]
queue = "sales"
tier = "std"
rates_per_hour = [300, 450, 300]
service = { dist = "gamma", mean = 150, sd = 80 }
patience = { dist = "exponential", mean = 200 }
[[arrivals]]
queue = "tech"
tier = "std"
rate_per_hour = 220
service = { dist = "exponential", mean = 300 }
patience = { dist = "exponential", mean = 400 }

[[agents]]
name = "senior"
count = 12
skills = { billing = 1, sales = 2 }
groups = ["seniors"]
[[agents]]
name = "junior"
count = 14
skills = { billing = 2, sales = 1 }
groups = ["juniors"]
end = 3600
[[agents]]
name = "late"
count = 10
skills = { sales = 1, tech = 2 }
groups = ["juniors"]
start = 1800
[[agents]]
name = "tech"
count = 16
skills = { tech = 1 }
groups = ["juniors", "seniors"]
"""


@pytest.mark.parametrize("strategy", ["sl_gap", "fifo", "static_priority"])
def test_explain_on_and_off_give_identical_results(strategy: str) -> None:
    sc = loads_scenario(MULTI, "multi.toml")
    fast = run_replication(sc, 0, strategy=strategy)
    explained = run_replication(sc, 0, strategy=strategy, explain=True)
    assert fast == explained
    total = sum(s.offered for s in fast.streams)
    assert total > 1000
    assert sum(s.overflowed for s in fast.streams) > 0  # the scenario exercises overflow
    assert sum(s.callbacks for s in fast.streams) + sum(s.abandoned for s in fast.streams) > 0


def test_simulator_engine_does_not_explain_unless_asked() -> None:
    sc = loads_scenario(MULTI, "multi.toml")
    for explain in (False, True):
        engine = build_engine(sc, "sl_gap", explain=explain)
        engine.agent_login("senior-1", 0)
        engine.agent_ready("senior-1", 0)
        (*_, offer) = engine.call_arrived(
            CallSpec(call_id="c1", queue_id="billing", tier_id="gold"), 1
        )
        assert isinstance(offer, Offer)
        assert (offer.explanation is NOT_EXPLAINED) is not explain


def test_cli_explain_flag_prints_the_same_tables(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "multi.toml"
    path.write_text(MULTI, encoding="utf-8")
    assert main([str(path), "--replications", "2"]) == 0
    plain = capsys.readouterr().out
    assert main([str(path), "--replications", "2", "--explain"]) == 0
    explained = capsys.readouterr().out

    def untimed(text: str) -> str:
        return re.sub(r"simulated in [0-9.]+ s", "simulated in ? s", text)

    assert untimed(plain) == untimed(explained)
    assert "Per tier:" in plain and "platinum" in plain
