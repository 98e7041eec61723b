"""Tunables of the domain layer (times in seconds)."""

from __future__ import annotations

from dataclasses import dataclass, field

from cti_server.routing import EngineConfig

DISCONNECTED_REASON = "disconnected"
"""Not-ready reason of an agent whose desktop connection dropped."""
LOGIN_REASON = "login"
"""Not-ready reason right after ``agent.login`` (the engine's)."""
ACW_REASON = "after_call_work"
"""Engine not-ready reason used for after-call work the agent asked for (shown as
``work_not_ready`` on the wire; see ``agent.set_after_call_work``)."""
FORCED_REASON = "forced"
"""Not-ready reason of ``supervisor.force_state`` without a reason code."""
UNREGISTERED_REASON = "unregistered"
"""Not-ready reason when an offer found no registered softphone for the agent."""
OFFER_FAILED_REASON = "offer_failed"
"""Not-ready reason when the switch could not ring the agent."""

CONSULT_OFFERED_REASON = "consult_offered"
"""Engine not-ready reason of an agent a consultation is ringing at (wire: ``reserved``)."""
DIRECT_CALL_REASON = "direct_call"
"""Engine not-ready reason of an agent on a call the engine did not route: a consultation,
a consultative transfer or a conference it joined (wire: ``busy``)."""

SYSTEM_REASONS = frozenset(
    {
        CONSULT_OFFERED_REASON,
        DIRECT_CALL_REASON,
        DISCONNECTED_REASON,
        LOGIN_REASON,
        ACW_REASON,
        FORCED_REASON,
        UNREGISTERED_REASON,
        OFFER_FAILED_REASON,
        "ring-no-answer",
        "no_answer",
    }
)
"""Reasons the server itself sets; agents must use configured reason codes."""


@dataclass(frozen=True, slots=True, kw_only=True)
class DomainConfig:
    """Behaviour of the contact-centre domain (see docs/cti_server.md)."""

    engine: EngineConfig = field(default_factory=EngineConfig)
    """Routing engine configuration (explanations stay on: they are stored with each call)."""
    command_timeout: float = 5.0
    """How long a desktop's call-control request waits for the switch's acknowledgement."""
    command_ttl: float = 30.0
    """``switch.command.expires_at`` = now + this (a command replayed later is dropped)."""
    ring_timeout: float = 20.0
    """``offer_to_agent.ring_timeout_seconds``."""
    supervisor_interval: float = 1.0
    """Period of ``supervisor.queue_stats`` / ``tier_stats`` pushes."""
    default_tier: str = "normal"
    """Tier of callers who are not customers (falls back to the lowest-weight tier)."""
    default_queue: str | None = None
    """Queue for ``agent_needed`` requests that name neither a queue nor a usable business
    selection; ``None`` = the first queue by id."""
    default_flow: str = "default"
    """Flow id used when the tier has no published ``tier:<tier_id>`` flow."""

    def __post_init__(self) -> None:
        for name in ("command_timeout", "command_ttl", "ring_timeout", "supervisor_interval"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0")
