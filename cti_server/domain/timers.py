"""One asyncio timer for the routing engine's deadlines (overflow, max wait, ACW, SL)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from cti_server.routing import Action, RoutingEngine
from shared.clock import Clock

log = logging.getLogger("cti_server.domain.timers")

_SLACK = 0.001
"""Fire a hair after the deadline so ``tick`` always finds the timer due."""


class EngineTimer:
    """Calls ``engine.tick`` at ``engine.next_deadline()``; one pending timer at a time.

    :meth:`reschedule` must be called after every engine call (the domain does it in
    its single engine wrapper); the actions a tick returns go to ``on_actions``.
    """

    def __init__(
        self,
        engine: RoutingEngine,
        clock: Clock,
        on_actions: Callable[[list[Action]], None],
    ) -> None:
        self._engine = engine
        self._clock = clock
        self._on_actions = on_actions
        self._handle: asyncio.TimerHandle | None = None
        self._deadline: float | None = None
        self._stopped = False

    @property
    def deadline(self) -> float | None:
        """The engine deadline the pending timer is set for."""
        return self._deadline

    def reschedule(self) -> None:
        if self._stopped:
            return
        deadline = self._engine.next_deadline()
        if deadline == self._deadline and self._handle is not None:
            return
        self._cancel()
        if deadline is None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # driven synchronously (unit tests): nothing to schedule
            return
        delay = max(0.0, deadline - self._clock.monotonic()) + _SLACK
        self._deadline = deadline
        self._handle = loop.call_later(delay, self._fire)

    def _fire(self) -> None:
        self._handle = None
        self._deadline = None
        try:
            actions = self._engine.tick(self._clock.monotonic())
        except Exception:
            log.exception("engine tick failed")
            actions = []
        self.reschedule()
        if actions:
            self._on_actions(actions)

    def _cancel(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
        self._handle = None
        self._deadline = None

    def stop(self) -> None:
        self._stopped = True
        self._cancel()
