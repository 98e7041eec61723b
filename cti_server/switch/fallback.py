"""The survivable fallback ACD: the switch distributes calls by itself while the CTI
link is down (R-IN-3).

The simplest ACD that keeps service running: every arriving call runs the default
flow (no tier, unless the link cached the caller's tier earlier), and when the flow
needs a human the call goes to one FIFO per queue served by the routing engine
(``cti_server.routing``, ``call_selection=fifo``, ``agent_order=longest_idle``) over
the agents **registered with the switch** and **last known ready**. What "ready"
means without the CTI server: an agent registered with the switch is taken as ready
unless the link saw evidence to the contrary (:meth:`FallbackAcd.note_agent_ready`;
with a protocol 1.1 server: the agent's last ``switch.agent_state``),
is on a call the switch knows of (:meth:`FallbackAcd.observe`), or did not answer a
fallback offer in the last ``rona_cooldown`` seconds.

When no agent is free the call waits; when one becomes free the fallback itself asks
the core to ring them (``control.execute(call_id, OfferToAgent(...))``). Ring-no-answer
sends the call to the next agent at its original position. Everything it does with a
call is written to the :class:`~cti_server.switch.journal.Journal`.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from cti_server.routing import Action as EngineAction
from cti_server.routing import (
    AgentSpec,
    AgentState,
    CallSpec,
    EngineConfig,
    Offer,
    QueueSpec,
    RoutingEngine,
    RoutingError,
    TierSpec,
)
from cti_server.switch.journal import Journal, JournalError, Step
from cti_server.switch.ports import (
    CallControl,
    CallReport,
    CommandFailed,
    LookupResult,
    RegistrationReport,
    RouteQuery,
)
from shared.clock import Clock
from shared.protocol.switch import (
    LegRole,
    OfferToAgent,
    RoutedAgent,
    RouteResponse,
    RouteStage,
    SwitchCallEventKind,
)

log = logging.getLogger("switch.fallback")

FALLBACK_TIER = "fallback"
"""The one tier inside the fallback's engine (FIFO does not weigh tiers)."""
RONA_REASON = "ring-no-answer"
OFFER_FAILED_REASON = "offer_failed"
HINT_REASON = "last_known_not_ready"
BUSY_REASON = "busy_elsewhere"
LOOKUP_UNAVAILABLE = "self-service look-ups need the CTI server (fallback mode)"


@dataclass(frozen=True, slots=True)
class FallbackQueue:
    """A queue of the fallback ACD.

    ``agents``: the SIP users (agent ids) who serve it, ``None`` = every registered
    agent. ``selections``: business selections (IVR results) that lead to it besides
    its own id and ``q_<selection>``.
    """

    queue_id: str
    agents: frozenset[str] | None = None
    selections: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        if not self.queue_id or not isinstance(self.queue_id, str):
            raise ValueError(f"queue_id must be a non-empty string, got {self.queue_id!r}")

    def serves(self, agent_id: str) -> bool:
        return self.agents is None or agent_id in self.agents


@dataclass(slots=True)
class _Call:
    call_id: str
    caller: str | None
    called: str | None
    queue_id: str | None = None
    agent_id: str | None = None
    in_engine: bool = False
    connected: bool = False


@dataclass(slots=True)
class _Agent:
    agent_id: str
    contact: str
    leaving: bool = False
    """Unregistered while reserved or busy: removed when the call ends."""
    busy_with: set[str] = field(default_factory=set)


