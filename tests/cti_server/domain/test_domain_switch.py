"""Switch-link paths: engine actions (overflow, back to the flow), a failed offer command,
DTMF, losing the switch, the fallback report after an outage (R-IN-3, R-IN-4, R-IN-8,
R-ROUTE-4), and the supervisor figures after a sequence of changes (R-SUP-1).
"""

from __future__ import annotations

import asyncio
import time

import pytest
import sqlalchemy as sa

from cti_server.app import CtiApp
from cti_server.store import CallStore, session_factory
from cti_server.store.models import Queue
from shared.protocol.agent import (
    AgentLogin,
    AgentNotReady,
    AgentSetReady,
    AgentState,
    AgentWorkNotReady,
)
from shared.protocol.call import (
    CallConnectionCleared,
    CallDelivered,
    CallDiverted,
    CallEstablished,
    CallSendDtmf,
    ClearCause,
    DivertReason,
    IvrDestination,
    TrajectoryKind,
)
from shared.protocol.errors import ErrorCode, ProtocolError
from shared.protocol.switch import (
    FallbackCall,
    FallbackOutcome,
    LegRole,
    OfferToAgent,
    RouteStage,
    SendDtmf,
    SwitchCallEventKind,
    SwitchCommandResult,
    SwitchFallbackReport,
    TransferCall,
)
from tests.cti_server.domain.domain_support import (
    GRACE,
    Clients,
    connected_call,
    expect,
    ready_agent,
    report,
    route,
    until,
)

pytestmark = pytest.mark.asyncio

GOLD = "13900139000"


@pytest.fixture(scope="module")
def db(db: sa.Engine) -> sa.Engine:
    """The demo centre with short max waits: q_tv overflows to q_sales after 0.3 s and
    q_broadband sends its calls back to the flow after 0.3 s."""
    sessions = session_factory(db)
    with sessions.begin() as session:
        session.execute(
            sa.update(Queue)
            .where(Queue.id == "q_tv")
            .values(max_wait=0.3, max_wait_action="overflow:q_sales", overflow=[])
        )
        session.execute(
            sa.update(Queue)
            .where(Queue.id == "q_broadband")
            .values(max_wait=0.3, max_wait_action="flow", overflow=[])
        )
    return db


async def test_overflow_and_back_to_flow_are_recorded_and_acted_on(
    app: CtiApp, clients: Clients, db: sa.Engine
) -> None:
    """R-ROUTE-4: an Overflowed action moves the call (record, trajectory, figures); a
    LeftQueue action sends the caller back to its IVR flow with a transfer command."""
    switch = await clients.switch()
    await route(switch, "OV-1", RouteStage.ARRIVAL, GOLD)
    queued = await route(switch, "OV-1", RouteStage.AGENT_NEEDED, GOLD, business_selection="tv")
    assert queued.queue_id == "q_tv" and queued.agent is None
    await route(switch, "LQ-1", RouteStage.ARRIVAL, GOLD)
    await route(switch, "LQ-1", RouteStage.AGENT_NEEDED, GOLD, business_selection="broadband")
    centre = app.centre
    assert centre.queue_stats("q_tv").waiting == 1

    back = await switch.command(timeout=3.0)
    assert back.call_id == "LQ-1" and isinstance(back.action, TransferCall)
    assert isinstance(back.action.destination, IvrDestination)
    await until(lambda: centre.calls["OV-1"].queue_id == "q_sales")
    call = centre.calls["OV-1"]
    assert call.trajectory[-1].kind is TrajectoryKind.OVERFLOW
    assert centre.queue_stats("q_tv").waiting == 0
    assert centre.queue_stats("q_sales").waiting == 1
    assert not centre.calls["LQ-1"].queued
    assert centre.queue_stats("q_broadband").waiting == 0

    store = CallStore(db)
    moved = await asyncio.to_thread(store.call_with_events, "OV-1")
    assert moved is not None and moved.queue_id == "q_sales"
    assert "overflowed" in [e.kind for e in moved.events]
    left = await asyncio.to_thread(store.call_with_events, "LQ-1")
    assert left is not None
    assert left.routing_explanation is not None
    assert left.routing_explanation["rule"] == "max_wait:flow"


async def test_failed_offer_command_puts_the_call_back_and_the_agent_not_ready(
    app: CtiApp, clients: Clients
) -> None:
    """The switch answers an offer_to_agent with ok=false: the agent is not ready
    (offer_failed), its desktop sees the call diverted, the call waits again."""
    switch = await clients.switch(auto_ack=False)
    await switch.register("1001")
    desk = await clients.desktop("1001")
    await desk.request(AgentLogin(id=0, extension="1001"))
    await route(switch, "OF-1", RouteStage.ARRIVAL)
    await route(switch, "OF-1", RouteStage.AGENT_NEEDED, business_selection="billing")
    await desk.request(AgentSetReady(id=0))
    offer = await switch.command()
    assert isinstance(offer.action, OfferToAgent) and offer.call_id == "OF-1"
    await expect(desk, CallDelivered)
    await switch.client.request(
        SwitchCommandResult(id=0, command_id=offer.command_id, ok=False, code=ErrorCode.UNAVAILABLE)
    )
    diverted = await expect(desk, CallDiverted)
    assert diverted.reason is DivertReason.REROUTED
    not_ready = await expect(desk, AgentNotReady)
    assert not_ready.reason_code == "offer_failed"
    centre = app.centre
    assert centre.engine.call_state("OF-1") == "waiting"
    assert centre.queue_stats("q_billing").waiting == 1


