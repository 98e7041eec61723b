"""Agent state: requests from the desktop and the events that report state changes.

States follow CSTA agent states: logged off, not ready (with a reason code), ready,
reserved (a call is being offered), busy (on a call; reported by call events) and
work-not-ready (after-call work). Requests are answered with a bare ``result``; the
state change itself arrives as an event, so every desktop of that agent and every
supervisor sees the same sequence (R-IN-8, R-SUP-1).
"""

from __future__ import annotations

import enum
from typing import Annotated, Literal

import msgspec

from shared.protocol.base import (
    AgentId,
    CallId,
    Event,
    Label,
    Name,
    QueueId,
    ReasonCode,
    Request,
    SkillId,
    Timestamp,
)


class AgentState(enum.StrEnum):
    LOGGED_OFF = "logged_off"
    NOT_READY = "not_ready"
    READY = "ready"
    RESERVED = "reserved"
    BUSY = "busy"
    WORK_NOT_READY = "work_not_ready"


class LogoffReason(enum.StrEnum):
    USER = "user"
    """The agent logged off."""
    TAKEN_OVER = "taken_over"
    """The same agent logged on from another desktop."""
    FORCED = "forced"
    """A supervisor forced the logoff."""
    TIMEOUT = "timeout"
    """The desktop's session expired (no reconnect within the grace period)."""
    SHUTDOWN = "shutdown"
    """The server is shutting down."""


class SkillLevel(msgspec.Struct, frozen=True, kw_only=True):
    """An agent's level in one skill; 1 is the first (best) level (R-SKILL-2)."""

    skill: SkillId
    level: Annotated[int, msgspec.Meta(ge=1, le=99)]


# --- requests (desktop → server) ------------------------------------------------


class AgentLogin(Request, frozen=True, kw_only=True, tag="agent.login"):
    """Log the session's agent on to the ACD, on the softphone registered as ``extension``."""

    extension: Name | None = None
    initial_state: Literal["ready", "not_ready"] = "not_ready"
    reason_code: ReasonCode | None = None


class AgentLogout(Request, frozen=True, kw_only=True, tag="agent.logout"):
    """Log the agent off the ACD (the session stays open)."""

    reason_code: ReasonCode | None = None


class AgentSetReady(Request, frozen=True, kw_only=True, tag="agent.set_ready"):
    """Become available for calls."""


class AgentSetNotReady(Request, frozen=True, kw_only=True, tag="agent.set_not_ready"):
    """Become unavailable, with a configured reason code (break, training, …)."""

    reason_code: ReasonCode


class AgentSetAfterCallWork(Request, frozen=True, kw_only=True, tag="agent.set_after_call_work"):
    """Enter (or extend) after-call work, optionally tied to the call being wrapped up."""

    call_id: CallId | None = None


class AgentEndAfterCallWork(Request, frozen=True, kw_only=True, tag="agent.end_after_call_work"):
    """Finish after-call work and become ready (send ``agent.set_not_ready`` instead to pause)."""


# --- events (server → desktop) --------------------------------------------------


class AgentLoggedOn(Event, frozen=True, kw_only=True, tag="agent.logged_on"):
    agent_id: AgentId
    extension: Name | None = None
    display_name: Label | None = None
    skills: tuple[SkillLevel, ...] = ()
    queues: tuple[QueueId, ...] = ()


class AgentReady(Event, frozen=True, kw_only=True, tag="agent.ready"):
    agent_id: AgentId


class AgentNotReady(Event, frozen=True, kw_only=True, tag="agent.not_ready"):
    agent_id: AgentId
    reason_code: ReasonCode
    reason_label: Label | None = None
    forced_by: AgentId | None = None
    """Set when a supervisor forced the state (R-SUP-2)."""


class AgentWorkNotReady(Event, frozen=True, kw_only=True, tag="agent.work_not_ready"):
    """After-call work; ``deadline`` is when the server makes the agent ready again."""

    agent_id: AgentId
    call_id: CallId | None = None
    deadline: Timestamp | None = None


class AgentLoggedOff(Event, frozen=True, kw_only=True, tag="agent.logged_off"):
    agent_id: AgentId
    reason: LogoffReason = LogoffReason.USER
    reason_code: ReasonCode | None = None
    forced_by: AgentId | None = None


class AgentReserved(Event, frozen=True, kw_only=True, tag="agent.reserved"):
    """The router chose this agent for ``call_id``; ``call.delivered`` follows when it rings."""

    agent_id: AgentId
    call_id: CallId
    expires_at: Timestamp | None = None


class AgentSnapshot(msgspec.Struct, frozen=True, kw_only=True):
    """An agent's state inside a snapshot."""

    agent_id: AgentId
    state: AgentState
    since: Timestamp
    reason_code: ReasonCode | None = None
    extension: Name | None = None
    call_id: CallId | None = None
    acw_deadline: Timestamp | None = None
    skills: tuple[SkillLevel, ...] = ()


AgentRequest = (
    AgentLogin
    | AgentLogout
    | AgentSetReady
    | AgentSetNotReady
    | AgentSetAfterCallWork
    | AgentEndAfterCallWork
)
AgentEvent = (
    AgentLoggedOn | AgentReady | AgentNotReady | AgentWorkNotReady | AgentLoggedOff | AgentReserved
)
