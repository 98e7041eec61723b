"""The switch's call path for real: SIP over sockets, a real rtpengine, RTP we own.

A caller (our SipStack as UAC) dials the switch, hears the greeting, presses 1 by
RFC 4733, hears music on hold in the queue; the agent's softphone (a SipStack
registered with digest) rings and answers, and tones prove the audio both ways.
"""

from __future__ import annotations

import asyncio

import pytest

from cti_server.switch.core.calls import Phase
from cti_server.switch.core.queue import MOH_NOTES
from cti_server.switch.media.rtp import dominant_frequency
from cti_server.switch.media.testing import Leg
from shared.protocol.call import ClearCause
from shared.protocol.switch import (
    LegRole,
    OfferToAgent,
    RouteResponse,
    RouteStage,
    SwitchCallEventKind,
)
from tests.cti_server.switch.core.conftest import PhoneFactory, SwitchFactory
from tests.cti_server.switch.core.core_support import (
    RecordingDecider,
    heard_level,
    media_calls_gone,
)

pytestmark = pytest.mark.asyncio

K = SwitchCallEventKind


def assert_tone(leg: Leg, frequency: float) -> None:
    samples = leg.pcmu_samples()
    assert len(samples) >= 1600, f"only {len(samples)} samples arrived"
    assert abs(dominant_frequency(samples) - frequency) <= 5


async def hears_moh(leg: Leg, seconds: float = 0.7) -> bool:
    """True if a 100 ms window of what the leg hears is one of the music's notes."""
    leg.received.clear()
    await asyncio.sleep(seconds)
    samples = leg.pcmu_samples()
    for start in range(0, len(samples) - 800, 400):
        freq = dominant_frequency(samples[start : start + 800], low=400, high=1000)
        if any(abs(freq - note) <= 10 for note in MOH_NOTES):
            return True
    return False


async def tones_both_ways(caller: Leg, agent: Leg) -> None:
    caller.received.clear()
    agent.received.clear()
    await asyncio.gather(caller.send_tone(1000.0, 0.4), agent.send_tone(600.0, 0.4))
    await agent.wait_packets(15)
    await caller.wait_packets(15)


async def test_core_ivr_menu_queue_agent_bridge_audio_both_ways(
    make_switch: SwitchFactory, make_phone: PhoneFactory
) -> None:
    """R-IVR-1, R-IVR-2, R-IVR-4, R-IN-3: greeting heard, DTMF 1 picks billing, music on
    hold in the queue, the registered agent rings and answers, 1 kHz caller→agent and
    600 Hz agent→caller are measured; the agent's BYE ends the caller's call."""
    decider = RecordingDecider(
        answers={RouteStage.ARRIVAL: lambda q: RouteResponse(flow_id="default", tier="normal")}
    )
    app = await make_switch(decider)
    agent = await make_phone("1001")
    assert await agent.register(app.sip_address, "pw-1001") == 200
    assert [(r.sip_user, r.registered) for r in decider.registrations] == [("1001", True)]
    contact = app.core.registered_contacts()["1001"]

    caller = await make_phone("13900139000")
    assert caller.leg is not None and agent.leg is not None
    assert await caller.call(app.sip_address) == 200
    arrived = await decider.wait_for(K.ARRIVED)
    call_id = arrived.call_id
    assert decider.queries[0].caller == "13900139000"
    assert decider.queries[0].called == "10086"

    # The greeting is heard (speech energy, not silence); audio first so DTMF is logged.
    await caller.leg.send_tone(440.0, 0.1)
    assert await heard_level(caller.leg, 0.5) > 300
    await caller.leg.send(caller.leg.dtmf_packets("1"))
    choice = await decider.wait_for(K.MENU_CHOICE)
    assert choice.node == "main_menu" and choice.detail == "1 → billing"

    entered = await decider.wait_for(K.QUEUE_ENTER, timeout=6)
    assert entered.queue_id == "q_billing"
    needed = [q for q in decider.queries if q.stage is RouteStage.AGENT_NEEDED]
    assert needed[0].business_selection == "billing" and needed[0].queue_id == "q_billing"
    assert any(step.kind == "menu_choice" for step in needed[0].trajectory)
    assert app.core.calls[call_id].phase is Phase.QUEUED
    assert await hears_moh(caller.leg)

    await app.core.execute(
        call_id, OfferToAgent(agent_id="1001", sip_contact=contact, ring_timeout_seconds=5)
    )
    await decider.wait_for(K.RINGING, LegRole.AGENT)
    bridged = await decider.wait_for(K.BRIDGED)
    assert bridged.agent_id == "1001"
    assert (await decider.wait_for(K.ANSWERED, LegRole.AGENT)).agent_id == "1001"
    assert agent.invites[0].request.from_.uri.user == "13900139000"

    await tones_both_ways(caller.leg, agent.leg)
    assert_tone(agent.leg, 1000.0)
    assert_tone(caller.leg, 600.0)

    await agent.hang_up()
    await asyncio.wait_for(caller.bye.wait(), 3)
    released = await decider.wait_for(K.RELEASED)
    assert released.cause is ClearCause.NORMAL
    assert (await decider.wait_for(K.RELEASED, LegRole.AGENT)).agent_id == "1001"
    assert call_id not in app.core.calls
    assert await media_calls_gone(app.engine.client)
