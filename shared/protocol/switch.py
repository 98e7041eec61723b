"""The switch link: the switch (排队机) ↔ CTI server.

The switch connects like any client (``hello`` with kind ``switch`` and a token) and
then sends requests: route requests (tier look-up, flow, which agent), call events,
agent SIP registrations, command results and, after a link outage, a report of the
calls it handled on its own (R-IN-3). The server drives the switch with
``switch.command`` events; each carries a ``command_id`` the switch answers with
``switch.command_result``. Commands are sequenced events, so a command sent while the
link was briefly down is replayed on resume; the switch executes a ``command_id`` at
most once.

Version 1.1 adds IVR self-service look-ups (``switch.lookup``), the agents' states for
the switch's fallback ACD (``switch.agent_state`` events and the
``switch.agents_snapshot`` request) and consultation actions (``consult``,
``consult_drop``, ``transfer_consult``). A server sends none of them to a 1.0 switch.

Version 1.2 adds ``switch.flow_get``: the switch fetches the IVR flow version a route
response names (R-IVR-5) and caches it for when the link is down, and
``switch.prompt_index`` / ``switch.prompt_get``: the switch syncs the IVR prompts
administrators uploaded into its prompt cache.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Annotated, Any, ClassVar

import msgspec

from shared.protocol.agent import AgentState
from shared.protocol.base import (
    VERSION_1_0,
    VERSION_1_1,
    VERSION_1_2,
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
    ReasonCode,
    Request,
    ResultBody,
    Seconds,
    Seq,
    SipUri,
    SkillId,
    Text,
    TierId,
    Timestamp,
)
from shared.protocol.call import ClearCause, Destination, Trajectory
from shared.protocol.errors import ErrorCode
from shared.protocol.supervisor import MonitorMode


class RouteStage(enum.StrEnum):
    ARRIVAL = "arrival"
    """A new call arrived: who is the customer, which tier and flow."""
    AGENT_NEEDED = "agent_needed"
    """The flow hands the call to a human: which queue / agent (R-IVR-2)."""


class LegRole(enum.StrEnum):
    CALLER = "caller"
    AGENT = "agent"
    CONSULT = "consult"
    SUPERVISOR = "supervisor"
    EXTERNAL = "external"


class SwitchCallEventKind(enum.StrEnum):
    ARRIVED = "arrived"
    IVR_NODE = "ivr_node"
    DTMF = "dtmf"
    MENU_CHOICE = "menu_choice"
    QUEUE_ENTER = "queue_enter"
    QUEUE_LEAVE = "queue_leave"
    RINGING = "ringing"
    ANSWERED = "answered"
    BRIDGED = "bridged"
    HELD = "held"
    RETRIEVED = "retrieved"
    TRANSFERRED = "transferred"
    CONFERENCED = "conferenced"
    RECORDING_STARTED = "recording_started"
    RECORDING_STOPPED = "recording_stopped"
    RELEASED = "released"
    FAILED = "failed"


class FallbackOutcome(enum.StrEnum):
    ANSWERED = "answered"
    ABANDONED = "abandoned"
    FAILED = "failed"
    IN_PROGRESS = "in_progress"


# --- route request / response ---------------------------------------------------


class RoutedAgent(msgspec.Struct, frozen=True, kw_only=True):
    agent_id: AgentId
    sip_contact: SipUri


class RouteResponse(ResultBody, frozen=True, kw_only=True, tag="switch.route_response"):
    """The server's routing answer (body of the ``result`` of ``switch.route_request``).

    At ``arrival``: customer, tier, blacklist and the flow to run. At ``agent_needed``:
    the queue, and the agent when one is free now (otherwise the switch queues the
    call and a later ``switch.command`` offers it).

    ``record`` (1.3, absent for older switches): ``false`` when the queue's calls are
    not recorded (an administrator turned recording off for it, R-SUP-3): the switch
    records nothing of this call; absent: the switch's default (record).
    """

    fields_introduced_in: ClassVar[Mapping[str, ProtocolVersion]] = {"record": VERSION_1_3}

    customer_id: Name | None = None
    tier: TierId | None = None
    blacklisted: bool = False
    flow_id: FlowId | None = None
    flow_version: Annotated[int, msgspec.Meta(ge=1, le=1_000_000)] | None = None
    skip_ivr: bool = False
    queue_id: QueueId | None = None
    skill: SkillId | None = None
    priority: Annotated[int, msgspec.Meta(ge=0, le=1000)] = 0
    agent: RoutedAgent | None = None
    explanation: Text | None = None
    record: bool | msgspec.UnsetType = msgspec.UNSET


class SwitchRouteRequest(Request, frozen=True, kw_only=True, tag="switch.route_request"):
    result_type = RouteResponse

    call_id: CallId
    stage: RouteStage
    caller: PhoneNumber | None = None
    called: PhoneNumber | None = None
    trunk: Name | None = None
    business_selection: Name | None = None
    tier: TierId | None = None
    queue_id: QueueId | None = None
    trajectory: Trajectory = ()


# --- self-service look-ups (1.1) -----------------------------------------------

LookupValue = Annotated[str, msgspec.Meta(max_length=256)]
LookupMap = Annotated[dict[Name, LookupValue], msgspec.Meta(max_length=32)]
"""Look-up arguments or values: at most 32 entries, Name keys, values of ≤ 256 characters."""

SENSITIVE_KEY_PARTS: tuple[str, ...] = ("pin", "password", "secret")
"""A look-up key containing one of these (any case) has its value masked in ``repr``."""

_MASK = "***"


def masked(values: Mapping[str, str]) -> dict[str, str]:
    """``values`` with every sensitive entry (see :data:`SENSITIVE_KEY_PARTS`) masked."""
    return {
        key: _MASK if any(part in key.lower() for part in SENSITIVE_KEY_PARTS) else value
        for key, value in values.items()
    }


class LookupResult(ResultBody, frozen=True, kw_only=True, tag="switch.lookup"):
    """The answer to ``switch.lookup``: values for the flow, or why there are none.

    ``error`` set means the service ran and failed in a way the caller should hear
    ("account not found"); the flow decides what to play. Sensitive values are masked
    in ``repr``.
    """

    introduced_in: ClassVar[ProtocolVersion] = VERSION_1_1

    values: LookupMap = msgspec.field(default_factory=dict)
    error: Text | None = None

    def __repr__(self) -> str:
        return f"LookupResult(values={masked(self.values)!r}, error={self.error!r})"

    def __rich_repr__(self) -> list[tuple[str, Any]]:
        return [("values", masked(self.values)), ("error", self.error)]


class SwitchLookup(Request, frozen=True, kw_only=True, tag="switch.lookup"):
    """An IVR self-service look-up (balance, order status …) for ``call_id``.

    ``service`` names a look-up the server knows; ``args`` are what the caller keyed in
    (account number, PIN …). Values of keys containing pin/password/secret are masked
    in ``repr`` but go on the wire unchanged. An unknown service or a bad argument is
    answered with a ``LookupResult`` carrying ``error`` (the flow takes its error
    branch), not with a protocol error.
    """

    introduced_in: ClassVar[ProtocolVersion] = VERSION_1_1
    result_type = LookupResult

    call_id: CallId
    service: Name
    args: LookupMap = msgspec.field(default_factory=dict)

    def __repr__(self) -> str:
        return (
            f"SwitchLookup(id={self.id!r}, call_id={self.call_id!r}, "
            f"service={self.service!r}, args={masked(self.args)!r})"
        )

    def __rich_repr__(self) -> list[tuple[str, Any]]:
        return [
            ("id", self.id),
            ("call_id", self.call_id),
            ("service", self.service),
            ("args", masked(self.args)),
        ]


# --- IVR flows for the switch (1.2) ---------------------------------------------

FlowVersion = Annotated[int, msgspec.Meta(ge=1, le=1_000_000)]

MAX_FLOW_NODES = 2_000
"""Most top-level entries a fetched flow document may carry (a generous bound)."""


class FlowDocument(ResultBody, frozen=True, kw_only=True, tag="switch.flow_get"):
    """One stored version of an IVR flow: its JSON document (``shared.ivr`` format).

    The server only hands out documents that pass ``shared.ivr``'s validation;
    ``published`` says whether this is the version route responses name now.
    """

    introduced_in: ClassVar[ProtocolVersion] = VERSION_1_2

    flow_id: FlowId
    version: FlowVersion
    published: bool = False
    document: Annotated[dict[str, Any], msgspec.Meta(max_length=MAX_FLOW_NODES)]


class SwitchFlowGet(Request, frozen=True, kw_only=True, tag="switch.flow_get"):
    """Fetch version ``version`` of flow ``flow_id`` (``None``: the published one).

    An unknown flow or version is ``invalid_field`` (``detail.field`` = ``flow_id`` or
    ``version``); the switch then keeps running what it has (its cache, else the
    shipped flow).
    """

    introduced_in: ClassVar[ProtocolVersion] = VERSION_1_2
    result_type = FlowDocument

    flow_id: FlowId
    version: FlowVersion | None = None


# --- uploaded IVR prompts for the switch (1.2) ------------------------------------

PromptId = Annotated[str, msgspec.Meta(pattern=r"^[a-z0-9_]{1,64}\Z")]
"""An IVR prompt's id: lower-case letters, digits and ``_`` (1-64)."""
PromptLanguage = Annotated[str, msgspec.Meta(pattern=r"^[a-z]{2,8}\Z")]
"""A prompt's language (``en``, ``zh``; ``shared.ivr.LANGUAGES``)."""
Sha256Hex = Annotated[str, msgspec.Meta(pattern=r"^[0-9a-f]{64}\Z")]
PromptSize = Annotated[int, msgspec.Meta(ge=0, le=5 * 1024 * 1024)]

