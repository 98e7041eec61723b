"""Helpers of the HTTP tests: a real uvicorn server in a background thread, the stack
(database, store, tier directory, app) and authenticated httpx clients."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import sqlalchemy as sa
from argon2 import PasswordHasher
from starlette.applications import Starlette

from cti_server.http import HttpServer, create_app, serve_http, store_verifier
from cti_server.store import ConfigStore, Principal, TierDirectory

ADMIN = ("9901", "demo")
TEAM_LEAD = ("9001", "demo")
AGENT = ("1001", "demo")


class ServerThread:
    """Runs ``app`` with :func:`serve_http` on 127.0.0.1:0 in its own event loop thread."""

    def __init__(self, app: Starlette) -> None:
        self.app = app
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._handle: HttpServer | None = None
        self.port = 0

    def start(self) -> None:
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(serve_http(self.app, "127.0.0.1", 0), self._loop)
        self._handle, self.port = future.result(10)

    def stop(self) -> None:
        if self._handle is not None:
            asyncio.run_coroutine_threadsafe(self._handle.close(), self._loop).result(30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@dataclass
class Stack:
    """A seeded database with the HTTP app served on a real port."""

    engine: sa.Engine
    store: ConfigStore
    directory: TierDirectory
    app: Starlette
    server: ServerThread
    verifications: list[str] = field(default_factory=list)
    _clients: list[httpx.Client] = field(default_factory=list)

    def client(self, auth: tuple[str, str] | None = ADMIN, **kwargs: Any) -> httpx.Client:
        client = httpx.Client(base_url=self.server.base_url, auth=auth, timeout=30, **kwargs)
        self._clients.append(client)
        return client

    def close(self) -> None:
        for client in self._clients:
            client.close()
        self.server.stop()


def counting_verifier(
    engine: sa.Engine, hasher: PasswordHasher, calls: list[str]
) -> Callable[[str, str], Principal | None]:
    verify = store_verifier(engine, hasher=hasher)

    def counted(agent_id: str, password: str) -> Principal | None:
        calls.append(agent_id)
        return verify(agent_id, password)

    return counted


@contextmanager
def running_stack(engine: sa.Engine, hasher: PasswordHasher, **app_kwargs: Any) -> Iterator[Stack]:
    directory = TierDirectory(engine)
    store = ConfigStore(engine, tier_directory=directory, hasher=hasher)
    calls: list[str] = []
    app_kwargs.setdefault("authenticate", counting_verifier(engine, hasher, calls))
    app = create_app(config_store=store, tier_directory=directory, db_engine=engine, **app_kwargs)
    server = ServerThread(app)
    server.start()
    stack = Stack(engine, store, directory, app, server, verifications=calls)
    try:
        yield stack
    finally:
        stack.close()
