"""Consultation, consultative transfer, conference, reconnect and blind transfer to a
queue from the desktop, through a real server and a fake switch (R-IN-8, R-IN-5).

The consultation tests here drive a protocol **1.0** switch (the third-leg model: hold,
offer_to_agent, transfer, hangup{leg: consult}); test_domain_consult_v11.py drives a 1.1
switch with the consult actions.
"""

from __future__ import annotations

import asyncio

import pytest
import sqlalchemy as sa

from cti_server.app import CtiApp
from cti_server.store import CallStore
from shared.cti_client import CtiClient
from shared.protocol.agent import (
    AgentEndAfterCallWork,
    AgentLogin,
    AgentReady,
    AgentReserved,
    AgentSetNotReady,
    AgentSetReady,
    AgentState,
    AgentWorkNotReady,
)
from shared.protocol.base import VERSION_1_0
from shared.protocol.call import (
    AgentDestination,
    CallConference,
    CallConferenced,
    CallConnectionCleared,
    CallConsult,
    CallDelivered,
    CallDiverted,
    CallEstablished,
    CallHeld,
    CallOriginated,
    CallReconnect,
    CallRelease,
    CallRetrieved,
    CallSingleStepTransfer,
    CallTransfer,
    CallTransferred,
    ConsultResult,
    NumberDestination,
    PartyRole,
    QueueDestination,
    TrajectoryKind,
)
from shared.protocol.errors import ErrorCode, ProtocolError
from shared.protocol.switch import (
    Conference,
    Hangup,
    Hold,
    LegRole,
    OfferToAgent,
    RouteStage,
    SwitchCallEventKind,
    TransferCall,
    Unhold,
)
from tests.cti_server.domain.domain_support import (
    Clients,
    FakeSwitch,
    connected_call,
    expect,
    ready_agent,
    report,
    route,
)

pytestmark = pytest.mark.asyncio


async def consult_setup(
    clients: Clients, call_id: str, *, auto_ack: bool = True
) -> tuple[FakeSwitch, CtiClient, CtiClient]:
    """1001 talks to a VIP caller (billing); 1002 is ready to be consulted."""
    switch = await clients.switch(auto_ack=auto_ack, versions=[VERSION_1_0])
    await switch.register("1001", "1002")
    consultant = await clients.desktop("1002")
    await consultant.request(AgentLogin(id=0, extension="1002"))  # not ready: no offer
    desk = await ready_agent(clients, "1001")
    await connected_call(switch, desk, "1001", call_id)
    await consultant.request(AgentSetReady(id=0))
    await expect(consultant, AgentReady)
    return switch, desk, consultant


async def start_consult(
    switch: FakeSwitch, desk: CtiClient, call_id: str, target: str = "1002"
) -> str:
    body = await desk.request(
        CallConsult(id=0, call_id=call_id, destination=AgentDestination(agent_id=target))
    )
    assert isinstance(body, ConsultResult)
    hold = await switch.command()
    assert isinstance(hold.action, Hold) and hold.call_id == call_id
    ring = await switch.command()
    assert isinstance(ring.action, OfferToAgent) and ring.call_id == call_id
    assert ring.action.agent_id == target
    return body.consult_call_id


