"""The agents grid (R-SUP-1, R-SUP-2): states in colour, ticking time in state, sorting and
filtering, and supervisor actions enabled only where they make sense."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QMenu
from pytestqt.qtbot import QtBot

from agent_desktop.model.wallboard import WallboardModel
from agent_desktop.ui.agents_grid import (
    C_CALL,
    C_MONITOR,
    C_NAME,
    C_REASON,
    C_STATE,
    C_TIME,
    STATE_COLOURS,
    AgentsGrid,
)
from shared.protocol.agent import AgentState
from shared.protocol.supervisor import MonitorEndReason, SupervisorAgentStatus


class FakeClock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def status(agent: str, state: AgentState, since: float, **kw: str) -> SupervisorAgentStatus:
    return SupervisorAgentStatus(
        ts=since,
        agent_id=agent,
        state=state,
        since=since,
        reason_code=kw.get("reason"),
        call_id=kw.get("call"),
    )


@pytest.fixture
def setup(qtbot: QtBot) -> tuple[WallboardModel, AgentsGrid, FakeClock]:
    model = WallboardModel()
    model.set_agent_names({"1001": "张三"})
    clock = FakeClock(110.0)
    model.apply(status("1003", AgentState.NOT_READY, 95.0, reason="break"))
    model.apply(status("1001", AgentState.READY, 100.0))
    grid = AgentsGrid(model, clock=clock)
    grid.set_reason_codes([("break", "Break"), ("meeting", "Meeting")])
    qtbot.addWidget(grid)
    grid.resize(1000, 500)
    grid.show()
    model.apply(status("1002", AgentState.BUSY, 90.0, call="c1"))  # after the grid exists
    model.apply(status("1004", AgentState.LOGGED_OFF, 50.0))
    return model, grid, clock


def test_rows_show_state_colour_reason_call_and_name(
    setup: tuple[WallboardModel, AgentsGrid, FakeClock],
) -> None:
    _, grid, _ = setup
    assert grid.visible_agents() == ["1001", "1002", "1003", "1004"]
    assert grid.cell_text("1001", C_NAME) == "张三"
    assert grid.cell_text("1001", C_STATE) == "Ready"
    assert grid.cell_background("1001", C_STATE) == QColor(STATE_COLOURS[AgentState.READY][0])
    assert grid.cell_background("1003", C_STATE) == QColor(STATE_COLOURS[AgentState.NOT_READY][0])
    assert grid.cell_text("1003", C_REASON) == "break"
    assert grid.cell_text("1002", C_CALL) == "c1"
    assert grid.cell_text("1002", C_STATE) == "On a call"
    assert grid.cell_text("1001", C_TIME) == "0:10"
    assert grid.cell_text("1002", C_TIME) == "0:20"


def test_time_in_state_ticks_every_second(
    qtbot: QtBot, setup: tuple[WallboardModel, AgentsGrid, FakeClock]
) -> None:
    model, grid, clock = setup
    clock.now = 175.0
    qtbot.waitUntil(lambda: grid.cell_text("1001", C_TIME) == "1:15", timeout=2500)
    assert grid.cell_text("1003", C_TIME) == "1:20"
    model.apply(status("1001", AgentState.NOT_READY, 174.0, reason="meeting"))
    assert grid.cell_text("1001", C_TIME) == "0:01"  # a new state restarts the count
    grid.set_clock_offset(-100.0)  # the local clock is 100 s ahead of the server's
    assert grid.cell_text("1003", C_TIME) == "0:00"


def test_sorting_and_filtering_by_state(
    qtbot: QtBot, setup: tuple[WallboardModel, AgentsGrid, FakeClock]
) -> None:
    model, grid, _ = setup
    grid.view.sortByColumn(C_TIME, Qt.SortOrder.DescendingOrder)  # longest in state first
    assert grid.visible_agents() == ["1004", "1002", "1003", "1001"]
    grid.view.sortByColumn(C_STATE, Qt.SortOrder.AscendingOrder)
    assert grid.visible_agents()[0] == "1001"  # ready first

    ready = grid.state_filter.findData(AgentState.READY.value)
    grid.state_filter.setCurrentIndex(ready)
    assert grid.visible_agents() == ["1001"]
    model.apply(status("1003", AgentState.READY, 120.0))  # becomes ready: now shown
    assert sorted(grid.visible_agents()) == ["1001", "1003"]
    grid.state_filter.setCurrentIndex(grid.state_filter.findData("logged_on"))
    assert "1004" not in grid.visible_agents() and len(grid.visible_agents()) == 3
    grid.state_filter.setCurrentIndex(0)
    assert len(grid.visible_agents()) == 4
    model.apply(status("1005", AgentState.RESERVED, 130.0))  # an agent appearing later
    assert "1005" in grid.visible_agents()


def enabled(grid: AgentsGrid) -> set[str]:
    buttons = {
        "listen": grid.listen_button,
        "whisper": grid.whisper_button,
        "barge": grid.barge_button,
        "stop": grid.stop_monitor_button,
        "force_ready": grid.force_ready_button,
        "force_not_ready": grid.force_not_ready_button,
        "force_logout": grid.force_logout_button,
    }
    return {name for name, b in buttons.items() if b.isEnabled()}


def test_buttons_follow_the_selected_agent_and_emit_requests(
    qtbot: QtBot, setup: tuple[WallboardModel, AgentsGrid, FakeClock]
) -> None:
    model, grid, _ = setup
    assert enabled(grid) == set()  # nothing selected

    assert grid.select_agent("1001")  # ready, no call
    assert enabled(grid) == {"force_not_ready", "force_logout"}
    grid.reason_combo.setCurrentIndex(grid.reason_combo.findData("meeting"))
    with qtbot.waitSignal(grid.force_state_requested) as forced:
        grid.force_not_ready_button.click()
    assert forced.args == ["1001", "not_ready", "meeting"]

    assert grid.select_agent("1002")  # on a call
    assert enabled(grid) == {"listen", "whisper", "barge", "force_not_ready", "force_logout"}
    with qtbot.waitSignal(grid.monitor_requested) as listen:
        grid.listen_button.click()
    assert listen.args == ["1002", "listen"]
    model.monitor_started("1002", "m1", "listen", "c1")
    assert grid.cell_text("1002", C_MONITOR) == "Listening"
    assert enabled(grid) == {"whisper", "barge", "stop", "force_not_ready", "force_logout"}
    with qtbot.waitSignal(grid.monitor_stop_requested) as stop:
        grid.stop_monitor_button.click()
    assert stop.args == ["m1"]
    model.monitor_ended("m1", MonitorEndReason.STOPPED)
    assert grid.cell_text("1002", C_MONITOR) == "" and "stop" not in enabled(grid)

    # the selected agent's call ends: monitoring is no longer offered
    model.apply(status("1002", AgentState.WORK_NOT_READY, 140.0))
    assert enabled(grid) == {"force_ready", "force_not_ready", "force_logout"}
    with qtbot.waitSignal(grid.force_state_requested) as ready:
        grid.force_ready_button.click()
    assert ready.args == ["1002", "ready", None]

    assert grid.select_agent("1004")  # logged off: nothing to do
    assert enabled(grid) == set()
    with qtbot.assertNotEmitted(grid.force_logout_requested):
        grid.force_logout_button.click()
    assert grid.select_agent("1003")
    with qtbot.waitSignal(grid.force_logout_requested) as logout:
        grid.force_logout_button.click()
    assert logout.args == ["1003"]


def actions(menu: QMenu) -> dict[str, bool]:
    found = {a.objectName(): a.isEnabled() for a in menu.actions() if a.objectName()}
    for a in menu.actions():
        sub = a.menu()
        if isinstance(sub, QMenu):
            found[sub.objectName()] = sub.isEnabled()
    return found


def test_context_menu_offers_the_same_actions(
    qtbot: QtBot, setup: tuple[WallboardModel, AgentsGrid, FakeClock]
) -> None:
    _, grid, _ = setup
    menu = grid.context_menu("1002")
    assert actions(menu) == {
        "listen": True,
        "whisper": True,
        "barge": True,
        "stop": False,
        "force_ready": False,
        "force_not_ready": True,
        "force_logout": True,
    }
    barge = next(a for a in menu.actions() if a.objectName() == "barge")
    with qtbot.waitSignal(grid.monitor_requested) as requested:
        barge.trigger()
    assert requested.args == ["1002", "barge"]

    sub = next(a.menu() for a in menu.actions() if isinstance(a.menu(), QMenu))
    assert isinstance(sub, QMenu)
    assert [a.text() for a in sub.actions()] == ["Default reason", "Break", "Meeting"]
    with qtbot.waitSignal(grid.force_state_requested) as forced:
        sub.actions()[1].trigger()
    assert forced.args == ["1002", "not_ready", "break"]

    assert not any(actions(grid.context_menu("1004")).values())  # logged off
