"""One client connection: frame intake, request dispatch and the outbox writer.

Every frame to the client goes through one bounded outbox drained by one writer
task, so nothing that produces frames (handlers, ``Session.push`` from domain code)
ever waits for a client. When the outbox is full the client is a slow consumer: it
is dropped (close ``4000 slow consumer``) and its session is kept for a resume.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from cti_server.ws.auth import Authenticator
from cti_server.ws.config import TransportConfig
from cti_server.ws.errors import CloseCode, CloseReason
from cti_server.ws.handlers import RequestContext, Router, to_error
from cti_server.ws.sessions import Session, SessionRegistry
from cti_server.ws.stats import TransportStats
from shared.clock import Clock
from shared.protocol.base import Event, Request, WireMessage
from shared.protocol.codec import Link, decode, decode_client, encode
from shared.protocol.errors import ErrorCode, ProtocolError
from shared.protocol.handshake import (
    ClientKind,
    Hello,
    Logout,
    Ping,
    Pong,
    Snapshot,
    Welcome,
    negotiate_version,
)
from shared.protocol.messages import for_version
from shared.protocol.responses import Error, Result
from shared.protocol.session import RequestIdGuard

log = logging.getLogger("cti_server.ws.connection")


@dataclass(frozen=True, slots=True)
class TransportContext:
    """What every connection shares (built by :class:`~cti_server.ws.server.CtiServer`)."""

    config: TransportConfig
    router: Router
    sessions: SessionRegistry
    authenticator: Authenticator
    stats: TransportStats
    clock: Clock
    spawn: Callable[[Coroutine[Any, Any, None]], asyncio.Task[None]]


@dataclass(frozen=True, slots=True)
class _Close:
    code: int
    reason: str


type _Item = bytes | tuple[bytes, ...] | _Close


class Connection:
    """Server side of one WebSocket connection (the session's :class:`EventSink`)."""

    def __init__(self, ws: ServerConnection, conn_id: str, ctx: TransportContext) -> None:
        self.ws = ws
        self._conn_id = conn_id
        self._ctx = ctx
        now = ctx.clock.monotonic()
        self.opened_at = now
        self.last_seen = now
        """Monotonic time of the last frame received (heartbeat check)."""
        self.session: Session | None = None
        self.link = Link.CTI
        self.guard = RequestIdGuard()
        self.bad_frames = 0
        """Frames rejected before a successful hello."""
        self.closing: str | None = None
        """Set once the connection is being closed (the reason)."""
        self.closing_since: float | None = None
        self.dropped = False
        """Closed without flushing the outbox (slow consumer, heartbeat timeout …)."""
        self.last_seq_queued = 0
        self.closed = asyncio.Event()
        self._outbox: asyncio.Queue[_Item] = asyncio.Queue()
        self._inflight = 0

    def __repr__(self) -> str:
        return f"Connection({self._conn_id!r}, session={self.session!r})"

    @property
    def conn_id(self) -> str:
        return self._conn_id

    @property
    def queued(self) -> int:
        """Frames waiting in the outbox."""
        return self._outbox.qsize()

    # -- sending (never blocks) ---------------------------------------------------

    def send(self, msg: WireMessage) -> None:
        """Queue a response (or any message) for the client."""
        if isinstance(msg, Error):
            self._ctx.stats.errors_by_code[msg.code.value] += 1
            log.debug("error %s: %s", msg.code.value, msg.message, extra={"id": msg.id})
        self._enqueue(encode(msg))

    def send_event(self, event: Event) -> None:
        """Queue a stamped event (called by :meth:`Session.push`)."""
        if self._enqueue(encode(event)):
            self.last_seq_queued = max(self.last_seq_queued, event.seq)

    def send_events(self, events: tuple[Event, ...]) -> None:
        """Queue several events as one outbox item (a replay)."""
        if events and self._enqueue(tuple(encode(e) for e in events)):
            self.last_seq_queued = max(self.last_seq_queued, events[-1].seq)

    def close(self, code: int, reason: str) -> None:
        """Close after the frames already queued are sent."""
        if self.closing is not None:
            return
        self._start_closing(reason)
        self._outbox.put_nowait(_Close(code, reason))

    def drop(self, code: int, reason: str) -> None:
        """Close now: discard the outbox; the session is detached (it waits for a resume)
        on the next turn of the event loop, and frames queued meanwhile are not sent."""
        if self.dropped:
            return
        self.dropped = True
        if self.closing is None:
            self._start_closing(reason)
        while not self._outbox.empty():
            self._outbox.get_nowait()
        self._ctx.spawn(self._close_now(code, reason))

    def _start_closing(self, reason: str) -> None:
        self.closing = reason
        self.closing_since = self._ctx.clock.monotonic()

    def _enqueue(self, item: _Item) -> bool:
        if self.closing is not None:
            return False
        if self._outbox.qsize() >= self._ctx.config.outbox_limit:
            self._ctx.stats.slow_consumer_drops += 1
            log.warning(
                "slow consumer: %d frames waiting, dropping the connection",
                self._outbox.qsize(),
                extra={"session": self.session.session_id if self.session else None},
            )
            self.drop(CloseCode.SLOW_CONSUMER, CloseReason.SLOW_CONSUMER)
            return False
        self._outbox.put_nowait(item)
        return True

    async def _close_now(self, code: int, reason: str) -> None:
        # Detach here, not in drop(): drop() may run inside Session.push (slow consumer),
        # and domain hooks must not run re-entrantly in the middle of domain code.
        if self.session is not None:
            self._ctx.sessions.detach(self.session, self, reason)
        await self.ws.close(code, reason)

    async def _write(self) -> None:
        """The writer task: the only place that sends on the socket."""
        stats = self._ctx.stats
        try:
            while True:
                item = await self._outbox.get()
                if isinstance(item, _Close):
                    await self.ws.close(item.code, item.reason)
                    return
                for frame in item if isinstance(item, tuple) else (item,):
                    await self.ws.send(frame, text=True)
                    stats.frames_out += 1
                    stats.bytes_out += len(frame)
        except ConnectionClosed:
            return

    # -- receiving ----------------------------------------------------------------

    async def serve(self) -> None:
        """Run the connection until it closes (called in websockets' handler task)."""
        writer = asyncio.create_task(self._write())
        try:
            async for frame in self.ws:
                if self.closing is not None:
                    continue
                await self._on_frame(frame)
        except ConnectionClosed:
            pass
        finally:
            reason = self.closing or _peer_reason(self.ws)
            if self.session is not None:
                self._ctx.sessions.detach(self.session, self, reason)
            writer.cancel()
            await asyncio.gather(writer, return_exceptions=True)
            log.info("connection closed: %s", reason)
            self.closed.set()

    async def _on_frame(self, frame: str | bytes) -> None:
        stats = self._ctx.stats
        self.last_seen = self._ctx.clock.monotonic()
        stats.frames_in += 1
        stats.bytes_in += len(frame)
        try:
            if isinstance(frame, bytes):
                self._reject(
                    ProtocolError(
                        ErrorCode.BAD_FRAME, "binary frames are not accepted; send JSON as text"
                    ),
                    _best_effort_id(frame, self._ctx.config.max_frame_bytes),
                )
            elif self.session is None:
                await self._before_hello(frame)
            else:
                self._on_request(frame, self.session)
        except Exception as exc:  # a bug here must not kill the connection
            stats.handler_exceptions += 1
            self.send(to_error(exc, None))

    def _reject(self, problem: BaseException, request_id: int | None) -> None:
        self.send(to_error(problem, request_id))
        if self.session is None:
            self.bad_frames += 1
            if self.bad_frames >= self._ctx.config.max_bad_frames_before_hello:
                log.warning("closing: %d bad frames before hello", self.bad_frames)
                self.close(CloseCode.POLICY_VIOLATION, CloseReason.BAD_FRAMES)

    async def _before_hello(self, frame: str) -> None:
        ctx = self._ctx
        try:
            msg = decode(frame, max_bytes=ctx.config.max_frame_bytes)
        except ProtocolError as exc:
            self._reject(exc, exc.request_id)
            return
        if not isinstance(msg, Hello):
            rid = msg.id if isinstance(msg, Request) else None
            problem = ProtocolError(
                ErrorCode.NOT_AUTHENTICATED,
                f"the first request must be `hello`, not `{msg.type_tag()}`",
                detail={"type": msg.type_tag()},
            )
            self._reject(problem, rid)
            return
        try:
            self.guard.check(msg)
            version = negotiate_version(msg.versions)
            principal = await ctx.authenticator.authenticate(msg)
        except Exception as exc:
            log.info("hello refused: %s", exc, extra={"kind": msg.kind.value})
            self._reject(exc, msg.id)
            return
        if self.closing is not None:
            return
        self.link = Link.SWITCH if principal.kind is ClientKind.SWITCH else Link.CTI
        opening = ctx.sessions.prepare(principal, version, msg.resume)
        session = opening.session
        if opening.note:
            log.info("no resume: %s", opening.note)
        user = principal.kind in (ClientKind.DESKTOP, ClientKind.SUPERVISOR)
        welcome = Welcome(
            id=msg.id,
            session_id=session.session_id,
            version=version,
            principal=principal.principal_id,
            heartbeat_seconds=ctx.config.heartbeat_interval,
            resumed=opening.resumed,
            last_seq=session.last_seq,
            server_time=ctx.clock.wall(),
            role=(principal.role or None) if user else None,  # 1.3: absent for older ones
        )
        self.send(for_version(version, welcome))
        self.send_events(opening.replay)
        self.session = session
        ctx.sessions.commit(opening, self)
        log.info(
            "session %s",
            "started" if opening.new else "resumed" if opening.resumed else "reattached",
            extra={
                "session": session.session_id,
                "principal": principal.principal_id,
                "kind": principal.kind.value,
                "replayed": len(opening.replay),
            },
        )

    def _on_request(self, frame: str, session: Session) -> None:
        ctx = self._ctx
        try:
            msg = decode_client(frame, link=self.link, max_bytes=ctx.config.max_frame_bytes)
            self.guard.check(msg)
        except ProtocolError as exc:
            self._reject(exc, exc.request_id)
            return
        if isinstance(msg, Ping):
            self.send(Pong(id=msg.id, server_time=ctx.clock.wall()))
        elif isinstance(msg, Hello):
            problem = ProtocolError(
                ErrorCode.ALREADY_AUTHENTICATED, "this connection already has a session"
            )
            self._reject(problem, msg.id)
        elif isinstance(msg, Logout):
            self.send(Result(id=msg.id))
            ctx.sessions.logout(session)
            self.close(CloseCode.NORMAL, CloseReason.LOGGED_OUT)
        elif self._inflight >= ctx.config.max_inflight_requests:
            self._reject(
                ProtocolError(
                    ErrorCode.RATE_LIMITED,
                    f"more than {ctx.config.max_inflight_requests} requests in progress",
                ),
                msg.id,
            )
        else:
            self._inflight += 1
            ctx.spawn(self._handle(msg, session))

    async def _handle(self, msg: Request, session: Session) -> None:
        try:
            response = await self._ctx.router.dispatch(RequestContext(self, session, msg), msg)
        finally:
            self._inflight -= 1
        self._ctx.stats.requests_handled += 1
        if isinstance(response, Error) and response.code is ErrorCode.INTERNAL:
            self._ctx.stats.handler_exceptions += 1
        self.send(for_version(session.version, response))  # no field the peer lacks
        if isinstance(response, Result) and isinstance(response.body, Snapshot):
            self._after_snapshot(session, response.body.last_seq)

    def _after_snapshot(self, session: Session, last_seq: int) -> None:
        """Events after the snapshot that were queued *before* its result are sent again.

        The client ignores events while it waits for a snapshot; the protocol promises
        every event after ``snapshot.last_seq`` after the result.
        """
        if self.last_seq_queued <= last_seq:
            return
        replay = session.sequencer.replay_after(last_seq)
        if replay.needs_snapshot:
            log.warning("cannot re-send events after snapshot: %s", replay.reason)
            return
        self.send_events(tuple(e for e in replay.events if e.seq <= self.last_seq_queued))


def _peer_reason(ws: ServerConnection) -> str:
    code = ws.close_code
    if code is None:
        return "connection lost"
    return f"closed by peer ({code} {ws.close_reason or ''})".rstrip()


def _best_effort_id(frame: bytes, max_bytes: int) -> int | None:
    try:
        msg = decode(frame, max_bytes=max_bytes)
    except ProtocolError as exc:
        return exc.request_id
    return msg.id if isinstance(msg, Request) else None
