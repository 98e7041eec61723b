"""Calls: CSTA-style call events and the desktop's call control requests (R-IN-5, R-IN-8).

Events are reported per agent device: ``agent_id`` is the agent whose view of the
call changed. ``call.delivered`` carries everything the desktop needs to pop the
customer: caller, tier, skill/queue, IVR business selection and the trajectory
(IVR path, queues, transfers) the call took so far (R-IVR-2).
"""

from __future__ import annotations

import enum
from typing import Annotated, ClassVar

import msgspec

from shared.protocol.base import (
    VERSION_1_3,
    AgentId,
    CallId,
    DtmfDigits,
    Event,
    FlowId,
    Label,
    Name,
    PhoneNumber,
    ProtocolVersion,
    QueueId,
    Request,
    ResultBody,
    Seconds,
    SkillId,
    Text,
    TierId,
    Timestamp,
)

# --- shared pieces --------------------------------------------------------------


class TrajectoryKind(enum.StrEnum):
    IVR_NODE = "ivr_node"
    MENU_CHOICE = "menu_choice"
    QUEUE_ENTER = "queue_enter"
    OVERFLOW = "overflow"
    OFFER = "offer"
    ANSWER = "answer"
    HOLD = "hold"
    RETRIEVE = "retrieve"
    TRANSFER = "transfer"
    CONFERENCE = "conference"
    RELEASE = "release"


class TrajectoryStep(msgspec.Struct, frozen=True, kw_only=True):
    """One step of a call's trajectory (呼叫轨迹)."""

    at: Timestamp
    kind: TrajectoryKind
    node: Name | None = None
    """IVR node id, queue id or agent id, depending on ``kind``."""
    detail: Annotated[str, msgspec.Meta(max_length=256)] | None = None


Trajectory = Annotated[tuple[TrajectoryStep, ...], msgspec.Meta(max_length=256)]


class AgentDestination(msgspec.Struct, frozen=True, kw_only=True, tag_field="kind", tag="agent"):
    agent_id: AgentId


class QueueDestination(msgspec.Struct, frozen=True, kw_only=True, tag_field="kind", tag="queue"):
    """A skill group's queue (the call keeps its tier and business selection)."""

    queue_id: QueueId


class IvrDestination(msgspec.Struct, frozen=True, kw_only=True, tag_field="kind", tag="ivr"):
    flow_id: FlowId
    node: Name | None = None
    """Start node; ``None`` = the flow's entry node."""


class NumberDestination(msgspec.Struct, frozen=True, kw_only=True, tag_field="kind", tag="number"):
    number: PhoneNumber


Destination = AgentDestination | QueueDestination | IvrDestination | NumberDestination
"""Where a transfer or consultation goes (tagged by ``kind``)."""


class ClearCause(enum.StrEnum):
    NORMAL = "normal"
    CALLER_ABANDONED = "caller_abandoned"
    NO_ANSWER = "no_answer"
    BUSY = "busy"
    FAILED = "failed"
    TRANSFERRED = "transferred"


class PartyRole(enum.StrEnum):
    CALLER = "caller"
    AGENT = "agent"
    CONSULT = "consult"
    SUPERVISOR = "supervisor"
    EXTERNAL = "external"
    SYSTEM = "system"


class Party(msgspec.Struct, frozen=True, kw_only=True):
    role: PartyRole
    agent_id: AgentId | None = None
    number: PhoneNumber | None = None


class DivertReason(enum.StrEnum):
    NO_ANSWER = "no_answer"
    """Ring-no-answer: the call goes back to its queue."""
    REJECTED = "rejected"
    """The softphone declined the call."""
    REROUTED = "rerouted"
    """The router or a supervisor moved the offer elsewhere."""
    CALLER_ABANDONED = "caller_abandoned"


class CallState(enum.StrEnum):
    OFFERED = "offered"
    ESTABLISHED = "established"
    HELD = "held"
    CONSULTING = "consulting"
    CONFERENCED = "conferenced"


# --- requests (desktop → server) ------------------------------------------------


class CallAnswer(Request, frozen=True, kw_only=True, tag="call.answer"):
    call_id: CallId


class CallRelease(Request, frozen=True, kw_only=True, tag="call.release"):
    call_id: CallId


class CallHold(Request, frozen=True, kw_only=True, tag="call.hold"):
    call_id: CallId


class CallRetrieve(Request, frozen=True, kw_only=True, tag="call.retrieve"):
    call_id: CallId


class CallSingleStepTransfer(Request, frozen=True, kw_only=True, tag="call.single_step_transfer"):
    """Blind transfer: the call leaves this agent at once."""

    call_id: CallId
    destination: Destination


class ConsultResult(ResultBody, frozen=True, kw_only=True, tag="call.consult"):
    """Result of ``call.consult``: the new consultation call (the original is held)."""

    consult_call_id: CallId


class CallConsult(Request, frozen=True, kw_only=True, tag="call.consult"):
    """Hold ``call_id`` and start a consultation call to ``destination``."""

    result_type = ConsultResult

    call_id: CallId
    destination: Destination


class CallTransfer(Request, frozen=True, kw_only=True, tag="call.transfer"):
    """Complete a consultative transfer: connect the held call to the consulted party."""

    call_id: CallId
    consult_call_id: CallId


class CallConference(Request, frozen=True, kw_only=True, tag="call.conference"):
    """Join the held call and the consultation into a three-way conference."""

    call_id: CallId
    consult_call_id: CallId


class CallReconnect(Request, frozen=True, kw_only=True, tag="call.reconnect"):
    """Drop the consultation and go back to the original (held) call."""

    call_id: CallId
    consult_call_id: CallId


class CallSendDtmf(Request, frozen=True, kw_only=True, tag="call.send_dtmf"):
    call_id: CallId
    digits: DtmfDigits


