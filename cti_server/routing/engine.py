"""The routing engine: a synchronous, I/O-free state machine (R-ROUTE-1..5).

Every event method takes ``now`` (monotonic seconds from the caller's clock)
and returns the list of actions the caller must carry out. Timers (overflow
stages, max wait, SL deadlines, ACW timeouts) are processed by ``tick(now)``
and, for consistency, at the start of every other event; ``next_deadline()``
says when ``tick`` is due. See docs/routing.md for the semantics.

Indexes (no event scans all agents or all calls):

- idle agents: one heap per ``(skill, level, agent group)`` plus one per
  ``(skill, level)`` for tiers open to every agent, keyed by the agent order;
  lazy deletion with a per-agent token, compacted when mostly stale;
- waiting calls: per queue, per tier, one heap per eligibility profile
  ``(level limit, extra groups)`` ordered by ``(-priority, arrival)``; all
  calls of a heap are eligible for exactly the same agents, so its head is the
  only candidate of that heap;
- service level: a deque of outcomes per tier with running counts.
"""

from __future__ import annotations

import bisect
import heapq
import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import IntEnum

from . import actions as act
from .actions import Action, AgentCandidate, CallCandidate, Explanation
from .errors import (
    ClockWentBackwards,
    ConfigError,
    DuplicateId,
    InvalidTransition,
    UnknownAgent,
    UnknownCall,
    UnknownGroup,
    UnknownQueue,
    UnknownTier,
)
from .model import (
    AgentGroupSpec,
    AgentOrder,
    AgentSpec,
    AgentState,
    CallSelection,
    CallSpec,
    CallState,
    EngineConfig,
    MaxWaitAction,
    QueueSpec,
    TierSpec,
)
from .service_level import ServiceLevelWindow, SlFigures

_EPS = 1e-9
_COMPACT_MIN = 64

type _IdleEntry = tuple[float, float, str, int]  # (order key 1, order key 2, agent_id, token)
type _CallEntry = tuple[int, int, str, int]  # (-priority, seq, call_id, token)
type _ProfileKey = tuple[int | None, frozenset[str]]


class _Timer(IntEnum):
    STAGE = 0
    MAX_WAIT = 1
    OVERDUE = 2
    ACW = 3


class _IdleHeap:
    __slots__ = ("heap", "live")

    def __init__(self) -> None:
        self.heap: list[_IdleEntry] = []
        self.live = 0


class _Bucket:
    """Waiting calls of one (listing queue, tier) with identical eligibility."""

    __slots__ = ("extra_groups", "heap", "live", "max_level", "skill")

    def __init__(self, skill: str, max_level: int | None, extra_groups: frozenset[str]) -> None:
        self.skill = skill
        self.max_level = max_level
        self.extra_groups = extra_groups
        self.heap: list[_CallEntry] = []
        self.live = 0


@dataclass(slots=True)
class _Stage:
    max_level: int | None
    groups: frozenset[str]
    queues: tuple[str, ...]


@dataclass(slots=True)
class _Queue:
    spec: QueueSpec
    stages: list[_Stage]
    max_wait_action: MaxWaitAction
    overflow_target: str | None
    buckets: dict[str, dict[_ProfileKey, _Bucket]] = field(default_factory=dict)
    order: list[int] = field(default_factory=list)  # seqs of waiting calls homed here
    checked: bool = False


@dataclass(slots=True, eq=False)
class _Agent:
    spec: AgentSpec
    index: int
    state: AgentState = AgentState.LOGGED_OUT
    reason: str | None = None
    pending_reason: str | None = None  # not ready requested while busy
    idle_since: float = 0.0
    idle_token: int = 0
    heaps: list[_IdleHeap] = field(default_factory=list)
    last_offer: int = 0
    calls: int = 0
    talk: float = 0.0
    call_id: str | None = None
    acw_token: int = 0


@dataclass(slots=True, eq=False)
class _Call:
    spec: CallSpec
    seq: int
    arrival: float
    home: str
    enter: float
    state: CallState = CallState.WAITING
    stage: int = 0
    token: int = 0
    queue_gen: int = 0
    buckets: list[_Bucket] = field(default_factory=list)
    agent_id: str | None = None
    overdue: bool = False
    callback: bool = False
    max_wait_due: bool = False
    answered_at: float = 0.0


