"""Survivability gaps of the switch ↔ CTI link found by the kill -9 end-to-end test
(R-IN-3, docs/switch.md "Known gaps"): report order at arrival, an agent hanging up a
bridged call while the link is down, an agent logging in while still talking on an
adopted fallback call."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
import sqlalchemy as sa

from cti_server.store import CallStore
from cti_server.switch.decider import Mode
from cti_server.switch.journal import Step
from cti_server.switch.link import CtiLink
from cti_server.switch.ports import DecisionUnavailable
from shared.protocol.agent import (
    AgentEndAfterCallWork,
    AgentLogin,
    AgentReady,
    AgentWorkNotReady,
)
from shared.protocol.call import CallDelivered, CallEstablished
from shared.protocol.switch import (
    LegRole,
    OfferToAgent,
    SwitchCallEvent,
    SwitchCallEventKind,
)
from tests.cti_server.switch.link.link_support import (
    GOLD_CALLER,
    VIP_CALLER,
    FakeControl,
    Server,
    arrive,
    desktop,
    event,
    expect,
    make_decider,
    make_link,
    need_agent,
    ready_desktop,
    until,
)

pytestmark = pytest.mark.asyncio

K = SwitchCallEventKind


@pytest_asyncio.fixture
async def server(db: sa.Engine) -> AsyncIterator[Server]:
    srv = Server(db)
    await srv.start()
    yield srv
    await srv.stop()


def new_call(prefix: str = "G") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


async def started(link: CtiLink) -> CtiLink:
    await link.start()
    await link.wait_up(3.0)
    return link


def journal_steps(path: Path, call_id: str) -> list[str]:
    records = [json.loads(line) for line in path.read_text().splitlines()]
    return [r["step"] for r in records if r.get("call_id") == call_id]


# --- 1. the arrival: route request before the ``arrived`` report ----------------------


async def test_arrived_report_goes_after_the_arrival_route_request(
    server: Server, db: sa.Engine
) -> None:
    """The core reports ``arrived`` before it asks the arrival question; the link holds
    the report until the route request is answered, so the server creates the call
    from the route request: the VIP caller's customer and tier (R-TIER-2), also in the
    store."""
    link = await started(make_link(server.url, FakeControl(), None))
    assert server.app is not None
    try:
        call_id = new_call()
        link.report(event(call_id, K.ARRIVED))
        await asyncio.sleep(0.3)  # a slow core: the report still must not go first
        assert call_id not in server.app.centre.calls
        response = await arrive(link, call_id, VIP_CALLER)
        assert (response.tier, response.customer_id) == ("vip", "C000001")
        await until(lambda: link.queued == 0)
        call = server.app.centre.calls[call_id]
        assert (call.caller, call.customer_id, call.tier) == (VIP_CALLER, "C000001", "vip")
        view = await asyncio.to_thread(CallStore(db).get_call, call_id)
        assert (view.caller_number, view.customer_id, view.tier_id) == (
            VIP_CALLER,
            "C000001",
            "vip",
        )
        assert link.messages_rejected == 0
    finally:
        await link.close()


async def test_a_held_arrived_report_is_sent_even_when_the_route_request_fails(
    server: Server,
) -> None:
    """A route request that times out (the call goes to the fallback) still lets the
    held ``arrived`` report go to the server."""
    link = await started(make_link(server.url, FakeControl(), None))
    app = server.app
    assert app is not None
    try:
        call_id = new_call()
        link.report(event(call_id, K.ARRIVED))
        link.route_timeout = 1e-6
        with pytest.raises(DecisionUnavailable):
            await arrive(link, call_id, VIP_CALLER)
        await until(lambda: link.queued == 0 and call_id in app.centre.calls)
    finally:
        await link.close()


async def test_server_fills_in_caller_customer_and_tier_at_the_route_request(
    server: Server, db: sa.Engine
) -> None:
    """Defence in depth: a switch whose ``arrived`` reaches the server before its route
    request still gets the caller's tier, and the call record gets caller, customer
    and tier from the route request."""
    link = await started(make_link(server.url, FakeControl(), None))
    assert server.app is not None
    try:
        call_id = new_call()
        await link.client.request(
            SwitchCallEvent(
                id=0, call_id=call_id, kind=K.ARRIVED, leg=LegRole.CALLER, at=time.time()
            )
        )
        bare = server.app.centre.calls[call_id]
        assert bare.caller is None  # what the server knew from the report alone
        response = await arrive(link, call_id, VIP_CALLER)
        assert (response.tier, response.customer_id) == ("vip", "C000001")
        call = server.app.centre.calls[call_id]
        assert (call.caller, call.called, call.customer_id, call.tier) == (
            VIP_CALLER,
            "95555",
            "C000001",
            "vip",
        )
        view = await asyncio.to_thread(CallStore(db).get_call, call_id)
        assert (view.caller_number, view.called_number, view.customer_id, view.tier_id) == (
            VIP_CALLER,
            "95555",
            "C000001",
            "vip",
        )
        routed = await need_agent(link, call_id, "billing")
        assert routed.tier == "vip"
    finally:
        await link.close()


# --- 2. an agent hanging up a bridged call while the link is down ---------------------


async def test_hanging_up_a_bridged_call_while_down_is_no_failed_ring(
    db: sa.Engine, tmp_path: Path
) -> None:
    """While the link is down, the agent hanging up an answered CTI call ends that call:
    it is not adopted by the fallback (nothing journaled, nobody offered it). A call
    whose ring fails while the link is down is still adopted and offered."""
    srv = Server(db)
    await srv.start()
    control = FakeControl("1001", "1002")
    path = tmp_path / "journal.jsonl"
    decider = make_decider(srv.url, control, path)
    await decider.start()
    desks = []
    try:
        await decider.link.wait_up(3.0)
        desks = [await ready_desktop(srv.url, "1001"), await ready_desktop(srv.url, "1002")]
        talking, ringing = new_call("BR"), new_call("RG")
        await arrive(decider, talking)
        first = await need_agent(decider, talking, "billing")
        assert first.agent is not None
        talker = first.agent.agent_id
        decider.report(event(talking, K.RINGING, LegRole.AGENT, talker))
        decider.report(event(talking, K.ANSWERED, LegRole.AGENT, talker))
        decider.report(event(talking, K.BRIDGED, LegRole.CALLER, talker))
        await arrive(decider, ringing)
        second = await need_agent(decider, ringing, "billing")
        assert second.agent is not None and second.agent.agent_id != talker
        ringer = second.agent.agent_id
        decider.report(event(ringing, K.RINGING, LegRole.AGENT, ringer))
        await until(lambda: decider.link.queued == 0)

        for desk in desks:
            await desk.close()
        await srv.stop()
        await until(lambda: decider.mode is Mode.FALLBACK)

        # The agent hangs up the bridged call: agent leg released, then the caller's.
        decider.report(event(talking, K.RELEASED, LegRole.AGENT, talker))
        assert decider.owner(talking) == "cti" and decider.adopted == 0
        decider.report(event(talking, K.RELEASED))
        assert decider.owner(talking) is None
        assert not decider.fallback.owns(talking)
        assert journal_steps(path, talking) == []

        # The other call's ring fails: adopted, offered to the now free agent.
        decider.report(event(ringing, K.FAILED, LegRole.AGENT, ringer))
        assert decider.owner(ringing) == "fallback" and decider.adopted == 1
        call_id, action = await control.next()
        assert call_id == ringing and isinstance(action, OfferToAgent)
        assert action.agent_id == talker
        assert Step.ARRIVED.value in journal_steps(path, ringing)
        assert all(c != talking for c, _ in control.executed)
    finally:
        for desk in desks:
            await desk.close()
        await decider.close()
        await srv.stop()


# --- 3. an agent logging in while talking on an adopted fallback call -----------------


async def test_agent_logging_in_on_an_adopted_fallback_call_is_busy_on_it(
    db: sa.Engine, tmp_path: Path
) -> None:
    """The server comes back while agent 1005 talks on a fallback call and is logged
    off; when 1005 logs in (after the report) the desktop gets the call (delivered,
    established), no other call is offered to 1005 until it ends, then 1005 is ready
    and gets the next call."""
    control = FakeControl("1005")
    srv = Server(db)
    await srv.start()
    port = srv.port
    await srv.stop()
    decider = make_decider(srv.url, control, tmp_path / "journal.jsonl")
    await decider.start()
    live, waiting = new_call("AD"), new_call("WT")
    await arrive(decider, live, GOLD_CALLER)
    routed = await need_agent(decider, live, "tv", caller=GOLD_CALLER)
    assert routed.agent is not None and routed.agent.agent_id == "1005"
    decider.report(event(live, K.ANSWERED, LegRole.AGENT, "1005"))

    srv.port = port
    app = await srv.start()
    desk = None
    try:
        await decider.link.wait_up(5.0)
        await until(lambda: live in app.centre.calls)  # the report adopted it
        desk = await desktop(srv.url, "1005")
        await desk.request(AgentLogin(id=0, extension="1005", initial_state="ready"))
        assert (await expect(desk, CallDelivered)).call_id == live
        assert (await expect(desk, CallEstablished)).call_id == live
        # A new call for the tv queue: 1005 is busy, nobody else is logged on.
        await arrive(decider, waiting)
        assert (await need_agent(decider, waiting, "tv")).agent is None
        await asyncio.sleep(0.3)
        assert all(not isinstance(a, OfferToAgent) for _, a in control.executed)

        # The fallback call ends: after-call work for it (the queue's ACW), then 1005
        # is ready and gets the waiting call.
        decider.report(event(live, K.RELEASED))
        acw = await expect(desk, AgentWorkNotReady, timeout=5.0)
        assert acw.call_id == live
        await desk.request(AgentEndAfterCallWork(id=0))
        await expect(desk, AgentReady, timeout=5.0)
        call_id, action = await control.next(timeout=5.0)
        assert call_id == waiting and isinstance(action, OfferToAgent)
        assert action.agent_id == "1005"
    finally:
        if desk is not None:
            await desk.close()
        await decider.close()
        await srv.stop()


# --- the link never gives up ----------------------------------------------------------


async def test_link_retries_after_a_peer_that_closes_before_the_handshake() -> None:
    """A peer that accepts the TCP connection and closes it before the WebSocket
    handshake (a server starting up, a proxy or load balancer without a backend) makes
    the connect fail with a WebSocket error: the link keeps retrying (found by the
    kill -9 end-to-end test, where the switch then never came back to CTI mode)."""
    attempts = 0

    async def closer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal attempts
        attempts += 1
        writer.close()

    peer = await asyncio.start_server(closer, "127.0.0.1", 0)
    port = peer.sockets[0].getsockname()[1]
    link = make_link(f"ws://127.0.0.1:{port}", FakeControl(), None)
    await link.start()
    try:
        await until(lambda: attempts >= 3, timeout=5.0)
        assert not link.up and link.last_error is not None
    finally:
        await link.close()
        peer.close()
        await peer.wait_closed()
