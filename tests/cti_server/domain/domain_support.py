"""Helpers of the domain tests: client factory, a fake switch, event waits."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from cti_server.app import CtiApp
from shared.cti_client import CtiClient
from shared.protocol.agent import AgentLogin, AgentReady
from shared.protocol.base import Event, ProtocolVersion
from shared.protocol.call import CallEstablished
from shared.protocol.handshake import ClientKind, PasswordCredentials, TokenCredentials
from shared.protocol.switch import (
    LegRole,
    RouteResponse,
    RouteStage,
    SwitchCallEvent,
    SwitchCallEventKind,
    SwitchCommand,
    SwitchCommandResult,
    SwitchRegistration,
    SwitchRouteRequest,
)

SWITCH_TOKEN = "demo-switch-token"
GRACE = 1.0
"""Disconnect grace of the test servers (seconds)."""


class Clients:
    """Opens clients against the app and closes them at the end of the test."""

    def __init__(self, app: CtiApp) -> None:
        self.app = app
        self.opened: list[CtiClient] = []
        self.switches: list[FakeSwitch] = []

    async def desktop(
        self, user: str, password: str = "demo", kind: ClientKind = ClientKind.DESKTOP
    ) -> CtiClient:
        client = CtiClient(
            self.app.url,
            PasswordCredentials(user_id=user, password=password),
            kind,
            heartbeat=False,
            request_timeout=5.0,
        )
        self.opened.append(client)
        await client.open()
        return client

    async def switch(
        self,
        name: str = "sw1",
        *,
        auto_ack: bool = True,
        versions: list[ProtocolVersion] | None = None,
    ) -> FakeSwitch:
        """A fake switch; ``versions`` limits what it offers (default: this code's)."""
        client = CtiClient(
            self.app.url,
            TokenCredentials(token=SWITCH_TOKEN),
            ClientKind.SWITCH,
            client_name=name,
            heartbeat=False,
            request_timeout=5.0,
            **({"versions": versions} if versions is not None else {}),
        )
        self.opened.append(client)
        await client.open()
        fake = FakeSwitch(client, auto_ack=auto_ack)
        self.switches.append(fake)
        return fake

    async def close(self) -> None:
        for fake in self.switches:
            fake.task.cancel()
            await asyncio.gather(fake.task, return_exceptions=True)
        for client in self.opened:
            await client.close()


class FakeSwitch:
    """The switch side of the link: collects commands and (optionally) acknowledges them."""

    def __init__(self, client: CtiClient, *, auto_ack: bool) -> None:
        self.client = client
        self.auto_ack = auto_ack
        self.commands: asyncio.Queue[SwitchCommand] = asyncio.Queue()
        self.task = asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        async for item in self.client.events():
            if isinstance(item, SwitchCommand):
                self.commands.put_nowait(item)
                if self.auto_ack:
                    await self.client.request(
                        SwitchCommandResult(id=0, command_id=item.command_id, ok=True)
                    )

    async def command(self, timeout: float = 3.0) -> SwitchCommand:
        return await asyncio.wait_for(self.commands.get(), timeout)

    async def register(self, *agents: str) -> None:
        for agent in agents:
            await self.client.request(
                SwitchRegistration(
                    id=0, sip_user=agent, registered=True, contact=f"sip:{agent}@10.0.0.7:5062"
                )
            )


async def expect[E: Event](client: CtiClient, kind: type[E], timeout: float = 3.0) -> E:
    """The next event of type ``kind`` (events of other types before it are skipped)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        item = await client.next_event(timeout=max(0.01, deadline - loop.time()))
        if isinstance(item, kind):
            return item


async def until(predicate: Any, timeout: float = 3.0) -> None:
    """Wait until ``predicate()`` is true (polling the server's state)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.02)


VIP_CALLER = "13800138000"


async def route(
    switch: FakeSwitch,
    call_id: str,
    stage: RouteStage,
    caller: str = VIP_CALLER,
    **fields: Any,
) -> RouteResponse:
    """One ``switch.route_request``; returns its RouteResponse."""
    body = await switch.client.request(
        SwitchRouteRequest(id=0, call_id=call_id, stage=stage, caller=caller, **fields)
    )
    assert isinstance(body, RouteResponse)
    return body


async def report(
    switch: FakeSwitch, call_id: str, kind: SwitchCallEventKind, **fields: Any
) -> None:
    """One ``switch.call_event`` (switch time = now)."""
    await switch.client.request(
        SwitchCallEvent(id=0, call_id=call_id, kind=kind, at=time.time(), **fields)
    )


async def ready_agent(clients: Clients, agent: str) -> CtiClient:
    """A desktop logged on and ready."""
    desk = await clients.desktop(agent)
    await desk.request(AgentLogin(id=0, extension=agent, initial_state="ready"))
    await expect(desk, AgentReady)
    return desk


async def connected_call(
    switch: FakeSwitch, desk: CtiClient, agent: str, call_id: str, selection: str = "billing"
) -> None:
    """Route a VIP call to ``agent`` (who must be the only ready candidate) and answer it."""
    await route(switch, call_id, RouteStage.ARRIVAL)
    routed = await route(switch, call_id, RouteStage.AGENT_NEEDED, business_selection=selection)
    assert routed.agent is not None and routed.agent.agent_id == agent, routed
    await report(switch, call_id, SwitchCallEventKind.ANSWERED, leg=LegRole.AGENT, agent_id=agent)
    await expect(desk, CallEstablished)