MAX_WRAP_UP_NOTES = 4000
"""Most characters of ``call.wrap_up`` notes."""

WrapUpNotes = Annotated[str, msgspec.Meta(max_length=MAX_WRAP_UP_NOTES)]
"""After-call notes: free text, at most 4000 characters (may be empty)."""
WrapUpCategory = Annotated[
    str, msgspec.Meta(min_length=1, max_length=64, pattern=r"^[^\x00-\x1f\x7f]+\Z")
]
"""A business category code or label: 1-64 characters, no control characters."""


class WrapUpResult(ResultBody, frozen=True, kw_only=True, tag="call.wrap_up"):
    """Result of ``call.wrap_up`` (1.3)."""

    introduced_in: ClassVar[ProtocolVersion] = VERSION_1_3

    call_id: CallId
    contact_id: Name | None = None
    """The contact record (接触记录) that now carries the notes (each agent who handled
    the call has one: written at the release, or when a transfer ended their part);
    ``None`` when the agent has none (the notes are kept as a call event only)."""
    wrapped_up_at: Timestamp


class CallWrapUp(Request, frozen=True, kw_only=True, tag="call.wrap_up"):
    """After-call notes and category of a call the agent answered (1.3).

    Allowed once the agent's part of the call is over (released or transferred on),
    within 24 h, whether the agent is still in after-call work or ready again. A later
    wrap-up replaces the notes on the contact record (every one is kept as a call
    event)."""

    introduced_in: ClassVar[ProtocolVersion] = VERSION_1_3
    result_type = WrapUpResult

    call_id: CallId
    notes: WrapUpNotes
    category: WrapUpCategory | None = None


# --- events (server → desktop) --------------------------------------------------


class CallDelivered(Event, frozen=True, kw_only=True, tag="call.delivered"):
    """The call is offered to (ringing at) ``agent_id``: the screen-pop event."""

    call_id: CallId
    agent_id: AgentId
    caller: PhoneNumber | None = None
    called: PhoneNumber | None = None
    tier: TierId | None = None
    queue_id: QueueId | None = None
    skill: SkillId | None = None
    business_selection: Name | None = None
    customer_ref: Name | None = None
    customer_name: Label | None = None
    wait_seconds: Seconds = 0.0
    ring_timeout_seconds: Seconds | None = None
    consult_of: CallId | None = None
    """Set when this is a consultation from another agent's call."""
    from_agent: AgentId | None = None
    """The agent who transferred or consulted, if any."""
    trajectory: Trajectory = ()


class CallOriginated(Event, frozen=True, kw_only=True, tag="call.originated"):
    """``agent_id`` started a call (a consultation when ``consult_of`` is set)."""

    call_id: CallId
    agent_id: AgentId
    destination: Destination
    consult_of: CallId | None = None


class CallEstablished(Event, frozen=True, kw_only=True, tag="call.established"):
    call_id: CallId
    agent_id: AgentId


class CallHeld(Event, frozen=True, kw_only=True, tag="call.held"):
    call_id: CallId
    agent_id: AgentId


class CallRetrieved(Event, frozen=True, kw_only=True, tag="call.retrieved"):
    call_id: CallId
    agent_id: AgentId


class CallTransferred(Event, frozen=True, kw_only=True, tag="call.transferred"):
    """The call left ``from_agent`` for ``to``; ``new_call_id`` when the switch made a new one."""

    call_id: CallId
    agent_id: AgentId
    from_agent: AgentId | None = None
    to: Destination
    new_call_id: CallId | None = None


class CallConferenced(Event, frozen=True, kw_only=True, tag="call.conferenced"):
    call_id: CallId
    agent_id: AgentId
    parties: Annotated[tuple[Party, ...], msgspec.Meta(min_length=2, max_length=16)]


class CallConnectionCleared(Event, frozen=True, kw_only=True, tag="call.connection_cleared"):
    """``agent_id``'s connection to the call ended (the call may go on elsewhere)."""

    call_id: CallId
    agent_id: AgentId
    cause: ClearCause = ClearCause.NORMAL
    released_by: PartyRole | None = None


class CallDiverted(Event, frozen=True, kw_only=True, tag="call.diverted"):
    """A call offered to ``agent_id`` went away before it was answered."""

    call_id: CallId
    agent_id: AgentId
    reason: DivertReason


class CallFailed(Event, frozen=True, kw_only=True, tag="call.failed"):
    """A call or consultation could not be set up (destination busy, no answer, error)."""

    call_id: CallId
    agent_id: AgentId
    cause: ClearCause = ClearCause.FAILED
    detail: Text | None = None


class CallSnapshot(msgspec.Struct, frozen=True, kw_only=True):
    """A call in progress inside a snapshot, as seen by the session's agent."""

    call_id: CallId
    state: CallState
    since: Timestamp
    caller: PhoneNumber | None = None
    called: PhoneNumber | None = None
    tier: TierId | None = None
    queue_id: QueueId | None = None
    skill: SkillId | None = None
    business_selection: Name | None = None
    customer_ref: Name | None = None
    customer_name: Label | None = None
    consult_of: CallId | None = None
    trajectory: Trajectory = ()


CallRequest = (
    CallAnswer
    | CallRelease
    | CallHold
    | CallRetrieve
    | CallSingleStepTransfer
    | CallConsult
    | CallTransfer
    | CallConference
    | CallReconnect
    | CallSendDtmf
    | CallWrapUp
)
CallEvent = (
    CallDelivered
    | CallOriginated
    | CallEstablished
    | CallHeld
    | CallRetrieved
    | CallTransferred
    | CallConferenced
    | CallConnectionCleared
    | CallDiverted
    | CallFailed
)
