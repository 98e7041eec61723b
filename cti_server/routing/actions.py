"""Actions returned by the routing engine, each with an explanation of the decision."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True, kw_only=True, slots=True)
class CallCandidate:
    """A waiting call considered by an agent-idle decision, with its SL figures."""

    call_id: str
    queue_id: str  # queue whose agents may take it (its own or an overflow queue)
    home_queue: str  # queue the call waits in
    tier_id: str
    priority: int
    wait: float  # seconds since arrival
    sl_target: float
    sl_achieved: float | None  # answered-within-n / outcomes over the window; None = no outcomes
    sl_projected: float  # achieved counting waiting calls already past n as misses
    gap: float  # sl_target - sl_projected (positive = deficit)
    priority_weight: float
    score: float  # the value compared by the rule (see docs/routing.md)


@dataclass(frozen=True, kw_only=True, slots=True)
class AgentCandidate:
    """An idle agent considered by a call-arrival decision."""

    agent_id: str
    level: int
    group: str | None  # agent group heap it came from; None = tier open to every agent
    order_value: tuple[float, float]  # agent-order key, lower first


@dataclass(frozen=True, kw_only=True, slots=True)
class Explanation:
    """Why the engine did what it did; stored with the call by the server."""

    rule: str  # e.g. "call_arrival:level_first+longest_idle", "agent_idle:sl_gap"
    now: float
    call_id: str | None = None
    agent_id: str | None = None
    detail: str = ""
    call_candidates: tuple[CallCandidate, ...] = ()
    agent_candidates: tuple[AgentCandidate, ...] = ()
    eligible_levels: int | None = None  # the call's level limit at decision time (None = all)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly dict (lists instead of tuples)."""
        data = asdict(self)
        data["agent_candidates"] = [
            {**c, "order_value": list(c["order_value"])} for c in data["agent_candidates"]
        ]
        data["call_candidates"] = list(data["call_candidates"])
        return data


@dataclass(frozen=True, kw_only=True, slots=True)
class Offer:
    """Reserve ``agent_id`` and ring them with ``call_id``."""

    call_id: str
    agent_id: str
    queue_id: str  # the call's queue
    explanation: Explanation
    callback: bool = False  # True: the caller asked for a callback; dial them when accepted


@dataclass(frozen=True, kw_only=True, slots=True)
class Queued:
    """The call waits; ``position`` is 1-based in arrival order among the queue's waiting calls."""

    call_id: str
    queue_id: str
    position: int
    explanation: Explanation


@dataclass(frozen=True, kw_only=True, slots=True)
class Overflowed:
    """The call moved to another queue (max wait reached)."""

    call_id: str
    from_queue: str
    to_queue: str
    explanation: Explanation


@dataclass(frozen=True, kw_only=True, slots=True)
class CallbackRequested:
    """Max wait reached: offer the caller a callback; the request keeps the call's position."""

    call_id: str
    queue_id: str
    explanation: Explanation


@dataclass(frozen=True, kw_only=True, slots=True)
class LeftQueue:
    """Max wait reached with action "flow": the call left the queue, the flow decides next."""

    call_id: str
    queue_id: str
    explanation: Explanation


@dataclass(frozen=True, kw_only=True, slots=True)
class Widened:
    """An overflow rule widened who may take a waiting call (informational)."""

    call_id: str
    queue_id: str
    stage: int
    explanation: Explanation


@dataclass(frozen=True, kw_only=True, slots=True)
class AgentStateChanged:
    agent_id: str
    state: str
    reason: str | None = None


Action = Offer | Queued | Overflowed | CallbackRequested | LeftQueue | Widened | AgentStateChanged
