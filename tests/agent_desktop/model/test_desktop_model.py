"""The desktop's Qt-free model folds server events as an agent would see them (R-IN-8)."""

from __future__ import annotations

from agent_desktop.model import Action, CallPhase, Change, DesktopModel
from shared.protocol import agent as pa
from shared.protocol import call as pc
from shared.protocol.base import PROTOCOL_VERSION
from shared.protocol.codec import decode_server, encode
from shared.protocol.handshake import Snapshot, Welcome
from shared.protocol.session import EventSequencer, Track

AGENT = "1001"


class Server:
    """Stamps events as the server would and sends them through the real codec."""

    def __init__(self) -> None:
        self.seq = EventSequencer(capacity=100)
        self.t = 1_767_225_600.0

    def send(self, event):
        self.t += 1
        return decode_server(encode(self.seq.stamp(event, self.t)))


def _delivered(call_id: str = "C1", **kw) -> pc.CallDelivered:
    return pc.CallDelivered(
        call_id=call_id,
        agent_id=AGENT,
        caller="13800138000",
        tier="vip",
        queue_id="billing",
        business_selection="bill.query",
        customer_name="王小明",
        wait_seconds=12.5,
        trajectory=(
            pc.TrajectoryStep(at=1.0, kind=pc.TrajectoryKind.IVR_NODE, node="welcome"),
            pc.TrajectoryStep(at=2.0, kind=pc.TrajectoryKind.QUEUE_ENTER, node="billing"),
        ),
        **kw,
    )


def _model_with_changes() -> tuple[DesktopModel, list[Change]]:
    model = DesktopModel(AGENT)
    changes: list[Change] = []
    model.subscribe(changes.append)
    return model, changes


def test_a_call_from_offer_to_after_call_work() -> None:
    model, changes = _model_with_changes()
    srv = Server()
    model.apply(srv.send(pa.AgentLoggedOn(agent_id=AGENT)))
    assert model.agent.state is pa.AgentState.NOT_READY
    assert model.can(Action.READY)
    model.apply(srv.send(pa.AgentReady(agent_id=AGENT)))
    assert not model.can(Action.READY)
    model.apply(srv.send(pa.AgentReserved(agent_id=AGENT, call_id="C1")))
    model.apply(srv.send(_delivered()))
    call = model.calls["C1"]
    assert call.phase is CallPhase.OFFERED
    assert (call.caller, call.tier, call.customer_name) == ("13800138000", "vip", "王小明")
    assert [s.node for s in call.trajectory] == ["welcome", "billing"]
    assert model.can(Action.ANSWER, "C1")
    assert not model.can(Action.HOLD, "C1")  # nothing to hold while ringing

    model.apply(srv.send(pc.CallEstablished(call_id="C1", agent_id=AGENT)))
    assert model.agent.state is pa.AgentState.BUSY
    assert not model.can(Action.ANSWER, "C1")
    assert model.can(Action.HOLD, "C1")
    assert model.can(Action.DTMF, "C1")
    assert not model.can(Action.LOGOUT)  # not with a call up

    model.apply(srv.send(pc.CallHeld(call_id="C1", agent_id=AGENT)))
    assert model.can(Action.RETRIEVE, "C1")
    assert not model.can(Action.HOLD, "C1")
    model.apply(srv.send(pc.CallRetrieved(call_id="C1", agent_id=AGENT)))
    assert model.calls["C1"].phase is CallPhase.ESTABLISHED

    model.apply(
        srv.send(
            pc.CallConnectionCleared(call_id="C1", agent_id=AGENT, released_by=pc.PartyRole.CALLER)
        )
    )
    assert model.calls["C1"].phase is CallPhase.CLEARED
    assert model.calls["C1"].clear_cause is pc.ClearCause.NORMAL
    assert not model.can(Action.RELEASE, "C1")
    model.apply(srv.send(pa.AgentWorkNotReady(agent_id=AGENT, call_id="C1", deadline=srv.t + 30)))
    assert model.agent.state is pa.AgentState.WORK_NOT_READY
    assert model.can(Action.END_AFTER_CALL_WORK)
    assert model.can(Action.READY)
    model.dismiss("C1")
    assert model.calls == {}
    assert {c.what for c in changes} == {"agent", "call"}


