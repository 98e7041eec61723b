"""The one :class:`~cti_server.switch.ports.Decider` the call core sees: the CTI link
while it is up, the fallback ACD while it is down (R-IN-3).

Rules (docs/switch_link.md, "Failover rules"):

* a call belongs to whoever answered its first question; a call in the fallback's
  hands stays there until it ends (no flapping mid-call), even when the link returns;
* a question the link cannot answer (down, timeout: :class:`DecisionUnavailable`) goes
  to the fallback, and the call is the fallback's from then on;
* when the link drops, calls the server had queued without an agent are adopted by
  the fallback (their arrival order kept), and a CTI-routed call whose ring fails
  while the link is down is adopted then, so no caller waits for a server that is gone;
* every registration goes to both; reports of CTI-routed calls go to the link (queued
  while down) and are shown to the fallback so it knows which agents are busy;
* when the link returns it re-sends registrations and replays the journal before
  new calls go to the server again; fallback calls it reported ``in_progress`` are
  known to the server from then on, so their later reports go to the link as well;
* a server ``offer_to_agent`` for a call the fallback holds is honoured only if the
  call is merely waiting (the server takes it back); while it rings or is connected
  the command is refused with ``invalid_state``.
"""

from __future__ import annotations

import asyncio
import enum
import logging
from collections.abc import Callable, Mapping

from cti_server.switch.fallback import FallbackAcd
from cti_server.switch.journal import Step
from cti_server.switch.link import CtiLink, LinkState
from cti_server.switch.ports import (
    CallReport,
    DecisionUnavailable,
    LookupResult,
    RegistrationReport,
    RouteQuery,
)
from shared.protocol.switch import (
    LegRole,
    OfferToAgent,
    RouteResponse,
    RouteStage,
    SwitchAction,
    SwitchCallEventKind,
)

log = logging.getLogger("switch.decider")


class Mode(enum.StrEnum):
    CTI = "cti"
    """New calls are routed by the CTI server."""
    FALLBACK = "fallback"
    """The CTI link is down: the switch's basic ACD routes new calls."""


def _ends_call(r: CallReport) -> bool:
    return r.leg is LegRole.CALLER and r.kind in (
        SwitchCallEventKind.RELEASED,
        SwitchCallEventKind.FAILED,
    )


