"""What the agent desktop asks the CTI server besides call control (CTI link, 1.3).

* ``web.token``: a one-time token that opens the web panels (``/ui/…``) without a
  second login: the desktop loads ``sso_path`` relative to the web side's base URL.
* ``desktop.directory``: what the desktop's pickers offer — not-ready reason codes,
  queues, agents and IVR transfer targets — and the principal's role.

``call.wrap_up`` (after-call notes) is a call request: :mod:`shared.protocol.call`.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar

import msgspec

from shared.protocol.agent import AgentState
from shared.protocol.base import (
    VERSION_1_3,
    AgentId,
    FlowId,
    Label,
    Name,
    ProtocolVersion,
    QueueId,
    ReasonCode,
    Request,
    ResultBody,
    Secret,
    Timestamp,
)
from shared.protocol.call import IvrDestination

WebPath = Annotated[str, msgspec.Meta(min_length=4, max_length=1024, pattern=r"^/ui/[^\s\\]*\Z")]
"""A path of the web panels: starts with ``/ui/``, no whitespace or backslash, ≤ 1024."""

MAX_DIRECTORY_AGENTS = 5000
MAX_DIRECTORY_QUEUES = 1000
MAX_DIRECTORY_REASONS = 256
MAX_IVR_TARGETS = 64

_MASK = "***"


# --- web.token ---------------------------------------------------------------------


class WebTokenResult(ResultBody, frozen=True, kw_only=True, tag="web.token"):
    """A one-time web sign-on token; ``repr`` masks it (and the path that carries it)."""

    introduced_in: ClassVar[ProtocolVersion] = VERSION_1_3

    token: Secret
    expires_at: Timestamp
    """Server UTC epoch seconds; the token works once, until then."""
    sso_path: Annotated[str, msgspec.Meta(min_length=1, max_length=4096)]
    """``/ui/sso?token=…&next=…`` (URL-encoded), relative to the web side's base URL."""

    def __repr__(self) -> str:
        return f"WebTokenResult(token={_MASK!r}, expires_at={self.expires_at!r}, sso_path=…)"

    def __rich_repr__(self) -> list[tuple[str, Any]]:
        return [("token", _MASK), ("expires_at", self.expires_at), ("sso_path", _MASK)]


class WebTokenRequest(Request, frozen=True, kw_only=True, tag="web.token"):
    """Ask for a one-time web sign-on token (desktop and supervisor clients, 1.3)."""

    introduced_in: ClassVar[ProtocolVersion] = VERSION_1_3
    result_type = WebTokenResult

    next_path: WebPath | None = None
    """Where the web side goes after signing in (default ``/ui/``)."""


# --- desktop.directory -------------------------------------------------------------


class DirectoryReason(msgspec.Struct, frozen=True, kw_only=True):
    """A configured not-ready reason code (what ``agent.set_not_ready`` accepts)."""

    code: ReasonCode
    label: Label


class DirectoryQueue(msgspec.Struct, frozen=True, kw_only=True):
    """A queue (skill group) a call can be transferred to (``QueueDestination``)."""

    queue_id: QueueId
    name: Label


class DirectoryAgent(msgspec.Struct, frozen=True, kw_only=True):
    """An agent a call can be transferred to or consulted with (``AgentDestination``)."""

    agent_id: AgentId
    display_name: Label
    extension: Name | None = None
    """The softphone's SIP user while logged on."""
    state: AgentState = AgentState.LOGGED_OFF
    """The state when the directory was made (it is not kept up to date)."""


class IvrTarget(msgspec.Struct, frozen=True, kw_only=True):
    """An IVR flow (and start node) a call can be transferred to, e.g. the survey."""

    flow_id: FlowId
    node: Name | None = None
    """Start node; ``None`` = the flow's entry."""
    label: Label

    def destination(self) -> IvrDestination:
        """The transfer destination of this target."""
        return IvrDestination(flow_id=self.flow_id, node=self.node)


class DesktopDirectory(ResultBody, frozen=True, kw_only=True, tag="desktop.directory"):
    """Result of ``desktop.directory`` (1.3)."""

    introduced_in: ClassVar[ProtocolVersion] = VERSION_1_3

    role: Label | None = None
    """The principal's role (``agent``, ``team_lead``, ``admin`` …)."""
    reason_codes: Annotated[
        tuple[DirectoryReason, ...], msgspec.Meta(max_length=MAX_DIRECTORY_REASONS)
    ] = ()
    queues: Annotated[
        tuple[DirectoryQueue, ...], msgspec.Meta(max_length=MAX_DIRECTORY_QUEUES)
    ] = ()
    agents: Annotated[
        tuple[DirectoryAgent, ...], msgspec.Meta(max_length=MAX_DIRECTORY_AGENTS)
    ] = ()
    ivr_targets: Annotated[tuple[IvrTarget, ...], msgspec.Meta(max_length=MAX_IVR_TARGETS)] = ()


class DesktopDirectoryRequest(Request, frozen=True, kw_only=True, tag="desktop.directory"):
    """Ask for reason codes, queues, agents and IVR targets (desktop and supervisor, 1.3)."""

    introduced_in: ClassVar[ProtocolVersion] = VERSION_1_3
    result_type = DesktopDirectory


DesktopRequest = WebTokenRequest | DesktopDirectoryRequest
