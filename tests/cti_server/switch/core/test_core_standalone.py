"""No-CTI mode: the StandaloneDecider routes by itself; SIP INFO DTMF; pure helpers."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from pathlib import Path

import pytest

from cti_server.switch.core import StandaloneDecider, write_moh_wav
from cti_server.switch.core.b2bua import dtmf_from_info
from cti_server.switch.core.queue import MOH_NOTES, NOTE_SECONDS, moh_samples
from cti_server.switch.media.rtp import dominant_frequency
from cti_server.switch.ports import CallReport, RegistrationReport, RouteQuery
from cti_server.switch.sip import Headers, SipRequest, parse_uri
from shared.protocol.call import ClearCause
from shared.protocol.switch import LegRole, RouteStage, SwitchAction, SwitchCallEventKind
from tests.cti_server.switch.core.conftest import PhoneFactory, SwitchFactory

K = SwitchCallEventKind


class FakeControl:
    def __init__(self, contacts: dict[str, str]) -> None:
        self.contacts = contacts
        self.executed: list[tuple[str, SwitchAction]] = []

    async def execute(self, call_id: str, action: SwitchAction) -> None:
        self.executed.append((call_id, action))

    def registered_contacts(self) -> Mapping[str, str]:
        return self.contacts


def info(content_type: str, body: bytes) -> SipRequest:
    headers = Headers([("Content-Type", content_type)])
    return SipRequest("INFO", parse_uri("sip:switch@127.0.0.1"), headers, body)


def test_core_sip_info_dtmf_bodies_are_parsed() -> None:
    """R-IVR-4 (SIP INFO): dtmf-relay and dtmf bodies give one key; junk gives none."""
    assert dtmf_from_info(info("application/dtmf-relay", b"Signal=5\r\nDuration=160\r\n")) == "5"
    assert dtmf_from_info(info("application/dtmf-relay", b"Signal= #\r\n")) == "#"
    assert dtmf_from_info(info("application/dtmf", b"11")) == "#"
    assert dtmf_from_info(info("application/dtmf-relay", b"Signal=55")) is None
    assert dtmf_from_info(info("text/plain", b"Signal=5")) is None


def test_core_moh_is_the_documented_notes(tmp_path: Path) -> None:
    samples = moh_samples()
    per_note = round(NOTE_SECONDS * 8000)
    assert len(samples) == per_note * len(MOH_NOTES)
    middle = samples[per_note // 4 : per_note // 4 + 1600]
    assert abs(dominant_frequency(middle) - MOH_NOTES[0]) <= 5
    path = write_moh_wav(tmp_path / "moh" / "m.wav")
    assert path.stat().st_size == 44 + 2 * len(samples)


@pytest.mark.asyncio
async def test_core_standalone_decider_fifo_longest_idle_and_rona_requeue() -> None:
    """R-IN-3: default flow; first waiting call goes to the longest-idle registered agent;
    a ring-no-answer puts the call back at the head and skips that agent for a while."""
    now = [100.0]
    decider = StandaloneDecider(ring_timeout=7, rona_cooldown=30, clock=lambda: now[0])
    control = FakeControl({})
    decider.attach(control)
    arrival = await decider.route(RouteQuery(call_id="c1", stage=RouteStage.ARRIVAL))
    assert arrival.flow_id == "default"
    waiting = await decider.route(
        RouteQuery(call_id="c1", stage=RouteStage.AGENT_NEEDED, queue_id="q_sales")
    )
    assert waiting.agent is None and list(decider.waiting) == ["c1"]
    await decider.route(RouteQuery(call_id="c2", stage=RouteStage.AGENT_NEEDED))

    control.contacts["1002"] = "sip:1002@127.0.0.1:5071"
    decider.registration(RegistrationReport(sip_user="1002", registered=True))
    now[0] = 101.0
    control.contacts["1001"] = "sip:1001@127.0.0.1:5070"
    decider.registration(RegistrationReport(sip_user="1001", registered=True))
    await asyncio.sleep(0)
    offers = [(c, a.agent_id) for c, a in control.executed]  # type: ignore[union-attr]
    assert offers == [("c1", "1002"), ("c2", "1001")]
    assert decider.waiting == type(decider.waiting)()

    decider.report(
        CallReport(
            call_id="c1",
            kind=K.FAILED,
            at=0,
            leg=LegRole.AGENT,
            agent_id="1002",
            cause=ClearCause.NO_ANSWER,
        )
    )
    assert list(decider.waiting) == ["c1"]  # 1002 cools down, 1001 is busy with c2
    decider.report(
        CallReport(call_id="c2", kind=K.RELEASED, at=0, leg=LegRole.AGENT, agent_id="1001")
    )
    await asyncio.sleep(0)
    assert (control.executed[-1][0], control.executed[-1][1].agent_id) == ("c1", "1001")  # type: ignore[union-attr]


@pytest.mark.asyncio
async def test_core_standalone_mode_info_dtmf_reaches_an_agent(
    make_switch: SwitchFactory, make_phone: PhoneFactory
) -> None:
    """R-IN-3 without a CTI server: default flow, SIP INFO key 0 (agent), FIFO to the
    registered softphone, bridged with audio proven caller→agent."""
    decider = StandaloneDecider(ring_timeout=5)
    app = await make_switch(decider)
    decider.attach(app.core)
    agent = await make_phone("1001")
    assert await agent.register(app.sip_address, "pw-1001") == 200
    caller = await make_phone("13700000000")
    assert caller.stack is not None and caller.leg is not None and agent.leg is not None
    assert await caller.call(app.sip_address) == 200
    assert caller.dialog is not None
    await asyncio.sleep(0.3)
    response = await caller.stack.request(
        caller.dialog,
        "INFO",
        body=b"Signal=0\r\nDuration=160\r\n",
        content_type="application/dtmf-relay",
    )
    assert response.status == 200
    await asyncio.wait_for(agent.answered.wait(), 8)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 2
    while not any(r.kind is K.BRIDGED for r in decider.reports) and loop.time() < deadline:
        await asyncio.sleep(0.02)
    choice = next(r for r in decider.reports if r.kind is K.MENU_CHOICE)
    assert choice.detail == "0 → agent"
    agent.leg.received.clear()
    await caller.leg.send_tone(1000.0, 0.4)
    await agent.leg.wait_packets(15)
    assert abs(dominant_frequency(agent.leg.pcmu_samples()) - 1000.0) <= 5
    await caller.hang_up()
    await asyncio.wait_for(agent.bye.wait(), 3)
    deadline = loop.time() + 2
    while decider.busy and loop.time() < deadline:
        await asyncio.sleep(0.02)
    assert decider.busy == {}  # the agent is free for the next caller
