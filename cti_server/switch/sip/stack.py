"""The SIP user-agent core: wires transports, transactions, dialogs and the registrar.

``SipStack`` is what the switch uses. Inbound: REGISTER goes to the
:class:`Registrar`, OPTIONS is answered 200 (keep-alive), a new INVITE becomes
an :class:`IncomingCall` handed to the :class:`CallHandler`, in-dialog BYE /
INFO / re-INVITE / ACK are matched to their :class:`Dialog`, CANCEL ends a
ringing call with 487. Outbound: :meth:`SipStack.invite` places a call
(answering digest challenges), :meth:`SipStack.request` sends in-dialog
requests (BYE, INFO, re-INVITE for hold) and :meth:`SipStack.send` any
out-of-dialog request.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, Protocol

from cti_server.switch.sip.auth import (
    AuthError,
    ClientCredentials,
    authorization_for,
    pick_challenge,
)
from cti_server.switch.sip.dialog import (
    Dialog,
    DialogError,
    DialogId,
    DialogState,
    Retransmit2xx,
    dialog_id_of,
)
from cti_server.switch.sip.message import (
    Headers,
    NameAddr,
    SipParseError,
    SipRequest,
    SipResponse,
    Uri,
    Via,
    generate_branch,
    generate_call_id,
    generate_tag,
    make_response,
    parse_name_addr,
    parse_uri,
)
from cti_server.switch.sip.registrar import Registrar
from cti_server.switch.sip.sdp import SdpParseError, SessionDescription, parse_sdp
from cti_server.switch.sip.timers import (
    Negotiated,
    SessionIntervalTooSmall,
    SessionTimerConfig,
    SessionTimerError,
    SessionTimers,
)
from cti_server.switch.sip.transaction import (
    LoopScheduler,
    Scheduler,
    ServerTransaction,
    TimerConfig,
    TransactionLayer,
    build_cancel,
)
from cti_server.switch.sip.transport import (
    Address,
    Channel,
    TcpTransport,
    TlsConfig,
    TransportError,
    UdpTransport,
    resolve,
    uri_target,
)

log = logging.getLogger("switch.sip.stack")

ALLOW = "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, UPDATE, REGISTER"


class ReinviteError(Exception):
    """A re-INVITE we sent was refused (non-2xx), timed out or answered without SDP.

    ``status`` is the final status (408 for a local timeout, 0 for a transport error or
    a 2xx without a usable SDP answer)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"re-INVITE failed: {status} {message}")
        self.status = status
        self.message = message


@dataclass(frozen=True, slots=True)
class SipConfig:
    """Listening addresses and behaviour of one stack (port 0 = any free port)."""

    host: str = "127.0.0.1"
    udp_port: int | None = 5060
    tcp_port: int | None = 5060
    tls_port: int | None = None
    """SIP over TLS listener (RFC 3261 section 26; usually 5061); needs ``tls``."""
    tls: TlsConfig | None = None
    """Certificates and verification for TLS (listener and outgoing connections)."""
    session_timers: SessionTimerConfig | None = None
    """RFC 4028 session timers on calls this stack answers (None: off)."""
    advertised_host: str | None = None
    user: str = "switch"
    user_agent: str = "opencc-switch"
    timers: TimerConfig = field(default_factory=TimerConfig)


class CallHandler(Protocol):
    """What the switch's core implements. Every method may be slow (it runs as a task)."""

    async def on_invite(self, call: IncomingCall) -> None: ...

    async def on_cancel(self, call: IncomingCall) -> None: ...

    async def on_bye(self, dialog: Dialog, request: SipRequest) -> None: ...

    async def on_reinvite(
        self, dialog: Dialog, request: SipRequest
    ) -> SessionDescription | None: ...

    async def on_info(self, dialog: Dialog, request: SipRequest) -> None: ...

    async def on_dialog_timeout(self, dialog: Dialog) -> None: ...


