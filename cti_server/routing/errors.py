"""Typed errors raised by the routing engine.

Every error carries a stable machine-readable ``code`` so the CTI server can map
it to a protocol error without parsing messages.
"""

from __future__ import annotations


class RoutingError(Exception):
    """Base class of every routing-engine error."""

    code: str = "routing_error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code


class ConfigError(RoutingError):
    """Invalid or inconsistent configuration (tiers, queues, agents, calendars)."""

    code = "invalid_config"


class DuplicateId(RoutingError):
    """An object with this id is already known to the engine."""

    code = "duplicate_id"


class UnknownAgent(RoutingError):
    code = "unknown_agent"


class UnknownCall(RoutingError):
    code = "unknown_call"


class UnknownQueue(RoutingError):
    code = "unknown_queue"


class UnknownTier(RoutingError):
    code = "unknown_tier"


class UnknownGroup(RoutingError):
    code = "unknown_group"


class InvalidTransition(RoutingError):
    """The event is not allowed in the agent's or call's current state."""

    code = "invalid_transition"


class ClockWentBackwards(RoutingError):
    """``now`` passed to an event is earlier than a previously seen ``now``."""

    code = "clock_went_backwards"
