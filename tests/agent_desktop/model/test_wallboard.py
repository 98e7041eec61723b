"""The wallboard model folds supervisor events into queue / tier / agent rows (R-SUP-1, -2)."""

from __future__ import annotations

import msgspec
import pytest

from agent_desktop.model.wallboard import (
    WallboardChange,
    WallboardChangeKind,
    WallboardModel,
)
from shared.protocol.agent import AgentReady, AgentState
from shared.protocol.supervisor import (
    AgentCounts,
    MonitorEndReason,
    MonitorMode,
    ServiceLevel,
    SupervisorAgentStatus,
    SupervisorEvent,
    SupervisorMonitorEnded,
    SupervisorQueueStats,
    SupervisorTierStats,
)


def sl(achieved: float | None, target: float = 80.0, offered: int = 10) -> ServiceLevel:
    met = 0 if achieved is None else round(achieved * offered / 100)
    return ServiceLevel(
        threshold_seconds=20.0,
        target_percent=target,
        achieved_percent=achieved,
        window_seconds=900.0,
        offered=0 if achieved is None else offered,
        answered=0 if achieved is None else offered,
        answered_in_threshold=met,
    )


def queue(qid: str, ts: float, *, waiting: int = 0, achieved: float | None = 90.0,
          target: float = 80.0, offered: int = 10, longest: float = 0.0,
          ready: int = 1, busy: int = 0) -> SupervisorQueueStats:  # fmt: skip
    return SupervisorQueueStats(
        ts=ts,
        queue_id=qid,
        waiting=waiting,
        longest_wait_seconds=longest,
        agents=AgentCounts(ready=ready, busy=busy),
        service_level=sl(achieved, target, offered),
    )


def tier(name: str, ts: float, achieved: float | None, target: float = 80.0) -> SupervisorTierStats:
    return SupervisorTierStats(ts=ts, tier=name, waiting=0, service_level=sl(achieved, target))


def status(agent: str, state: AgentState, since: float, **kw: object) -> SupervisorAgentStatus:
    return SupervisorAgentStatus(ts=since, agent_id=agent, state=state, since=since, **kw)  # type: ignore[arg-type]


def wire(event: SupervisorEvent) -> SupervisorEvent:
    """Through JSON and back, as the client decodes it from the server."""
    return msgspec.json.decode(msgspec.json.encode(event), type=SupervisorEvent)


def test_queue_stats_make_rows_and_later_queues_are_added() -> None:
    model = WallboardModel()
    changes: list[WallboardChange] = []
    model.subscribe(changes.append)

    assert model.apply(wire(queue("q_billing", 100.0, waiting=3, longest=42.5, ready=2, busy=4)))
    row = model.queues["q_billing"]
    assert (row.waiting, row.longest_wait_seconds) == (3, 42.5)
    assert (row.agents.ready, row.agents.busy) == (2, 4)
    assert (row.achieved_percent, row.target_percent) == (90.0, 80.0)
    assert not row.below_target()

    model.apply(wire(queue("q_vip", 101.0, achieved=50.0)))  # never announced before
    model.apply(wire(queue("q_billing", 101.0, waiting=0, achieved=60.0)))
    assert set(model.queues) == {"q_billing", "q_vip"}
    assert model.queues["q_billing"].waiting == 0
    assert model.below_target_queues() == ["q_billing", "q_vip"]
    assert changes[-1] == WallboardChange(WallboardChangeKind.QUEUE, "q_billing")


def test_nothing_offered_is_not_below_target() -> None:
    model = WallboardModel()
    model.apply(queue("q_idle", 5.0, achieved=None))
    model.apply(tier("normal", 5.0, None))
    assert model.queues["q_idle"].achieved_percent is None
    assert model.below_target_queues() == [] and model.below_target_tiers() == []
    assert model.sl_history["normal"] == type(model.sl_history["normal"])()  # nothing charted


def test_tier_history_is_bounded_and_one_point_per_round() -> None:
    model = WallboardModel(history=3)
    for i, achieved in enumerate([90.0, 85.0, 70.0, 75.0]):
        model.apply(wire(tier("vip", 10.0 + i, achieved, target=90.0)))
    model.apply(tier("vip", 13.0, 78.0, target=90.0))  # the same round again: replaces
    model.apply(tier("vip", 11.5, 10.0, target=90.0))  # a late older round: not charted
    assert list(model.sl_history["vip"]) == [(11.0, 85.0), (12.0, 70.0), (13.0, 78.0)]
    assert model.tiers["vip"].below_target()
    assert model.below_target_tiers() == ["vip"]
    model.apply(tier("gold", 13.0, 95.0))
    assert model.below_target_tiers() == ["vip"]


