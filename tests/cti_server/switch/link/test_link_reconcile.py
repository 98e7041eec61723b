"""Reports the switch queued while the CTI server was away reach a restarted server
that no longer holds those calls in memory (R-IN-3, docs/switch_link.md "Known
limits"): it closes their rows from the database instead of refusing them; and a caller
hanging up during a route request leaves no stale call in the link."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest
import sqlalchemy as sa

from cti_server.store import CallStore
from cti_server.switch.link import CtiLink
from cti_server.switch.ports import CallReport
from shared.cti_client import CtiClient
from shared.protocol.agent import AgentState
from shared.protocol.call import CallDelivered, CallEstablished, ClearCause
from shared.protocol.errors import ErrorCode, ProtocolError
from shared.protocol.handshake import ClientKind, TokenCredentials
from shared.protocol.switch import LegRole, SwitchCallEvent, SwitchCallEventKind
from tests.cti_server.switch.link.link_support import (
    SWITCH_TOKEN,
    FakeControl,
    Server,
    arrive,
    event,
    expect,
    make_link,
    need_agent,
    ready_desktop,
    until,
)

pytestmark = pytest.mark.asyncio

K = SwitchCallEventKind
TALKED, WAITED, IVR = "13100000011", "13100000012", "13100000013"
"""Callers who are not demo customers (tier ``normal``)."""


def new_call(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


async def started(link: CtiLink) -> CtiLink:
    await link.start()
    await link.wait_up(3.0)
    return link


async def test_reports_queued_during_an_outage_close_their_calls_on_the_restarted_server(
    db: sa.Engine,
) -> None:
    """Three CTI-routed calls end while the server is down: one answered by 1003, one
    waiting in the queue, one in the IVR. The restarted server accepts their queued
    reports (none rejected), releases and closes their rows (``answered`` with the
    agent, ``abandoned``, ``ivr``) with one contact record each, does not take them
    back into routing, and 1003 (logged on again) is ready and gets the next call."""
    srv = Server(db)
    await srv.start()
    control = FakeControl("1003")
    link = await started(make_link(srv.url, control, None))
    desk = await ready_desktop(srv.url, "1003")
    talked, waited, ivr = new_call("RT"), new_call("RW"), new_call("RI")
    try:
        await arrive(link, talked, TALKED)
        routed = await need_agent(link, talked, "broadband", caller=TALKED)
        assert routed.agent is not None and routed.agent.agent_id == "1003"
        link.report(event(talked, K.ANSWERED, LegRole.AGENT, "1003"))
        link.report(event(talked, K.BRIDGED, LegRole.CALLER, "1003"))
        assert (await expect(desk, CallEstablished)).call_id == talked
        await arrive(link, waited, WAITED)
        assert (await need_agent(link, waited, "broadband", caller=WAITED)).agent is None
        await arrive(link, ivr, IVR)
        await until(lambda: link.queued == 0)
    finally:
        await desk.close()
    await srv.stop()  # the server's memory is gone; the database keeps the rows
    await until(lambda: not link.up)

    link.report(event(talked, K.RELEASED, LegRole.AGENT, "1003"))
    link.report(event(talked, K.RELEASED))
    link.report(event(waited, K.QUEUE_LEAVE))
    link.report(
        CallReport(
            call_id=waited, kind=K.RELEASED, at=time.time(), cause=ClearCause.CALLER_ABANDONED
        )
    )
    link.report(event(ivr, K.RELEASED))
    rejected = link.messages_rejected

    app = await srv.start()
    desk = None
    try:
        await link.wait_up(5.0)
        desk = await ready_desktop(srv.url, "1003")
        await until(lambda: link.queued == 0, timeout=5.0)
        assert link.messages_rejected == rejected  # every queued report was accepted
        assert not {talked, waited, ivr} & set(app.centre.calls)  # not routed again

        store = CallStore(db)
        views = {c: await asyncio.to_thread(store.get_call, c) for c in (talked, waited, ivr)}
        assert (views[talked].disposition, views[talked].agent_id) == ("answered", "1003")
        assert views[talked].released_at is not None and views[talked].released_by == "agent"
        assert views[waited].disposition == "abandoned"
        assert views[waited].released_at is not None
        assert views[ivr].disposition == "ivr"
        for call_id, number, agent in ((talked, TALKED, "1003"), (waited, WAITED, None)):
            contacts = await asyncio.to_thread(store.contacts_for_number, number)
            assert [(c.call_id, c.agent_id, c.disposition) for c in contacts] == [
                (call_id, agent, views[call_id].disposition)
            ]

        # a repeat changes nothing; another switch's report of the call is refused
        await link.client.request(
            SwitchCallEvent(id=0, call_id=talked, kind=K.RELEASED, at=time.time())
        )
        assert len(await asyncio.to_thread(store.contacts_for_number, TALKED)) == 1
        other = CtiClient(
            srv.url,
            TokenCredentials(token=SWITCH_TOKEN),
            ClientKind.SWITCH,
            client_name="sw-someone-else",
            heartbeat=False,
            request_timeout=5.0,
        )
        await other.open()
        try:
            with pytest.raises(ProtocolError) as refused:
                await other.request(SwitchCallEvent(id=0, call_id=ivr, kind=K.RELEASED, at=1.0e9))
            assert refused.value.code is ErrorCode.UNKNOWN_CALL
        finally:
            await other.close()

        # 1003 was on the call that ended meanwhile: ready, and gets the next call
        assert app.centre.agents["1003"].state is AgentState.READY
        nxt = new_call("RN")
        await arrive(link, nxt, TALKED)
        routed = await need_agent(link, nxt, "broadband", caller=TALKED)
        assert routed.agent is not None and routed.agent.agent_id == "1003"
        assert (await expect(desk, CallDelivered)).call_id == nxt
    finally:
        if desk is not None:
            await desk.close()
        await link.close()
        await srv.stop()


async def test_a_caller_hanging_up_during_the_first_route_request_leaves_no_stale_call(
    db: sa.Engine,
) -> None:
    """The caller's ``released`` is reported while the arrival route request is in
    flight: the answer must not make the link track the call again (it would stay in
    the link's calls for good)."""
    srv = Server(db)
    await srv.start()
    link = await started(make_link(srv.url, FakeControl(), None))
    try:
        call_id = new_call("HU")
        request = asyncio.create_task(arrive(link, call_id, IVR))
        await asyncio.sleep(0)  # the route request is in flight
        link.report(event(call_id, K.RELEASED))
        await request
        assert not link.owns(call_id)
        # a later call of the same kind is tracked as usual
        kept = new_call("HK")
        await arrive(link, kept, IVR)
        assert link.owns(kept)
    finally:
        await link.close()
        await srv.stop()
