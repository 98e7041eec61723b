"""pcap → stereo WAV (:mod:`cti_server.switch.media.recorder`) on hand-built pcap files:
channels by rtpengine port, placement by RTP timestamp, SSRC changes and clock jumps
re-anchored, G.711 µ-law and A-law, telephone-event left out, IPv6 and nanosecond files,
a file cut in the middle of a packet, and files that are not pcaps."""

from __future__ import annotations

import math
import struct
import wave
from collections.abc import Callable
from pathlib import Path

import pytest

from cti_server.switch.media.recorder import (
    PcapError,
    WavJob,
    pcaps_to_wav,
    write_stereo_wav,
)
from cti_server.switch.media.rtp import (
    alaw_encode,
    goertzel_power,
    tone,
    ulaw_decode,
    ulaw_encode,
)

T0 = 1_800_000_000.0
CALLER_PORT, AGENT_PORT = 20000, 20002


def rtp(pt: int, seq: int, ts: int, ssrc: int, payload: bytes) -> bytes:
    return struct.pack("!BBHII", 0x80, pt, seq & 0xFFFF, ts & 0xFFFFFFFF, ssrc) + payload


def ipv4(dport: int, payload: bytes) -> bytes:
    header = struct.pack(
        "!BBHHHBBH4s4s", 0x45, 0, 28 + len(payload), 0, 0, 64, 17, 0, b"\x7f\0\0\1", b"\x7f\0\0\1"
    )
    return header + struct.pack("!HHHH", 40000, dport, 8 + len(payload), 0) + payload


def ipv6(dport: int, payload: bytes) -> bytes:
    header = struct.pack(
        "!IHBB16s16s", 0x60000000, 8 + len(payload), 17, 64, b"\0" * 15 + b"\1", b"\0" * 15 + b"\1"
    )
    return header + struct.pack("!HHHH", 40000, dport, 8 + len(payload), 0) + payload


def write_pcap(path: Path, frames: list[tuple[float, bytes]], *, nano: bool = False) -> Path:
    magic = 0xA1B23C4D if nano else 0xA1B2C3D4
    out = [struct.pack("<IHHiIII", magic, 2, 4, 0, 0, 65535, 101)]
    for at, frame in sorted(frames, key=lambda f: f[0]):
        seconds = int(at)
        fraction = round((at - seconds) * (1e9 if nano else 1e6))
        out.append(struct.pack("<IIII", seconds, fraction, len(frame), len(frame)) + frame)
    path.write_bytes(b"".join(out))
    return path


