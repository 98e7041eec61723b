"""State of the calls the switch core owns: one caller leg, at most one agent leg
(plus, while multi-party, a consult leg and supervisor legs on a mixer).

One switch call is one rtpengine call (``call_id``) with two participants: the
caller (``caller_tag``, the caller's SIP From tag) and the switch side
(``b_tag``). During IVR and queueing the switch side points at the core's
media sink; when an agent answers, it is re-answered with the agent's SDP.
"""

from __future__ import annotations

import asyncio
import enum
import secrets
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from cti_server.switch.sip import Dialog, IncomingCall, OutgoingCall
from cti_server.switch.sip.sdp import Origin
from shared.protocol.supervisor import MonitorMode
from shared.protocol.switch import LegRole

if TYPE_CHECKING:
    from cti_server.switch.core.multiparty import MixState


class Phase(enum.StrEnum):
    """Where a call is in its lifecycle (see docs/switch.md)."""

    ANSWERING = "answering"
    IVR = "ivr"
    QUEUED = "queued"
    OFFERING = "offering"
    """An agent leg is ringing; the caller still hears music on hold."""
    BRIDGED = "bridged"
    HELD = "held"
    ENDED = "ended"


WAITING_PHASES = frozenset({Phase.QUEUED, Phase.OFFERING})
TALKING_PHASES = frozenset({Phase.BRIDGED, Phase.HELD})


def new_call_id() -> str:
    """The switch's id of a call (also the rtpengine call-id): ``c-`` + 16 hex digits."""
    return "c-" + secrets.token_hex(8)


@dataclass(slots=True, eq=False)
class AgentLeg:
    """The INVITE to an agent's softphone (or another party) and, once answered, its dialog.

    ``role`` ``agent`` is the call's agent; ``external`` an outside number reached
    through the outbound gateway (``agent_id`` then holds the number); ``consult`` and
    ``supervisor`` legs belong to a multi-party call (:mod:`.multiparty`).
    """

    agent_id: str
    contact: str
    ring_timeout: float
    outgoing: OutgoingCall | None = None
    dialog: Dialog | None = None
    answered: bool = False
    ended: bool = False
    task: asyncio.Task[None] | None = None
    role: LegRole = LegRole.AGENT
    port: str | None = None
    """Its mixer port's label while the call is mixed."""
    consult_call_id: str | None = None
    """A consult leg's call id (its reports go there)."""
    monitor_id: str | None = None
    mode: MonitorMode | None = None
    """A supervisor leg's monitor and mode."""

    external: bool = False
    """``agent_id`` is an outside number called through the outbound gateway."""
    sdp_origin: Origin | None = None
    """The ``o=`` line we last sent in its dialog (None: rtpengine's offer was the last)."""

    @property
    def report_agent_id(self) -> str | None:
        """The agent id its reports carry (None for an outside number)."""
        return None if self.external or self.role is LegRole.EXTERNAL else self.agent_id


@dataclass(slots=True, eq=False)
class Call:
    """One caller's call through the switch."""

    call_id: str
    incoming: IncomingCall
    caller_tag: str
    b_tag: str
    caller: str | None
    called: str | None
    arrived_at: float
    phase: Phase = Phase.ANSWERING
    dialog: Dialog | None = None
    """The caller's dialog (after the 200 OK)."""
    caller_sdp: str = ""
    """The caller's last SDP offer (for rtpengine re-negotiation)."""
    agent_side_offer: str = ""
    """rtpengine's SDP for the switch side: what the agent leg's INVITE carries."""
    caller_answer: str = ""
    """rtpengine's SDP in the caller's 200 OK (its port is where the caller sends)."""
    b_side_sdp: str = ""
    """The SDP last given to rtpengine for the switch side (sink or agent)."""
    tier: str | None = None
    queue_id: str | None = None
    business_selection: str | None = None
    agent: AgentLeg | None = None
    recording: str | None = None
    record: bool = True
    """False: the server said this call's queue is not recorded (route response
    ``record`` = false, R-SUP-3); nothing of the call is recorded then."""
    mix: MixState | None = None
    """The mixer room while the call is multi-party (consult, conference, monitor)."""
    consult: AgentLeg | None = None
    """The consultation leg the agent started (ringing or answered)."""
    conferenced: bool = False
    """The consult leg was joined into a conference with the caller."""
    monitors: dict[str, AgentLeg] = field(default_factory=dict)
    """Supervisor legs by monitor id."""
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    ended_event: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def ended(self) -> bool:
        return self.phase is Phase.ENDED
