"""The CTI link: the switch's :class:`~cti_server.switch.ports.Decider` backed by the CTI
server (``shared.protocol.switch`` over :class:`~shared.cti_client.CtiClient`).

Lifecycle (docs/switch_link.md): connect (``hello`` kind ``switch``, token, the switch
id as ``client_name``) → re-send every registration → replay the fallback journal
(``switch.fallback_report`` parts, each acknowledged before the next) → **up** → on
loss **down**, reconnect with exponential backoff, resuming the session so commands
sent meanwhile are replayed.

While up, route requests go to the server (a timeout or a lost connection raises
:class:`DecisionUnavailable`, so the caller falls back); reports, registrations and
command results go through one bounded outgoing queue that never blocks the core and
is drained in order whenever the link is up. ``switch.command`` events are executed on
the core with :meth:`CallControl.execute` at most once per ``command_id``; commands
past their ``expires_at`` (server time) are refused with ``timeout``.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
from collections import OrderedDict, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from cti_server.switch.journal import MAX_CALLS_PER_PART, Journal, PendingReport
from cti_server.switch.ports import (
    CallControl,
    CallReport,
    CommandFailed,
    DecisionUnavailable,
    LookupResult,
    RegistrationReport,
    RouteQuery,
)
from shared.clock import Clock
from shared.cti_client import ClientEvent, ConnectionLost, CtiClient
from shared.protocol.agent import AgentState
from shared.protocol.base import VERSION_1_1, ProtocolVersion, Request
from shared.protocol.errors import ErrorCode, ProtocolError
from shared.protocol.handshake import ClientKind, TokenCredentials
from shared.protocol.switch import (
    AgentsSnapshot,
    FallbackCall,
    FlowDocument,
    LegRole,
    OfferToAgent,
    PromptChunk,
    PromptIndex,
    RecordingReceipt,
    RouteResponse,
    RouteStage,
    SwitchAction,
    SwitchAgentsSnapshot,
    SwitchAgentState,
    SwitchCallEvent,
    SwitchCallEventKind,
    SwitchCommand,
    SwitchCommandResult,
    SwitchFallbackReport,
    SwitchFlowGet,
    SwitchLookup,
    SwitchPromptGet,
    SwitchPromptIndex,
    SwitchRecordingPut,
    SwitchRegistration,
    SwitchRouteRequest,
)
from shared.protocol.switch import LookupResult as WireLookupResult

log = logging.getLogger("switch.link")

LOOKUP_GAP = (
    "the CTI server speaks protocol 1.0, which has no self-service look-up request "
    "on the switch link (switch.lookup needs 1.1)"
)
SYSTEM_NOT_READY_REASONS = frozenset({"disconnected", "unregistered"})
"""Not-ready reasons the server sets for a lost desktop or softphone: no evidence about
the agent (in an outage the desktops go too), so registration decides."""


def available(state: AgentState, reason_code: str | None) -> bool:
    """Whether the fallback should count an agent in this server state as ready.

    Not ready for the agent's own (or a ring-no-answer) not-ready reason; ready when
    ready, on a call (the fallback tracks calls itself), in after-call work (which
    nobody can end without a desktop), logged off at the server or not ready only
    because a desktop / softphone connection dropped (the softphone's registration
    decides)."""
    if state is AgentState.NOT_READY:
        return reason_code in SYSTEM_NOT_READY_REASONS
    return True


_RETRYABLE = frozenset({ErrorCode.INTERNAL, ErrorCode.UNAVAILABLE, ErrorCode.TIMEOUT})
_SEEN_COMMANDS = 10_000


class LinkState(enum.StrEnum):
    CONNECTING = "connecting"
    """Not connected yet, or reconnecting after a loss."""
    SYNCING = "syncing"
    """Connected: re-sending registrations and replaying the journal."""
    UP = "up"
    CLOSED = "closed"


@dataclass(slots=True)
class _Outgoing:
    msg: Request
    counted: bool
    on_done: Callable[[], None] | None = None
    attempts: int = 0


@dataclass(slots=True)
class LinkCall:
    """What the link knows of a call the CTI server routes."""

    call_id: str
    caller: str | None
    called: str | None
    arrived_at: float
    queue_id: str | None = None
    waiting_since: float | None = None
    """Wall time the server queued it without an agent (``None``: not waiting)."""
    agent_id: str | None = None
    extra: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class _Registration:
    report: RegistrationReport
    expires_at: float | None
    """Monotonic expiry (``None``: no expiry given)."""


type CommandGuard = Callable[[str, SwitchAction], str | None]
"""``(call_id, action) → refusal message`` (``None``: execute it)."""


class CtiLink:
    """The switch side of the switch link."""

    def __init__(
        self,
        url: str,
        token: str,
        switch_id: str,
        control: CallControl,
        *,
        clock: Clock,
        journal: Journal | None,
        route_timeout: float = 2.0,
        request_timeout: float = 5.0,
        heartbeat: bool | float = True,
        backoff_initial: float = 0.1,
        backoff_max: float = 5.0,
        max_queued_reports: int = 10_000,
        open_timeout: float = 3.0,
    ) -> None:
        if not switch_id or len(switch_id) > 64 or any(ch.isspace() for ch in switch_id):
            raise ValueError(f"switch_id must be 1-64 characters without spaces: {switch_id!r}")
        if max_queued_reports < 1:
            raise ValueError("max_queued_reports must be >= 1")
        if not 0 < backoff_initial <= backoff_max:
            raise ValueError("need 0 < backoff_initial <= backoff_max")
        self.url = url
        self.switch_id = switch_id
        self.control = control
        self.clock = clock
        self.journal = journal
        self.route_timeout = route_timeout
        self.request_timeout = request_timeout
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.max_queued_reports = max_queued_reports
        self.client = CtiClient(
            url,
            TokenCredentials(token=token),
            ClientKind.SWITCH,
            client_name=switch_id,
            heartbeat=heartbeat,
            request_timeout=request_timeout,
            on_event=self._on_event,
            open_timeout=open_timeout,
            close_timeout=1.0,
            clock=clock,
        )
        self.command_guard: CommandGuard | None = None
        self.agent_hint: Callable[[str, bool], None] | None = None
        """Told ``(agent_id, ready)`` when a command or event reveals readiness (with a
        1.1 server: every ``switch.agent_state``, keyed by the agent's SIP user)."""
        self.live_calls: Callable[[], list[FallbackCall]] | None = None
        """The calls still live on the switch that a restarted server must learn of
        (CTI-routed calls, adopted fallback calls): after every fresh session (the
        server lost its memory) they follow the journal in the ``switch.fallback_report``
        as ``in_progress`` calls (R-IN-3)."""
        self._live_owed = False
        """A fresh session began: the live calls are still to be reported."""
        self.live_calls_reported = 0
        self._agent_buffer: list[SwitchAgentState] | None = None
        """``switch.agent_state`` events received while an agents snapshot is pending."""
        self.agent_states: dict[str, AgentState] = {}
        """Last server state per SIP user of logged-on agents (1.1 servers)."""
        self._sip_users: dict[str, str] = {}
        self._state = LinkState.CONNECTING
        self._listeners: list[Callable[[bool], None]] = []
        self._out: deque[_Outgoing] = deque()
        self._queued_reports = 0
        self._wake = asyncio.Event()
        self._up_event = asyncio.Event()
        self._closing = asyncio.Event()
        self._replay_wanted = asyncio.Event()
        self._registrations: dict[str, _Registration] = {}
        self._seen: OrderedDict[str, SwitchCommandResult | None] = OrderedDict()
        self._calls: dict[str, LinkCall] = {}
        self._held: dict[str, list[_Outgoing]] = {}
        """Reports of a call whose ``arrived`` came before its arrival route request: sent
        once that request is answered (or given up), so the server creates the call from
        the route request, with caller, customer and tier (R-IN-3)."""
        self._routing: dict[str, int] = {}
        """Route requests in flight per call."""
        self._left_while_routing: set[str] = set()
        """Calls whose caller left while a route request of theirs was in flight: its
        answer must not track them again (no stale entry)."""
        self._tasks: set[asyncio.Task[None]] = set()
        self._runner: asyncio.Task[None] | None = None
        self._sender: asyncio.Task[None] | None = None
        self._generation = 0
        self._down_since: float | None = clock.wall()
        # counters (also for /metrics and the logs)
        self.reports_dropped = 0
        self.messages_rejected = 0
        self.commands_executed = 0
        self.commands_failed = 0
        self.commands_expired = 0
        self.commands_duplicate = 0
        self.connects = 0
        self.reports_replayed = 0
        self.last_error: str | None = None

    # -- lifecycle -----------------------------------------------------------------------

    async def start(self) -> None:
        """Start connecting (returns at once; see :meth:`wait_up`)."""
        if self._runner is not None:
            raise RuntimeError("the link is already started")
        self._runner = asyncio.get_running_loop().create_task(self._run())
        self._sender = asyncio.get_running_loop().create_task(self._send_loop())

    async def close(self) -> None:
        """Stop for good: close the connection (the server keeps the session for its
        grace period), stop reconnecting."""
        self._closing.set()
        self._set_state(LinkState.CLOSED)
        for task in (self._runner, self._sender, *self._tasks):
            if task is not None:
                task.cancel()
        await asyncio.gather(
            *(t for t in (self._runner, self._sender, *self._tasks) if t is not None),
            return_exceptions=True,
        )
        await self.client.close()

    async def wait_up(self, timeout: float | None = None) -> None:
        await asyncio.wait_for(self._up_event.wait(), timeout)

    @property
    def up(self) -> bool:
        return self._state is LinkState.UP

    @property
    def state(self) -> LinkState:
        return self._state

    @property
    def queued(self) -> int:
        """Messages waiting to be sent (with reports held for their route request)."""
        return len(self._out) + sum(len(held) for held in self._held.values())

    def on_state_change(self, callback: Callable[[bool], None]) -> None:
        """``callback(up)`` on every change between up and not up."""
        self._listeners.append(callback)

    @property
    def version(self) -> ProtocolVersion | None:
        """The protocol version of the current (last) session, ``None`` before one."""
        welcome = self.client.welcome
        return welcome.version if welcome is not None else None

    @property
    def speaks_1_1(self) -> bool:
        version = self.version
        return (
            version is not None
            and version.major == VERSION_1_1.major
            and version.minor >= VERSION_1_1.minor
        )

    def request_replay(self) -> None:
        """Send what the journal holds now (e.g. a fallback call just ended while up)."""
        self._replay_wanted.set()

    def _set_state(self, state: LinkState) -> None:
        was_up = self._state is LinkState.UP
        if self._state is LinkState.CLOSED and state is not LinkState.CLOSED:
            return
        self._state = state
        now_up = state is LinkState.UP
        if now_up:
            self._up_event.set()
            self._down_since = None
            self._generation += 1
            self._wake.set()
        else:
            self._up_event.clear()
            if self._down_since is None:
                self._down_since = self.clock.wall()
        if was_up != now_up:
            log.info("CTI link %s", "up" if now_up else f"down ({state})")
            for listener in list(self._listeners):
                try:
                    listener(now_up)
                except Exception:
                    log.exception("link state listener failed")

    async def _run(self) -> None:
        backoff = self.backoff_initial
        while not self._closing.is_set():
            self._set_state(LinkState.CONNECTING)
            try:
                welcome = await self.client.open()
            except Exception as exc:
                # Whatever the failure (refused, timeout, a hello refused, or a peer that
                # accepts and closes before the WebSocket handshake: InvalidMessage), the
                # link must keep retrying: it never gives up on its own (R-IN-3).
                self.last_error = str(exc) or type(exc).__name__
                log.debug("CTI link: connect failed (%r); retry in %.2f s", exc, backoff)
                await self._sleep(backoff)
                backoff = min(backoff * 2, self.backoff_max)
                continue
            self.connects += 1
            log.info(
                "CTI link connected to %s (session %s, resumed=%s)",
                self.url,
                welcome.session_id,
                welcome.resumed,
            )
            self._set_state(LinkState.SYNCING)
            try:
                await self._sync()
            except Exception as exc:  # retried like a failed connect: the link never dies
                self.last_error = str(exc) or type(exc).__name__
                expected = isinstance(exc, (ConnectionLost, TimeoutError, ProtocolError))
                log.warning("CTI link: sync after connect failed: %r", exc, exc_info=not expected)
                await self.client.disconnect()
                await self._sleep(backoff)
                backoff = min(backoff * 2, self.backoff_max)
                continue
            backoff = self.backoff_initial
            self._set_state(LinkState.UP)
            replayer = asyncio.get_running_loop().create_task(self._replay_loop())
            try:
                await self.client.wait_disconnected()
            finally:
                replayer.cancel()
                await asyncio.gather(replayer, return_exceptions=True)
            if not self._closing.is_set():
                self._set_state(LinkState.CONNECTING)
                log.warning(
                    "CTI link lost (%s %s)", self.client.close_code, self.client.close_reason
                )

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._closing.wait(), seconds)

    async def _sync(self) -> None:
        """After every (re)connect: registrations in full, then the journal."""
        now = self.clock.monotonic()
        contacts = dict(self.control.registered_contacts())
        for sip_user, contact in contacts.items():
            reg = self._registrations.get(sip_user)
            expires = 0
            agent = None
            if reg is not None and reg.report.registered:
                agent = reg.report.user_agent
                if reg.expires_at is not None:
                    expires = max(1, int(reg.expires_at - now))
            await self.client.request(
                SwitchRegistration(
                    id=0,
                    sip_user=sip_user,
                    registered=True,
                    contact=contact,
                    expires_seconds=expires,
                    user_agent=agent,
                ),
                timeout=self.request_timeout,
            )
        # Unregistrations the server may not have heard of.
        for sip_user, reg in list(self._registrations.items()):
            if not reg.report.registered and sip_user not in contacts:
                await self.client.request(
                    SwitchRegistration(id=0, sip_user=sip_user, registered=False),
                    timeout=self.request_timeout,
                )
                del self._registrations[sip_user]
        # Registration messages queued while down are superseded by the above.
        kept = deque(i for i in self._out if not isinstance(i.msg, SwitchRegistration))
        self._out = kept
        welcome = self.client.welcome
        if self.speaks_1_1 and welcome is not None and not welcome.resumed:
            await self._agents_snapshot()
        if welcome is not None and not welcome.resumed:
            self._live_owed = True  # a new server (or a lost session): it knows no call
        await self._replay()

    async def _agents_snapshot(self) -> None:
        """Every agent's state from the server (1.1, after a fresh session): the
        fallback then knows exactly who was ready."""
        self._agent_buffer = []
        try:
            body = await self.client.request(
                SwitchAgentsSnapshot(id=0), timeout=self.request_timeout
            )
            buffered, self._agent_buffer = self._agent_buffer, None
            if not isinstance(body, AgentsSnapshot):
                raise ProtocolError(
                    ErrorCode.INTERNAL, f"unexpected agents snapshot {type(body).__name__}"
                )
            for entry in body.agents:
                self._agent_state(entry.agent_id, entry.state, entry.reason_code, entry.sip_user)
            for ev in buffered:  # the events that follow the snapshot
                if ev.seq > body.last_seq:
                    self._agent_state(ev.agent_id, ev.state, ev.reason_code, ev.sip_user)
            log.info("CTI link: agents snapshot with %d agents", len(body.agents))
        finally:
            self._agent_buffer = None

    def _on_agent_state(self, ev: SwitchAgentState) -> None:
        if self._agent_buffer is not None:
            self._agent_buffer.append(ev)
        else:
            self._agent_state(ev.agent_id, ev.state, ev.reason_code, ev.sip_user)

    def _agent_state(
        self, agent_id: str, state: AgentState, reason_code: str | None, sip_user: str | None
    ) -> None:
        # the switch knows agents by their softphone's SIP user (the login extension);
        # a logged-off agent has none any more: use the one it had
        key = sip_user or self._sip_users.get(agent_id) or agent_id
        if state is AgentState.LOGGED_OFF:
            self._sip_users.pop(agent_id, None)
            self.agent_states.pop(key, None)
        else:
            self._sip_users[agent_id] = key
            self.agent_states[key] = state
        if self.agent_hint is not None:
            try:
                self.agent_hint(key, available(state, reason_code))
            except Exception:
                log.exception("agent hint for %s failed", key)

    async def _replay_loop(self) -> None:
        while True:
            await self._replay_wanted.wait()
            self._replay_wanted.clear()
            try:
                await self._replay()
            except (ConnectionLost, TimeoutError, ProtocolError) as exc:
                log.warning("CTI link: journal replay failed: %s", exc)
                return

    async def _replay(self) -> None:
        """Send the journal as fallback_report parts; each is acknowledged before the next.

        After a fresh session the calls still live on the switch (:attr:`live_calls`)
        follow as ``in_progress`` calls in further parts of the same report, so a
        restarted server knows them (and their agents' busy state) before any new call
        is routed; they are not journal lines (nothing to acknowledge)."""
        journal = self.journal
        live = self._live_report() if self._live_owed else []
        if journal is None and not live:
            self._live_owed = False
            return
        pending: PendingReport | None = journal.pending() if journal is not None else None
        parts: list[tuple[tuple[FallbackCall, ...], bool]] = (
            [(p.calls, True) for p in pending.parts] if pending is not None else []
        )
        parts += [
            (tuple(live[i : i + MAX_CALLS_PER_PART]), False)
            for i in range(0, len(live), MAX_CALLS_PER_PART)
        ]
        if parts:
            up_at = self.clock.wall()
            down_at = pending.link_down_at if pending is not None else (self._down_since or up_at)
            for n, (calls, journaled) in enumerate(parts, 1):
                try:
                    await self.client.request(
                        SwitchFallbackReport(
                            id=0,
                            link_down_at=min(down_at, up_at),
                            link_up_at=up_at,
                            part=n,
                            last_part=n == len(parts),
                            calls=calls,
                        ),
                        timeout=self.request_timeout,
                    )
                except ProtocolError as exc:
                    if exc.code in _RETRYABLE:
                        raise
                    # A part the server refuses for good must not block the link forever.
                    log.error(
                        "CTI server refused fallback report part %d (%d calls): %s",
                        n,
                        len(calls),
                        exc,
                    )
                    self.messages_rejected += 1
                if journal is not None and journaled:
                    journal.acknowledge(calls)
                    self.reports_replayed += len(calls)
            if pending is not None:
                log.info(
                    "fallback journal replayed: %d calls in %d part(s)",
                    pending.call_count,
                    len(pending.parts),
                )
            if live:
                self.live_calls_reported += len(live)
                log.info("live calls reported to the CTI server: %d", len(live))
        self._live_owed = False
        if journal is not None:
            journal.compact()

    def _live_report(self) -> list[FallbackCall]:
        if self.live_calls is None:
            return []
        try:
            return list(self.live_calls())
        except Exception:  # never let the report's builder block the link
            log.exception("CTI link: listing the live calls failed")
            return []

    # -- Decider -------------------------------------------------------------------------

    async def route(self, query: RouteQuery) -> RouteResponse:
        self._routing[query.call_id] = self._routing.get(query.call_id, 0) + 1
        try:
            return await self._route(query)
        finally:
            self._route_done(query.call_id)
            # the route request went first: now the reports it held back (``arrived`` …)
            self._release_held(query.call_id)

    def _route_done(self, call_id: str) -> None:
        left = self._routing.pop(call_id, 1) - 1
        if left > 0:
            self._routing[call_id] = left
        else:
            self._left_while_routing.discard(call_id)

    async def _route(self, query: RouteQuery) -> RouteResponse:
        if not self.up:
            raise DecisionUnavailable(f"the CTI link is {self._state}")
        try:
            body = await self.client.request(
                SwitchRouteRequest(
                    id=0,
                    call_id=query.call_id,
                    stage=query.stage,
                    caller=query.caller,
                    called=query.called,
                    trunk=query.trunk,
                    business_selection=query.business_selection,
                    tier=query.tier,
                    queue_id=query.queue_id,
                    trajectory=query.trajectory,
                ),
                timeout=self.route_timeout,
            )
        except (ConnectionLost, TimeoutError) as exc:
            raise DecisionUnavailable(f"route request failed: {exc or 'timeout'}") from None
        except ProtocolError as exc:
            if exc.code in _RETRYABLE:
                raise DecisionUnavailable(str(exc)) from None
            raise
        if not isinstance(body, RouteResponse):
            raise DecisionUnavailable(f"unexpected route response {body!r}")
        self._track_route(query, body)
        return body

    async def lookup(self, call_id: str, service: str, args: Mapping[str, str]) -> LookupResult:
        """``switch.lookup`` (1.1 servers; a 1.0 server gets none: an error result).

        A timeout, a lost connection or a retryable error raises ``DecisionUnavailable``;
        a definitive refusal (e.g. a bad argument) is an error result for the flow."""
        if not self.up:
            raise DecisionUnavailable(f"the CTI link is {self._state}")
        if not self.speaks_1_1:
            return LookupResult(error=LOOKUP_GAP)
        try:
            body = await self.client.request(
                SwitchLookup(id=0, call_id=call_id, service=service, args=dict(args)),
                timeout=self.route_timeout,
            )
        except (ConnectionLost, TimeoutError) as exc:
            raise DecisionUnavailable(f"look-up failed: {exc or 'timeout'}") from None
        except ProtocolError as exc:
            if exc.code in _RETRYABLE:
                raise DecisionUnavailable(str(exc)) from None
            return LookupResult(error=f"{exc.code}: {exc.message}"[:1024])
        if not isinstance(body, WireLookupResult):
            raise DecisionUnavailable(f"unexpected look-up result {type(body).__name__}")
        return LookupResult(values=dict(body.values), error=body.error)

    async def fetch_flow(self, flow_id: str, version: int | None) -> FlowDocument:
        """``switch.flow_get`` (1.2 servers, R-IVR-5): a stored IVR flow version.

        Raises ``DecisionUnavailable`` when it cannot ask (link not up, a server older
        than 1.2, timeout, lost connection, retryable error) and ``ProtocolError`` for a
        definitive refusal (no such flow or version)."""
        if not self.up:
            raise DecisionUnavailable(f"the CTI link is {self._state}")
        version_now = self.version
        if version_now is None or version_now.major != 1 or version_now.minor < 2:
            raise DecisionUnavailable(f"the CTI server speaks {version_now}: no switch.flow_get")
        try:
            body = await self.client.request(
                SwitchFlowGet(id=0, flow_id=flow_id, version=version),
                timeout=self.route_timeout,
            )
        except (ConnectionLost, TimeoutError) as exc:
            raise DecisionUnavailable(f"flow fetch failed: {exc or 'timeout'}") from None
        except ProtocolError as exc:
            if exc.code in _RETRYABLE:
                raise DecisionUnavailable(str(exc)) from None
            raise
        if not isinstance(body, FlowDocument):
            raise DecisionUnavailable(f"unexpected flow result {type(body).__name__}")
        return body

    async def fetch_prompt_index(self) -> PromptIndex:
        """``switch.prompt_index`` (1.2 servers, R-IVR-5): the uploaded IVR prompts.

        Raises ``DecisionUnavailable`` when it cannot ask (see :meth:`fetch_flow`) and
        ``ProtocolError`` for a refusal (a server without prompt storage answers
        ``unexpected_type``)."""
        body = await self._ask_1_2(SwitchPromptIndex(id=0), "prompt index")
        if not isinstance(body, PromptIndex):
            raise DecisionUnavailable(f"unexpected prompt index {type(body).__name__}")
        return body

    async def fetch_prompt_chunk(self, language: str, prompt_id: str, offset: int) -> PromptChunk:
        """``switch.prompt_get`` (1.2 servers): ≤ 32 KiB of an uploaded prompt from
        ``offset`` (errors as :meth:`fetch_prompt_index`)."""
        body = await self._ask_1_2(
            SwitchPromptGet(id=0, language=language, prompt_id=prompt_id, offset=offset),
            f"prompt {language}/{prompt_id}",
        )
        if not isinstance(body, PromptChunk):
            raise DecisionUnavailable(f"unexpected prompt chunk {type(body).__name__}")
        return body

    async def put_recording_chunk(self, chunk: SwitchRecordingPut) -> RecordingReceipt:
        """``switch.recording_put`` (1.3 servers, R-SUP-3): one chunk of a finished call
        recording. ``DecisionUnavailable`` when it cannot ask (link down, older server,
        transport failure); ``ProtocolError`` for a refusal (``invalid_field`` with
        ``detail.expected`` = where to resume)."""
        body = await self._ask_1_2(chunk, f"recording {chunk.recording_id}", minor=3)
        if not isinstance(body, RecordingReceipt):
            raise DecisionUnavailable(f"unexpected recording receipt {type(body).__name__}")
        return body

    async def _ask_1_2(self, request: Request, what: str, *, minor: int = 2) -> object:
        if not self.up:
            raise DecisionUnavailable(f"the CTI link is {self._state}")
        version_now = self.version
        if version_now is None or version_now.major != 1 or version_now.minor < minor:
            raise DecisionUnavailable(f"the CTI server speaks {version_now}: no {what} request")
        try:
            return await self.client.request(request, timeout=self.route_timeout)
        except (ConnectionLost, TimeoutError) as exc:
            raise DecisionUnavailable(f"{what} fetch failed: {exc or 'timeout'}") from None
        except ProtocolError as exc:
            if exc.code in _RETRYABLE:
                raise DecisionUnavailable(str(exc)) from None
            raise

    def report(self, report: CallReport, on_delivered: Callable[[], None] | None = None) -> None:
        """Queue a call event (never blocks; dropped and counted when the queue is full).

        ``on_delivered`` runs once the server acknowledged it."""
        self._track_report(report)
        if self._queued_reports >= self.max_queued_reports:
            self.reports_dropped += 1
            if self.reports_dropped == 1 or self.reports_dropped % 1000 == 0:
                log.warning(
                    "CTI link: report queue full (%d): %d call events dropped so far",
                    self.max_queued_reports,
                    self.reports_dropped,
                )
            return
        msg = SwitchCallEvent(
            id=0,
            call_id=report.call_id,
            kind=report.kind,
            leg=report.leg,
            at=report.at,
            agent_id=report.agent_id,
            node=report.node,
            queue_id=report.queue_id,
            dtmf=report.dtmf,
            cause=report.cause,
            detail=report.detail,
        )
        self._queued_reports += 1
        item = _Outgoing(msg, counted=True, on_done=on_delivered)
        held = self._held.get(report.call_id)
        if held is not None:
            held.append(item)  # after the call's held-back ``arrived``, in order
        elif report.kind is SwitchCallEventKind.ARRIVED and report.call_id not in self._calls:
            # The core reports the arrival before it asks the arrival route question:
            # hold it until that question is answered (see :meth:`route`); never longer
            # than two route timeouts, whatever happens to the question.
            self._held[report.call_id] = [item]
            with contextlib.suppress(RuntimeError):  # no running loop: released by route
                asyncio.get_running_loop().call_later(
                    2 * self.route_timeout, self._release_held, report.call_id
                )
        else:
            self._enqueue(item)

    def _release_held(self, call_id: str) -> None:
        for item in self._held.pop(call_id, ()):
            self._enqueue(item)

    def registration(self, report: RegistrationReport) -> None:
        """Remember it (re-sent in full after every reconnect) and send it when up."""
        expires = (
            self.clock.monotonic() + report.expires_seconds
            if report.registered and report.expires_seconds > 0
            else None
        )
        self._registrations[report.sip_user] = _Registration(report, expires)
        if not self.up:
            return  # the reconnect sync sends the full set
        self._enqueue(
            _Outgoing(
                SwitchRegistration(
                    id=0,
                    sip_user=report.sip_user,
                    registered=report.registered,
                    contact=report.contact,
                    expires_seconds=report.expires_seconds,
                    user_agent=report.user_agent,
                ),
                counted=False,
            )
        )

    # -- what the decider needs to know --------------------------------------------------

    def owns(self, call_id: str) -> bool:
        return call_id in self._calls

    def forget(self, call_id: str) -> LinkCall | None:
        self._release_held(call_id)
        return self._calls.pop(call_id, None)

    def waiting_calls(self) -> list[LinkCall]:
        """Calls the server queued without an agent yet, oldest first."""
        waiting = [c for c in self._calls.values() if c.waiting_since is not None]
        return sorted(waiting, key=lambda c: c.waiting_since or 0.0)

    def _track_route(self, q: RouteQuery, body: RouteResponse) -> None:
        if q.call_id in self._left_while_routing:
            return  # the caller hung up while this request was in flight
        call = self._calls.get(q.call_id)
        if call is None:
            call = LinkCall(q.call_id, q.caller, q.called, self.clock.wall())
            self._calls[q.call_id] = call
        if q.stage is RouteStage.AGENT_NEEDED:
            call.queue_id = body.queue_id
            if body.agent is None:
                call.waiting_since = self.clock.wall()
            else:
                call.agent_id = body.agent.agent_id

    def _track_report(self, r: CallReport) -> None:
        if (
            r.call_id in self._routing
            and r.leg is LegRole.CALLER
            and r.kind in (SwitchCallEventKind.RELEASED, SwitchCallEventKind.FAILED)
        ):
            self._left_while_routing.add(r.call_id)
        call = self._calls.get(r.call_id)
        if call is None:
            return
        kind = r.kind
        if r.leg is LegRole.CALLER and kind in (
            SwitchCallEventKind.RELEASED,
            SwitchCallEventKind.FAILED,
        ):
            del self._calls[r.call_id]
        elif kind in (SwitchCallEventKind.ANSWERED, SwitchCallEventKind.BRIDGED):
            call.waiting_since = None
        elif kind is SwitchCallEventKind.FAILED and call.agent_id is not None:
            call.agent_id = None
            call.waiting_since = call.waiting_since or self.clock.wall()  # back in the queue
        elif kind is SwitchCallEventKind.QUEUE_LEAVE:
            call.waiting_since = None

    def _offer_failed(self, call_id: str) -> None:
        call = self._calls.get(call_id)
        if call is not None:  # the server puts it back in its queue
            call.agent_id = None
            call.waiting_since = call.waiting_since or self.clock.wall()

    # -- outgoing queue ------------------------------------------------------------------

    def _enqueue(self, item: _Outgoing) -> None:
        self._out.append(item)
        self._wake.set()

    async def _send_loop(self) -> None:
        while True:
            if not self._out or not self.up:
                self._wake.clear()
                await self._wake.wait()
                continue
            item = self._out[0]
            generation = self._generation
            try:
                await self.client.request(item.msg, timeout=self.request_timeout)
            except (ConnectionLost, TimeoutError) as exc:
                # Keep it at the head; try again once the link is up again.
                log.debug("CTI link: send of %s deferred: %s", item.msg.type_tag(), exc)
                if isinstance(exc, TimeoutError):
                    await asyncio.sleep(0.2)
                else:
                    await self._next_generation(generation)
                continue
            except ProtocolError as exc:
                item.attempts += 1
                if exc.code in _RETRYABLE and item.attempts < 3:
                    await asyncio.sleep(0.2 * item.attempts)
                    continue
                self.messages_rejected += 1
                log.warning("CTI server refused %s: %s", item.msg.type_tag(), exc)
            else:
                if item.on_done is not None:
                    try:
                        item.on_done()
                    except Exception:
                        log.exception("on_delivered callback failed")
            if self._out and self._out[0] is item:
                self._out.popleft()
                if item.counted:
                    self._queued_reports -= 1

    async def _next_generation(self, generation: int) -> None:
        while self._generation == generation and not self._closing.is_set():
            self._wake.clear()
            await self._wake.wait()

    # -- commands ------------------------------------------------------------------------

    def _on_event(self, item: ClientEvent) -> None:
        if isinstance(item, SwitchCommand):
            task = asyncio.get_running_loop().create_task(self._command(item))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        elif isinstance(item, SwitchAgentState):
            self._on_agent_state(item)
        else:
            log.info("CTI link: %s", item)

    def server_time(self) -> float:
        """Our estimate of the server's clock (wall + offset measured by pings)."""
        return self.clock.wall() + (self.client.clock_offset or 0.0)

    async def _command(self, cmd: SwitchCommand) -> None:
        if cmd.command_id in self._seen:
            self.commands_duplicate += 1
            previous = self._seen[cmd.command_id]
            if previous is not None:
                self._enqueue(_Outgoing(previous, counted=False))
            return
        self._seen[cmd.command_id] = None
        while len(self._seen) > _SEEN_COMMANDS:
            self._seen.popitem(last=False)
        result = await self._execute(cmd)
        self._seen[cmd.command_id] = result
        self._enqueue(_Outgoing(result, counted=False))

    async def _execute(self, cmd: SwitchCommand) -> SwitchCommandResult:
        def failed(code: ErrorCode, message: str) -> SwitchCommandResult:
            self.commands_failed += 1
            return SwitchCommandResult(
                id=0, command_id=cmd.command_id, ok=False, code=code, message=message[:1000]
            )

        now = self.server_time()
        if cmd.expires_at is not None and now > cmd.expires_at:
            self.commands_expired += 1
            log.warning(
                "CTI link: command %s (%s) expired %.1f s ago: dropped",
                cmd.command_id,
                cmd.action.__struct_config__.tag,
                now - cmd.expires_at,
            )
            return failed(ErrorCode.TIMEOUT, "the command expired before the switch got it")
        if self.command_guard is not None:
            refusal = self.command_guard(cmd.call_id, cmd.action)
            if refusal is not None:
                return failed(ErrorCode.INVALID_STATE, refusal)
        action = cmd.action
        if isinstance(action, OfferToAgent):
            call = self._calls.get(cmd.call_id)
            if call is not None:
                call.waiting_since, call.agent_id = None, action.agent_id
            if self.agent_hint is not None:
                self.agent_hint(action.agent_id, True)  # the server saw them ready
        try:
            await self.control.execute(cmd.call_id, action)
        except CommandFailed as exc:
            if isinstance(action, OfferToAgent):
                self._offer_failed(cmd.call_id)
            return failed(exc.code, exc.message)
        except Exception as exc:
            log.exception("CTI link: command %s crashed", cmd.command_id)
            return failed(ErrorCode.INTERNAL, f"the switch failed: {type(exc).__name__}")
        self.commands_executed += 1
        return SwitchCommandResult(id=0, command_id=cmd.command_id, ok=True)
