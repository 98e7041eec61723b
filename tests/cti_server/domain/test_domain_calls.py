"""Inbound calls end to end: switch route requests, offers, call control, call records.

R-TIER-1/2 (tier from the caller number), R-IVR-2/3 (tier, business selection, skip
IVR), R-ROUTE-2/3 (SL-gap choice on agent idle), R-IN-5 (trajectory, contact record),
R-IN-8 (answer, hold/retrieve, ACW), R-IN-4 (durable call records).
"""

from __future__ import annotations

import asyncio
import time

import pytest
import sqlalchemy as sa

from cti_server.app import CtiApp
from cti_server.store import CallStore, ConfigStore
from shared.cti_client import CtiClient
from shared.protocol.agent import (
    AgentEndAfterCallWork,
    AgentLogin,
    AgentReady,
    AgentReserved,
    AgentSetReady,
    AgentWorkNotReady,
)
from shared.protocol.call import (
    CallAnswer,
    CallConnectionCleared,
    CallDelivered,
    CallEstablished,
    CallHeld,
    CallHold,
    CallRetrieve,
    CallRetrieved,
    TrajectoryKind,
)
from shared.protocol.errors import ErrorCode, ProtocolError
from shared.protocol.handshake import ClientKind, TokenCredentials
from shared.protocol.switch import (
    Bridge,
    Hold,
    LegRole,
    OfferToAgent,
    RouteResponse,
    RouteStage,
    SwitchCallEvent,
    SwitchCallEventKind,
    SwitchRouteRequest,
    Unhold,
)
from tests.cti_server.domain.domain_support import Clients, FakeSwitch, expect

pytestmark = pytest.mark.asyncio

VIP, GOLD = "13800138000", "13900139000"


async def route(
    switch: FakeSwitch, call_id: str, stage: RouteStage, caller: str, **fields: object
) -> RouteResponse:
    body = await switch.client.request(
        SwitchRouteRequest(id=0, call_id=call_id, stage=stage, caller=caller, **fields)  # type: ignore[arg-type]
    )
    assert isinstance(body, RouteResponse)
    return body


async def event(
    switch: FakeSwitch, call_id: str, kind: SwitchCallEventKind, **fields: object
) -> None:
    await switch.client.request(
        SwitchCallEvent(id=0, call_id=call_id, kind=kind, at=time.time(), **fields)  # type: ignore[arg-type]
    )


async def ready_agent(clients: Clients, agent: str) -> CtiClient:
    desk = await clients.desktop(agent)
    await desk.request(AgentLogin(id=0, extension=agent, initial_state="ready"))
    await expect(desk, AgentReady)
    return desk


async def test_full_inbound_call_is_recorded_with_every_timestamp(
    app: CtiApp, clients: Clients, db: sa.Engine
) -> None:
    """Arrival → VIP tier from the number → offer → answer via the switch → hold/retrieve →
    release → ACW → ready; the call record, explanation and contact record are durable."""
    config = ConfigStore(db)
    version = config.add_flow_version("9901", "tier:vip", "VIP greeting", {"nodes": {}})
    config.publish_flow("9901", "tier:vip", version)
    switch = await clients.switch()
    await switch.register("1001")
    desk = await ready_agent(clients, "1001")

    arrival = await route(switch, "CALL-FULL", RouteStage.ARRIVAL, VIP, called="95555")
    assert (arrival.tier, arrival.customer_id) == ("vip", "C000001")
    assert (arrival.flow_id, arrival.flow_version) == ("tier:vip", version)
    assert arrival.skip_ivr and not arrival.blacklisted
    await event(switch, "CALL-FULL", SwitchCallEventKind.IVR_NODE, node="greeting")

    needed = await route(
        switch, "CALL-FULL", RouteStage.AGENT_NEEDED, VIP, business_selection="billing"
    )
    assert needed.queue_id == "q_billing"
    assert needed.agent is not None
    assert needed.agent.agent_id == "1001"
    assert needed.agent.sip_contact == "sip:1001@10.0.0.7:5062"

    reserved = await expect(desk, AgentReserved)
    assert reserved.call_id == "CALL-FULL"
    delivered = await expect(desk, CallDelivered)
    assert (delivered.tier, delivered.customer_ref, delivered.business_selection) == (
        "vip",
        "C000001",
        "billing",
    )
    assert delivered.customer_name
    kinds = [s.kind for s in delivered.trajectory]
    assert kinds == [TrajectoryKind.IVR_NODE, TrajectoryKind.QUEUE_ENTER, TrajectoryKind.OFFER]

    # the desktop answers; the server asks the switch to bridge; the switch confirms
    await desk.request(CallAnswer(id=0, call_id="CALL-FULL"))
    bridge = await switch.command()
    assert isinstance(bridge.action, Bridge) and bridge.call_id == "CALL-FULL"
    await event(
        switch, "CALL-FULL", SwitchCallEventKind.ANSWERED, leg=LegRole.AGENT, agent_id="1001"
    )
    await expect(desk, CallEstablished)
    assert app.centre.agents["1001"].state == "busy"

    await desk.request(CallHold(id=0, call_id="CALL-FULL"))
    assert isinstance((await switch.command()).action, Hold)
    await event(switch, "CALL-FULL", SwitchCallEventKind.HELD, leg=LegRole.AGENT)
    await expect(desk, CallHeld)
    await desk.request(CallRetrieve(id=0, call_id="CALL-FULL"))
    assert isinstance((await switch.command()).action, Unhold)
    await event(switch, "CALL-FULL", SwitchCallEventKind.RETRIEVED, leg=LegRole.AGENT)
    await expect(desk, CallRetrieved)

    await event(switch, "CALL-FULL", SwitchCallEventKind.RELEASED, leg=LegRole.CALLER)
    cleared = await expect(desk, CallConnectionCleared)
    assert cleared.call_id == "CALL-FULL"
    acw = await expect(desk, AgentWorkNotReady)
    assert acw.call_id == "CALL-FULL" and acw.deadline is not None
    await desk.request(AgentEndAfterCallWork(id=0))
    await expect(desk, AgentReady)

    store = CallStore(db)
    call = await asyncio.to_thread(store.call_with_events, "CALL-FULL")
    assert call is not None
    for stamp in (
        call.arrived_at,
        call.ivr_started_at,
        call.queued_at,
        call.offered_at,
        call.answered_at,
        call.released_at,
        call.acw_ended_at,
    ):
        assert stamp is not None
    assert call.arrived_at <= call.queued_at <= call.offered_at <= call.answered_at  # type: ignore[operator]
    assert call.hold_count == 1
    assert (call.tier_id, call.customer_id, call.agent_id) == ("vip", "C000001", "1001")
    assert call.disposition == "answered" and call.released_by == "caller"
    assert call.routing_explanation is not None
    assert call.routing_explanation["rule"].startswith("call_arrival")
    assert [e.kind for e in call.events][:2] == ["arrived", "tier_identified"]
    contacts = await asyncio.to_thread(store.contacts_for_customer, "C000001")
    assert any(c.call_id == "CALL-FULL" and c.agent_id == "1001" for c in contacts)


