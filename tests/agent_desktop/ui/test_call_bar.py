"""The call bar offers only what the model allows, emits intents with the right call
ids, opens the transfer dialog and has an offline (basic ACD) mode; the keypad and
the after-call notes widget."""

from __future__ import annotations

from PySide6.QtCore import Qt

from agent_desktop.model.state import DesktopModel
from agent_desktop.ui.call_bar import CallBar
from agent_desktop.ui.keypad import KeypadWidget
from agent_desktop.ui.transfer_dialog import TransferDirectory
from agent_desktop.ui.wrapup import WrapUpWidget
from shared.protocol import agent as pa
from shared.protocol import call as pc
from shared.protocol import desktop as pd
from shared.protocol.call import MAX_WRAP_UP_NOTES
from shared.protocol.codec import decode_server, encode
from shared.protocol.session import EventSequencer

AGENT = "1001"
LEFT = Qt.MouseButton.LeftButton


class Server:
    """Stamps events as the server would and sends them through the real codec."""

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


def record(signal) -> list[list[object]]:
    """Every emission of ``signal`` from now on, as argument lists."""
    got: list[list[object]] = []
    signal.connect(lambda *args: got.append(list(args)))
    return got


def delivered(call_id: str = "C1", **kw) -> pc.CallDelivered:
    return pc.CallDelivered(
        call_id=call_id, agent_id=AGENT, caller="13800138000", customer_name="王小明", **kw
    )


def enabled(bar: CallBar) -> set[str]:
    buttons = (
        bar.answer_button,
        bar.release_button,
        bar.hold_button,
        bar.transfer_button,
        bar.complete_button,
        bar.conference_button,
        bar.reconnect_button,
        bar.mute_button,
        bar.keypad_button,
    )
    return {b.objectName() for b in buttons if b.isEnabled()}


def make_bar(qtbot, directory: TransferDirectory | None = None):
    model, srv = DesktopModel(AGENT), Server()
    clock = Clock(srv.t)
    bar = CallBar(model, directory=directory, clock=clock)
    qtbot.addWidget(bar)
    srv.send(model, pa.AgentLoggedOn(agent_id=AGENT))
    srv.send(model, pa.AgentReady(agent_id=AGENT))
    return model, srv, clock, bar


def test_buttons_follow_the_call_and_emit_its_id(qtbot) -> None:
    model, srv, clock, bar = make_bar(qtbot)
    assert enabled(bar) == set()
    assert bar.call_label.text() == "No call"

    srv.send(model, delivered())
    assert enabled(bar) == {"answer", "release"}
    assert "王小明" in bar.call_label.text()
    with qtbot.waitSignal(bar.answer_requested) as answered:
        qtbot.mouseClick(bar.answer_button, LEFT)
    assert answered.args == ["C1"]

    srv.send(model, pc.CallEstablished(call_id="C1", agent_id=AGENT))
    assert enabled(bar) == {"release", "hold", "transfer", "mute", "keypad_toggle"}
    with qtbot.assertNotEmitted(bar.answer_requested):
        qtbot.mouseClick(bar.answer_button, LEFT)  # disabled: nothing happens
    with qtbot.waitSignal(bar.hold_requested) as held:
        qtbot.mouseClick(bar.hold_button, LEFT)
    assert held.args == ["C1"]

    srv.send(model, pc.CallHeld(call_id="C1", agent_id=AGENT))
    assert bar.hold_button.text() == "Retrieve"
    assert "keypad_toggle" not in enabled(bar)
    with qtbot.waitSignal(bar.retrieve_requested) as retrieved:
        qtbot.mouseClick(bar.hold_button, LEFT)
    assert retrieved.args == ["C1"]

    srv.send(model, pc.CallRetrieved(call_id="C1", agent_id=AGENT))
    assert bar.hold_button.text() == "Hold"
    clock.t = srv.t + 75
    bar.tick()
    assert bar.timer_label.text() == "1:15"
    with qtbot.waitSignal(bar.release_requested) as released:
        qtbot.mouseClick(bar.release_button, LEFT)
    assert released.args == ["C1"]

    srv.send(model, pc.CallConnectionCleared(call_id="C1", agent_id=AGENT))
    assert enabled(bar) == set()
    assert bar.timer_label.text() == ""


