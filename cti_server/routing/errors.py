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


class InUse(RoutingError):
    """A tier, queue or agent group cannot be removed while something still needs it.

    ``code`` says what: ``queue_has_calls`` (calls wait or ring in the queue),
    ``queue_referenced`` (another queue overflows to it), ``tier_has_calls`` (calls of
    the tier wait or ring), ``tier_served`` (an agent group still serves it),
    ``group_has_members`` (agents still belong to it), ``group_referenced`` (a queue's
    overflow adds it). ``blockers`` names the calls' count or the referring ids."""

    code = "in_use"

    def __init__(self, message: str, *, code: str, blockers: tuple[str, ...] = ()) -> None:
        super().__init__(message, code=code)
        self.blockers = blockers


class ClockWentBackwards(RoutingError):
    """``now`` passed to an event is earlier than a previously seen ``now``."""

    code = "clock_went_backwards"
