"""The media engine for real: rtpengine launched by RtpEngineProcess, audio proven by tone.

Each test owns the caller's and the agent's media sockets, signals the call
through the ng client, pushes hand-built RTP and checks what arrives.
"""

from __future__ import annotations

import asyncio
import os
import wave
from pathlib import Path

import pytest

from cti_server.switch.media.dtmf import DtmfListener
from cti_server.switch.media.ng import (
    CallNotFoundError,
    MediaOptions,
    NgClient,
    NgCommandError,
    NgTimeoutError,
)
from cti_server.switch.media.process import (
    NgPortSharedError,
    RtpEngineConfig,
    RtpEngineNotFoundError,
    RtpEngineProcess,
    RtpEngineStartError,
)
from cti_server.switch.media.rtp import (
    PT_PCMU,
    TelephoneEvent,
    dominant_frequency,
    rms,
    tone,
    zero_crossing_frequency,
)
from cti_server.switch.media.testing import Leg, audio_sdp, media_ports, setup_call


def assert_tone(samples: list[int], frequency: float) -> None:
    assert len(samples) >= 1600, f"only {len(samples)} samples arrived"
    assert abs(dominant_frequency(samples) - frequency) <= 5
    assert abs(zero_crossing_frequency(samples) - frequency) <= 0.05 * frequency


@pytest.mark.asyncio
async def test_media_engine_answers_ping_and_statistics(engine: RtpEngineProcess) -> None:
    await engine.client.ping()
    stats = await engine.client.statistics()
    assert b"currentstatistics" in stats
    assert await engine.client.list_calls() == []
    assert engine.port_range[1] - engine.port_range[0] + 1 == 60


@pytest.mark.asyncio
async def test_media_relays_tone_both_ways(engine: RtpEngineProcess, legs: tuple[Leg, Leg]) -> None:
    """Audio proven, not assumed: a 1 kHz tone crosses caller→agent, 600 Hz agent→caller."""
    caller, agent = legs
    call = await setup_call(engine.client, caller, agent)
    await asyncio.gather(caller.send_tone(1000.0), agent.send_tone(600.0))
    await agent.wait_packets(15)
    await caller.wait_packets(15)
    assert_tone(agent.pcmu_samples(), 1000.0)
    assert_tone(caller.pcmu_samples(), 600.0)
    info = await engine.client.query(call.call_id)
    assert set(info.participants) == {call.caller_tag, call.agent_tag}
    assert info.participants[call.caller_tag].rtp_packets == 15
    assert await engine.client.list_calls() == [call.call_id]


@pytest.mark.asyncio
async def test_media_play_media_wav_into_caller_leg(
    engine: RtpEngineProcess, legs: tuple[Leg, Leg], tmp_path: Path
) -> None:
    """R-IVR-1: a prompt (8 kHz WAV) is heard by the caller, and the agent hears none of it."""
    caller, agent = legs
    prompt = tmp_path / "prompt.wav"
    with wave.open(str(prompt), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"".join(s.to_bytes(2, "little", signed=True) for s in tone(440, 0.4)))
    call = await setup_call(engine.client, caller, agent)
    duration = await engine.client.play_media(call.call_id, call.caller_tag, str(prompt))
    assert duration == 400
    await caller.wait_packets(20)  # played in real time: 20 ms per packet
    assert {p.payload_type for p in caller.received} == {PT_PCMU}
    assert_tone(caller.pcmu_samples(), 440.0)
    assert agent.received == []


