"""SIP transactions (RFC 3261 section 17, with the RFC 6026 Accepted states).

No sockets here: a transaction sends through a :class:`Channel` and arms
timers through a :class:`Scheduler`, so the state machines run under a fake
clock in synchronous tests and on the asyncio loop in production.

Timers: A/B/D (INVITE client), E/F/K (non-INVITE client), G/H/I (INVITE
server), J (non-INVITE server), L/M (RFC 6026 Accepted states).
"""

from __future__ import annotations

import asyncio
import enum
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from cti_server.switch.sip.message import (
    BRANCH_COOKIE,
    Headers,
    SipMessage,
    SipParseError,
    SipRequest,
    SipResponse,
    make_response,
)
from cti_server.switch.sip.transport import Channel, TransportError

log = logging.getLogger("switch.sip.transaction")


class TimerHandle(Protocol):
    def cancel(self) -> None: ...


class Scheduler(Protocol):
    """Something that runs a callback later (the asyncio loop, or a fake clock)."""

    def call_later(self, delay: float, callback: Callable[[], None]) -> TimerHandle: ...


class LoopScheduler:
    """:class:`Scheduler` on the running asyncio loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        self._loop = loop

    def call_later(self, delay: float, callback: Callable[[], None]) -> TimerHandle:
        loop = self._loop or asyncio.get_running_loop()
        return loop.call_later(delay, callback)


@dataclass(frozen=True, slots=True)
class TimerConfig:
    """RFC 3261 timer base values in seconds (T1 RTT estimate, T2 cap, T4 max lifetime)."""

    t1: float = 0.5
    t2: float = 4.0
    t4: float = 5.0
    d: float = 32.0

    def __post_init__(self) -> None:
        if not 0 < self.t1 <= self.t2 or self.t4 <= 0 or self.d < 0:
            raise ValueError("timers need 0 < T1 <= T2, T4 > 0, D >= 0")

    @property
    def b(self) -> float:
        return 64 * self.t1


class State(enum.Enum):
    CALLING = "calling"
    TRYING = "trying"
    PROCEEDING = "proceeding"
    COMPLETED = "completed"
    CONFIRMED = "confirmed"
    ACCEPTED = "accepted"
    TERMINATED = "terminated"


TransactionKey = tuple[str, ...]


def server_key(request: SipRequest) -> TransactionKey:
    """Matching key for a request (RFC 3261 17.2.3); ACK maps onto its INVITE."""
    via = request.top_via
    method = "INVITE" if request.method == "ACK" else request.method
    branch = via.branch or ""
    if branch.startswith(BRANCH_COOKIE):
        return (branch, via.sent_by, method)
    # RFC 2543 peers: fall back to dialog identifiers.
    to_tag = "" if request.method == "ACK" else (request.to.tag or "")
    return (
        "2543",
        request.call_id,
        request.from_.tag or "",
        to_tag,
        str(request.cseq.number),
        via.sent_by,
        method,
    )


def client_key(message: SipMessage) -> TransactionKey:
    return (message.top_via.branch or "", message.cseq.method)


def build_ack(invite: SipRequest, response: SipResponse) -> SipRequest:
    """ACK for a non-2xx final response, sent by the INVITE client transaction (17.1.1.3)."""
    headers = Headers()
    headers.add("Via", invite.headers.values("Via")[0])
    for route in invite.headers.get_all("Route"):
        headers.add("Route", route)
    headers.add("Max-Forwards", "70")
    headers.add("From", invite._required("From"))
    headers.add("To", response._required("To"))
    headers.add("Call-ID", invite.call_id)
    headers.add("CSeq", f"{invite.cseq.number} ACK")
    return SipRequest("ACK", invite.uri, headers)


def build_cancel(invite: SipRequest) -> SipRequest:
    """CANCEL for a pending INVITE (RFC 3261 9.1): same branch, Request-URI, tags, CSeq."""
    headers = Headers()
    headers.add("Via", invite.headers.values("Via")[0])
    for route in invite.headers.get_all("Route"):
        headers.add("Route", route)
    headers.add("Max-Forwards", "70")
    headers.add("From", invite._required("From"))
    headers.add("To", invite._required("To"))
    headers.add("Call-ID", invite.call_id)
    headers.add("CSeq", f"{invite.cseq.number} CANCEL")
    return SipRequest("CANCEL", invite.uri, headers)


class _Transaction:
    def __init__(
        self,
        request: SipRequest,
        channel: Channel,
        scheduler: Scheduler,
        timers: TimerConfig,
        on_terminated: Callable[[_Transaction], None],
    ) -> None:
        self.request = request
        self.channel = channel
        self.scheduler = scheduler
        self.timers = timers
        self.state = State.TRYING
        self._on_terminated = on_terminated
        self._handles: dict[str, TimerHandle] = {}

    @property
    def reliable(self) -> bool:
        return self.channel.reliable

    def _arm(self, name: str, delay: float, callback: Callable[[], None]) -> None:
        self._disarm(name)

        def fire() -> None:
            self._handles.pop(name, None)
            if self.state is not State.TERMINATED:
                callback()

        self._handles[name] = self.scheduler.call_later(delay, fire)

    def _disarm(self, name: str) -> None:
        handle = self._handles.pop(name, None)
        if handle is not None:
            handle.cancel()

    def _send(self, message: SipMessage) -> bool:
        try:
            self.channel.send(message)
        except TransportError as exc:
            log.info("transport error in %s transaction: %s", self.request.method, exc)
            self._transport_error()
            return False
        return True

    def _transport_error(self) -> None:
        self._terminate()

    def _terminate(self) -> None:
        if self.state is State.TERMINATED:
            return
        self.state = State.TERMINATED
        for name in list(self._handles):
            self._disarm(name)
        self._on_terminated(self)


ResponseCallback = Callable[[SipResponse], None]
TimeoutCallback = Callable[[], None]


class ClientTransaction(_Transaction):
    """INVITE (ICT) or non-INVITE (NICT) client transaction."""

    def __init__(
        self,
        request: SipRequest,
        channel: Channel,
        scheduler: Scheduler,
        timers: TimerConfig,
        on_terminated: Callable[[_Transaction], None],
        *,
        on_response: ResponseCallback,
        on_timeout: TimeoutCallback,
    ) -> None:
        super().__init__(request, channel, scheduler, timers, on_terminated)
        self.is_invite = request.method == "INVITE"
        self.state = State.CALLING if self.is_invite else State.TRYING
        self.key = client_key(request)
        self._on_response = on_response
        self._on_timeout = on_timeout
        self._interval = timers.t1
        self._ack: SipRequest | None = None
        self.final_response: SipResponse | None = None

    def start(self) -> None:
        if not self._send(self.request):
            return
        if not self.reliable:
            self._arm("A" if self.is_invite else "E", self.timers.t1, self._retransmit)
        self._arm("B" if self.is_invite else "F", self.timers.b, self._timeout)

    def _retransmit(self) -> None:
        if self.state not in (State.CALLING, State.TRYING, State.PROCEEDING):
            return
        if self.is_invite and self.state is State.PROCEEDING:
            return
        if not self._send(self.request):
            return
        if self.is_invite:
            self._interval *= 2
        elif self.state is State.PROCEEDING:
            self._interval = self.timers.t2
        else:
            self._interval = min(self._interval * 2, self.timers.t2)
        self._arm("A" if self.is_invite else "E", self._interval, self._retransmit)

    def _timeout(self) -> None:
        if self.state in (State.CALLING, State.TRYING, State.PROCEEDING):
            self._terminate()
            self._on_timeout()
        else:
            self._terminate()

    def _transport_error(self) -> None:
        # RFC 3261 8.1.3.1: a transport failure is reported like a timeout (503).
        was_pending = self.state in (State.CALLING, State.TRYING, State.PROCEEDING)
        self._terminate()
        if was_pending:
            self._on_timeout()

    def receive(self, response: SipResponse) -> None:
        status = response.status
        if self.is_invite:
            self._receive_invite(response, status)
        else:
            self._receive_non_invite(response, status)

    def _receive_invite(self, response: SipResponse, status: int) -> None:
        if self.state in (State.CALLING, State.PROCEEDING):
            self._disarm("A")
            if status < 200:
                self.state = State.PROCEEDING
                self._on_response(response)
            elif status < 300:
                # RFC 6026: Accepted, absorb nothing, pass 2xx retransmissions up.
                self.state = State.ACCEPTED
                self.final_response = response
                self._disarm("B")
                self._arm("M", self.timers.b, self._terminate)
                self._on_response(response)
            else:
                self.state = State.COMPLETED
                self.final_response = response
                self._disarm("B")
                self._ack = build_ack(self.request, response)
                self._send(self._ack)
                self._arm("D", 0.0 if self.reliable else self.timers.d, self._terminate)
                self._on_response(response)
        elif self.state is State.COMPLETED and status >= 300:
            if self._ack is not None:
                self._send(self._ack)
        elif self.state is State.ACCEPTED and 200 <= status < 300:
            self._on_response(response)

    def _receive_non_invite(self, response: SipResponse, status: int) -> None:
        if self.state not in (State.TRYING, State.PROCEEDING):
            return  # Completed: absorb retransmitted finals
        if status < 200:
            self.state = State.PROCEEDING
            self._on_response(response)
            return
        self.state = State.COMPLETED
        self.final_response = response
        self._disarm("E")
        self._disarm("F")
        self._arm("K", 0.0 if self.reliable else self.timers.t4, self._terminate)
        self._on_response(response)


class ServerTransaction(_Transaction):
    """INVITE (IST) or non-INVITE (NIST) server transaction."""

    def __init__(
        self,
        request: SipRequest,
        channel: Channel,
        scheduler: Scheduler,
        timers: TimerConfig,
        on_terminated: Callable[[_Transaction], None],
    ) -> None:
        super().__init__(request, channel, scheduler, timers, on_terminated)
        self.is_invite = request.method == "INVITE"
        self.state = State.PROCEEDING if self.is_invite else State.TRYING
        self.key = server_key(request)
        self.last_response: SipResponse | None = None
        self._interval = timers.t1
        self.cancelled = False
        self.on_ack_timeout: Callable[[], None] | None = None

    @property
    def final_sent(self) -> bool:
        return self.last_response is not None and self.last_response.status >= 200

    def respond(self, response: SipResponse) -> None:
        """Send a response from the TU. Responses after the final one are ignored."""
        if self.state not in (State.TRYING, State.PROCEEDING):
            log.debug("ignoring %d: transaction is %s", response.status, self.state.value)
            return
        self.last_response = response
        status = response.status
        if not self._send(response):
            return
        if status < 200:
            self.state = State.PROCEEDING
            return
        if self.is_invite:
            if status < 300:
                self.state = State.ACCEPTED
                self._arm("L", self.timers.b, self._terminate)
            else:
                self.state = State.COMPLETED
                if not self.reliable:
                    self._arm("G", self.timers.t1, self._retransmit_final)
                self._arm("H", self.timers.b, self._ack_timeout)
        else:
            self.state = State.COMPLETED
            self._arm("J", 0.0 if self.reliable else self.timers.b, self._terminate)

    def reply(
        self,
        status: int,
        reason: str = "",
        *,
        to_tag: str | None = None,
        headers: list[tuple[str, str]] | None = None,
        body: bytes = b"",
    ) -> SipResponse:
        response = make_response(
            self.request, status, reason, to_tag=to_tag, headers=headers or [], body=body
        )
        self.respond(response)
        return response

    def _retransmit_final(self) -> None:
        if self.state is not State.COMPLETED or self.last_response is None:
            return
        if not self._send(self.last_response):
            return
        self._interval = min(self._interval * 2, self.timers.t2)
        self._arm("G", self._interval, self._retransmit_final)

    def _ack_timeout(self) -> None:
        log.info(
            "no ACK for %d to %s",
            self.last_response.status if self.last_response else 0,
            self.request.call_id,
        )
        self._terminate()
        if self.on_ack_timeout is not None:
            self.on_ack_timeout()

    def receive_retransmission(self, request: SipRequest) -> None:
        if request.method == "ACK":
            if self.is_invite and self.state is State.COMPLETED:
                self.state = State.CONFIRMED
                self._disarm("G")
                self._disarm("H")
                self._arm("I", 0.0 if self.reliable else self.timers.t4, self._terminate)
            return
        if self.state in (State.PROCEEDING, State.COMPLETED) and self.last_response is not None:
            self._send(self.last_response)


class TransactionUser(Protocol):
    """The layer above transactions (the UA core)."""

    def on_request(self, transaction: ServerTransaction) -> None: ...

    def on_ack(self, request: SipRequest, channel: Channel) -> None: ...

    def on_cancel(self, invite: ServerTransaction, cancel: SipRequest) -> None: ...

    def on_stray_response(self, response: SipResponse, channel: Channel) -> None: ...


class TransactionLayer:
    """Matches messages to transactions and dispatches new requests to the TU."""

    def __init__(
        self,
        tu: TransactionUser,
        scheduler: Scheduler | None = None,
        timers: TimerConfig | None = None,
        *,
        auto_trying: bool = True,
    ) -> None:
        self.tu = tu
        self.scheduler: Scheduler = scheduler or LoopScheduler()
        self.timers = timers or TimerConfig()
        self.auto_trying = auto_trying
        self.server: dict[TransactionKey, ServerTransaction] = {}
        self.client: dict[TransactionKey, ClientTransaction] = {}
        self.absorbed_retransmissions = 0

    # -- outbound -----------------------------------------------------------

    def send_request(
        self,
        request: SipRequest,
        channel: Channel,
        on_response: ResponseCallback,
        on_timeout: TimeoutCallback,
    ) -> ClientTransaction:
        """Start a client transaction (not for ACK, which has none)."""
        if request.method == "ACK":
            raise ValueError("ACK is sent without a transaction")
        tx = ClientTransaction(
            request,
            channel,
            self.scheduler,
            self.timers,
            self._client_done,
            on_response=on_response,
            on_timeout=on_timeout,
        )
        if tx.key in self.client:
            raise ValueError(f"duplicate client transaction {tx.key}")
        self.client[tx.key] = tx
        tx.start()
        return tx

    def _client_done(self, tx: _Transaction) -> None:
        assert isinstance(tx, ClientTransaction)
        if self.client.get(tx.key) is tx:
            del self.client[tx.key]

    def _server_done(self, tx: _Transaction) -> None:
        assert isinstance(tx, ServerTransaction)
        if self.server.get(tx.key) is tx:
            del self.server[tx.key]

    # -- inbound ------------------------------------------------------------

    def receive(self, message: SipMessage, channel: Channel) -> None:
        """Entry point for transports."""
        try:
            if isinstance(message, SipRequest):
                self._receive_request(message, channel)
            elif isinstance(message, SipResponse):
                self._receive_response(message, channel)
        except SipParseError as exc:
            log.info("dropped message with bad headers: %s", exc)

    def _receive_response(self, response: SipResponse, channel: Channel) -> None:
        tx = self.client.get(client_key(response))
        if tx is not None:
            tx.receive(response)
        else:
            self.tu.on_stray_response(response, channel)

    def _receive_request(self, request: SipRequest, channel: Channel) -> None:
        key = server_key(request)
        existing = self.server.get(key)
        if existing is not None:
            if request.method != "ACK":
                self.absorbed_retransmissions += 1
            existing.receive_retransmission(request)
            return
        if request.method == "ACK":
            self.tu.on_ack(request, channel)
            return
        tx = ServerTransaction(request, channel, self.scheduler, self.timers, self._server_done)
        self.server[key] = tx
        if request.method == "CANCEL":
            self._cancel(tx, request)
            return
        if tx.is_invite and self.auto_trying:
            tx.reply(100)
        try:
            self.tu.on_request(tx)
        except Exception:
            log.exception("request handler failed for %s", request.method)
            if not tx.final_sent:
                tx.reply(500)

    def _cancel(self, tx: ServerTransaction, cancel: SipRequest) -> None:
        via = cancel.top_via
        invite_key: TransactionKey
        if (via.branch or "").startswith(BRANCH_COOKIE):
            invite_key = (via.branch or "", via.sent_by, "INVITE")
        else:
            invite_key = (*server_key(cancel)[:-1], "INVITE")
        invite = self.server.get(invite_key)
        if invite is None or invite.state is State.TERMINATED:
            tx.reply(481)
            return
        tx.reply(200)
        if invite.final_sent:
            return  # too late: the INVITE already has its final response
        invite.cancelled = True
        try:
            self.tu.on_cancel(invite, cancel)
        except Exception:
            log.exception("cancel handler failed")
        if not invite.final_sent:
            invite.reply(487)
