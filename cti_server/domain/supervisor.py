"""Supervisor feed (R-SUP-1): subscriptions, periodic queue/tier statistics, agent status.

A subscription (``supervisor.subscribe``) gets the current values right after its
result, then ``supervisor.queue_stats`` / ``tier_stats`` every ``interval`` seconds and
``supervisor.agent_status`` on every agent state change. Filters: ``None`` = all.
"""

from __future__ import annotations

import heapq
import itertools
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from cti_server.ws import Session, SessionState
from shared.protocol.agent import AgentState
from shared.protocol.supervisor import (
    SupervisorAgentStatus,
    SupervisorQueueStats,
    SupervisorSubscribe,
    SupervisorTierStats,
)


class StatsSource(Protocol):
    def queue_ids(self) -> Iterable[str]: ...
    def tier_ids(self) -> Iterable[str]: ...
    def queue_stats(self, queue_id: str) -> SupervisorQueueStats: ...
    def tier_stats(self, tier_id: str) -> SupervisorTierStats: ...
    def agent_statuses(self) -> Iterable[SupervisorAgentStatus]: ...


class SlCounter:
    """Outcomes over a sliding window: offered = answered + abandoned."""

    __slots__ = ("_events", "abandoned", "answered", "met", "window")

    def __init__(self, window: float) -> None:
        self.window = window
        self._events: deque[tuple[float, int]] = deque()  # (at, 0 abandoned|1 missed|2 met)
        self.answered = 0
        self.met = 0
        self.abandoned = 0

    def answer(self, at: float, met: bool) -> None:
        self._events.append((at, 2 if met else 1))
        self.answered += 1
        self.met += met

    def abandon(self, at: float) -> None:
        self._events.append((at, 0))
        self.abandoned += 1

    def expire(self, now: float) -> None:
        horizon = now - self.window
        events = self._events
        while events and events[0][0] <= horizon:
            _, kind = events.popleft()
            if kind == 0:
                self.abandoned -= 1
            else:
                self.answered -= 1
                self.met -= kind == 2

    @property
    def offered(self) -> int:
        return self.answered + self.abandoned


class WaitIndex:
    """Waiting calls per key (queue or tier) with the oldest one at hand.

    ``set(call_id, key, since)`` puts a call under ``key`` (or moves it), ``discard``
    takes it out. ``oldest`` pops stale heap entries lazily, so every operation is
    O(log n) amortised - no scan of all calls per statistics round.
    """

    __slots__ = ("_heaps", "_members", "_where")

    def __init__(self) -> None:
        self._members: dict[str, dict[str, float]] = {}
        self._heaps: dict[str, list[tuple[float, str]]] = {}
        self._where: dict[str, str] = {}

    def set(self, call_id: str, key: str, since: float) -> None:
        if self._where.get(call_id) == key:
            return
        self.discard(call_id)
        self._where[call_id] = key
        self._members.setdefault(key, {})[call_id] = since
        heapq.heappush(self._heaps.setdefault(key, []), (since, call_id))

    def discard(self, call_id: str) -> None:
        key = self._where.pop(call_id, None)
        if key is not None:
            members = self._members[key]
            del members[call_id]
            if not members:  # nothing left: drop the stale heap at once
                self._heaps[key].clear()

    def count(self, key: str) -> int:
        return len(self._members.get(key, ()))

    def oldest(self, key: str) -> float | None:
        """``since`` of the longest-waiting call under ``key`` (``None`` when none)."""
        members = self._members.get(key)
        if not members:
            return None
        heap = self._heaps[key]
        while heap and members.get(heap[0][1]) != heap[0][0]:
            heapq.heappop(heap)
        return heap[0][0] if heap else None


class AgentCountIndex:
    """Logged-on agents by wire state per queue, kept on every state change."""

    STATES = ("ready", "not_ready", "reserved", "busy", "work_not_ready")

    def __init__(self, queue_ids: Iterable[str]) -> None:
        self._counts: dict[str, dict[str, int]] = {
            q: dict.fromkeys(self.STATES, 0) for q in queue_ids
        }

    def changed(self, queues: Iterable[str], old: AgentState, new: AgentState) -> None:
        for queue_id in queues:
            counts = self._counts.get(queue_id)
            if counts is None:
                continue
            if old is not AgentState.LOGGED_OFF:
                counts[old.value] -= 1
            if new is not AgentState.LOGGED_OFF:
                counts[new.value] += 1

    def counts(self, queue_id: str) -> dict[str, int]:
        return dict(self._counts[queue_id])


@dataclass(slots=True)
class Subscription:
    subscription_id: str
    session: Session
    queues: frozenset[str] | None
    tiers: frozenset[str] | None
    agents: frozenset[str] | None

    def wants_agent(self, agent_id: str) -> bool:
        return self.agents is None or agent_id in self.agents


def _set(values: tuple[str, ...] | None) -> frozenset[str] | None:
    return None if values is None else frozenset(values)


class SupervisorFeed:
    """Subscriptions by id; pushes go straight to the subscribers' sessions."""

    def __init__(self, source: StatsSource) -> None:
        self._source = source
        self._subs: dict[str, Subscription] = {}
        self._ids = itertools.count(1)

    def __len__(self) -> int:
        return len(self._subs)

    def subscribe(self, session: Session, msg: SupervisorSubscribe) -> Subscription:
        sub = Subscription(
            f"sub{next(self._ids)}",
            session,
            _set(msg.queues),
            _set(msg.tiers),
            _set(msg.agents),
        )
        self._subs[sub.subscription_id] = sub
        return sub

    def initial(self, sub: Subscription) -> None:
        """The current values, right after the subscribe result."""
        self._push_stats(sub)
        for status in self._source.agent_statuses():
            if sub.wants_agent(status.agent_id):
                sub.session.push(status)

    def unsubscribe(self, session: Session, subscription_id: str) -> bool:
        sub = self._subs.get(subscription_id)
        if sub is None or sub.session is not session:
            return False
        del self._subs[subscription_id]
        return True

    def drop_session(self, session: Session) -> None:
        for sub_id in [k for k, s in self._subs.items() if s.session is session]:
            del self._subs[sub_id]

    def agent_changed(self, status: SupervisorAgentStatus) -> None:
        for sub in self._live():
            if sub.wants_agent(status.agent_id):
                sub.session.push(status)

    def tick(self) -> None:
        """Push the periodic statistics to every subscription."""
        subs = self._live()
        if not subs:
            return
        queues = {q: self._source.queue_stats(q) for q in self._source.queue_ids()}
        tiers = {t: self._source.tier_stats(t) for t in self._source.tier_ids()}
        for sub in subs:
            self._push_stats(sub, queues, tiers)

    def _push_stats(
        self,
        sub: Subscription,
        queues: dict[str, SupervisorQueueStats] | None = None,
        tiers: dict[str, SupervisorTierStats] | None = None,
    ) -> None:
        if queues is None:
            queues = {q: self._source.queue_stats(q) for q in self._source.queue_ids()}
        if tiers is None:
            tiers = {t: self._source.tier_stats(t) for t in self._source.tier_ids()}
        for qid, qstats in queues.items():
            if sub.queues is None or qid in sub.queues:
                sub.session.push(qstats)
        for tid, tstats in tiers.items():
            if sub.tiers is None or tid in sub.tiers:
                sub.session.push(tstats)

    def _live(self) -> list[Subscription]:
        dead = [k for k, s in self._subs.items() if s.session.state is SessionState.ENDED]
        for key in dead:
            del self._subs[key]
        return list(self._subs.values())
