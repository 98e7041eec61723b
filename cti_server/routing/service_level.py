"""Sliding-window service level per tier, O(1) amortised per event."""

from __future__ import annotations

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
    abandon threshold, then it is not counted at all). ``overdue_pending`` is the
    number of calls of the tier still waiting or ringing whose wait already
    exceeds ``sl_seconds``: they are certain misses, so the projected level
    counts them now instead of when they are finally answered.
    """

    __slots__ = ("_events", "met", "overdue_pending", "sl_seconds", "target", "total", "window")

    def __init__(self, *, sl_seconds: float, target: float, window: float) -> None:
        self.sl_seconds = sl_seconds
        self.target = target
        self.window = window
        self._events: deque[tuple[float, bool]] = deque()
        self.total = 0
        self.met = 0
        self.overdue_pending = 0

    def record(self, now: float, met: bool) -> None:
        self._events.append((now, met))
        self.total += 1
        if met:
            self.met += 1
        self.expire(now)

    def expire(self, now: float) -> None:
        horizon = now - self.window
        events = self._events
        while events and events[0][0] <= horizon:
            _, met = events.popleft()
            self.total -= 1
            if met:
                self.met -= 1

    def achieved(self, now: float) -> float | None:
        self.expire(now)
        return self.met / self.total if self.total else None

    def figures(self, now: float) -> SlFigures:
        """Target, achieved, projected and gap. With no outcome and nothing overdue,
        projected = target (gap 0): no evidence of either deficit or surplus."""
        self.expire(now)
        achieved = self.met / self.total if self.total else None
        denominator = self.total + self.overdue_pending
        projected = self.met / denominator if denominator else self.target
        return SlFigures(
            target=self.target,
            achieved=achieved,
            projected=projected,
            gap=self.target - projected,
            outcomes=self.total,
            met=self.met,
            overdue_pending=self.overdue_pending,
        )
