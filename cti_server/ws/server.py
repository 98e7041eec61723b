"""The CTI WebSocket server: accepts connections, runs housekeeping, stops cleanly.

::

    server = CtiServer(router, StaticAuthenticator(...), config=TransportConfig(), hooks=hooks)
    await server.start("0.0.0.0", 8765)     # port 0 picks a free port: server.port
    ...
    await server.stop()                      # every client gets 1001 "server shutting down"
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Coroutine
from ssl import SSLContext
from types import TracebackType
from typing import Any, Self

from websockets.asyncio.server import Server, ServerConnection, serve

from cti_server.ws.auth import Authenticator
from cti_server.ws.config import TransportConfig
from cti_server.ws.connection import Connection, TransportContext
from cti_server.ws.errors import CloseCode, CloseReason
from cti_server.ws.handlers import Router
from cti_server.ws.sessions import SessionHooks, SessionRegistry
from cti_server.ws.stats import TransportStats
from shared.clock import Clock, SystemClock
from shared.log import log_context, set_conn

log = logging.getLogger("cti_server.ws.server")


class CtiServer:
    """WebSocket endpoint of the CTI protocol (desktops, supervisors, tools and switches)."""

    def __init__(
        self,
        router: Router,
        authenticator: Authenticator,
        *,
        config: TransportConfig | None = None,
        hooks: SessionHooks | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.config = config if config is not None else TransportConfig()
        self.router = router
        self.authenticator = authenticator
        self.clock: Clock = clock if clock is not None else SystemClock()
        self.stats = TransportStats()
        self.sessions = SessionRegistry(
            replay_buffer=self.config.replay_buffer,
            disconnect_grace=self.config.disconnect_grace,
            exclusive_kinds=self.config.exclusive_kinds,
            hooks=hooks,
            clock=self.clock,
            stats=self.stats,
        )
        self._ctx = TransportContext(
            config=self.config,
            router=router,
            sessions=self.sessions,
            authenticator=authenticator,
            stats=self.stats,
            clock=self.clock,
            spawn=self.spawn,
        )
        self._connections: dict[str, Connection] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._ids = itertools.count(1)
        self._server: Server | None = None
        self._housekeeper: asyncio.Task[None] | None = None

    # -- lifecycle ----------------------------------------------------------------

    async def start(
        self, host: str = "127.0.0.1", port: int = 0, *, ssl: SSLContext | None = None
    ) -> None:
        """Listen on ``host:port`` (``port`` 0 picks a free one; see :attr:`port`).

        With ``ssl`` the endpoint is ``wss://`` (R-SEC-1: encrypted transport).
        """
        if self._server is not None:
            raise RuntimeError("the server is already started")
        cfg = self.config
        self._server = await serve(
            self._handle,
            host,
            port,
            max_size=cfg.hard_frame_limit,
            ping_interval=cfg.keepalive_ping_interval,
            ping_timeout=cfg.keepalive_ping_interval,
            close_timeout=cfg.close_timeout,
            compression="deflate" if cfg.compression else None,
            logger=logging.getLogger("websockets.server"),
            ssl=ssl,
        )
        self._housekeeper = asyncio.create_task(self._housekeeping())
        log.info("listening on %s:%d", host, self.port)

    @property
    def port(self) -> int:
        """The bound TCP port (after :meth:`start`)."""
        if self._server is None:
            raise RuntimeError("the server is not started")
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    @property
    def connections(self) -> list[Connection]:
        return list(self._connections.values())

    async def stop(self, reason: str = CloseReason.SHUTDOWN) -> None:
        """Stop listening, flush and close every connection with 1001, end all sessions."""
        server, self._server = self._server, None
        if server is None:
            return
        server.close(close_connections=False)
        if self._housekeeper is not None:
            self._housekeeper.cancel()
            await asyncio.gather(self._housekeeper, return_exceptions=True)
        conns = list(self._connections.values())
        for conn in conns:
            conn.close(CloseCode.GOING_AWAY, reason)
        waits = [asyncio.create_task(conn.closed.wait()) for conn in conns]
        if waits:
            _, late = await asyncio.wait(waits, timeout=self.config.close_timeout + 1)
            for wait in late:
                wait.cancel()
            await asyncio.gather(*waits, return_exceptions=True)
        for conn in list(self._connections.values()):
            conn.drop(CloseCode.GOING_AWAY, reason)
        await server.wait_closed()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self.sessions.clear("shutdown")
        log.info("stopped")

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    def spawn(self, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        """Run ``coro`` as a task the server tracks (cancelled by :meth:`stop`)."""
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self.stats.handler_exceptions += 1
            log.error("background task failed", exc_info=task.exception())

    # -- connections --------------------------------------------------------------

    async def _handle(self, ws: ServerConnection) -> None:
        conn_id = f"c{next(self._ids)}"
        set_conn(conn_id)
        conn = Connection(ws, conn_id, self._ctx)
        self._connections[conn_id] = conn
        self.stats.connections_open += 1
        self.stats.connections_total += 1
        log.info("connection opened", extra={"peer": _peer(ws)})
        try:
            await conn.serve()
        finally:
            del self._connections[conn_id]
            self.stats.connections_open -= 1

    async def _housekeeping(self) -> None:
        while True:
            await asyncio.sleep(self.config.tick)
            try:
                self.check()
            except Exception:
                self.stats.handler_exceptions += 1
                log.exception("housekeeping failed")

    def check(self, now: float | None = None) -> None:
        """Drop silent connections, close ones without hello, expire sessions past grace."""
        cfg = self.config
        moment = self.clock.monotonic() if now is None else now
        for conn in list(self._connections.values()):
            if conn.dropped:
                continue
            with log_context(conn=conn.conn_id):
                if conn.closing is not None:
                    if conn.closing_since is not None and (
                        moment - conn.closing_since > cfg.close_timeout
                    ):
                        conn.drop(CloseCode.GOING_AWAY, conn.closing)
                elif conn.session is None:
                    if moment - conn.opened_at > cfg.hello_timeout:
                        self.stats.hello_timeouts += 1
                        log.info("no hello within %.1f s", cfg.hello_timeout)
                        conn.drop(CloseCode.POLICY_VIOLATION, CloseReason.NO_HELLO)
                elif moment - conn.last_seen > cfg.heartbeat_timeout:
                    self.stats.heartbeat_timeouts += 1
                    log.info("nothing received for %.1f s", moment - conn.last_seen)
                    conn.drop(CloseCode.HEARTBEAT_TIMEOUT, CloseReason.HEARTBEAT_TIMEOUT)
        self.sessions.expire_due(moment)


def _peer(ws: ServerConnection) -> str:
    address = ws.remote_address
    if isinstance(address, tuple) and len(address) >= 2:
        return f"{address[0]}:{address[1]}"
    return str(address)
