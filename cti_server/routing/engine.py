"""The routing engine: a synchronous, I/O-free state machine (R-ROUTE-1..5).

Every event method takes ``now`` (monotonic seconds from the caller's clock)
and returns the list of actions the caller must carry out. Timers (overflow
stages, max wait, ACW timeouts) are processed by ``tick(now)`` and, for
consistency, at the start of every other event; ``next_deadline()`` says when
``tick`` is due. See docs/routing.md for the semantics.

Indexes (no event scans all agents or all calls):

- idle agents: one heap per ``(skill, level, agent group)`` plus one per
  ``(skill, level)`` for tiers open to every agent, keyed by the agent order;
  lazy deletion with a per-agent token, compacted when mostly stale;
- waiting calls: per queue, per tier, one heap ("bucket") per eligibility
  profile ``(level limit, extra groups)`` ordered by ``(-priority, arrival)``;
  all calls of a bucket are eligible for exactly the same agents, so its head is
  the only candidate of that bucket;
- service level: a deque of outcomes per tier with running counts, and the
  sorted SL deadlines of the tier's pending calls (the overdue count is a bisect).

Hot-path notes: each call, agent and heap entry holds direct object references
(no id look-ups), per-stage eligibility profiles, bucket lists and agent search
plans are computed once and cached, agent-state actions without a reason are
cached per agent (they are immutable), and with ``EngineConfig(explain=False)``
no explanation, candidate or SL-figure object is built.
"""

from __future__ import annotations

import bisect
import heapq
import itertools
from collections.abc import Iterable, Iterator
from enum import IntEnum
from typing import cast