def test_mute_and_keypad_send_dtmf_for_the_call(qtbot) -> None:
    model, srv, _clock, bar = make_bar(qtbot)
    srv.send(model, delivered())
    srv.send(model, pc.CallEstablished(call_id="C1", agent_id=AGENT))
    with qtbot.waitSignal(bar.mute_toggled) as muted:
        qtbot.mouseClick(bar.mute_button, LEFT)
    assert muted.args == [True]
    qtbot.mouseClick(bar.keypad_button, LEFT)
    assert bar.keypad.isVisibleTo(bar)
    sent = record(bar.dtmf_requested)
    qtbot.mouseClick(bar.keypad.buttons["5"], LEFT)
    qtbot.mouseClick(bar.keypad.buttons["#"], LEFT)
    assert sent == [["C1", "5"], ["C1", "#"]]
    assert bar.keypad.digits() == "5#"
    # The call ends: the softphone is told to un-mute, the keypad closes.
    with qtbot.waitSignal(bar.mute_toggled) as unmuted:
        srv.send(model, pc.CallConnectionCleared(call_id="C1", agent_id=AGENT))
    assert unmuted.args == [False]
    assert not bar.mute_button.isChecked()
    assert not bar.keypad.isVisibleTo(bar)


def test_keypad_accepts_only_dtmf_keys(qtbot) -> None:
    pad = KeypadWidget()
    qtbot.addWidget(pad)
    pressed = record(pad.digit_pressed)
    qtbot.keyClicks(pad, "1a*b#")
    assert pressed == [["1"], ["*"], ["#"]]
    assert pad.digits() == "1*#"
    assert not pad.press("12") and not pad.press("A") and not pad.press("")
    assert sorted(pad.buttons) == sorted("0123456789*#")


def test_blind_transfer_to_the_survey_through_the_dialog(qtbot) -> None:
    directory = TransferDirectory.from_directory(
        pd.DesktopDirectory(
            agents=(pd.DirectoryAgent(agent_id="1002", display_name="李雷"),),
            queues=(pd.DirectoryQueue(queue_id="billing", name="Billing"),),
            ivr_targets=(pd.IvrTarget(flow_id="survey", node="start", label="Survey"),),
        )
    )
    model, srv, _clock, bar = make_bar(qtbot, directory)
    srv.send(model, delivered())
    assert not bar.transfer_button.isEnabled()
    srv.send(model, pc.CallEstablished(call_id="C1", agent_id=AGENT))
    qtbot.mouseClick(bar.transfer_button, LEFT)
    dialog = bar.transfer_dialog
    assert dialog is not None and dialog.isVisible()
    assert not dialog.ok_button.isEnabled()  # no target chosen yet
    assert dialog.agents.item(0).text() == "李雷 (1002)"
    dialog.tabs.setCurrentWidget(dialog.ivr)
    assert dialog.ivr.item(0).text() == "Survey"
    dialog.ivr.setCurrentRow(0)
    assert dialog.ok_button.isEnabled()
    with qtbot.waitSignal(bar.transfer_requested) as transferred:
        qtbot.mouseClick(dialog.ok_button, LEFT)
    call_id, destination, consult = transferred.args
    assert (call_id, consult) == ("C1", False)
    assert destination == pc.IvrDestination(flow_id="survey", node="start")
    assert not dialog.isVisible()


def test_consultation_then_complete_conference_or_reconnect(qtbot) -> None:
    directory = TransferDirectory(agents=(("1002", "李雷"), ("1003", "Han Meimei")))
    model, srv, _clock, bar = make_bar(qtbot, directory)
    srv.send(model, delivered())
    srv.send(model, pc.CallEstablished(call_id="C1", agent_id=AGENT))
    dialog = bar.open_transfer()
    assert dialog is not None
    qtbot.mouseClick(dialog.consultative, LEFT)
    dialog.filter.setText("han")  # the search hides 李雷
    assert dialog.agents.item(0).isHidden()
    dialog.agents.setCurrentRow(1)
    with qtbot.waitSignal(bar.transfer_requested) as consulted:
        qtbot.mouseClick(dialog.ok_button, LEFT)
    assert consulted.args == ["C1", pc.AgentDestination(agent_id="1003"), True]

    srv.send(model, pc.CallHeld(call_id="C1", agent_id=AGENT))
    srv.send(
        model,
        pc.CallOriginated(
            call_id="C2",
            agent_id=AGENT,
            destination=pc.AgentDestination(agent_id="1003"),
            consult_of="C1",
        ),
    )
    assert bar.current_call_id == "C2"  # the consultation, not the held caller
    assert bar.selector.isVisibleTo(bar)
    assert {"complete_transfer", "conference", "reconnect", "release"} <= enabled(bar)
    for button, signal in (
        (bar.complete_button, bar.complete_transfer_requested),
        (bar.conference_button, bar.conference_requested),
        (bar.reconnect_button, bar.reconnect_requested),
    ):
        with qtbot.waitSignal(signal) as pair:
            qtbot.mouseClick(button, LEFT)
        assert pair.args == ["C1", "C2"]
    # The agent switches to the held caller: retrieve is offered for it.
    bar.selector.activated.emit(bar.selector.findData("C1"))
    assert bar.current_call_id == "C1"
    assert bar.hold_button.text() == "Retrieve"
    srv.send(model, pc.CallFailed(call_id="C2", agent_id=AGENT))
    assert not bar.complete_button.isEnabled()
    assert not bar.selector.isVisibleTo(bar)


