"""Queue, ring-no-answer, abandon, hold/retrieve and commands on a real switch."""

from __future__ import annotations

import asyncio

import pytest

from cti_server.switch.core.calls import Phase
from cti_server.switch.ports import CommandFailed
from shared.ivr import Flow, parse_flow
from shared.protocol.call import AgentDestination, ClearCause
from shared.protocol.errors import ErrorCode
from shared.protocol.switch import (
    Bridge,
    Conference,
    Hold,
    LegRole,
    OfferToAgent,
    RecordStart,
    RecordStop,
    RoutedAgent,
    RouteResponse,
    RouteStage,
    SwitchCallEventKind,
    TransferCall,
    Unhold,
)
from tests.cti_server.switch.core.conftest import PhoneFactory, SwitchFactory
from tests.cti_server.switch.core.core_support import RecordingDecider, media_calls_gone
from tests.cti_server.switch.core.test_core_call_path import (
    assert_tone,
    hears_moh,
    tones_both_ways,
)

pytestmark = pytest.mark.asyncio

K = SwitchCallEventKind

STRAIGHT_TO_QUEUE = parse_flow(
    {"id": "direct", "entry": "q", "nodes": {"q": {"kind": "queue", "queue": "q_sales"}}}
)


def direct(flow_id: str | None, version: int | None) -> Flow:
    return STRAIGHT_TO_QUEUE


async def test_core_ring_no_answer_back_in_queue_then_caller_abandons(
    make_switch: SwitchFactory, make_phone: PhoneFactory
) -> None:
    """R-IN-3: an agent who lets it ring → ``failed`` (no_answer) on the agent leg, the
    caller stays queued hearing music; the caller hangs up → abandoned, media deleted."""
    decider = RecordingDecider()
    app = await make_switch(decider, flows=direct)
    sleepy = await make_phone("1002", answer_after=None)
    assert await sleepy.register(app.sip_address, "pw-1002") == 200
    caller = await make_phone("13800000001")
    assert caller.leg is not None
    assert await caller.call(app.sip_address) == 200
    entered = await decider.wait_for(K.QUEUE_ENTER)
    call_id = entered.call_id
    assert entered.queue_id == "q_sales"

    contact = app.core.registered_contacts()["1002"]
    await app.core.execute(
        call_id, OfferToAgent(agent_id="1002", sip_contact=contact, ring_timeout_seconds=0.6)
    )
    failed = await decider.wait_for(K.FAILED, LegRole.AGENT, timeout=5)
    assert (failed.agent_id, failed.cause, failed.detail) == (
        "1002",
        ClearCause.NO_ANSWER,
        "ring-no-answer",
    )
    assert len(sleepy.invites) == 1 and sleepy.invites[0].cancelled.is_set()
    assert app.core.calls[call_id].phase is Phase.QUEUED
    assert await hears_moh(caller.leg)

    await caller.hang_up()
    released = await decider.wait_for(K.RELEASED)
    assert released.cause is ClearCause.CALLER_ABANDONED
    leave = await decider.wait_for(K.QUEUE_LEAVE)
    assert leave.detail == "abandoned"
    assert call_id not in app.core.calls
    assert await media_calls_gone(app.engine.client)


async def test_core_hold_plays_moh_to_caller_and_retrieve_restores_audio(
    make_switch: SwitchFactory, make_phone: PhoneFactory
) -> None:
    """R-IN-8: hold → the caller hears music, the agent hears nothing of the caller;
    retrieve → tones cross both ways again. Recording start/stop reported (R-SUP-3)."""
    decider = RecordingDecider()
    app = await make_switch(decider, flows=direct)
    agent = await make_phone("1001")
    assert await agent.register(app.sip_address, "pw-1001") == 200
    contact = app.core.registered_contacts()["1001"]
    decider.answers[RouteStage.AGENT_NEEDED] = lambda q: RouteResponse(
        queue_id=q.queue_id, agent=RoutedAgent(agent_id="1001", sip_contact=contact)
    )
    caller = await make_phone("13800000002")
    assert caller.leg is not None and agent.leg is not None
    assert await caller.call(app.sip_address) == 200
    bridged = await decider.wait_for(K.BRIDGED)
    call_id = bridged.call_id
    await app.core.execute(call_id, Bridge(agent_id="1001"))  # already bridged: no-op

    await app.core.execute(call_id, Hold(agent_id="1001"))
    assert app.core.calls[call_id].phase is Phase.HELD
    await decider.wait_for(K.HELD)
    agent.leg.received.clear()
    hold_task = asyncio.create_task(caller.leg.send_tone(1000.0, 0.4))
    assert await hears_moh(caller.leg)
    await hold_task
    assert agent.leg.received == []  # the agent hears nothing of the held caller

    await app.core.execute(call_id, Unhold(agent_id="1001"))
    await decider.wait_for(K.RETRIEVED)
    await tones_both_ways(caller.leg, agent.leg)
    assert_tone(agent.leg, 1000.0)
    assert_tone(caller.leg, 600.0)

    await app.core.execute(call_id, RecordStart(recording_id="rec-1"))
    await app.core.execute(call_id, RecordStop(recording_id="rec-1"))
    assert (await decider.wait_for(K.RECORDING_STOPPED)).detail == "rec-1"

    await caller.hang_up()
    await asyncio.wait_for(agent.bye.wait(), 3)
    assert (await decider.wait_for(K.RELEASED)).cause is ClearCause.NORMAL
    assert await media_calls_gone(app.engine.client)


async def test_core_commands_not_yet_supported_and_unknown_calls_fail_typed(
    make_switch: SwitchFactory, make_phone: PhoneFactory
) -> None:
    decider = RecordingDecider()
    app = await make_switch(decider, flows=direct)
    with pytest.raises(CommandFailed) as unknown:
        await app.core.execute("c-nope", Hold(agent_id="1001"))
    assert unknown.value.code is ErrorCode.UNKNOWN_CALL
    caller = await make_phone("13800000003")
    assert await caller.call(app.sip_address) == 200
    call_id = (await decider.wait_for(K.QUEUE_ENTER)).call_id
    for action in (
        TransferCall(destination=AgentDestination(agent_id="1002")),
        Conference(consult_call_id="c-other"),
    ):
        with pytest.raises(CommandFailed) as not_talking_yet:
            await app.core.execute(call_id, action)
        assert not_talking_yet.value.code is ErrorCode.INVALID_STATE
    with pytest.raises(CommandFailed) as not_talking:
        await app.core.execute(call_id, Hold(agent_id="1001"))
    assert not_talking.value.code is ErrorCode.INVALID_STATE
    with pytest.raises(CommandFailed) as bad_contact:
        await app.core.execute(call_id, OfferToAgent(agent_id="1001", sip_contact="sip:"))
    assert bad_contact.value.code is ErrorCode.INVALID_FIELD
    await caller.hang_up()
    assert (await decider.wait_for(K.RELEASED)).cause is ClearCause.CALLER_ABANDONED
