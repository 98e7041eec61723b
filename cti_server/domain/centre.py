"""The contact-centre domain: agents, calls, the switch link and the routing engine.

:class:`ContactCentre` is a plain object (no sockets): it takes the routing engine,
the store facade and a clock, binds agents and switches to transport ``Session``
objects and pushes protocol events to them. Request handlers (``handlers.py``) and
session hooks (``hooks.py``) are thin layers over its methods.

Ordering and durability. Engine calls are synchronous and change state at once; the
actions they return are executed by :meth:`ContactCentre.run` one batch at a time
(an ``asyncio.Lock``, FIFO), in the order the engine produced them. Executing an
action first writes what it reports to the database (a worker thread; committed when
the await returns), then pushes events. A switch request is answered only after its
batch has run, so everything it reports is durable before it is acknowledged.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from dataclasses import dataclass
from typing import Any

import msgspec

from cti_server.routing import (
    Action,
    AgentGroupSpec,
    AgentSpec,
    AgentStateChanged,
    Calendar,
    CallbackRequested,
    CallSpec,
    LeftQueue,
    Offer,
    Overflowed,
    OverflowRule,
    Queued,
    QueueSpec,
    RoutingEngine,
    RoutingError,
    TierSpec,
    Widened,
)
from cti_server.routing import AgentState as EngineState
from cti_server.routing import CallState as EngineCallState
from cti_server.store import AgentConfig, CallEventKind, RoutingConfig
from cti_server.store.calls import CallView, VoicemailStore
from cti_server.ws import DomainError, Session
from shared.clock import Clock
from shared.log import log_context
from shared.protocol.agent import (
    AgentLoggedOff,
    AgentLoggedOn,
    AgentNotReady,
    AgentReady,
    AgentReserved,
    AgentSnapshot,
    AgentState,
    AgentWorkNotReady,
    LogoffReason,
)
from shared.protocol.base import Event
from shared.protocol.call import (
    AgentDestination,
    CallConferenced,
    CallConnectionCleared,
    CallDelivered,
    CallDiverted,
    CallEstablished,
    CallHeld,
    CallRetrieved,
    CallSnapshot,
    CallState,
    CallTransferred,
    ClearCause,
    Destination,
    DivertReason,
    IvrDestination,
    Party,
    PartyRole,
    QueueDestination,
    TrajectoryKind,
)
from shared.protocol.errors import ErrorCode
from shared.protocol.handshake import Snapshot
from shared.protocol.supervisor import (
    AgentCounts,
    ServiceLevel,
    SupervisorAgentStatus,
    SupervisorQueueStats,
    SupervisorTierStats,
)
from shared.protocol.switch import (
    AgentsSnapshot,
    Bridge,
    FallbackCall,
    FallbackOutcome,
    Hangup,
    Hold,
    LegRole,
    LookupResult,
    OfferToAgent,
    RoutedAgent,
    RouteResponse,
    RouteStage,
    SendDtmf,
    SwitchAction,
    SwitchAgentEntry,
    SwitchAgentState,
    SwitchCallEvent,
    SwitchCallEventKind,
    SwitchCommandResult,
    SwitchFallbackReport,
    SwitchLookup,
    SwitchRouteRequest,
    TransferCall,
    Unhold,
)
from shared.protocol.system import SwitchMode

from .config import (
    ACW_REASON,
    CONSULT_OFFERED_REASON,
    DIRECT_CALL_REASON,
    DISCONNECTED_REASON,
    FORCED_REASON,
    OFFER_FAILED_REASON,
    UNREGISTERED_REASON,
    DomainConfig,
)
from .consult import Consultations
from .errors import engine_errors, invalid_state
from .live import ReloadReport, apply_config, settle_pending
from .lookups import LookupServices
from .model import AgentRecord, CallRecord, wire_state
from .monitor import Monitors
from .notices import SwitchModes
from .persistence import Persistence
from .supervisor import AgentCountIndex, SlCounter, SupervisorFeed, WaitIndex
from .switchlink import StoredCallReports, SwitchLink
from .timers import EngineTimer
from .voicemails import VoicemailBook

log = logging.getLogger("cti_server.domain")

_SNAPSHOT_CALLS = 64


@dataclass(frozen=True, slots=True)
class Ctx:
    """Why a batch of actions happened (how agent events are worded)."""

    agent_id: str | None = None
    logoff_reason: LogoffReason = LogoffReason.USER
    reason_code: str | None = None
    forced_by: str | None = None
    notified: bool = False
    """The logged-off event was already pushed (takeover): do not push it again."""


def build_engine(config: RoutingConfig, domain: DomainConfig) -> RoutingEngine:
    """A routing engine loaded with the store's routing configuration (active agents only)."""
    engine = RoutingEngine(domain.engine)
    for tier in config.tiers.values():
        engine.add_tier(
            TierSpec(
                tier_id=tier.tier_id,
                sl_seconds=tier.sl_seconds,
                sl_target=tier.sl_target,
                priority_weight=tier.priority_weight,
            )
        )
    for group in config.groups.values():
        engine.add_agent_group(
            AgentGroupSpec(group_id=group.group_id, tiers=frozenset(group.tiers))
        )
    for queue in config.queues.values():
        calendar = None
        if queue.calendar_id is not None and queue.calendar_id in config.calendars:
            cal = config.calendars[queue.calendar_id]
            weekly: dict[int | str, Iterable[tuple[str, str]]] = {}
            weekly.update(cal.weekly)
            calendar = Calendar(
                tz=cal.tz, weekly=weekly, holidays=cal.holidays, open_days=cal.open_days
            )
        engine.add_queue(
            QueueSpec(
                queue_id=queue.queue_id,
                skill=queue.skill,
                max_level=queue.max_level,
                overflow=tuple(
                    OverflowRule(
                        after=r.after,
                        widen_to_level=r.widen_to_level,
                        add_groups=r.add_groups,
                        add_queues=r.add_queues,
                    )
                    for r in queue.overflow
                ),
                max_wait=queue.max_wait,
                max_wait_action=queue.max_wait_action,
                calendar=calendar,
                acw_seconds=queue.acw_seconds,
            )
        )
    for agent in config.agents.values():
        if agent.active:
            engine.add_agent(
                AgentSpec(
                    agent_id=agent.agent_id,
                    skills=dict(agent.skills),
                    groups=agent.groups,
                    order_key=agent.order_key,
                )
            )
    return engine


def _label(text: str | None) -> str | None:
    return text[:128] if text else None


class _WriteBatch:
    """The call writes queued by one :meth:`ContactCentre.run` (owned by its task)."""

    __slots__ = ("futures", "pushes", "required", "task")

    def __init__(self, task: asyncio.Task[Any] | None) -> None:
        self.task = task
        self.required = True  # writes of ``first``: a failure fails the batch
        self.futures: list[tuple[asyncio.Future[Any], bool]] = []
        self.pushes: list[Callable[[], object]] = []  # switch commands, sent after commit

    def add(self, future: asyncio.Future[Any]) -> None:
        self.futures.append((future, self.required))

    async def settle(self) -> None:
        """Wait for every write, then send the held switch commands (decided already, so
        sent even if a write failed); log failures, raise the first failure of ``first``."""
        try:
            results = await asyncio.gather(*(f for f, _ in self.futures), return_exceptions=True)
        finally:
            for push in self.pushes:
                try:
                    push()
                except Exception:
                    log.exception("sending a switch command failed")
        error: BaseException | None = None
        for (_, required), result in zip(self.futures, results, strict=True):
            if not isinstance(result, BaseException):
                continue
            if required and error is None:
                error = result
            else:
                log.error("call write failed", exc_info=result)
        if error is not None:
            raise error


