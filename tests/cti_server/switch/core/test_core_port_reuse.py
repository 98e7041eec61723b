"""An agent softphone that keeps its RTP port (and SSRC, sequence, clock) from one call
to the next, the next call coming right after rtpengine deleted the previous one
(``delete delay`` 0): audio must cross both ways on every call (docs/switch.md, "Known
gaps": the once-seen loss on port reuse)."""

from __future__ import annotations

import asyncio

import pytest

from shared.ivr import Flow, parse_flow
from shared.protocol.switch import LegRole, OfferToAgent, SwitchCallEventKind
from tests.cti_server.switch.core.conftest import PhoneFactory, SwitchFactory
from tests.cti_server.switch.core.core_support import (
    RecordingDecider,
    media_calls_gone,
    wait_report,
)
from tests.cti_server.switch.core.test_core_call_path import assert_tone, tones_both_ways

pytestmark = [pytest.mark.asyncio, pytest.mark.slow]

K = SwitchCallEventKind
CALLS = 5

STRAIGHT_TO_QUEUE = parse_flow(
    {"id": "direct", "entry": "q", "nodes": {"q": {"kind": "queue", "queue": "q_sales"}}}
)


def direct(flow_id: str | None, version: int | None) -> Flow:
    return STRAIGHT_TO_QUEUE


async def test_core_agent_rtp_port_reused_call_after_call(
    make_switch: SwitchFactory, make_phone: PhoneFactory
) -> None:
    """R-IN-3: five calls in a row to the same agent softphone on the same RTP port,
    each started as soon as the previous one is deleted in rtpengine: 1 kHz caller →
    agent and 600 Hz agent → caller on every one."""
    decider = RecordingDecider()
    app = await make_switch(decider, flows=direct)
    agent = await make_phone("1001", answer_after=0.1)
    assert await agent.register(app.sip_address, "pw-1001") == 200
    contact = app.core.registered_contacts()["1001"]
    assert agent.leg is not None
    port = agent.leg.port
    for n in range(CALLS):
        caller = await make_phone(f"1380000005{n}")
        assert caller.leg is not None
        assert await caller.call(app.sip_address) == 200
        entered = [r for r in decider.reports if r.kind is K.QUEUE_ENTER]
        while len(entered) <= n:
            await asyncio.sleep(0.02)
            entered = [r for r in decider.reports if r.kind is K.QUEUE_ENTER]
        call_id = entered[n].call_id
        agent.answered.clear()
        agent.bye.clear()
        await app.core.execute(
            call_id, OfferToAgent(agent_id="1001", sip_contact=contact, ring_timeout_seconds=5)
        )
        await asyncio.wait_for(agent.answered.wait(), 5)
        while not any(r.kind is K.BRIDGED and r.call_id == call_id for r in decider.reports):
            await asyncio.sleep(0.02)
        assert agent.leg.port == port  # the same RTP port, call after call
        await tones_both_ways(caller.leg, agent.leg)
        assert_tone(agent.leg, 1000.0)
        assert_tone(caller.leg, 600.0)
        await agent.hang_up()
        await asyncio.wait_for(caller.bye.wait(), 5)
        await wait_report(decider, K.RELEASED, LegRole.CALLER, call_id=call_id)
        assert await media_calls_gone(app.engine.client)
