"""Dead callers are reaped: RTP timeout (rtpengine ``query``) and RFC 4028 session expiry.

A real switch (rtpengine + SIP) with short intervals; the caller is our SipStack
with an RTP leg we own, the agent a registered softphone that answers. A caller
that stops sending RTP without BYE is hung up after the timeout: BYE to both legs,
``released`` with cause ``failed`` and a detail, rtpengine's call deleted. A caller
on hold with ``a=inactive`` is left alone. A caller that asked for a session timer
and stops refreshing is released with detail ``session expired`` (R-IN-3: the
agent is freed instead of sitting on a dead call).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
import pytest_asyncio

from cti_server.switch.core import SwitchApp, SwitchAppConfig
from cti_server.switch.core.reaper import ReaperConfig, caller_will_not_send
from cti_server.switch.media.process import RtpEngineConfig, build_command
from cti_server.switch.media.testing import Leg, audio_sdp, media_ports
from cti_server.switch.sip.timers import SessionTimerConfig
from shared.ivr import Flow, parse_flow
from shared.protocol.call import ClearCause
from shared.protocol.switch import (
    LegRole,
    RoutedAgent,
    RouteResponse,
    RouteStage,
    SwitchCallEventKind,
)
from tests.cti_server.switch.core.conftest import PROMPTS, PhoneFactory, _credentials
from tests.cti_server.switch.core.core_support import (
    FAST,
    Phone,
    RecordingDecider,
    media_calls_gone,
)

K = SwitchCallEventKind
STRAIGHT_TO_QUEUE = parse_flow(
    {"id": "direct", "entry": "q", "nodes": {"q": {"kind": "queue", "queue": "q_sales"}}}
)
REAPER = ReaperConfig(interval=0.25, timeout=1.5)

AppFactory = Callable[..., Awaitable[SwitchApp]]


def direct(flow_id: str | None, version: int | None) -> Flow:
    return STRAIGHT_TO_QUEUE


@pytest_asyncio.fixture
async def make_app(rtpengine_binary: str, tmp_path: Path) -> AsyncIterator[AppFactory]:
    apps: list[SwitchApp] = []

    async def factory(
        decider: RecordingDecider,
        *,
        reaper: ReaperConfig | None = REAPER,
        session_timers: SessionTimerConfig | None = None,
    ) -> SwitchApp:
        config = SwitchAppConfig(
            prompts_dir=PROMPTS,
            moh_file=tmp_path / "moh" / "default.wav",
            sip_host="127.0.0.1",
            sip_port=0,
            rtpengine=RtpEngineConfig(binary=rtpengine_binary, rtp_port_count=60, num_threads=2),
            recordings_dir=tmp_path / "recordings",
            sip_timers=FAST,
            ring_timeout=5.0,
            reaper=reaper,
            session_timers=session_timers,
        )
        app = SwitchApp(config, decider, _credentials, flows=direct)
        await app.start()
        apps.append(app)
        return app

    yield factory
    for app in apps:
        await app.stop()


async def bridged_call(
    app: SwitchApp,
    decider: RecordingDecider,
    make_phone: PhoneFactory,
    headers: list[tuple[str, str]] | None = None,
) -> tuple[Phone, Phone, str]:
    """A caller bridged to agent 1001 (who answers); returns caller, agent, call id."""
    agent = await make_phone("1001")
    assert await agent.register(app.sip_address, "pw-1001") == 200
    contact = app.core.registered_contacts()["1001"]
    decider.answers[RouteStage.AGENT_NEEDED] = lambda q: RouteResponse(
        queue_id=q.queue_id, agent=RoutedAgent(agent_id="1001", sip_contact=contact)
    )
    caller = await make_phone("13800000009")
    assert caller.stack is not None and caller.leg is not None
    host, port = app.sip_address
    result = await caller.stack.invite(
        f"sip:10086@{host}:{port}",
        sdp=audio_sdp(caller.leg.port, 1).encode(),
        from_uri="sip:13800000009@127.0.0.1",
        headers=headers or [],
    )
    assert result.status == 200 and result.dialog is not None and result.answer is not None
    caller.dialog = result.dialog
    caller.leg.remote = ("127.0.0.1", media_ports(result.answer.to_text())[0])
    bridged = await decider.wait_for(K.BRIDGED)
    return caller, agent, bridged.call_id


async def keep_talking(leg: Leg) -> None:
    """RTP at the real 20 ms pace (a live phone), until cancelled."""
    while True:
        await leg.send(leg.tone_packets(500.0, 0.2), interval=0.02)


@pytest.mark.slow
@pytest.mark.asyncio
async def test_core_reaper_hangs_up_caller_who_stops_sending_rtp(
    make_app: AppFactory, make_phone: PhoneFactory
) -> None:
    decider = RecordingDecider()
    app = await make_app(decider)
    caller, agent, call_id = await bridged_call(app, decider, make_phone)
    assert caller.leg is not None
    talking = asyncio.create_task(keep_talking(caller.leg))
    try:
        await asyncio.sleep(REAPER.timeout + 1.0)  # longer than the timeout: still alive
        assert call_id in app.core.calls, "a caller who sends RTP must not be reaped"
        assert decider.find(K.RELEASED) is None
    finally:
        talking.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await talking
    loop = asyncio.get_running_loop()
    died = loop.time()
    released = await decider.wait_for(K.RELEASED, timeout=REAPER.timeout + 5)
    assert loop.time() - died >= REAPER.timeout - 0.3
    assert released.cause is ClearCause.FAILED
    assert released.detail is not None and released.detail.startswith("no RTP from the caller")
    await asyncio.wait_for(agent.bye.wait(), 3)  # the agent is freed
    await asyncio.wait_for(caller.bye.wait(), 3)  # the (dead) caller is sent BYE too
    assert (await decider.wait_for(K.RELEASED, LegRole.AGENT)).agent_id == "1001"
    assert call_id not in app.core.calls
    assert await media_calls_gone(app.engine.client)
    assert app.reaper is not None and app.reaper.reaped == [call_id]


@pytest.mark.slow
@pytest.mark.asyncio
async def test_core_reaper_spares_caller_on_inactive_hold_then_reaps_it(
    make_app: AppFactory, make_phone: PhoneFactory
) -> None:
    """A caller that holds with ``a=inactive`` sends nothing on purpose: not reaped.
    Once it resumes (sendrecv) and goes silent it is reaped."""
    decider = RecordingDecider()
    app = await make_app(decider)
    caller, agent, call_id = await bridged_call(app, decider, make_phone)
    assert caller.stack is not None and caller.leg is not None and caller.dialog is not None
    hold = await caller.stack.request(
        caller.dialog, "INVITE", body=audio_sdp(caller.leg.port, 1, "inactive").encode()
    )
    assert hold.status == 200
    assert caller_will_not_send(app.core.calls[call_id].caller_sdp)
    await asyncio.sleep(REAPER.timeout + 1.0)
    assert call_id in app.core.calls and decider.find(K.RELEASED) is None

    resume = await caller.stack.request(
        caller.dialog, "INVITE", body=audio_sdp(caller.leg.port, 1).encode()
    )
    assert resume.status == 200
    released = await decider.wait_for(K.RELEASED, timeout=REAPER.timeout + 5)
    assert released.cause is ClearCause.FAILED
    await asyncio.wait_for(agent.bye.wait(), 3)


@pytest.mark.slow
@pytest.mark.asyncio
async def test_core_session_expiry_releases_call_and_frees_agent(
    make_app: AppFactory, make_phone: PhoneFactory
) -> None:
    """RFC 4028: the caller asks for a 3 s session timer and never refreshes (its RTP
    keeps flowing, so only the session timer can catch it)."""
    decider = RecordingDecider()
    app = await make_app(
        decider, reaper=None, session_timers=SessionTimerConfig(min_se=2, default_interval=None)
    )
    caller, agent, call_id = await bridged_call(
        app,
        decider,
        make_phone,
        headers=[("Supported", "timer"), ("Session-Expires", "3;refresher=uac")],
    )
    assert caller.leg is not None
    talking = asyncio.create_task(keep_talking(caller.leg))
    try:
        released = await decider.wait_for(K.RELEASED, timeout=8)
    finally:
        talking.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await talking
    assert released.cause is ClearCause.FAILED and released.detail == "session expired"
    await asyncio.wait_for(caller.bye.wait(), 3)
    await asyncio.wait_for(agent.bye.wait(), 3)
    assert (await decider.wait_for(K.RELEASED, LegRole.AGENT)).agent_id == "1001"
    assert call_id not in app.core.calls
    assert await media_calls_gone(app.engine.client)


def test_core_reaper_hold_detection_and_config() -> None:
    assert caller_will_not_send(audio_sdp(4000, 1, "inactive"))
    assert caller_will_not_send(audio_sdp(4000, 1, "recvonly"))
    assert not caller_will_not_send(audio_sdp(4000, 1, "sendonly"))
    assert not caller_will_not_send(audio_sdp(4000, 1))
    assert caller_will_not_send(audio_sdp(0, 1))
    with pytest.raises(ValueError, match="positive"):
        ReaperConfig(interval=0)


@pytest.mark.asyncio
async def test_core_reaper_queued_call_whose_media_rtpengine_dropped(
    make_app: AppFactory, make_phone: PhoneFactory
) -> None:
    """rtpengine's own ``--timeout`` (here: a delete behind the core's back) removed the
    media of a caller waiting in the queue: the reaper ends the call cleanly."""
    decider = RecordingDecider()
    app = await make_app(decider)
    caller = await make_phone("13800000012")
    assert await caller.call(app.sip_address) == 200
    entered = await decider.wait_for(K.QUEUE_ENTER)
    await app.engine.client.delete(entered.call_id)
    released = await decider.wait_for(K.RELEASED, timeout=5)
    assert released.cause is ClearCause.FAILED
    assert released.detail is not None and released.detail.startswith("media gone")
    leave = await decider.wait_for(K.QUEUE_LEAVE)
    assert leave.queue_id == "q_sales" and leave.detail == released.detail
    await asyncio.wait_for(caller.bye.wait(), 3)
    assert entered.call_id not in app.core.calls


def test_core_reaper_daemon_timeouts_reach_rtpengine(tmp_path: Path) -> None:
    argv = build_command(
        "/usr/bin/rtpengine",
        RtpEngineConfig(rtp_timeout=90, silent_timeout=3600),
        ng_port=2223,
        port_range=(10000, 10099),
        pidfile=tmp_path / "pid",
    )
    assert "--timeout=90" in argv and "--silent-timeout=3600" in argv
    default = build_command(
        "/usr/bin/rtpengine",
        RtpEngineConfig(),
        ng_port=2223,
        port_range=(10000, 10099),
        pidfile=tmp_path / "pid",
    )
    assert not any(a.startswith(("--silent-timeout", "--timeout")) for a in default)
