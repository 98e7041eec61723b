"""Scenario files and the ``cti-sim`` command line: good files run, bad files get a
clear typed error naming the file and field, exit code 2, never a traceback."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from cti_server.sim import Exponential, LogNormal, Never, ScenarioError, load_scenario
from cti_server.sim.__main__ import main

REPO = Path(__file__).resolve().parents[3]

GOOD = """
[simulation]
horizon = 7200
warmup = 600
replications = 2
seed = 3
interval = 3600

[[tiers]]
id = "vip"
sl_seconds = 10
sl_target = 0.8
priority_weight = 2

[[tiers]]
id = "normal"
sl_seconds = 30
sl_target = 0.6

[[agent_groups]]
id = "seniors"
tiers = ["vip", "normal"]

[[queues]]
id = "billing"
acw_seconds = 10

[[queues.overflow]]
after = 30
widen_to_level = 2

[[arrivals]]
queue = "billing"
tier = "vip"
rate_per_hour = 40
service = { dist = "lognormal", mean = 200, sd = 100 }
patience = { dist = "exponential", mean = 120 }

[[arrivals]]
queue = "billing"
tier = "normal"
rates_per_hour = [60, 120]
service = { dist = "exponential", mean = 180 }
patience = "none"

[[agents]]
name = "senior"
count = 4
skills = { billing = 1 }
groups = ["seniors"]

[[agents]]
name = "junior"
count = 3
skills = { billing = 2 }
start = 1800
end = 5400
"""


def write(tmp_path: Path, text: str, name: str = "s.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_good_scenario_parses_every_section(tmp_path: Path) -> None:
    text = GOOD
    sc = load_scenario(write(tmp_path, text))
    assert sc.horizon == 7200 and sc.warmup == 600 and sc.replications == 2
    assert [t.tier_id for t in sc.tiers] == ["vip", "normal"]
    assert sc.queues[0].skill == "billing" and sc.queues[0].acw_seconds == 10
    assert sc.queues[0].overflow[0].widen_to_level == 2
    assert sc.arrivals[0].service == LogNormal(200, 100)
    assert sc.arrivals[0].patience == Exponential(120)
    assert sc.arrivals[1].patience == Never()
    assert sc.arrivals[1].rates_per_hour == (60.0, 120.0)
    assert sc.agents[1].start == 1800 and sc.agents[1].end == 5400


def test_cli_prints_tables_and_writes_csv(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, GOOD)
    out_csv = tmp_path / "out.csv"
    code = main([str(path), "--replications", "3", "--seed", "5", "--csv", str(out_csv),
                 "--strategy", "static_priority"])  # fmt: skip
    assert code == 0
    out = capsys.readouterr().out
    assert "strategy static_priority, 3 replication(s), seed 5" in out
    for word in ("Per tier:", "vip", "normal", "Per queue:", "billing", "senior", "occupancy"):
        assert word in out
    with out_csv.open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    sl_vip = [
        r for r in rows if r["scope"] == "tier" and r["name"] == "vip" and r["metric"] == "sl"
    ]
    assert len(sl_vip) == 1 and 0.0 <= float(sl_vip[0]["mean"]) <= 1.0
    assert sl_vip[0]["replications"] == "3"
    assert {r["scope"] for r in rows} == {"tier", "queue", "total", "pool"}


def test_bundled_bench_scenarios_load() -> None:
    for path in sorted((REPO / "bench" / "scenarios").glob("*.toml")):
        assert load_scenario(path).horizon > 0


BAD = [
    # (replace this, with this, expected field, expected words)
    ('sl_target = 0.8\npriority_weight = 2', "priority_weight = 2", "tiers[0].sl_target",
     "missing required field"),
    ('dist = "lognormal", mean = 200, sd = 100', 'dist = "weibull", mean = 200',
     "arrivals[0].service.dist", "unknown distribution 'weibull'"),
    ("rate_per_hour = 40", "rate_per_hour = -5", "arrivals[0].rate_per_hour", ">= 0"),
    ("rates_per_hour = [60, 120]", "rates_per_hour = [60, -1]", "arrivals[1].rates_per_hour",
     ">= 0"),
    ('tier = "vip"', 'tier = "platinum"', "arrivals[0].tier", "unknown tier 'platinum'"),
    ("count = 4", "count = -1", "agents[0].count", ">= 0"),
    ("skills = { billing = 1 }", "skills = { sales = 1 }", "agents[0].skills.sales",
     "no queue uses this skill"),
    ("horizon = 7200", "horizon = 7200\nhorizont = 3", "simulation.horizont", "unknown field"),
    ("warmup = 600", "warmup = 9000", "simulation.warmup", "< horizon"),
    ("mean = 120 }", "mean = 0 }", "arrivals[0].patience.mean", "> 0"),
    ('patience = "none"', 'patience = "forever"', "arrivals[1].patience",
     "expected a number or a table"),
    ("replications = 2", 'replications = "two"', "simulation.replications", "integer"),
    ('groups = ["seniors"]', 'groups = ["experts"]', "agents[0].groups", "unknown agent group"),
]  # fmt: skip


@pytest.mark.parametrize(("old", "new", "field", "words"), BAD)
def test_bad_scenarios_raise_typed_error_naming_file_and_field(
    tmp_path: Path, old: str, new: str, field: str, words: str
) -> None:
    text = GOOD
    assert old in text
    path = write(tmp_path, text.replace(old, new, 1))
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    assert info.value.field == field
    assert info.value.source == str(path)
    assert words in str(info.value)


def test_interval_inside_arrivals_is_an_unknown_field(tmp_path: Path) -> None:
    text = GOOD.replace("rates_per_hour = [60, 120]", "rates_per_hour = [60, 120]\ninterval = 60")
    with pytest.raises(ScenarioError, match=r"arrivals\[1\]\.interval: unknown field"):
        load_scenario(write(tmp_path, text))


def test_rates_not_covering_the_horizon_are_rejected(tmp_path: Path) -> None:
    text = GOOD.replace("interval = 3600", "interval = 1800")
    with pytest.raises(ScenarioError, match="do not cover the horizon"):
        load_scenario(write(tmp_path, text))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("this is = = not toml", "invalid TOML"),
        ("[simulation]\nhorizon = 10\n", "tiers: missing required field"),
    ],
)
def test_cli_bad_file_exit_code_2_without_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, message: str
) -> None:
    path = write(tmp_path, text)
    assert main([str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"cti-sim: error: {path}")
    assert message in err
    assert "Traceback" not in err


def test_cli_missing_file_and_bad_options(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([str(tmp_path / "nope.toml")]) == 2
    assert "cannot read file" in capsys.readouterr().err
    path = write(tmp_path, GOOD)
    assert main([str(path), "--replications", "0"]) == 2
    assert "--replications must be >= 1" in capsys.readouterr().err
    with pytest.raises(SystemExit) as info:
        main([str(path), "--strategy", "random"])
    assert info.value.code == 2


def test_cli_reports_engine_rejections_cleanly(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A queue that overflows into itself passes the file checks but not the engine's."""
    text = GOOD.replace(
        "acw_seconds = 10", 'acw_seconds = 10\nmax_wait = 60\nmax_wait_action = "overflow:billing"'
    )
    assert main([str(write(tmp_path, text))]) == 2
    err = capsys.readouterr().err
    assert "routing engine rejected the scenario" in err and "Traceback" not in err
