"""Actions returned by the routing engine, each with an explanation of the decision.

With ``EngineConfig(explain=False)`` the engine does not build explanations: every
action carries the shared constant :data:`NOT_EXPLAINED` instead (the decisions are
the same; only the record of why is skipped).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, Final


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


NOT_EXPLAINED: Final = Explanation(
    rule="not_explained",
    now=0.0,
    detail="the engine runs with EngineConfig(explain=False): no explanation recorded",
)
"""Carried by every action of an engine configured with ``explain=False`` (one shared,
immutable object; its ``now`` is meaningless). Test with ``is NOT_EXPLAINED``."""


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
    """The agent's state (``AgentState`` value) and not-ready reason changed."""

    agent_id: str
    state: str
    reason: str | None = None


Action = Offer | Queued | Overflowed | CallbackRequested | LeftQueue | Widened | AgentStateChanged


# Engine-internal fast constructors. A frozen dataclass's generated ``__init__`` sets each
# field through ``object.__setattr__`` (about 1 µs for an Offer); setting the slots through
# their member descriptors builds the very same immutable instance (same class, equality,
# hash and repr) in about a third of the time. Every field must be set here.
_new = object.__new__
type _Setter = Callable[[object, object], None]


def _setters(cls: type, *names: str) -> tuple[_Setter, ...]:
    return tuple(getattr(cls, name).__set__ for name in names)


_OFFER = _setters(Offer, "call_id", "agent_id", "queue_id", "explanation", "callback")
_QUEUED = _setters(Queued, "call_id", "queue_id", "position", "explanation")
_STATE = _setters(AgentStateChanged, "agent_id", "state", "reason")


def new_offer(
    call_id: str, agent_id: str, queue_id: str, explanation: Explanation, callback: bool
) -> Offer:
    """``Offer(...)`` without the frozen-dataclass ``__init__`` cost (engine hot path)."""
    o: Offer = _new(Offer)
    s0, s1, s2, s3, s4 = _OFFER
    s0(o, call_id)
    s1(o, agent_id)
    s2(o, queue_id)
    s3(o, explanation)
    s4(o, callback)
    return o


def new_queued(call_id: str, queue_id: str, position: int, explanation: Explanation) -> Queued:
    """``Queued(...)`` without the frozen-dataclass ``__init__`` cost (engine hot path)."""
    o: Queued = _new(Queued)
    s0, s1, s2, s3 = _QUEUED
    s0(o, call_id)
    s1(o, queue_id)
    s2(o, position)
    s3(o, explanation)
    return o


def new_state_changed(agent_id: str, state: str, reason: str | None) -> AgentStateChanged:
    """``AgentStateChanged(...)`` without the frozen-dataclass ``__init__`` cost."""
    o: AgentStateChanged = _new(AgentStateChanged)
    s0, s1, s2 = _STATE
    s0(o, agent_id)
    s1(o, state)
    s2(o, reason)
    return o