async def test_waiting_call_goes_to_agent_becoming_ready_by_sl_gap(
    app: CtiApp, clients: Clients, db: sa.Engine
) -> None:
    """R-ROUTE-2/3: with VIP in SL deficit (an abandoned VIP call) the VIP caller is
    served before an earlier gold caller when the agent becomes ready; the offer goes
    to the switch as a command."""
    switch = await clients.switch()
    await switch.register("1001")
    desk = await clients.desktop("1001")
    await desk.request(AgentLogin(id=0, extension="1001"))

    for call_id, caller in (("SL-V0", VIP), ("SL-G1", GOLD), ("SL-V1", VIP)):
        await route(switch, call_id, RouteStage.ARRIVAL, caller)
        queued = await route(
            switch, call_id, RouteStage.AGENT_NEEDED, caller, business_selection="billing"
        )
        assert queued.agent is None  # nobody ready: the switch plays music on hold
        if call_id == "SL-V0":  # this VIP caller gives up: VIP misses its SL
            await event(switch, call_id, SwitchCallEventKind.RELEASED, leg=LegRole.CALLER)

    await desk.request(AgentSetReady(id=0))
    command = await switch.command()
    assert isinstance(command.action, OfferToAgent)
    assert (command.call_id, command.action.agent_id) == ("SL-V1", "1001")
    delivered = await expect(desk, CallDelivered)
    assert delivered.call_id == "SL-V1"

    store = CallStore(db)
    chosen = await asyncio.to_thread(store.get_call, "SL-V1")
    assert chosen.routing_explanation is not None
    assert chosen.routing_explanation["rule"].startswith("agent_idle")
    assert [c["tier_id"] for c in chosen.routing_explanation["call_candidates"]][:1] == ["vip"]
    abandoned = await asyncio.to_thread(store.get_call, "SL-V0")
    assert abandoned.disposition == "abandoned"


async def test_call_control_times_out_when_the_switch_does_not_confirm(
    app: CtiApp, clients: Clients
) -> None:
    """A call-control request is answered after the switch's result, else `timeout`."""
    switch = await clients.switch(auto_ack=False)
    await switch.register("1002")
    desk = await ready_agent(clients, "1002")
    await route(switch, "CALL-TO", RouteStage.ARRIVAL, GOLD)
    needed = await route(
        switch, "CALL-TO", RouteStage.AGENT_NEEDED, GOLD, business_selection="billing"
    )
    assert needed.agent is not None and needed.agent.agent_id == "1002"
    await expect(desk, CallDelivered)
    with pytest.raises(ProtocolError) as late:
        await desk.request(CallAnswer(id=0, call_id="CALL-TO"))
    assert late.value.code is ErrorCode.TIMEOUT
    assert isinstance((await switch.command()).action, Bridge)


async def test_switch_with_a_wrong_token_is_rejected(app: CtiApp) -> None:
    client = CtiClient(
        app.url, TokenCredentials(token="not-the-token"), ClientKind.SWITCH, heartbeat=False
    )
    with pytest.raises(ProtocolError) as refused:
        await client.open()
    assert refused.value.code is ErrorCode.NOT_AUTHENTICATED
    await client.close()
