"""The team lead's wallboard: queue, tier and agent figures folded from ``supervisor.*``.

A supervisor subscription (``supervisor.subscribe``) sends the current values right
after its result, then ``supervisor.queue_stats`` / ``tier_stats`` every interval and
``supervisor.agent_status`` on every agent state change (R-SUP-1). The model folds
those into rows the wallboard and the agents grid show, keeps a bounded service-level
history per tier for the trend chart, and remembers which calls the lead monitors
(R-SUP-2) from the ``supervisor.monitor`` results and ``supervisor.monitor_ended``.

Qt-free: no Qt, asyncio or sockets (the import contract keeps it so). Queues, tiers
and agents nobody announced before are simply added when they first appear.
"""

from __future__ import annotations

import enum
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from shared.protocol.agent import AgentState
from shared.protocol.base import Event
from shared.protocol.supervisor import (
    AgentCounts,
    MonitorEndReason,
    MonitorMode,
    ServiceLevel,
    SupervisorAgentStatus,
    SupervisorMonitorEnded,
    SupervisorQueueStats,
    SupervisorTierStats,
)

DEFAULT_HISTORY = 360
"""Points kept per tier for the trend chart (6 minutes at the default 1 s interval)."""

LOGGED_ON_STATES = frozenset(AgentState) - {AgentState.LOGGED_OFF}


def _below(level: ServiceLevel | None) -> bool:
    return (
        level is not None
        and level.achieved_percent is not None
        and level.achieved_percent < level.target_percent
    )


@dataclass
class QueueRow:
    """One queue's latest figures."""

    queue_id: str
    waiting: int = 0
    longest_wait_seconds: float = 0.0
    agents: AgentCounts = field(default_factory=AgentCounts)
    service_level: ServiceLevel | None = None
    updated: float = 0.0
    """Server time of the last figures."""

    @property
    def achieved_percent(self) -> float | None:
        """``None`` while nothing was offered in the window (or before any figures)."""
        return None if self.service_level is None else self.service_level.achieved_percent

    @property
    def target_percent(self) -> float | None:
        return None if self.service_level is None else self.service_level.target_percent

    def below_target(self) -> bool:
        """True when calls were offered and fewer than the target were answered in time."""
        return _below(self.service_level)


@dataclass
class TierRow:
    """One customer tier's latest figures (R-SUP-1: SL per tier against its target)."""

    tier: str
    waiting: int = 0
    longest_wait_seconds: float = 0.0
    service_level: ServiceLevel | None = None
    updated: float = 0.0

    @property
    def achieved_percent(self) -> float | None:
        return None if self.service_level is None else self.service_level.achieved_percent

    @property
    def target_percent(self) -> float | None:
        return None if self.service_level is None else self.service_level.target_percent

    def below_target(self) -> bool:
        return _below(self.service_level)


@dataclass(frozen=True, slots=True)
class MonitorSession:
    """A call the lead monitors (from the ``supervisor.monitor`` result)."""

    monitor_id: str
    agent_id: str
    mode: MonitorMode
    call_id: str | None = None


@dataclass
class AgentRow:
    """One agent as the lead sees it."""

    agent_id: str
    state: AgentState = AgentState.LOGGED_OFF
    since: float = 0.0
    """Server time the agent entered ``state``."""
    reason_code: str | None = None
    call_id: str | None = None
    queues: tuple[str, ...] = ()
    name: str | None = None
    monitor: MonitorSession | None = None
    """The lead's monitor of this agent's call, if any."""

    def time_in_state(self, now: float) -> float:
        """Seconds in the current state at server time ``now`` (never negative)."""
        return max(0.0, now - self.since)

    @property
    def logged_on(self) -> bool:
        return self.state is not AgentState.LOGGED_OFF

    @property
    def on_call(self) -> bool:
        """Logged on with a current call (what listen / whisper / barge need)."""
        return self.logged_on and self.call_id is not None


class WallboardChangeKind(enum.StrEnum):
    QUEUE = "queue"
    TIER = "tier"
    AGENT = "agent"
    MONITOR = "monitor"
    RESET = "reset"


