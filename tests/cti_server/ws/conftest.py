"""Fixtures for the WebSocket transport tests: real servers on port 0, real clients."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest_asyncio
from websockets.asyncio.client import ClientConnection, connect

from cti_server.ws import CtiServer, Router, SessionHooks, TransportConfig
from shared.cti_client import CtiClient
from shared.protocol.handshake import ClientKind, PasswordCredentials, TokenCredentials
from tests.cti_server.ws.ws_support import (
    SWITCH_TOKEN,
    TEST_DEFAULTS,
    ClientFactory,
    RawClient,
    RawFactory,
    ServerFactory,
    authenticator,
    creds,
    make_router,
    url,
)


@pytest_asyncio.fixture
async def make_server() -> AsyncIterator[ServerFactory]:
    """``await make_server(router=…, hooks=…, **config)`` → a started server on port 0."""
    started: list[CtiServer] = []

    async def make(
        *, router: Router | None = None, hooks: SessionHooks | None = None, **config: Any
    ) -> CtiServer:
        cfg = TransportConfig(**{**TEST_DEFAULTS, **config})
        server = CtiServer(
            router if router is not None else make_router(),
            authenticator(),
            config=cfg,
            hooks=hooks,
        )
        await server.start("127.0.0.1", 0)
        started.append(server)
        return server

    yield make
    for server in started:
        await server.stop()


@pytest_asyncio.fixture
async def make_client() -> AsyncIterator[ClientFactory]:
    """``await make_client(server, user="1001", kind=…, **options)`` → a connected CtiClient."""
    clients: list[CtiClient] = []

    async def make(
        server: CtiServer,
        user: str = "1001",
        kind: ClientKind = ClientKind.DESKTOP,
        **options: Any,
    ) -> CtiClient:
        credentials: PasswordCredentials | TokenCredentials
        if kind is ClientKind.SWITCH:
            credentials = TokenCredentials(token=SWITCH_TOKEN)
        else:
            credentials = creds(user)
        options.setdefault("heartbeat", False)
        options.setdefault("request_timeout", 5.0)
        client = CtiClient(url(server), credentials, kind, **options)
        clients.append(client)
        await client.open()
        return client

    yield make
    for client in clients:
        await client.close()


@pytest_asyncio.fixture
async def make_raw() -> AsyncIterator[RawFactory]:
    """``await make_raw(server, **connect_options)`` → a RawClient (closed at teardown)."""
    opened: list[ClientConnection] = []

    async def make(server: CtiServer, **options: Any) -> RawClient:
        options.setdefault("ping_interval", None)
        ws = await connect(url(server), proxy=None, **options)
        opened.append(ws)
        return RawClient(ws)

    yield make
    for ws in opened:
        await ws.close()