class BaseCallHandler:
    """Defaults: reject new calls with 480, refuse re-INVITEs with 488, ignore the rest."""

    async def on_invite(self, call: IncomingCall) -> None:
        call.reject(480)

    async def on_cancel(self, call: IncomingCall) -> None:
        return None

    async def on_bye(self, dialog: Dialog, request: SipRequest) -> None:
        return None

    async def on_reinvite(self, dialog: Dialog, request: SipRequest) -> SessionDescription | None:
        return None

    async def on_info(self, dialog: Dialog, request: SipRequest) -> None:
        return None

    async def on_dialog_timeout(self, dialog: Dialog) -> None:
        return None

    async def on_session_expired(self, dialog: Dialog) -> None:
        """RFC 4028: no session refresh in time; the stack already sent BYE."""
        await self.on_dialog_timeout(dialog)


class IncomingCall:
    """A new INVITE waiting for the switch's decision."""

    def __init__(self, stack: SipStack, tx: ServerTransaction, offer: SessionDescription | None):
        self.stack = stack
        self.tx = tx
        self.request = tx.request
        self.offer = offer
        self.local_tag = generate_tag()
        self.dialog: Dialog | None = None
        self.acked = asyncio.Event()
        self.cancelled = asyncio.Event()
        self.session_timer: Negotiated | None = None
        """Session timer negotiated for this INVITE (RFC 4028), put in the 2xx."""

    @property
    def call_id(self) -> str:
        return self.request.call_id

    def _respond(
        self,
        status: int,
        reason: str = "",
        body: bytes = b"",
        headers: list[tuple[str, str]] | None = None,
    ) -> SipResponse:
        extra = list(headers or [])
        if 100 < status < 300:
            for rr in self.request.headers.get_all("Record-Route"):
                extra.append(("Record-Route", rr))
            extra.append(("Contact", str(self.stack.contact(self.tx.channel.transport_name))))
        if body:
            extra.append(("Content-Type", "application/sdp"))
        extra.append(("Server", self.stack.config.user_agent))
        if status >= 300 and status != 487:
            extra.append(("Allow", ALLOW))
        response = make_response(
            self.request, status, reason, to_tag=self.local_tag, headers=extra, body=body
        )
        return response

    def ring(self, sdp: SessionDescription | None = None) -> None:
        """180 Ringing (with early media SDP if given)."""
        self._provisional(180, sdp)

    def progress(self, sdp: SessionDescription) -> None:
        """183 Session Progress with early media."""
        self._provisional(183, sdp)

    def _provisional(self, status: int, sdp: SessionDescription | None) -> None:
        if self.tx.final_sent or self.cancelled.is_set():
            return
        response = self._respond(status, body=sdp.to_bytes() if sdp else b"")
        self.tx.respond(response)
        if self.dialog is None and self.request.contacts and self.request.from_.tag:
            self.dialog = Dialog.as_uas(self.request, response)

    def answer(self, sdp: SessionDescription | bytes) -> Dialog:
        """200 OK with the SDP answer; retransmitted until the caller's ACK."""
        if self.tx.final_sent or self.cancelled.is_set():
            raise DialogError("call already finished")
        body = sdp if isinstance(sdp, bytes) else sdp.to_bytes()
        timer_headers = self.session_timer.response_headers() if self.session_timer else None
        response = self._respond(200, body=body, headers=timer_headers)
        dialog = Dialog.as_uas(self.request, response)
        dialog.state = DialogState.CONFIRMED
        self.dialog = dialog
        self.stack._add_dialog(dialog, self)
        self.tx.respond(response)
        self.stack._start_2xx(dialog, response, self.tx.channel, dialog.invite_cseq or 0)
        if self.session_timer is not None and self.stack.session_timers is not None:
            self.stack.session_timers.start(dialog, self.session_timer, body)
        return dialog

    def reject(
        self, status: int, reason: str = "", headers: list[tuple[str, str]] | None = None
    ) -> None:
        if self.tx.final_sent:
            return
        if not 300 <= status <= 699:
            raise ValueError("reject needs a 3xx-6xx status")
        self.tx.respond(self._respond(status, reason, headers=headers))

    async def wait_ack(self, timeout: float | None = None) -> bool:
        try:
            await asyncio.wait_for(self.acked.wait(), timeout)
        except TimeoutError:
            return False
        return True


@dataclass(slots=True)
class InviteResult:
    """Final outcome of an outgoing INVITE."""

    response: SipResponse
    dialog: Dialog | None
    answer: SessionDescription | None = None

    @property
    def status(self) -> int:
        return self.response.status


