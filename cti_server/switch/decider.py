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
  the command is refused with ``invalid_state``;
* after a fresh server session (the server restarted and lost its memory) every call
  still live on the switch that the server routed (in the IVR, talking, on hold; not
  one still ringing), and every adopted fallback call still running, is reported
  ``in_progress`` in the fallback report, with its agent, queue, times and
  trajectory, so the restarted server knows it and keeps its agent busy on it.
"""

from __future__ import annotations

import asyncio
import enum
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import msgspec

from cti_server.switch.fallback import FallbackAcd
from cti_server.switch.journal import MAX_TRAJECTORY, Step
from cti_server.switch.link import CtiLink, LinkState
from cti_server.switch.ports import (
    CallReport,
    DecisionUnavailable,
    LookupResult,
    RegistrationReport,
    RouteQuery,
)
from shared.protocol.call import TrajectoryKind, TrajectoryStep
from shared.protocol.switch import (
    FallbackCall,
    FallbackOutcome,
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


@dataclass(slots=True)
class _CtiCall:
    """What the decider knows of a live call the CTI server routes: enough to tell a
    restarted server about it (:meth:`FailoverDecider.live_calls`)."""

    call_id: str
    arrived_at: float
    caller: str | None = None
    called: str | None = None
    queue_id: str | None = None
    agent_id: str | None = None
    offered_at: float | None = None
    answered_at: float | None = None
    trajectory: list[TrajectoryStep] = field(default_factory=list)

    def step(self, at: float, kind: TrajectoryKind, node: str | None, detail: str | None) -> None:
        if len(self.trajectory) < MAX_TRAJECTORY:
            self.trajectory.append(
                TrajectoryStep(
                    at=at, kind=kind, node=node, detail=(detail or None) and detail[:256]
                )
            )

    def as_call(self) -> FallbackCall:
        return FallbackCall(
            call_id=self.call_id,
            outcome=FallbackOutcome.IN_PROGRESS,
            arrived_at=self.arrived_at,
            caller=self.caller,
            called=self.called,
            queue_id=self.queue_id,
            agent_id=self.agent_id,
            offered_at=self.offered_at,
            answered_at=self.answered_at,
            trajectory=tuple(self.trajectory),
        )


_WIRE = msgspec.json.Encoder()
_CHECK = msgspec.json.Decoder(FallbackCall)


def reportable(call: FallbackCall) -> FallbackCall | None:
    """``call`` as the server will decode it; one with a field the protocol refuses (an
    odd caller number, IVR node name …) is cut down to what the server needs (agent,
    queue, times), or dropped (logged) rather than have the server refuse the part."""
    for candidate in (
        call,
        msgspec.structs.replace(call, caller=None, called=None, trajectory=()),
    ):
        try:
            return _CHECK.decode(_WIRE.encode(candidate))
        except msgspec.ValidationError:
            continue
    log.warning("call %s: not reportable to the CTI server: %r", call.call_id, call)
    return None


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
        self._cti: dict[str, _CtiCall] = {}
        """Live CTI-routed calls (reported to a restarted server)."""
        self._syncer: asyncio.Task[None] | None = None
        link.on_state_change(self._on_link)
        link.command_guard = self._guard
        link.agent_hint = fallback.note_agent_ready
        link.live_calls = self.live_calls

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
                self._note_route(query, response)
                return response
        self.link.forget(query.call_id)
        self._cti.pop(query.call_id, None)
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
        self._note_report(report)
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

    def live_calls(self) -> list[FallbackCall]:
        """Every call still live on the switch that a restarted server must learn of:
        CTI-routed calls (in the IVR, talking, on hold) and adopted fallback calls the
        journal will not report again, all ``in_progress`` (the link sends them after a
        fresh session, see :attr:`CtiLink.live_calls`). A call still ringing is left
        out: the restarted server has no offer for it to accept; when it is answered
        the server adopts it from that report (``answered`` of a stored call)."""
        calls: list[FallbackCall] = []
        for call_id, call in list(self._cti.items()):
            if not self.link.owns(call_id) or self.fallback.owns(call_id):
                del self._cti[call_id]  # ended, adopted or taken over meanwhile
                continue
            if call.agent_id is not None and call.answered_at is None:
                continue  # ringing
            calls.append(call.as_call())
        calls += self.fallback.journal.handed_over_live()
        calls.sort(key=lambda c: c.arrived_at)
        return [ok for ok in map(reportable, calls) if ok is not None]

    # -- internals -----------------------------------------------------------------------

    def _note_route(self, q: RouteQuery, response: RouteResponse) -> None:
        """A route question the server answered: the call is the server's."""
        if not self.link.owns(q.call_id):
            return  # the caller left while the question was asked
        now = self.link.clock.wall()
        call = self._cti.get(q.call_id)
        if call is None:
            call = _CtiCall(q.call_id, now, caller=q.caller, called=q.called)
            self._cti[q.call_id] = call
        if q.stage is not RouteStage.AGENT_NEEDED:
            return
        if response.queue_id is not None:
            call.queue_id = response.queue_id
            call.step(now, TrajectoryKind.QUEUE_ENTER, response.queue_id, None)
        if response.agent is not None and call.answered_at is None:
            call.agent_id, call.offered_at = response.agent.agent_id, now
            call.step(now, TrajectoryKind.OFFER, response.agent.agent_id, None)

    def _note_report(self, r: CallReport) -> None:
        """Follow a CTI-routed call (agent, answer time, trajectory) until it ends."""
        call = self._cti.get(r.call_id)
        if call is None:
            return
        K = SwitchCallEventKind
        kind, leg = r.kind, r.leg
        if kind is K.ARRIVED:
            call.arrived_at = min(call.arrived_at, r.at)
        elif leg is LegRole.CONSULT:
            return  # a consultation's leg: the call's own agent stays
        elif (leg is LegRole.CALLER and kind in (K.RELEASED, K.FAILED)) or (
            leg is not LegRole.CALLER and kind is K.RELEASED
        ):
            del self._cti[r.call_id]  # the call is over (its end goes to the server)
        elif kind in (K.IVR_NODE, K.MENU_CHOICE):
            what = TrajectoryKind.IVR_NODE if kind is K.IVR_NODE else TrajectoryKind.MENU_CHOICE
            call.step(r.at, what, r.node, r.dtmf or r.detail)
        elif kind is K.RINGING and r.agent_id and call.answered_at is None:
            if r.agent_id != call.agent_id or call.offered_at is None:
                call.agent_id, call.offered_at = r.agent_id, r.at
                call.step(r.at, TrajectoryKind.OFFER, r.agent_id, None)
        elif kind in (K.ANSWERED, K.BRIDGED):
            agent_id = r.agent_id or call.agent_id
            if agent_id is not None and (call.answered_at is None or agent_id != call.agent_id):
                call.agent_id = agent_id
                if call.answered_at is None:
                    call.answered_at = r.at
                call.step(r.at, TrajectoryKind.ANSWER, agent_id, None)
        elif kind is K.FAILED and leg is not LegRole.CALLER and call.answered_at is None:
            call.agent_id = call.offered_at = None  # no answer: back in the queue
        elif kind in (K.HELD, K.RETRIEVED):
            held = kind is K.HELD
            call.step(r.at, TrajectoryKind.HOLD if held else TrajectoryKind.RETRIEVE, None, None)

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
        self._cti.pop(call_id, None)
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