class FailoverDecider:
    """Routes each question to the link or the fallback (see the module docstring)."""

    def __init__(self, link: CtiLink, fallback: FallbackAcd) -> None:
        self.link = link
        self.fallback = fallback
        self._listeners: list[Callable[[Mode], None]] = []
        self._mode = Mode.CTI if link.up else Mode.FALLBACK
        self.adopted = 0
        self._ringing: set[str] = set()
        """CTI-routed calls whose agent leg is ringing (not answered yet)."""
        self._syncer: asyncio.Task[None] | None = None
        link.on_state_change(self._on_link)
        link.command_guard = self._guard
        link.agent_hint = fallback.note_agent_ready

    # -- lifecycle -----------------------------------------------------------------------

    async def start(self) -> None:
        """Load the registrar into the fallback, start the link and the journal's
        fsync timer (batch mode: lines are fsynced at most ``fsync_interval`` late)."""
        self.fallback.sync_registrations()
        if not self.link.up:
            self.fallback.journal.mark_link_down()
        await self.link.start()
        self._syncer = asyncio.get_running_loop().create_task(self._sync_journal())

    async def close(self) -> None:
        """Stop the link and the fallback, then sync and close the journal."""
        if self._syncer is not None:
            self._syncer.cancel()
            await asyncio.gather(self._syncer, return_exceptions=True)
        await self.link.close()
        await self.fallback.close()
        self.fallback.journal.close()

    async def _sync_journal(self) -> None:
        journal = self.fallback.journal
        while True:
            await asyncio.sleep(journal.fsync_interval)
            try:
                journal.sync()
            except OSError:
                log.exception("journal fsync failed")

    @property
    def mode(self) -> Mode:
        return self._mode

    def on_mode(self, callback: Callable[[Mode], None]) -> None:
        """``callback(mode)`` whenever the mode changes (e.g. for the switch's status
        page, logs and metrics)."""
        self._listeners.append(callback)

    def owner(self, call_id: str) -> str | None:
        """``"fallback"``, ``"cti"`` or ``None`` (not known to either)."""
        if self.fallback.owns(call_id):
            return "fallback"
        if self.link.owns(call_id):
            return "cti"
        return None

    # -- Decider -------------------------------------------------------------------------

    async def route(self, query: RouteQuery) -> RouteResponse:
        if self.fallback.owns(query.call_id):
            return await self.fallback.route(query)
        if self.link.up:
            try:
                response = await self.link.route(query)
            except DecisionUnavailable as exc:
                log.warning("call %s: %s; the fallback ACD decides", query.call_id, exc)
            else:
                if query.stage is RouteStage.ARRIVAL and query.caller and response.tier:
                    self.fallback.remember_tier(query.caller, response.tier)
                return response
        self.link.forget(query.call_id)
        return await self.fallback.route(query)

    async def lookup(self, call_id: str, service: str, args: Mapping[str, str]) -> LookupResult:
        if self.fallback.owns(call_id) or not self.link.up:
            return await self.fallback.lookup(call_id, service, args)
        try:
            return await self.link.lookup(call_id, service, args)
        except DecisionUnavailable:
            return await self.fallback.lookup(call_id, service, args)

    def report(self, report: CallReport) -> None:
        call_id = report.call_id
        fallback = self.fallback
        if fallback.owns(call_id):
            handed_over = fallback.journal.handed_over(call_id)
            fallback.report(report)
            if handed_over:  # the server adopted it: keep it informed
                on_done = self._delivered(call_id) if _ends_call(report) else None
                self.link.report(report, on_delivered=on_done)
            elif _ends_call(report) and self.link.up:
                self.link.request_replay()
            return
        ring_ended = self._track_ring(report)
        if ring_ended and not self.link.up and self.link.owns(call_id):
            # A CTI-routed call stopped ringing while the server is gone: adopt it. (An
            # agent hanging up an answered call is no failed ring: that call just ends.)
            self.link.report(report)
            fallback.observe(report)
            self._adopt(call_id)
            return
        if self.link.owns(call_id) or self.link.up:
            self.link.report(report)
        fallback.observe(report)

    def registration(self, report: RegistrationReport) -> None:
        self.link.registration(report)
        self.fallback.registration(report)

    # -- internals -----------------------------------------------------------------------

    def _track_ring(self, r: CallReport) -> bool:
        """Follow the agent leg of CTI-routed calls; True when ``r`` ends a ring that was
        not answered (ring-no-answer, busy, unreachable, withdrawn offer: ``failed`` on
        the agent leg, the call goes back to the queue). An agent leg ``released`` ends
        with its call (an answered call hung up, or the caller gone): no adoption."""
        call_id, kind = r.call_id, r.kind
        if r.leg is LegRole.CALLER:
            if kind in (
                SwitchCallEventKind.RELEASED,
                SwitchCallEventKind.FAILED,
                SwitchCallEventKind.BRIDGED,
            ):
                self._ringing.discard(call_id)
            return False
        if r.leg not in (LegRole.AGENT, LegRole.EXTERNAL):
            return False  # a consultation's leg says nothing about the call's own ring
        if kind is SwitchCallEventKind.RINGING:
            self._ringing.add(call_id)
            return False
        if kind is SwitchCallEventKind.ANSWERED:
            self._ringing.discard(call_id)
            return False
        if kind is SwitchCallEventKind.FAILED:  # the core puts the call back in its queue
            if call_id in self._ringing:
                self._ringing.discard(call_id)
                return True
        elif kind is SwitchCallEventKind.RELEASED:  # the agent leg ends with the call
            self._ringing.discard(call_id)
        return False

    def _delivered(self, call_id: str) -> Callable[[], None]:
        def done() -> None:
            self.fallback.journal.append(Step.DELIVERED, call_id)

        return done

    def _guard(self, call_id: str, action: SwitchAction) -> str | None:
        if not self.fallback.owns(call_id) or not isinstance(action, OfferToAgent):
            return None
        if self.fallback.take_back(call_id):
            log.info("call %s: the CTI server takes it back from the fallback ACD", call_id)
            return None
        return "the call is ringing or connected under the switch's fallback ACD"

    def _adopt(self, call_id: str) -> None:
        call = self.link.forget(call_id)
        if call is None:
            return
        self.adopted += 1
        self.fallback.adopt(
            call_id,
            queue_id=call.queue_id,
            caller=call.caller,
            called=call.called,
            arrived_at=call.arrived_at,
        )

    def _on_link(self, up: bool) -> None:
        if not up and self.link.state is not LinkState.CLOSED:
            self.fallback.journal.mark_link_down()
            for call in self.link.waiting_calls():
                self._adopt(call.call_id)
        mode = Mode.CTI if up else Mode.FALLBACK
        if mode is self._mode:
            return
        self._mode = mode
        log.warning("switch mode: %s", mode)
        for listener in list(self._listeners):
            try:
                listener(mode)
            except Exception:
                log.exception("mode listener failed")