def test_consultation_enables_transfer_conference_and_reconnect() -> None:
    model, _ = _model_with_changes()
    srv = Server()
    model.apply(srv.send(_delivered()))
    model.apply(srv.send(pc.CallEstablished(call_id="C1", agent_id=AGENT)))
    model.apply(srv.send(pc.CallHeld(call_id="C1", agent_id=AGENT)))
    assert not model.can(Action.COMPLETE_TRANSFER, "C1")
    model.apply(
        srv.send(
            pc.CallOriginated(
                call_id="C2",
                agent_id=AGENT,
                destination=pc.AgentDestination(agent_id="1002"),
                consult_of="C1",
            )
        )
    )
    for action in (Action.COMPLETE_TRANSFER, Action.CONFERENCE, Action.RECONNECT):
        assert model.can(action, "C1")
    model.apply(
        srv.send(
            pc.CallTransferred(
                call_id="C1", agent_id=AGENT, to=pc.AgentDestination(agent_id="1002")
            )
        )
    )
    assert model.calls["C1"].clear_cause is pc.ClearCause.TRANSFERRED


def test_ring_no_answer_removes_the_offer() -> None:
    model, _ = _model_with_changes()
    srv = Server()
    model.apply(srv.send(_delivered()))
    model.apply(
        srv.send(pc.CallDiverted(call_id="C1", agent_id=AGENT, reason=pc.DivertReason.NO_ANSWER))
    )
    assert "C1" not in model.calls
    model.apply(
        srv.send(pa.AgentNotReady(agent_id=AGENT, reason_code="ring-no-answer", forced_by=None))
    )
    assert model.agent.reason_code == "ring-no-answer"


def test_duplicates_after_resume_are_dropped_and_gaps_ask_for_a_snapshot() -> None:
    model, changes = _model_with_changes()
    srv = Server()
    first = srv.send(pa.AgentLoggedOn(agent_id=AGENT))
    assert model.apply(first) is Track.APPLY
    assert model.apply(first) is Track.DUPLICATE
    srv.send(pa.AgentReady(agent_id=AGENT))  # lost on the wire
    third = srv.send(_delivered())
    assert model.apply(third) is Track.GAP
    assert "C1" not in model.calls
    assert model.needs_snapshot
    assert changes[-1] == Change("resync")
    assert not model.can(Action.READY)  # nothing is offered on stale state

    snapshot = Snapshot(
        last_seq=3,
        agent=pa.AgentSnapshot(
            agent_id=AGENT, state=pa.AgentState.RESERVED, since=srv.t, call_id="C1"
        ),
        calls=(
            pc.CallSnapshot(
                call_id="C1", state=pc.CallState.OFFERED, since=srv.t, caller="13800138000"
            ),
        ),
    )
    model.load_snapshot(snapshot)
    assert not model.needs_snapshot
    assert model.agent.state is pa.AgentState.RESERVED
    assert model.can(Action.ANSWER, "C1")
    assert model.apply(srv.send(pc.CallEstablished(call_id="C1", agent_id=AGENT))) is Track.APPLY
    assert model.calls["C1"].phase is CallPhase.ESTABLISHED


def test_fresh_session_welcome_requires_a_snapshot() -> None:
    model, changes = _model_with_changes()
    welcome = Welcome(
        id=1,
        session_id="S2",
        version=PROTOCOL_VERSION,
        principal=AGENT,
        heartbeat_seconds=15,
        resumed=False,
        last_seq=7,
        server_time=1.0,
    )
    assert model.on_welcome(welcome)
    assert changes == [Change("resync")]
    assert model.needs_snapshot


def test_other_agents_events_and_unknown_calls_do_not_corrupt_state() -> None:
    model, _ = _model_with_changes()
    srv = Server()
    model.apply(srv.send(pa.AgentReady(agent_id="2002")))
    assert model.agent.state is pa.AgentState.LOGGED_OFF
    model.apply(srv.send(pc.CallConnectionCleared(call_id="nope", agent_id=AGENT)))
    assert model.calls == {}
    assert not model.can(Action.ANSWER, "nope")


def test_forced_logoff_clears_calls_and_says_why() -> None:
    model, _ = _model_with_changes()
    srv = Server()
    model.apply(srv.send(_delivered()))
    model.apply(
        srv.send(
            pa.AgentLoggedOff(agent_id=AGENT, reason=pa.LogoffReason.TAKEN_OVER, forced_by=None)
        )
    )
    assert model.agent.state is pa.AgentState.LOGGED_OFF
    assert model.agent.logoff_reason is pa.LogoffReason.TAKEN_OVER
    assert model.calls == {}


def test_unsubscribe_stops_notifications() -> None:
    model = DesktopModel(AGENT)
    seen: list[Change] = []
    stop = model.subscribe(seen.append)
    srv = Server()
    model.apply(srv.send(pa.AgentLoggedOn(agent_id=AGENT)))
    stop()
    model.apply(srv.send(pa.AgentReady(agent_id=AGENT)))
    assert len(seen) == 1