class RoutingEngine:
    """Skill/level/tier routing with SL-gap call selection. Pure and synchronous."""

    def __init__(self, config: EngineConfig | None = None) -> None:
        self.config = config or EngineConfig()
        self._tiers: dict[str, TierSpec] = {}
        self._sl: dict[str, ServiceLevelWindow] = {}
        self._groups: dict[str, AgentGroupSpec] = {}
        self._tier_groups: dict[str, frozenset[str]] = {}
        self._queues: dict[str, _Queue] = {}
        self._queues_by_skill: dict[str, list[str]] = {}
        self._agents: dict[str, _Agent] = {}
        self._calls: dict[str, _Call] = {}
        self._idle: dict[tuple[str, int, str | None], _IdleHeap] = {}
        self._level_counts: dict[str, dict[int, int]] = {}
        self._levels: dict[str, list[int]] = {}
        self._timers: list[tuple[float, int, _Timer, str, int]] = []
        self._timer_seq = itertools.count()
        self._call_seq = itertools.count(1)
        self._offer_seq = itertools.count(1)
        self._agent_seq = itertools.count()
        self._now = float("-inf")
        self._carry: list[Action] = []

    # ------------------------------------------------------------------ config

    def add_tier(self, spec: TierSpec) -> None:
        if spec.tier_id in self._tiers:
            raise DuplicateId(f"tier {spec.tier_id} already exists")
        self._tiers[spec.tier_id] = spec
        self._sl[spec.tier_id] = ServiceLevelWindow(
            sl_seconds=spec.sl_seconds, target=spec.sl_target, window=self.config.sl_window
        )
        self._tier_groups.setdefault(spec.tier_id, frozenset())

    def update_tier(self, spec: TierSpec) -> None:
        """Change a tier's SL target/seconds/weight; its outcome window is kept."""
        old = self._tier(spec.tier_id)
        self._tiers[spec.tier_id] = spec
        window = self._sl[old.tier_id]
        window.sl_seconds, window.target = spec.sl_seconds, spec.sl_target

    def add_agent_group(self, spec: AgentGroupSpec) -> None:
        """Add an agent group serving tiers (R-SKILL-3); configure before traffic starts."""
        if spec.group_id in self._groups:
            raise DuplicateId(f"agent group {spec.group_id} already exists")
        for tier in spec.tiers:
            self._tier(tier)
        self._groups[spec.group_id] = spec
        for tier in spec.tiers:
            self._tier_groups[tier] = self._tier_groups[tier] | {spec.group_id}

    def add_queue(self, spec: QueueSpec) -> None:
        """Add a queue. Overflow targets may be added later; they are checked on first call."""
        if spec.queue_id in self._queues:
            raise DuplicateId(f"queue {spec.queue_id} already exists")
        action, target = spec.parsed_max_wait_action()
        if action is MaxWaitAction.OVERFLOW and (spec.max_wait is None or spec.max_wait <= 0):
            raise ConfigError(f"queue {spec.queue_id}: overflow on max wait needs max_wait > 0")
        stages = [_Stage(spec.max_level, frozenset(), ())]
        for rule in spec.overflow:
            prev = stages[-1]
            level = prev.max_level
            if level is not None and rule.widen_to_level is not None:
                level = max(level, rule.widen_to_level)
            queues = prev.queues + tuple(
                q for q in rule.add_queues if q not in prev.queues and q != spec.queue_id
            )
            stages.append(_Stage(level, prev.groups | rule.add_groups, queues))
        self._queues[spec.queue_id] = _Queue(spec, stages, action, target)
        self._queues_by_skill.setdefault(spec.skill, []).append(spec.queue_id)

    def add_agent(self, spec: AgentSpec) -> None:
        if spec.agent_id in self._agents:
            raise DuplicateId(f"agent {spec.agent_id} already exists")
        self._check_agent_groups(spec)
        self._agents[spec.agent_id] = _Agent(spec, next(self._agent_seq))
        self._count_levels(spec, +1)

    def update_agent(self, spec: AgentSpec, now: float) -> list[Action]:
        """Change an agent's skills, levels or groups (allowed unless reserved or busy)."""
        self._advance(now)
        agent = self._agent(spec.agent_id)
        if agent.state in (AgentState.RESERVED, AgentState.BUSY):
            raise InvalidTransition(
                f"agent {spec.agent_id} is {agent.state}: update after the call",
                code="agent_busy",
            )
        self._check_agent_groups(spec)
        out: list[Action] = []
        was_ready = agent.state is AgentState.READY
        if was_ready:
            self._leave_idle(agent)
        self._count_levels(agent.spec, -1)
        agent.spec = spec
        self._count_levels(spec, +1)
        if was_ready:
            out += self._available(agent, now)
        return self._flush(out)

    def remove_agent(self, agent_id: str) -> None:
        agent = self._agent(agent_id)
        if agent.state is not AgentState.LOGGED_OUT:
            raise InvalidTransition(f"agent {agent_id} must be logged out to be removed")
        self._count_levels(agent.spec, -1)
        del self._agents[agent_id]

    # ------------------------------------------------------------ agent events
    # Each event first processes due timers (their actions come first in the
    # result; if the event itself is then rejected they are returned by the
    # next call), then validates the event against the current state.

    def agent_login(self, agent_id: str, now: float) -> list[Action]:
        """Logged out -> not ready (reason "login")."""
        self._advance(now)
        agent = self._agent(agent_id)
        self._require(agent, (AgentState.LOGGED_OUT,), "login")
        return self._flush([self._set_state(agent, AgentState.NOT_READY, "login")])

    def agent_ready(self, agent_id: str, now: float) -> list[Action]:
        """Not ready / ACW -> ready; may yield an Offer at once (direction b).

        Ready while already ready is a no-op, and so is a ready that races an ACW
        timeout which already made the agent ready (or reserved)."""
        agent = self._agent(agent_id)
        before = agent.state
        self._advance(now)
        if agent.state is AgentState.READY or (
            before is AgentState.ACW and agent.state is not AgentState.ACW
        ):
            return self._flush([])
        self._require(agent, (AgentState.NOT_READY, AgentState.ACW), "ready")
        agent.pending_reason = None
        agent.acw_token += 1
        return self._flush(self._available(agent, now))

    def agent_not_ready(self, agent_id: str, reason: str, now: float) -> list[Action]:
        """Ready / not ready / ACW -> not ready with a reason. While busy the request is
        kept and applied when the call and its ACW end."""
        self._advance(now)
        agent = self._agent(agent_id)
        self._require(
            agent,
            (AgentState.READY, AgentState.NOT_READY, AgentState.ACW, AgentState.BUSY),
            "not_ready",
        )
        if agent.state is AgentState.BUSY:
            agent.pending_reason = reason
            return self._flush([])
        if agent.state is AgentState.READY:
            self._leave_idle(agent)
        agent.acw_token += 1
        return self._flush([self._set_state(agent, AgentState.NOT_READY, reason)])

    def agent_logout(self, agent_id: str, now: float) -> list[Action]:
        """Ready / not ready / ACW -> logged out (not while reserved or busy)."""
        self._advance(now)
        agent = self._agent(agent_id)
        self._require(agent, (AgentState.READY, AgentState.NOT_READY, AgentState.ACW), "logout")
        if agent.state is AgentState.READY:
            self._leave_idle(agent)
        agent.acw_token += 1
        agent.pending_reason = None
        return self._flush([self._set_state(agent, AgentState.LOGGED_OUT, None)])

    def acw_done(self, agent_id: str, now: float) -> list[Action]:
        """ACW -> ready (or the pending not-ready reason); may yield an Offer."""
        agent = self._agent(agent_id)
        before = agent.state
        self._advance(now)
        if before is AgentState.ACW and agent.state is not AgentState.ACW:
            return self._flush([])  # the ACW timeout got there first
        self._require(agent, (AgentState.ACW,), "acw_done")
        return self._flush(self._end_acw(agent, now))

    # ------------------------------------------------------------- call events

    def call_arrived(self, call: CallSpec, now: float) -> list[Action]:
        """A call enters its queue: Offer to the best idle agent, else Queued (R-ROUTE-1).

        The engine does not look at the queue's calendar: the flow asks
        ``queue_open`` and decides what a closed queue means."""
        self._advance(now)
        if call.call_id in self._calls:
            raise DuplicateId(f"call {call.call_id} already exists", code="duplicate_call")
        queue = self._queue(call.queue_id)
        tier = self._tier(call.tier_id)
        self._check_queue_refs(queue, set())
        c = _Call(call, next(self._call_seq), now, queue.spec.queue_id, now)
        self._calls[call.call_id] = c
        self._push_timer(now + tier.sl_seconds, _Timer.OVERDUE, call.call_id, 0)
        self._enter_queue(c, queue, now)
        return self._flush(self._place(c, now, "call_arrival"))

    def offer_accepted(self, call_id: str, agent_id: str, now: float) -> list[Action]:
        """The agent answered: agent busy; the wait is recorded in the tier's SL window."""
        self._advance(now)
        c, agent = self._offered_pair(call_id, agent_id)
        c.state = CallState.CONNECTED
        c.answered_at = now
        window = self._sl[c.spec.tier_id]
        if c.overdue:
            window.overdue_pending -= 1
            c.overdue = False
        window.record(now, now - c.arrival <= window.sl_seconds + _EPS)
        return self._flush([self._set_state(agent, AgentState.BUSY, None)])

    def offer_failed(
        self, call_id: str, agent_id: str, now: float, reason: str = "no_answer"
    ) -> list[Action]:
        """Ring-no-answer (or reject/error): the agent goes not ready (configurable) and
        the call goes back to its original position, possibly to another agent."""
        self._advance(now)
        c, agent = self._offered_pair(call_id, agent_id)
        agent.call_id = None
        c.agent_id = None
        out: list[Action] = []
        if self.config.rona_to_not_ready:
            nr = self.config.rona_reason if reason == "no_answer" else reason
            out.append(self._set_state(agent, AgentState.NOT_READY, nr))
        else:
            agent.state = AgentState.NOT_READY  # out of the way while the call is re-placed
        out += self._requeue(c, now, f"offer to {agent_id} failed: {reason}")
        if not self.config.rona_to_not_ready:
            out += self._available(agent, now)
        return self._flush(out)

    def call_abandoned(self, call_id: str, now: float) -> list[Action]:
        """The caller hung up while waiting or ringing; counts as an SL miss (unless
        shorter than ``short_abandon_seconds``). A ringing agent becomes ready."""
        self._advance(now)
        c = self._call(call_id)
        if c.state is CallState.CONNECTED:
            raise InvalidTransition(f"call {call_id} is connected: use call_ended")
        if now - c.arrival >= self.config.short_abandon_seconds:
            self._sl[c.spec.tier_id].record(now, False)
        return self._flush(self._remove_pending(c, now))

    def call_withdrawn(self, call_id: str, now: float) -> list[Action]:
        """The flow took a waiting/ringing call out of the queue; no SL outcome."""
        self._advance(now)
        c = self._call(call_id)
        if c.state is CallState.CONNECTED:
            raise InvalidTransition(f"call {call_id} is connected: use call_ended")
        return self._flush(self._remove_pending(c, now))

    def call_ended(self, call_id: str, now: float) -> list[Action]:
        """A connected call ended: the agent goes to after-call work for the queue's
        ``acw_seconds`` (a timer), or straight to ready when 0 (may yield an Offer)."""
        self._advance(now)
        c = self._call(call_id)
        if c.state is not CallState.CONNECTED or c.agent_id is None:
            raise InvalidTransition(f"call {call_id} is {c.state}, not connected")
        del self._calls[call_id]
        agent = self._agents[c.agent_id]
        agent.call_id = None
        agent.calls += 1
        agent.talk += now - c.answered_at
        acw = self._queues[c.home].spec.acw_seconds
        if acw > 0:
            agent.acw_token += 1
            self._push_timer(now + acw, _Timer.ACW, c.agent_id, agent.acw_token)
            return self._flush([self._set_state(agent, AgentState.ACW, None)])
        return self._flush(self._end_acw(agent, now))

    def tick(self, now: float) -> list[Action]:
        """Process every timer due at or before ``now`` (each at its own deadline)."""
        self._advance(now)
        return self._flush([])

    def next_deadline(self) -> float | None:
        timers = self._timers
        while timers and not self._timer_valid(timers[0]):
            heapq.heappop(timers)
        return timers[0][0] if timers else None

    # ----------------------------------------------------------------- queries

    def agent_state(self, agent_id: str) -> str:
        return str(self._agent(agent_id).state)

    def agent_reason(self, agent_id: str) -> str | None:
        return self._agent(agent_id).reason

    def agent_call(self, agent_id: str) -> str | None:
        return self._agent(agent_id).call_id

    def call_state(self, call_id: str) -> str:
        return str(self._call(call_id).state)

    def call_queue(self, call_id: str) -> str:
        return self._call(call_id).home

    def call_agent(self, call_id: str) -> str | None:
        return self._call(call_id).agent_id

    def waiting(self, queue_id: str) -> int:
        """Calls waiting (not ringing) in this queue, callback requests included."""
        return len(self._queue(queue_id).order)

    def position(self, call_id: str) -> int:
        """1-based place of a waiting call in arrival order within its queue."""
        c = self._call(call_id)
        if c.state is not CallState.WAITING:
            raise InvalidTransition(f"call {call_id} is {c.state}, not waiting")
        return bisect.bisect_left(self._queues[c.home].order, c.seq) + 1

    def tier_service_level(self, tier_id: str, now: float) -> float | None:
        """Achieved SL over the sliding window (answered within n / outcomes); None if none."""
        self._tier(tier_id)
        return self._sl[tier_id].achieved(now)

    def tier_figures(self, tier_id: str, now: float) -> SlFigures:
        self._tier(tier_id)
        return self._sl[tier_id].figures(now)

    def queue_open(self, queue_id: str, wall_epoch: float) -> bool:
        """Business hours / holidays at this wall-clock instant (no calendar: open)."""
        calendar = self._queue(queue_id).spec.calendar
        return True if calendar is None else calendar.is_open(wall_epoch)

    def eligible(self, agent_id: str, call_id: str) -> bool:
        """Could this agent take this call now (skill, level limit, tier groups, overflow)?"""
        agent = self._agent(agent_id)
        c = self._call(call_id)
        return any(
            self._agent_fits(agent, skill, max_level, c.spec.tier_id, groups)
            for skill, max_level, groups, _ in self._profiles(c)
        )

    def idle_agents(self) -> Iterator[str]:
        """Ids of agents in READY (O(agents); for supervision and tests)."""
        return (a for a, s in self._agents.items() if s.state is AgentState.READY)

    def waiting_calls(self) -> Iterator[str]:
        """Ids of waiting calls (O(calls); for supervision and tests)."""
        return (c for c, s in self._calls.items() if s.state is CallState.WAITING)

    # ------------------------------------------------------- lookups / checks

    def _agent(self, agent_id: str) -> _Agent:
        try:
            return self._agents[agent_id]
        except KeyError:
            raise UnknownAgent(f"unknown agent {agent_id!r}") from None

    def _call(self, call_id: str) -> _Call:
        try:
            return self._calls[call_id]
        except KeyError:
            raise UnknownCall(f"unknown call {call_id!r}") from None

    def _queue(self, queue_id: str) -> _Queue:
        try:
            return self._queues[queue_id]
        except KeyError:
            raise UnknownQueue(f"unknown queue {queue_id!r}") from None

    def _tier(self, tier_id: str) -> TierSpec:
        try:
            return self._tiers[tier_id]
        except KeyError:
            raise UnknownTier(f"unknown tier {tier_id!r}") from None

    def _check_agent_groups(self, spec: AgentSpec) -> None:
        for group in spec.groups:
            if group not in self._groups:
                raise UnknownGroup(f"agent {spec.agent_id}: unknown agent group {group!r}")

    def _check_queue_refs(self, queue: _Queue, seen: set[str]) -> None:
        if queue.checked or queue.spec.queue_id in seen:
            return
        seen.add(queue.spec.queue_id)
        last = queue.stages[-1]
        for group in last.groups:
            if group not in self._groups:
                raise UnknownGroup(
                    f"queue {queue.spec.queue_id}: overflow to unknown group {group!r}"
                )
        targets = [*last.queues]
        if queue.overflow_target is not None:
            targets.append(queue.overflow_target)
        for target in targets:
            if target not in self._queues:
                raise UnknownQueue(
                    f"queue {queue.spec.queue_id}: overflow to unknown queue {target!r}"
                )
            self._check_queue_refs(self._queues[target], seen)
        queue.checked = True

    def _require(self, agent: _Agent, allowed: tuple[AgentState, ...], event: str) -> None:
        if agent.state not in allowed:
            raise InvalidTransition(
                f"agent {agent.spec.agent_id}: {event} not allowed in state {agent.state}"
            )

    def _offered_pair(self, call_id: str, agent_id: str) -> tuple[_Call, _Agent]:
        c = self._call(call_id)
        agent = self._agent(agent_id)
        if c.state is not CallState.OFFERED or c.agent_id != agent_id:
            raise InvalidTransition(
                f"call {call_id} is not offered to agent {agent_id}", code="not_offered"
            )
        return c, agent

    def _count_levels(self, spec: AgentSpec, delta: int) -> None:
        for skill, level in spec.skills.items():
            counts = self._level_counts.setdefault(skill, {})
            counts[level] = counts.get(level, 0) + delta
            if counts[level] <= 0:
                del counts[level]
            self._levels[skill] = sorted(counts)

    # ------------------------------------------------------------ agent idle

    def _order_key(self, agent: _Agent) -> tuple[float, float]:
        order = self.config.order
        if order is AgentOrder.LONGEST_IDLE:
            return (agent.idle_since, agent.index)
        if order is AgentOrder.ROUND_ROBIN:
            return (agent.last_offer, agent.index)
        if order is AgentOrder.FEWEST_CALLS:
            return (agent.calls, agent.idle_since)
        if order is AgentOrder.LEAST_TALK_TIME:
            return (agent.talk, agent.idle_since)
        return (agent.spec.order_key, agent.index)

    def _make_idle(self, agent: _Agent) -> None:
        agent.idle_token += 1
        k1, k2 = self._order_key(agent)
        entry: _IdleEntry = (k1, k2, agent.spec.agent_id, agent.idle_token)
        heaps = agent.heaps
        for skill, level in agent.spec.skills.items():
            for group in (None, *agent.spec.groups):
                key = (skill, level, group)
                heap = self._idle.get(key)
                if heap is None:
                    heap = self._idle[key] = _IdleHeap()
                heapq.heappush(heap.heap, entry)
                heap.live += 1
                heaps.append(heap)

    def _leave_idle(self, agent: _Agent) -> None:
        agent.idle_token += 1
        for heap in agent.heaps:
            heap.live -= 1
            if len(heap.heap) > _COMPACT_MIN and len(heap.heap) > 4 * heap.live:
                heap.heap = [e for e in heap.heap if self._idle_valid(e)]
                heapq.heapify(heap.heap)
        agent.heaps = []

    def _idle_valid(self, entry: _IdleEntry) -> bool:
        agent = self._agents.get(entry[2])
        return (
            agent is not None and agent.idle_token == entry[3] and agent.state is AgentState.READY
        )

    def _idle_head(self, heap: _IdleHeap | None) -> _IdleEntry | None:
        if heap is None:
            return None
        h = heap.heap
        while h and not self._idle_valid(h[0]):
            heapq.heappop(h)
        return h[0] if h else None

    # ------------------------------------------------------- call placement

    def _profiles(self, c: _Call) -> list[tuple[str, int | None, frozenset[str], str]]:
        """(skill, level limit, extra groups, listing queue) under which the call is eligible."""
        queue = self._queues[c.home]
        stage = queue.stages[c.stage]
        out = [(queue.spec.skill, stage.max_level, stage.groups, c.home)]
        for qid in stage.queues:
            other = self._queues[qid].spec
            out.append((other.skill, other.max_level, stage.groups, qid))
        return out

    def _agent_fits(
        self, agent: _Agent, skill: str, max_level: int | None, tier: str, extra: frozenset[str]
    ) -> bool:
        level = agent.spec.skills.get(skill)
        if level is None or (max_level is not None and level > max_level):
            return False
        serving = self._tier_groups[tier]
        if not serving:
            return True
        groups = agent.spec.groups
        return not groups.isdisjoint(serving) or not groups.isdisjoint(extra)

    def _enter_queue(self, c: _Call, queue: _Queue, now: float) -> None:
        """(Re)enter ``queue`` as home: stage 0 (+ rules due at 0), timers, buckets."""
        c.home = queue.spec.queue_id
        c.enter = now
        c.queue_gen += 1
        c.max_wait_due = False
        rules = queue.spec.overflow
        stage = 0
        while stage < len(rules) and rules[stage].after <= 0:
            stage += 1
        c.stage = stage
        if stage < len(rules):
            self._push_timer(now + rules[stage].after, _Timer.STAGE, c.spec.call_id, c.queue_gen)
        spec = queue.spec
        if spec.max_wait is not None and not c.callback:
            self._push_timer(now + spec.max_wait, _Timer.MAX_WAIT, c.spec.call_id, c.queue_gen)
        self._list_waiting(c)

    def _list_waiting(self, c: _Call) -> None:
        """Put a WAITING call into the buckets of its profiles and its home order list."""
        c.state = CallState.WAITING
        c.token += 1
        entry: _CallEntry = (-c.spec.priority, c.seq, c.spec.call_id, c.token)
        tier = c.spec.tier_id
        for skill, max_level, groups, listing in self._profiles(c):
            per_tier = self._queues[listing].buckets.setdefault(tier, {})
            key: _ProfileKey = (max_level, groups)
            bucket = per_tier.get(key)
            if bucket is None:
                bucket = per_tier[key] = _Bucket(skill, max_level, groups)
            heapq.heappush(bucket.heap, entry)
            bucket.live += 1
            c.buckets.append(bucket)
        bisect.insort(self._queues[c.home].order, c.seq)

    def _unlist_waiting(self, c: _Call) -> None:
        c.token += 1
        for bucket in c.buckets:
            bucket.live -= 1
            if len(bucket.heap) > _COMPACT_MIN and len(bucket.heap) > 4 * bucket.live:
                bucket.heap = [e for e in bucket.heap if self._call_valid(e)]
                heapq.heapify(bucket.heap)
        c.buckets = []
        order = self._queues[c.home].order
        i = bisect.bisect_left(order, c.seq)
        if i < len(order) and order[i] == c.seq:
            del order[i]

    def _call_valid(self, entry: _CallEntry) -> bool:
        c = self._calls.get(entry[2])
        return c is not None and c.token == entry[3] and c.state is CallState.WAITING

    def _bucket_head(self, bucket: _Bucket) -> _CallEntry | None:
        h = bucket.heap
        while h and not self._call_valid(h[0]):
            heapq.heappop(h)
        return h[0] if h else None

    def _place(self, c: _Call, now: float, trigger: str) -> list[Action]:
        """Direction (a): best level first, then the agent order; else Queued."""
        found = self._find_agent(c)
        if found is None:
            figs = self._sl[c.spec.tier_id].figures(now)
            explanation = Explanation(
                rule=f"{trigger}:queued",
                now=now,
                call_id=c.spec.call_id,
                detail="no idle agent eligible for the call (skill, level limit, tier groups)",
                call_candidates=(self._call_candidate(c, c.home, now, figs, 0.0),),
                eligible_levels=self._queues[c.home].stages[c.stage].max_level,
            )
            return [
                act.Queued(
                    call_id=c.spec.call_id,
                    queue_id=c.home,
                    position=bisect.bisect_left(self._queues[c.home].order, c.seq) + 1,
                    explanation=explanation,
                )
            ]
        agent, level, candidates, listing = found
        figs = self._sl[c.spec.tier_id].figures(now)
        explanation = Explanation(
            rule=f"{trigger}:level_first+{self.config.order}",
            now=now,
            call_id=c.spec.call_id,
            agent_id=agent.spec.agent_id,
            detail=(
                f"best idle level {level} for skill {self._queues[listing].spec.skill}"
                f" via queue {listing}; ties by {self.config.order}"
            ),
            call_candidates=(self._call_candidate(c, listing, now, figs, 0.0),),
            agent_candidates=candidates,
            eligible_levels=self._queues[c.home].stages[c.stage].max_level,
        )
        self._leave_idle(agent)
        return self._offer(c, agent, explanation)

    def _find_agent(self, c: _Call) -> tuple[_Agent, int, tuple[AgentCandidate, ...], str] | None:
        tier = c.spec.tier_id
        serving = self._tier_groups[tier]
        for skill, max_level, extra, listing in self._profiles(c):
            group_keys: tuple[str | None, ...] = (
                (None,) if not serving else tuple(sorted(serving | extra))
            )
            for level in self._levels.get(skill, ()):
                if max_level is not None and level > max_level:
                    break
                best: _IdleEntry | None = None
                candidates: list[AgentCandidate] = []
                for group in group_keys:
                    head = self._idle_head(self._idle.get((skill, level, group)))
                    if head is None:
                        continue
                    candidates.append(
                        AgentCandidate(
                            agent_id=head[2], level=level, group=group, order_value=head[:2]
                        )
                    )
                    if best is None or head[:3] < best[:3]:
                        best = head
                if best is not None:
                    return self._agents[best[2]], level, tuple(candidates), listing
        return None

    def _offer(self, c: _Call, agent: _Agent, explanation: Explanation) -> list[Action]:
        if c.state is CallState.WAITING:
            self._unlist_waiting(c)
        c.state = CallState.OFFERED
        c.agent_id = agent.spec.agent_id
        agent.call_id = c.spec.call_id
        agent.last_offer = next(self._offer_seq)
        return [
            self._set_state(agent, AgentState.RESERVED, None),
            act.Offer(
                call_id=c.spec.call_id,
                agent_id=agent.spec.agent_id,
                queue_id=c.home,
                explanation=explanation,
                callback=c.callback,
            ),
        ]

    def _requeue(self, c: _Call, now: float, why: str) -> list[Action]:
        """Back to WAITING at the original position (same seq, same stage)."""
        self._list_waiting(c)
        out: list[Action] = []
        if c.max_wait_due:  # max wait passed while it was ringing
            c.max_wait_due = False
            out += self._max_wait(c, now)
            if self._queues[c.home].max_wait_action is not MaxWaitAction.CALLBACK:
                return out  # overflow placed it already; flow removed it
        placed = self._place(c, now, "call_requeued")
        first = placed[0]
        if isinstance(first, act.Queued):
            e = first.explanation
            placed[0] = act.Queued(
                call_id=first.call_id,
                queue_id=first.queue_id,
                position=first.position,
                explanation=Explanation(
                    rule=e.rule,
                    now=now,
                    call_id=c.spec.call_id,
                    detail=f"{why}; back at original position {first.position}",
                    call_candidates=e.call_candidates,
                    eligible_levels=e.eligible_levels,
                ),
            )
        return out + placed

    def _remove_pending(self, c: _Call, now: float) -> list[Action]:
        """Drop a WAITING or OFFERED call; a ringing agent becomes available again."""
        out: list[Action] = []
        if c.overdue:
            self._sl[c.spec.tier_id].overdue_pending -= 1
        del self._calls[c.spec.call_id]
        if c.state is CallState.WAITING:
            self._unlist_waiting(c)
        elif c.agent_id is not None:
            agent = self._agents[c.agent_id]
            agent.call_id = None
            agent.state = AgentState.NOT_READY
            out += self._available(agent, now)
        return out

    # ------------------------------------------------------- agent selection

    def _available(self, agent: _Agent, now: float) -> list[Action]:
        """Direction (b): the agent is free; pick a waiting call or join the idle sets."""
        out: list[Action] = []
        agent.idle_since = now
        out.append(self._set_state(agent, AgentState.READY, None))
        found = self._find_call(agent, now)
        if found is None:
            self._make_idle(agent)
            return out
        c, explanation = found
        out += self._offer(c, agent, explanation)
        return out

    def _end_acw(self, agent: _Agent, now: float) -> list[Action]:
        agent.acw_token += 1
        if agent.pending_reason is not None:
            reason, agent.pending_reason = agent.pending_reason, None
            return [self._set_state(agent, AgentState.NOT_READY, reason)]
        return self._available(agent, now)

    def _find_call(self, agent: _Agent, now: float) -> tuple[_Call, Explanation] | None:
        """Among every queue the agent serves, the head per (queue, tier) it may take, then the
        configured selection across them (R-ROUTE-2, R-ROUTE-3)."""
        heads: list[tuple[_CallEntry, str, int]] = []  # (entry, listing queue, agent level)
        for skill, level in agent.spec.skills.items():
            for qid in self._queues_by_skill.get(skill, ()):
                per_tier = self._queues[qid].buckets
                empty_tiers: list[str] = []
                for tier, buckets in per_tier.items():
                    best: _CallEntry | None = None
                    dead: list[_ProfileKey] = []
                    for pkey, bucket in buckets.items():
                        if not self._agent_fits(
                            agent, skill, bucket.max_level, tier, bucket.extra_groups
                        ):
                            if bucket.live <= 0 and not bucket.heap:
                                dead.append(pkey)
                            continue
                        head = self._bucket_head(bucket)
                        if head is None:
                            dead.append(pkey)
                        elif best is None or head < best:
                            best = head
                    for pkey in dead:
                        del buckets[pkey]
                    if not buckets:
                        empty_tiers.append(tier)
                    if best is not None:
                        heads.append((best, qid, level))
                for tier in empty_tiers:
                    del per_tier[tier]
        if not heads:
            return None
        selection = self.config.selection
        figs: dict[str, SlFigures] = {}
        scored: list[tuple[tuple[float, ...], CallCandidate, _Call]] = []
        for entry, listing, level in heads:
            c = self._calls[entry[2]]
            tier = c.spec.tier_id
            f = figs.get(tier)
            if f is None:
                f = figs[tier] = self._sl[tier].figures(now)
            weight = self._tiers[tier].priority_weight
            prio = float(c.spec.priority)
            key: tuple[float, ...]
            if selection is CallSelection.SL_GAP:
                score = f.gap * weight if f.gap >= 0 else f.gap / weight
                key = (-score, -prio, c.seq, level)
            elif selection is CallSelection.FIFO:
                score = now - c.arrival
                key = (-prio, c.seq, level)
            else:
                score = weight
                key = (-weight, -prio, c.seq, level)
            scored.append((key, self._call_candidate(c, listing, now, f, score), c))
        scored.sort(key=lambda s: s[0])
        chosen = scored[0][2]
        explanation = Explanation(
            rule=f"agent_idle:{selection}",
            now=now,
            call_id=chosen.spec.call_id,
            agent_id=agent.spec.agent_id,
            detail=_SELECTION_DETAIL[selection],
            call_candidates=tuple(s[1] for s in scored),
        )
        return chosen, explanation

    def _call_candidate(
        self, c: _Call, listing: str, now: float, f: SlFigures, score: float
    ) -> CallCandidate:
        return CallCandidate(
            call_id=c.spec.call_id,
            queue_id=listing,
            home_queue=c.home,
            tier_id=c.spec.tier_id,
            priority=c.spec.priority,
            wait=now - c.arrival,
            sl_target=f.target,
            sl_achieved=f.achieved,
            sl_projected=f.projected,
            gap=f.gap,
            priority_weight=self._tiers[c.spec.tier_id].priority_weight,
            score=score,
        )

    def _set_state(self, agent: _Agent, state: AgentState, reason: str | None) -> Action:
        agent.state = state
        agent.reason = reason
        return act.AgentStateChanged(agent_id=agent.spec.agent_id, state=str(state), reason=reason)

    # ------------------------------------------------------------------ timers

    def _push_timer(self, at: float, kind: _Timer, obj_id: str, token: int) -> None:
        heapq.heappush(self._timers, (at, next(self._timer_seq), kind, obj_id, token))

    def _timer_valid(self, timer: tuple[float, int, _Timer, str, int]) -> bool:
        _, _, kind, obj_id, token = timer
        if kind is _Timer.ACW:
            agent = self._agents.get(obj_id)
            return agent is not None and agent.state is AgentState.ACW and agent.acw_token == token
        c = self._calls.get(obj_id)
        if c is None or c.state is CallState.CONNECTED:
            return False
        if kind is _Timer.OVERDUE:
            return not c.overdue
        return c.queue_gen == token

    def _advance(self, now: float) -> None:
        """Fire due timers in deadline order; their actions wait in ``_carry``."""
        if now < self._now - _EPS:
            raise ClockWentBackwards(f"now={now} is earlier than {self._now}")
        self._now = max(self._now, now)
        timers = self._timers
        while timers and timers[0][0] <= now:
            timer = heapq.heappop(timers)
            if self._timer_valid(timer):
                self._carry += self._fire(timer)

    def _flush(self, out: list[Action]) -> list[Action]:
        if not self._carry:
            return out
        carried, self._carry = self._carry, []
        return carried + out

    def _fire(self, timer: tuple[float, int, _Timer, str, int]) -> list[Action]:
        at, _, kind, obj_id, _ = timer
        if kind is _Timer.ACW:
            return self._end_acw(self._agents[obj_id], at)
        c = self._calls[obj_id]
        if kind is _Timer.OVERDUE:
            c.overdue = True
            self._sl[c.spec.tier_id].overdue_pending += 1
            return []
        if kind is _Timer.MAX_WAIT:
            if c.state is CallState.OFFERED:
                c.max_wait_due = True
                return []
            return self._max_wait(c, at)
        return self._widen(c, at)

    def _widen(self, c: _Call, at: float) -> list[Action]:
        queue = self._queues[c.home]
        rules = queue.spec.overflow
        c.stage += 1
        while c.stage < len(rules) and c.enter + rules[c.stage].after <= at:
            c.stage += 1
        if c.stage < len(rules):
            self._push_timer(
                c.enter + rules[c.stage].after, _Timer.STAGE, c.spec.call_id, c.queue_gen
            )
        stage = queue.stages[c.stage]
        explanation = Explanation(
            rule="overflow:widen",
            now=at,
            call_id=c.spec.call_id,
            detail=(
                f"waited {at - c.enter:.1f}s in {c.home}: levels<="
                f"{'all' if stage.max_level is None else stage.max_level},"
                f" extra groups {sorted(stage.groups)}, extra queues {list(stage.queues)}"
            ),
            eligible_levels=stage.max_level,
        )
        out: list[Action] = [
            act.Widened(
                call_id=c.spec.call_id, queue_id=c.home, stage=c.stage, explanation=explanation
            )
        ]
        if c.state is CallState.WAITING:
            self._unlist_waiting(c)
            self._list_waiting(c)
            placed = self._place(c, at, "call_widened")
            if isinstance(placed[-1], act.Offer):
                out += placed
        return out

    def _max_wait(self, c: _Call, at: float) -> list[Action]:
        queue = self._queues[c.home]
        action = queue.max_wait_action
        figs = self._sl[c.spec.tier_id].figures(at)
        candidate = self._call_candidate(c, c.home, at, figs, 0.0)
        if action is MaxWaitAction.CALLBACK:
            c.callback = True
            return [
                act.CallbackRequested(
                    call_id=c.spec.call_id,
                    queue_id=c.home,
                    explanation=Explanation(
                        rule="max_wait:callback",
                        now=at,
                        call_id=c.spec.call_id,
                        detail=(
                            f"waited {at - c.enter:.1f}s >= max_wait {queue.spec.max_wait}s;"
                            f" callback request keeps position "
                            f"{bisect.bisect_left(queue.order, c.seq) + 1}"
                        ),
                        call_candidates=(candidate,),
                    ),
                )
            ]
        if action is MaxWaitAction.FLOW:
            self._unlist_waiting(c)
            if c.overdue:
                self._sl[c.spec.tier_id].overdue_pending -= 1
            del self._calls[c.spec.call_id]
            return [
                act.LeftQueue(
                    call_id=c.spec.call_id,
                    queue_id=c.home,
                    explanation=Explanation(
                        rule="max_wait:flow",
                        now=at,
                        call_id=c.spec.call_id,
                        detail=f"waited {at - c.enter:.1f}s >= max_wait; back to the flow",
                        call_candidates=(candidate,),
                    ),
                )
            ]
        assert queue.overflow_target is not None
        target = self._queues[queue.overflow_target]
        from_queue = c.home
        self._unlist_waiting(c)
        self._enter_queue(c, target, at)
        out: list[Action] = [
            act.Overflowed(
                call_id=c.spec.call_id,
                from_queue=from_queue,
                to_queue=target.spec.queue_id,
                explanation=Explanation(
                    rule="max_wait:overflow",
                    now=at,
                    call_id=c.spec.call_id,
                    detail=(
                        f"waited {at - c.enter:.1f}s in {from_queue} >= max_wait; moved to"
                        f" {target.spec.queue_id} keeping its arrival order"
                    ),
                    call_candidates=(candidate,),
                ),
            )
        ]
        out += self._place(c, at, "call_overflowed")
        return out


_SELECTION_DETAIL = {
    CallSelection.SL_GAP: (
        "largest weighted SL deficit first (score = w*gap if gap>=0 else gap/w, "
        "gap = target - projected SL); then call priority, longest wait, agent level"
    ),
    CallSelection.FIFO: "call priority, then oldest call across the agent's queues",
    CallSelection.STATIC_PRIORITY: (
        "highest tier priority_weight, then call priority, then oldest call"
    ),
}
