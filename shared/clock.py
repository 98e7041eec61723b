"""Clocks injected into the cores.

Cores never read the time themselves: they receive ``now`` from a clock owned by
the composition root, so the same code runs live, in the simulator and in tests.
Times are float seconds. ``monotonic`` is for durations and deadlines, ``wall``
for timestamps that are stored or shown (UTC epoch seconds).
"""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    def monotonic(self) -> float:
        """Seconds on a clock that never goes backwards."""
        ...

    def wall(self) -> float:
        """UTC epoch seconds."""
        ...


class SystemClock:
    """The real clock."""

    def monotonic(self) -> float:
        return time.monotonic()

    def wall(self) -> float:
        return time.time()


class ManualClock:
    """A clock that moves only when told to: for tests and simulation."""

    def __init__(self, start: float = 0.0, wall_offset: float = 1_767_225_600.0) -> None:
        self._now = start
        self._wall_offset = wall_offset

    def monotonic(self) -> float:
        return self._now

    def wall(self) -> float:
        return self._wall_offset + self._now

    def advance(self, seconds: float) -> float:
        if seconds < 0:
            raise ValueError(f"a clock cannot go back ({seconds} s)")
        self._now += seconds
        return self._now

    def set(self, now: float) -> None:
        if now < self._now:
            raise ValueError(f"a clock cannot go back (from {self._now} to {now})")
        self._now = now