@dataclass(frozen=True, slots=True)
class _InviteSpec:
    uri: Uri
    sdp: SessionDescription | bytes | None
    from_uri: Uri | str | None
    display_name: str | None
    headers: list[tuple[str, str]]
    credentials: ClientCredentials | None


class OutgoingCall:
    """An INVITE we sent: await :meth:`result`, or :meth:`cancel` it while ringing."""

    def __init__(self, stack: SipStack) -> None:
        self.stack = stack
        self.request: SipRequest | None = None
        self.channel: Channel | None = None
        self.provisional: list[SipResponse] = []
        self._result: asyncio.Future[InviteResult] = asyncio.get_running_loop().create_future()
        self._cancel_requested = False
        self._cancel_sent = False

    async def result(self) -> InviteResult:
        return await asyncio.shield(self._result)

    def cancel(self) -> None:
        """Send CANCEL once a provisional response arrived (RFC 3261 9.1)."""
        self._cancel_requested = True
        self._maybe_cancel()

    def _maybe_cancel(self) -> None:
        if (
            not self._cancel_requested
            or self._cancel_sent
            or self.request is None
            or self.channel is None
            or not self.provisional
            or self._result.done()
        ):
            return
        self._cancel_sent = True
        self.stack._send_cancel(self.request, self.channel)


