"""The CTI link while the server is up: route requests, commands executed on the core
and acknowledged, expired commands refused, the bounded report queue, registrations
re-sent after a reconnect (R-IN-3, R-IN-5, R-IVR-2, R-TIER-2)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
import sqlalchemy as sa

from cti_server.switch.link import CtiLink
from cti_server.switch.ports import (
    CallReport,
    CommandFailed,
    DecisionUnavailable,
    RegistrationReport,
    RouteQuery,
)
from shared.clock import SystemClock
from shared.protocol.agent import AgentNotReady
from shared.protocol.call import CallDelivered, CallDiverted
from shared.protocol.errors import ErrorCode
from shared.protocol.switch import OfferToAgent, RouteStage, SwitchCallEventKind, SwitchCommand
from tests.cti_server.switch.link.link_support import (
    VIP_CALLER,
    FakeControl,
    Server,
    arrive,
    contact,
    expect,
    make_link,
    need_agent,
    ready_desktop,
    until,
)

pytestmark = pytest.mark.asyncio


@pytest_asyncio.fixture
async def server(db: sa.Engine) -> AsyncIterator[Server]:
    srv = Server(db)
    await srv.start()
    yield srv
    await srv.stop()


def new_call() -> str:
    return f"L-{uuid.uuid4().hex[:10]}"


async def started(link: CtiLink) -> CtiLink:
    await link.start()
    await link.wait_up(3.0)
    return link


async def test_arrival_route_gives_the_vip_tier(server: Server) -> None:
    """R-TIER-2: the link asks the server at arrival; the seed's VIP number is VIP."""
    link = await started(make_link(server.url, FakeControl(), None))
    try:
        response = await arrive(link, new_call(), VIP_CALLER)
        assert response.tier == "vip"
        assert response.customer_id == "C000001"
        other = await arrive(link, new_call(), "13700137000")
        assert other.tier == "normal"
    finally:
        await link.close()


async def test_agent_needed_returns_a_registered_ready_agent(server: Server) -> None:
    """R-IVR-2: registrations are sent on connect; agent_needed picks the ready agent
    and returns its registered contact."""
    control = FakeControl("1001")
    link = await started(make_link(server.url, control, None))
    assert server.app is not None
    desk = await ready_desktop(server.url, "1001")
    try:
        assert server.app.centre.switches.contact("1001") == contact("1001")
        call_id = new_call()
        await arrive(link, call_id)
        routed = await need_agent(link, call_id, "billing")
        assert routed.queue_id == "q_billing"
        assert routed.agent is not None
        assert (routed.agent.agent_id, routed.agent.sip_contact) == ("1001", contact("1001"))
        assert (await expect(desk, CallDelivered)).call_id == call_id
    finally:
        await desk.close()
        await link.close()


async def test_server_offer_reaches_the_core_and_its_result_goes_back(server: Server) -> None:
    """R-IN-3 link: a queued call offered later by the server reaches CallControl.execute;
    success leaves the offer standing, a failure withdraws it on the server (the
    desktop sees call.diverted and the agent goes not ready)."""
    control = FakeControl("1001", "1002")
    link = await started(make_link(server.url, control, None))
    app = server.app
    assert app is not None
    queued = new_call()
    await arrive(link, queued)
    routed = await need_agent(link, queued, "billing")
    assert routed.agent is None and routed.queue_id == "q_billing"

    desk1 = await ready_desktop(server.url, "1001")
    call_id, action = await control.next()
    assert call_id == queued
    assert isinstance(action, OfferToAgent)
    assert (action.agent_id, action.sip_contact) == ("1001", contact("1001"))
    assert (await expect(desk1, CallDelivered)).call_id == queued
    await until(lambda: link.commands_executed == 1 and link.queued == 0)
    assert app.centre.agents["1001"].state.value == "reserved"

    # The next offer fails on the core: the server hears of it and withdraws it.
    control.failure = lambda _c, _a: CommandFailed(
        ErrorCode.DESTINATION_UNAVAILABLE, "softphone unreachable"
    )
    second = new_call()
    await arrive(link, second)
    assert (await need_agent(link, second, "billing")).agent is None
    desk2 = await ready_desktop(server.url, "1002")
    call_id, action = await control.next()
    assert call_id == second and isinstance(action, OfferToAgent) and action.agent_id == "1002"
    assert (await expect(desk2, CallDiverted)).call_id == second
    await expect(desk2, AgentNotReady)
    assert link.commands_failed == 1
    await desk1.close()
    await desk2.close()
    await link.close()


