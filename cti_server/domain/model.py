"""The server's view of agents and calls (plain data, no I/O)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cti_server.routing import AgentState as EngineState
from cti_server.ws import Session
from shared.protocol.agent import AgentState, LogoffReason, SkillLevel
from shared.protocol.call import CallState, Destination, TrajectoryKind, TrajectoryStep

from .config import ACW_REASON, CONSULT_OFFERED_REASON, DIRECT_CALL_REASON

MAX_TRAJECTORY = 256


def wire_state(engine_state: str, reason: str | None) -> AgentState:
    """The protocol's agent state for the engine's state and reason."""
    match engine_state:
        case EngineState.LOGGED_OUT:
            return AgentState.LOGGED_OFF
        case EngineState.NOT_READY:
            # calls the engine does not route (consultations, transferred-in calls) keep the
            # agent not ready in the engine; on the wire the agent is reserved / busy
            if reason == CONSULT_OFFERED_REASON:
                return AgentState.RESERVED
            if reason == DIRECT_CALL_REASON:
                return AgentState.BUSY
            return AgentState.WORK_NOT_READY if reason == ACW_REASON else AgentState.NOT_READY
        case EngineState.READY:
            return AgentState.READY
        case EngineState.RESERVED:
            return AgentState.RESERVED
        case EngineState.BUSY:
            return AgentState.BUSY
        case _:
            return AgentState.WORK_NOT_READY


@dataclass(slots=True)
class AgentRecord:
    """One configured agent: identity, the desktop session and the state last published."""

    agent_id: str
    name: str
    role: str
    skills: dict[str, int]
    queues: tuple[str, ...]
    state: AgentState = AgentState.LOGGED_OFF
    since: float = 0.0
    reason: str | None = None
    extension: str | None = None
    call_id: str | None = None
    acw_deadline: float | None = None
    acw_call: str | None = None
    """The call whose after-call work is running (its ``acw_ended`` is recorded at the end)."""
    session: Session | None = None
    """The desktop session the agent logged on from (events go there)."""
    disconnected: bool = False
    """The desktop's connection dropped and has not been resumed yet."""
    logoff_pending: LogoffReason | None = None
    """Log the agent off as soon as the current call (and its ACW) is over."""
    logoff_forced_by: str | None = None
    direct_pending: str | None = None
    """Not-ready reason asked for during a direct call (applied when it ends)."""
    on_state: Callable[[AgentRecord, AgentState, AgentState], None] | None = None
    """Told of every ``state`` change (the supervisor counts by state)."""

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "state":
            old = getattr(self, "state", None)
            object.__setattr__(self, name, value)
            hook = getattr(self, "on_state", None)
            if hook is not None and old is not None and old is not value:
                hook(self, old, value)
            return
        object.__setattr__(self, name, value)

    @property
    def skill_levels(self) -> tuple[SkillLevel, ...]:
        return tuple(SkillLevel(skill=s, level=lvl) for s, lvl in sorted(self.skills.items()))


_WATCHED = frozenset({"queued", "state", "queue_id", "tier", "closed"})


@dataclass(slots=True)
class CallRecord:
    """A call the server knows about; it belongs to the switch that reported it."""

    call_id: str
    switch_id: str
    arrived_at: float
    caller: str | None = None
    called: str | None = None
    customer_id: str | None = None
    customer_name: str | None = None
    tier: str | None = None
    blacklisted: bool = False
    flow_id: str | None = None
    queue_id: str | None = None
    skill: str | None = None
    business_selection: str | None = None
    priority: int = 0
    agent_id: str | None = None
    state: CallState | None = None
    """The agent-side state (offered, established, held); ``None`` while in IVR/queue."""
    state_since: float = 0.0
    queued: bool = False
    answered: bool = False
    trajectory: list[TrajectoryStep] = field(default_factory=list)
    route_waiting: bool = False
    """An ``agent_needed`` request is being answered: an Offer goes into its response."""
    route_offer: tuple[str, str] | None = None
    """``(agent_id, sip_contact)`` chosen while answering the route request."""
    explanation: str | None = None
    transfer_to: object | None = None
    """The destination of a transfer requested by the desktop (for ``call.transferred``)."""
    closed: bool = False
    """Released and forgotten (no longer counted anywhere)."""
    direct: bool = False
    """The agent on this call is not the engine's (consultation target, transferred-in call):
    the engine keeps that agent not ready (``direct_call``) and the domain ends the call."""
    consult_id: str | None = None
    """The consultation started from this call (at most one at a time)."""
    consult_of: str | None = None
    """On a consultation: the call it was started from."""
    from_agent: str | None = None
    """On a consultation: the consulting agent; on a transferred call: who transferred it."""
    destination: Destination | None = None
    """On a consultation: where it goes."""
    transfer_applied: bool = False
    """The server applied a transfer on its command's acknowledgement: the switch's own
    ``transferred`` report of it is acknowledged without a change."""
    conferenced_with: str | None = None
    """The consulted agent while this call is a three-way conference."""
    on_change: Callable[[CallRecord], None] | None = None
    """Told when ``queued``, ``state``, ``queue_id``, ``tier`` or ``closed`` change (the
    supervisor's per-queue / per-tier waiting index)."""

    def __setattr__(self, name: str, value: Any) -> None:
        object.__setattr__(self, name, value)
        if name in _WATCHED:
            hook = getattr(self, "on_change", None)
            if hook is not None:
                hook(self)

    @property
    def waiting(self) -> bool:
        """In a queue, not ringing anywhere (what the supervisor counts as waiting)."""
        return self.queued and self.state is None and not self.closed

    def step(
        self, at: float, kind: TrajectoryKind, node: str | None = None, detail: str | None = None
    ) -> None:
        """Append a trajectory step (呼叫轨迹), keeping at most 256."""
        if len(self.trajectory) < MAX_TRAJECTORY:
            self.trajectory.append(
                TrajectoryStep(at=at, kind=kind, node=node, detail=detail[:256] if detail else None)
            )

    def merge_trajectory(self, steps: tuple[TrajectoryStep, ...]) -> None:
        """Add the switch's IVR steps we do not have yet, in time order."""
        seen = {(s.at, s.kind, s.node) for s in self.trajectory}
        new = [s for s in steps if (s.at, s.kind, s.node) not in seen]
        if new:
            merged = sorted([*self.trajectory, *new], key=lambda s: s.at)
            self.trajectory = merged[:MAX_TRAJECTORY]
