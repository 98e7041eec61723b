"""The state bar: ready / not ready with a reason, time in state, the ticking
after-call-work countdown and "end wrap-up", enabled from the model."""

from __future__ import annotations

from PySide6.QtCore import Qt

from agent_desktop.model.state import DesktopModel
from agent_desktop.ui.state_bar import StateBar
from shared.protocol import agent as pa
from shared.protocol import call as pc
from shared.protocol.codec import decode_server, encode
from shared.protocol.session import EventSequencer

AGENT = "1001"
LEFT = Qt.MouseButton.LeftButton
REASONS = [("lunch", "午餐"), ("training", "Training")]


class Server:
    def __init__(self) -> None:
        self.seq = EventSequencer(capacity=100)
        self.t = 1_767_225_600.0

    def send(self, model: DesktopModel, event) -> None:
        self.t += 1
        model.apply(decode_server(encode(self.seq.stamp(event, self.t))))


class Clock:
    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def make_bar(qtbot, reasons=REASONS):
    model, srv = DesktopModel(AGENT), Server()
    clock = Clock(srv.t)
    bar = StateBar(model, reasons, clock=clock)
    qtbot.addWidget(bar)
    bar.show()
    return model, srv, clock, bar


def test_ready_and_not_ready_with_a_reason(qtbot) -> None:
    model, srv, clock, bar = make_bar(qtbot)
    assert bar.state_label.text() == "Logged off"
    assert not bar.ready_button.isEnabled() and not bar.not_ready_button.isEnabled()
    srv.send(model, pa.AgentLoggedOn(agent_id=AGENT))
    assert bar.ready_button.isEnabled()
    with qtbot.waitSignal(bar.ready_requested):
        qtbot.mouseClick(bar.ready_button, LEFT)

    srv.send(model, pa.AgentReady(agent_id=AGENT))
    assert not bar.ready_button.isEnabled()
    assert bar.not_ready_button.isEnabled()
    clock.t = srv.t + 65
    bar.tick()
    assert bar.state_label.text() == "Ready · 1:05"
    assert [a.text() for a in bar.reason_actions()] == ["午餐", "Training"]
    with qtbot.waitSignal(bar.not_ready_requested) as asked:
        bar.reason_actions()[0].trigger()
    assert asked.args == ["lunch"]

    srv.send(
        model,
        pa.AgentNotReady(
            agent_id=AGENT, reason_code="lunch", reason_label="午餐", forced_by="9001"
        ),
    )
    clock.t = srv.t
    bar.tick()
    assert bar.state_label.text() == "Not ready (午餐) [set by 9001] · 0:00"
    assert not bar.end_acw_button.isVisible()


def test_no_reason_codes_means_no_not_ready_button(qtbot) -> None:
    model, srv, _clock, bar = make_bar(qtbot, reasons=[])
    srv.send(model, pa.AgentLoggedOn(agent_id=AGENT))
    srv.send(model, pa.AgentReady(agent_id=AGENT))
    assert not bar.not_ready_button.isEnabled()
    bar.set_reason_codes([("break", "Break")])
    assert bar.not_ready_button.isEnabled()


def test_after_call_work_counts_down_and_can_be_ended(qtbot) -> None:
    model, srv, clock, bar = make_bar(qtbot)
    srv.send(model, pa.AgentLoggedOn(agent_id=AGENT))
    srv.send(model, pa.AgentReady(agent_id=AGENT))
    srv.send(model, pc.CallDelivered(call_id="C1", agent_id=AGENT, caller="13800138000"))
    srv.send(model, pc.CallEstablished(call_id="C1", agent_id=AGENT))
    assert bar.state_label.text().startswith("On a call")
    assert not bar.ready_button.isEnabled()  # not with a call up
    srv.send(model, pc.CallConnectionCleared(call_id="C1", agent_id=AGENT))
    deadline = srv.t + 31
    srv.send(model, pa.AgentWorkNotReady(agent_id=AGENT, call_id="C1", deadline=deadline))
    model.dismiss("C1")
    assert bar.end_acw_button.isVisible() and bar.end_acw_button.isEnabled()
    clock.t = deadline - 30
    bar.tick()
    assert bar.acw_label.text() == "Ready again in 0:30"
    clock.t = deadline - 29
    qtbot.waitUntil(lambda: bar.acw_label.text() == "Ready again in 0:29", timeout=3000)
    clock.t = deadline + 5
    bar.tick()
    assert bar.acw_label.text() == "Ready again in 0:00"
    with qtbot.waitSignal(bar.end_acw_requested):
        qtbot.mouseClick(bar.end_acw_button, LEFT)
    srv.send(model, pa.AgentReady(agent_id=AGENT))
    assert not bar.end_acw_button.isVisible()
    assert bar.acw_label.text() == ""