class FallbackAcd:
    """A :class:`~cti_server.switch.ports.Decider` that needs no CTI server."""

    def __init__(
        self,
        clock: Clock,
        default_flow_id: str | None,
        queues: Sequence[FallbackQueue],
        *,
        control: CallControl,
        journal: Journal,
        ring_timeout: float = 20.0,
        rona_cooldown: float = 30.0,
        tier_cache_size: int = 100_000,
    ) -> None:
        if not queues:
            raise ValueError("the fallback ACD needs at least one queue")
        ids = [q.queue_id for q in queues]
        if len(set(ids)) != len(ids):
            raise ValueError(f"duplicate fallback queue ids: {ids}")
        if ring_timeout <= 0 or rona_cooldown < 0:
            raise ValueError("ring_timeout must be > 0 and rona_cooldown >= 0")
        self.clock = clock
        self.default_flow_id = default_flow_id
        self.queues: dict[str, FallbackQueue] = {q.queue_id: q for q in queues}
        self.default_queue = ids[0]
        self.control = control
        self.journal = journal
        self.ring_timeout = ring_timeout
        self.rona_cooldown = rona_cooldown
        self._engine = RoutingEngine(
            EngineConfig(
                call_selection="fifo",
                agent_order="longest_idle",
                rona_to_not_ready=True,
                rona_reason=RONA_REASON,
                explain=False,
            )
        )
        self._engine.add_tier(TierSpec(tier_id=FALLBACK_TIER, sl_seconds=20.0, sl_target=0.8))
        for q in queues:
            self._engine.add_queue(QueueSpec(queue_id=q.queue_id, skill=q.queue_id))
        self._calls: dict[str, _Call] = {}
        self._agents: dict[str, _Agent] = {}
        self._not_ready_hint: set[str] = set()
        self._busy_elsewhere: dict[str, set[str]] = {}
        """Agent → calls it is on that the fallback does not own (CTI-routed)."""
        self._cooling: dict[str, asyncio.TimerHandle] = {}
        self._tiers: OrderedDict[str, str] = OrderedDict()
        self._tier_cache_size = tier_cache_size
        self._tasks: set[asyncio.Task[None]] = set()
        self.offers_sent = 0
        self.offers_failed = 0
        self.journal_errors = 0

    # -- Decider -------------------------------------------------------------------------

    async def route(self, query: RouteQuery) -> RouteResponse:
        if query.stage is RouteStage.ARRIVAL:
            return self._arrival(query)
        return self._agent_needed(query)

    async def lookup(self, call_id: str, service: str, args: Mapping[str, str]) -> LookupResult:
        return LookupResult(error=LOOKUP_UNAVAILABLE)

    def report(self, report: CallReport) -> None:
        """A report about a call the fallback owns (others go to :meth:`observe`)."""
        call = self._calls.get(report.call_id)
        if call is None:
            self.observe(report)
            return
        try:
            self._on_report(call, report)
        except RoutingError as exc:  # never let the engine's view break the core
            log.warning("fallback: report %s on %s: %s", report.kind, report.call_id, exc)

    def registration(self, report: RegistrationReport) -> None:
        agent_id = report.sip_user
        if report.registered and report.contact:
            self._register(agent_id, report.contact)
        else:
            self._unregister(agent_id)

    # -- what the link / decider tells it ------------------------------------------------

    def owns(self, call_id: str) -> bool:
        return call_id in self._calls

    @property
    def call_ids(self) -> list[str]:
        return list(self._calls)

    def sync_registrations(self) -> None:
        """Take the core's registrar as the truth (start-up, or after a doubt)."""
        contacts = dict(self.control.registered_contacts())
        for agent_id in list(self._agents):
            if agent_id not in contacts:
                self._unregister(agent_id)
        for agent_id, contact in contacts.items():
            self._register(agent_id, contact)

    def note_agent_ready(self, agent_id: str, ready: bool) -> None:
        """What the link last learnt of an agent's readiness (e.g. the server offered
        them a call → ready; they did not answer a CTI offer → not ready)."""
        if ready:
            self._not_ready_hint.discard(agent_id)
        else:
            self._not_ready_hint.add(agent_id)
        self._refresh(agent_id)

    def remember_tier(self, caller: str, tier: str) -> None:
        """Cache the tier the CTI server gave this caller (used while in fallback)."""
        self._tiers[caller] = tier
        self._tiers.move_to_end(caller)
        while len(self._tiers) > self._tier_cache_size:
            self._tiers.popitem(last=False)

    def observe(self, report: CallReport) -> None:
        """A report about a call the CTI server routed: track which agents are busy."""
        agent_id = report.agent_id
        kind = report.kind
        if agent_id is not None and kind in (
            SwitchCallEventKind.RINGING,
            SwitchCallEventKind.ANSWERED,
            SwitchCallEventKind.BRIDGED,
        ):
            self._busy_elsewhere.setdefault(agent_id, set()).add(report.call_id)
            self._refresh(agent_id)
            return
        ends_call = kind in (SwitchCallEventKind.RELEASED, SwitchCallEventKind.FAILED) and (
            report.leg is LegRole.CALLER
        )
        ends_agent = (
            kind
            in (
                SwitchCallEventKind.RELEASED,
                SwitchCallEventKind.FAILED,
                SwitchCallEventKind.TRANSFERRED,
            )
            and report.leg is not LegRole.CALLER
        )
        if not (ends_call or ends_agent):
            return
        for agent, calls in list(self._busy_elsewhere.items()):
            if report.call_id in calls and (ends_call or agent_id in (None, agent)):
                calls.discard(report.call_id)
                if not calls:
                    del self._busy_elsewhere[agent]
                if kind is SwitchCallEventKind.FAILED and report.leg is not LegRole.CALLER:
                    self._not_ready_hint.add(agent)  # the server puts a RONA agent not ready
                self._refresh(agent)

    def adopt(
        self,
        call_id: str,
        *,
        queue_id: str | None,
        caller: str | None,
        called: str | None,
        arrived_at: float,
    ) -> None:
        """Take over a call the CTI server had queued when the link dropped."""
        if call_id in self._calls:
            return
        call = _Call(call_id, caller, called)
        self._calls[call_id] = call
        self._journal(
            Step.ARRIVED, call_id, caller=caller, called=called, at=arrived_at, detail="adopted"
        )
        offer = self._enqueue(call, queue_id)
        if offer is not None:
            self._dispatch(offer)

    def take_back(self, call_id: str) -> bool:
        """The CTI server wants to offer this call itself: give it back if it is only
        waiting (``True``); a ringing or connected call stays here (``False``)."""
        call = self._calls.get(call_id)
        if call is None:
            return True
        if call.agent_id is not None:
            return False
        if call.in_engine:
            self._run(self._engine.call_withdrawn(call_id, self._now()))
        del self._calls[call_id]
        self._journal(Step.RETURNED, call_id)
        return True

    def agent_state(self, agent_id: str) -> str:
        """The fallback engine's view of an agent (``logged_out`` when unknown)."""
        if agent_id not in self._agents:
            return AgentState.LOGGED_OUT.value
        return self._engine.agent_state(agent_id)

    async def close(self) -> None:
        for handle in self._cooling.values():
            handle.cancel()
        self._cooling.clear()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    # -- routing -------------------------------------------------------------------------

    def _arrival(self, q: RouteQuery) -> RouteResponse:
        if q.call_id not in self._calls:
            self._calls[q.call_id] = _Call(q.call_id, q.caller, q.called)
            self._journal(Step.ARRIVED, q.call_id, caller=q.caller, called=q.called)
        tier = self._tiers.get(q.caller) if q.caller else None
        return RouteResponse(
            tier=tier,
            flow_id=self.default_flow_id,
            skip_ivr=False,
            explanation="fallback ACD (CTI link down): default flow",
        )

    def _agent_needed(self, q: RouteQuery) -> RouteResponse:
        call = self._calls.get(q.call_id)
        if call is None:  # its arrival was answered by the CTI server
            call = _Call(q.call_id, q.caller, q.called)
            self._calls[q.call_id] = call
            self._journal(Step.ARRIVED, q.call_id, caller=q.caller, called=q.called)
        for step in q.trajectory:
            if step.kind.value in ("ivr_node", "menu_choice"):
                self._journal(Step.IVR, q.call_id, node=step.node, detail=step.detail, at=step.at)
        if call.in_engine:
            return RouteResponse(queue_id=call.queue_id, explanation="fallback: already queued")
        queue_id = self._pick_queue(q.queue_id, q.business_selection)
        offer = self._enqueue(call, queue_id)
        if offer is None:
            return RouteResponse(
                queue_id=call.queue_id,
                explanation="fallback ACD: no registered ready agent free; queued (FIFO)",
            )
        contact = self._agents[offer.agent_id].contact
        self._journal(Step.OFFERED, call.call_id, agent_id=offer.agent_id)
        self.offers_sent += 1
        return RouteResponse(
            queue_id=call.queue_id,
            agent=RoutedAgent(agent_id=offer.agent_id, sip_contact=contact),
            explanation="fallback ACD: longest-idle registered agent",
        )

    def _pick_queue(self, queue_id: str | None, selection: str | None) -> str:
        if queue_id is not None and queue_id in self.queues:
            return queue_id
        if selection:
            for candidate in (selection, f"q_{selection}"):
                if candidate in self.queues:
                    return candidate
            for q in self.queues.values():
                if selection in q.selections:
                    return q.queue_id
        return self.default_queue

    def _enqueue(self, call: _Call, queue_id: str | None) -> Offer | None:
        """Put the call in its FIFO; returns the engine's offer for it, if any (other
        actions are applied)."""
        qid = self._pick_queue(queue_id, None)
        call.queue_id, call.in_engine = qid, True
        self._journal(Step.QUEUED, call.call_id, queue_id=qid)
        spec = CallSpec(call_id=call.call_id, queue_id=qid, tier_id=FALLBACK_TIER)
        own: Offer | None = None
        others: list[EngineAction] = []
        for action in self._engine.call_arrived(spec, self._now()):
            if isinstance(action, Offer) and action.call_id == call.call_id:
                own = action
                call.agent_id = action.agent_id
            else:
                others.append(action)
        self._run(others)
        return own

    # -- reports on owned calls -----------------------------------------------------------

    def _on_report(self, call: _Call, r: CallReport) -> None:
        kind, now = r.kind, self._now()
        agent_leg = r.leg is not LegRole.CALLER
        if kind in (SwitchCallEventKind.IVR_NODE, SwitchCallEventKind.MENU_CHOICE):
            self._journal(Step.IVR, call.call_id, node=r.node, detail=r.detail, at=r.at)
        elif kind is SwitchCallEventKind.QUEUE_LEAVE:
            if call.in_engine and not call.connected:
                self._run(self._engine.call_withdrawn(call.call_id, now))
                call.in_engine, call.agent_id = False, None
                self._journal(Step.IVR, call.call_id, detail="queue_leave", at=r.at)
        elif kind in (SwitchCallEventKind.ANSWERED, SwitchCallEventKind.BRIDGED):
            agent_id = r.agent_id or call.agent_id
            if call.connected or agent_id is None or agent_id != call.agent_id:
                return
            self._run(self._engine.offer_accepted(call.call_id, agent_id, now))
            call.connected = True
            self._journal(Step.ANSWERED, call.call_id, agent_id=agent_id, at=r.at)
        elif agent_leg and kind in (
            SwitchCallEventKind.FAILED,
            SwitchCallEventKind.RELEASED,
            SwitchCallEventKind.TRANSFERRED,
        ):
            self._agent_leg_ended(call, r, now)
        elif not agent_leg and kind in (
            SwitchCallEventKind.RELEASED,
            SwitchCallEventKind.FAILED,
        ):
            self._end(call, r, now)

    def _agent_leg_ended(self, call: _Call, r: CallReport, now: float) -> None:
        agent_id = call.agent_id
        if agent_id is None or (r.agent_id is not None and r.agent_id != agent_id):
            return
        if call.connected:  # the agent's part is over; the caller may still be there
            self._run(self._engine.call_ended(call.call_id, now))
            call.connected, call.in_engine, call.agent_id = False, False, None
            self._journal(
                Step.AGENT_LEFT, call.call_id, agent_id=agent_id, detail=r.kind.value, at=r.at
            )
            self._agent_done(agent_id)
            return
        # ringing: no answer or rejected → next agent, same position
        self._journal(Step.NO_ANSWER, call.call_id, agent_id=agent_id, at=r.at)
        call.agent_id = None
        self._run(self._engine.offer_failed(call.call_id, agent_id, now))
        self._cool_down(agent_id)

    def _end(self, call: _Call, r: CallReport, now: float) -> None:
        agent_id = call.agent_id
        if call.in_engine:
            if call.connected:
                self._run(self._engine.call_ended(call.call_id, now))
            elif r.kind is SwitchCallEventKind.FAILED:
                self._run(self._engine.call_withdrawn(call.call_id, now))
            else:
                self._run(self._engine.call_abandoned(call.call_id, now))
        del self._calls[call.call_id]
        step = Step.FAILED if r.kind is SwitchCallEventKind.FAILED else Step.RELEASED
        self._journal(step, call.call_id, detail=r.cause.value if r.cause else None, at=r.at)
        if agent_id is not None:
            self._agent_done(agent_id)

    # -- agents --------------------------------------------------------------------------

    def _register(self, agent_id: str, contact: str) -> None:
        agent = self._agents.get(agent_id)
        if agent is not None:
            agent.contact, agent.leaving = contact, False
            return
        skills = {q.queue_id: 1 for q in self.queues.values() if q.serves(agent_id)}
        self._agents[agent_id] = _Agent(agent_id, contact)
        self._engine.add_agent(AgentSpec(agent_id=agent_id, skills=skills))
        self._run(self._engine.agent_login(agent_id, self._now()))
        self._refresh(agent_id)

    def _unregister(self, agent_id: str) -> None:
        agent = self._agents.get(agent_id)
        if agent is None:
            return
        state = self._engine.agent_state(agent_id)
        if state in (AgentState.RESERVED, AgentState.BUSY):
            agent.leaving = True
            return
        self._run(self._engine.agent_logout(agent_id, self._now()))
        self._engine.remove_agent(agent_id)
        del self._agents[agent_id]
        handle = self._cooling.pop(agent_id, None)
        if handle is not None:
            handle.cancel()

    def _agent_done(self, agent_id: str) -> None:
        agent = self._agents.get(agent_id)
        if agent is not None and agent.leaving:
            self._unregister(agent_id)
        else:
            self._refresh(agent_id)

    def _want_ready(self, agent_id: str) -> str | None:
        """``None`` if the agent should be ready, else the not-ready reason."""
        if agent_id in self._cooling:
            return RONA_REASON
        if agent_id in self._busy_elsewhere:
            return BUSY_REASON
        if agent_id in self._not_ready_hint:
            return HINT_REASON
        return None

    def _refresh(self, agent_id: str) -> None:
        """Bring the engine's ready / not-ready in line with what the switch knows."""
        if agent_id not in self._agents:
            return
        state = self._engine.agent_state(agent_id)
        reason = self._want_ready(agent_id)
        now = self._now()
        try:
            if reason is None and state in (AgentState.NOT_READY, AgentState.ACW):
                self._run(self._engine.agent_ready(agent_id, now))
            elif reason is not None and state == AgentState.READY:
                self._run(self._engine.agent_not_ready(agent_id, reason, now))
        except RoutingError as exc:
            log.warning("fallback: agent %s: %s", agent_id, exc)

    def _cool_down(self, agent_id: str) -> None:
        if self.rona_cooldown == 0:
            self._refresh(agent_id)
            return
        old = self._cooling.pop(agent_id, None)
        if old is not None:
            old.cancel()
        loop = asyncio.get_running_loop()
        self._cooling[agent_id] = loop.call_later(self.rona_cooldown, self._cooled, agent_id)

    def _cooled(self, agent_id: str) -> None:
        self._cooling.pop(agent_id, None)
        self._refresh(agent_id)

    # -- engine actions ------------------------------------------------------------------

    def _run(self, actions: Sequence[EngineAction]) -> None:
        for action in actions:
            if isinstance(action, Offer):
                self._dispatch(action)

    def _dispatch(self, offer: Offer) -> None:
        """An agent became free for a waiting call: ring them through the core."""
        call = self._calls.get(offer.call_id)
        agent = self._agents.get(offer.agent_id)
        if call is None or agent is None:
            log.warning("fallback: offer of unknown %s / %s dropped", offer.call_id, offer.agent_id)
            return
        call.agent_id = offer.agent_id
        self._journal(Step.OFFERED, call.call_id, agent_id=offer.agent_id)
        self.offers_sent += 1
        action = OfferToAgent(
            agent_id=offer.agent_id,
            sip_contact=agent.contact,
            ring_timeout_seconds=self.ring_timeout,
            caller_display=call.caller,
        )
        task = asyncio.get_running_loop().create_task(self._execute(call.call_id, action))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _execute(self, call_id: str, action: OfferToAgent) -> None:
        try:
            await self.control.execute(call_id, action)
        except CommandFailed as exc:
            self.offers_failed += 1
            log.warning("fallback: offer of %s to %s failed: %s", call_id, action.agent_id, exc)
            call = self._calls.get(call_id)
            if call is None or call.agent_id != action.agent_id or call.connected:
                return
            self._journal(Step.NO_ANSWER, call_id, agent_id=action.agent_id, detail=exc.code.value)
            call.agent_id = None
            try:
                self._run(
                    self._engine.offer_failed(
                        call_id, action.agent_id, self._now(), reason=OFFER_FAILED_REASON
                    )
                )
            except RoutingError as err:
                log.warning("fallback: %s", err)
            self._cool_down(action.agent_id)

    def _journal(self, step: Step, call_id: str | None = None, **fields: object) -> None:
        """Journal a step; a failing disk never stops call distribution."""
        try:
            self.journal.append(step, call_id, **fields)
        except (OSError, JournalError) as exc:
            self.journal_errors += 1
            if self.journal_errors == 1 or self.journal_errors % 1000 == 0:
                log.error("fallback journal write failed (%d so far): %s", self.journal_errors, exc)

    def _now(self) -> float:
        return self.clock.monotonic()