class SipStack:
    """Transports + transaction layer + UA core (see module docstring)."""

    def __init__(
        self,
        config: SipConfig | None = None,
        handler: CallHandler | None = None,
        registrar: Registrar | None = None,
        scheduler: Scheduler | None = None,
    ) -> None:
        self.config = config or SipConfig()
        self.handler: CallHandler = handler or BaseCallHandler()
        self.registrar = registrar
        self.scheduler: Scheduler = scheduler or LoopScheduler()
        self.layer = TransactionLayer(self, self.scheduler, self.config.timers)
        self.udp: UdpTransport | None = None
        self.tcp: TcpTransport | None = None
        self.tls: TcpTransport | None = None
        self.dialogs: dict[DialogId, Dialog] = {}
        self._calls: dict[DialogId, IncomingCall] = {}
        self._invites: dict[tuple[str, ...], IncomingCall] = {}
        self._pending_2xx: dict[tuple[DialogId, int], Retransmit2xx] = {}
        self._acks: dict[DialogId, tuple[SipRequest, Channel]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self.session_timers: SessionTimers | None = None
        if self.config.session_timers is not None:
            self.session_timers = SessionTimers(
                self, self.config.session_timers, self.scheduler, self._session_expired
            )

    # -- lifecycle ----------------------------------------------------------

    async def start(self) -> None:
        if self.config.udp_port is not None:
            self.udp = UdpTransport(self.layer.receive, self.config.host, self.config.udp_port)
            await self.udp.start()
        if self.config.tcp_port is not None:
            self.tcp = TcpTransport(self.layer.receive, self.config.host, self.config.tcp_port)
            await self.tcp.start()
        if self.config.tls_port is not None:
            tls = self.config.tls or TlsConfig()
            self.tls = TcpTransport(
                self.layer.receive,
                self.config.host,
                self.config.tls_port,
                server_ssl=tls.server_context(),
                client_ssl=tls.client_context(),
            )
            await self.tls.start()

    async def close(self) -> None:
        if self.session_timers is not None:
            await self.session_timers.close()
        for pending in self._pending_2xx.values():
            pending.stop()
        self._pending_2xx.clear()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        for tx in list(self.layer.server.values()) + list(self.layer.client.values()):
            tx._terminate()
        if self.registrar is not None:
            self.registrar.close()
        if self.udp is not None:
            await self.udp.close()
        if self.tcp is not None:
            await self.tcp.close()
        if self.tls is not None:
            await self.tls.close()

    def _spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> None:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)

        def done(t: asyncio.Task[Any]) -> None:
            self._tasks.discard(t)
            if not t.cancelled() and t.exception() is not None:
                log.error("%s failed", name, exc_info=t.exception())

        task.add_done_callback(done)

    # -- addressing ---------------------------------------------------------

    def local_address(self, transport: str = "UDP") -> Address:
        chosen = {"UDP": self.udp, "TCP": self.tcp, "TLS": self.tls}.get(transport.upper())
        if chosen is None:
            raise TransportError(f"{transport} is not enabled")
        host, port = chosen.local_address
        return self.config.advertised_host or host, port

    def contact(self, transport: str = "UDP") -> NameAddr:
        host, port = self.local_address(transport)
        params: dict[str, str | None] = {}
        if transport.upper() != "UDP":
            params["transport"] = transport.lower()
        return NameAddr(Uri("sip", host, self.config.user, port=port, params=params))

    async def channel_for(self, uri: Uri) -> Channel:
        transport, host, port = uri_target(uri)
        address = await resolve(host, port)
        if transport == "UDP":
            if self.udp is None:
                raise TransportError("UDP is not enabled")
            return self.udp.channel(address)
        if transport == "TCP":
            if self.tcp is None:
                raise TransportError("TCP is not enabled")
            return await self.tcp.connect(address)
        if transport == "TLS":
            if self.tls is None:
                raise TransportError("TLS is not enabled")
            return await self.tls.connect(address, server_hostname=host.strip("[]"))
        raise TransportError(f"unsupported transport {transport}")

    def _add_via(self, request: SipRequest, transport: str) -> None:
        host, port = self.local_address(transport)
        via = Via(transport, host, port, {"branch": generate_branch(), "rport": None})
        request.headers.prepend("Via", str(via))

    # -- transaction-user callbacks ----------------------------------------

    def on_request(self, transaction: ServerTransaction) -> None:
        request = transaction.request
        method = request.method
        if method == "REGISTER":
            self._spawn(self._register(transaction), "sip-register")
        elif method == "OPTIONS":
            transaction.reply(
                200,
                headers=[
                    ("Allow", ALLOW),
                    ("Accept", "application/sdp"),
                    ("Server", self.config.user_agent),
                ],
            )
        elif request.to.tag:
            self._in_dialog(transaction)
        elif method == "INVITE":
            self._new_invite(transaction)
        elif method in ("BYE", "INFO", "UPDATE", "PRACK", "NOTIFY", "REFER"):
            transaction.reply(481)
        else:
            transaction.reply(405, headers=[("Allow", ALLOW)])

    async def _register(self, transaction: ServerTransaction) -> None:
        if self.registrar is None:
            transaction.reply(405, headers=[("Allow", ALLOW.replace(", REGISTER", ""))])
            return
        channel = transaction.channel
        source = (channel.transport_name, channel.remote[0], channel.remote[1])
        try:
            response = await self.registrar.handle(transaction.request, source)
        except Exception:
            log.exception("registrar failed")
            transaction.reply(500)
            return
        transaction.respond(response)

    def _new_invite(self, transaction: ServerTransaction) -> None:
        request = transaction.request
        offer: SessionDescription | None = None
        if request.body:
            if request.content_type != "application/sdp":
                transaction.reply(415, headers=[("Accept", "application/sdp")])
                return
            try:
                offer = parse_sdp(request.body)
            except SdpParseError as exc:
                transaction.reply(400, f"Bad SDP ({exc})"[:80])
                return
        if not request.contacts or not request.from_.tag:
            transaction.reply(400, "Missing Contact or From tag")
            return
        timer: Negotiated | None = None
        if self.session_timers is not None:
            try:
                timer = self.session_timers.negotiate(request)
            except SessionIntervalTooSmall as exc:
                transaction.reply(422, headers=[("Min-SE", str(exc.min_se))])
                return
            except SessionTimerError as exc:
                transaction.reply(400, f"Bad Session-Expires ({exc})"[:80])
                return
        call = IncomingCall(self, transaction, offer)
        call.session_timer = timer
        self._invites[transaction.key] = call

        def forget() -> None:
            self._invites.pop(transaction.key, None)

        transaction.on_ack_timeout = forget

        async def run() -> None:
            try:
                await self.handler.on_invite(call)
            except Exception:
                log.exception("INVITE handler failed")
                if not transaction.final_sent:
                    call.reject(500)
            finally:
                if transaction.final_sent:
                    self._invites.pop(transaction.key, None)

        self._spawn(run(), f"sip-invite-{request.call_id}")

    def _in_dialog(self, transaction: ServerTransaction) -> None:
        request = transaction.request
        dialog = self.dialogs.get(dialog_id_of(request, inbound_request=True))
        if dialog is None or dialog.state is DialogState.TERMINATED:
            transaction.reply(481)
            return
        if not dialog.accept_remote_cseq(request):
            transaction.reply(500, "CSeq Out Of Order")
            return
        method = request.method
        if method == "BYE":
            transaction.reply(200)
            self._end_dialog(dialog)
            self._spawn(self.handler.on_bye(dialog, request), "sip-bye")
        elif method == "INFO":
            self._spawn(self._info(transaction, dialog), "sip-info")
        elif method == "INVITE":
            self._spawn(self._reinvite(transaction, dialog), "sip-reinvite")
        elif method == "UPDATE":
            self._spawn(self._update(transaction, dialog), "sip-update")
        else:
            transaction.reply(
                501 if method in ("UPDATE", "PRACK", "REFER", "NOTIFY") else 405,
                headers=[("Allow", ALLOW)],
            )

    async def _info(self, transaction: ServerTransaction, dialog: Dialog) -> None:
        try:
            await self.handler.on_info(dialog, transaction.request)
        except Exception:
            log.exception("INFO handler failed")
            transaction.reply(500)
            return
        transaction.reply(200)

    async def _reinvite(self, transaction: ServerTransaction, dialog: Dialog) -> None:
        request = transaction.request
        try:
            answer = await self.handler.on_reinvite(dialog, request)
        except Exception:
            log.exception("re-INVITE handler failed")
            answer = None
        if answer is None:
            transaction.reply(488)
            return
        dialog.refresh_target(request)
        headers = [
            ("Contact", str(self.contact(transaction.channel.transport_name))),
            ("Content-Type", "application/sdp"),
        ]
        if self.session_timers is not None:  # a re-INVITE is a session refresh (RFC 4028)
            headers += self.session_timers.refreshed(dialog, request, answer.to_bytes())
        response = make_response(request, 200, headers=headers, body=answer.to_bytes())
        transaction.respond(response)
        self._start_2xx(dialog, response, transaction.channel, request.cseq.number)

    async def _update(self, transaction: ServerTransaction, dialog: Dialog) -> None:
        """UPDATE (RFC 3311): a session refresh without a body; with an SDP offer the
        handler answers it like a re-INVITE (no ACK follows)."""
        request = transaction.request
        headers = [("Contact", str(self.contact(transaction.channel.transport_name)))]
        body = b""
        if request.body:
            try:
                answer = await self.handler.on_reinvite(dialog, request)
            except Exception:
                log.exception("UPDATE handler failed")
                answer = None
            if answer is None:
                transaction.reply(488)
                return
            body = answer.to_bytes()
            headers.append(("Content-Type", "application/sdp"))
        dialog.refresh_target(request)
        if self.session_timers is not None:
            headers += self.session_timers.refreshed(dialog, request, body or None)
        transaction.respond(make_response(request, 200, headers=headers, body=body))

    async def _session_expired(self, dialog: Dialog) -> None:
        """RFC 4028 10: the session expired: BYE, then tell the handler."""
        if dialog.state is not DialogState.TERMINATED:
            try:
                await self.request(
                    dialog, "BYE", headers=[("Reason", 'SIP;text="session expired"')]
                )
            except (TransportError, DialogError) as exc:
                log.info("BYE after session expiry failed: %s", exc)
        self._end_dialog(dialog)
        handler = getattr(self.handler, "on_session_expired", None)
        if handler is not None:
            await handler(dialog)
        else:
            await self.handler.on_dialog_timeout(dialog)

    def on_ack(self, request: SipRequest, channel: Channel) -> None:
        try:
            did = dialog_id_of(request, inbound_request=True)
            cseq = request.cseq.number
        except SipParseError:
            return
        pending = self._pending_2xx.pop((did, cseq), None)
        if pending is not None:
            pending.stop()
        call = self._calls.get(did)
        if call is not None:
            call.acked.set()

    def on_cancel(self, invite: ServerTransaction, cancel: SipRequest) -> None:
        call = self._invites.pop(invite.key, None)
        if call is None:
            return
        call.cancelled.set()
        self._spawn(self.handler.on_cancel(call), "sip-cancel")

    def on_stray_response(self, response: SipResponse, channel: Channel) -> None:
        # A retransmitted 2xx for an INVITE whose transaction is gone: ACK again.
        if not response.is_success or response.cseq.method != "INVITE":
            return
        did = dialog_id_of(response, inbound_request=False)
        ack = self._acks.get(did)
        if ack is not None:
            try:
                ack[1].send(ack[0])
            except TransportError as exc:
                log.info("re-ACK failed: %s", exc)

    # -- dialogs ------------------------------------------------------------

    def _add_dialog(self, dialog: Dialog, call: IncomingCall | None = None) -> None:
        self.dialogs[dialog.id] = dialog
        if call is not None:
            self._calls[dialog.id] = call

    def _end_dialog(self, dialog: Dialog) -> None:
        if self.session_timers is not None:
            self.session_timers.stop(dialog)
        dialog.terminate()
        self.dialogs.pop(dialog.id, None)
        self._calls.pop(dialog.id, None)
        self._acks.pop(dialog.id, None)
        for key in [k for k in self._pending_2xx if k[0] == dialog.id]:
            self._pending_2xx.pop(key).stop()

    def _start_2xx(
        self, dialog: Dialog, response: SipResponse, channel: Channel, cseq: int
    ) -> None:
        def timeout() -> None:
            self._pending_2xx.pop((dialog.id, cseq), None)
            log.info("no ACK for 2xx on %s: ending the dialog", dialog.call_id)
            self._spawn(self._ack_timeout(dialog), "sip-ack-timeout")

        pending = Retransmit2xx(response, channel, self.scheduler, self.config.timers, timeout)
        self._pending_2xx[(dialog.id, cseq)] = pending
        pending.start()

    async def _ack_timeout(self, dialog: Dialog) -> None:
        # RFC 3261 13.3.1.4: no ACK → the UAS core should end the session with BYE.
        try:
            await self.request(dialog, "BYE")
        except (TransportError, DialogError) as exc:
            log.info("BYE after ACK timeout failed: %s", exc)
        self._end_dialog(dialog)
        await self.handler.on_dialog_timeout(dialog)

    # -- outbound -----------------------------------------------------------

    async def _transact(
        self,
        request: SipRequest,
        channel: Channel,
        on_provisional: Callable[[SipResponse], None] | None = None,
    ) -> SipResponse:
        loop = asyncio.get_running_loop()
        final: asyncio.Future[SipResponse] = loop.create_future()

        def on_response(response: SipResponse) -> None:
            if response.status < 200:
                if on_provisional is not None:
                    on_provisional(response)
            elif not final.done():
                final.set_result(response)
            elif response.is_success and request.method == "INVITE":
                self.on_stray_response(response, channel)

        def on_timeout() -> None:
            if not final.done():
                final.set_result(make_response(request, 408, "Request Timeout (local)"))

        self.layer.send_request(request, channel, on_response, on_timeout)
        return await final

    async def register(
        self, registrar: tuple[str, int], credentials: ClientCredentials, *, expires: int = 300
    ) -> int:
        """REGISTER this stack's UDP contact as ``credentials.username`` at ``registrar``,
        answering a digest challenge; returns the final status code."""
        host, port = registrar
        user = credentials.username
        headers = Headers(
            [
                ("From", f"<sip:{user}@{host}>;tag=reg-{user}"),
                ("To", f"<sip:{user}@{host}>"),
                ("Call-ID", f"reg-{user}-{port}"),
                ("CSeq", "1 REGISTER"),
                ("Contact", str(self.contact("UDP"))),
                ("Expires", str(expires)),
            ]
        )
        request = SipRequest("REGISTER", parse_uri(f"sip:{host}:{port}"), headers)
        response = await self.send(request, credentials=credentials)
        return response.status

    async def send(
        self,
        request: SipRequest,
        *,
        destination: Uri | None = None,
        credentials: ClientCredentials | None = None,
    ) -> SipResponse:
        """Send an out-of-dialog request (Via added) and await its final response;
        a 401/407 is answered once with ``credentials``."""
        target = destination or self._first_route(request) or request.uri
        channel = await self.channel_for(target)
        self._prepare(request, channel.transport_name)
        response = await self._transact(request, channel)
        if response.status in (401, 407) and credentials is not None:
            retry = self._authorized_retry(request, response, credentials)
            if retry is not None:
                self._prepare(retry, channel.transport_name)
                response = await self._transact(retry, channel)
        return response

    @staticmethod
    def _first_route(request: SipRequest) -> Uri | None:
        routes = request.headers.values("Route")
        if not routes:
            return None
        try:
            return parse_name_addr(routes[0]).uri
        except SipParseError:
            return None

    def _prepare(self, request: SipRequest, transport: str) -> None:
        request.headers.remove("Via")
        self._add_via(request, transport)
        if "Max-Forwards" not in request.headers:
            request.headers.add("Max-Forwards", "70")
        if "User-Agent" not in request.headers:
            request.headers.add("User-Agent", self.config.user_agent)

    @staticmethod
    def _authorized_retry(
        request: SipRequest, response: SipResponse, credentials: ClientCredentials
    ) -> SipRequest | None:
        proxy = response.status == 407
        challenge_header = "Proxy-Authenticate" if proxy else "WWW-Authenticate"
        try:
            challenge = pick_challenge(response.headers.get_all(challenge_header))
            value = authorization_for(
                challenge, method=request.method, uri=str(request.uri), credentials=credentials
            )
        except AuthError as exc:
            log.info("cannot answer %d challenge: %s", response.status, exc)
            return None
        retry = request.copy()
        retry.headers.set("CSeq", f"{request.cseq.number + 1} {request.method}")
        retry.headers.set("Proxy-Authorization" if proxy else "Authorization", value)
        return retry

    def start_invite(
        self,
        target: Uri | str,
        *,
        sdp: SessionDescription | bytes | None = None,
        from_uri: Uri | str | None = None,
        display_name: str | None = None,
        headers: list[tuple[str, str]] | None = None,
        credentials: ClientCredentials | None = None,
        transport: str | None = None,
    ) -> OutgoingCall:
        """Place a call; the returned :class:`OutgoingCall` resolves on the final answer."""
        call = OutgoingCall(self)
        uri = parse_uri(target) if isinstance(target, str) else target
        if transport is not None:
            uri = uri.with_params(transport=transport.lower())
        self._spawn(
            self._run_invite(
                call,
                _InviteSpec(uri, sdp, from_uri, display_name, headers or [], credentials),
            ),
            f"sip-invite-out-{uri}",
        )
        return call

    async def invite(self, target: Uri | str, **kwargs: Any) -> InviteResult:
        """``start_invite(...)`` and await its result."""
        return await self.start_invite(target, **kwargs).result()

    async def _run_invite(self, call: OutgoingCall, spec: _InviteSpec) -> None:
        try:
            result = await self._invite_flow(call, spec)
        except Exception as exc:
            if not call._result.done():
                call._result.set_exception(exc)
            return
        if not call._result.done():
            call._result.set_result(result)

    async def _invite_flow(self, call: OutgoingCall, spec: _InviteSpec) -> InviteResult:
        uri, sdp, from_uri = spec.uri, spec.sdp, spec.from_uri
        display_name, extra, credentials = spec.display_name, spec.headers, spec.credentials
        channel = await self.channel_for(uri)
        transport = channel.transport_name
        host, _ = self.local_address(transport)
        if from_uri is None:
            from_parsed = Uri("sip", host, self.config.user)
        else:
            from_parsed = parse_uri(from_uri) if isinstance(from_uri, str) else from_uri
        body = sdp if isinstance(sdp, bytes) or sdp is None else sdp.to_bytes()
        headers = Headers()
        headers.add("Max-Forwards", "70")
        headers.add("From", str(NameAddr(from_parsed, display_name, {"tag": generate_tag()})))
        headers.add("To", str(NameAddr(Uri(uri.scheme, uri.host, uri.user, port=uri.port))))
        headers.add("Call-ID", generate_call_id(host))
        headers.add("CSeq", "1 INVITE")
        headers.add("Contact", str(self.contact(transport)))
        headers.add("Allow", ALLOW)
        headers.add("User-Agent", self.config.user_agent)
        for name, value in extra:
            headers.add(name, value)
        if body:
            headers.add("Content-Type", "application/sdp")
        request = SipRequest("INVITE", uri, headers, body or b"")
        response = await self._invite_once(call, request, channel)
        if response.status in (401, 407) and credentials is not None:
            retry = self._authorized_retry(request, response, credentials)
            if retry is not None:
                call.provisional.clear()
                response = await self._invite_once(call, retry, channel)
                request = retry
        if not response.is_success:
            return InviteResult(response, None)
        dialog = Dialog.as_uac(request, response)
        dialog.state = DialogState.CONFIRMED
        self._add_dialog(dialog)
        ack = dialog.create_ack(request.cseq.number)
        ack_channel = await self.channel_for(dialog.next_hop())
        self._prepare(ack, ack_channel.transport_name)
        self._acks[dialog.id] = (ack, ack_channel)
        ack_channel.send(ack)
        answer: SessionDescription | None = None
        if response.body and response.content_type == "application/sdp":
            try:
                answer = parse_sdp(response.body)
            except SdpParseError as exc:
                log.info("bad SDP answer on %s: %s", dialog.call_id, exc)
        if call._cancel_requested:
            # CANCEL crossed the 200: end the call we no longer want.
            self._spawn(self.request(dialog, "BYE"), "sip-bye-after-cancel")
        return InviteResult(response, dialog, answer)

    async def _invite_once(
        self, call: OutgoingCall, request: SipRequest, channel: Channel
    ) -> SipResponse:
        self._prepare(request, channel.transport_name)
        call.request = request
        call.channel = channel

        def provisional(response: SipResponse) -> None:
            call.provisional.append(response)
            call._maybe_cancel()

        return await self._transact(request, channel, provisional)

    def _send_cancel(self, invite: SipRequest, channel: Channel) -> None:
        cancel = build_cancel(invite)

        def ignore(_: SipResponse) -> None:
            return None

        def timeout() -> None:
            log.info("CANCEL for %s timed out", invite.call_id)

        self.layer.send_request(cancel, channel, ignore, timeout)

    async def request(
        self,
        dialog: Dialog,
        method: str,
        *,
        body: bytes | SessionDescription = b"",
        headers: list[tuple[str, str]] | None = None,
        content_type: str | None = None,
    ) -> SipResponse:
        """Send an in-dialog request (BYE, INFO, re-INVITE …); ACKs a re-INVITE's 2xx.
        A BYE ends the dialog locally whatever the answer."""
        payload = body if isinstance(body, bytes) else body.to_bytes()
        request = dialog.create_request(
            method, headers=headers, body=payload, content_type=content_type
        )
        if method.upper() == "BYE":
            self._end_dialog(dialog)
        channel = await self.channel_for(dialog.next_hop())
        self._prepare(request, channel.transport_name)
        response = await self._transact(request, channel)
        if method.upper() == "INVITE" and response.is_success:
            dialog.refresh_target(response)
            ack = dialog.create_ack(request.cseq.number)
            self._prepare(ack, channel.transport_name)
            self._acks[dialog.id] = (ack, channel)
            channel.send(ack)
        if response.status in (408, 481) and method.upper() != "BYE":
            self._end_dialog(dialog)
        return response

    async def bye(self, dialog: Dialog) -> SipResponse:
        return await self.request(dialog, "BYE")

    async def reinvite(self, dialog: Dialog, sdp: bytes | SessionDescription) -> SessionDescription:
        """Re-INVITE ``dialog`` with a new SDP offer (next CSeq), ACK the 2xx and return
        the SDP answer; raises :class:`ReinviteError` on non-2xx, timeout or no SDP."""
        try:
            response = await self.request(dialog, "INVITE", body=sdp)
        except (TransportError, DialogError, OSError) as exc:
            raise ReinviteError(0, str(exc)) from exc
        if not response.is_success:
            raise ReinviteError(response.status, response.reason)
        if not response.body:
            raise ReinviteError(0, "the 2xx has no SDP answer")
        try:
            return parse_sdp(response.body)
        except SdpParseError as exc:
            raise ReinviteError(0, f"bad SDP answer: {exc}") from exc