@dataclass(frozen=True, slots=True)
class WallboardChange:
    """What one fold changed: ``key`` is the queue / tier / agent id (monitor: agent id)."""

    kind: WallboardChangeKind
    key: str | None = None


WallboardListener = Callable[[WallboardChange], None]


@dataclass(frozen=True, slots=True)
class Totals:
    """Figures over all queues, for the big-number tiles."""

    waiting: int
    longest_wait_seconds: float
    achieved_percent: float | None
    """Answered in threshold / offered over all queues (``None`` when nothing offered)."""
    target_percent: float | None
    """The queues' targets weighted by what they were offered (plain mean if none)."""

    def below_target(self) -> bool:
        return (
            self.achieved_percent is not None
            and self.target_percent is not None
            and self.achieved_percent < self.target_percent
        )


class WallboardModel:
    """Folds supervisor events; widgets observe it through :meth:`subscribe`."""

    def __init__(self, history: int = DEFAULT_HISTORY) -> None:
        if history < 1:
            raise ValueError(f"history must be at least 1 point, not {history}")
        self.history = history
        self.queues: dict[str, QueueRow] = {}
        self.tiers: dict[str, TierRow] = {}
        self.agents: dict[str, AgentRow] = {}
        self.sl_history: dict[str, deque[tuple[float, float]]] = {}
        """Per tier: ``(server time, achieved percent)``, oldest first, bounded."""
        self.monitors: dict[str, MonitorSession] = {}
        """The lead's monitors by ``monitor_id``."""
        self.last_ts = 0.0
        """Server time of the latest event folded (what ``time_in_state`` is measured at)."""
        self._names: dict[str, str] = {}
        self._listeners: list[WallboardListener] = []

    # --- observers -----------------------------------------------------------------

    def subscribe(self, listener: WallboardListener) -> Callable[[], None]:
        """Call ``listener`` after every change; returns a function that unsubscribes."""
        self._listeners.append(listener)

        def unsubscribe() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return unsubscribe

    def _emit(self, kind: WallboardChangeKind, key: str | None = None) -> None:
        change = WallboardChange(kind, key)
        for listener in list(self._listeners):
            listener(change)

    # --- folding -------------------------------------------------------------------

    def apply(self, event: Event) -> bool:
        """Fold one event; returns False for events that are not the wallboard's."""
        self.last_ts = max(self.last_ts, event.ts)
        match event:
            case SupervisorQueueStats():
                self._queue(event)
            case SupervisorTierStats():
                self._tier(event)
            case SupervisorAgentStatus():
                self._agent(event)
            case SupervisorMonitorEnded():
                self.monitor_ended(event.monitor_id, event.reason)
            case _:
                return False
        return True

    def _queue(self, ev: SupervisorQueueStats) -> None:
        row = self.queues.get(ev.queue_id)
        if row is None:
            row = self.queues[ev.queue_id] = QueueRow(ev.queue_id)
        row.waiting = ev.waiting
        row.longest_wait_seconds = ev.longest_wait_seconds
        row.agents = ev.agents
        row.service_level = ev.service_level
        row.updated = ev.ts
        self._emit(WallboardChangeKind.QUEUE, ev.queue_id)

    def _tier(self, ev: SupervisorTierStats) -> None:
        row = self.tiers.get(ev.tier)
        if row is None:
            row = self.tiers[ev.tier] = TierRow(ev.tier)
        row.waiting = ev.waiting
        row.longest_wait_seconds = ev.longest_wait_seconds
        row.service_level = ev.service_level
        row.updated = ev.ts
        history = self.sl_history.get(ev.tier)
        if history is None:
            history = self.sl_history[ev.tier] = deque(maxlen=self.history)
        achieved = ev.service_level.achieved_percent
        if achieved is not None:
            point = (ev.ts, achieved)
            if not history or history[-1][0] < ev.ts:
                history.append(point)
            elif history[-1][0] == ev.ts:  # the same round again: the later figure wins
                history[-1] = point
            # an older round arriving late is not charted
        self._emit(WallboardChangeKind.TIER, ev.tier)

    def _agent(self, ev: SupervisorAgentStatus) -> None:
        row = self.agents.get(ev.agent_id)
        if row is None:
            row = self.agents[ev.agent_id] = AgentRow(
                ev.agent_id, name=self._names.get(ev.agent_id)
            )
        row.state = ev.state
        row.since = ev.since
        row.reason_code = ev.reason_code
        row.call_id = ev.call_id
        row.queues = tuple(ev.queues)
        self._emit(WallboardChangeKind.AGENT, ev.agent_id)

    # --- names, monitors, reset ----------------------------------------------------

    def set_agent_names(self, names: Mapping[str, str]) -> None:
        """Display names by agent id (from the directory); unknown ids are kept for later."""
        self._names.update(names)
        for agent_id, row in self.agents.items():
            name = self._names.get(agent_id)
            if name is not None and name != row.name:
                row.name = name
                self._emit(WallboardChangeKind.AGENT, agent_id)

    def monitor_started(
        self, agent_id: str, monitor_id: str, mode: MonitorMode | str, call_id: str | None = None
    ) -> MonitorSession:
        """Record a ``supervisor.monitor`` result (a mode switch keeps the monitor id)."""
        session = MonitorSession(monitor_id, agent_id, MonitorMode(mode), call_id)
        for old_id in [k for k, m in self.monitors.items() if m.agent_id == agent_id]:
            if old_id != monitor_id:
                del self.monitors[old_id]
        self.monitors[monitor_id] = session
        row = self.agents.get(agent_id)
        if row is None:
            row = self.agents[agent_id] = AgentRow(agent_id, name=self._names.get(agent_id))
        row.monitor = session
        self._emit(WallboardChangeKind.MONITOR, agent_id)
        return session

    def monitor_ended(
        self, monitor_id: str, reason: MonitorEndReason | None = None
    ) -> MonitorSession | None:
        """Forget a monitor (stopped, the call ended, or it failed); unknown ids are ignored."""
        session = self.monitors.pop(monitor_id, None)
        if session is None:
            return None
        row = self.agents.get(session.agent_id)
        if row is not None and row.monitor is not None and row.monitor.monitor_id == monitor_id:
            row.monitor = None
        self._emit(WallboardChangeKind.MONITOR, session.agent_id)
        return session

    def monitor_for(self, agent_id: str) -> MonitorSession | None:
        row = self.agents.get(agent_id)
        return None if row is None else row.monitor

    def reset(self) -> None:
        """Drop every figure (before subscribing again after a lost session)."""
        self.queues.clear()
        self.tiers.clear()
        self.agents.clear()
        self.sl_history.clear()
        self.monitors.clear()
        self._emit(WallboardChangeKind.RESET)

    # --- queries -------------------------------------------------------------------

    def below_target_queues(self) -> list[str]:
        return sorted(q for q, row in self.queues.items() if row.below_target())

    def below_target_tiers(self) -> list[str]:
        return sorted(t for t, row in self.tiers.items() if row.below_target())

    def agents_in(self, states: Iterable[AgentState]) -> list[AgentRow]:
        wanted = frozenset(states)
        return [row for row in self.agents.values() if row.state in wanted]

    def totals(self) -> Totals:
        rows = list(self.queues.values())
        levels = [r.service_level for r in rows if r.service_level is not None]
        offered = sum(sl.offered for sl in levels)
        achieved = (
            100.0 * sum(sl.answered_in_threshold for sl in levels) / offered if offered else None
        )
        if not levels:
            target = None
        elif offered:
            target = sum(sl.target_percent * sl.offered for sl in levels) / offered
        else:
            target = sum(sl.target_percent for sl in levels) / len(levels)
        return Totals(
            waiting=sum(r.waiting for r in rows),
            longest_wait_seconds=max((r.longest_wait_seconds for r in rows), default=0.0),
            achieved_percent=achieved,
            target_percent=target,
        )
