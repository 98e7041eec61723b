"""Blind transfer on a real switch (R-IN-8): to an agent, a queue, an IVR node, a number.

Real SIP phones (our stack) and a real rtpengine; audio is proven by tone frequencies
both ways. The caller is never re-INVITEd: its rtpengine port stays, the switch side
goes back to the media sink and on to the new party.
"""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

from cti_server.switch.core import SwitchApp
from cti_server.switch.core.calls import Phase
from cti_server.switch.ports import CommandFailed
from shared.ivr import Flow, parse_flow
from shared.protocol.call import (
    AgentDestination,
    ClearCause,
    IvrDestination,
    NumberDestination,
    QueueDestination,
)
from shared.protocol.errors import ErrorCode
from shared.protocol.switch import (
    LegRole,
    OfferToAgent,
    RoutedAgent,
    RouteResponse,
    RouteStage,
    SwitchCallEventKind,
    TransferCall,
)
from tests.cti_server.switch.core.conftest import PhoneFactory, SwitchFactory
from tests.cti_server.switch.core.core_support import (
    Phone,
    RecordingDecider,
    find_report,
    media_calls_gone,
    wait_report,
)
from tests.cti_server.switch.core.test_core_call_path import (
    assert_tone,
    hears_moh,
    tones_both_ways,
)

pytestmark = pytest.mark.asyncio

K = SwitchCallEventKind
NUMBER = "02055501234"

FLOWS = parse_flow(
    {
        "id": "direct",
        "entry": "q",
        "nodes": {
            "q": {"kind": "queue", "queue": "q_sales"},
            "again": {"kind": "queue", "queue": "q_back"},
        },
    }
)
TO_NUMBER = parse_flow(
    {"id": "ext", "entry": "t", "nodes": {"t": {"kind": "transfer", "target": {"number": NUMBER}}}}
)


def direct(flow_id: str | None, version: int | None) -> Flow:
    return FLOWS


def contact_of(phone: Phone) -> str:
    assert phone.stack is not None
    return str(phone.stack.contact("UDP").uri)


def with_gateway(app: SwitchApp, gateway: Phone) -> None:
    """Point the core's outbound gateway at a test phone (as a trunk gateway would be)."""
    assert gateway.stack is not None
    host, port = gateway.stack.local_address("UDP")
    app.core.config = dataclasses.replace(
        app.core.config, outbound_gateway=f"sip:{{number}}@{host}:{port}"
    )


async def bridged_call(
    make_switch: SwitchFactory,
    make_phone: PhoneFactory,
    decider: RecordingDecider,
    **switch_options: object,
) -> tuple[SwitchApp, Phone, Phone, str]:
    """A caller queued in q_sales and bridged to agent 1001 (registered)."""
    app = await make_switch(decider, flows=direct, **switch_options)
    agent = await make_phone("1001")
    assert await agent.register(app.sip_address, "pw-1001") == 200
    contact = app.core.registered_contacts()["1001"]

    def agent_needed(q: object) -> RouteResponse:
        queue_id = getattr(q, "queue_id", None)
        if queue_id == "q_sales":
            return RouteResponse(
                queue_id=queue_id, agent=RoutedAgent(agent_id="1001", sip_contact=contact)
            )
        return RouteResponse(queue_id=queue_id)

    decider.answers[RouteStage.AGENT_NEEDED] = agent_needed
    caller = await make_phone("13800000101")
    assert await caller.call(app.sip_address) == 200
    bridged = await decider.wait_for(K.BRIDGED)
    assert bridged.agent_id == "1001"
    return app, caller, agent, bridged.call_id


async def test_core_blind_transfer_to_agent_moves_the_caller_to_the_new_agent(
    make_switch: SwitchFactory, make_phone: PhoneFactory
) -> None:
    """R-IN-8: agent 1001 transfers to 1002: 1001 gets BYE, ``transferred`` (1002) is
    reported, the caller hears music while 1002 rings, then caller and 1002 hear each
    other."""
    decider = RecordingDecider()
    app, caller, agent_a, call_id = await bridged_call(make_switch, make_phone, decider)
    agent_b = await make_phone("1002", answer_after=1.5)
    assert caller.leg is not None and agent_a.leg is not None and agent_b.leg is not None

    await app.core.execute(
        call_id,
        TransferCall(
            destination=AgentDestination(agent_id="1002"), agent_sip_contact=contact_of(agent_b)
        ),
    )
    await asyncio.wait_for(agent_a.bye.wait(), 3)
    assert (await decider.wait_for(K.TRANSFERRED)).agent_id == "1002"
    # No ``released`` for 1001: deciders would take it for the end of the call.
    assert find_report(decider, K.RELEASED, LegRole.AGENT, agent_id="1001") is None
    await wait_report(decider, K.RINGING, LegRole.AGENT, agent_id="1002")
    assert await hears_moh(caller.leg, 0.6)  # waiting for 1002 to pick up

    await wait_report(decider, K.BRIDGED, agent_id="1002")
    assert agent_b.invites[0].request.from_.uri.user == "13800000101"
    assert app.core.calls[call_id].phase is Phase.BRIDGED
    agent_a.leg.received.clear()
    await tones_both_ways(caller.leg, agent_b.leg)
    assert_tone(agent_b.leg, 1000.0)
    assert_tone(caller.leg, 600.0)
    assert agent_a.leg.received == []  # the old agent is out of the call

    await agent_b.hang_up()
    await asyncio.wait_for(caller.bye.wait(), 3)
    assert (await decider.wait_for(K.RELEASED)).cause is ClearCause.NORMAL
    assert await media_calls_gone(app.engine.client)


