"""``StandaloneDecider``: the switch's **no-CTI mode** (a decider that needs no CTI server).

Used by ``python -m cti_server.switch`` until the CTI link's ``FailoverDecider``
(``cti_server.switch.decider``) is wired in by the composition root. It answers
every call with the shipped ``default`` flow and, when the flow asks for a human,
keeps one first-in-first-out line of waiting calls served by the longest-idle
agent among the softphones registered with this switch. It knows nothing of
agent states, skills or tiers (those live in the CTI server): a registered
softphone that is not on a call counts as available. An agent who lets a call
ring out is skipped for ``rona_cooldown`` seconds. Self-service look-ups fail
(they need the CTI server). Queue announcements and max wait → overflow are the
core's own (``QueueMonitor``): a call that overflows leaves the line here.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable, Coroutine, Mapping
from typing import Any

from cti_server.switch.ports import (
    CallControl,
    CallReport,
    CommandFailed,
    LookupResult,
    RegistrationReport,
    RouteQuery,
)
from shared.ivr.library import DEFAULT_FLOW
from shared.protocol.errors import ErrorCode
from shared.protocol.switch import (
    LegRole,
    OfferToAgent,
    RoutedAgent,
    RouteResponse,
    RouteStage,
    SwitchCallEventKind,
)

log = logging.getLogger("switch.standalone")

LOOKUP_UNAVAILABLE = "self-service look-ups need the CTI server (standalone mode)"


class StandaloneDecider:
    """Default flow + one FIFO over registered agents, longest idle first (see module doc)."""

    def __init__(
        self,
        *,
        ring_timeout: float = 15.0,
        rona_cooldown: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ring_timeout = ring_timeout
        self.rona_cooldown = rona_cooldown
        self.clock = clock
        self.control: CallControl | None = None
        self.waiting: deque[str] = deque()
        self.busy: dict[str, str] = {}
        """agent id → call id it was offered or is talking on."""
        self.idle_since: dict[str, float] = {}
        self.cooling: dict[str, float] = {}
        """agent id → monotonic time until which it is skipped (after a ring-no-answer)."""
        self.reports: deque[CallReport] = deque(maxlen=1000)
        self._tasks: set[asyncio.Task[None]] = set()

    def attach(self, control: CallControl) -> None:
        self.control = control

    # --- Decider ---------------------------------------------------------------------

    async def route(self, query: RouteQuery) -> RouteResponse:
        if query.stage is RouteStage.ARRIVAL:
            return RouteResponse(flow_id=DEFAULT_FLOW, explanation="standalone mode")
        agent = self._free_agent()
        if agent is not None and not self.waiting:
            agent_id, contact = agent
            self.busy[agent_id] = query.call_id
            return RouteResponse(
                queue_id=query.queue_id,
                agent=RoutedAgent(agent_id=agent_id, sip_contact=contact),
            )
        if query.call_id not in self.waiting:
            self.waiting.append(query.call_id)
        return RouteResponse(queue_id=query.queue_id, explanation="waiting for a free agent")

    async def lookup(self, call_id: str, service: str, args: Mapping[str, str]) -> LookupResult:
        return LookupResult(error=LOOKUP_UNAVAILABLE)

    def report(self, report: CallReport) -> None:
        self.reports.append(report)
        kind = report.kind
        if report.leg is LegRole.AGENT and report.agent_id is not None:
            if kind is SwitchCallEventKind.FAILED:
                self._release_agent(report.agent_id)
                self.cooling[report.agent_id] = self.clock() + self.rona_cooldown
                self._later(self.rona_cooldown)
                if report.call_id not in self.waiting:
                    self.waiting.appendleft(report.call_id)  # its place in line
            elif kind is SwitchCallEventKind.RELEASED:
                self._release_agent(report.agent_id)
        elif report.leg is LegRole.CALLER and kind in (
            SwitchCallEventKind.RELEASED,
            SwitchCallEventKind.FAILED,
        ):
            if report.call_id in self.waiting:
                self.waiting.remove(report.call_id)
            for agent_id, call_id in list(self.busy.items()):
                if call_id == report.call_id:
                    self._release_agent(agent_id)
        elif (
            report.leg is LegRole.CALLER
            and kind is SwitchCallEventKind.QUEUE_LEAVE
            and report.call_id in self.waiting
        ):
            # left the line without an agent (max wait → overflow): the core moved it on;
            # an overflow to another queue asks again with ``agent_needed``.
            self.waiting.remove(report.call_id)
        self._dispatch()

    def registration(self, report: RegistrationReport) -> None:
        if report.registered:
            self.idle_since.setdefault(report.sip_user, self.clock())
        else:
            self.idle_since.pop(report.sip_user, None)
        self._dispatch()

    # --- the line ---------------------------------------------------------------------

    def _release_agent(self, agent_id: str) -> None:
        if self.busy.pop(agent_id, None) is not None:
            self.idle_since[agent_id] = self.clock()

    def _free_agent(self) -> tuple[str, str] | None:
        if self.control is None:
            return None
        now = self.clock()
        contacts = self.control.registered_contacts()
        free = [
            agent_id
            for agent_id in contacts
            if agent_id not in self.busy and self.cooling.get(agent_id, 0.0) <= now
        ]
        if not free:
            return None
        agent_id = min(free, key=lambda a: (self.idle_since.get(a, 0.0), a))
        return agent_id, contacts[agent_id]

    def _dispatch(self) -> None:
        while self.waiting and self.control is not None:
            agent = self._free_agent()
            if agent is None:
                return
            agent_id, contact = agent
            call_id = self.waiting.popleft()
            self.busy[agent_id] = call_id
            action = OfferToAgent(
                agent_id=agent_id, sip_contact=contact, ring_timeout_seconds=self.ring_timeout
            )
            self._spawn(self._offer(call_id, action))

    async def _offer(self, call_id: str, action: OfferToAgent) -> None:
        assert self.control is not None
        try:
            await self.control.execute(call_id, action)
        except CommandFailed as exc:
            log.warning("standalone: offer of %s to %s failed: %s", call_id, action.agent_id, exc)
            self._release_agent(action.agent_id)
            if exc.code is not ErrorCode.UNKNOWN_CALL and call_id not in self.waiting:
                self.waiting.appendleft(call_id)
                self.cooling[action.agent_id] = self.clock() + self.rona_cooldown
                self._later(self.rona_cooldown)
            self._dispatch()

    def _later(self, seconds: float) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        loop.call_later(seconds, self._dispatch)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