@pytest.mark.asyncio
async def test_media_stop_media_cuts_a_long_prompt(
    engine: RtpEngineProcess, legs: tuple[Leg, Leg], tmp_path: Path
) -> None:
    caller, agent = legs
    prompt = tmp_path / "moh.wav"
    with wave.open(str(prompt), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"".join(s.to_bytes(2, "little", signed=True) for s in tone(500, 2.0)))
    call = await setup_call(engine.client, caller, agent)
    await engine.client.play_media(call.call_id, call.caller_tag, str(prompt), repeat_times=3)
    await caller.wait_packets(5)
    await engine.client.stop_media(call.call_id, call.caller_tag)
    await asyncio.sleep(0.1)
    count = len(caller.received)
    await asyncio.sleep(0.3)
    assert len(caller.received) <= count + 1
    with pytest.raises(NgCommandError):
        await engine.client.play_media(call.call_id, call.caller_tag, str(tmp_path / "nope.wav"))


@pytest.mark.asyncio
async def test_media_dtmf_events_reach_listener_per_leg(
    engine: RtpEngineProcess, legs: tuple[Leg, Leg], dtmf_listener: DtmfListener
) -> None:
    """R-IVR-4: RFC 4733 digits from either leg arrive as typed events told apart by tag."""
    caller, agent = legs
    call = await setup_call(engine.client, caller, agent)
    await caller.send_tone(1000.0, 0.1)
    await caller.send(caller.dtmf_packets("7"))
    event = await asyncio.wait_for(dtmf_listener.events.get(), 2.0)
    assert (event.call_id, event.source_tag, event.digit) == (call.call_id, call.caller_tag, "7")
    assert event.duration_ms == 100
    await agent.send_tone(600.0, 0.1)
    await agent.send(agent.dtmf_packets("#"))
    event = await asyncio.wait_for(dtmf_listener.events.get(), 2.0)
    assert (event.source_tag, event.digit) == (call.agent_tag, "#")
    # The events are also relayed to the other leg (DTMF pass-through).
    assert any(p.payload_type == 101 for p in agent.received)


@pytest.mark.asyncio
async def test_media_play_dtmf_injects_rfc4733_to_other_leg(
    engine: RtpEngineProcess, legs: tuple[Leg, Leg]
) -> None:
    """R-IN-8 DTMF from the desktop: 'play DTMF' as the caller reaches the agent as PT 101."""
    caller, agent = legs
    call = await setup_call(engine.client, caller, agent, MediaOptions(inject_dtmf=True))
    await caller.send_tone(1000.0, 0.1)  # injection needs a running stream
    await engine.client.play_dtmf(call.call_id, call.caller_tag, "5", duration_ms=100)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 2.0
    while loop.time() < deadline:
        await caller.send_tone(1000.0, 0.04)
        events = [TelephoneEvent.parse(p.payload) for p in agent.received if p.payload_type == 101]
        if any(e.end for e in events):
            break
    assert events and {e.digit for e in events} == {"5"}