def test_offline_mode_answers_and_releases_the_softphone_call_only(qtbot) -> None:
    model, srv, clock, bar = make_bar(qtbot)
    srv.send(model, delivered())
    srv.send(model, pc.CallEstablished(call_id="C1", agent_id=AGENT))
    bar.set_offline(True)
    assert enabled(bar) == set()  # the CTI call is not controllable without the link
    bar.set_local_call("sip-7", "ringing", remote="13900139000")
    assert enabled(bar) == {"answer", "release"}
    with qtbot.waitSignal(bar.answer_requested) as answered:
        qtbot.mouseClick(bar.answer_button, LEFT)
    assert answered.args == ["sip-7"]
    bar.set_local_call("sip-7", "confirmed")
    assert enabled(bar) == {"release", "mute", "keypad_toggle"}
    clock.t += 42
    bar.tick()
    assert bar.timer_label.text() == "0:42"
    qtbot.mouseClick(bar.keypad_button, LEFT)
    with qtbot.waitSignal(bar.dtmf_requested) as dtmf:
        qtbot.mouseClick(bar.keypad.buttons["9"], LEFT)
    assert dtmf.args == ["sip-7", "9"]
    with qtbot.waitSignal(bar.release_requested) as released:
        qtbot.mouseClick(bar.release_button, LEFT)
    assert released.args == ["sip-7"]
    bar.set_local_call("sip-7", "disconnected")
    assert enabled(bar) == set()
    bar.set_offline(False)
    assert "hold" in enabled(bar)  # back online: the model's call again


def test_after_call_notes_in_wrap_up(qtbot) -> None:
    model, srv = DesktopModel(AGENT), Server()
    notes = WrapUpWidget(model, [("billing", "账单问题"), ("complaint", "Complaint")])
    qtbot.addWidget(notes)
    srv.send(model, pa.AgentLoggedOn(agent_id=AGENT))
    srv.send(model, delivered())
    srv.send(model, pc.CallEstablished(call_id="C1", agent_id=AGENT))
    notes.show()
    qtbot.waitExposed(notes)
    srv.send(model, pc.CallConnectionCleared(call_id="C1", agent_id=AGENT))
    assert notes.isHidden()  # not in wrap-up yet
    srv.send(model, pa.AgentWorkNotReady(agent_id=AGENT, call_id="C1", deadline=srv.t + 30))
    assert notes.isVisible()
    assert notes.call_id == "C1"
    assert not notes.save_button.isEnabled()  # nothing to save yet
    notes.notes.insertPlainText("客户询问账单")  # what an input method commits
    qtbot.keyClicks(notes.notes, " refund")
    notes.category.setCurrentIndex(notes.category.findData("billing"))
    with qtbot.waitSignal(notes.wrap_up_requested) as saved:
        qtbot.mouseClick(notes.save_button, LEFT)
    assert saved.args == ["C1", "客户询问账单 refund", "billing"]
    notes.show_result(False, "timeout")
    assert "timeout" in notes.status.text()
    assert notes.save_button.isEnabled()  # can try again
    notes.show_result(True)
    assert notes.status.text() == "Saved."
    notes.notes.setPlainText("x" * (MAX_WRAP_UP_NOTES + 1))
    assert not notes.save_button.isEnabled()
    assert "too long" in notes.status.text()
    # Leaving ACW with unsaved notes keeps the form; saved or empty, it goes away.
    srv.send(model, pa.AgentReady(agent_id=AGENT))
    assert notes.isVisible()
    notes.discard()
    assert not notes.isVisible()


def test_a_gap_in_the_events_disables_call_control_until_the_snapshot(qtbot) -> None:
    model, srv, _clock, bar = make_bar(qtbot)
    srv.send(model, delivered())
    srv.send(model, pc.CallEstablished(call_id="C1", agent_id=AGENT))
    assert "release" in enabled(bar)
    srv.seq.stamp(pc.CallHeld(call_id="C1", agent_id=AGENT), srv.t)  # lost on the way
    srv.send(model, pc.CallRetrieved(call_id="C1", agent_id=AGENT))
    assert model.needs_snapshot
    assert enabled(bar) - {"mute"} == set()  # only the local mute stays usable


def test_a_new_login_follows_the_new_model_only(qtbot) -> None:
    old, srv, _clock, bar = make_bar(qtbot)
    new = DesktopModel(AGENT)
    bar.set_model(new)
    srv.send(old, delivered())
    assert enabled(bar) == set()
    new_srv = Server()
    new_srv.send(new, delivered("C9"))
    assert enabled(bar) == {"answer", "release"}
    assert bar.current_call_id == "C9"
