"""The desktop's Qt-free model of one agent's state and calls.

The model folds the server's events (and snapshots after a reconnect or a gap)
into plain objects; widgets observe it through listeners and never parse
protocol messages themselves. It imports no Qt, no sockets and no pjsua2 (the
import contract in ``pyproject.toml`` keeps it so), and is tested without an
event loop.

Which call-control buttons a widget enables comes from :meth:`DesktopModel.can`,
so "answer when not ringing" cannot be clicked in the first place; the server
still rejects it with ``invalid_state`` if a request races an event.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field

from shared.protocol import agent as pa
from shared.protocol import call as pc
from shared.protocol.handshake import Snapshot, Welcome
from shared.protocol.messages import CtiEvent
from shared.protocol.session import EventTracker, Track


class Action(enum.StrEnum):
    """Call-control and state actions the desktop offers (R-IN-8)."""

    ANSWER = "answer"
    RELEASE = "release"
    HOLD = "hold"
    RETRIEVE = "retrieve"
    TRANSFER = "single_step_transfer"
    CONSULT = "consult"
    COMPLETE_TRANSFER = "transfer"
    CONFERENCE = "conference"
    RECONNECT = "reconnect"
    DTMF = "send_dtmf"
    READY = "set_ready"
    NOT_READY = "set_not_ready"
    END_AFTER_CALL_WORK = "end_after_call_work"
    LOGOUT = "logout"


class CallPhase(enum.StrEnum):
    """A call as the agent sees it; ``cleared`` calls stay until dismissed."""

    OFFERED = "offered"
    ESTABLISHED = "established"
    HELD = "held"
    CONFERENCED = "conferenced"
    CLEARED = "cleared"


@dataclass
class AgentView:
    agent_id: str
    state: pa.AgentState = pa.AgentState.LOGGED_OFF
    since: float = 0.0
    reason_code: str | None = None
    reason_label: str | None = None
    forced_by: str | None = None
    call_id: str | None = None
    acw_deadline: float | None = None
    logoff_reason: pa.LogoffReason | None = None


@dataclass
class CallView:
    call_id: str
    phase: CallPhase
    since: float
    caller: str | None = None
    called: str | None = None
    tier: str | None = None
    queue_id: str | None = None
    skill: str | None = None
    business_selection: str | None = None
    customer_ref: str | None = None
    customer_name: str | None = None
    wait_seconds: float = 0.0
    consult_of: str | None = None
    trajectory: list[pc.TrajectoryStep] = field(default_factory=list)
    clear_cause: pc.ClearCause | None = None


@dataclass(frozen=True)
class Change:
    """What one applied event or snapshot changed, for listeners."""

    what: str
    """``agent``, ``call``, ``snapshot`` or ``resync`` (a snapshot is needed)."""
    call_id: str | None = None


Listener = Callable[[Change], None]

_ACTIONS_BY_PHASE: dict[CallPhase, frozenset[Action]] = {
    CallPhase.OFFERED: frozenset({Action.ANSWER, Action.RELEASE}),
    CallPhase.ESTABLISHED: frozenset(
        {Action.RELEASE, Action.HOLD, Action.TRANSFER, Action.CONSULT, Action.DTMF}
    ),
    CallPhase.HELD: frozenset({Action.RETRIEVE, Action.RELEASE, Action.TRANSFER}),
    CallPhase.CONFERENCED: frozenset({Action.RELEASE, Action.DTMF}),
    CallPhase.CLEARED: frozenset(),
}
_CONSULT_ACTIONS = frozenset({Action.COMPLETE_TRANSFER, Action.CONFERENCE, Action.RECONNECT})
_SNAPSHOT_PHASE = {
    pc.CallState.OFFERED: CallPhase.OFFERED,
    pc.CallState.ESTABLISHED: CallPhase.ESTABLISHED,
    pc.CallState.HELD: CallPhase.HELD,
    pc.CallState.CONSULTING: CallPhase.HELD,
    pc.CallState.CONFERENCED: CallPhase.CONFERENCED,
}


class DesktopModel:
    """One agent's state and calls, folded from server events."""

    def __init__(self, agent_id: str) -> None:
        self.agent = AgentView(agent_id=agent_id)
        self.calls: dict[str, CallView] = {}
        self.tracker = EventTracker()
        self._listeners: list[Listener] = []

    # --- observation -------------------------------------------------------------

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener`` after every change; returns a function that unsubscribes."""
        self._listeners.append(listener)

        def unsubscribe() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return unsubscribe

    def _emit(self, change: Change) -> None:
        for listener in list(self._listeners):
            listener(change)

    # --- sessions ----------------------------------------------------------------

    @property
    def needs_snapshot(self) -> bool:
        return self.tracker.needs_snapshot

    def on_welcome(self, welcome: Welcome) -> bool:
        """Adopt a welcome; True when the desktop must now request a snapshot."""
        needs = self.tracker.on_welcome(welcome)
        if needs:
            self._emit(Change("resync"))
        return needs

    def load_snapshot(self, snapshot: Snapshot) -> None:
        """Replace all state with the snapshot and continue after its ``last_seq``."""
        agent_id = self.agent.agent_id
        self.agent = AgentView(agent_id=agent_id)
        if snapshot.agent is not None:
            a = snapshot.agent
            self.agent = AgentView(
                agent_id=a.agent_id,
                state=a.state,
                since=a.since,
                reason_code=a.reason_code,
                call_id=a.call_id,
                acw_deadline=a.acw_deadline,
            )
        self.calls = {
            c.call_id: CallView(
                call_id=c.call_id,
                phase=_SNAPSHOT_PHASE[c.state],
                since=c.since,
                caller=c.caller,
                called=c.called,
                tier=c.tier,
                queue_id=c.queue_id,
                skill=c.skill,
                business_selection=c.business_selection,
                customer_ref=c.customer_ref,
                customer_name=c.customer_name,
                consult_of=c.consult_of,
                trajectory=list(c.trajectory),
            )
            for c in snapshot.calls
        }
        self.tracker.reset(snapshot.last_seq)
        self._emit(Change("snapshot"))

    # --- events ------------------------------------------------------------------

    def apply(self, event: CtiEvent) -> Track:
        """Fold one server event. Duplicates (after a resume) are dropped; a gap
        drops the event and asks for a snapshot (listeners get ``resync``)."""
        verdict = self.tracker.track(event)
        if verdict is Track.GAP:
            self._emit(Change("resync"))
            return verdict
        if verdict is Track.DUPLICATE:
            return verdict
        agent_id = getattr(event, "agent_id", None)
        if agent_id is not None and agent_id != self.agent.agent_id:
            return verdict  # another agent's event (supervisor feeds carry their own)
        change = self._fold(event)
        if change is not None:
            self._emit(change)
        return verdict

    def _set_agent(self, state: pa.AgentState, ts: float, **fields: object) -> Change:
        self.agent = AgentView(
            agent_id=self.agent.agent_id,
            state=state,
            since=ts,
            **fields,  # type: ignore[arg-type]
        )
        return Change("agent")

    def _fold(self, event: CtiEvent) -> Change | None:
        ts = event.ts
        match event:
            case pa.AgentLoggedOn():
                return self._set_agent(pa.AgentState.NOT_READY, ts)
            case pa.AgentReady():
                return self._set_agent(pa.AgentState.READY, ts)
            case pa.AgentNotReady():
                return self._set_agent(
                    pa.AgentState.NOT_READY,
                    ts,
                    reason_code=event.reason_code,
                    reason_label=event.reason_label,
                    forced_by=event.forced_by,
                )
            case pa.AgentWorkNotReady():
                return self._set_agent(
                    pa.AgentState.WORK_NOT_READY,
                    ts,
                    call_id=event.call_id,
                    acw_deadline=event.deadline,
                )
            case pa.AgentReserved():
                return self._set_agent(pa.AgentState.RESERVED, ts, call_id=event.call_id)
            case pa.AgentLoggedOff():
                self.calls.clear()
                return self._set_agent(
                    pa.AgentState.LOGGED_OFF,
                    ts,
                    logoff_reason=event.reason,
                    reason_code=event.reason_code,
                    forced_by=event.forced_by,
                )
            case pc.CallDelivered():
                self.calls[event.call_id] = CallView(
                    call_id=event.call_id,
                    phase=CallPhase.OFFERED,
                    since=ts,
                    caller=event.caller,
                    called=event.called,
                    tier=event.tier,
                    queue_id=event.queue_id,
                    skill=event.skill,
                    business_selection=event.business_selection,
                    customer_ref=event.customer_ref,
                    customer_name=event.customer_name,
                    wait_seconds=event.wait_seconds,
                    consult_of=event.consult_of,
                    trajectory=list(event.trajectory),
                )
                return Change("call", event.call_id)
            case pc.CallOriginated():
                self.calls[event.call_id] = CallView(
                    call_id=event.call_id,
                    phase=CallPhase.ESTABLISHED,
                    since=ts,
                    consult_of=event.consult_of,
                )
                return Change("call", event.call_id)
            case pc.CallEstablished():
                return self._phase(event.call_id, CallPhase.ESTABLISHED, ts, busy=True)
            case pc.CallHeld():
                return self._phase(event.call_id, CallPhase.HELD, ts)
            case pc.CallRetrieved():
                return self._phase(event.call_id, CallPhase.ESTABLISHED, ts)
            case pc.CallConferenced():
                return self._phase(event.call_id, CallPhase.CONFERENCED, ts)
            case pc.CallTransferred():
                return self._clear(event.call_id, ts, pc.ClearCause.TRANSFERRED)
            case pc.CallConnectionCleared():
                return self._clear(event.call_id, ts, event.cause)
            case pc.CallFailed():
                return self._clear(event.call_id, ts, event.cause)
            case pc.CallDiverted():
                # The offer went elsewhere (ring-no-answer, rejected, rerouted): gone here.
                if self.calls.pop(event.call_id, None) is None:
                    return None
                return Change("call", event.call_id)
            case _:
                return None  # supervisor events are folded by the wallboard model

    def _phase(self, call_id: str, phase: CallPhase, ts: float, busy: bool = False) -> Change:
        view = self.calls.get(call_id)
        if view is None:
            # An event for a call we have not seen: keep a minimal record rather than lose it.
            view = self.calls[call_id] = CallView(call_id=call_id, phase=phase, since=ts)
        view.phase = phase
        view.since = ts
        if busy and self.agent.state is not pa.AgentState.BUSY:
            self.agent = AgentView(
                agent_id=self.agent.agent_id, state=pa.AgentState.BUSY, since=ts, call_id=call_id
            )
        return Change("call", call_id)

    def _clear(self, call_id: str, ts: float, cause: pc.ClearCause) -> Change | None:
        view = self.calls.get(call_id)
        if view is None:
            return None
        view.phase = CallPhase.CLEARED
        view.since = ts
        view.clear_cause = cause
        return Change("call", call_id)

    def dismiss(self, call_id: str) -> None:
        """Forget a cleared call (the agent closed its panel)."""
        view = self.calls.get(call_id)
        if view is not None and view.phase is CallPhase.CLEARED:
            del self.calls[call_id]
            self._emit(Change("call", call_id))

    # --- what the UI may offer -----------------------------------------------------

    def active_calls(self) -> list[CallView]:
        return [c for c in self.calls.values() if c.phase is not CallPhase.CLEARED]

    def can(self, action: Action, call_id: str | None = None) -> bool:
        """Whether the desktop should offer ``action`` now (for ``call_id`` if given)."""
        if self.needs_snapshot:
            return False
        state = self.agent.state
        if call_id is None:
            busy = bool(self.active_calls())
            return {
                Action.READY: state in {pa.AgentState.NOT_READY, pa.AgentState.WORK_NOT_READY}
                and not busy,
                Action.NOT_READY: state
                in {pa.AgentState.READY, pa.AgentState.WORK_NOT_READY, pa.AgentState.BUSY},
                Action.END_AFTER_CALL_WORK: state is pa.AgentState.WORK_NOT_READY,
                Action.LOGOUT: state is not pa.AgentState.LOGGED_OFF and not busy,
            }.get(action, False)
        view = self.calls.get(call_id)
        if view is None:
            return False
        allowed = _ACTIONS_BY_PHASE[view.phase]
        if view.phase is CallPhase.HELD and self._consultation_of(call_id) is not None:
            allowed = allowed | _CONSULT_ACTIONS
        return action in allowed

    def _consultation_of(self, call_id: str) -> CallView | None:
        for view in self.calls.values():
            if view.consult_of == call_id and view.phase is not CallPhase.CLEARED:
                return view
        return None