async def test_consult_then_transfer_hands_the_caller_over_with_context(
    app: CtiApp, clients: Clients, db: sa.Engine
) -> None:
    """R-IN-8 consultative transfer: the caller is held, the consulted agent rings with the
    customer context, answers, the transfer completes; the transferring agent goes to ACW,
    the target keeps the customer and trajectory; hold/transfer are on the call record."""
    switch, desk, consultant = await consult_setup(clients, "CT-1")
    consult_id = await start_consult(switch, desk, "CT-1")

    held = await expect(desk, CallHeld)
    assert held.call_id == "CT-1"
    originated = await expect(desk, CallOriginated)
    assert (originated.call_id, originated.consult_of) == (consult_id, "CT-1")
    reserved = await expect(consultant, AgentReserved)
    assert reserved.call_id == consult_id
    pop = await expect(consultant, CallDelivered)
    assert (pop.call_id, pop.consult_of, pop.from_agent) == (consult_id, "CT-1", "1001")
    assert (pop.customer_ref, pop.tier) == ("C000001", "vip")
    centre = app.centre
    assert centre.agents["1002"].state is AgentState.RESERVED

    await report(switch, "CT-1", SwitchCallEventKind.ANSWERED, leg=LegRole.CONSULT, agent_id="1002")
    assert (await expect(consultant, CallEstablished)).call_id == consult_id
    assert centre.agents["1002"].state is AgentState.BUSY
    # the consulted agent cannot go ready or log out mid-call; a not-ready request waits
    await consultant.request(AgentSetNotReady(id=0, reason_code="break"))
    assert centre.agents["1002"].state is AgentState.BUSY

    await desk.request(CallTransfer(id=0, call_id="CT-1", consult_call_id=consult_id))
    transfer = await switch.command()
    assert isinstance(transfer.action, TransferCall) and transfer.call_id == "CT-1"
    assert transfer.action.destination == AgentDestination(agent_id="1002")
    gone = await expect(desk, CallTransferred)
    assert (gone.call_id, gone.to) == ("CT-1", AgentDestination(agent_id="1002"))
    acw = await expect(desk, AgentWorkNotReady)
    assert acw.call_id == "CT-1"

    moved = await expect(consultant, CallTransferred)
    assert (moved.call_id, moved.new_call_id) == (consult_id, "CT-1")
    handed = await expect(consultant, CallDelivered)
    assert handed.call_id == "CT-1" and handed.customer_ref == "C000001"
    assert handed.from_agent == "1001"
    assert TrajectoryKind.TRANSFER in [s.kind for s in handed.trajectory]
    assert (await expect(consultant, CallEstablished)).call_id == "CT-1"

    await report(switch, "CT-1", SwitchCallEventKind.RELEASED, leg=LegRole.CALLER)
    cleared = await expect(consultant, CallConnectionCleared)
    assert cleared.call_id == "CT-1"
    # the pending not-ready request is applied when the transferred call ends
    rec = centre.agents["1002"]
    assert (rec.state, rec.reason) == (AgentState.NOT_READY, "break")

    store = CallStore(db)
    call = await asyncio.to_thread(store.call_with_events, "CT-1")
    assert call is not None
    assert call.hold_count == 1 and call.hold_seconds >= 0
    assert call.transfer_count == 1 and call.transferred_at is not None
    assert (call.agent_id, call.disposition) == ("1002", "answered")
    modes = [e.data.get("mode") for e in call.events if e.kind == "transferred"]
    assert modes == ["consultative"]
    consult_row = await asyncio.to_thread(store.get_call, consult_id)
    assert consult_row.disposition == "consult_transferred"
    contacts = await asyncio.to_thread(store.contacts_for_customer, "C000001")
    assert any(c.call_id == "CT-1" and c.agent_id == "1002" for c in contacts)


async def test_conference_then_each_party_leaves(app: CtiApp, clients: Clients) -> None:
    """R-IN-8 three-way conference: call.conferenced to both agents with all parties; when
    the first agent hangs up the call goes on with the second; the caller ends it."""
    switch, desk, consultant = await consult_setup(clients, "CF-1")
    consult_id = await start_consult(switch, desk, "CF-1")
    await report(switch, "CF-1", SwitchCallEventKind.ANSWERED, leg=LegRole.CONSULT, agent_id="1002")
    await expect(consultant, CallEstablished)

    await desk.request(CallConference(id=0, call_id="CF-1", consult_call_id=consult_id))
    conference = await switch.command()
    assert conference.action == Conference(consult_call_id=consult_id)
    mine = await expect(desk, CallConferenced)
    theirs = await expect(consultant, CallConferenced)
    assert mine.call_id == theirs.call_id == "CF-1"
    assert [p.role for p in mine.parties] == [PartyRole.CALLER, PartyRole.AGENT, PartyRole.CONSULT]
    assert [p.agent_id for p in mine.parties][1:] == ["1001", "1002"]

    # 1001 leaves: its desktop asks, the switch drops the agent leg and reports it
    await desk.request(CallRelease(id=0, call_id="CF-1"))
    leave = await switch.command()
    assert leave.action == Hangup(leg=LegRole.AGENT)
    await report(switch, "CF-1", SwitchCallEventKind.RELEASED, leg=LegRole.AGENT, agent_id="1001")
    assert (await expect(desk, CallConnectionCleared)).call_id == "CF-1"
    await expect(desk, AgentWorkNotReady)
    assert (await expect(consultant, CallEstablished)).call_id == "CF-1"
    assert app.centre.calls["CF-1"].agent_id == "1002"

    await report(switch, "CF-1", SwitchCallEventKind.RELEASED, leg=LegRole.CALLER)
    assert (await expect(consultant, CallConnectionCleared)).call_id == "CF-1"
    acw = await expect(consultant, AgentWorkNotReady)
    assert acw.call_id == "CF-1" and acw.deadline is not None
    await consultant.request(AgentEndAfterCallWork(id=0))
    await expect(consultant, AgentReady)


async def test_reconnect_while_ringing_frees_the_consulted_agent(
    app: CtiApp, clients: Clients
) -> None:
    """call.reconnect drops the consultation (hangup of the consult leg) and retrieves the
    original call; the consulted agent is ready again."""
    switch, desk, consultant = await consult_setup(clients, "RC-1")
    consult_id = await start_consult(switch, desk, "RC-1")
    await expect(consultant, CallDelivered)

    await desk.request(CallReconnect(id=0, call_id="RC-1", consult_call_id=consult_id))
    drop = await switch.command()
    assert drop.action == Hangup(leg=LegRole.CONSULT) and drop.call_id == "RC-1"
    unhold = await switch.command()
    assert isinstance(unhold.action, Unhold)
    assert (await expect(consultant, CallDiverted)).call_id == consult_id
    await expect(consultant, AgentReady)
    assert (await expect(desk, CallRetrieved)).call_id == "RC-1"
    centre = app.centre
    assert centre.calls["RC-1"].consult_id is None
    assert centre.engine.agent_state("1002") == "ready"
    assert consult_id not in centre.calls


