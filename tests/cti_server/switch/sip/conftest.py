"""Fixtures for the SIP stack tests: stacks on 127.0.0.1 port 0 with fast timers."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import pytest_asyncio

from cti_server.switch.sip.registrar import Registrar
from cti_server.switch.sip.stack import CallHandler, SipConfig, SipStack
from cti_server.switch.sip.transaction import TimerConfig
from tests.cti_server.switch.sip.sip_support import FAST

StackFactory = Callable[..., Awaitable[SipStack]]


@pytest_asyncio.fixture
async def make_stack() -> AsyncIterator[StackFactory]:
    """``await make_stack(handler=…, registrar=…)`` → a started stack (UDP+TCP, port 0)."""
    stacks: list[SipStack] = []

    async def factory(
        handler: CallHandler | None = None,
        registrar: Registrar | None = None,
        user: str = "switch",
        timers: TimerConfig = FAST,
    ) -> SipStack:
        config = SipConfig(host="127.0.0.1", udp_port=0, tcp_port=0, user=user, timers=timers)
        stack = SipStack(config, handler=handler, registrar=registrar)
        await stack.start()
        stacks.append(stack)
        return stack

    yield factory
    for stack in stacks:
        await stack.close()
