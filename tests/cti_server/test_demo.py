"""The demo launcher prints what exists: routing comparison and staffing (README demo)."""

from __future__ import annotations

import pytest

from cti_server import demo


def test_demo_prints_the_routing_comparison_and_staffing(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert demo.main(["--no-serve", "--replications", "1"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    header = next(line for line in lines if line.startswith("tier"))
    for label in ("FIFO", "static priority", "SL gap"):
        assert label in header
    rows = {
        line.split()[0]: line
        for line in lines
        if line.split()[:1] in (["vip"], ["gold"], ["normal"])
    }
    assert set(rows) == {"vip", "gold", "normal"}
    for row in rows.values():
        assert row.count("%") == 4  # target + one SL per strategy
        assert row.count("met") + row.count("MISSED") == 3
    assert "calls simulated" in out
    assert "Erlang C:" in out and "Erlang A" in out


def test_demo_rejects_a_bad_replication_count(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        demo.main(["--no-serve", "--replications", "0"])
    assert info.value.code == 2
    assert "--replications" in capsys.readouterr().err