async def test_consult_refusals_are_typed(app: CtiApp, clients: Clients) -> None:
    """invalid_state (ringing, no consultation), unknown_call, destination_unavailable
    (a number needs a 1.1 switch)."""
    switch = await clients.switch(versions=[VERSION_1_0])
    await switch.register("1001", "1002")
    other = await clients.desktop("1002")
    await other.request(AgentLogin(id=0, extension="1002"))
    desk = await ready_agent(clients, "1001")
    await route(switch, "BAD-1", RouteStage.ARRIVAL)
    await route(switch, "BAD-1", RouteStage.AGENT_NEEDED, business_selection="billing")
    await expect(desk, CallDelivered)

    to_1002 = AgentDestination(agent_id="1002")
    with pytest.raises(ProtocolError) as ringing:
        await desk.request(CallConsult(id=0, call_id="BAD-1", destination=to_1002))
    assert ringing.value.code is ErrorCode.INVALID_STATE
    with pytest.raises(ProtocolError) as unknown:
        await desk.request(CallConsult(id=0, call_id="NOPE", destination=to_1002))
    assert unknown.value.code is ErrorCode.UNKNOWN_CALL

    await report(switch, "BAD-1", SwitchCallEventKind.ANSWERED, leg=LegRole.AGENT, agent_id="1001")
    await expect(desk, CallEstablished)
    with pytest.raises(ProtocolError) as no_consult:
        await desk.request(CallTransfer(id=0, call_id="BAD-1", consult_call_id="BAD-2"))
    assert no_consult.value.code is ErrorCode.INVALID_STATE
    with pytest.raises(ProtocolError) as not_ready:  # 1002 is not ready
        await desk.request(CallConsult(id=0, call_id="BAD-1", destination=to_1002))
    assert not_ready.value.code is ErrorCode.DESTINATION_UNAVAILABLE
    with pytest.raises(ProtocolError) as number:
        await desk.request(
            CallConsult(id=0, call_id="BAD-1", destination=NumberDestination(number="95555"))
        )
    assert number.value.code is ErrorCode.DESTINATION_UNAVAILABLE
    assert app.centre.calls["BAD-1"].consult_id is None
    assert switch.commands.empty()  # nothing was sent for the refused requests


async def test_consult_times_out_and_frees_the_target(app: CtiApp, clients: Clients) -> None:
    """No acknowledgement of the hold within command_timeout → `timeout`; the consulted
    agent, reserved meanwhile, is ready again."""
    switch, desk, _ = await consult_setup(clients, "TO-1", auto_ack=False)
    with pytest.raises(ProtocolError) as late:
        await desk.request(
            CallConsult(id=0, call_id="TO-1", destination=AgentDestination(agent_id="1002"))
        )
    assert late.value.code is ErrorCode.TIMEOUT
    assert isinstance((await switch.command()).action, Hold)
    centre = app.centre
    assert centre.engine.agent_state("1002") == "ready"
    assert centre.agents["1002"].state is AgentState.READY
    assert centre.calls["TO-1"].consult_id is None


async def test_blind_transfer_to_a_queue_requeues_through_the_engine(
    app: CtiApp, clients: Clients, db: sa.Engine
) -> None:
    """call.single_step_transfer to a queue: the agent goes to ACW, the call is queued again
    with its tier and business selection and offered to an agent of that queue."""
    switch = await clients.switch()
    await switch.register("1001", "1004")
    desk = await ready_agent(clients, "1001")
    await connected_call(switch, desk, "1001", "QT-1")
    broadband = await ready_agent(clients, "1004")

    await desk.request(
        CallSingleStepTransfer(
            id=0, call_id="QT-1", destination=QueueDestination(queue_id="q_broadband")
        )
    )
    transfer = await switch.command()
    assert isinstance(transfer.action, TransferCall)
    assert transfer.action.destination == QueueDestination(queue_id="q_broadband")
    assert (await expect(desk, CallTransferred)).to == QueueDestination(queue_id="q_broadband")
    await expect(desk, AgentWorkNotReady)

    offer = await switch.command()
    assert isinstance(offer.action, OfferToAgent)
    assert (offer.call_id, offer.action.agent_id) == ("QT-1", "1004")
    pop = await expect(broadband, CallDelivered)
    assert (pop.queue_id, pop.tier, pop.business_selection) == ("q_broadband", "vip", "billing")
    kinds = [s.kind for s in pop.trajectory]
    assert kinds.count(TrajectoryKind.QUEUE_ENTER) == 2
    assert TrajectoryKind.TRANSFER in kinds
    # a later `transferred` report of the switch changes nothing
    await report(switch, "QT-1", SwitchCallEventKind.TRANSFERRED, queue_id="q_broadband")
    assert app.centre.calls["QT-1"].agent_id == "1004"

    call = await asyncio.to_thread(CallStore(db).get_call, "QT-1")
    assert call.transfer_count == 1 and call.queue_id == "q_broadband"