MAX_PROMPT_INDEX = 5_000
"""Most entries in one ``switch.prompt_index`` result."""
PROMPT_CHUNK_BYTES = 32 * 1024
"""Largest chunk of a prompt file one ``switch.prompt_get`` result carries (raw bytes)."""
_PROMPT_CHUNK_B64 = 4 * ((PROMPT_CHUNK_BYTES + 2) // 3)


class PromptIndexEntry(msgspec.Struct, frozen=True, kw_only=True):
    """One uploaded prompt in ``switch.prompt_index``."""

    language: PromptLanguage
    prompt_id: PromptId
    sha256: Sha256Hex
    size: PromptSize


class PromptIndex(ResultBody, frozen=True, kw_only=True, tag="switch.prompt_index"):
    """Every prompt administrators uploaded (shipped prompts are not listed)."""

    introduced_in: ClassVar[ProtocolVersion] = VERSION_1_2

    prompts: Annotated[tuple[PromptIndexEntry, ...], msgspec.Meta(max_length=MAX_PROMPT_INDEX)] = ()


class SwitchPromptIndex(Request, frozen=True, kw_only=True, tag="switch.prompt_index"):
    """List the uploaded IVR prompts (R-IVR-5): the switch syncs its prompt cache to it."""

    introduced_in: ClassVar[ProtocolVersion] = VERSION_1_2
    result_type = PromptIndex


class PromptChunk(ResultBody, frozen=True, kw_only=True, tag="switch.prompt_get"):
    """Bytes ``offset`` … ``offset + len(data)`` of an uploaded prompt's WAV file.

    ``data`` is base64 (at most :data:`PROMPT_CHUNK_BYTES` raw bytes); ``sha256`` and
    ``size`` are the whole file's, so the switch can tell when it changed mid-download.
    """

    introduced_in: ClassVar[ProtocolVersion] = VERSION_1_2

    sha256: Sha256Hex
    size: PromptSize
    offset: PromptSize
    data: Annotated[str, msgspec.Meta(max_length=_PROMPT_CHUNK_B64)]


class SwitchPromptGet(Request, frozen=True, kw_only=True, tag="switch.prompt_get"):
    """Fetch a chunk of uploaded prompt ``prompt_id`` in ``language`` from ``offset``.

    An unknown prompt is ``invalid_field`` (``detail.field`` = ``prompt_id``), an offset
    past the end ``invalid_field`` (``offset``).
    """

    introduced_in: ClassVar[ProtocolVersion] = VERSION_1_2
    result_type = PromptChunk

    language: PromptLanguage
    prompt_id: PromptId
    offset: PromptSize = 0


# --- agent states for the switch (1.1) ------------------------------------------


MAX_SNAPSHOT_AGENTS = 10_000
"""Most agents in one ``switch.agents_snapshot`` result."""


class SwitchAgentEntry(msgspec.Struct, frozen=True, kw_only=True):
    """One agent's state in ``switch.agents_snapshot``."""

    agent_id: AgentId
    state: AgentState
    since: Timestamp
    reason_code: ReasonCode | None = None
    sip_user: Name | None = None
    """The SIP user of the agent's softphone (its login extension), when logged on."""


class AgentsSnapshot(ResultBody, frozen=True, kw_only=True, tag="switch.agents_snapshot"):
    """Every known agent's state as of the switch session's event ``last_seq``.

    ``switch.agent_state`` events with ``seq`` ≤ ``last_seq`` are already in it; the
    later ones follow the result.
    """

    introduced_in: ClassVar[ProtocolVersion] = VERSION_1_1

    last_seq: Seq
    agents: Annotated[
        tuple[SwitchAgentEntry, ...], msgspec.Meta(max_length=MAX_SNAPSHOT_AGENTS)
    ] = ()


class SwitchAgentsSnapshot(Request, frozen=True, kw_only=True, tag="switch.agents_snapshot"):
    """Ask for every agent's state (after a fresh ``welcome``, i.e. not resumed)."""

    introduced_in: ClassVar[ProtocolVersion] = VERSION_1_1
    result_type = AgentsSnapshot


class SwitchAgentState(Event, frozen=True, kw_only=True, tag="switch.agent_state"):
    """An agent's state changed (server → switch): what the fallback ACD starts from.

    Sent for every state change of an agent, so the switch knows exactly who was
    ready when the link dropped. ``sip_user`` is the agent's softphone while logged
    on.
    """

    introduced_in: ClassVar[ProtocolVersion] = VERSION_1_1

    agent_id: AgentId
    state: AgentState
    reason_code: ReasonCode | None = None
    sip_user: Name | None = None


# --- reports from the switch ----------------------------------------------------


class SwitchCallEvent(Request, frozen=True, kw_only=True, tag="switch.call_event"):
    """Something happened to one leg of a call; ``at`` is the switch's clock."""

    call_id: CallId
    kind: SwitchCallEventKind
    leg: LegRole = LegRole.CALLER
    at: Timestamp
    agent_id: AgentId | None = None
    node: Name | None = None
    queue_id: QueueId | None = None
    dtmf: DtmfDigits | None = None
    cause: ClearCause | None = None
    detail: Text | None = None


class SwitchRegistration(Request, frozen=True, kw_only=True, tag="switch.registration"):
    """An agent softphone registered (``registered``) or its registration ended."""

    sip_user: Name
    registered: bool
    contact: SipUri | None = None
    expires_seconds: Annotated[int, msgspec.Meta(ge=0, le=86_400 * 7)] = 0
    user_agent: Label | None = None


class SwitchCommandResult(Request, frozen=True, kw_only=True, tag="switch.command_result"):
    """The switch's answer to one ``switch.command``."""

    command_id: Name
    ok: bool
    code: ErrorCode | None = None
    message: Text | None = None


class FallbackCall(msgspec.Struct, frozen=True, kw_only=True):
    """One call the switch distributed by itself while the CTI link was down."""

    call_id: CallId
    outcome: FallbackOutcome
    arrived_at: Timestamp
    caller: PhoneNumber | None = None
    called: PhoneNumber | None = None
    queue_id: QueueId | None = None
    agent_id: AgentId | None = None
    offered_at: Timestamp | None = None
    answered_at: Timestamp | None = None
    released_at: Timestamp | None = None
    trajectory: Trajectory = ()


class SwitchFallbackReport(Request, frozen=True, kw_only=True, tag="switch.fallback_report"):
    """Calls handled during a link outage; long outages are split into several parts."""

    link_down_at: Timestamp
    link_up_at: Timestamp
    part: Annotated[int, msgspec.Meta(ge=1, le=100_000)] = 1
    last_part: bool = True
    calls: Annotated[tuple[FallbackCall, ...], msgspec.Meta(max_length=500)] = ()


# --- commands (server → switch) -------------------------------------------------


class _Action(msgspec.Struct, frozen=True, kw_only=True, tag_field="kind"):
    introduced_in: ClassVar[ProtocolVersion] = VERSION_1_0
    """The protocol version that introduced this action kind."""


class OfferToAgent(_Action, frozen=True, kw_only=True, tag="offer_to_agent"):
    """Ring the agent's softphone for this call."""

    agent_id: AgentId
    sip_contact: SipUri
    ring_timeout_seconds: Seconds = 20.0
    caller_display: Label | None = None


class Bridge(_Action, frozen=True, kw_only=True, tag="bridge"):
    """Connect the caller leg with the agent leg that answered."""

    agent_id: AgentId


class Play(_Action, frozen=True, kw_only=True, tag="play"):
    prompt: Name
    loop: bool = False
    interruptible: bool = True


class TransferCall(_Action, frozen=True, kw_only=True, tag="transfer"):
    destination: Destination
    agent_sip_contact: SipUri | None = None
    """Resolved contact when ``destination`` is an agent."""


class Hangup(_Action, frozen=True, kw_only=True, tag="hangup"):
    leg: LegRole = LegRole.CALLER
    cause: ClearCause = ClearCause.NORMAL


class Hold(_Action, frozen=True, kw_only=True, tag="hold"):
    agent_id: AgentId


class Unhold(_Action, frozen=True, kw_only=True, tag="unhold"):
    agent_id: AgentId


class RecordStart(_Action, frozen=True, kw_only=True, tag="record_start"):
    recording_id: Name


class RecordStop(_Action, frozen=True, kw_only=True, tag="record_stop"):
    recording_id: Name


class Monitor(_Action, frozen=True, kw_only=True, tag="monitor"):
    """Connect a supervisor to ``agent_id``'s call (or change the mode of a running monitor)."""

    monitor_id: Name
    agent_id: AgentId
    supervisor_id: AgentId
    supervisor_contact: SipUri
    mode: MonitorMode


class MonitorStop(_Action, frozen=True, kw_only=True, tag="monitor_stop"):
    monitor_id: Name


class Conference(_Action, frozen=True, kw_only=True, tag="conference"):
    """Join ``call_id`` and ``consult_call_id`` into one conference."""

    consult_call_id: CallId


class SendDtmf(_Action, frozen=True, kw_only=True, tag="send_dtmf"):
    digits: DtmfDigits
    leg: LegRole = LegRole.CALLER


class Consult(_Action, frozen=True, kw_only=True, tag="consult"):
    """Start a consultation from the command's call (1.1).

    The switch holds the caller (reporting ``held`` unless it already was held) and
    calls ``destination`` on a new leg reported under ``consult_call_id`` (leg
    ``consult``): ``ringing``, ``answered``, ``failed`` / ``released``. An ``agent``
    destination needs ``agent_sip_contact``; a ``number`` goes out through a trunk;
    ``queue`` and ``ivr`` destinations are refused (``destination_unavailable``): the
    server picks the agent. The command is acknowledged once the leg is dialling.
    """

    introduced_in: ClassVar[ProtocolVersion] = VERSION_1_1

    consult_call_id: CallId
    destination: Destination
    agent_sip_contact: SipUri | None = None
    """Resolved contact when ``destination`` is an agent."""
    ring_timeout_seconds: Seconds = 20.0


class ConsultDrop(_Action, frozen=True, kw_only=True, tag="consult_drop"):
    """End the consultation ``consult_call_id``; the original call stays held (1.1).

    The switch reports ``released`` on ``consult_call_id``. To go back to the caller
    (CSTA reconnect) send ``unhold`` after it.
    """

    introduced_in: ClassVar[ProtocolVersion] = VERSION_1_1

    consult_call_id: CallId


class TransferConsult(_Action, frozen=True, kw_only=True, tag="transfer_consult"):
    """Complete a consultative transfer (1.1).

    The caller of the command's call is connected to the consulted party of
    ``consult_call_id`` and the consulting agent's leg is released. The switch reports
    ``transferred`` on the command's call (``agent_id`` = the consulted agent, if any)
    and ``released`` with cause ``transferred`` on ``consult_call_id``; the call goes
    on under the original call id.
    """

    introduced_in: ClassVar[ProtocolVersion] = VERSION_1_1

    consult_call_id: CallId


# --- call recordings to the server (1.3, R-SUP-3) -------------------------------------

RECORDING_CHUNK_BYTES = 32 * 1024
"""Largest chunk of a recording one ``switch.recording_put`` carries (raw bytes)."""
_RECORDING_CHUNK_B64 = 4 * ((RECORDING_CHUNK_BYTES + 2) // 3)
RecordingSize = Annotated[int, msgspec.Meta(ge=0, le=200 * 1024 * 1024)]


class RecordingReceipt(ResultBody, frozen=True, kw_only=True, tag="switch.recording_put"):
    """What the server holds of the recording after a ``switch.recording_put``:
    ``received`` bytes from the start; ``complete`` once all of them arrived and the
    SHA-256 matched (the switch may then delete its copy)."""

    introduced_in: ClassVar[ProtocolVersion] = VERSION_1_3

    recording_id: Name
    received: RecordingSize
    complete: bool = False


class SwitchRecordingPut(Request, frozen=True, kw_only=True, tag="switch.recording_put"):
    """Upload bytes ``offset`` … of a finished call recording (an 8 kHz mono WAV) to the
    CTI server, which keeps recordings for search and playback (R-SUP-3).

    ``size`` and ``sha256`` are the whole file's; ``data`` is base64 (at most
    :data:`RECORDING_CHUNK_BYTES` raw bytes). Chunks go in order; a chunk the server
    already has is acknowledged again (a retry). An offset past what the server holds
    is ``invalid_field`` (``detail.field`` = ``offset``, ``detail.expected`` = the offset
    to resume from); a file whose bytes do not match ``sha256`` is discarded on the last
    chunk (``invalid_field``, ``sha256``, ``expected`` 0) and must be sent again.
    """

    introduced_in: ClassVar[ProtocolVersion] = VERSION_1_3
    result_type = RecordingReceipt

    recording_id: Name
    call_id: CallId
    size: RecordingSize
    sha256: Sha256Hex
    offset: RecordingSize = 0
    data: Annotated[str, msgspec.Meta(max_length=_RECORDING_CHUNK_B64)]
    seconds: Seconds | None = None
    started_at: Timestamp | None = None


SwitchAction = (
    OfferToAgent
    | Bridge
    | Play
    | TransferCall
    | Hangup
    | Hold
    | Unhold
    | RecordStart
    | RecordStop
    | Monitor
    | MonitorStop
    | Conference
    | SendDtmf
    | Consult
    | ConsultDrop
    | TransferConsult
)
"""What a ``switch.command`` asks the switch to do (tagged by ``kind``)."""


class SwitchCommand(Event, frozen=True, kw_only=True, tag="switch.command"):
    command_id: Name
    call_id: CallId
    action: SwitchAction
    expires_at: Timestamp | None = None
    """After this server time the switch drops the command (e.g. replayed too late)."""


SwitchRequest = (
    SwitchRouteRequest
    | SwitchCallEvent
    | SwitchRegistration
    | SwitchCommandResult
    | SwitchFallbackReport
    | SwitchLookup
    | SwitchAgentsSnapshot
    | SwitchFlowGet
    | SwitchPromptIndex
    | SwitchPromptGet
    | SwitchRecordingPut
)
SwitchEvent = SwitchCommand | SwitchAgentState