def test_agent_status_and_time_in_state() -> None:
    model = WallboardModel()
    model.set_agent_names({"1001": "张三"})
    model.apply(wire(status("1001", AgentState.READY, 1000.0, queues=("q_billing",))))
    model.apply(wire(status("1002", AgentState.BUSY, 990.0, call_id="c7")))
    a, b = model.agents["1001"], model.agents["1002"]
    assert (a.state, a.name, a.queues) == (AgentState.READY, "张三", ("q_billing",))
    assert a.time_in_state(1012.5) == 12.5
    assert a.time_in_state(900.0) == 0.0  # a clock behind the server's never shows negatives
    assert b.on_call and not a.on_call and b.name is None

    model.apply(status("1001", AgentState.NOT_READY, 1020.0, reason_code="meeting"))
    assert (a.state, a.reason_code, a.time_in_state(1021.0)) == (
        AgentState.NOT_READY,
        "meeting",
        1.0,
    )
    model.apply(status("1001", AgentState.LOGGED_OFF, 1030.0))
    assert not a.logged_on and "1001" in model.agents  # kept, shown as logged off
    model.set_agent_names({"1002": "李四"})
    assert b.name == "李四"
    assert [r.agent_id for r in model.agents_in({AgentState.BUSY})] == ["1002"]


def test_monitors_follow_results_and_ended_events() -> None:
    model = WallboardModel()
    model.apply(status("1003", AgentState.BUSY, 50.0, call_id="c1"))
    kinds: list[WallboardChange] = []
    model.subscribe(kinds.append)

    model.monitor_started("1003", "m1", "listen", call_id="c1")
    assert model.monitor_for("1003") is not None
    assert model.agents["1003"].monitor.mode is MonitorMode.LISTEN  # type: ignore[union-attr]
    model.monitor_started("1003", "m1", MonitorMode.BARGE, call_id="c1")  # mode switch
    assert model.monitors["m1"].mode is MonitorMode.BARGE and len(model.monitors) == 1

    assert model.apply(
        wire(SupervisorMonitorEnded(monitor_id="m1", reason=MonitorEndReason.CALL_ENDED))
    )
    assert model.monitor_for("1003") is None and model.monitors == {}
    assert kinds[-1] == WallboardChange(WallboardChangeKind.MONITOR, "1003")
    assert model.monitor_ended("unknown") is None  # ignored
    with pytest.raises(ValueError):
        model.monitor_started("1003", "m2", "eavesdrop")


def test_totals_and_other_events_and_reset() -> None:
    model = WallboardModel()
    assert model.totals().achieved_percent is None and model.totals().target_percent is None
    model.apply(queue("q_a", 1.0, waiting=2, longest=30.0, achieved=50.0, target=80.0, offered=10))
    model.apply(queue("q_b", 1.0, waiting=1, longest=75.0, achieved=100.0, target=90.0, offered=30))
    totals = model.totals()
    assert (totals.waiting, totals.longest_wait_seconds) == (3, 75.0)
    assert totals.achieved_percent == pytest.approx(87.5)  # (5 + 30) / 40
    assert totals.target_percent == pytest.approx(87.5)  # (80*10 + 90*30) / 40
    assert not totals.below_target()

    assert not model.apply(AgentReady(agent_id="1001"))  # not a wallboard event
    changes: list[WallboardChange] = []
    model.subscribe(changes.append)
    model.reset()
    assert model.queues == {} and changes == [WallboardChange(WallboardChangeKind.RESET)]
    with pytest.raises(ValueError):
        WallboardModel(history=0)


def test_unsubscribe_stops_notifications() -> None:
    model = WallboardModel()
    seen: list[WallboardChange] = []
    stop = model.subscribe(seen.append)
    model.apply(tier("gold", 1.0, 80.0))
    stop()
    stop()  # twice is harmless
    model.apply(tier("gold", 2.0, 81.0))
    assert len(seen) == 1