from . import actions as act
from .actions import (
    NOT_EXPLAINED,
    Action,
    AgentCandidate,
    CallCandidate,
    Explanation,
    new_offer,
    new_queued,
    new_state_changed,
)
from .errors import (
    ClockWentBackwards,
    ConfigError,
    DuplicateId,
    InUse,
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

_READY = AgentState.READY
_RESERVED = AgentState.RESERVED
_BUSY = AgentState.BUSY
_ACW = AgentState.ACW
_NOT_READY = AgentState.NOT_READY
_WAITING = CallState.WAITING
_OFFERED = CallState.OFFERED
_CONNECTED = CallState.CONNECTED

# (order key 1, order key 2, agent_id, token, agent); entries of one agent differ in token
type _IdleEntry = tuple[float, float, str, int, _Agent]
# (-priority, seq, call_id, token, call); seq is unique per call
type _CallEntry = tuple[int, int, str, int, _Call]
# (deadline, seq, kind, agent or call, token)
type _TimerEntry = tuple[float, int, _Timer, object, int]
# (skill, level limit, extra groups, listing queue)
type _Profile = tuple[str, int | None, frozenset[str], str]
# (skill, level limit, listing queue, idle-heap group keys)
type _SearchStep = tuple[str, int | None, str, tuple[str | None, ...]]


class _Timer(IntEnum):
    STAGE = 0
    MAX_WAIT = 1
    ACW = 3


class _IdleHeap:
    __slots__ = ("heap", "live")

    def __init__(self) -> None:
        self.heap: list[_IdleEntry] = []
        self.live = 0  # valid entries (agents idle in this heap)


class _Bucket:
    """Waiting calls of one (listing queue, tier) with identical eligibility."""

    __slots__ = (
        "allowed",
        "extra_groups",
        "heap",
        "live",
        "max_level",
        "owner",
        "restricted",
        "skill",
        "tier",
    )

    def __init__(
        self,
        owner: _Queue,
        tier: str,
        *,
        skill: str,
        max_level: int | None,
        extra_groups: frozenset[str],
        serving: frozenset[str],
    ) -> None:
        self.owner = owner
        self.tier = tier
        self.skill = skill
        self.max_level = max_level
        self.extra_groups = extra_groups
        self.heap: list[_CallEntry] = []
        self.live = 0  # valid entries (calls waiting in this bucket)
        self.restricted = False
        self.allowed: frozenset[str] = frozenset()
        self.set_serving(serving)

    def set_serving(self, serving: frozenset[str]) -> None:
        """The groups serving the tier changed: an agent fits if the tier is open to all
        (no serving group) or one of its groups serves the tier or was added by overflow."""
        self.restricted = bool(serving)
        self.allowed = serving | self.extra_groups


class _Stage:
    __slots__ = ("buckets", "groups", "max_level", "profiles", "queues", "search")

    def __init__(
        self, max_level: int | None, groups: frozenset[str], queues: tuple[str, ...]
    ) -> None:
        self.max_level = max_level
        self.groups = groups
        self.queues = queues
        self.profiles: tuple[_Profile, ...] | None = None  # computed once refs are checked
        self.buckets: dict[str, tuple[_Bucket, ...]] = {}  # tier -> buckets of a call
        self.search: dict[str, tuple[_SearchStep, ...]] = {}  # tier -> agent search plan


class _Queue:
    __slots__ = (
        "acw",
        "bucket_index",
        "buckets",
        "checked",
        "first_stage",
        "listed",
        "max_wait",
        "max_wait_action",
        "order",
        "overflow_target",
        "queue_id",
        "ringing",
        "rules",
        "skill",
        "spec",
        "stages",
        "timed",
    )

    def __init__(
        self,
        spec: QueueSpec,
        stages: list[_Stage],
        max_wait_action: MaxWaitAction,
        overflow_target: str | None,
    ) -> None:
        self.spec = spec
        self.queue_id = spec.queue_id
        self.skill = spec.skill
        self.acw = spec.acw_seconds
        self.max_wait = spec.max_wait
        self.rules = spec.overflow
        self.first_stage = sum(1 for r in spec.overflow if r.after <= 0)
        self.timed = self.first_stage < len(spec.overflow) or spec.max_wait is not None
        self.stages = stages
        self.max_wait_action = max_wait_action
        self.overflow_target = overflow_target
        self.buckets: dict[str, list[_Bucket]] = {}  # tier -> buckets listed here
        self.bucket_index: dict[tuple[str, int | None, frozenset[str]], _Bucket] = {}
        self.listed = 0  # live entries over all buckets listed here
        self.order: list[int] = []  # seqs of waiting calls homed here
        self.ringing: dict[str, _Call] = {}  # offered calls homed here
        self.checked = False


class _Agent:
    __slots__ = (
        "acw_token",
        "agent_id",
        "call_id",
        "calls",
        "groups",
        "idle",
        "idle_heaps",
        "idle_since",
        "idle_token",
        "index",
        "last_offer",
        "on_acw",
        "on_busy",
        "on_ready",
        "on_reserved",
        "pending_reason",
        "reason",
        "skills",
        "spec",
        "state",
        "talk",
    )

    def __init__(self, spec: AgentSpec, index: int) -> None:
        self.spec = spec
        self.index = index
        self.agent_id = spec.agent_id
        self.skills: dict[str, int] = dict(spec.skills)
        self.groups = spec.groups
        self.state = AgentState.LOGGED_OUT
        self.reason: str | None = None
        self.pending_reason: str | None = None  # not ready requested while busy
        self.idle_since = 0.0
        self.idle_token = 0
        self.idle = False  # entries pushed into idle_heaps
        self.idle_heaps: tuple[_IdleHeap, ...] = ()
        self.last_offer = 0
        self.calls = 0
        self.talk = 0.0
        self.call_id: str | None = None
        self.acw_token = 0
        # The frequent state changes carry no reason: one immutable action each, reused.
        agent_id = spec.agent_id
        self.on_ready = new_state_changed(agent_id, _READY.value, None)
        self.on_reserved = new_state_changed(agent_id, _RESERVED.value, None)
        self.on_busy = new_state_changed(agent_id, _BUSY.value, None)
        self.on_acw = new_state_changed(agent_id, _ACW.value, None)


class _Call:
    __slots__ = (
        "agent_id",
        "answered_at",
        "arrival",
        "buckets",
        "call_id",
        "callback",
        "deadline",
        "enter",
        "home",
        "max_wait_due",
        "priority",
        "queue",
        "queue_gen",
        "seq",
        "spec",
        "stage",
        "state",
        "tier_id",
        "token",
        "window",
    )

    def __init__(
        self, spec: CallSpec, seq: int, now: float, queue: _Queue, window: ServiceLevelWindow
    ) -> None:
        self.spec = spec
        self.call_id = spec.call_id
        self.tier_id = spec.tier_id
        self.priority = spec.priority
        self.seq = seq
        self.arrival = now
        self.queue = queue  # home queue
        self.home = queue.queue_id
        self.enter = now
        self.window = window
        self.deadline = now + window.sl_seconds  # SL deadline (overdue after it)
        self.state = _WAITING
        self.stage = queue.first_stage  # as if entered by RoutingEngine._enter_queue
        self.token = 0
        self.queue_gen = 1
        self.buckets: tuple[_Bucket, ...] = ()  # non-empty while listed as waiting
        self.agent_id: str | None = None
        self.callback = False
        self.max_wait_due = False
        self.answered_at = 0.0


class RoutingEngine:
    """Skill/level/tier routing with SL-gap call selection. Pure and synchronous."""

    def __init__(self, config: EngineConfig | None = None) -> None:
        self.config = config or EngineConfig()
        self._explain = self.config.explain
        self._selection = self.config.selection
        self._longest_idle = self.config.order is AgentOrder.LONGEST_IDLE
        self._tiers: dict[str, TierSpec] = {}
        self._sl: dict[str, ServiceLevelWindow] = {}
        self._groups: dict[str, AgentGroupSpec] = {}
        self._tier_groups: dict[str, frozenset[str]] = {}
        self._queues: dict[str, _Queue] = {}
        self._queues_by_skill: dict[str, list[_Queue]] = {}
        self._agents: dict[str, _Agent] = {}
        self._calls: dict[str, _Call] = {}
        self._idle: dict[tuple[str, int, str | None], _IdleHeap] = {}
        self._level_counts: dict[str, dict[int, int]] = {}
        self._group_members: dict[str, int] = {}  # agents per agent group
        self._levels: dict[str, list[int]] = {}
        self._timers: list[_TimerEntry] = []
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
        """Change a tier's SL target/seconds/weight; its outcome window is kept (calls
        already waiting keep the SL deadline they had on arrival)."""
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
        for queue in self._queues.values():
            for bucket in queue.bucket_index.values():
                bucket.set_serving(self._tier_groups[bucket.tier])
            for stage in queue.stages:
                stage.search.clear()

    def add_queue(self, spec: QueueSpec) -> None:
        """Add a queue. Overflow targets may be added later; they are checked on first call."""
        if spec.queue_id in self._queues:
            raise DuplicateId(f"queue {spec.queue_id} already exists")
        queue = self._build_queue(spec)
        self._queues[spec.queue_id] = queue
        self._queues_by_skill.setdefault(spec.skill, []).append(queue)

    def _build_queue(self, spec: QueueSpec) -> _Queue:
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
        return _Queue(spec, stages, action, target)

    def add_agent(self, spec: AgentSpec) -> None:
        if spec.agent_id in self._agents:
            raise DuplicateId(f"agent {spec.agent_id} already exists")
        self._check_agent_groups(spec)
        agent = _Agent(spec, next(self._agent_seq))
        self._index_agent(agent)
        self._agents[spec.agent_id] = agent
        self._count_levels(spec, +1)
        self._count_members(spec, +1)

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
        was_ready = agent.state is _READY
        if was_ready:
            self._leave_idle(agent)
        self._count_levels(agent.spec, -1)
        self._count_members(agent.spec, -1)
        agent.spec = spec
        agent.skills = dict(spec.skills)
        agent.groups = spec.groups
        self._index_agent(agent)
        self._count_levels(spec, +1)
        self._count_members(spec, +1)
        if was_ready:
            self._available(agent, now, out)
        return self._flush(out)

    def remove_agent(self, agent_id: str) -> None:
        agent = self._agent(agent_id)
        if agent.state is not AgentState.LOGGED_OUT:
            raise InvalidTransition(f"agent {agent_id} must be logged out to be removed")
        self._count_levels(agent.spec, -1)
        self._count_members(agent.spec, -1)
        del self._agents[agent_id]

    # ------------------------------------------------------- live configuration
    # Changes while calls are routed (the administration console applies them live).
    # Each touches only what the change concerns: the queue's own buckets and calls, the
    # buckets of the tiers whose serving groups changed; never every agent or call.

    def update_queue(self, spec: QueueSpec, now: float) -> list[Action]:
        """Replace a queue's definition (skill, level limit, overflow rules, max wait and
        its action, calendar, ACW) while calls are routed.

        Calls waiting in the queue stay queued in their order, with their arrival, SL
        deadline and the time they entered the queue: their overflow stage and timers are
        recomputed under the new rules as if those had applied since they entered (a max
        wait already passed acts now). Calls ringing keep ringing under the new rules;
        connected calls get the new ACW when they end. Calls of other queues that list
        this one through overflow follow its new skill and level limit. Agents who may
        take a waiting call under the new definition are offered it at once.

        References (overflow groups and queues, the max-wait target) must exist: nothing
        changes if one does not (``UnknownGroup`` / ``UnknownQueue`` / ``ConfigError``)."""
        self._advance(now)
        queue = self._queue(spec.queue_id)
        fresh = self._build_queue(spec)
        fresh.checked = False
        self._check_queue_refs(fresh, set())  # before any change: raises on a bad reference
        queue_id = queue.queue_id
        homed, foreign = self._listed_in(queue)
        for c in homed:
            self._unlist_waiting(c)
        for c in foreign:
            self._unlist_waiting(c)
        assert queue.listed == 0
        if fresh.skill != queue.skill:
            self._queues_by_skill[queue.skill].remove(queue)
            self._queues_by_skill.setdefault(fresh.skill, []).append(queue)
        queue.spec = fresh.spec
        queue.skill = fresh.skill
        queue.acw = fresh.acw
        queue.max_wait = fresh.max_wait
        queue.rules = fresh.rules
        queue.first_stage = fresh.first_stage
        queue.timed = fresh.timed
        queue.stages = fresh.stages
        queue.max_wait_action = fresh.max_wait_action
        queue.overflow_target = fresh.overflow_target
        queue.checked = True
        queue.buckets = {}
        queue.bucket_index = {}
        for other in self._queues.values():  # their cached profiles name our skill/level
            if other is not queue:
                for stage in other.stages:
                    if queue_id in stage.queues:
                        stage.profiles = None
                        stage.buckets.clear()
                        stage.search.clear()
        for c in homed:
            self._restage(c, now)
        for c in list(queue.ringing.values()):
            self._restage(c, now)
        buckets: dict[int, _Bucket] = {}
        for c in sorted((*homed, *foreign), key=lambda c: c.seq):
            self._list_waiting(c)
            for bucket in c.buckets:
                buckets[id(bucket)] = bucket
        self._advance(now)  # a max wait already passed under the new rules acts now
        out: list[Action] = []
        self._drain(buckets.values(), now, "queue_changed", out)
        return self._flush(out)

    def update_agent_group(self, spec: AgentGroupSpec, now: float) -> list[Action]:
        """Change the tiers an agent group serves while calls are routed (R-SKILL-3).

        Waiting calls of the tiers concerned stay queued in their order; agents who may
        take one now (their group serves its tier, or a tier is no longer served by any
        group and so open to all) are offered it at once. Agents no longer eligible keep
        the calls they have."""
        self._advance(now)
        old = self._groups.get(spec.group_id)
        if old is None:
            raise UnknownGroup(f"unknown agent group {spec.group_id!r}")
        for tier in spec.tiers:
            self._tier(tier)
        group_id = spec.group_id
        self._groups[group_id] = spec
        for tier in old.tiers - spec.tiers:
            self._tier_groups[tier] = self._tier_groups[tier] - {group_id}
        for tier in spec.tiers - old.tiers:
            self._tier_groups[tier] = self._tier_groups[tier] | {group_id}
        out: list[Action] = []
        changed = old.tiers ^ spec.tiers
        if changed:
            self._drain(self._serving_changed(changed), now, "groups_changed", out)
        return self._flush(out)

    def remove_queue(self, queue_id: str) -> None:
        """Remove a queue. Refused (``InUse``) while calls wait or ring in it
        (``queue_has_calls``) or while another queue overflows to it
        (``queue_referenced``). Connected calls of the queue end normally."""
        queue = self.check_remove_queue(queue_id)
        del self._queues[queue_id]
        self._queues_by_skill[queue.skill].remove(queue)

    def check_remove_queue(self, queue_id: str) -> _Queue:
        """Raise what :meth:`remove_queue` would raise; change nothing."""
        queue = self._queue(queue_id)
        if queue.order or queue.ringing:
            waiting, ringing = len(queue.order), len(queue.ringing)
            raise InUse(
                f"queue {queue_id} has {waiting} waiting and {ringing} ringing call(s)",
                code="queue_has_calls",
                blockers=(str(waiting + ringing),),
            )
        refs = tuple(
            sorted(
                other.queue_id
                for other in self._queues.values()
                if other is not queue
                and (
                    other.overflow_target == queue_id
                    or any(queue_id in stage.queues for stage in other.stages)
                )
            )
        )
        if refs:
            raise InUse(
                f"queue {queue_id} is an overflow target of {', '.join(refs)}",
                code="queue_referenced",
                blockers=refs,
            )
        return queue

    def remove_tier(self, tier_id: str) -> None:
        """Remove a tier. Refused (``InUse``) while calls of the tier wait or ring
        (``tier_has_calls``) or while an agent group serves it (``tier_served``)."""
        self.check_remove_tier(tier_id)
        del self._tiers[tier_id]
        del self._sl[tier_id]
        self._tier_groups.pop(tier_id, None)
        for queue in self._queues.values():
            queue.buckets.pop(tier_id, None)
            for key in [k for k in queue.bucket_index if k[0] == tier_id]:
                del queue.bucket_index[key]
            for stage in queue.stages:
                stage.buckets.pop(tier_id, None)
                stage.search.pop(tier_id, None)

    def check_remove_tier(self, tier_id: str, *, served_ok: bool = False) -> None:
        """Raise what :meth:`remove_tier` would raise (``served_ok``: except
        ``tier_served``, for a caller that drops the serving groups first)."""
        self._tier(tier_id)
        pending = self._sl[tier_id].pending
        if pending:
            raise InUse(
                f"tier {tier_id} has {pending} waiting or ringing call(s)",
                code="tier_has_calls",
                blockers=(str(pending),),
            )
        served = tuple(sorted(self._tier_groups.get(tier_id, ())))
        if served and not served_ok:
            raise InUse(
                f"tier {tier_id} is served by agent group(s) {', '.join(served)}",
                code="tier_served",
                blockers=served,
            )

    def remove_agent_group(self, group_id: str, now: float) -> list[Action]:
        """Remove an agent group. Refused (``InUse``) while agents belong to it
        (``group_has_members``) or a queue's overflow adds it (``group_referenced``).
        A tier it alone served becomes open to every agent: waiting calls of that tier
        may be offered at once."""
        self._advance(now)
        spec = self.check_remove_agent_group(group_id)
        del self._groups[group_id]
        for tier in spec.tiers:
            self._tier_groups[tier] = self._tier_groups[tier] - {group_id}
        out: list[Action] = []
        if spec.tiers:
            self._drain(self._serving_changed(spec.tiers), now, "groups_changed", out)
        return self._flush(out)

    def check_remove_agent_group(
        self, group_id: str, *, members_ok: bool = False
    ) -> AgentGroupSpec:
        """Raise what :meth:`remove_agent_group` would raise (``members_ok``: except
        ``group_has_members``, for a caller that moves the members out first)."""
        spec = self._groups.get(group_id)
        if spec is None:
            raise UnknownGroup(f"unknown agent group {group_id!r}")
        members = self._group_members.get(group_id, 0)
        if members and not members_ok:
            raise InUse(
                f"agent group {group_id} has {members} member(s)",
                code="group_has_members",
                blockers=(str(members),),
            )
        refs = tuple(
            sorted(
                queue.queue_id
                for queue in self._queues.values()
                if any(group_id in stage.groups for stage in queue.stages)
            )
        )
        if refs:
            raise InUse(
                f"agent group {group_id} is added by the overflow of {', '.join(refs)}",
                code="group_referenced",
                blockers=refs,
            )
        return spec

    def queue_spec(self, queue_id: str) -> QueueSpec:
        """The definition the engine routes the queue by."""
        return self._queue(queue_id).spec

    def group_tiers(self, group_id: str) -> frozenset[str]:
        """The tiers the engine lets this agent group serve."""
        spec = self._groups.get(group_id)
        if spec is None:
            raise UnknownGroup(f"unknown agent group {group_id!r}")
        return spec.tiers

    def _listed_in(self, queue: _Queue) -> tuple[list[_Call], list[_Call]]:
        """Waiting calls listed in the queue's buckets: those homed there and those of
        other queues listed there by overflow (O(entries of this queue's buckets))."""
        homed: list[_Call] = []
        foreign: list[_Call] = []
        for bucket in queue.bucket_index.values():
            for entry in bucket.heap:
                c = entry[4]
                if c.token == entry[3] and c.state is _WAITING:
                    (homed if c.queue is queue else foreign).append(c)
        return homed, foreign

    def _restage(self, c: _Call, now: float) -> None:
        """The call's overflow stage and timers under its home queue's current rules,
        counted from when it entered the queue (old timers are voided)."""
        queue = c.queue
        rules = queue.rules
        c.queue_gen += 1
        c.max_wait_due = False
        stage = 0
        while stage < len(rules) and c.enter + rules[stage].after <= now:
            stage += 1
        c.stage = stage
        if stage < len(rules):
            self._push_timer(c.enter + rules[stage].after, _Timer.STAGE, c, c.queue_gen)
        if queue.max_wait is not None and not c.callback:
            due = max(c.enter + queue.max_wait, now)
            self._push_timer(due, _Timer.MAX_WAIT, c, c.queue_gen)

    def _serving_changed(self, tiers: frozenset[str]) -> list[_Bucket]:
        """The groups serving these tiers changed: their buckets' eligibility and the
        cached agent-search plans follow. Returns the buckets concerned."""
        buckets: list[_Bucket] = []
        for queue in self._queues.values():
            for tier in tiers:
                for bucket in queue.buckets.get(tier, ()):
                    bucket.set_serving(self._tier_groups[tier])
                    buckets.append(bucket)
            for stage in queue.stages:
                for tier in tiers:
                    stage.search.pop(tier, None)
        return buckets

    def _drain(
        self, buckets: Iterable[_Bucket], now: float, trigger: str, out: list[Action]
    ) -> None:
        """Offer waiting calls of these buckets to idle agents who may take them now,
        oldest (by priority, then arrival) first. All calls of a bucket are eligible for
        the same agents through it, so a head no idle agent takes blocks its bucket:
        O(buckets + offers) agent searches."""
        heads: list[tuple[_CallEntry, int, _Bucket]] = []
        for i, bucket in enumerate(buckets):
            head = _bucket_head(bucket)
            if head is not None:
                heads.append((head, i, bucket))
        heapq.heapify(heads)
        explain = self._explain
        while heads:
            head, i, bucket = heapq.heappop(heads)
            c = head[4]
            if c.token == head[3] and c.state is _WAITING:
                found = self._find_agent(c, explain)
                if found is None:
                    continue  # nobody idle fits this bucket's calls
                self._offer_found(c, now, trigger, found, out)
            nxt = _bucket_head(bucket)
            if nxt is not None:
                heapq.heappush(heads, (nxt, i, bucket))

    # ------------------------------------------------------------ agent events
    # Each event first processes due timers (their actions come first in the
    # result; if the event itself is then rejected they are returned by the
    # next call), then validates the event against the current state.

    def agent_login(self, agent_id: str, now: float) -> list[Action]:
        """Logged out -> not ready (reason "login")."""
        self._advance(now)
        agent = self._agent(agent_id)
        self._require(agent, (AgentState.LOGGED_OUT,), "login")
        return self._flush([self._set_state(agent, _NOT_READY, "login")])

    def agent_ready(self, agent_id: str, now: float) -> list[Action]:
        """Not ready / ACW -> ready; may yield an Offer at once (direction b).

        Ready while already ready is a no-op, and so is a ready that races an ACW
        timeout which already made the agent ready (or reserved)."""
        agent = self._agent(agent_id)
        before = agent.state
        self._advance(now)
        if agent.state is _READY or (before is _ACW and agent.state is not _ACW):
            return self._flush([])
        self._require(agent, (_NOT_READY, _ACW), "ready")
        agent.pending_reason = None
        agent.acw_token += 1
        out: list[Action] = []
        self._available(agent, now, out)
        return self._flush(out)

    def agent_not_ready(self, agent_id: str, reason: str, now: float) -> list[Action]:
        """Ready / not ready / ACW -> not ready with a reason. While busy the request is
        kept and applied when the call and its ACW end."""
        self._advance(now)
        agent = self._agent(agent_id)
        self._require(agent, (_READY, _NOT_READY, _ACW, _BUSY), "not_ready")
        if agent.state is _BUSY:
            agent.pending_reason = reason
            return self._flush([])
        if agent.state is _READY:
            self._leave_idle(agent)
        agent.acw_token += 1
        return self._flush([self._set_state(agent, _NOT_READY, reason)])

    def agent_logout(self, agent_id: str, now: float) -> list[Action]:
        """Ready / not ready / ACW -> logged out (not while reserved or busy)."""
        self._advance(now)
        agent = self._agent(agent_id)
        self._require(agent, (_READY, _NOT_READY, _ACW), "logout")
        if agent.state is _READY:
            self._leave_idle(agent)
        agent.acw_token += 1
        agent.pending_reason = None
        return self._flush([self._set_state(agent, AgentState.LOGGED_OUT, None)])

    def acw_done(self, agent_id: str, now: float) -> list[Action]:
        """ACW -> ready (or the pending not-ready reason); may yield an Offer."""
        agent = self._agent(agent_id)
        before = agent.state
        self._advance(now)
        if before is _ACW and agent.state is not _ACW:
            return self._flush([])  # the ACW timeout got there first
        self._require(agent, (_ACW,), "acw_done")
        out: list[Action] = []
        self._end_acw(agent, now, out)
        return self._flush(out)

    # ------------------------------------------------------------- call events

    def call_arrived(self, call: CallSpec, now: float) -> list[Action]:
        """A call enters its queue: Offer to the best idle agent, else Queued (R-ROUTE-1).

        The engine does not look at the queue's calendar: the flow asks
        ``queue_open`` and decides what a closed queue means."""
        timers = self._timers
        if now < self._now or (timers and timers[0][0] <= now):
            self._advance(now)
        else:
            self._now = now
        if call.call_id in self._calls:
            raise DuplicateId(f"call {call.call_id} already exists", code="duplicate_call")
        queue = self._queues.get(call.queue_id) or self._queue(call.queue_id)
        window = self._sl.get(call.tier_id) or self._sl[self._tier(call.tier_id).tier_id]
        if not queue.checked:
            self._check_queue_refs(queue, set())
        c = _Call(call, next(self._call_seq), now, queue, window)
        self._calls[c.call_id] = c
        window.add_pending(c.deadline)
        if queue.timed:
            self._start_timers(c, queue, now)
        out: list[Action] = []
        self._place(c, now, "call_arrival", out)
        return self._flush(out) if self._carry else out

    def offer_accepted(self, call_id: str, agent_id: str, now: float) -> list[Action]:
        """The agent answered: agent busy; the wait is recorded in the tier's SL window."""
        timers = self._timers
        if now < self._now or (timers and timers[0][0] <= now):
            self._advance(now)
        else:
            self._now = now
        c = self._calls.get(call_id)
        agent = self._agents.get(agent_id)
        if c is None or agent is None or c.state is not _OFFERED or c.agent_id != agent_id:
            c, agent = self._offered_pair(call_id, agent_id)  # raises the typed error
        c.state = _CONNECTED
        c.answered_at = now
        del c.queue.ringing[call_id]
        window = c.window
        window.drop_pending(c.deadline)
        window.record(now, now - c.arrival <= window.sl_seconds + _EPS)
        agent.state = _BUSY
        agent.reason = None
        out: list[Action] = [agent.on_busy]
        return self._flush(out) if self._carry else out

    def offer_failed(
        self, call_id: str, agent_id: str, now: float, reason: str = "no_answer"
    ) -> list[Action]:
        """Ring-no-answer (or reject/error): the agent goes not ready (configurable) and
        the call goes back to its original position, possibly to another agent."""
        self._advance(now)
        c, agent = self._offered_pair(call_id, agent_id)
        agent.call_id = None
        c.agent_id = None
        del c.queue.ringing[call_id]
        out: list[Action] = []
        if self.config.rona_to_not_ready:
            nr = self.config.rona_reason if reason == "no_answer" else reason
            out.append(self._set_state(agent, _NOT_READY, nr))
        else:
            agent.state = _NOT_READY  # out of the way while the call is re-placed
        self._requeue(c, now, f"offer to {agent_id} failed: {reason}", out)
        if not self.config.rona_to_not_ready:
            self._available(agent, now, out)
        return self._flush(out)

    def call_abandoned(self, call_id: str, now: float) -> list[Action]:
        """The caller hung up while waiting or ringing; counts as an SL miss (unless
        shorter than ``short_abandon_seconds``). A ringing agent becomes ready."""
        timers = self._timers
        if now < self._now or (timers and timers[0][0] <= now):
            self._advance(now)
        else:
            self._now = now
        c = self._call(call_id)
        if c.state is _CONNECTED:
            raise InvalidTransition(f"call {call_id} is connected: use call_ended")
        if now - c.arrival >= self.config.short_abandon_seconds:
            c.window.record(now, False)
        out: list[Action] = []
        self._remove_pending(c, now, out)
        return self._flush(out) if self._carry else out

    def call_withdrawn(self, call_id: str, now: float) -> list[Action]:
        """The flow took a waiting/ringing call out of the queue; no SL outcome."""
        self._advance(now)
        c = self._call(call_id)
        if c.state is _CONNECTED:
            raise InvalidTransition(f"call {call_id} is connected: use call_ended")
        out: list[Action] = []
        self._remove_pending(c, now, out)
        return self._flush(out)

    def call_ended(self, call_id: str, now: float) -> list[Action]:
        """A connected call ended: the agent goes to after-call work for the queue's
        ``acw_seconds`` (a timer), or straight to ready when 0 (may yield an Offer)."""
        timers = self._timers
        if now < self._now or (timers and timers[0][0] <= now):
            self._advance(now)
        else:
            self._now = now
        c = self._calls.get(call_id) or self._call(call_id)
        agent_id = c.agent_id
        if c.state is not _CONNECTED or agent_id is None:
            raise InvalidTransition(f"call {call_id} is {c.state}, not connected")
        del self._calls[call_id]
        agent = self._agents[agent_id]
        agent.call_id = None
        agent.calls += 1
        agent.talk += now - c.answered_at
        acw = c.queue.acw
        out: list[Action] = []
        agent.acw_token += 1
        if acw > 0:
            self._push_timer(now + acw, _Timer.ACW, agent, agent.acw_token)
            agent.state = _ACW
            agent.reason = None
            out.append(agent.on_acw)
        elif agent.pending_reason is not None:  # ACW of 0 s ends at once
            reason, agent.pending_reason = agent.pending_reason, None
            out.append(self._set_state(agent, _NOT_READY, reason))
        else:
            self._available(agent, now, out)
        return self._flush(out) if self._carry else out

    def tick(self, now: float) -> list[Action]:
        """Process every timer due at or before ``now`` (each at its own deadline)."""
        self._advance(now)
        return self._flush([])

    def next_deadline(self) -> float | None:
        """When ``tick`` is next due: the earliest timer (overflow stage, max wait, ACW end)
        or SL deadline of a pending call (its tier's overdue count changes then)."""
        deadline = self.next_action_deadline()
        after = self._now
        for window in self._sl.values():
            d = window.next_deadline(after)
            if d is not None and (deadline is None or d < deadline):
                deadline = d
        return deadline

    def next_action_deadline(self) -> float | None:
        """The earliest timer that can produce actions (overflow stage, max wait, ACW end).

        Unlike :meth:`next_deadline` it ignores SL deadlines: they produce no action and
        every event and query accounts for them at their exact time, so a caller that only
        needs to act on timers (the simulator) may tick at this instant instead."""
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
        if c.state is not _WAITING:
            raise InvalidTransition(f"call {call_id} is {c.state}, not waiting")
        return bisect.bisect_left(c.queue.order, c.seq) + 1

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
            self._agent_fits(agent, skill, max_level, c.tier_id, groups)
            for skill, max_level, groups, _ in self._profiles(c)
        )

    def idle_agents(self) -> Iterator[str]:
        """Ids of agents in READY (O(agents); for supervision and tests)."""
        return (a for a, s in self._agents.items() if s.state is _READY)

    def waiting_calls(self) -> Iterator[str]:
        """Ids of waiting calls (O(calls); for supervision and tests)."""
        return (c for c, s in self._calls.items() if s.state is _WAITING)

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
        if queue.checked or queue.queue_id in seen:
            return
        seen.add(queue.queue_id)
        last = queue.stages[-1]
        for group in last.groups:
            if group not in self._groups:
                raise UnknownGroup(f"queue {queue.queue_id}: overflow to unknown group {group!r}")
        targets = [*last.queues]
        if queue.overflow_target is not None:
            targets.append(queue.overflow_target)
        for target in targets:
            if target not in self._queues:
                raise UnknownQueue(f"queue {queue.queue_id}: overflow to unknown queue {target!r}")
            self._check_queue_refs(self._queues[target], seen)
        queue.checked = True

    def _require(self, agent: _Agent, allowed: tuple[AgentState, ...], event: str) -> None:
        if agent.state not in allowed:
            raise InvalidTransition(
                f"agent {agent.agent_id}: {event} not allowed in state {agent.state}"
            )

    def _offered_pair(self, call_id: str, agent_id: str) -> tuple[_Call, _Agent]:
        c = self._calls.get(call_id) or self._call(call_id)
        agent = self._agents.get(agent_id) or self._agent(agent_id)
        if c.state is not _OFFERED or c.agent_id != agent_id:
            raise InvalidTransition(
                f"call {call_id} is not offered to agent {agent_id}", code="not_offered"
            )
        return c, agent

    def _count_members(self, spec: AgentSpec, delta: int) -> None:
        members = self._group_members
        for group in spec.groups:
            count = members.get(group, 0) + delta
            if count > 0:
                members[group] = count
            else:
                members.pop(group, None)

    def _count_levels(self, spec: AgentSpec, delta: int) -> None:
        for skill, level in spec.skills.items():
            counts = self._level_counts.setdefault(skill, {})
            counts[level] = counts.get(level, 0) + delta
            if counts[level] <= 0:
                del counts[level]
            self._levels[skill] = sorted(counts)

    # ------------------------------------------------------------ agent idle

    def _index_agent(self, agent: _Agent) -> None:
        """The idle heaps the agent joins when idle: per skill level, open + each group."""
        heaps: list[_IdleHeap] = []
        for skill, level in agent.skills.items():
            for group in (None, *agent.groups):
                key = (skill, level, group)
                heap = self._idle.get(key)
                if heap is None:
                    heap = self._idle[key] = _IdleHeap()
                heaps.append(heap)
        agent.idle_heaps = tuple(heaps)

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
        if self._longest_idle:
            entry: _IdleEntry = (
                agent.idle_since,
                agent.index,
                agent.agent_id,
                agent.idle_token,
                agent,
            )
        else:
            k1, k2 = self._order_key(agent)
            entry = (k1, k2, agent.agent_id, agent.idle_token, agent)
        push = heapq.heappush
        for heap in agent.idle_heaps:
            push(heap.heap, entry)
            heap.live += 1
        agent.idle = True

    def _leave_idle(self, agent: _Agent) -> None:
        agent.idle_token += 1
        if not agent.idle:
            return
        agent.idle = False
        for heap in agent.idle_heaps:
            heap.live -= 1
            n = len(heap.heap)
            if n > _COMPACT_MIN and n > 4 * heap.live:
                heap.heap = [e for e in heap.heap if _idle_valid(e)]
                heapq.heapify(heap.heap)

    # ------------------------------------------------------- call placement

    def _profiles(self, c: _Call) -> tuple[_Profile, ...]:
        """(skill, level limit, extra groups, listing queue) under which the call is eligible."""
        queue = c.queue
        stage = queue.stages[c.stage]
        profiles = stage.profiles
        if profiles is None:
            out: list[_Profile] = [(queue.skill, stage.max_level, stage.groups, queue.queue_id)]
            for qid in stage.queues:
                other = self._queues[qid]
                out.append((other.skill, other.spec.max_level, stage.groups, qid))
            profiles = stage.profiles = tuple(out)
        return profiles

    def _call_buckets(self, c: _Call) -> tuple[_Bucket, ...]:
        """The buckets a waiting call is listed in: one per profile (cached per stage, tier)."""
        stage = c.queue.stages[c.stage]
        tier = c.tier_id
        buckets = stage.buckets.get(tier)
        if buckets is None:
            made: list[_Bucket] = []
            for skill, max_level, groups, listing in self._profiles(c):
                lq = self._queues[listing]
                key = (tier, max_level, groups)
                bucket = lq.bucket_index.get(key)
                if bucket is None:
                    bucket = _Bucket(
                        lq,
                        tier,
                        skill=skill,
                        max_level=max_level,
                        extra_groups=groups,
                        serving=self._tier_groups[tier],
                    )
                    lq.bucket_index[key] = bucket
                    lq.buckets.setdefault(tier, []).append(bucket)
                made.append(bucket)
            buckets = stage.buckets[tier] = tuple(made)
        return buckets

    def _search_plan(self, c: _Call) -> tuple[_SearchStep, ...]:
        """Per profile: skill, level limit, listing queue and the idle-heap group keys."""
        stage = c.queue.stages[c.stage]
        tier = c.tier_id
        plan = stage.search.get(tier)
        if plan is None:
            serving = self._tier_groups[tier]
            plan = stage.search[tier] = tuple(
                (
                    skill,
                    max_level,
                    listing,
                    (None,) if not serving else tuple(sorted(serving | extra)),
                )
                for skill, max_level, extra, listing in self._profiles(c)
            )
        return plan

    def _agent_fits(
        self, agent: _Agent, skill: str, max_level: int | None, tier: str, extra: frozenset[str]
    ) -> bool:
        level = agent.skills.get(skill)
        if level is None or (max_level is not None and level > max_level):
            return False
        serving = self._tier_groups[tier]
        if not serving:
            return True
        groups = agent.groups
        return not groups.isdisjoint(serving) or not groups.isdisjoint(extra)

    def _enter_queue(self, c: _Call, queue: _Queue, now: float) -> None:
        """(Re)enter ``queue`` as home: stage 0 (+ rules due at 0) and timers. The call is
        listed as waiting by ``_place`` only if no agent takes it at once."""
        c.queue = queue
        c.home = queue.queue_id
        c.enter = now
        c.queue_gen += 1
        c.max_wait_due = False
        c.stage = queue.first_stage
        if queue.timed:
            self._start_timers(c, queue, now)

    def _start_timers(self, c: _Call, queue: _Queue, now: float) -> None:
        """Timers of the call's stay in ``queue`` (entered at ``now``, at its first stage)."""
        rules = queue.rules
        if c.stage < len(rules):
            self._push_timer(now + rules[c.stage].after, _Timer.STAGE, c, c.queue_gen)
        if queue.max_wait is not None and not c.callback:
            self._push_timer(now + queue.max_wait, _Timer.MAX_WAIT, c, c.queue_gen)

    def _list_waiting(self, c: _Call) -> None:
        """Put a WAITING call into the buckets of its profiles and its home order list."""
        c.state = _WAITING
        token = c.token = c.token + 1
        entry: _CallEntry = (-c.priority, c.seq, c.call_id, token, c)
        buckets = c.buckets = self._call_buckets(c)
        push = heapq.heappush
        for bucket in buckets:
            push(bucket.heap, entry)
            bucket.live += 1
            bucket.owner.listed += 1
        order = c.queue.order
        if not order or c.seq > order[-1]:
            order.append(c.seq)
        else:
            bisect.insort(order, c.seq)

    def _unlist_waiting(self, c: _Call) -> None:
        c.token += 1
        for bucket in c.buckets:
            bucket.live -= 1
            bucket.owner.listed -= 1
            n = len(bucket.heap)
            if n > _COMPACT_MIN and n > 4 * bucket.live:
                bucket.heap = [e for e in bucket.heap if _call_valid(e)]
                heapq.heapify(bucket.heap)
        c.buckets = ()
        order = c.queue.order
        i = bisect.bisect_left(order, c.seq)
        if i < len(order) and order[i] == c.seq:
            del order[i]

    def _place(self, c: _Call, now: float, trigger: str, out: list[Action]) -> None:
        """Direction (a): best level first, then the agent order; else Queued."""
        explain = self._explain
        found = self._find_agent(c, explain)
        if found is None:
            if not c.buckets:
                self._list_waiting(c)
            queue = c.queue
            position = bisect.bisect_left(queue.order, c.seq) + 1
            explanation = NOT_EXPLAINED
            if explain:
                figs = c.window.figures(now)
                explanation = Explanation(
                    rule=f"{trigger}:queued",
                    now=now,
                    call_id=c.call_id,
                    detail="no idle agent eligible for the call (skill, level limit, tier groups)",
                    call_candidates=(self._call_candidate(c, c.home, now, figs, 0.0),),
                    eligible_levels=queue.stages[c.stage].max_level,
                )
            out.append(new_queued(c.call_id, c.home, position, explanation))
            return
        self._offer_found(c, now, trigger, found, out)

    def _offer_found(
        self,
        c: _Call,
        now: float,
        trigger: str,
        found: tuple[_Agent, int, tuple[AgentCandidate, ...], str],
        out: list[Action],
    ) -> None:
        agent, level, candidates, listing = found
        explanation = NOT_EXPLAINED
        if self._explain:
            figs = c.window.figures(now)
            explanation = Explanation(
                rule=f"{trigger}:level_first+{self.config.order}",
                now=now,
                call_id=c.call_id,
                agent_id=agent.agent_id,
                detail=(
                    f"best idle level {level} for skill {self._queues[listing].skill}"
                    f" via queue {listing}; ties by {self.config.order}"
                ),
                call_candidates=(self._call_candidate(c, listing, now, figs, 0.0),),
                agent_candidates=candidates,
                eligible_levels=c.queue.stages[c.stage].max_level,
            )
        self._leave_idle(agent)
        self._offer(c, agent, explanation, out)

    def _find_agent(
        self, c: _Call, explain: bool
    ) -> tuple[_Agent, int, tuple[AgentCandidate, ...], str] | None:
        """The best idle agent for the call; candidates are collected only to explain."""
        idle_get = self._idle.get
        levels_of = self._levels
        pop = heapq.heappop
        plan = c.queue.stages[c.stage].search.get(c.tier_id) or self._search_plan(c)
        for skill, max_level, listing, group_keys in plan:
            for level in levels_of.get(skill, ()):
                if max_level is not None and level > max_level:
                    break
                best: _IdleEntry | None = None
                candidates: list[AgentCandidate] = []
                for group in group_keys:
                    heap = idle_get((skill, level, group))
                    if heap is None or not heap.live:
                        continue
                    h = heap.heap
                    while h:
                        head = h[0]
                        a = head[4]
                        if a.idle_token == head[3] and a.state is _READY:
                            break
                        pop(h)
                    else:
                        continue
                    if explain:
                        candidates.append(
                            AgentCandidate(
                                agent_id=head[2], level=level, group=group, order_value=head[:2]
                            )
                        )
                    if best is None or head[:3] < best[:3]:
                        best = head
                if best is not None:
                    return best[4], level, tuple(candidates), listing
        return None

    def _offer(self, c: _Call, agent: _Agent, explanation: Explanation, out: list[Action]) -> None:
        if c.buckets:
            self._unlist_waiting(c)
        c.state = _OFFERED
        c.queue.ringing[c.call_id] = c
        agent_id = c.agent_id = agent.agent_id
        agent.call_id = c.call_id
        agent.last_offer = next(self._offer_seq)
        agent.state = _RESERVED
        agent.reason = None
        out.append(agent.on_reserved)
        out.append(new_offer(c.call_id, agent_id, c.home, explanation, c.callback))

    def _requeue(self, c: _Call, now: float, why: str, out: list[Action]) -> None:
        """Back to WAITING at the original position (same seq, same stage)."""
        self._list_waiting(c)
        if c.max_wait_due:  # max wait passed while it was ringing
            c.max_wait_due = False
            action = c.queue.max_wait_action
            self._max_wait(c, now, out)
            if action is not MaxWaitAction.CALLBACK:
                return  # overflow placed it already; flow removed it
        start = len(out)
        self._place(c, now, "call_requeued", out)
        first = out[start]
        if self._explain and isinstance(first, act.Queued):
            e = first.explanation
            out[start] = act.Queued(
                call_id=first.call_id,
                queue_id=first.queue_id,
                position=first.position,
                explanation=Explanation(
                    rule=e.rule,
                    now=now,
                    call_id=c.call_id,
                    detail=f"{why}; back at original position {first.position}",
                    call_candidates=e.call_candidates,
                    eligible_levels=e.eligible_levels,
                ),
            )

    def _remove_pending(self, c: _Call, now: float, out: list[Action]) -> None:
        """Drop a WAITING or OFFERED call; a ringing agent becomes available again."""
        c.window.drop_pending(c.deadline)
        del self._calls[c.call_id]
        if c.state is _WAITING:
            self._unlist_waiting(c)
        elif c.agent_id is not None:
            del c.queue.ringing[c.call_id]
            agent = self._agents[c.agent_id]
            agent.call_id = None
            agent.state = _NOT_READY
            self._available(agent, now, out)

    # ------------------------------------------------------- agent selection

    def _available(self, agent: _Agent, now: float, out: list[Action]) -> None:
        """Direction (b): the agent is free; pick a waiting call or join the idle sets."""
        agent.idle_since = now
        agent.state = _READY
        agent.reason = None
        out.append(agent.on_ready)
        found = self._find_call(agent, now)
        if found is None:
            self._make_idle(agent)
        else:
            self._offer(found[0], agent, found[1], out)

    def _end_acw(self, agent: _Agent, now: float, out: list[Action]) -> None:
        agent.acw_token += 1
        if agent.pending_reason is not None:
            reason, agent.pending_reason = agent.pending_reason, None
            out.append(self._set_state(agent, _NOT_READY, reason))
        else:
            self._available(agent, now, out)

    def _find_call(self, agent: _Agent, now: float) -> tuple[_Call, Explanation] | None:
        """Among every queue the agent serves, the head per (queue, tier) it may take, then the
        configured selection across them (R-ROUTE-2, R-ROUTE-3)."""
        heads: list[tuple[_CallEntry, str, int]] = []  # (entry, listing queue, agent level)
        groups = agent.groups
        by_skill = self._queues_by_skill
        pop = heapq.heappop
        for skill, level in agent.skills.items():
            queues = by_skill.get(skill)
            if queues is None:
                continue
            for queue in queues:
                if not queue.listed:
                    continue
                for buckets in queue.buckets.values():
                    best: _CallEntry | None = None
                    for bucket in buckets:
                        if not bucket.live:
                            continue
                        max_level = bucket.max_level
                        if max_level is not None and level > max_level:
                            continue
                        if bucket.restricted and groups.isdisjoint(bucket.allowed):
                            continue
                        h = bucket.heap
                        while h:
                            head = h[0]
                            call = head[4]
                            if call.token == head[3] and call.state is _WAITING:
                                break
                            pop(h)
                        else:
                            continue
                        if best is None or head < best:
                            best = head
                    if best is not None:
                        heads.append((best, queue.queue_id, level))
        if not heads:
            return None
        if not self._explain:
            if len(heads) == 1:  # nothing to compare: no score needed
                return heads[0][0][4], NOT_EXPLAINED
            return self._select_unexplained(heads, now), NOT_EXPLAINED
        return self._select_explained(agent, heads, now)

    def _select_unexplained(self, heads: list[tuple[_CallEntry, str, int]], now: float) -> _Call:
        """The call ``_select_explained`` would choose, without building candidates."""
        selection = self._selection
        tiers = self._tiers
        scores: dict[str, float] = {}
        best_key: tuple[float, ...] | None = None
        chosen: _Call | None = None
        for entry, _, level in heads:
            c = entry[4]
            prio = float(c.priority)
            key: tuple[float, ...]
            if selection is CallSelection.SL_GAP:
                score = scores.get(c.tier_id)
                if score is None:
                    gap = c.window.gap(now)
                    weight = tiers[c.tier_id].priority_weight
                    score = scores[c.tier_id] = gap * weight if gap >= 0 else gap / weight
                key = (-score, -prio, c.seq, level)
            elif selection is CallSelection.FIFO:
                key = (-prio, c.seq, level)
            else:
                key = (-tiers[c.tier_id].priority_weight, -prio, c.seq, level)
            if best_key is None or key < best_key:
                best_key, chosen = key, c
        assert chosen is not None
        return chosen

    def _select_explained(
        self, agent: _Agent, heads: list[tuple[_CallEntry, str, int]], now: float
    ) -> tuple[_Call, Explanation]:
        selection = self._selection
        figs: dict[str, SlFigures] = {}
        scored: list[tuple[tuple[float, ...], CallCandidate, _Call]] = []
        for entry, listing, level in heads:
            c = entry[4]
            tier = c.tier_id
            f = figs.get(tier)
            if f is None:
                f = figs[tier] = c.window.figures(now)
            weight = self._tiers[tier].priority_weight
            prio = float(c.priority)
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
            call_id=chosen.call_id,
            agent_id=agent.agent_id,
            detail=_SELECTION_DETAIL[selection],
            call_candidates=tuple(s[1] for s in scored),
        )
        return chosen, explanation

    def _call_candidate(
        self, c: _Call, listing: str, now: float, f: SlFigures, score: float
    ) -> CallCandidate:
        return CallCandidate(
            call_id=c.call_id,
            queue_id=listing,
            home_queue=c.home,
            tier_id=c.tier_id,
            priority=c.priority,
            wait=now - c.arrival,
            sl_target=f.target,
            sl_achieved=f.achieved,
            sl_projected=f.projected,
            gap=f.gap,
            priority_weight=self._tiers[c.tier_id].priority_weight,
            score=score,
        )

    def _set_state(self, agent: _Agent, state: AgentState, reason: str | None) -> Action:
        agent.state = state
        agent.reason = reason
        return new_state_changed(agent.agent_id, state.value, reason)

    # ------------------------------------------------------------------ timers

    def _push_timer(self, at: float, kind: _Timer, obj: _Agent | _Call, token: int) -> None:
        heapq.heappush(self._timers, (at, next(self._timer_seq), kind, obj, token))

    def _timer_valid(self, timer: _TimerEntry) -> bool:
        _, _, kind, obj, token = timer
        if kind is _Timer.ACW:
            agent = cast(_Agent, obj)
            return agent.state is _ACW and agent.acw_token == token
        c = cast(_Call, obj)
        if c.state is _CONNECTED or self._calls.get(c.call_id) is not c:
            return False
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
                self._fire(timer, self._carry)

    def _flush(self, out: list[Action]) -> list[Action]:
        if not self._carry:
            return out
        carried, self._carry = self._carry, []
        carried += out
        return carried

    def _fire(self, timer: _TimerEntry, out: list[Action]) -> None:
        at, _, kind, obj, _ = timer
        if kind is _Timer.ACW:
            self._end_acw(cast(_Agent, obj), at, out)
            return
        c = cast(_Call, obj)
        if kind is _Timer.MAX_WAIT:
            if c.state is _OFFERED:
                c.max_wait_due = True
                return
            self._max_wait(c, at, out)
            return
        self._widen(c, at, out)

    def _widen(self, c: _Call, at: float, out: list[Action]) -> None:
        queue = c.queue
        rules = queue.rules
        c.stage += 1
        while c.stage < len(rules) and c.enter + rules[c.stage].after <= at:
            c.stage += 1
        if c.stage < len(rules):
            self._push_timer(c.enter + rules[c.stage].after, _Timer.STAGE, c, c.queue_gen)
        stage = queue.stages[c.stage]
        explanation = NOT_EXPLAINED
        if self._explain:
            explanation = Explanation(
                rule="overflow:widen",
                now=at,
                call_id=c.call_id,
                detail=(
                    f"waited {at - c.enter:.1f}s in {c.home}: levels<="
                    f"{'all' if stage.max_level is None else stage.max_level},"
                    f" extra groups {sorted(stage.groups)}, extra queues {list(stage.queues)}"
                ),
                eligible_levels=stage.max_level,
            )
        out.append(
            act.Widened(call_id=c.call_id, queue_id=c.home, stage=c.stage, explanation=explanation)
        )
        if c.state is _WAITING:
            self._unlist_waiting(c)
            placed: list[Action] = []
            self._place(c, at, "call_widened", placed)  # lists it again if not offered
            if isinstance(placed[-1], act.Offer):
                out += placed

    def _max_wait(self, c: _Call, at: float, out: list[Action]) -> None:
        queue = c.queue
        action = queue.max_wait_action
        explain = self._explain
        candidates: tuple[CallCandidate, ...] = ()
        if explain:
            figs = c.window.figures(at)
            candidates = (self._call_candidate(c, c.home, at, figs, 0.0),)
        if action is MaxWaitAction.CALLBACK:
            c.callback = True
            explanation = NOT_EXPLAINED
            if explain:
                explanation = Explanation(
                    rule="max_wait:callback",
                    now=at,
                    call_id=c.call_id,
                    detail=(
                        f"waited {at - c.enter:.1f}s >= max_wait {queue.max_wait}s;"
                        f" callback request keeps position "
                        f"{bisect.bisect_left(queue.order, c.seq) + 1}"
                    ),
                    call_candidates=candidates,
                )
            out.append(
                act.CallbackRequested(call_id=c.call_id, queue_id=c.home, explanation=explanation)
            )
            return
        if action is MaxWaitAction.FLOW:
            self._unlist_waiting(c)
            c.window.drop_pending(c.deadline)
            del self._calls[c.call_id]
            explanation = NOT_EXPLAINED
            if explain:
                explanation = Explanation(
                    rule="max_wait:flow",
                    now=at,
                    call_id=c.call_id,
                    detail=f"waited {at - c.enter:.1f}s >= max_wait; back to the flow",
                    call_candidates=candidates,
                )
            out.append(act.LeftQueue(call_id=c.call_id, queue_id=c.home, explanation=explanation))
            return
        assert queue.overflow_target is not None
        target = self._queues[queue.overflow_target]
        from_queue = c.home
        waited = at - c.enter
        self._unlist_waiting(c)
        self._enter_queue(c, target, at)
        explanation = NOT_EXPLAINED
        if explain:
            explanation = Explanation(
                rule="max_wait:overflow",
                now=at,
                call_id=c.call_id,
                detail=(
                    f"waited {waited:.1f}s in {from_queue} >= max_wait; moved to"
                    f" {target.queue_id} keeping its arrival order"
                ),
                call_candidates=candidates,
            )
        out.append(
            act.Overflowed(
                call_id=c.call_id,
                from_queue=from_queue,
                to_queue=target.queue_id,
                explanation=explanation,
            )
        )
        self._place(c, at, "call_overflowed", out)


def _idle_valid(entry: _IdleEntry) -> bool:
    agent = entry[4]
    return agent.idle_token == entry[3] and agent.state is _READY


def _call_valid(entry: _CallEntry) -> bool:
    c = entry[4]
    return c.token == entry[3] and c.state is _WAITING


def _bucket_head(bucket: _Bucket) -> _CallEntry | None:
    """The bucket's first valid entry (stale ones are dropped), or None."""
    h = bucket.heap
    while h:
        head = h[0]
        if _call_valid(head):
            return head
        heapq.heappop(h)
    return None


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
