"""Asyncio client of the CTI protocol (desktop, switch, tools, benchmarks, tests).

::

    client = await CtiClient.connect(
        "ws://127.0.0.1:8765",
        PasswordCredentials(user_id="1001", password="…"),
        ClientKind.DESKTOP,
    )
    await client.request(lambda i: AgentSetReady(id=i))   # or AgentSetReady(id=0)
    async for item in client.events():                    # events, and Resync notices
        ...
    await client.reconnect()                              # resumes the session
    await client.close()

Requests are matched to responses with :class:`PendingRequests`; an ``error``
response raises :class:`ProtocolError`. Events go through :class:`EventTracker`:
duplicates (overlap after a resume) are dropped, and anything that makes local state
stale (a resume the server could not honour, a sequence gap) is announced by a
:class:`Resync` item in the event stream. With ``auto_snapshot`` the client fetches
the snapshot itself and the :class:`Resync` carries it.

Pure asyncio and websockets; nothing POSIX-only (the desktop runs on Windows).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable
from dataclasses import dataclass
from ssl import SSLContext
from types import TracebackType
from typing import Any, Self

import msgspec
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from shared.clock import Clock, SystemClock
from shared.protocol.base import Event, ProtocolVersion, Request, ResultBody
from shared.protocol.codec import DEFAULT_MAX_SERVER_BYTES, Link, decode_server, encode
from shared.protocol.errors import ErrorCode, ProtocolError
from shared.protocol.handshake import (
    SUPPORTED_VERSIONS,
    ClientKind,
    Credentials,
    Hello,
    Logout,
    Ping,
    Pong,
    Resume,
    Snapshot,
    SnapshotRequest,
    Welcome,
)
from shared.protocol.messages import AnyEvent, AnyResponse
from shared.protocol.responses import Error, Result
from shared.protocol.session import EventTracker, PendingRequests, Track

log = logging.getLogger("shared.cti_client")


class ConnectionLost(ConnectionError):
    """The connection is closed (or closed while a request waited for its response)."""


@dataclass(frozen=True, slots=True)
class Resync:
    """Local state is stale: drop it.

    ``snapshot`` is the full state as of ``snapshot.last_seq`` (events after it follow)
    when the client fetched it (``auto_snapshot``); otherwise ``None`` and the events
    that follow continue from the server's current state.
    """

    reason: str
    snapshot: Snapshot | None = None


type ClientEvent = AnyEvent | Resync
"""What the event stream yields."""

type RequestLike[R: Request] = R | Callable[[int], R]


class CtiClient:
    """One logical CTI client: a session that survives reconnects."""

    def __init__(
        self,
        url: str,
        credentials: Credentials,
        kind: ClientKind,
        *,
        client_name: str | None = None,
        client_version: str | None = None,
        versions: Iterable[ProtocolVersion] = SUPPORTED_VERSIONS,
        heartbeat: bool | float = True,
        request_timeout: float = 10.0,
        auto_snapshot: bool = False,
        on_event: Callable[[ClientEvent], None] | None = None,
        event_buffer: int = 100_000,
        max_frame_bytes: int = DEFAULT_MAX_SERVER_BYTES,
        compression: bool = True,
        open_timeout: float = 10.0,
        close_timeout: float = 5.0,
        ssl: SSLContext | None = None,
        clock: Clock | None = None,
    ) -> None:
        """``heartbeat``: True = ping at the server's interval, a number = that interval,
        False = never. ``on_event`` receives events instead of the :meth:`events` stream.
        """
        self.url = url
        self.kind = kind
        self.client_name = client_name
        self.client_version = client_version
        self.versions = tuple(versions)
        self.heartbeat = heartbeat
        self.request_timeout = request_timeout
        self.auto_snapshot = auto_snapshot
        self.on_event = on_event
        self.max_frame_bytes = max_frame_bytes
        self.compression = compression
        self.open_timeout = open_timeout
        self.close_timeout = close_timeout
        self.ssl = ssl
        """TLS settings for ``wss://`` URLs (``None``: the system defaults)."""
        self.clock: Clock = clock if clock is not None else SystemClock()
        self._credentials = credentials
        self._link = Link.SWITCH if kind is ClientKind.SWITCH else Link.CTI
        self._ws: ClientConnection | None = None
        self._reader: asyncio.Task[None] | None = None
        self._pinger: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[None]] = set()
        self._pending = PendingRequests()
        self._futures: dict[int, asyncio.Future[AnyResponse]] = {}
        self._next_id = 1
        self._tracker = EventTracker()
        self._session_id: str | None = None
        self._has_state = False
        self._awaiting_snapshot = False
        self._resync_reason = ""
        self._events: asyncio.Queue[ClientEvent | None] = asyncio.Queue(maxsize=event_buffer)
        self._disconnected = asyncio.Event()
        self._disconnected.set()
        self._closed = False
        self.welcome: Welcome | None = None
        """The last welcome received."""
        self.close_code: int | None = None
        """Close code and reason of the last connection (``4000`` / ``slow consumer`` …)."""
        self.close_reason: str | None = None
        self.rtt: float | None = None
        """Round-trip time of the last ping, seconds."""
        self.clock_offset: float | None = None
        """Server time minus local time, seconds (from the last pong)."""
        self.duplicates = 0
        self.dropped_events = 0

    # -- lifecycle ----------------------------------------------------------------

    @classmethod
    async def connect(
        cls,
        url: str,
        credentials: Credentials,
        kind: ClientKind,
        **options: object,
    ) -> CtiClient:
        """Connect and say hello (see :meth:`__init__` for ``options``)."""
        client = cls(url, credentials, kind, **options)  # type: ignore[arg-type]
        await client.open()
        return client

    async def __aenter__(self) -> Self:
        if not self.connected:
            await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    @property
    def connected(self) -> bool:
        return self._ws is not None and not self._disconnected.is_set()

    @property
    def session_id(self) -> str | None:
        return self._session_id

    @property
    def last_seq(self) -> int:
        """The last event seq applied (what a resume asks to continue after)."""
        return self._tracker.last_seq

    async def open(self) -> Welcome:
        """Open a connection and send ``hello`` (resuming the session if there is one).

        Raises :class:`ProtocolError` when the server refuses the hello (the
        connection is then closed), or ``OSError`` / ``TimeoutError`` when it cannot
        be reached.
        """
        if self.connected:
            raise RuntimeError("already connected")
        self._closed = False
        ws = await connect(
            self.url,
            max_size=max(self.max_frame_bytes * 4, self.max_frame_bytes + 65536),
            compression="deflate" if self.compression else None,
            open_timeout=self.open_timeout,
            close_timeout=self.close_timeout,
            proxy=None,
            ssl=self.ssl,
        )
        self._ws = ws
        self._disconnected = asyncio.Event()
        self._pending = PendingRequests(first_id=self._next_id)
        self._reader = asyncio.create_task(self._read(ws))
        resume = self._tracker.resume_info(self._session_id) if self._session_id else None
        try:
            response = await self._call(self._hello_factory(resume), self.request_timeout)
            if isinstance(response, Error):
                raise _as_error(response)
            assert isinstance(response, Welcome)
            if not response.resumed and self.auto_snapshot:
                await self.snapshot()
        except BaseException:
            await self._close_connection(1000, "hello failed")
            raise
        interval = self._heartbeat_interval(response)
        if interval is not None:
            self._pinger = asyncio.create_task(self._ping_loop(ws, interval))
        return response

    async def disconnect(self) -> None:
        """Close the connection but keep the session: :meth:`open` or :meth:`reconnect`
        resumes it (within the server's grace period)."""
        await self._close_connection(1000, "client disconnecting")

    async def reconnect(self) -> Welcome:
        """Drop the current connection (if any) and open a new one, resuming the session."""
        await self._close_connection(1000, "reconnecting")
        return await self.open()

    async def logout(self) -> None:
        """End the session for good; the server closes the connection."""
        await self.request(lambda i: Logout(id=i))
        await self.wait_disconnected()
        self._session_id = None
        self._tracker = EventTracker()
        self._has_state = False
        await self.close()

    async def close(self) -> None:
        """Close the connection and end the event stream. Idempotent."""
        await self._close_connection(1000, "client closing")
        for task in list(self._background):
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        if not self._closed:
            self._closed = True
            self._emit_end()

    async def wait_disconnected(self) -> None:
        """Return when the current connection is closed (by either side)."""
        await self._disconnected.wait()

    # -- requests -----------------------------------------------------------------

    async def request[R: Request](
        self, msg: RequestLike[R], *, timeout: float | None = None
    ) -> ResultBody | None:
        """Send a request and return its result body (``None`` for a bare result).

        ``msg`` is a request (its ``id`` is replaced) or ``lambda i: CallAnswer(id=i, …)``.
        Raises :class:`ProtocolError` for an ``error`` response, :class:`ConnectionLost`
        when the connection closes first, ``TimeoutError`` after ``timeout``.
        """
        factory = _factory(msg)
        response = await self._call(factory, timeout)
        if isinstance(response, Error):
            raise _as_error(response)
        if not isinstance(response, Result):
            raise ProtocolError(
                ErrorCode.UNEXPECTED_TYPE,
                f"expected a result, got `{response.type_tag()}` (use ping() for ping)",
            )
        return response.body

    async def ping(self, *, timeout: float | None = None) -> Pong:
        sent = self.clock.monotonic()
        response = await self._call(lambda i: Ping(id=i), timeout)
        if isinstance(response, Error):
            raise _as_error(response)
        assert isinstance(response, Pong)
        self.rtt = self.clock.monotonic() - sent
        self.clock_offset = response.server_time - (self.clock.wall() - self.rtt / 2)
        return response

    async def snapshot(self) -> Snapshot:
        """Ask for the full state; events continue after ``snapshot.last_seq``.

        The stream gets a :class:`Resync` carrying it (before any later event).
        """
        self._awaiting_snapshot = True
        try:
            body = await self.request(lambda i: SnapshotRequest(id=i))
        finally:
            self._awaiting_snapshot = False
        assert isinstance(body, Snapshot)
        return body

    # -- events -------------------------------------------------------------------

    async def events(self) -> AsyncIterator[ClientEvent]:
        """Events (and :class:`Resync` notices) in order; ends when the client is closed."""
        while True:
            item = await self._events.get()
            if item is None:
                self._emit_end()  # keep the end marker for other readers
                return
            yield item

    async def next_event(self, timeout: float | None = None) -> ClientEvent:
        """The next event or :class:`Resync`; ``ConnectionLost`` once the client is closed."""
        item = await asyncio.wait_for(self._events.get(), timeout)
        if item is None:
            self._emit_end()  # keep the end marker for other readers
            raise ConnectionLost("the client is closed")
        return item

    # -- internals ----------------------------------------------------------------

    def _hello_factory(self, resume: Resume | None) -> Callable[[int], Hello]:
        def make(i: int) -> Hello:
            return Hello(
                id=i,
                versions=self.versions,
                kind=self.kind,
                credentials=self._credentials,
                client_name=self.client_name,
                client_version=self.client_version,
                resume=resume,
            )

        return make

    def _heartbeat_interval(self, welcome: Welcome) -> float | None:
        if self.heartbeat is False:
            return None
        if self.heartbeat is True:
            return welcome.heartbeat_seconds
        return float(self.heartbeat)

    async def _call[R: Request](
        self, make: Callable[[int], R], timeout: float | None
    ) -> AnyResponse:
        ws = self._ws
        if ws is None or self._disconnected.is_set():
            raise ConnectionLost("not connected")
        request = self._pending.issue(make, self.clock.monotonic())
        self._next_id = request.id + 1
        future: asyncio.Future[AnyResponse] = asyncio.get_running_loop().create_future()
        self._futures[request.id] = future
        try:
            try:
                await ws.send(encode(request), text=True)
            except ConnectionClosed as exc:
                raise ConnectionLost(f"connection closed: {exc}") from None
            limit = self.request_timeout if timeout is None else timeout
            return await asyncio.wait_for(future, limit)
        finally:
            self._futures.pop(request.id, None)

    async def _read(self, ws: ClientConnection) -> None:
        try:
            async for frame in ws:
                self._on_frame(frame)
        except ConnectionClosed:
            pass
        finally:
            self._connection_lost(ws)

    def _on_frame(self, frame: str | bytes) -> None:
        try:
            msg = decode_server(frame, link=self._link, max_bytes=self.max_frame_bytes)
        except ProtocolError as exc:
            log.warning("bad frame from the server: %s", exc)
            self._fail(exc.request_id, exc)
            return
        if isinstance(msg, Event):
            self._on_event(msg)
        else:
            self._on_response(msg)

    def _on_response(self, msg: AnyResponse) -> None:
        try:
            done = self._pending.resolve(msg)
        except ProtocolError as exc:
            log.warning("response not matched: %s", exc)
            self._fail(exc.request_id, exc)
            return
        request = done.request
        if request is None:
            log.warning("uncorrelated error from the server: %r", msg)
            return
        if isinstance(msg, Welcome):
            self._adopt_welcome(msg)
        elif isinstance(msg, Result) and isinstance(msg.body, Snapshot):
            self._tracker.reset(msg.body.last_seq)
            self._has_state = True
            reason = self._resync_reason or "snapshot"
            self._resync_reason = ""
            self._emit(Resync(reason=reason, snapshot=msg.body))
        future = self._futures.get(request.id)
        if future is not None and not future.done():
            future.set_result(msg)

    def _adopt_welcome(self, welcome: Welcome) -> None:
        """Runs in the reader, before any event that follows the welcome."""
        self.welcome = welcome
        self._session_id = welcome.session_id
        if welcome.resumed:
            return
        had_state = self._has_state
        self._tracker.on_welcome(welcome)
        reason = "the session could not be resumed" if had_state else "new session"
        if self.auto_snapshot:
            self._resync_reason = reason
            return
        self._tracker.reset(welcome.last_seq)
        if had_state:
            self._emit(Resync(reason=reason))

    def _on_event(self, event: AnyEvent) -> None:
        verdict = self._tracker.track(event)
        if verdict is Track.APPLY:
            self._has_state = True
            self._emit(event)
        elif verdict is Track.DUPLICATE:
            self.duplicates += 1
        elif not self._awaiting_snapshot and not self._resync_reason:
            reason = f"sequence gap: got {event.seq} after {self._tracker.last_seq}"
            log.warning(reason)
            if self.auto_snapshot:
                self._resync_reason = reason
                self._spawn(self._resync())
            else:
                self._tracker.reset(event.seq)
                self._emit(Resync(reason=reason))
                self._emit(event)

    async def _resync(self) -> None:
        try:
            await self.snapshot()
        except (ProtocolError, ConnectionLost, TimeoutError) as exc:
            log.warning("resync failed: %s", exc)

    def _emit(self, item: ClientEvent) -> None:
        if self.on_event is not None:
            try:
                self.on_event(item)
            except Exception:
                log.exception("on_event callback failed")
            return
        try:
            self._events.put_nowait(item)
        except asyncio.QueueFull:
            self.dropped_events += 1
            if self.dropped_events == 1:
                log.warning("event buffer full: events are being dropped")

    def _emit_end(self) -> None:
        try:
            self._events.put_nowait(None)
        except asyncio.QueueFull:
            self._events.get_nowait()
            self._events.put_nowait(None)

    def _fail(self, request_id: int | None, exc: BaseException) -> None:
        future = self._futures.get(request_id) if request_id is not None else None
        if future is not None and not future.done():
            future.set_exception(exc)
            future.exception()  # awaiters still get it; nobody awaiting is not an error

    def _connection_lost(self, ws: ClientConnection) -> None:
        if ws is not self._ws:
            return
        self.close_code = ws.close_code
        self.close_reason = ws.close_reason
        lost = ConnectionLost(f"connection closed ({ws.close_code} {ws.close_reason or ''})")
        for future in self._futures.values():
            if not future.done():
                future.set_exception(lost)
                # Mark it retrieved: the awaiting task (e.g. the pinger, cancelled
                # below) may never look, and asyncio would log it as lost.
                future.exception()
        self._futures.clear()
        self._pending.drain()
        if self._pinger is not None:
            self._pinger.cancel()
        self._awaiting_snapshot = False
        self._disconnected.set()
        log.info("disconnected: %s %s", ws.close_code, ws.close_reason or "")

    async def _close_connection(self, code: int, reason: str) -> None:
        ws, reader, pinger = self._ws, self._reader, self._pinger
        if ws is None:
            return
        await ws.close(code, reason)
        if reader is not None:
            await asyncio.gather(reader, return_exceptions=True)
        if pinger is not None:
            pinger.cancel()
            await asyncio.gather(pinger, return_exceptions=True)
        self._ws = self._reader = self._pinger = None

    async def _ping_loop(self, ws: ClientConnection, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                await self.ping(timeout=max(2 * interval, 1.0))
            except TimeoutError:
                log.warning("no pong within %.1f s: closing the connection", 2 * interval)
                self._spawn(ws.close(1011, "heartbeat timeout"))
                return
            except (ConnectionLost, ProtocolError):
                return

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)


def _factory[R: Request](msg: RequestLike[R]) -> Callable[[int], R]:
    if isinstance(msg, Request):
        template = msg

        def make(i: int) -> R:
            return msgspec.structs.replace(template, id=i)

        return make
    return msg


def _as_error(error: Error) -> ProtocolError:
    return ProtocolError(error.code, error.message, detail=dict(error.detail), request_id=error.id)
