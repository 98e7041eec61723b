"""Sliding-window service level per tier, O(1) amortised per event."""

from __future__ import annotations

from bisect import bisect_left, bisect_right, insort
from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class SlFigures:
    target: float
    achieved: float | None  # None: no outcome in the window
    projected: float  # achieved counting pending calls already past sl_seconds as misses
    gap: float  # target - projected; > 0 is a deficit
    outcomes: int
    met: int
    overdue_pending: int


class ServiceLevelWindow:
    """Outcomes (answered within n / not) of the last ``window`` seconds.

    An answered call counts as met when its wait is at most ``sl_seconds``; an
    abandoned call counts as missed (unless shorter than the engine's short
    abandon threshold, then it is not counted at all).

    Pending calls (waiting or ringing) are registered with their SL deadline
    (arrival + ``sl_seconds``). Those whose deadline has passed at ``now`` are
    *overdue*: certain misses, so the projected level counts them at once instead
    of when they are finally answered. The count is computed when asked (a bisect
    in the sorted deadlines), so it needs no timer and is exact at any ``now``.
    """

    __slots__ = ("_events", "_pending", "met", "sl_seconds", "target", "total", "window")

    def __init__(self, *, sl_seconds: float, target: float, window: float) -> None:
        self.sl_seconds = sl_seconds
        self.target = target
        self.window = window
        self._events: deque[tuple[float, bool]] = deque()
        self._pending: list[float] = []  # SL deadlines of pending calls, sorted
        self.total = 0
        self.met = 0

    def record(self, now: float, met: bool) -> None:
        self._events.append((now, met))
        self.total += 1
        if met:
            self.met += 1
        events = self._events
        if events[0][0] <= now - self.window:
            self.expire(now)

    def expire(self, now: float) -> None:
        horizon = now - self.window
        events = self._events
        while events and events[0][0] <= horizon:
            _, met = events.popleft()
            self.total -= 1
            if met:
                self.met -= 1

    # -- pending calls

    def add_pending(self, deadline: float) -> None:
        """A call of the tier is waiting; it becomes overdue at ``deadline``."""
        pending = self._pending
        if not pending or deadline >= pending[-1]:
            pending.append(deadline)
        else:
            insort(pending, deadline)

    def drop_pending(self, deadline: float) -> None:
        """The call registered with ``deadline`` was answered or left."""
        pending = self._pending
        i = bisect_left(pending, deadline)
        if i < len(pending) and pending[i] == deadline:
            del pending[i]

    @property
    def pending(self) -> int:
        """Calls of the tier waiting or ringing now."""
        return len(self._pending)

    def overdue(self, now: float) -> int:
        """Pending calls whose SL deadline is at or before ``now``."""
        pending = self._pending
        if not pending or pending[0] > now:
            return 0
        return bisect_right(pending, now)

    def next_deadline(self, after: float) -> float | None:
        """The earliest pending SL deadline later than ``after``."""
        pending = self._pending
        i = bisect_right(pending, after)
        return pending[i] if i < len(pending) else None

    # -- figures

    def achieved(self, now: float) -> float | None:
        self.expire(now)
        return self.met / self.total if self.total else None

    def gap(self, now: float) -> float:
        """``target - projected`` (what :meth:`figures` reports as ``gap``), allocation-free."""
        self.expire(now)
        denominator = self.total + self.overdue(now)
        return self.target - (self.met / denominator if denominator else self.target)

    def figures(self, now: float) -> SlFigures:
        """Target, achieved, projected and gap. With no outcome and nothing overdue,
        projected = target (gap 0): no evidence of either deficit or surplus."""
        self.expire(now)
        achieved = self.met / self.total if self.total else None
        overdue = self.overdue(now)
        denominator = self.total + overdue
        projected = self.met / denominator if denominator else self.target
        return SlFigures(
            target=self.target,
            achieved=achieved,
            projected=projected,
            gap=self.target - projected,
            outcomes=self.total,
            met=self.met,
            overdue_pending=overdue,
        )