async def test_send_dtmf_goes_to_the_switch(app: CtiApp, clients: Clients) -> None:
    """R-IN-8 DTMF: send_dtmf on a connected call → switch send_dtmf; refused while ringing."""
    switch = await clients.switch()
    await switch.register("1001")
    desk = await ready_agent(clients, "1001")
    await route(switch, "DT-1", RouteStage.ARRIVAL)
    await route(switch, "DT-1", RouteStage.AGENT_NEEDED, business_selection="billing")
    await expect(desk, CallDelivered)
    with pytest.raises(ProtocolError) as ringing:
        await desk.request(CallSendDtmf(id=0, call_id="DT-1", digits="1"))
    assert ringing.value.code is ErrorCode.INVALID_STATE
    await report(switch, "DT-1", SwitchCallEventKind.ANSWERED, leg=LegRole.AGENT, agent_id="1001")
    await expect(desk, CallEstablished)
    await desk.request(CallSendDtmf(id=0, call_id="DT-1", digits="123#"))
    dtmf = await switch.command()
    assert dtmf.call_id == "DT-1" and dtmf.action == SendDtmf(digits="123#")


async def test_losing_the_switch_frees_its_agents(
    app: CtiApp, clients: Clients, db: sa.Engine
) -> None:
    """The switch's session expires: the talking agent goes to ACW, the ringing agent is
    ready again (call diverted), the waiting call leaves the engine without an SL miss;
    records are closed (answered / switch_lost)."""
    switch = await clients.switch("sw-lost")
    await switch.register("1001", "1002")
    talking = await ready_agent(clients, "1001")
    await connected_call(switch, talking, "1001", "SL-TALK")
    ringing = await ready_agent(clients, "1002")
    await route(switch, "SL-RING", RouteStage.ARRIVAL)
    await route(switch, "SL-RING", RouteStage.AGENT_NEEDED, business_selection="billing")
    await expect(ringing, CallDelivered)
    await route(switch, "SL-WAIT", RouteStage.ARRIVAL)
    await route(switch, "SL-WAIT", RouteStage.AGENT_NEEDED, business_selection="billing")
    centre = app.centre
    assert centre.queue_stats("q_billing").waiting == 1

    await switch.client.disconnect()
    await until(lambda: not centre.calls, timeout=GRACE + 3)
    cleared = await expect(talking, CallConnectionCleared)
    assert cleared.cause is ClearCause.FAILED
    await expect(talking, AgentWorkNotReady)
    assert (await expect(ringing, CallDiverted)).reason is DivertReason.REROUTED
    assert centre.agents["1002"].state is AgentState.READY
    assert centre.agents["1001"].state is AgentState.WORK_NOT_READY
    assert list(centre.engine.waiting_calls()) == []
    assert centre.queue_stats("q_billing").waiting == 0
    assert centre.engine.tier_figures("vip", centre.now()).outcomes == 1  # the answer only

    store = CallStore(db)

    async def read() -> dict[str, str | None]:
        return {
            cid: (await asyncio.to_thread(store.get_call, cid)).disposition
            for cid in ("SL-TALK", "SL-RING", "SL-WAIT")
        }

    # the call writer commits after the calls left memory: wait for it (not for ever)
    for _ in range(100):
        dispositions = await read()
        if None not in dispositions.values():
            break
        await asyncio.sleep(0.05)
    assert dispositions == {
        "SL-TALK": "answered",
        "SL-RING": "switch_lost",
        "SL-WAIT": "switch_lost",
    }


