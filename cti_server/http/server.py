"""Serve the HTTP app with uvicorn inside an already running event loop.

The WebSocket CTI server and this app share one process and one loop; the
composition root owns signal handling and logging, so uvicorn installs no signal
handlers and does not reconfigure logging here.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
from collections.abc import Generator
from dataclasses import dataclass
from pathlib import Path

import uvicorn
from starlette.types import ASGIApp


class _EmbeddedServer(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None]:
        yield  # signals belong to the composition root


@dataclass(slots=True)
class HttpServer:
    """A running uvicorn server; ``await close()`` stops it (lifespan shutdown included)."""

    server: uvicorn.Server
    task: asyncio.Task[None]
    port: int

    async def close(self, timeout: float = 10.0) -> None:
        self.server.should_exit = True
        try:
            await asyncio.wait_for(asyncio.shield(self.task), timeout)
        except TimeoutError:
            self.server.force_exit = True
            await self.task


async def serve_http(
    app: ASGIApp,
    host: str,
    port: int,
    *,
    ssl_certfile: str | Path | None = None,
    ssl_keyfile: str | Path | None = None,
    log_level: str = "warning",
    startup_timeout: float = 10.0,
) -> tuple[HttpServer, int]:
    """Start serving ``app`` on ``host:port`` (``port=0``: any free port).

    Returns once the socket listens and the app's lifespan start-up has run:
    ``(handle, bound_port)``. With a certificate and key the server speaks HTTPS.
    """
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        lifespan="on",
        log_config=None,
        log_level=log_level,
        access_log=False,
        server_header=False,
        proxy_headers=False,
        ssl_certfile=str(ssl_certfile) if ssl_certfile else None,
        ssl_keyfile=str(ssl_keyfile) if ssl_keyfile else None,
        ssl_version=ssl.PROTOCOL_TLS_SERVER,
    )
    # Bind here: a bind error is an OSError for the caller, not uvicorn's sys.exit().
    family, kind, proto, _name, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    bound = int(sock.getsockname()[1])
    server = _EmbeddedServer(config)
    task = asyncio.create_task(server.serve(sockets=[sock]), name=f"http-server-{host}:{bound}")
    loop = asyncio.get_running_loop()
    deadline = loop.time() + startup_timeout
    try:
        while not server.started:
            if task.done():
                exc = task.exception() if not task.cancelled() else None
                raise OSError(f"HTTP server on {host}:{bound} failed to start") from exc
            if loop.time() > deadline:
                server.should_exit = True
                await task
                raise TimeoutError(f"HTTP server on {host}:{bound} did not start")
            await asyncio.sleep(0.005)
    finally:
        if not server.started:
            sock.close()
    return HttpServer(server=server, task=task, port=bound), bound


class HttpService:
    """``async start()`` / ``async stop()`` around :func:`serve_http` (the composition
    root's ``HttpSide``); ``port`` is the bound port once started."""

    def __init__(
        self,
        app: ASGIApp,
        host: str,
        port: int,
        *,
        ssl_certfile: str | Path | None = None,
        ssl_keyfile: str | Path | None = None,
        log_level: str = "warning",
    ) -> None:
        self.app = app
        self.host = host
        self.port = port
        self._ssl = (ssl_certfile, ssl_keyfile)
        self._log_level = log_level
        self._server: HttpServer | None = None

    async def start(self) -> None:
        if self._server is not None:
            return
        self._server, self.port = await serve_http(
            self.app,
            self.host,
            self.port,
            ssl_certfile=self._ssl[0],
            ssl_keyfile=self._ssl[1],
            log_level=self._log_level,
        )

    async def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            await server.close()