async def test_core_blind_transfer_ring_no_answer_leaves_the_caller_queued(
    make_switch: SwitchFactory, make_phone: PhoneFactory
) -> None:
    """R-IN-8, R-IN-3: the transfer target lets it ring → ``failed`` (no_answer), the
    caller waits in the queue with music for the decider's next offer."""
    decider = RecordingDecider()
    app, caller, _agent, call_id = await bridged_call(
        make_switch, make_phone, decider, ring_timeout=0.8
    )
    sleepy = await make_phone("1002", answer_after=None)
    assert caller.leg is not None
    await app.core.execute(
        call_id,
        TransferCall(
            destination=AgentDestination(agent_id="1002"), agent_sip_contact=contact_of(sleepy)
        ),
    )
    failed = await wait_report(decider, K.FAILED, LegRole.AGENT, agent_id="1002", timeout=6)
    assert failed.cause is ClearCause.NO_ANSWER
    assert app.core.calls[call_id].phase is Phase.QUEUED
    assert await hears_moh(caller.leg)
    await caller.hang_up()
    assert (await decider.wait_for(K.RELEASED)).cause is ClearCause.CALLER_ABANDONED


async def test_core_blind_transfer_to_queue_plays_music_then_offers(
    make_switch: SwitchFactory, make_phone: PhoneFactory
) -> None:
    """R-IN-8: transfer to q_support: queue_enter(q_support) and route(agent_needed) for
    it, the caller hears music, a later offer to 1002 bridges with audio both ways."""
    decider = RecordingDecider()
    app, caller, agent_a, call_id = await bridged_call(make_switch, make_phone, decider)
    agent_b = await make_phone("1002")
    assert caller.leg is not None and agent_b.leg is not None

    await app.core.execute(
        call_id, TransferCall(destination=QueueDestination(queue_id="q_support"))
    )
    await asyncio.wait_for(agent_a.bye.wait(), 3)
    assert (await decider.wait_for(K.TRANSFERRED)).queue_id == "q_support"
    entered = [r for r in decider.reports if r.kind is K.QUEUE_ENTER]
    assert [r.queue_id for r in entered] == ["q_sales", "q_support"]
    assert decider.queries[-1].stage is RouteStage.AGENT_NEEDED
    assert decider.queries[-1].queue_id == "q_support"
    assert app.core.calls[call_id].phase is Phase.QUEUED
    assert await hears_moh(caller.leg)

    await app.core.execute(call_id, OfferToAgent(agent_id="1002", sip_contact=contact_of(agent_b)))
    await wait_report(decider, K.BRIDGED, agent_id="1002")
    await tones_both_ways(caller.leg, agent_b.leg)
    assert_tone(agent_b.leg, 1000.0)
    assert_tone(caller.leg, 600.0)
    await caller.hang_up()
    await asyncio.wait_for(agent_b.bye.wait(), 3)


async def test_core_blind_transfer_to_ivr_node_restarts_the_flow_there(
    make_switch: SwitchFactory, make_phone: PhoneFactory
) -> None:
    """R-IN-8: transfer to the IVR at node ``again`` runs the flow from there (its queue
    node puts the caller in q_back); a node the flow lacks is refused, nothing changes."""
    decider = RecordingDecider()
    app, caller, agent_a, call_id = await bridged_call(make_switch, make_phone, decider)
    assert caller.leg is not None

    with pytest.raises(CommandFailed) as bad_node:
        await app.core.execute(
            call_id, TransferCall(destination=IvrDestination(flow_id="direct", node="nope"))
        )
    assert bad_node.value.code is ErrorCode.INVALID_FIELD
    assert app.core.calls[call_id].phase is Phase.BRIDGED
    assert not agent_a.bye.is_set()

    await app.core.execute(
        call_id, TransferCall(destination=IvrDestination(flow_id="direct", node="again"))
    )
    await asyncio.wait_for(agent_a.bye.wait(), 3)
    await decider.wait_for(K.TRANSFERRED)
    entered = await wait_report(decider, K.QUEUE_ENTER, call_id=call_id, timeout=5)
    assert entered.queue_id == "q_sales"
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 5
    while loop.time() < deadline:
        queues = [r.queue_id for r in decider.reports if r.kind is K.QUEUE_ENTER]
        if queues == ["q_sales", "q_back"]:
            break
        await asyncio.sleep(0.02)
    assert queues == ["q_sales", "q_back"]
    assert app.core.calls[call_id].phase is Phase.QUEUED
    assert await hears_moh(caller.leg)
    await caller.hang_up()


