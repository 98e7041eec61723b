"""The switch ending calls under failure (R-IN-3, docs/switch.md "Known gaps"): a media
failure while bridging ends the call; stopping the switch does not wait for callers who
vanished, one after the other."""

from __future__ import annotations

import asyncio
import dataclasses
import socket
from collections.abc import Callable

import pytest

from shared.ivr import Flow, parse_flow
from shared.protocol.call import ClearCause
from shared.protocol.switch import LegRole, OfferToAgent, SwitchCallEventKind
from tests.cti_server.switch.core.conftest import PhoneFactory, SwitchFactory
from tests.cti_server.switch.core.core_support import (
    Phone,
    RecordingDecider,
    media_calls_gone,
    wait_report,
)

pytestmark = pytest.mark.asyncio

K = SwitchCallEventKind

STRAIGHT_TO_QUEUE = parse_flow(
    {"id": "direct", "entry": "q", "nodes": {"q": {"kind": "queue", "queue": "q_sales"}}}
)


def direct(flow_id: str | None, version: int | None) -> Flow:
    return STRAIGHT_TO_QUEUE


async def until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.02)


async def vanish(phone: Phone) -> socket.socket:
    """The phone disappears without a word: its SIP port then swallows everything
    (no response, no ICMP), as a caller whose network went away."""
    assert phone.stack is not None
    host, port = phone.stack.local_address("UDP")
    await phone.stack.close()
    phone.stack = None
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for _ in range(100):  # the transport closes on a later loop iteration
        try:
            silent.bind((host, port))
        except OSError:
            await asyncio.sleep(0.02)
        else:
            return silent
    silent.close()
    raise AssertionError(f"port {port} stays in use")


async def test_core_media_failure_while_bridging_ends_the_call(
    make_switch: SwitchFactory, make_phone: PhoneFactory
) -> None:
    """rtpengine lost the call while the agent's phone rang: when the agent answers the
    bridge cannot be made, so the call ends at once: both phones get a BYE, the agent
    leg and the call are ``released`` with cause ``failed`` and a media detail, the call
    is not put back in the queue (no ``failed`` agent leg, nobody else is offered it)."""
    decider = RecordingDecider()
    app = await make_switch(decider, flows=direct)
    agent = await make_phone("1001", answer_after=0.8)
    assert await agent.register(app.sip_address, "pw-1001") == 200
    caller = await make_phone("13800000031")
    assert await caller.call(app.sip_address) == 200
    call_id = (await wait_report(decider, K.QUEUE_ENTER)).call_id
    contact = app.core.registered_contacts()["1001"]
    await app.core.execute(
        call_id, OfferToAgent(agent_id="1001", sip_contact=contact, ring_timeout_seconds=5)
    )
    await wait_report(decider, K.RINGING, LegRole.AGENT)
    await app.engine.client.delete(call_id)  # the media engine drops the call

    released = await wait_report(decider, K.RELEASED, timeout=8)
    assert released.cause is ClearCause.FAILED
    assert released.detail is not None and "media" in released.detail
    leg = await wait_report(decider, K.RELEASED, LegRole.AGENT)
    assert (leg.agent_id, leg.cause) == ("1001", ClearCause.FAILED)
    assert leg.detail is not None and "media" in leg.detail
    await asyncio.wait_for(caller.bye.wait(), 5)
    await asyncio.wait_for(agent.bye.wait(), 5)
    assert call_id not in app.core.calls
    assert decider.find(K.FAILED, LegRole.AGENT) is None  # not back in the queue
    assert decider.find(K.BRIDGED) is None
    assert await media_calls_gone(app.engine.client)


@pytest.mark.slow
async def test_core_close_ends_calls_concurrently_within_its_bound(
    make_switch: SwitchFactory, make_phone: PhoneFactory
) -> None:
    """Three callers vanished (their BYE is never answered: 3.2 s each with the test
    timers, 32 s with real ones): ``close`` sends the BYEs at once and gives up after
    ``close_timeout``; every call is still reported released and deleted in rtpengine."""
    decider = RecordingDecider()
    app = await make_switch(decider, flows=direct)
    callers = [await make_phone(f"1380000004{n}") for n in range(3)]
    for caller in callers:
        assert await caller.call(app.sip_address) == 200
    await until(lambda: len(_entered(decider)) == 3, 10, "3 calls queued")
    call_ids = set(_entered(decider))
    sockets = [await vanish(caller) for caller in callers]
    try:
        app.core.config = dataclasses.replace(app.core.config, close_timeout=1.0)
        loop = asyncio.get_running_loop()
        started = loop.time()
        await app.core.close()
        elapsed = loop.time() - started
        assert elapsed < 2.5, f"close took {elapsed:.1f} s"
        released = {
            r.call_id: r
            for r in decider.reports
            if r.kind is K.RELEASED and r.leg is LegRole.CALLER
        }
        assert set(released) == call_ids
        assert all(r.detail == "switch stopping" for r in released.values())
        assert app.core.calls == {}
        assert await media_calls_gone(app.engine.client)
    finally:
        for sock in sockets:
            sock.close()


def _entered(decider: RecordingDecider) -> list[str]:
    return [r.call_id for r in decider.reports if r.kind is K.QUEUE_ENTER]