async def test_fallback_report_is_recorded_once_and_reconciled(
    app: CtiApp, clients: Clients, db: sa.Engine
) -> None:
    """R-IN-3: calls the switch handled alone are recorded with agent and times, once even
    when reported twice, with a contact record; a call still running makes its agent busy
    until the switch reports the release (then ACW)."""
    switch = await clients.switch()
    await switch.register("1005")
    desk = await ready_agent(clients, "1005")
    t0 = time.time() - 300
    report_msg = SwitchFallbackReport(
        id=0,
        link_down_at=t0,
        link_up_at=t0 + 200,
        calls=(
            FallbackCall(
                call_id="FB-DONE",
                outcome=FallbackOutcome.ANSWERED,
                arrived_at=t0 + 10,
                caller=GOLD,
                queue_id="q_tv",
                agent_id="1006",
                offered_at=t0 + 12,
                answered_at=t0 + 15,
                released_at=t0 + 100,
            ),
            FallbackCall(
                call_id="FB-LOST",
                outcome=FallbackOutcome.ABANDONED,
                arrived_at=t0 + 20,
                caller="13700137000",
                queue_id="q_tv",
                released_at=t0 + 50,
            ),
            FallbackCall(
                call_id="FB-LIVE",
                outcome=FallbackOutcome.IN_PROGRESS,
                arrived_at=t0 + 150,
                caller=GOLD,
                queue_id="q_tv",
                agent_id="1005",
                offered_at=t0 + 151,
                answered_at=t0 + 155,
            ),
        ),
    )
    for _ in range(2):  # the switch may send a report again: no duplicates
        await switch.client.request(report_msg)

    store = CallStore(db)
    done = await asyncio.to_thread(store.call_with_events, "FB-DONE")
    assert done is not None
    assert (done.agent_id, done.disposition, done.tier_id) == ("1006", "fallback_answered", "gold")
    assert done.answered_at is not None and done.released_at is not None
    assert done.released_at.timestamp() == pytest.approx(t0 + 100)
    assert len([e for e in done.events if e.kind == "answered"]) == 1
    contacts = await asyncio.to_thread(store.contacts_for_customer, "C000002")
    done_contacts = [c for c in contacts if c.call_id == "FB-DONE"]
    assert len(done_contacts) == 1 and done_contacts[0].agent_id == "1006"
    lost = await asyncio.to_thread(store.get_call, "FB-LOST")
    assert lost.disposition == "fallback_abandoned"

    centre = app.centre
    assert centre.agents["1005"].state is AgentState.BUSY
    assert (await expect(desk, CallEstablished)).call_id == "FB-LIVE"
    await report(switch, "FB-LIVE", SwitchCallEventKind.RELEASED, leg=LegRole.CALLER)
    assert (await expect(desk, CallConnectionCleared)).call_id == "FB-LIVE"
    await expect(desk, AgentWorkNotReady)
    live = await asyncio.to_thread(store.get_call, "FB-LIVE")
    assert (live.agent_id, live.disposition) == ("1005", "answered")
    contacts = await asyncio.to_thread(store.contacts_for_customer, "C000002")
    assert any(c.call_id == "FB-LIVE" and c.agent_id == "1005" for c in contacts)


async def test_supervisor_figures_follow_a_sequence_of_changes(
    app: CtiApp, clients: Clients
) -> None:
    """R-SUP-1: waiting / longest wait per queue and tier and agents by state per queue,
    kept incrementally, equal a full recount after logins, offers, answers, releases."""
    centre = app.centre

    def recount(queue_id: str) -> tuple[int, dict[str, int]]:
        skill = centre.config.queues[queue_id].skill
        counts = dict.fromkeys(("ready", "not_ready", "reserved", "busy", "work_not_ready"), 0)
        for rec in centre.agents.values():
            if skill in rec.skills and rec.state is not AgentState.LOGGED_OFF:
                counts[rec.state.value] += 1
        waiting = sum(1 for c in centre.calls.values() if c.waiting and c.queue_id == queue_id)
        return waiting, counts

    def check() -> None:
        for queue_id in centre.queue_ids():
            stats = centre.queue_stats(queue_id)
            waiting, counts = recount(queue_id)
            assert stats.waiting == waiting, queue_id
            assert {f: getattr(stats.agents, f) for f in counts} == counts, queue_id

    switch = await clients.switch()
    await switch.register("1001", "1009")
    check()
    first = await ready_agent(clients, "1001")
    check()
    await route(switch, "ST-1", RouteStage.ARRIVAL)
    await route(switch, "ST-1", RouteStage.AGENT_NEEDED, business_selection="billing")
    await expect(first, CallDelivered)
    check()
    for call_id in ("ST-2", "ST-3"):
        await route(switch, call_id, RouteStage.ARRIVAL, GOLD)
        await route(switch, call_id, RouteStage.AGENT_NEEDED, GOLD, business_selection="billing")
    await asyncio.sleep(0.05)
    stats = centre.queue_stats("q_billing")
    assert stats.waiting == 2 and stats.longest_wait_seconds >= 0.05
    assert centre.tier_stats("gold").waiting == 2
    check()
    await report(switch, "ST-1", SwitchCallEventKind.ANSWERED, leg=LegRole.AGENT, agent_id="1001")
    await report(switch, "ST-2", SwitchCallEventKind.RELEASED, leg=LegRole.CALLER)  # abandons
    check()
    assert centre.tier_stats("gold").waiting == 1
    second = await clients.desktop("1009")
    await second.request(AgentLogin(id=0, extension="1009", initial_state="ready"))
    await expect(second, CallDelivered)  # ST-3 goes to the new agent
    check()
    assert centre.queue_stats("q_billing").waiting == 0
    assert centre.queue_stats("q_billing").longest_wait_seconds == 0.0
    await report(switch, "ST-1", SwitchCallEventKind.RELEASED, leg=LegRole.CALLER)
    await expect(first, AgentWorkNotReady)
    check()
    assert centre.queue_stats("q_billing").agents.work_not_ready == 1
    assert centre.queue_stats("q_billing").agents.reserved == 1