def tone_frames(
    frequency: float,
    seconds: float,
    *,
    at: float,
    dport: int,
    ssrc: int,
    ts0: int = 0,
    pt: int = 0,
    ip: Callable[[int, bytes], bytes] = ipv4,
    jitter: float = 0.0,
) -> list[tuple[float, bytes]]:
    """20 ms packets of a tone captured from ``at`` (wall clock) on, the ``i``-th one
    ``jitter`` × (i mod 3) late."""
    samples = tone(frequency, seconds)
    encode = ulaw_encode if pt == 0 else alaw_encode
    frames = []
    for i in range(len(samples) // 160):
        payload = encode(samples[160 * i : 160 * (i + 1)])
        packet = rtp(pt, i, ts0 + 160 * i, ssrc, payload)
        frames.append((at + 0.02 * i + jitter * (i % 3), ip(dport, packet)))
    return frames


def read(path: Path) -> tuple[list[int], list[int]]:
    with wave.open(str(path), "rb") as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (2, 2, 8000)
        data = memoryview(wav.readframes(wav.getnframes())).cast("h").tolist()
    return data[0::2], data[1::2]


def level(samples: list[int], frequency: float) -> float:
    return 2 * math.sqrt(goertzel_power(samples, frequency)) if samples else 0.0


def span(samples: list[int], frequency: float) -> tuple[float, float]:
    """First and last 10 ms block holding ``frequency`` (seconds)."""
    blocks = [
        i
        for i in range(len(samples) // 80)
        if level(samples[80 * i : 80 * (i + 1)], frequency) > 3000
    ]
    assert blocks, f"no {frequency} Hz"
    return blocks[0] * 0.01, (blocks[-1] + 1) * 0.01


def job(tmp_path: Path, *pcaps: Path, seconds: float = 2.0) -> WavJob:
    return WavJob(
        pcaps=tuple(str(p) for p in pcaps),
        wav=str(tmp_path / "out.wav"),
        start=T0,
        end=T0 + seconds,
        caller_ports=(CALLER_PORT,),
        agent_ports=(AGENT_PORT,),
    )


def test_each_port_is_a_channel_and_each_packet_lands_at_its_time(tmp_path: Path) -> None:
    frames = tone_frames(1000, 0.5, at=T0 + 0.3, dport=CALLER_PORT, ssrc=1, jitter=0.015)
    frames += tone_frames(600, 0.4, at=T0 + 1.1, dport=AGENT_PORT, ssrc=2, pt=8)
    frames += [(T0 + 0.5, ipv4(CALLER_PORT, rtp(101, 99, 0, 1, b"\x05\x0a\x00\xa0")))]
    frames += tone_frames(1400, 0.2, at=T0 + 0.1, dport=30000, ssrc=3)  # another stream
    result = pcaps_to_wav(job(tmp_path, write_pcap(tmp_path / "a.pcap", frames)))

    left, right = read(tmp_path / "out.wav")
    assert len(left) == 16000 and result.seconds == 2.0
    assert span(left, 1000) == pytest.approx((0.3, 0.8), abs=0.011)
    assert span(right, 600) == pytest.approx((1.1, 1.5), abs=0.011)  # A-law decoded
    assert level(right, 1000) < 50 and level(left, 600) < 50 and level(left, 1400) < 50
    # jitter of up to 30 ms did not smear: every sample is exactly where it belongs
    assert left[2400:6400] == ulaw_decode(ulaw_encode(tone(1000, 0.5)))
    assert result.caller.packets == 25 and result.agent.packets == 20
    assert result.ignored == 1 and result.other == 10
    assert not result.truncated


def test_a_new_ssrc_and_a_clock_jump_reanchor_to_the_capture_time(tmp_path: Path) -> None:
    # agent 1 until 0.6 s; agent 2 (new SSRC, unrelated timestamps) from 1.0 s;
    # then agent 2's RTP clock jumps by 5 s while its packets keep arriving in real time
    frames = tone_frames(600, 0.4, at=T0 + 0.2, dport=AGENT_PORT, ssrc=7, ts0=123456)
    frames += tone_frames(500, 0.3, at=T0 + 1.0, dport=AGENT_PORT, ssrc=8, ts0=0xFFFFFF00)
    frames += tone_frames(700, 0.3, at=T0 + 1.5, dport=AGENT_PORT, ssrc=8, ts0=40000 + 3200)
    result = pcaps_to_wav(job(tmp_path, write_pcap(tmp_path / "a.pcap", frames)))
    _, right = read(tmp_path / "out.wav")
    assert span(right, 600) == pytest.approx((0.2, 0.6), abs=0.011)
    assert span(right, 500) == pytest.approx((1.0, 1.3), abs=0.011)  # wraps past 2**32
    assert span(right, 700) == pytest.approx((1.5, 1.8), abs=0.011)
    assert result.agent.anchors == 3


def test_paused_files_of_one_call_make_one_time_line_with_silence_between(
    tmp_path: Path,
) -> None:
    first = write_pcap(
        tmp_path / "c-1-b.pcap", tone_frames(1000, 0.3, at=T0 + 0.1, dport=CALLER_PORT, ssrc=1)
    )
    # after a hold: the same SSRC, its RTP clock ran on meanwhile (1.2 s later)
    second = write_pcap(
        tmp_path / "c-1-a.pcap",
        tone_frames(1000, 0.3, at=T0 + 1.3, dport=CALLER_PORT, ssrc=1, ts0=9600),
    )
    pcaps_to_wav(job(tmp_path, second, first))  # listed in any order
    left, _ = read(tmp_path / "out.wav")
    assert level(left[800:3200], 1000) > 6000  # 0.1-0.4 s
    assert level(left[4000:10000], 1000) < 50  # the hold: silence
    assert level(left[10400:12800], 1000) > 6000  # 1.3-1.6 s


def test_ipv6_nanosecond_files_and_a_cut_file_are_read(tmp_path: Path) -> None:
    frames = tone_frames(1000, 0.4, at=T0 + 0.2, dport=CALLER_PORT, ssrc=1, ip=ipv6)
    pcap = write_pcap(tmp_path / "a.pcap", frames, nano=True)
    pcap.write_bytes(pcap.read_bytes()[:-50])  # rtpengine stopped mid-write
    result = pcaps_to_wav(job(tmp_path, pcap, seconds=1.0))
    left, _ = read(tmp_path / "out.wav")
    assert result.truncated and result.caller.packets == 19
    assert span(left, 1000) == pytest.approx((0.2, 0.58), abs=0.011)


def test_packets_outside_the_span_are_cut_off(tmp_path: Path) -> None:
    frames = tone_frames(1000, 0.4, at=T0 - 0.2, dport=CALLER_PORT, ssrc=1)
    frames += tone_frames(600, 0.4, at=T0 + 0.8, dport=AGENT_PORT, ssrc=2)
    pcaps_to_wav(job(tmp_path, write_pcap(tmp_path / "a.pcap", frames), seconds=1.0))
    left, right = read(tmp_path / "out.wav")
    assert len(left) == len(right) == 8000
    assert span(left, 1000) == pytest.approx((0.0, 0.2), abs=0.011)
    assert span(right, 600) == pytest.approx((0.8, 1.0), abs=0.011)


def test_a_file_that_is_not_a_pcap_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.pcap"
    bad.write_bytes(b"RIFF" + b"\0" * 40)
    with pytest.raises(PcapError, match="not a pcap file"):
        pcaps_to_wav(job(tmp_path, bad))
    bad.write_bytes(b"\xd4\xc3")
    with pytest.raises(PcapError, match="not a pcap file"):
        pcaps_to_wav(job(tmp_path, bad))
    assert not (tmp_path / "out.wav").exists()
    with pytest.raises(ValueError, match="same whole number"):
        write_stereo_wav(tmp_path / "x.wav", b"\0\0", b"\0")


def test_a_late_burst_keeps_its_place_and_a_clock_jumping_back_reanchors(
    tmp_path: Path,
) -> None:
    # the caller's packets 10-19 arrive 300 ms late in a burst (a stalled sender or
    # network): still placed by their RTP time, the tone is exactly as sent
    frames = tone_frames(1000, 0.6, at=T0 + 0.2, dport=CALLER_PORT, ssrc=1)
    frames = [
        (at + (0.3 - 0.02 * (i - 10) if 10 <= i < 20 else 0), f) for i, (at, f) in enumerate(frames)
    ]
    # the agent's RTP clock jumps back by 2 s at 1.0 s while real time goes on
    frames += tone_frames(600, 0.3, at=T0 + 0.5, dport=AGENT_PORT, ssrc=2, ts0=100000)
    frames += tone_frames(500, 0.3, at=T0 + 1.0, dport=AGENT_PORT, ssrc=2, ts0=100000 - 16000)
    result = pcaps_to_wav(job(tmp_path, write_pcap(tmp_path / "a.pcap", frames)))
    left, right = read(tmp_path / "out.wav")
    assert left[1600:6400] == ulaw_decode(ulaw_encode(tone(1000, 0.6)))
    assert result.caller.anchors == 1
    assert span(right, 600) == pytest.approx((0.5, 0.8), abs=0.011)
    assert span(right, 500) == pytest.approx((1.0, 1.3), abs=0.011)
    assert result.agent.anchors == 2
