"""Helpers of the switch-link tests: a fake call core, a CTI server that can be stopped
and started again on the same port and SQLite file, waits."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from argon2 import PasswordHasher

from cti_server.app import CtiApp
from cti_server.domain import DomainConfig
from cti_server.switch.decider import FailoverDecider
from cti_server.switch.fallback import FallbackAcd, FallbackQueue
from cti_server.switch.journal import Journal
from cti_server.switch.link import CtiLink
from cti_server.switch.ports import CallReport, CommandFailed, RouteQuery
from cti_server.ws import TransportConfig
from shared.clock import Clock, SystemClock
from shared.config import Settings
from shared.cti_client import CtiClient
from shared.protocol.agent import AgentLogin, AgentReady
from shared.protocol.base import Event
from shared.protocol.handshake import ClientKind, PasswordCredentials
from shared.protocol.switch import (
    LegRole,
    RouteResponse,
    RouteStage,
    SwitchAction,
    SwitchCallEventKind,
)

SWITCH_TOKEN = "demo-switch-token"
SWITCH_ID = "sw-link-test"
VIP_CALLER = "13800138000"
GOLD_CALLER = "13900139000"
FAST_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
FALLBACK_QUEUES = (
    FallbackQueue("q_billing"),
    FallbackQueue("q_broadband"),
    FallbackQueue("q_tv"),
    FallbackQueue("q_sales"),
)


def contact(agent: str) -> str:
    return f"sip:{agent}@127.0.0.1:5062"


class FakeControl:
    """The call core seen from a decider: records every action, can be told to fail."""

    def __init__(self, *agents: str) -> None:
        self.contacts = {a: contact(a) for a in agents}
        self.executed: list[tuple[str, SwitchAction]] = []
        self.queue: asyncio.Queue[tuple[str, SwitchAction]] = asyncio.Queue()
        self.failure: Callable[[str, SwitchAction], CommandFailed | None] | None = None

    async def execute(self, call_id: str, action: SwitchAction) -> None:
        self.executed.append((call_id, action))
        self.queue.put_nowait((call_id, action))
        if self.failure is not None:
            error = self.failure(call_id, action)
            if error is not None:
                raise error

    def registered_contacts(self) -> dict[str, str]:
        return dict(self.contacts)

    async def next(self, timeout: float = 3.0) -> tuple[str, SwitchAction]:
        return await asyncio.wait_for(self.queue.get(), timeout)


class Server:
    """A CTI server on one SQLite file; ``restart`` keeps the port."""

    def __init__(self, db: sa.Engine, **domain: Any) -> None:
        self.db = db
        self.domain = domain
        self.app: CtiApp | None = None
        self.port = 0

    def options(self) -> dict[str, Any]:
        """Extra ``CtiApp`` arguments (subclasses)."""
        return {}

    async def start(self) -> CtiApp:
        app = CtiApp(
            Settings(),
            db=self.db,
            domain=DomainConfig(command_timeout=1.0, supervisor_interval=0.2, **self.domain),
            transport=TransportConfig(
                heartbeat_interval=5.0, disconnect_grace=1.0, close_timeout=0.5
            ),
            hasher=FAST_HASHER,
            **self.options(),
        )
        await app.start(host="127.0.0.1", port=self.port)
        self.port = app.port
        self.app = app
        return app

    async def stop(self) -> None:
        if self.app is not None:
            await self.app.stop()
            self.app = None

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"


def make_link(
    url: str,
    control: FakeControl,
    journal: Journal | None,
    *,
    clock: Clock | None = None,
    **options: Any,
) -> CtiLink:
    return CtiLink(
        url,
        SWITCH_TOKEN,
        SWITCH_ID,
        control,
        clock=clock or SystemClock(),
        journal=journal,
        heartbeat=False,
        backoff_initial=0.05,
        backoff_max=0.2,
        open_timeout=1.0,
        **options,
    )


def make_decider(url: str, control: FakeControl, journal_path: Path) -> FailoverDecider:
    clock = SystemClock()
    journal = Journal(journal_path, clock=clock)
    link = make_link(url, control, journal, clock=clock, route_timeout=1.0)
    fallback = FallbackAcd(
        clock, "default", FALLBACK_QUEUES, control=control, journal=journal, rona_cooldown=5.0
    )
    return FailoverDecider(link, fallback)


async def desktop(url: str, agent: str) -> CtiClient:
    client = CtiClient(
        url,
        PasswordCredentials(user_id=agent, password="demo"),
        ClientKind.DESKTOP,
        heartbeat=False,
        request_timeout=5.0,
    )
    await client.open()
    return client


async def ready_desktop(url: str, agent: str) -> CtiClient:
    client = await desktop(url, agent)
    await client.request(AgentLogin(id=0, extension=agent, initial_state="ready"))
    await expect(client, AgentReady)
    return client


async def expect[E: Event](client: CtiClient, kind: type[E], timeout: float = 3.0) -> E:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        item = await client.next_event(timeout=max(0.01, deadline - loop.time()))
        if isinstance(item, kind):
            return item


async def until(predicate: Callable[[], bool], timeout: float = 3.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.02)


async def arrive(decider: Any, call_id: str, caller: str = VIP_CALLER) -> RouteResponse:
    return await decider.route(  # type: ignore[no-any-return]
        RouteQuery(call_id=call_id, stage=RouteStage.ARRIVAL, caller=caller, called="95555")
    )


async def need_agent(
    decider: Any, call_id: str, selection: str = "billing", caller: str = VIP_CALLER
) -> RouteResponse:
    return await decider.route(  # type: ignore[no-any-return]
        RouteQuery(
            call_id=call_id,
            stage=RouteStage.AGENT_NEEDED,
            caller=caller,
            business_selection=selection,
        )
    )


def event(
    call_id: str,
    kind: SwitchCallEventKind,
    leg: LegRole = LegRole.CALLER,
    agent_id: str | None = None,
) -> CallReport:
    return CallReport(call_id=call_id, kind=kind, at=time.time(), leg=leg, agent_id=agent_id)
