"""The CTI link with a protocol 1.1 server: IVR look-ups over ``switch.lookup`` and the
fallback's readiness fed from the agents snapshot and ``switch.agent_state``
(R-IN-3, R-IVR-2, R-TIER-2)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
import sqlalchemy as sa

from cti_server.switch.link import LOOKUP_GAP, CtiLink
from shared.protocol.agent import (
    AgentLogin,
    AgentNotReady,
    AgentSetNotReady,
    AgentSetReady,
)
from shared.protocol.agent import AgentReady as AgentReadyEvent
from shared.protocol.agent import AgentState as WireState
from shared.protocol.base import VERSION_1_0, VERSION_1_1
from tests.cti_server.switch.link.link_support import (
    VIP_CALLER,
    FakeControl,
    Server,
    desktop,
    expect,
    make_decider,
    make_link,
    ready_desktop,
    until,
)

pytestmark = pytest.mark.asyncio

READY = "ready"
NOT_READY = "not_ready"


@pytest_asyncio.fixture
async def server(db: sa.Engine) -> AsyncIterator[Server]:
    srv = Server(db)
    await srv.start()
    yield srv
    await srv.stop()


async def started(link: CtiLink) -> CtiLink:
    await link.start()
    await link.wait_up(3.0)
    return link


async def test_lookup_goes_to_a_11_server(server: Server) -> None:
    """R-IVR-2: a flow's customer look-up is answered by the CTI server."""
    link = await started(make_link(server.url, FakeControl(), None))
    try:
        assert link.version is not None and link.version >= VERSION_1_1
        result = await link.lookup("L-LK-1", "customer", {"number": VIP_CALLER})
        assert result.error is None
        assert result.values["customer_id"] == "C000001"
        assert result.values["tier"] == "vip"
        unknown = await link.lookup("L-LK-1", "balance", {"account": "1"})
        assert unknown.values == {} and unknown.error is not None and "`balance`" in unknown.error
    finally:
        await link.close()


async def test_lookup_against_a_10_session_keeps_the_gap_result(server: Server) -> None:
    """A link that negotiated 1.0 never sends ``switch.lookup``: an error result instead."""
    link = make_link(server.url, FakeControl(), None)
    link.client.versions = (VERSION_1_0,)
    await started(link)
    try:
        assert link.version == VERSION_1_0
        result = await link.lookup("L-LK-2", "customer", {"number": VIP_CALLER})
        assert result.error == LOOKUP_GAP and not result.values
    finally:
        await link.close()


async def test_fallback_readiness_follows_the_servers_agent_states(
    server: Server, tmp_path: Path
) -> None:
    """R-IN-3: after connecting, the switch asks for every agent's state and follows
    ``switch.agent_state``, so its fallback ACD knows exactly who was last ready: an agent
    on a break at the server gets no fallback offer; a dropped desktop is no evidence."""
    desk = await ready_desktop(server.url, "1001")
    other = await desktop(server.url, "1002")
    await other.request(AgentLogin(id=0, extension="1002", reason_code="break"))
    await expect(other, AgentNotReady)
    control = FakeControl("1001", "1002")
    decider = make_decider(server.url, control, tmp_path / "journal.jsonl")
    fallback = decider.fallback
    try:
        await decider.start()
        await decider.link.wait_up(3.0)
        # from the snapshot: 1001 ready, 1002 on a break
        assert fallback.agent_state("1001") == READY
        assert fallback.agent_state("1002") == NOT_READY
        assert decider.link.agent_states == {"1001": WireState.READY, "1002": WireState.NOT_READY}

        # later changes arrive as switch.agent_state events
        await desk.request(AgentSetNotReady(id=0, reason_code="break"))
        await expect(desk, AgentNotReady)
        await until(lambda: fallback.agent_state("1001") == NOT_READY)
        await desk.request(AgentSetReady(id=0))
        await expect(desk, AgentReadyEvent)
        await until(lambda: fallback.agent_state("1001") == READY)
        await other.request(AgentSetReady(id=0))
        await until(lambda: fallback.agent_state("1002") == READY)

        # a lost desktop (not ready `disconnected` at the server) keeps the agent ready
        await other.close()
        await until(lambda: decider.link.agent_states.get("1002") == WireState.NOT_READY)
        assert fallback.agent_state("1002") == READY
    finally:
        await decider.close()
        await desk.close()
        await other.close()
