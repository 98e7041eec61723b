"""Survivability (R-IN-3): the CTI server stops mid-operation; the switch's fallback ACD
keeps distributing calls to registered agents, journals what it did, and when a new
server starts on the same database and port the link reconnects, re-sends the
registrations and replays the journal, which the server records exactly once."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

from cti_server.store import CallStore
from cti_server.switch.decider import Mode
from cti_server.switch.journal import Journal
from shared.protocol.call import CallDelivered
from shared.protocol.switch import (
    FallbackCall,
    FallbackOutcome,
    LegRole,
    OfferToAgent,
    SwitchCallEventKind,
    SwitchFallbackReport,
)
from tests.cti_server.switch.link.link_support import (
    GOLD_CALLER,
    FakeControl,
    Server,
    arrive,
    contact,
    event,
    expect,
    make_decider,
    need_agent,
    ready_desktop,
    until,
)

pytestmark = pytest.mark.asyncio

K = SwitchCallEventKind


def ids(prefix: str, n: int) -> list[str]:
    tag = uuid.uuid4().hex[:6]
    return [f"{prefix}-{tag}-{i}" for i in range(n)]


async def test_server_loss_fallback_and_reconciliation(db: sa.Engine, tmp_path: Path) -> None:
    """The whole outage: CTI-routed calls survive, the queued one is adopted and offered
    by the fallback, new calls reach registered agents, the journal is replayed to the
    restarted server (fallback_* dispositions, contact records), new calls go to the
    server again."""
    srv = Server(db)
    app = await srv.start()
    control = FakeControl("1001", "1002")
    decider = make_decider(srv.url, control, tmp_path / "journal.jsonl")
    modes: list[Mode] = []
    decider.on_mode(modes.append)
    await decider.start()
    await decider.link.wait_up(3.0)
    assert decider.mode is Mode.CTI
    a, b, c, d = ids("FO", 4)

    # CTI mode: A goes to 1001 and is answered; B waits in the server's queue.
    desk = await ready_desktop(srv.url, "1001")
    await arrive(decider, a)
    routed = await need_agent(decider, a)
    assert routed.agent is not None and routed.agent.agent_id == "1001"
    await expect(desk, CallDelivered)
    decider.report(event(a, K.ANSWERED, LegRole.AGENT, "1001"))
    await arrive(decider, b)
    assert (await need_agent(decider, b)).agent is None
    await until(lambda: decider.link.queued == 0)
    assert decider.owner(a) == decider.owner(b) == "cti"

    # The CTI server goes away mid-operation.
    await desk.close()
    await srv.stop()
    await until(lambda: decider.mode is Mode.FALLBACK)
    # B (queued at the server) is adopted and offered to the registered, free 1002
    # (1001 is busy on A, which the switch keeps up).
    call_id, action = await control.next()
    assert call_id == b and isinstance(action, OfferToAgent)
    assert (action.agent_id, action.sip_contact) == ("1002", contact("1002"))
    assert decider.owner(b) == "fallback"
    decider.report(event(b, K.ANSWERED, LegRole.AGENT, "1002"))

    # A new call while the server is down: default flow, then queued (both agents busy).
    arrival = await arrive(decider, c, GOLD_CALLER)
    assert arrival.flow_id == "default" and not arrival.skip_ivr
    assert (await need_agent(decider, c, caller=GOLD_CALLER)).agent is None
    # A ends (its release is queued for the server); 1001 is free: C goes to 1001.
    decider.report(event(a, K.RELEASED))
    call_id, action = await control.next()
    assert call_id == c and isinstance(action, OfferToAgent) and action.agent_id == "1001"
    decider.report(event(c, K.ANSWERED, LegRole.AGENT, "1001"))
    decider.report(event(c, K.RELEASED))
    decider.report(event(b, K.RELEASED))
    journal = decider.fallback.journal
    assert journal.has_pending()

    # A new server on the same database and port: reconnect, registrations, replay.
    app = await srv.start()
    try:
        await until(lambda: decider.mode is Mode.CTI, timeout=5.0)
        assert modes == [Mode.CTI, Mode.FALLBACK, Mode.CTI]
        assert app.centre.switches.contact("1001") == contact("1001")
        assert app.centre.switches.contact("1002") == contact("1002")
        assert not journal.has_pending()
        assert journal.path.read_text() == ""  # compacted after the acknowledgement
        store = CallStore(db)
        done_b = await asyncio.to_thread(store.get_call, b)
        done_c = await asyncio.to_thread(store.get_call, c)
        assert (done_b.disposition, done_b.agent_id) == ("fallback_answered", "1002")
        assert (done_c.disposition, done_c.agent_id) == ("fallback_answered", "1001")
        assert done_c.tier_id == "gold"
        contacts = await asyncio.to_thread(store.contacts_for_number, GOLD_CALLER)
        assert [x.agent_id for x in contacts if x.call_id == c] == ["1001"]
        # New calls are the CTI server's again.
        assert (await arrive(decider, d)).tier == "vip"
        assert decider.owner(d) == "cti"
    finally:
        await decider.close()
        await srv.stop()


async def test_journal_survives_a_switch_restart_and_is_replayed_once(
    db: sa.Engine, tmp_path: Path
) -> None:
    """A switch that handled calls alone and restarted before the server came back
    replays its journal from disk; the server records each call once, even when the
    same report arrives again (idempotent), and a second start replays nothing."""
    path = tmp_path / "journal.jsonl"
    control = FakeControl("1004")
    srv = Server(db)
    await srv.start()
    port = srv.port
    await srv.stop()  # the server is down before the switch starts

    decider = make_decider(srv.url, control, path)
    await decider.start()
    assert decider.mode is Mode.FALLBACK
    answered, abandoned, live = ids("JR", 3)
    await arrive(decider, answered)
    routed = await need_agent(decider, answered, "broadband")
    assert routed.agent is not None and routed.agent.agent_id == "1004"
    decider.report(event(answered, K.ANSWERED, LegRole.AGENT, "1004"))
    decider.report(event(answered, K.RELEASED))
    await arrive(decider, abandoned)
    again = await need_agent(decider, abandoned, "broadband")
    assert again.agent is not None and again.agent.agent_id == "1004"  # free again
    decider.report(event(abandoned, K.RELEASED))  # the caller hung up while it rang
    await arrive(decider, live)  # still in the IVR when the switch process dies
    await decider.close()
    decider.fallback.journal.close()

    reopened = Journal(path, clock=decider.fallback.clock)
    pending = reopened.pending()
    assert pending is not None and [c.call_id for c in pending.parts[0].calls] == [
        answered,
        abandoned,
        live,
    ]
    reopened.close()

    srv.port = port
    app = await srv.start()
    restarted = make_decider(srv.url, control, path)
    await restarted.start()
    try:
        await restarted.link.wait_up(5.0)
        assert restarted.link.reports_replayed == 3
        store = CallStore(db)
        views = [await asyncio.to_thread(store.get_call, x) for x in (answered, abandoned, live)]
        assert [v.disposition for v in views] == [
            "fallback_answered",
            "fallback_abandoned",
            "fallback_failed",
        ]
        # The same part again (a switch that crashed before its acknowledgement was
        # written would send it twice): nothing is added.
        full = await asyncio.to_thread(store.call_with_events, answered)
        assert full is not None
        repeated = SwitchFallbackReport(
            id=0,
            link_down_at=full.arrived_at.timestamp(),
            link_up_at=full.arrived_at.timestamp() + 60,
            calls=(
                FallbackCall(
                    call_id=answered,
                    outcome=FallbackOutcome.ANSWERED,
                    arrived_at=full.arrived_at.timestamp(),
                    agent_id="1004",
                ),
            ),
        )
        await restarted.link.client.request(repeated)
        full2 = await asyncio.to_thread(store.call_with_events, answered)
        assert full2 is not None and len(full2.events) == len(full.events)
        contacts = await asyncio.to_thread(store.contacts_for_number, "13800138000")
        assert len([x for x in contacts if x.call_id == answered]) == 1
    finally:
        await restarted.close()
    third = make_decider(srv.url, control, path)
    await third.start()
    try:
        await third.link.wait_up(5.0)
        assert third.link.reports_replayed == 0
    finally:
        await third.close()
        await app.stop()


async def test_a_fallback_call_stays_with_the_fallback_when_the_link_returns(
    db: sa.Engine, tmp_path: Path
) -> None:
    """No flapping mid-call: a call the fallback connected is reported in progress when
    the link returns (the server adopts it), stays the fallback's until it ends, and its
    release then reaches the server as an ordinary call event (disposition answered,
    nothing left to replay); new calls go to the server."""
    control = FakeControl("1005")
    srv = Server(db)
    await srv.start()
    port = srv.port
    await srv.stop()
    decider = make_decider(srv.url, control, tmp_path / "journal.jsonl")
    await decider.start()
    live, fresh = ids("NF", 2)
    await arrive(decider, live, GOLD_CALLER)
    routed = await need_agent(decider, live, "tv", caller=GOLD_CALLER)
    assert routed.agent is not None and routed.agent.agent_id == "1005"
    decider.report(event(live, K.ANSWERED, LegRole.AGENT, "1005"))

    srv.port = port
    await srv.start()
    try:
        await decider.link.wait_up(5.0)
        store = CallStore(db)
        view = await asyncio.to_thread(store.get_call, live)
        assert (view.agent_id, view.disposition) == ("1005", None)  # adopted, still live
        assert decider.fallback.journal.handed_over(live)
        assert (await arrive(decider, fresh)).tier == "vip"
        assert (decider.owner(live), decider.owner(fresh)) == ("fallback", "cti")

        decider.report(event(live, K.RELEASED))
        await until(lambda: not decider.fallback.owns(live) and decider.link.queued == 0)
        view = await asyncio.to_thread(store.get_call, live)
        assert view.disposition == "answered" and view.released_at is not None
        assert not decider.fallback.journal.has_pending()
    finally:
        await decider.close()
        await srv.stop()


async def test_a_route_timeout_hands_the_call_to_the_fallback(
    db: sa.Engine, tmp_path: Path
) -> None:
    """A server that does not answer in time: the call is decided by the fallback and
    stays there (its later questions do not go back to the server)."""
    srv = Server(db)
    await srv.start()
    control = FakeControl("1007")
    decider = make_decider(srv.url, control, tmp_path / "journal.jsonl")
    await decider.start()
    try:
        await decider.link.wait_up(3.0)
        (slow,) = ids("TO", 1)
        decider.link.route_timeout = 1e-6
        response = await arrive(decider, slow)
        assert response.flow_id == "default" and decider.owner(slow) == "fallback"
        decider.link.route_timeout = 1.0
        routed = await need_agent(decider, slow, "sales")
        assert routed.agent is not None and routed.agent.agent_id == "1007"
        assert decider.mode is Mode.CTI
    finally:
        await decider.close()
        await srv.stop()