class ContactCentre:
    """Agent sessions, calls, switches and supervision over one routing engine."""

    def __init__(
        self,
        engine: RoutingEngine,
        store: Persistence,
        config: RoutingConfig,
        *,
        domain: DomainConfig | None = None,
        clock: Clock,
    ) -> None:
        self.engine = engine
        self.store = store
        self.config = config
        self.domain = domain if domain is not None else DomainConfig()
        self.clock = clock
        self.switches = SwitchLink(clock, command_ttl=self.domain.command_ttl)
        self.feed = SupervisorFeed(self)
        self.timer = EngineTimer(engine, clock, self._timer_actions)
        self.calls: dict[str, CallRecord] = {}
        self.reasons = {r.reason_id: r.label for r in config.reason_codes.values() if r.active}
        self.waits_by_queue = WaitIndex()
        self.waits_by_tier = WaitIndex()
        self.agent_counts = AgentCountIndex(config.queues)
        self.agents: dict[str, AgentRecord] = {}
        for agent in config.agents.values():
            if not agent.active:
                continue
            skills = dict(agent.skills)
            queues = tuple(q.queue_id for q in config.queues.values() if q.skill in skills)
            self.agents[agent.agent_id] = AgentRecord(
                agent.agent_id,
                agent.name,
                str(agent.role),
                skills,
                queues,
                since=clock.wall(),
                on_state=self._agent_state_changed,
            )
        window = self.domain.engine.sl_window
        self._queue_sl = {q: SlCounter(window) for q in config.queues}
        self._tier_sl = {t: SlCounter(window) for t in config.tiers}
        self._lock = asyncio.Lock()
        self._batch: _WriteBatch | None = None
        self.switches.hold = self._hold_push
        self._tasks: set[asyncio.Task[None]] = set()
        self._ticker: asyncio.Task[None] | None = None
        self._acw_timers: dict[str, asyncio.TimerHandle] = {}
        self.consults = Consultations(self)
        self.monitors = Monitors(self)
        self.lookups = LookupServices(self)
        self.modes = SwitchModes(clock)
        self.voicemails = VoicemailBook(VoicemailStore(store.sessions))
        self.stored_calls = StoredCallReports(store, self.voicemails)
        """Reports of calls only the database knows (ended during a CTI outage, R-IN-3)."""
        self._bare_calls: set[str] = set()
        """Calls created from a switch's ``arrived`` report before their arrival route
        request: the route request fills in caller, customer and tier (R-IN-3)."""
        self._fallback_busy: dict[str, str] = {}
        """Agent → call id of an in-progress fallback call they were talking on when the
        switch's report arrived while they were logged off: protected at login (R-IN-3)."""
        self.pending_config: dict[str, AgentConfig | None] = {}
        """Configuration changes of agents who were ringing or talking when it was reloaded
        (``None``: removed at logout); applied at their next state change (:mod:`.live`)."""
        self.pending_removals: list[tuple[str, str]] = []
        """Deleted agent groups (and the tiers only they served) whose members were still
        on a call at the reload: removed from routing when that is over (:mod:`.live`)."""
        self._reload_lock = asyncio.Lock()

    async def reload_config(self) -> ReloadReport:
        """Re-read the routing configuration from the store and apply it to the running
        engine (:func:`.live.apply_config`): logged-on agents keep their state, waiting
        calls stay queued; offers it makes possible are carried out before this returns."""
        async with self._reload_lock:
            config = await self.store.routing_config()
            report, actions = apply_config(self, config)
            self.timer.reschedule()
            if actions:
                await self.run(actions)
        log.info("routing configuration reloaded: %s", report.as_dict())
        return report

    # ==================================================================== plumbing

    def now(self) -> float:
        return self.clock.monotonic()

    def call_engine(self, fn: Callable[..., list[Action]], *args: Any) -> list[Action]:
        """Every engine event goes through here: errors mapped, the timer rescheduled."""
        try:
            with engine_errors():
                return fn(*args)
        finally:
            self.timer.reschedule()

    def spawn(self, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        """Run ``coro`` in the background (cancelled by :meth:`stop`; errors logged)."""
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    @staticmethod
    def ctx(agent_id: str | None) -> Ctx:
        return Ctx(agent_id=agent_id)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("background domain task failed", exc_info=task.exception())

    def start(self) -> None:
        """Start the supervisor ticker (call inside the event loop)."""
        if self._ticker is None:
            self._ticker = self.spawn(self._tick_supervisors())
        self.timer.reschedule()

    async def stop(self) -> None:
        self.timer.stop()
        for handle in self._acw_timers.values():
            handle.cancel()
        self._acw_timers.clear()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._ticker = None
        await self.store.flush()  # every queued call write, before the engine is disposed

    async def _tick_supervisors(self) -> None:
        while True:
            await asyncio.sleep(self.domain.supervisor_interval)
            try:
                self.feed.tick()
            except Exception:
                log.exception("supervisor statistics failed")

    def _timer_actions(self, actions: list[Action]) -> None:
        self.spawn(self.run(actions))

    async def run(
        self,
        actions: Iterable[Action],
        *,
        ctx: Ctx | None = None,
        first: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        """Execute a batch: ``first`` (writes and pushes of the event itself), then each
        action in order (and the actions those produce), under the batch lock.

        Call writes made under the lock are queued (group commit) and awaited after the
        lock is released; this returns once they have all committed. A failed write of
        ``first`` raises; a failed write of an action is logged (as before)."""
        batch = _WriteBatch(asyncio.current_task())
        try:
            async with self._lock:
                self._batch = batch
                try:
                    if first is not None:
                        await first()
                    batch.required = False
                    base = ctx or Ctx()
                    queue: deque[tuple[Action, Ctx]] = deque((a, base) for a in actions)
                    while queue:
                        action, context = queue.popleft()
                        try:
                            more, more_ctx = await self._apply(action, context)
                        except Exception:
                            log.exception("executing %r failed", action)
                            continue
                        queue.extend((a, more_ctx) for a in more)
                finally:
                    self._batch = None
        finally:
            # Outside the lock: the next batch proceeds while these commit (R-IN-4: the
            # caller acknowledges only after this returns).
            await batch.settle()

    # ==================================================================== actions

    async def _apply(self, action: Action, ctx: Ctx) -> tuple[list[Action], Ctx]:
        """Execute one action; returns the actions it caused and their context."""
        if isinstance(action, AgentStateChanged):
            return await self._agent_changed(action, ctx)
        if isinstance(action, Offer):
            return await self._offer(action), ctx
        await self._apply_call(action)
        return [], ctx

    async def _apply_call(self, action: Action) -> None:
        if isinstance(action, Queued):
            call = self.calls.get(action.call_id)
            if call is not None:
                call.queued = True
                await self._record(call, CallEventKind.ROUTED, action.explanation.to_dict())
                call.explanation = action.explanation.detail or action.explanation.rule
            return
        if isinstance(action, Overflowed):
            call = self.calls.get(action.call_id)
            if call is not None:
                await self._record(
                    call,
                    CallEventKind.OVERFLOWED,
                    {
                        "queue_id": action.from_queue,
                        "to_queue": action.to_queue,
                        "rule": action.explanation.rule,
                    },
                )
                call.queue_id = action.to_queue
                call.step(self.clock.wall(), TrajectoryKind.OVERFLOW, action.to_queue)
            return
        if isinstance(action, CallbackRequested):
            call = self.calls.get(action.call_id)
            if call is not None:
                await self._record(call, CallEventKind.ROUTED, action.explanation.to_dict())
            return
        if isinstance(action, LeftQueue):
            call = self.calls.get(action.call_id)
            if call is not None:
                await self._record(call, CallEventKind.ROUTED, action.explanation.to_dict())
                call.queued = False
                flow = call.flow_id or self.domain.default_flow
                self._send(call, TransferCall(destination=IvrDestination(flow_id=flow)))
            return
        if isinstance(action, Widened):
            log.debug("call %s widened to stage %d", action.call_id, action.stage)
            return
        return

    async def _agent_changed(self, action: AgentStateChanged, ctx: Ctx) -> tuple[list[Action], Ctx]:
        rec = self.agents.get(action.agent_id)
        if rec is None:
            return [], ctx
        wall = self.clock.wall()
        previous = rec.state
        new = wire_state(action.state, action.reason)
        if (
            previous is AgentState.WORK_NOT_READY
            and new is not AgentState.WORK_NOT_READY
            and rec.acw_call is not None
        ):
            call_id, rec.acw_call = rec.acw_call, None
            await self._store_event(call_id, CallEventKind.ACW_ENDED, {"agent_id": rec.agent_id})
        mine = ctx.agent_id == rec.agent_id
        forced_by = ctx.forced_by if mine else None
        rec.state, rec.since = new, wall
        rec.reason = action.reason if new is AgentState.NOT_READY else None
        if new is not AgentState.WORK_NOT_READY:
            rec.acw_deadline = None
        if new in (AgentState.READY, AgentState.NOT_READY, AgentState.LOGGED_OFF):
            rec.call_id = None
        event: Event | None = None
        match new:
            case AgentState.LOGGED_OFF:
                if not (mine and ctx.notified):
                    event = AgentLoggedOff(
                        agent_id=rec.agent_id,
                        reason=ctx.logoff_reason if mine else LogoffReason.USER,
                        reason_code=ctx.reason_code if mine else None,
                        forced_by=forced_by,
                    )
            case AgentState.NOT_READY:
                reason = action.reason or "not_ready"
                event = AgentNotReady(
                    agent_id=rec.agent_id,
                    reason_code=reason,
                    reason_label=_label(self.reasons.get(reason)),
                    forced_by=forced_by,
                )
            case AgentState.READY:
                event = AgentReady(agent_id=rec.agent_id)
            case AgentState.WORK_NOT_READY:
                event = AgentWorkNotReady(
                    agent_id=rec.agent_id, call_id=rec.acw_call, deadline=rec.acw_deadline
                )
            case _:
                event = None  # reserved: agent.reserved follows with the offer; busy: call events
        if event is not None and rec.session is not None:
            rec.session.push(event)
        if new is AgentState.LOGGED_OFF:
            rec.session = None
            rec.disconnected = False
            rec.logoff_pending = None
        self._agent_published(rec)
        later = settle_pending(self, rec.agent_id) if self.pending_config else []
        # a pending logoff (grace expired or forced during a call) happens at the first chance
        if rec.logoff_pending is not None and new in (
            AgentState.NOT_READY,
            AgentState.WORK_NOT_READY,
            AgentState.READY,
        ):
            reason, by = rec.logoff_pending, rec.logoff_forced_by
            if self.engine.agent_state(rec.agent_id) in (
                EngineState.NOT_READY,
                EngineState.ACW,
                EngineState.READY,
            ):
                rec.logoff_pending = None
                more = self.call_engine(self.engine.agent_logout, rec.agent_id, self.now())
                return later + more, Ctx(agent_id=rec.agent_id, logoff_reason=reason, forced_by=by)
        return later, ctx

    async def _offer(self, action: Offer) -> list[Action]:
        call = self.calls.get(action.call_id)
        rec = self.agents.get(action.agent_id)
        if call is None or rec is None:
            log.error("offer for unknown call/agent %s/%s", action.call_id, action.agent_id)
            return []
        contact = self.switches.contact(rec.extension or rec.agent_id)
        if contact is None:
            log.warning(
                "agent %s has no registered softphone: offer of %s withdrawn",
                rec.agent_id,
                call.call_id,
            )
            await self._record(
                call, CallEventKind.RONA, {"agent_id": rec.agent_id, "reason": UNREGISTERED_REASON}
            )
            return self.call_engine(
                self.engine.offer_failed,
                call.call_id,
                rec.agent_id,
                self.now(),
                UNREGISTERED_REASON,
            )
        wall = self.clock.wall()
        explanation = action.explanation
        try:
            await self._record(call, CallEventKind.ROUTED, explanation.to_dict())
            await self._record(call, CallEventKind.OFFERED, {"agent_id": rec.agent_id})
        except Exception:  # the offer is decided: never leave the agent silently reserved
            log.exception("could not record the offer of %s to %s", call.call_id, rec.agent_id)
        call.explanation = explanation.detail or explanation.rule
        call.agent_id = rec.agent_id
        call.state, call.state_since = CallState.OFFERED, wall
        call.step(wall, TrajectoryKind.OFFER, rec.agent_id)
        rec.call_id = call.call_id
        rec.state, rec.since, rec.reason = AgentState.RESERVED, wall, None
        if rec.session is not None:
            rec.session.push(
                AgentReserved(
                    agent_id=rec.agent_id,
                    call_id=call.call_id,
                    expires_at=wall + self.domain.ring_timeout,
                )
            )
            rec.session.push(self._delivered(call, rec))
        self._agent_published(rec)
        if call.route_waiting:
            call.route_offer = (rec.agent_id, contact)
        else:
            try:
                self._send(
                    call,
                    OfferToAgent(
                        agent_id=rec.agent_id,
                        sip_contact=contact,
                        ring_timeout_seconds=self.domain.ring_timeout,
                        caller_display=_label(call.customer_name or call.caller),
                    ),
                )
            except DomainError:
                log.warning("switch %s is away: offer %s stays pending", call.switch_id, call)
        return []

    def delivered(self, call: CallRecord, rec: AgentRecord) -> CallDelivered:
        """The screen pop of ``call`` for ``rec`` (customer context and trajectory)."""
        return self._delivered(call, rec)

    def _delivered(self, call: CallRecord, rec: AgentRecord) -> CallDelivered:
        return CallDelivered(
            call_id=call.call_id,
            agent_id=rec.agent_id,
            caller=call.caller,
            called=call.called,
            tier=call.tier,
            queue_id=call.queue_id,
            skill=call.skill,
            business_selection=call.business_selection,
            customer_ref=call.customer_id,
            customer_name=_label(call.customer_name),
            wait_seconds=max(0.0, self.clock.wall() - call.arrived_at),
            ring_timeout_seconds=self.domain.ring_timeout,
            consult_of=call.consult_of,
            from_agent=call.from_agent,
            trajectory=tuple(call.trajectory),
        )

    # ==================================================================== store helpers

    async def _record(self, call: CallRecord, kind: CallEventKind, data: dict[str, Any]) -> None:
        await self._store_event(call.call_id, kind, data)

    async def store_event(
        self,
        call_id: str,
        kind: CallEventKind,
        data: dict[str, Any],
        *,
        at: float | None = None,
        event_key: str | None = None,
    ) -> None:
        """Append one call event (committed when this returns; inside :meth:`run`, when the
        batch returns)."""
        await self._store_event(call_id, kind, data, at=at, event_key=event_key)

    async def _store_event(
        self,
        call_id: str,
        kind: CallEventKind,
        data: dict[str, Any],
        *,
        at: float | None = None,
        event_key: str | None = None,
    ) -> None:
        with log_context(call=call_id):
            future = self.store.submit_event(
                call_id, kind, self.clock.wall() if at is None else at, data, event_key=event_key
            )
        await self._write(future)

    def _hold_push(self, push: Callable[[], object]) -> bool:
        """Inside this task's :meth:`run`, keep ``push`` until the batch's writes commit."""
        batch = self._batch
        if batch is None or batch.task is not asyncio.current_task():
            return False
        batch.pushes.append(push)
        return True

    async def _write(self, future: asyncio.Future[Any]) -> None:
        """Await a queued write, or, inside this task's :meth:`run`, add it to the batch
        (awaited when the lock is released)."""
        batch = self._batch
        if batch is not None and batch.task is asyncio.current_task():
            batch.add(future)
        else:
            await future

    def _send(self, call: CallRecord, action: SwitchAction) -> str:
        return self.switches.send(call.switch_id, call.call_id, action)

    # ==================================================================== agents

    def agent(self, agent_id: str) -> AgentRecord:
        rec = self.agents.get(agent_id)
        if rec is None:
            raise DomainError(
                ErrorCode.UNKNOWN_AGENT,
                f"{agent_id} is not an active agent",
                {"agent_id": agent_id},
            )
        return rec

    def check_reason(self, reason: str, path: str = "$.reason_code") -> None:
        if reason not in self.reasons:
            raise DomainError(
                ErrorCode.INVALID_FIELD,
                f"`{reason}` is not a configured not-ready reason code",
                {"path": path, "got": reason, "expected": ",".join(sorted(self.reasons))[:200]},
            )

    def _logged_on(self, rec: AgentRecord) -> None:
        if self.engine.agent_state(rec.agent_id) == EngineState.LOGGED_OUT:
            raise invalid_state(f"agent {rec.agent_id} is logged off", state="logged_off")

    def logged_on(self, rec: AgentRecord) -> None:
        """Raise ``invalid_state`` unless the agent is logged on."""
        self._logged_on(rec)

    def call_at(self, agent_id: str, call_id: str) -> CallRecord:
        """The call ``call_id`` as the agent's own (``unknown_call`` otherwise)."""
        call = self.calls.get(call_id)
        if call is None or call.closed or call.agent_id != agent_id:
            raise DomainError(
                ErrorCode.UNKNOWN_CALL, f"call {call_id} is not at this agent", {"call_id": call_id}
            )
        return call

    def direct_reason(self, agent_id: str) -> str | None:
        """``consult_offered`` / ``direct_call`` while the agent is on a call the engine did
        not route (see ``config.DIRECT_CALL_REASON``), else ``None``."""
        if self.engine.agent_state(agent_id) != EngineState.NOT_READY:
            return None
        reason = self.engine.agent_reason(agent_id)
        return reason if reason in (CONSULT_OFFERED_REASON, DIRECT_CALL_REASON) else None

    def end_direct(
        self, call: CallRecord, agent_id: str, *, acw: bool, reason: str | None = None
    ) -> list[Action]:
        """End an agent's direct call: not ready (``reason``, a pending request, or
        ``disconnected``), after-call work for the queue's ``acw_seconds`` (``acw``), or ready."""
        if self.direct_reason(agent_id) is None:
            return []
        rec = self.agents[agent_id]
        if rec.call_id == call.call_id:
            rec.call_id = None
        pending, rec.direct_pending = rec.direct_pending, None
        now = self.now()
        if rec.disconnected:
            return self.call_engine(self.engine.agent_not_ready, agent_id, DISCONNECTED_REASON, now)
        if reason is not None or pending is not None:
            chosen = reason or pending
            assert chosen is not None
            if chosen == ACW_REASON:
                rec.acw_call = call.call_id
            return self.call_engine(self.engine.agent_not_ready, agent_id, chosen, now)
        queue = self.config.queues.get(call.queue_id or "")
        seconds = queue.acw_seconds if queue is not None and acw else 0.0
        if seconds <= 0:
            return self.call_engine(self.engine.agent_ready, agent_id, now)
        rec.acw_call = call.call_id
        rec.acw_deadline = self.clock.wall() + seconds
        old = self._acw_timers.pop(agent_id, None)
        if old is not None:
            old.cancel()
        self._acw_timers[agent_id] = asyncio.get_running_loop().call_later(
            seconds, self._direct_acw_due, agent_id, call.call_id
        )
        return self.call_engine(self.engine.agent_not_ready, agent_id, ACW_REASON, now)

    def _direct_acw_due(self, agent_id: str, call_id: str) -> None:
        self._acw_timers.pop(agent_id, None)
        self.spawn(self._direct_acw_over(agent_id, call_id))

    async def _direct_acw_over(self, agent_id: str, call_id: str) -> None:
        rec = self.agents[agent_id]
        if (
            rec.acw_call != call_id
            or self.engine.agent_state(agent_id) != EngineState.NOT_READY
            or self.engine.agent_reason(agent_id) != ACW_REASON
        ):
            return  # the agent ended the ACW (or changed state) already
        actions = self.call_engine(self.engine.agent_ready, agent_id, self.now())
        await self.run(actions, ctx=Ctx(agent_id=agent_id))

    def end_agent_part(
        self, call: CallRecord, agent_id: str, *, contact: str | None = None
    ) -> list[Action]:
        """The agent's part of ``call`` is over (release, transfer, left a conference):
        engine ``call_ended`` when the engine routed it to the agent, else a direct end.

        ``contact`` (a disposition such as ``transferred``): the call goes on without this
        agent, so their part gets its own contact record now (R-IN-5: every call leaves
        one per agent who handled it; ``call.wrap_up`` puts the agent's notes on it). The
        release writes the record of whoever has the call at the end."""
        if contact is not None:
            self._part_contact(call, agent_id, contact)
        if (
            self._engine_call_state(call.call_id) == EngineCallState.CONNECTED
            and self.engine.call_agent(call.call_id) == agent_id
        ):
            return self._end_for_agent(call, agent_id)
        return self.end_direct(call, agent_id, acw=True)

    def _part_contact(self, call: CallRecord, agent_id: str, disposition: str) -> None:
        future = self.store.submit_contact(
            started_at=call.arrived_at,
            ended_at=self.clock.wall(),
            call_id=call.call_id,
            customer_id=call.customer_id,
            number=call.caller or "",
            agent_id=agent_id,
            disposition=disposition,
            business_selection=call.business_selection or "",
            summary=f"{disposition} by {agent_id}",
        )

        def written(done: asyncio.Future[Any]) -> None:
            if not done.cancelled() and done.exception() is not None:
                log.error(
                    "contact record of %s on %s: %s", agent_id, call.call_id, done.exception()
                )

        future.add_done_callback(written)

    async def login(
        self,
        session: Session,
        agent_id: str,
        *,
        extension: str | None,
        ready: bool,
        reason_code: str | None,
    ) -> None:
        rec = self.agent(agent_id)
        if reason_code is not None:
            self.check_reason(reason_code)
        logged_on = AgentLoggedOn(
            agent_id=rec.agent_id,
            extension=extension or rec.extension or rec.agent_id,
            display_name=_label(rec.name),
            skills=rec.skill_levels,
            queues=rec.queues,
        )
        if self.engine.agent_state(agent_id) != EngineState.LOGGED_OUT:
            if rec.session is session:
                raise invalid_state(f"agent {agent_id} is already logged on", state=rec.state)
            # a new desktop (takeover or after the grace period) adopts the running agent
            rec.session, rec.disconnected, rec.logoff_pending = session, False, None
            if extension:
                rec.extension = extension
            session.push(logged_on)
            self._push_current(rec)
            return
        rec.session, rec.disconnected, rec.logoff_pending = session, False, None
        rec.extension = extension or rec.agent_id
        now = self.now()
        actions = self.call_engine(self.engine.agent_login, agent_id, now)
        talking = self._fallback_call_of(agent_id)
        if talking is not None:
            # Still talking on a call the switch's fallback ACD gave them (R-IN-3): busy
            # on it as a direct call; the state asked for applies when it ends.
            if not ready and reason_code is not None:
                actions += self.call_engine(self.engine.agent_not_ready, agent_id, reason_code, now)
            rec.direct_pending = None if ready else self.engine.agent_reason(agent_id)
            rec.call_id = talking.call_id
            actions += self.call_engine(
                self.engine.agent_not_ready, agent_id, DIRECT_CALL_REASON, now
            )
        elif ready:
            actions += self.call_engine(self.engine.agent_ready, agent_id, now)
        elif reason_code is not None:
            actions += self.call_engine(self.engine.agent_not_ready, agent_id, reason_code, now)

        async def first() -> None:
            session.push(logged_on)
            if talking is not None:
                session.push(self._delivered(talking, rec))
                session.push(CallEstablished(call_id=talking.call_id, agent_id=rec.agent_id))

        await self.run(actions, ctx=Ctx(agent_id=agent_id), first=first)

    def _push_current(self, rec: AgentRecord) -> None:
        """Re-announce the agent's state to its (new) desktop."""
        if rec.session is None:
            return
        match rec.state:
            case AgentState.READY:
                rec.session.push(AgentReady(agent_id=rec.agent_id))
            case AgentState.NOT_READY:
                rec.session.push(
                    AgentNotReady(agent_id=rec.agent_id, reason_code=rec.reason or "not_ready")
                )
            case AgentState.WORK_NOT_READY:
                rec.session.push(
                    AgentWorkNotReady(
                        agent_id=rec.agent_id, call_id=rec.acw_call, deadline=rec.acw_deadline
                    )
                )
            case AgentState.RESERVED | AgentState.BUSY:
                call = self.calls.get(rec.call_id or "")
                if call is not None:
                    rec.session.push(self._delivered(call, rec))
                    if call.state in (CallState.ESTABLISHED, CallState.HELD):
                        rec.session.push(
                            CallEstablished(call_id=call.call_id, agent_id=rec.agent_id)
                        )
                    if call.state is CallState.CONFERENCED:
                        rec.session.push(
                            CallConferenced(
                                call_id=call.call_id,
                                agent_id=rec.agent_id,
                                parties=self.consults.parties(call),
                            )
                        )
                    if call.state is CallState.HELD:
                        rec.session.push(CallHeld(call_id=call.call_id, agent_id=rec.agent_id))
            case _:
                pass

    async def set_ready(self, agent_id: str, *, forced_by: str | None = None) -> None:
        rec = self.agent(agent_id)
        self._logged_on(rec)
        if self.direct_reason(agent_id) is not None:
            raise invalid_state(f"agent {agent_id} is on a call", state=rec.state)
        actions = self.call_engine(self.engine.agent_ready, agent_id, self.now())
        await self.run(actions, ctx=Ctx(agent_id=agent_id, forced_by=forced_by))

    async def set_not_ready(
        self, agent_id: str, reason: str, *, forced_by: str | None = None, check: bool = True
    ) -> None:
        rec = self.agent(agent_id)
        if check:
            self.check_reason(reason)
        self._logged_on(rec)
        if self.direct_reason(agent_id) is not None:
            rec.direct_pending = reason  # applied when the direct call ends (like busy)
            return
        actions = self.call_engine(self.engine.agent_not_ready, agent_id, reason, self.now())
        await self.run(actions, ctx=Ctx(agent_id=agent_id, forced_by=forced_by))

    async def set_after_call_work(self, agent_id: str) -> None:
        rec = self.agent(agent_id)
        self._logged_on(rec)
        state = self.engine.agent_state(agent_id)
        direct = self.direct_reason(agent_id)
        if state == EngineState.RESERVED or direct == CONSULT_OFFERED_REASON:
            raise invalid_state("a call is ringing: answer it first", state="reserved")
        if direct is not None:
            rec.direct_pending = ACW_REASON
            return
        actions = self.call_engine(self.engine.agent_not_ready, agent_id, ACW_REASON, self.now())
        await self.run(actions, ctx=Ctx(agent_id=agent_id))

    async def end_after_call_work(self, agent_id: str) -> None:
        rec = self.agent(agent_id)
        self._logged_on(rec)
        state = self.engine.agent_state(agent_id)
        now = self.now()
        if state == EngineState.ACW:
            actions = self.call_engine(self.engine.acw_done, agent_id, now)
        elif state == EngineState.NOT_READY and self.engine.agent_reason(agent_id) == ACW_REASON:
            actions = self.call_engine(self.engine.agent_ready, agent_id, now)
        else:
            raise invalid_state(f"agent {agent_id} is not in after-call work", state=rec.state)
        await self.run(actions, ctx=Ctx(agent_id=agent_id))

    async def logout(
        self,
        agent_id: str,
        *,
        reason: LogoffReason = LogoffReason.USER,
        reason_code: str | None = None,
        forced_by: str | None = None,
    ) -> None:
        rec = self.agent(agent_id)
        self._logged_on(rec)
        if self.direct_reason(agent_id) is not None:
            raise invalid_state(f"agent {agent_id} is on a call", state=rec.state)
        actions = self.call_engine(self.engine.agent_logout, agent_id, self.now())
        await self.run(
            actions,
            ctx=Ctx(
                agent_id=agent_id,
                logoff_reason=reason,
                reason_code=reason_code,
                forced_by=forced_by,
            ),
        )

    async def force_logout(
        self, agent_id: str, supervisor_id: str, reason_code: str | None
    ) -> bool:
        """Log the agent off now, or after its call when busy (returns True when deferred)."""
        rec = self.agent(agent_id)
        self._logged_on(rec)
        state = self.engine.agent_state(agent_id)
        if self.direct_reason(agent_id) is not None:
            rec.logoff_pending, rec.logoff_forced_by = LogoffReason.FORCED, supervisor_id
            rec.direct_pending = FORCED_REASON
            return True
        if state in (EngineState.BUSY, EngineState.RESERVED):
            rec.logoff_pending, rec.logoff_forced_by = LogoffReason.FORCED, supervisor_id
            if state == EngineState.BUSY:
                actions = self.call_engine(
                    self.engine.agent_not_ready, agent_id, FORCED_REASON, self.now()
                )
                await self.run(actions, ctx=Ctx(agent_id=agent_id))
            return True
        await self.logout(
            agent_id, reason=LogoffReason.FORCED, reason_code=reason_code, forced_by=supervisor_id
        )
        return False

    # -- session life ------------------------------------------------------------------

    def _bound(self, session: Session) -> AgentRecord | None:
        rec = self.agents.get(session.principal.principal_id)
        return rec if rec is not None and rec.session is session else None

    async def desktop_disconnected(self, session: Session) -> None:
        """The desktop's connection dropped: never leave the agent reserved or ready."""
        rec = self._bound(session)
        if rec is None:
            return
        rec.disconnected = True
        agent_id = rec.agent_id
        state = self.engine.agent_state(agent_id)
        now = self.now()
        if state == EngineState.LOGGED_OUT:
            return
        direct = self.direct_reason(agent_id)
        if direct == CONSULT_OFFERED_REASON:
            consult = self.calls.get(rec.call_id or "")
            if consult is not None and consult.consult_of is not None:
                await self.consults.withdraw(consult, DISCONNECTED_REASON)
            return
        if direct is not None:
            return  # on a direct call: not ready (disconnected) when it ends
        if state == EngineState.RESERVED:
            call_id = self.engine.agent_call(agent_id)
            assert call_id is not None
            await self._withdraw_offer(call_id, agent_id, DISCONNECTED_REASON)
            return
        # busy: kept by the engine and applied when the call (and its ACW) ends
        actions = self.call_engine(self.engine.agent_not_ready, agent_id, DISCONNECTED_REASON, now)
        await self.run(actions, ctx=Ctx(agent_id=agent_id))

    async def _withdraw_offer(self, call_id: str, agent_id: str, reason: str) -> None:
        """Take a ringing call away from an agent: back to its queue at its position."""
        call = self.calls.get(call_id)
        actions = self.call_engine(self.engine.offer_failed, call_id, agent_id, self.now(), reason)
        rec = self.agents[agent_id]

        async def first() -> None:
            if call is None:
                return
            await self._record(call, CallEventKind.RONA, {"agent_id": agent_id, "reason": reason})
            call.agent_id, call.state = None, None
            if rec.session is not None:
                rec.session.push(
                    CallDiverted(call_id=call_id, agent_id=agent_id, reason=DivertReason.REROUTED)
                )
            with contextlib.suppress(DomainError):
                self._send(call, Hangup(leg=LegRole.AGENT, cause=ClearCause.NO_ANSWER))

        await self.run(actions, ctx=Ctx(agent_id=agent_id), first=first)

    def desktop_resumed(self, session: Session) -> None:
        rec = self._bound(session)
        if rec is not None:
            rec.disconnected = False

    async def desktop_expired(
        self, session: Session, reason: LogoffReason = LogoffReason.TIMEOUT
    ) -> None:
        """Grace over (or the session logged out): log the agent off now, or as soon as
        its call ends."""
        rec = self._bound(session)
        if rec is None:
            return
        rec.session = None
        state = self.engine.agent_state(rec.agent_id)
        if state == EngineState.LOGGED_OUT:
            return
        if state in (EngineState.BUSY, EngineState.RESERVED) or self.direct_reason(rec.agent_id):
            rec.logoff_pending, rec.logoff_forced_by = reason, None
            return
        await self.logout(rec.agent_id, reason=reason)

    def desktop_taken_over(self, old: Session, new: Session) -> None:
        """Synchronous part of a takeover: tell the old desktop before it is closed."""
        agent_id = old.principal.principal_id
        old.push(AgentLoggedOff(agent_id=agent_id, reason=LogoffReason.TAKEN_OVER))
        rec = self._bound(old)
        if rec is None:
            return
        rec.session = None
        self.spawn(self._after_takeover(rec.agent_id))

    async def _after_takeover(self, agent_id: str) -> None:
        rec = self.agents[agent_id]
        state = self.engine.agent_state(agent_id)
        if rec.session is not None or state == EngineState.LOGGED_OUT:
            return  # the new desktop already adopted the agent
        if state in (EngineState.BUSY, EngineState.RESERVED) or self.direct_reason(agent_id):
            return  # the call goes on; the new desktop adopts it with agent.login
        actions = self.call_engine(self.engine.agent_logout, agent_id, self.now())
        await self.run(
            actions,
            ctx=Ctx(agent_id=agent_id, logoff_reason=LogoffReason.TAKEN_OVER, notified=True),
        )

    def shutdown_notice(self) -> None:
        """Tell every logged-on desktop the server is going away (before the transport stops)."""
        for rec in self.agents.values():
            if rec.session is not None and rec.state is not AgentState.LOGGED_OFF:
                rec.session.push(
                    AgentLoggedOff(agent_id=rec.agent_id, reason=LogoffReason.SHUTDOWN)
                )

    # ==================================================================== snapshots

    def snapshot(self, session: Session) -> Snapshot:
        """Agent state and calls in progress as of ``session.last_seq`` (no await inside)."""
        rec = self.agents.get(session.principal.principal_id)
        if rec is None or session.principal.kind.value == "switch":
            return Snapshot(last_seq=session.last_seq)
        agent = AgentSnapshot(
            agent_id=rec.agent_id,
            state=rec.state,
            since=rec.since,
            reason_code=rec.reason,
            extension=rec.extension,
            call_id=rec.call_id,
            acw_deadline=rec.acw_deadline,
            skills=rec.skill_levels,
        )
        calls = [
            CallSnapshot(
                call_id=c.call_id,
                state=c.state,
                since=c.state_since,
                caller=c.caller,
                called=c.called,
                tier=c.tier,
                queue_id=c.queue_id,
                skill=c.skill,
                business_selection=c.business_selection,
                customer_ref=c.customer_id,
                customer_name=_label(c.customer_name),
                consult_of=c.consult_of,
                trajectory=tuple(c.trajectory),
            )
            for c in self.calls.values()
            if c.state is not None
            and not c.closed
            and (
                rec.agent_id in (c.agent_id, c.conferenced_with)
                or (c.consult_of is not None and c.from_agent == rec.agent_id)
            )
        ][:_SNAPSHOT_CALLS]
        return Snapshot(last_seq=session.last_seq, agent=agent, calls=tuple(calls))

    def agents_snapshot(self, session: Session) -> AgentsSnapshot:
        """Every agent's state for a switch, as of ``session.last_seq`` (no await inside)."""
        return AgentsSnapshot(
            last_seq=session.last_seq,
            agents=tuple(
                SwitchAgentEntry(
                    agent_id=rec.agent_id,
                    state=rec.state,
                    since=rec.since,
                    reason_code=rec.reason,
                    sip_user=self._sip_user(rec),
                )
                for rec in self.agents.values()
            ),
        )

    # ==================================================================== supervision

    def _agent_published(self, rec: AgentRecord) -> None:
        """An agent's state changed: supervisors and (1.1) switches are told."""
        self.feed.agent_changed(self._status(rec))
        self.switches.broadcast(
            SwitchAgentState(
                agent_id=rec.agent_id,
                state=rec.state,
                reason_code=rec.reason,
                sip_user=self._sip_user(rec),
            )
        )

    @staticmethod
    def _sip_user(rec: AgentRecord) -> str | None:
        """The agent's softphone (its login extension, else its id) while logged on."""
        if rec.state is AgentState.LOGGED_OFF:
            return None
        return rec.extension or rec.agent_id

    def _status(self, rec: AgentRecord) -> SupervisorAgentStatus:
        return SupervisorAgentStatus(
            agent_id=rec.agent_id,
            state=rec.state,
            since=rec.since,
            reason_code=rec.reason,
            call_id=rec.call_id,
            queues=rec.queues,
        )

    def agent_statuses(self) -> Iterable[SupervisorAgentStatus]:
        return [
            self._status(r) for r in self.agents.values() if r.state is not AgentState.LOGGED_OFF
        ]

    def queue_ids(self) -> Iterable[str]:
        return self.config.queues.keys()

    def tier_ids(self) -> Iterable[str]:
        return self.config.tiers.keys()

    def _agent_state_changed(self, rec: AgentRecord, old: AgentState, new: AgentState) -> None:
        self.agent_counts.changed(rec.queues, old, new)

    def _call_changed(self, call: CallRecord) -> None:
        """Keep the waiting indexes in step with the call (see ``CallRecord.on_change``)."""
        if call.waiting:
            if call.queue_id is not None:
                self.waits_by_queue.set(call.call_id, call.queue_id, call.arrived_at)
            if call.tier is not None:
                self.waits_by_tier.set(call.call_id, call.tier, call.arrived_at)
        else:
            self.waits_by_queue.discard(call.call_id)
            self.waits_by_tier.discard(call.call_id)

    def track(self, call: CallRecord) -> CallRecord:
        """Register a new call record (indexed for the supervisor figures)."""
        call.on_change = self._call_changed
        self.calls[call.call_id] = call
        self._call_changed(call)
        return call

    def forget(self, call: CallRecord) -> None:
        call.closed = True
        self.calls.pop(call.call_id, None)
        self.stored_calls.ended(call.call_id, call.switch_id)
        self._bare_calls.discard(call.call_id)
        if call.agent_id is not None and self._fallback_busy.get(call.agent_id) == call.call_id:
            del self._fallback_busy[call.agent_id]

    def _waits(self, index: WaitIndex, key: str) -> tuple[int, float]:
        oldest = index.oldest(key)
        wait = 0.0 if oldest is None else max(0.0, self.clock.wall() - oldest)
        return index.count(key), wait

    def _service_level(self, tier_id: str | None, counter: SlCounter) -> ServiceLevel:
        counter.expire(self.clock.wall())
        tier = self.config.tiers.get(tier_id or "")
        achieved = (100.0 * counter.met / counter.offered) if counter.offered else None
        if tier is not None:
            engine_sl = self.engine.tier_service_level(tier.tier_id, self.now())
            if engine_sl is not None:
                achieved = 100.0 * engine_sl
        return ServiceLevel(
            threshold_seconds=tier.sl_seconds if tier is not None else 20.0,
            target_percent=100.0 * tier.sl_target if tier is not None else 80.0,
            achieved_percent=achieved,
            window_seconds=counter.window,
            offered=counter.offered,
            answered=counter.answered,
            answered_in_threshold=counter.met,
            abandoned=counter.abandoned,
        )

    def queue_stats(self, queue_id: str) -> SupervisorQueueStats:
        counts = self.agent_counts.counts(queue_id)
        waiting, longest = self._waits(self.waits_by_queue, queue_id)
        counter = self._queue_sl[queue_id]
        counter.expire(self.clock.wall())
        tier = self.config.tiers.get(self.domain.default_tier)
        return SupervisorQueueStats(
            queue_id=queue_id,
            waiting=waiting,
            longest_wait_seconds=longest,
            agents=AgentCounts(**counts),
            service_level=ServiceLevel(
                threshold_seconds=tier.sl_seconds if tier is not None else 20.0,
                target_percent=100.0 * tier.sl_target if tier is not None else 80.0,
                achieved_percent=(100.0 * counter.met / counter.offered)
                if counter.offered
                else None,
                window_seconds=counter.window,
                offered=counter.offered,
                answered=counter.answered,
                answered_in_threshold=counter.met,
                abandoned=counter.abandoned,
            ),
        )

    def tier_stats(self, tier_id: str) -> SupervisorTierStats:
        waiting, longest = self._waits(self.waits_by_tier, tier_id)
        return SupervisorTierStats(
            tier=tier_id,
            waiting=waiting,
            longest_wait_seconds=longest,
            service_level=self._service_level(tier_id, self._tier_sl[tier_id]),
        )

    def _count_answer(self, call: CallRecord) -> None:
        wall = self.clock.wall()
        tier = self.config.tiers.get(call.tier or "")
        met = tier is not None and wall - call.arrived_at <= tier.sl_seconds
        if call.queue_id in self._queue_sl:
            self._queue_sl[call.queue_id].answer(wall, met)
        if call.tier in self._tier_sl:
            self._tier_sl[call.tier].answer(wall, met)

    def _count_abandon(self, call: CallRecord) -> None:
        wall = self.clock.wall()
        if call.queue_id in self._queue_sl:
            self._queue_sl[call.queue_id].abandon(wall)
        if call.tier in self._tier_sl:
            self._tier_sl[call.tier].abandon(wall)

    # ==================================================================== switch link

    def owned_call(self, switch_id: str, call_id: str) -> CallRecord | None:
        """The call if the server knows it (``unknown_call`` if it is another switch's)."""
        return self._owned(switch_id, call_id)

    def queue_wait(self, queue_id: str) -> tuple[int, float]:
        """``(calls waiting, longest wait in seconds)`` of a queue (as the supervisors see)."""
        return self._waits(self.waits_by_queue, queue_id)

    async def lookup(self, switch_id: str, msg: SwitchLookup) -> LookupResult:
        """An IVR self-service look-up (``switch.lookup``, see ``lookups.py``)."""
        return await self.lookups.run(switch_id, msg)

    def switch_connected(self, session: Session) -> None:
        """A switch session started or resumed: the server routes its calls again."""
        self.switches.attach(session)
        self.modes.set(session.principal.principal_id, SwitchMode.NORMAL, self.clock.wall())

    def switch_disconnected(self, session: Session) -> None:
        """A switch's connection dropped: its failover decider runs its calls alone."""
        switch_id = session.principal.principal_id
        if self.switches.session(switch_id) is not session:
            return
        self.modes.set(
            switch_id,
            SwitchMode.FALLBACK,
            self.clock.wall(),
            f"the link to switch {switch_id} is down: it distributes calls by itself",
        )

    def _owned(self, switch_id: str, call_id: str) -> CallRecord | None:
        call = self.calls.get(call_id)
        if call is not None and call.switch_id != switch_id:
            raise DomainError(
                ErrorCode.UNKNOWN_CALL,
                f"call {call_id} belongs to another switch",
                {"call_id": call_id},
            )
        return call

    def _default_tier(self) -> str | None:
        if self.domain.default_tier in self.config.tiers:
            return self.domain.default_tier
        tiers = sorted(self.config.tiers.values(), key=lambda t: (t.priority_weight, t.tier_id))
        return tiers[0].tier_id if tiers else None

    async def _new_call(self, switch_id: str, msg: SwitchRouteRequest) -> CallRecord:
        """Create (or find) the call record: tier from the caller number (R-TIER-2)."""
        customer = await self.store.lookup(msg.caller)
        call = self._owned(switch_id, msg.call_id)  # the look-up awaited: check again
        if call is not None:
            return call
        wall = self.clock.wall()
        call = CallRecord(msg.call_id, switch_id, wall, caller=msg.caller, called=msg.called)
        if customer is not None:
            call.customer_id, call.customer_name = customer.customer_id, customer.name
            call.blacklisted = customer.blacklisted
            call.tier = customer.tier_id if customer.tier_id in self.config.tiers else None
        call.tier = call.tier or self._default_tier()
        self.track(call)
        await self._store_event(
            call.call_id,
            CallEventKind.ARRIVED,
            {"caller_number": msg.caller, "called_number": msg.called, "switch_id": switch_id},
            at=wall,
            event_key="arrived",
        )
        await self._store_event(
            call.call_id,
            CallEventKind.TIER_IDENTIFIED,
            {"tier_id": call.tier, "customer_id": call.customer_id},
            at=wall,
            event_key="tier",
        )
        return call

    async def route_request(self, switch_id: str, msg: SwitchRouteRequest) -> RouteResponse:
        call = self._owned(switch_id, msg.call_id)
        if call is None:
            call = await self._new_call(switch_id, msg)
        elif call.call_id in self._bare_calls:
            await self._complete_call(call, msg)
        if msg.trajectory:
            call.merge_trajectory(msg.trajectory)
        if msg.stage is RouteStage.ARRIVAL:
            return await self._route_arrival(call)
        return await self._route_agent(call, msg)

    async def _complete_call(self, call: CallRecord, msg: SwitchRouteRequest) -> None:
        """A call created from an ``arrived`` report (no caller then) gets caller, called
        number, customer and tier from its first route request (R-TIER-2)."""
        self._bare_calls.discard(call.call_id)
        if not msg.caller:
            return
        customer = await self.store.lookup(msg.caller)
        call.caller = msg.caller
        call.called = call.called or msg.called
        if customer is not None:
            call.customer_id, call.customer_name = customer.customer_id, customer.name
            call.blacklisted = customer.blacklisted
            if not call.queued and call.state is None and customer.tier_id in self.config.tiers:
                call.tier = customer.tier_id
        await self._store_event(
            call.call_id,
            CallEventKind.ARRIVED,
            {"caller_number": msg.caller, "called_number": msg.called},
            at=call.arrived_at,
            event_key="arrived:route",
        )
        await self._store_event(
            call.call_id,
            CallEventKind.TIER_IDENTIFIED,
            {"tier_id": call.tier, "customer_id": call.customer_id},
            at=call.arrived_at,
            event_key="tier:route",
        )

    async def _route_arrival(self, call: CallRecord) -> RouteResponse:
        tier = self.config.tiers.get(call.tier or "")
        candidates = (
            (f"tier:{call.tier}", self.domain.default_flow)
            if call.tier
            else (self.domain.default_flow,)
        )
        flow = await self.store.published_flow(candidates)
        if flow is not None:
            call.flow_id = flow[0]
        return RouteResponse(
            customer_id=call.customer_id,
            tier=call.tier,
            blacklisted=call.blacklisted,
            flow_id=flow[0] if flow else None,
            flow_version=flow[1] if flow else None,
            skip_ivr=bool(tier is not None and tier.skip_ivr and not call.blacklisted),
        )

    def _pick_queue(self, queue_id: str | None, selection: str | None) -> str:
        queues = self.config.queues
        if queue_id is not None:
            if queue_id not in queues:
                raise DomainError(
                    ErrorCode.UNKNOWN_QUEUE, f"unknown queue {queue_id}", {"queue_id": queue_id}
                )
            return queue_id
        if selection:
            if selection in queues:
                return selection
            if f"q_{selection}" in queues:
                return f"q_{selection}"
            for q in sorted(queues):
                if queues[q].skill == selection:
                    return q
        default = self.domain.default_queue
        if default is not None and default in queues:
            return default
        if queues:
            return sorted(queues)[0]
        raise DomainError(ErrorCode.UNKNOWN_QUEUE, "no queue is configured")

    async def _route_agent(self, call: CallRecord, msg: SwitchRouteRequest) -> RouteResponse:
        if call.queued or call.state is not None:
            raise invalid_state(
                f"call {call.call_id} is already with the router", call=call.call_id
            )
        if msg.tier is not None and msg.tier in self.config.tiers:
            call.tier = msg.tier
        if call.tier is not None and call.tier not in self.config.tiers:
            call.tier = None  # deleted by an administrator since the call arrived
        tier_id = call.tier or self._default_tier()
        if tier_id is None:
            raise DomainError(ErrorCode.UNAVAILABLE, "no tier is configured")
        call.tier = tier_id
        tier = self.config.tiers[tier_id]
        if call.blacklisted and tier.blacklist_action == "bar":
            raise DomainError(
                ErrorCode.DESTINATION_UNAVAILABLE,
                "blacklisted callers of this tier do not reach agents",
                {"tier": tier_id},
            )
        queue_id = self._pick_queue(msg.queue_id, msg.business_selection)
        call.queue_id = queue_id
        call.skill = self.config.queues[queue_id].skill
        call.business_selection = msg.business_selection or call.business_selection
        wall = self.clock.wall()
        await self._record(
            call,
            CallEventKind.QUEUED,
            {"queue_id": queue_id, "business_selection": call.business_selection},
        )
        call.step(wall, TrajectoryKind.QUEUE_ENTER, queue_id, call.business_selection)
        spec = CallSpec(
            call_id=call.call_id,
            queue_id=queue_id,
            tier_id=tier_id,
            business_selection=call.business_selection or "",
            priority=call.priority,
        )
        call.route_waiting = True
        call.queued = True
        try:
            actions = self.call_engine(self.engine.call_arrived, spec, self.now())
            await self.run(actions)
        except DomainError:
            call.queued = False
            raise
        finally:
            call.route_waiting = False
        offer, call.route_offer = call.route_offer, None
        return RouteResponse(
            customer_id=call.customer_id,
            tier=tier_id,
            blacklisted=call.blacklisted,
            flow_id=call.flow_id,
            skip_ivr=bool(tier.skip_ivr and not call.blacklisted),
            queue_id=queue_id,
            skill=call.skill,
            priority=call.priority,
            agent=RoutedAgent(agent_id=offer[0], sip_contact=offer[1]) if offer else None,
            explanation=(call.explanation or "")[:1024] or None,
            # the queue's recording switch (R-SUP-3); absent = record (older switches too)
            record=msgspec.UNSET if self._records(queue_id) else False,
        )

    def _records(self, queue_id: str) -> bool:
        """Whether calls of this queue are recorded (on unless an administrator turned
        it off; a queue deleted meanwhile keeps the default)."""
        queue = self.config.queues.get(queue_id)
        return queue is None or queue.recording

    def registration(
        self, sip_user: str, registered: bool, contact: str | None, expires: int
    ) -> None:
        self.switches.register(sip_user, registered, contact, expires)

    async def command_result(self, msg: SwitchCommandResult) -> None:
        sent = self.switches.resolve(msg)
        if sent is None or msg.ok:
            return
        log.warning("switch could not execute %s: %s %s", sent.action, msg.code, msg.message)
        if isinstance(sent.action, OfferToAgent):
            agent_id = sent.action.agent_id
            if (
                sent.call_id in self.calls
                and self._engine_call_state(sent.call_id) == EngineCallState.OFFERED
                and self.engine.call_agent(sent.call_id) == agent_id
            ):
                await self._withdraw_offer(sent.call_id, agent_id, OFFER_FAILED_REASON)

    def _engine_call_state(self, call_id: str) -> str | None:
        try:
            return self.engine.call_state(call_id)
        except RoutingError:
            return None

    async def call_event(self, switch_id: str, ev: SwitchCallEvent) -> None:
        if await self.consults.switch_event(switch_id, ev):  # 1.1 consultation reports
            return
        call = self._owned(switch_id, ev.call_id)
        kind = ev.kind
        if call is None:
            if kind is not SwitchCallEventKind.ARRIVED:
                if await self.stored_calls.report(switch_id, ev):
                    if kind in (SwitchCallEventKind.ANSWERED, SwitchCallEventKind.BRIDGED):
                        await self._adopt_answered_stored_call(switch_id, ev)
                    return  # a call of this switch only the database knows (R-IN-3)
                raise DomainError(
                    ErrorCode.UNKNOWN_CALL, f"unknown call {ev.call_id}", {"call_id": ev.call_id}
                )
            created = await self._new_call(
                switch_id, SwitchRouteRequest(id=1, call_id=ev.call_id, stage=RouteStage.ARRIVAL)
            )
            if created.caller is None and not created.closed:
                self._bare_calls.add(created.call_id)
            return
        K = SwitchCallEventKind
        if call.consult_of is not None:  # reported on the consultation's own call id
            parent = self.calls.get(call.consult_of)
            if parent is not None and parent.consult_id == call.call_id:
                await self.consults.leg_event(parent, call, ev)
            return
        if ev.leg is LegRole.CONSULT:  # the consult leg of this call
            consult = self.calls.get(call.consult_id or "")
            if consult is not None:
                await self.consults.leg_event(call, consult, ev)
            elif call.conferenced_with is not None and kind in (K.RELEASED, K.FAILED):
                await self.consults.leave_conference(call, call.conferenced_with, ev.at)
            return
        if (
            call.conferenced_with is not None
            and kind in (K.RELEASED, K.FAILED)
            and ev.leg is LegRole.AGENT
        ):
            leaving = ev.agent_id or call.agent_id
            if leaving is not None and leaving in (call.agent_id, call.conferenced_with):
                await self.consults.leave_conference(call, leaving, ev.at)
                return
        if kind in (K.IVR_NODE, K.DTMF, K.MENU_CHOICE):
            data: dict[str, Any] = {"flow_id": call.flow_id, "node": ev.node, "label": ev.detail}
            if ev.dtmf is not None:
                data["digits"] = ev.dtmf
            await self._store_event(call.call_id, CallEventKind.IVR_NODE, data, at=ev.at)
            if kind is K.IVR_NODE:
                call.step(ev.at, TrajectoryKind.IVR_NODE, ev.node, ev.detail)
            elif kind is K.MENU_CHOICE:
                call.step(ev.at, TrajectoryKind.MENU_CHOICE, ev.node, ev.dtmf or ev.detail)
        elif kind is K.QUEUE_LEAVE:
            if ev.cause is ClearCause.CALLER_ABANDONED:
                await self._released(call, ev)
            elif self._engine_call_state(call.call_id) in (
                EngineCallState.WAITING,
                EngineCallState.OFFERED,
            ):
                actions = self.call_engine(self.engine.call_withdrawn, call.call_id, self.now())
                call.queued = False
                await self.run(actions)
        elif kind in (K.ANSWERED, K.BRIDGED):
            await self._answered(call, ev)
        elif kind in (K.HELD, K.RETRIEVED):
            await self._hold(call, ev, held=kind is K.HELD)
        elif kind is K.TRANSFERRED:
            await self._transferred(call, ev)
        elif kind is K.CONFERENCED and call.conferenced_with is None:
            await self._store_event(
                call.call_id, CallEventKind.CONFERENCED, {"agent_id": call.agent_id}, at=ev.at
            )
            call.step(ev.at, TrajectoryKind.CONFERENCE, call.agent_id)
            rec = self.agents.get(call.agent_id or "")
            if rec is not None and rec.session is not None:
                rec.session.push(
                    CallConferenced(
                        call_id=call.call_id,
                        agent_id=rec.agent_id,
                        parties=(
                            Party(role=PartyRole.CALLER, number=call.caller),
                            Party(role=PartyRole.AGENT, agent_id=rec.agent_id),
                            *(
                                (Party(role=PartyRole.AGENT, agent_id=ev.agent_id),)
                                if ev.agent_id and ev.agent_id != rec.agent_id
                                else ()
                            ),
                        ),
                    )
                )
        elif kind is K.FAILED:
            if ev.leg is LegRole.AGENT and self.consults.transfer_ringing(call):
                await self.consults.transfer_not_answered(call, ev)
            elif ev.leg in (LegRole.AGENT, LegRole.CALLER) and call.state is CallState.OFFERED:
                await self._rona(call, ev)
            elif ev.leg is LegRole.CALLER:
                await self._released(call, ev)
        elif kind is K.RELEASED and ev.leg in (LegRole.CALLER, LegRole.AGENT):
            await self._released(call, ev)
        elif kind in (K.RECORDING_STARTED, K.RECORDING_STOPPED):
            await self.voicemails.report(switch_id, ev, caller=call.caller)  # R-IVR-4
        # arrived (again), queue_enter, ringing, recording_*: acknowledged, nothing to change

    async def _answered(self, call: CallRecord, ev: SwitchCallEvent) -> None:
        if call.state in (CallState.ESTABLISHED, CallState.HELD, CallState.CONFERENCED):
            return  # bridged after answered, or a repeat
        if self.consults.transfer_ringing(call):  # a blind transfer's target answered
            await self.consults.transfer_answered(call, ev)
            return
        agent_id = ev.agent_id or call.agent_id
        if (
            agent_id is None
            or self._engine_call_state(call.call_id) != EngineCallState.OFFERED
            or self.engine.call_agent(call.call_id) != agent_id
        ):
            raise invalid_state(f"call {call.call_id} is not offered to {agent_id}")
        actions = self.call_engine(self.engine.offer_accepted, call.call_id, agent_id, self.now())
        rec = self.agents[agent_id]

        async def first() -> None:
            await self._store_event(
                call.call_id, CallEventKind.ANSWERED, {"agent_id": agent_id}, at=ev.at
            )
            call.state, call.state_since, call.answered = CallState.ESTABLISHED, ev.at, True
            call.step(ev.at, TrajectoryKind.ANSWER, agent_id)
            self._count_answer(call)
            rec.call_id = call.call_id
            if rec.session is not None:
                rec.session.push(CallEstablished(call_id=call.call_id, agent_id=agent_id))

        await self.run(actions, first=first)

    async def _hold(self, call: CallRecord, ev: SwitchCallEvent, *, held: bool) -> None:
        if call.state not in (CallState.ESTABLISHED, CallState.HELD):
            if call.state is CallState.CONFERENCED:
                return  # a conference leg's hold: nothing to change for the call
            raise invalid_state(f"call {call.call_id} is not connected to an agent")
        await self.apply_hold(call, held=held, at=ev.at)

    async def apply_hold(self, call: CallRecord, *, held: bool, at: float) -> None:
        """Record a hold / retrieve and tell the agent (a repeat is ignored: the switch
        may report a hold the server applied on its command's acknowledgement)."""
        target = CallState.HELD if held else CallState.ESTABLISHED
        agent_id = call.agent_id
        if agent_id is None:
            return
        rec = self.agents[agent_id]

        async def first() -> None:
            if call.state is target or call.state not in (CallState.ESTABLISHED, CallState.HELD):
                return
            kind = CallEventKind.HELD if held else CallEventKind.RETRIEVED
            await self._store_event(call.call_id, kind, {"agent_id": agent_id}, at=at)
            call.state = target
            call.state_since = at
            call.step(at, TrajectoryKind.HOLD if held else TrajectoryKind.RETRIEVE, agent_id)
            if rec.session is not None:
                event: Event = (
                    CallHeld(call_id=call.call_id, agent_id=agent_id)
                    if held
                    else CallRetrieved(call_id=call.call_id, agent_id=agent_id)
                )
                rec.session.push(event)

        await self.run((), first=first)

    async def _rona(self, call: CallRecord, ev: SwitchCallEvent) -> None:
        agent_id = call.agent_id
        if agent_id is None or self.engine.call_agent(call.call_id) != agent_id:
            return
        cause = ev.cause or ClearCause.NO_ANSWER
        reason = "no_answer" if cause is ClearCause.NO_ANSWER else cause.value
        actions = self.call_engine(
            self.engine.offer_failed, call.call_id, agent_id, self.now(), reason
        )
        rec = self.agents[agent_id]

        async def first() -> None:
            await self._store_event(
                call.call_id, CallEventKind.RONA, {"agent_id": agent_id, "cause": cause}, at=ev.at
            )
            call.agent_id, call.state = None, None
            if rec.session is not None:
                rec.session.push(
                    CallDiverted(
                        call_id=call.call_id,
                        agent_id=agent_id,
                        reason=DivertReason.NO_ANSWER
                        if cause is ClearCause.NO_ANSWER
                        else DivertReason.REJECTED,
                    )
                )

        await self.run(actions, ctx=Ctx(agent_id=agent_id), first=first)

    async def _transferred(self, call: CallRecord, ev: SwitchCallEvent) -> None:
        agent_id = call.agent_id
        if call.transfer_applied:
            call.transfer_applied = False
            return  # the server applied it on the transfer command's acknowledgement
        if call.consult_id is not None:
            await self.consults.drop(call, "the call was transferred")
        destination: Destination
        if isinstance(call.transfer_to, AgentDestination | QueueDestination | IvrDestination):
            destination = call.transfer_to
        elif ev.queue_id is not None:
            destination = QueueDestination(queue_id=ev.queue_id)
        elif ev.agent_id is not None and ev.agent_id != agent_id:
            destination = AgentDestination(agent_id=ev.agent_id)
        else:
            destination = IvrDestination(flow_id=call.flow_id or self.domain.default_flow)
        actions: list[Action] = []
        if agent_id is not None and call.state in (
            CallState.ESTABLISHED,
            CallState.HELD,
            CallState.CONFERENCED,
        ):
            actions = self.end_agent_part(call, agent_id, contact="transferred")
        rec = self.agents.get(agent_id or "")

        async def first() -> None:
            await self._store_event(
                call.call_id,
                CallEventKind.TRANSFERRED,
                {
                    "from_agent": agent_id,
                    "to_agent": destination.agent_id
                    if isinstance(destination, AgentDestination)
                    else None,
                    "to_queue": destination.queue_id
                    if isinstance(destination, QueueDestination)
                    else None,
                    "mode": "single_step",
                },
                at=ev.at,
            )
            call.step(ev.at, TrajectoryKind.TRANSFER, agent_id, type(destination).__name__)
            if agent_id is not None:
                self.monitors.agent_left(call.call_id, agent_id)
            if rec is not None and rec.session is not None and agent_id is not None:
                rec.session.push(
                    CallTransferred(
                        call_id=call.call_id, agent_id=agent_id, from_agent=agent_id, to=destination
                    )
                )
            call.agent_id, call.state, call.queued, call.transfer_to = None, None, False, None
            call.direct, call.from_agent = False, agent_id

        await self.run(actions, ctx=Ctx(agent_id=agent_id), first=first)
        if isinstance(destination, AgentDestination):  # the switch rings the target now
            await self.consults.transfer_offered(call, destination.agent_id, agent_id, ev.at)

    async def _requeue(self, call: CallRecord, agent_id: str, queue_id: str, at: float) -> None:
        """Blind transfer to a queue: the agent's part ends (ACW) and the call is queued
        again through the engine with its tier and business selection (R-IN-8)."""
        actions = self.end_agent_part(call, agent_id, contact="transferred")
        rec = self.agents[agent_id]
        to = QueueDestination(queue_id=queue_id)

        async def first() -> None:
            await self._store_event(
                call.call_id,
                CallEventKind.TRANSFERRED,
                {"from_agent": agent_id, "to_queue": queue_id, "mode": "single_step"},
                at=at,
            )
            call.step(at, TrajectoryKind.TRANSFER, agent_id, f"queue:{queue_id}")
            self.monitors.agent_left(call.call_id, agent_id)
            if rec.session is not None:
                rec.session.push(
                    CallTransferred(
                        call_id=call.call_id, agent_id=agent_id, from_agent=agent_id, to=to
                    )
                )
            call.agent_id, call.state, call.transfer_to = None, None, None
            call.direct, call.from_agent, call.transfer_applied = False, agent_id, True
            call.queue_id = queue_id
            call.skill = self.config.queues[queue_id].skill
            await self._record(
                call,
                CallEventKind.QUEUED,
                {"queue_id": queue_id, "business_selection": call.business_selection},
            )
            call.step(self.clock.wall(), TrajectoryKind.QUEUE_ENTER, queue_id, "transfer")

        await self.run(actions, ctx=Ctx(agent_id=agent_id), first=first)
        if call.closed:
            return
        tier_id = call.tier or self._default_tier()
        assert tier_id is not None
        spec = CallSpec(
            call_id=call.call_id,
            queue_id=queue_id,
            tier_id=tier_id,
            business_selection=call.business_selection or "",
            priority=call.priority,
        )
        call.queued = True
        await self.run(self.call_engine(self.engine.call_arrived, spec, self.now()))

    def _end_for_agent(self, call: CallRecord, agent_id: str) -> list[Action]:
        """``call_ended`` for the agent, with the disconnect / pending-logoff policy."""
        rec = self.agents[agent_id]
        queue = self.config.queues.get(call.queue_id or "")
        rec.acw_call = call.call_id
        rec.acw_deadline = self.clock.wall() + (queue.acw_seconds if queue else 0.0)
        now = self.now()
        actions = self.call_engine(self.engine.call_ended, call.call_id, now)
        if rec.disconnected and self.engine.agent_state(agent_id) in (
            EngineState.ACW,
            EngineState.NOT_READY,
        ):
            # the desktop is gone: straight to not ready, no ACW that would end in ready
            actions = [
                a
                for a in actions
                if not (isinstance(a, AgentStateChanged) and a.agent_id == agent_id)
            ]
            if self.engine.agent_state(agent_id) == EngineState.ACW:
                rec.acw_call = None
            actions += self.call_engine(
                self.engine.agent_not_ready, agent_id, DISCONNECTED_REASON, now
            )
        return actions

    async def _released(self, call: CallRecord, ev: SwitchCallEvent, *, lost: bool = False) -> None:
        """The call is over (``lost``: its switch went away for good)."""
        if call.consult_id is not None:
            await self.consults.drop(call, "the original call ended")
        state = self._engine_call_state(call.call_id)
        agent_id = call.agent_id
        partner = call.conferenced_with
        if lost:
            by = "system"
        else:
            by = ev.leg.value if ev.leg in (LegRole.CALLER, LegRole.AGENT) else "system"
        actions: list[Action] = []
        abandoned = False
        # the switch failed the call (e.g. media failure while bridging): not the caller
        failed = not lost and ev.cause is ClearCause.FAILED and not call.answered
        if agent_id is not None and call.state in (
            CallState.ESTABLISHED,
            CallState.HELD,
            CallState.CONFERENCED,
        ):
            actions = self.end_agent_part(call, agent_id)
            if partner is not None:
                actions += self.end_direct(call, partner, acw=True)
            disposition = "answered"
        elif state in (EngineCallState.WAITING, EngineCallState.OFFERED):
            if lost or failed:  # not the caller's doing: no SL outcome
                actions = self.call_engine(self.engine.call_withdrawn, call.call_id, self.now())
                disposition = "failed" if failed else "switch_lost"
            else:
                actions = self.call_engine(self.engine.call_abandoned, call.call_id, self.now())
                disposition, abandoned = "abandoned", True
        elif call.answered:
            disposition = "answered"
        elif failed:
            disposition = "failed"
        elif not call.queued:
            disposition = "ivr"
        else:
            disposition = "switch_lost" if lost else "abandoned"
        if agent_id is not None and self.consults.transfer_ringing(call):
            actions += self.end_direct(call, agent_id, acw=False)  # the target rang: freed
        rec = self.agents.get(agent_id or "")
        was = call.state
        cause = ClearCause.FAILED if lost else (ev.cause or ClearCause.NORMAL)

        released: dict[str, Any] = {"by": by}
        if failed and ev.detail:
            released["detail"] = ev.detail

        async def first() -> None:
            await self._store_event(call.call_id, CallEventKind.RELEASED, released, at=ev.at)
            await self._write(self.store.submit_close(call.call_id, disposition, ev.at))
            contact = self.store.submit_contact(
                started_at=call.arrived_at,
                ended_at=ev.at,
                call_id=call.call_id,
                customer_id=call.customer_id,
                number=call.caller or "",
                agent_id=agent_id if call.answered else None,
                disposition=disposition,
                business_selection=call.business_selection or "",
                summary=f"{disposition}; released by {by}"
                + (f" ({ev.detail})" if failed and ev.detail else ""),
            )
            await self._write(contact)
            call.step(ev.at, TrajectoryKind.RELEASE, agent_id, by)
            if abandoned:
                self._count_abandon(call)
            self.monitors.call_ended(call.call_id)
            if rec is not None and rec.session is not None and agent_id is not None:
                if was is CallState.OFFERED:
                    rec.session.push(
                        CallDiverted(
                            call_id=call.call_id,
                            agent_id=agent_id,
                            reason=DivertReason.REROUTED
                            if lost or failed
                            else DivertReason.CALLER_ABANDONED,
                        )
                    )
                elif was in (CallState.ESTABLISHED, CallState.HELD, CallState.CONFERENCED):
                    rec.session.push(
                        CallConnectionCleared(
                            call_id=call.call_id,
                            agent_id=agent_id,
                            cause=cause,
                            released_by=PartyRole.AGENT if by == "agent" else PartyRole.CALLER,
                        )
                    )
            other = self.agents.get(partner or "")
            if other is not None and other.session is not None:
                other.session.push(
                    CallConnectionCleared(
                        call_id=call.call_id,
                        agent_id=other.agent_id,
                        cause=cause,
                        released_by=PartyRole.AGENT if by == "agent" else PartyRole.CALLER,
                    )
                )
            self.forget(call)
            call.state = None

        await self.run(actions, ctx=Ctx(agent_id=agent_id), first=first)

    async def fallback_report(self, switch_id: str, msg: SwitchFallbackReport) -> None:
        """Calls the switch handled alone while the link was down (R-IN-3).

        Idempotent (``event_key`` per call and step; one contact record per call): every
        call gets its arrival, tier, queue, offer, answer and release with the switch's
        times and agent, finished calls are closed (``fallback_<outcome>``) with a contact
        record, and calls still in progress are adopted: an agent talking on one is put on
        a direct call (busy, no offers) until the switch reports its release."""
        for fc in msg.calls:
            key = f"fallback:{fc.call_id}"
            cid = fc.call_id
            customer = await self.store.lookup(fc.caller)
            if fc.outcome is FallbackOutcome.IN_PROGRESS and cid not in self.calls:
                stored = await asyncio.to_thread(self.store.calls.find_call, cid)
                if stored is not None and stored.switch_id == switch_id:
                    # a call this server knew before it restarted (R-IN-3)
                    await self._adopt_stored_call(switch_id, fc, stored, customer)
                    continue
            await self._store_event(
                cid,
                CallEventKind.ARRIVED,
                {"caller_number": fc.caller, "called_number": fc.called, "switch_id": switch_id},
                at=fc.arrived_at,
                event_key=f"{key}:arrived",
            )
            tier = customer.tier_id if customer is not None else None
            await self._store_event(
                cid,
                CallEventKind.TIER_IDENTIFIED,
                {
                    "tier_id": tier if tier in self.config.tiers else self._default_tier(),
                    "customer_id": customer.customer_id if customer is not None else None,
                },
                at=fc.arrived_at,
                event_key=f"{key}:tier",
            )
            steps = (
                (
                    CallEventKind.QUEUED,
                    "queued",
                    {"queue_id": fc.queue_id},
                    fc.arrived_at if fc.queue_id else None,
                ),
                (CallEventKind.OFFERED, "offered", {"agent_id": fc.agent_id}, fc.offered_at),
                (CallEventKind.ANSWERED, "answered", {"agent_id": fc.agent_id}, fc.answered_at),
            )
            for kind, step, data, at in steps:
                if at is not None:
                    await self._store_event(cid, kind, data, at=at, event_key=f"{key}:{step}")
            if fc.outcome is FallbackOutcome.IN_PROGRESS:
                await self._adopt_fallback_call(switch_id, fc, customer)
                continue
            end = fc.released_at or fc.answered_at or fc.arrived_at
            await self._store_event(
                cid, CallEventKind.RELEASED, {"by": "fallback"}, at=end, event_key=f"{key}:released"
            )
            disposition = f"fallback_{fc.outcome.value}"
            await self._store_event(
                cid,
                CallEventKind.CLOSED,
                {"disposition": disposition},
                at=end,
                event_key=f"{key}:closed",
            )
            await self.store.add_contact_once(
                started_at=fc.arrived_at,
                ended_at=end,
                call_id=cid,
                customer_id=customer.customer_id if customer is not None else None,
                number=fc.caller or "",
                agent_id=fc.agent_id if fc.answered_at is not None else None,
                disposition=disposition,
                summary=f"handled by switch {switch_id} while the CTI link was down",
            )
        # desktops / supervisors (1.1): the outage is over and reconciled
        self.modes.report_part(
            switch_id,
            calls=len(msg.calls),
            last_part=msg.last_part,
            down_at=msg.link_down_at,
            up_at=msg.link_up_at,
        )

    async def _adopt_stored_call(
        self, switch_id: str, fc: FallbackCall, stored: CallView, customer: Any
    ) -> None:
        """A call still live on the switch that has a row from before this server
        restarted (a call the server routed, or an adopted fallback call): the switch
        reports it ``in_progress`` after a fresh session. Only what the row lacks is
        stored (queue, offer, answer; no second arrival), then it is adopted like a
        fallback call in progress: an agent talking on it is busy on it (at once, or at
        login) and its end closes the row through the live path (after-call work,
        disposition ``answered``, one contact record). A row closed already stays
        closed: nothing is adopted."""
        if stored.disposition is not None:
            log.info(
                "%s: reported in progress but closed already (%s)", fc.call_id, stored.disposition
            )
            return
        key = f"fallback:{fc.call_id}"
        agent = fc.agent_id
        steps = (
            (
                CallEventKind.QUEUED,
                "queued",
                {"queue_id": fc.queue_id},
                fc.queue_id and stored.queued_at is None,
                fc.offered_at or fc.arrived_at,
            ),
            (
                CallEventKind.OFFERED,
                "offered",
                {"agent_id": agent},
                agent and stored.offered_at is None,
                fc.offered_at,
            ),
            (
                CallEventKind.ANSWERED,
                "answered",
                {"agent_id": agent},
                agent and stored.answered_at is None,
                fc.answered_at,
            ),
        )
        for kind, step, data, missing, at in steps:
            if missing and at is not None:
                await self._store_event(fc.call_id, kind, data, at=at, event_key=f"{key}:{step}")
        arrived_at = min(stored.arrived_at.timestamp(), fc.arrived_at)
        await self._adopt_fallback_call(
            switch_id, msgspec.structs.replace(fc, arrived_at=arrived_at), customer
        )
        log.info(
            "%s: live on switch %s after the restart: adopted (agent %s)",
            fc.call_id,
            switch_id,
            agent,
        )

    async def _adopt_answered_stored_call(self, switch_id: str, ev: SwitchCallEvent) -> None:
        """An agent answered a call only the database knows (it was ringing when this
        server restarted, so the switch's live report left it out): from now on the
        server knows it, and its agent is busy on it like on a call the switch reported
        live (R-IN-3)."""
        if ev.leg is LegRole.CONSULT or not ev.agent_id or ev.call_id in self.calls:
            return
        stored = await asyncio.to_thread(self.store.calls.find_call, ev.call_id)
        if stored is None or stored.switch_id != switch_id or stored.disposition is not None:
            return
        fc = FallbackCall(
            call_id=ev.call_id,
            outcome=FallbackOutcome.IN_PROGRESS,
            arrived_at=stored.arrived_at.timestamp(),
            caller=stored.caller_number or None,
            called=stored.called_number or None,
            queue_id=stored.queue_id,
            agent_id=ev.agent_id,
            answered_at=stored.answered_at.timestamp() if stored.answered_at else ev.at,
        )
        await self._adopt_fallback_call(switch_id, fc, await self.store.lookup(fc.caller))

    def _fallback_call_of(self, agent_id: str) -> CallRecord | None:
        """The adopted fallback call ``agent_id`` is still talking on (reported while the
        agent was logged off), if any."""
        call_id = self._fallback_busy.pop(agent_id, None)
        call = self.calls.get(call_id or "")
        if call is None or call.closed or call.agent_id != agent_id or not call.direct:
            return None
        return call

    async def _adopt_fallback_call(self, switch_id: str, fc: FallbackCall, customer: Any) -> None:
        """A call still running after the outage becomes a call the server knows."""
        if fc.call_id in self.calls:
            return
        call = CallRecord(fc.call_id, switch_id, fc.arrived_at, caller=fc.caller, called=fc.called)
        if customer is not None:
            call.customer_id, call.customer_name = customer.customer_id, customer.name
            call.tier = customer.tier_id if customer.tier_id in self.config.tiers else None
        call.tier = call.tier or self._default_tier()
        queue = self.config.queues.get(fc.queue_id or "")
        if queue is not None:
            call.queue_id, call.skill = queue.queue_id, queue.skill
        if fc.trajectory:
            call.merge_trajectory(fc.trajectory)
        rec = self.agents.get(fc.agent_id or "")
        if fc.answered_at is None or rec is None:
            self.track(call)  # in the switch's IVR/queue: later requests find it
            return
        call.agent_id, call.answered, call.direct = rec.agent_id, True, True
        call.state, call.state_since = CallState.ESTABLISHED, fc.answered_at
        self.track(call)
        state = self.engine.agent_state(rec.agent_id)
        if state == EngineState.LOGGED_OUT:
            self._fallback_busy[rec.agent_id] = call.call_id  # protected at login
            return
        if state not in (EngineState.READY, EngineState.NOT_READY, EngineState.ACW):
            return  # on a call the server routed: nothing to protect
        if self.direct_reason(rec.agent_id) is not None:
            return
        if state == EngineState.NOT_READY:
            rec.direct_pending = self.engine.agent_reason(rec.agent_id)
        rec.call_id = call.call_id
        actions = self.call_engine(
            self.engine.agent_not_ready, rec.agent_id, DIRECT_CALL_REASON, self.now()
        )

        async def first() -> None:
            if rec.session is not None:
                rec.session.push(self._delivered(call, rec))
                rec.session.push(CallEstablished(call_id=call.call_id, agent_id=rec.agent_id))

        await self.run(actions, ctx=Ctx(agent_id=rec.agent_id), first=first)

    async def switch_lost(self, session: Session) -> None:
        """A switch's session ended for good (no resume within the grace period).

        Its calls are gone: answered ones end normally for their agents (after-call
        work), waiting and ringing ones are withdrawn from the engine without an SL
        outcome (disposition ``switch_lost``; a ringing agent gets ``call.diverted``
        and is ready again), consultations end, monitors end (``failed``)."""
        if not self.switches.detach(session):
            return
        switch_id = session.principal.principal_id
        self.monitors.switch_lost(switch_id)
        owned = [c for c in self.calls.values() if c.switch_id == switch_id]
        # Calls nobody has yet go first: otherwise an agent freed by an earlier call of
        # this switch would be offered one of them, on a switch that is gone.
        for call in sorted(owned, key=lambda c: (c.consult_of is not None, c.agent_id is not None)):
            if call.closed:
                continue
            if call.consult_of is not None:  # its original call is gone already
                target = call.agent_id
                actions = self.end_direct(call, target, acw=False) if target else []
                self.forget(call)
                await self.run(actions, ctx=Ctx(agent_id=target))
                continue
            await self._released(
                call,
                SwitchCallEvent(
                    id=1,
                    call_id=call.call_id,
                    kind=SwitchCallEventKind.RELEASED,
                    leg=LegRole.CALLER,
                    at=self.clock.wall(),
                    cause=ClearCause.FAILED,
                ),
                lost=True,
            )

    # ==================================================================== call control

    async def call_control(
        self,
        agent_id: str,
        call_id: str,
        request: str,
        *,
        digits: str | None = None,
        destination: Destination | None = None,
    ) -> None:
        """A desktop's call-control request; answered after the switch confirms it."""
        rec = self.agent(agent_id)
        self._logged_on(rec)
        call = self.calls.get(call_id)
        if call is not None and call.consult_of is not None and not call.closed:
            await self._consult_control(agent_id, call, request)
            return
        if request == "answer" and self.engine.agent_state(agent_id) != EngineState.RESERVED:
            raise invalid_state("no call is ringing at this agent", state=rec.state)
        if call is None or call.closed or agent_id not in (call.agent_id, call.conferenced_with):
            raise DomainError(
                ErrorCode.UNKNOWN_CALL, f"call {call_id} is not at this agent", {"call_id": call_id}
            )
        on_call = (CallState.ESTABLISHED, CallState.HELD, CallState.CONFERENCED)
        allowed: dict[str, tuple[CallState, ...]] = {
            "answer": (CallState.OFFERED,),
            "release": (CallState.OFFERED, *on_call),
            "hold": (CallState.ESTABLISHED,),
            "retrieve": (CallState.HELD,),
            "dtmf": on_call,
            "transfer": (CallState.ESTABLISHED, CallState.HELD),
        }
        if call.state not in allowed[request]:
            raise invalid_state(
                f"cannot {request} a call that is {call.state or 'not connected'}",
                state=str(call.state),
            )
        if call.consult_id is not None and request in ("retrieve", "transfer"):
            raise invalid_state(
                "a consultation is running: use call.reconnect, call.transfer or call.conference",
                consult_call_id=call.consult_id,
            )
        action: SwitchAction
        requeue: str | None = None
        reserved: str | None = None
        match request:
            case "answer":
                action = Bridge(agent_id=agent_id)
            case "release":
                if call.state is CallState.OFFERED:
                    action = Hangup(leg=LegRole.AGENT, cause=ClearCause.BUSY)
                elif call.state is CallState.CONFERENCED:  # leave the conference only
                    leg = LegRole.AGENT if agent_id == call.agent_id else LegRole.CONSULT
                    action = Hangup(leg=leg)
                else:
                    action = Hangup(leg=LegRole.CALLER)
            case "hold":
                action = Hold(agent_id=agent_id)
            case "retrieve":
                action = Unhold(agent_id=agent_id)
            case "dtmf":
                assert digits is not None
                action = SendDtmf(digits=digits)
            case _:
                assert destination is not None
                contact = None
                if isinstance(destination, AgentDestination):
                    target = self.agent(destination.agent_id)
                    contact = self.switches.contact(target.extension or target.agent_id)
                    if contact is None:
                        raise DomainError(
                            ErrorCode.DESTINATION_UNAVAILABLE,
                            f"agent {destination.agent_id} has no registered softphone",
                        )
                    # ready, and reserved at once: nothing else rings it (R-IN-8)
                    reserve = self.consults.reserve_transfer_target(agent_id, target.agent_id)
                    await self.run(reserve, ctx=Ctx(agent_id=target.agent_id))
                    reserved = target.agent_id
                elif isinstance(destination, QueueDestination):
                    requeue = self._pick_queue(destination.queue_id, None)
                call.transfer_to = destination
                action = TransferCall(destination=destination, agent_sip_contact=contact)
        try:
            await self.switches.command(
                call.switch_id, call_id, action, timeout=self.domain.command_timeout
            )
        except DomainError:
            if reserved is not None:
                await self.consults.release_transfer_target(call, reserved)
            raise
        if requeue is not None and not call.closed and call.agent_id == agent_id:
            await self._requeue(call, agent_id, requeue, self.clock.wall())

    async def _consult_control(self, agent_id: str, consult: CallRecord, request: str) -> None:
        """``call.answer`` / ``call.release`` of a consultation (commands on the original
        call's consult leg; the switch reports the outcome as consult-leg events)."""
        if await self.consults.control(agent_id, consult, request):  # a 1.1 consultation
            return
        if agent_id not in (consult.agent_id, consult.from_agent):
            raise DomainError(
                ErrorCode.UNKNOWN_CALL,
                f"call {consult.call_id} is not at this agent",
                {"call_id": consult.call_id},
            )
        action: SwitchAction
        if request == "answer" and agent_id == consult.agent_id:
            if consult.state is not CallState.OFFERED:
                raise invalid_state("the consultation is not ringing", state=str(consult.state))
            action = Bridge(agent_id=agent_id)
        elif request == "release":
            ringing_here = consult.state is CallState.OFFERED and agent_id == consult.agent_id
            action = Hangup(
                leg=LegRole.CONSULT, cause=ClearCause.BUSY if ringing_here else ClearCause.NORMAL
            )
        else:
            raise invalid_state(
                f"cannot {request} a consultation (use call.reconnect / transfer / conference)",
                state=str(consult.state),
            )
        await self.switches.command(
            consult.switch_id,
            consult.consult_of or consult.call_id,
            action,
            timeout=self.domain.command_timeout,
        )