@pytest.mark.asyncio
async def test_media_recording_writes_pcap_with_the_audio(
    engine: RtpEngineProcess, legs: tuple[Leg, Leg]
) -> None:
    """R-SUP-3: 'record call' leaves a pcap named by call id holding the relayed payload."""
    caller, agent = legs
    call = await setup_call(engine.client, caller, agent, MediaOptions(record_call=True))
    packets = caller.tone_packets(1000.0, 0.2)
    await caller.send(packets)
    await agent.wait_packets(len(packets))
    await engine.client.delete(call.call_id)
    files = engine.recordings(call.call_id)
    assert len(files) == 1
    data = files[0].read_bytes()
    assert data[:4] in (b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\xc3\xd4")  # pcap magic
    assert packets[5].payload in data
    assert engine.config.recording_dir is not None
    assert list((engine.config.recording_dir / "metadata").glob(f"*{call.call_id}*"))


@pytest.mark.asyncio
async def test_media_start_recording_midcall(
    engine: RtpEngineProcess, legs: tuple[Leg, Leg]
) -> None:
    caller, agent = legs
    call = await setup_call(engine.client, caller, agent)
    assert engine.recordings(call.call_id) == []
    await engine.client.start_recording(call.call_id)
    await caller.send_tone(800.0, 0.1)
    await engine.client.stop_recording(call.call_id)
    assert len(engine.recordings(call.call_id)) == 1


@pytest.mark.asyncio
async def test_media_delete_removes_call(engine: RtpEngineProcess, legs: tuple[Leg, Leg]) -> None:
    caller, agent = legs
    call = await setup_call(engine.client, caller, agent)
    await engine.client.delete(call.call_id)
    with pytest.raises(CallNotFoundError):
        await engine.client.query(call.call_id)
    with pytest.raises(CallNotFoundError):
        await engine.client.delete(call.call_id)
    await caller.send_tone(1000.0, 0.1)
    await asyncio.sleep(0.1)
    assert agent.received == []


@pytest.mark.asyncio
async def test_media_hold_blocks_caller_audio_until_retrieve(
    engine: RtpEngineProcess, legs: tuple[Leg, Leg]
) -> None:
    """R-IN-8 hold: blocking one side stops its audio; the other direction still flows."""
    caller, agent = legs
    call = await setup_call(engine.client, caller, agent)
    await engine.client.block_media(call.call_id, call.caller_tag)
    await asyncio.gather(caller.send_tone(1000.0, 0.1), agent.send_tone(600.0, 0.1))
    await caller.wait_packets(5)
    await asyncio.sleep(0.05)
    assert agent.received == []
    assert len(caller.received) == 5
    await engine.client.unblock_media(call.call_id, call.caller_tag)
    await caller.send_tone(1000.0, 0.3)
    await agent.wait_packets(15)
    assert_tone(agent.pcmu_samples(), 1000.0)


@pytest.mark.asyncio
async def test_media_silence_media_keeps_rtp_but_mutes(
    engine: RtpEngineProcess, legs: tuple[Leg, Leg]
) -> None:
    """Mute: packets keep flowing (no RTP timeout at the far end) but carry silence."""
    caller, agent = legs
    call = await setup_call(engine.client, caller, agent)
    await engine.client.silence_media(call.call_id, call.caller_tag)
    await caller.send_tone(1000.0, 0.2)
    await agent.wait_packets(10)
    assert len(agent.received) == 10
    assert rms(agent.pcmu_samples()) < 50


@pytest.mark.asyncio
async def test_media_listen_in_via_subscribe(
    engine: RtpEngineProcess, legs: tuple[Leg, Leg]
) -> None:
    """R-SUP-2 listen: a team lead's leg gets a copy of both directions, one m-line each."""
    caller, agent = legs
    call = await setup_call(engine.client, caller, agent)
    hear_caller, hear_agent = await Leg.open(), await Leg.open()
    try:
        sub = await engine.client.subscribe_request(call.call_id, [call.caller_tag, call.agent_tag])
        assert sub.from_tags == (call.caller_tag, call.agent_tag)
        assert len(media_ports(sub.sdp)) == 2 and "a=sendonly" in sub.sdp
        answer = (
            audio_sdp(hear_caller.port, 9, "recvonly")
            + audio_sdp(hear_agent.port, 9, "recvonly").split("t=0 0\r\n")[1]
        )
        await engine.client.subscribe_answer(call.call_id, sub.to_tag, answer)
        await asyncio.gather(caller.send_tone(1000.0), agent.send_tone(600.0))
        await hear_caller.wait_packets(15)
        await hear_agent.wait_packets(15)
        assert_tone(hear_caller.pcmu_samples(), 1000.0)
        assert_tone(hear_agent.pcmu_samples(), 600.0)
        assert_tone(agent.pcmu_samples(), 1000.0)  # the call itself is untouched
        await engine.client.unsubscribe(call.call_id, sub.to_tag)
        before = len(hear_caller.received)
        await caller.send_tone(1000.0, 0.1)
        await asyncio.sleep(0.05)
        assert len(hear_caller.received) == before
        # A call with (former) subscribers still goes away on delete.
        await engine.client.subscribe_request(call.call_id, [call.caller_tag])
        await engine.client.delete(call.call_id)
        with pytest.raises(CallNotFoundError):
            await engine.client.query(call.call_id)
    finally:
        await hear_caller.close()
        await hear_agent.close()


@pytest.mark.asyncio
async def test_media_offer_with_bad_sdp_is_a_typed_error(engine: RtpEngineProcess) -> None:
    with pytest.raises(NgCommandError) as err:
        await engine.client.offer("this is not sdp", "bad-call", "ft")
    assert err.value.command == "offer" and err.value.reason


@pytest.mark.asyncio
async def test_media_supervisor_restarts_after_crash(rtpengine_binary: str) -> None:
    """A killed rtpengine comes back on the same ng port and the switch is told."""
    restarted: list[int] = []
    config = RtpEngineConfig(binary=rtpengine_binary, rtp_port_count=20, initial_backoff=0.05)
    async with RtpEngineProcess(config, on_restart=restarted.append) as proc:
        old_pid, port = proc.pid, proc.ng_port
        assert old_pid is not None
        os.kill(old_pid, 9)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 10
        while not restarted and loop.time() < deadline:
            await asyncio.sleep(0.05)
        assert restarted == [1]
        assert proc.pid != old_pid and proc.ng_port == port
        await proc.client.ping()
    assert not proc.running


@pytest.mark.asyncio
async def test_media_stop_leaves_nothing_behind(rtpengine_binary: str) -> None:
    """After stop the daemon is gone; a client still pointed at it gets a typed timeout."""
    proc = RtpEngineProcess(RtpEngineConfig(binary=rtpengine_binary, rtp_port_count=20))
    await proc.start()
    other = RtpEngineProcess(RtpEngineConfig(binary=rtpengine_binary, rtp_port_count=20))
    await other.start()
    try:
        assert proc.ng_port != other.ng_port
        assert proc.port_range != other.port_range
        pid, workdir, port = proc.pid, proc.workdir, proc.ng_port
    finally:
        await proc.stop()
        await other.stop()
    assert pid is not None
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert not workdir.exists()
    async with await NgClient.connect("127.0.0.1", port, timeout=0.3) as client:
        with pytest.raises(NgTimeoutError):
            await client.ping()


@pytest.mark.asyncio
async def test_media_missing_binary_is_a_clear_error() -> None:
    proc = RtpEngineProcess(RtpEngineConfig(binary="/nonexistent/rtpengine"))
    with pytest.raises(RtpEngineNotFoundError, match="rtpengine-daemon"):
        await proc.start()


@pytest.mark.asyncio
async def test_media_bad_option_fails_start_with_command_line(rtpengine_binary: str) -> None:
    """rtpengine 10.5 exits 255 *silently* on an unknown option; our error names the command."""
    config = RtpEngineConfig(binary=rtpengine_binary, extra_args=("--no-such-option",))
    with pytest.raises(RtpEngineStartError, match="no-such-option"):
        await RtpEngineProcess(config).start()


@pytest.mark.asyncio
async def test_media_refuses_ng_port_shared_with_another_daemon(engine: RtpEngineProcess) -> None:
    """rtpengine binds its ng port with reuse: a second daemon would silently share it."""
    assert engine.config.binary is not None
    clash = RtpEngineProcess(
        RtpEngineConfig(binary=engine.config.binary, ng_port=engine.ng_port, rtp_port_count=20)
    )
    with pytest.raises(NgPortSharedError):
        await clash.start()
    assert not clash.running
    await engine.client.ping()


def test_media_selftest_smoke(rtpengine_binary: str, capsys: pytest.CaptureFixture[str]) -> None:
    """The load sanity script still runs end to end (2 calls, 0.2 s)."""
    from cti_server.switch.media import selftest

    assert selftest.main(["--calls", "2", "--seconds", "0.2"]) == 0
    out = capsys.readouterr().out
    assert "lost 0 (0.00%)" in out and "tone check: 1000 Hz" in out