async def test_expired_commands_are_refused(server: Server) -> None:
    """A command the switch gets after its expires_at is not executed; the server gets
    a failed result (here the switch's clock runs 120 s ahead of the server's)."""

    class AheadClock(SystemClock):
        def wall(self) -> float:
            return super().wall() + 120.0

    control = FakeControl("1001")
    link = await started(make_link(server.url, control, None, clock=AheadClock()))
    call_id = new_call()
    await arrive(link, call_id)
    assert (await need_agent(link, call_id, "billing")).agent is None
    desk = await ready_desktop(server.url, "1001")
    # The server's offer is refused as stale: the desktop sees it withdrawn.
    assert (await expect(desk, CallDiverted)).call_id == call_id
    assert control.executed == []
    assert link.commands_expired == 1
    await desk.close()
    await link.close()


async def test_report_queue_is_bounded_and_never_blocks() -> None:
    """With no server, reports queue up to the bound; the rest are dropped and counted;
    route requests say DecisionUnavailable at once."""
    link = make_link("ws://127.0.0.1:9", FakeControl(), None, max_queued_reports=3)
    await link.start()
    try:
        for n in range(5):
            link.report(CallReport(call_id=f"Q{n}", kind=SwitchCallEventKind.ARRIVED, at=1.0e9 + n))
        assert (link.queued, link.reports_dropped) == (3, 2)
        with pytest.raises(DecisionUnavailable):
            await link.route(RouteQuery(call_id="Q9", stage=RouteStage.ARRIVAL))
        assert not link.up
    finally:
        await link.close()


async def test_queued_reports_and_registrations_reach_the_server_after_reconnect(
    db: sa.Engine,
) -> None:
    """While the server is away reports queue up; on reconnect registrations are
    re-sent in full (the server knows who is reachable) and the queue drains."""
    srv = Server(db)
    await srv.start()
    control = FakeControl("1001")
    link = await started(make_link(srv.url, control, None))
    states: list[bool] = []
    link.on_state_change(states.append)
    call_id = new_call()
    await arrive(link, call_id)
    await srv.stop()
    await until(lambda: not link.up)
    control.contacts["1003"] = contact("1003")  # registered while the link was down
    link.registration(RegistrationReport(sip_user="1003", registered=True, contact=contact("1003")))
    link.report(CallReport(call_id=call_id, kind=SwitchCallEventKind.IVR_NODE, at=1.0e9, node="m"))
    assert link.queued == 1
    app = await srv.start()
    try:
        await link.wait_up(3.0)
        assert states == [False, True]
        assert app.centre.switches.contact("1001") == contact("1001")
        assert app.centre.switches.contact("1003") == contact("1003")
        await until(lambda: link.queued == 0)
        assert link.connects == 2
    finally:
        await link.close()
        await srv.stop()


async def test_commands_are_executed_at_most_once(server: Server) -> None:
    """A command id seen twice (replay overlap) is acknowledged again, not re-executed."""
    control = FakeControl()
    link = await started(make_link(server.url, control, None))
    cmd = SwitchCommand(
        seq=1,
        command_id="cmd-1",
        call_id="X1",
        action=OfferToAgent(agent_id="1001", sip_contact=contact("1001")),
    )
    link._on_event(cmd)
    link._on_event(cmd)
    await until(lambda: link.commands_duplicate == 1 and link.commands_executed == 1)
    await asyncio.sleep(0.05)
    assert len(control.executed) == 1
    await link.close()