async def test_core_blind_transfer_to_number_through_the_outbound_gateway(
    make_switch: SwitchFactory, make_phone: PhoneFactory
) -> None:
    """R-IN-8: without an outbound gateway a transfer to a number is refused
    (destination_unavailable) and the call is untouched; with one, the gateway gets an
    INVITE for the number, the ``external`` leg is bridged and audio crosses both ways."""
    decider = RecordingDecider()
    app, caller, agent_a, call_id = await bridged_call(make_switch, make_phone, decider)
    gateway = await make_phone("gw")
    assert caller.leg is not None and agent_a.leg is not None and gateway.leg is not None

    with pytest.raises(CommandFailed) as no_gateway:
        await app.core.execute(call_id, TransferCall(destination=NumberDestination(number=NUMBER)))
    assert no_gateway.value.code is ErrorCode.DESTINATION_UNAVAILABLE
    assert "outbound gateway" in no_gateway.value.message
    assert app.core.calls[call_id].phase is Phase.BRIDGED
    await tones_both_ways(caller.leg, agent_a.leg)
    assert_tone(caller.leg, 600.0)

    with_gateway(app, gateway)
    await app.core.execute(call_id, TransferCall(destination=NumberDestination(number=NUMBER)))
    await asyncio.wait_for(agent_a.bye.wait(), 3)
    assert (await decider.wait_for(K.TRANSFERRED)).detail == NUMBER
    await decider.wait_for(K.RINGING, LegRole.EXTERNAL)
    answered = await decider.wait_for(K.ANSWERED, LegRole.EXTERNAL)
    assert answered.agent_id is None
    assert gateway.invites[0].request.uri.user == NUMBER
    await tones_both_ways(caller.leg, gateway.leg)
    assert_tone(gateway.leg, 1000.0)
    assert_tone(caller.leg, 600.0)

    await gateway.hang_up()
    await asyncio.wait_for(caller.bye.wait(), 3)
    assert (await decider.wait_for(K.RELEASED, LegRole.EXTERNAL)).cause is ClearCause.NORMAL
    assert await media_calls_gone(app.engine.client)


async def test_core_ivr_transfer_to_number_uses_the_gateway_or_fails_clearly(
    make_switch: SwitchFactory, make_phone: PhoneFactory
) -> None:
    """R-IVR-2: a flow's transfer node with a number rings it through the outbound
    gateway (audio both ways); without a gateway the call fails with a clear reason."""
    decider = RecordingDecider()
    app = await make_switch(decider, flows=lambda flow_id, version: TO_NUMBER)
    caller = await make_phone("13800000102")
    assert await caller.call(app.sip_address) == 200
    failed = await decider.wait_for(K.FAILED)
    assert failed.detail is not None and "outbound gateway" in failed.detail
    await asyncio.wait_for(caller.bye.wait(), 3)

    decider.reports.clear()
    gateway = await make_phone("gw")
    with_gateway(app, gateway)
    caller2 = await make_phone("13800000103")
    assert caller2.leg is not None and gateway.leg is not None
    assert await caller2.call(app.sip_address) == 200
    await decider.wait_for(K.ANSWERED, LegRole.EXTERNAL)
    assert gateway.invites[0].request.uri.user == NUMBER
    await tones_both_ways(caller2.leg, gateway.leg)
    assert_tone(gateway.leg, 1000.0)
    assert_tone(caller2.leg, 600.0)
    await caller2.hang_up()
    await asyncio.wait_for(gateway.bye.wait(), 3)


async def test_core_transfer_refused_in_the_wrong_state(
    make_switch: SwitchFactory, make_phone: PhoneFactory
) -> None:
    """A queued call cannot be transferred (invalid_state); an agent without a softphone
    is destination_unavailable; a bridged call stays bridged after a refusal."""
    decider = RecordingDecider()
    app = await make_switch(decider, flows=direct)
    caller = await make_phone("13800000104")
    assert await caller.call(app.sip_address) == 200
    call_id = (await decider.wait_for(K.QUEUE_ENTER)).call_id
    with pytest.raises(CommandFailed) as queued:
        await app.core.execute(
            call_id, TransferCall(destination=QueueDestination(queue_id="q_other"))
        )
    assert queued.value.code is ErrorCode.INVALID_STATE
    await caller.hang_up()

    decider2 = RecordingDecider()
    app2, caller2, agent, call_id2 = await bridged_call(make_switch, make_phone, decider2)
    with pytest.raises(CommandFailed) as nobody:
        await app2.core.execute(
            call_id2, TransferCall(destination=AgentDestination(agent_id="1009"))
        )
    assert nobody.value.code is ErrorCode.DESTINATION_UNAVAILABLE
    with pytest.raises(CommandFailed) as itself:
        await app2.core.execute(
            call_id2,
            TransferCall(destination=AgentDestination(agent_id="1001")),
        )
    assert itself.value.code is ErrorCode.INVALID_STATE
    assert app2.core.calls[call_id2].phase is Phase.BRIDGED
    assert not agent.bye.is_set()
    await caller2.hang_up()
    await asyncio.wait_for(agent.bye.wait(), 3)
