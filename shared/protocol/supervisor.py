"""Supervision: live queue / tier / agent statistics, forcing state, monitoring calls.

A supervisor session (hello kind ``supervisor``, or a desktop whose user has the
supervisor role) subscribes with filters and then receives ``supervisor.*`` events:
initial values right after the subscribe result, then changes (R-SUP-1). Monitoring
(listen, whisper, barge) and forcing agent state cover R-SUP-2.
"""

from __future__ import annotations

import enum
from typing import Annotated, Literal

import msgspec

from shared.protocol.agent import AgentState
from shared.protocol.base import (
    AgentId,
    CallId,
    Count,
    Event,
    Name,
    Percent,
    QueueId,
    ReasonCode,
    Request,
    ResultBody,
    Seconds,
    TierId,
    Timestamp,
)

FilterList = Annotated[tuple[Name, ...], msgspec.Meta(max_length=1000)]


class MonitorMode(enum.StrEnum):
    LISTEN = "listen"
    """Hear both parties; nobody hears the supervisor."""
    WHISPER = "whisper"
    """Hear both parties; only the agent hears the supervisor."""
    BARGE = "barge"
    """Join the call; everyone hears everyone."""


class MonitorEndReason(enum.StrEnum):
    STOPPED = "stopped"
    CALL_ENDED = "call_ended"
    FAILED = "failed"


class AgentCounts(msgspec.Struct, frozen=True, kw_only=True):
    """Agents of a queue by state (logged-on agents only)."""

    ready: Count = 0
    not_ready: Count = 0
    reserved: Count = 0
    busy: Count = 0
    work_not_ready: Count = 0


class ServiceLevel(msgspec.Struct, frozen=True, kw_only=True):
    """Service level over a sliding window: answered within ``threshold_seconds`` / offered."""

    threshold_seconds: Seconds
    target_percent: Percent
    achieved_percent: Percent | None = None
    """``None`` while nothing was offered in the window."""
    window_seconds: Seconds
    offered: Count = 0
    answered: Count = 0
    answered_in_threshold: Count = 0
    abandoned: Count = 0


# --- requests -------------------------------------------------------------------


class SubscriptionResult(ResultBody, frozen=True, kw_only=True, tag="supervisor.subscribe"):
    subscription_id: Name


class SupervisorSubscribe(Request, frozen=True, kw_only=True, tag="supervisor.subscribe"):
    """Subscribe to statistics. Each filter: ``null`` = everything, a list = only those."""

    result_type = SubscriptionResult

    queues: FilterList | None = None
    tiers: FilterList | None = None
    agents: FilterList | None = None


class SupervisorUnsubscribe(Request, frozen=True, kw_only=True, tag="supervisor.unsubscribe"):
    subscription_id: Name


class SupervisorForceState(Request, frozen=True, kw_only=True, tag="supervisor.force_state"):
    agent_id: AgentId
    state: Literal["ready", "not_ready"]
    reason_code: ReasonCode | None = None


class SupervisorForceLogout(Request, frozen=True, kw_only=True, tag="supervisor.force_logout"):
    agent_id: AgentId
    reason_code: ReasonCode | None = None


class MonitorResult(ResultBody, frozen=True, kw_only=True, tag="supervisor.monitor"):
    monitor_id: Name
    call_id: CallId


class SupervisorMonitor(Request, frozen=True, kw_only=True, tag="supervisor.monitor"):
    """Monitor ``agent_id``'s current call; sent again with another mode, it switches mode."""

    result_type = MonitorResult

    agent_id: AgentId
    mode: MonitorMode = MonitorMode.LISTEN


class SupervisorMonitorStop(Request, frozen=True, kw_only=True, tag="supervisor.monitor_stop"):
    monitor_id: Name


# --- events ---------------------------------------------------------------------


class SupervisorQueueStats(Event, frozen=True, kw_only=True, tag="supervisor.queue_stats"):
    queue_id: QueueId
    waiting: Count
    longest_wait_seconds: Seconds = 0.0
    agents: AgentCounts
    service_level: ServiceLevel


class SupervisorTierStats(Event, frozen=True, kw_only=True, tag="supervisor.tier_stats"):
    tier: TierId
    waiting: Count
    longest_wait_seconds: Seconds = 0.0
    service_level: ServiceLevel


class SupervisorAgentStatus(Event, frozen=True, kw_only=True, tag="supervisor.agent_status"):
    agent_id: AgentId
    state: AgentState
    since: Timestamp
    reason_code: ReasonCode | None = None
    call_id: CallId | None = None
    queues: FilterList = ()


class SupervisorMonitorEnded(Event, frozen=True, kw_only=True, tag="supervisor.monitor_ended"):
    monitor_id: Name
    reason: MonitorEndReason


SupervisorRequest = (
    SupervisorSubscribe
    | SupervisorUnsubscribe
    | SupervisorForceState
    | SupervisorForceLogout
    | SupervisorMonitor
    | SupervisorMonitorStop
)
SupervisorEvent = (
    SupervisorQueueStats | SupervisorTierStats | SupervisorAgentStatus | SupervisorMonitorEnded
)
