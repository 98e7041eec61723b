"""RTP, RFC 4733 and G.711 helpers that let tests prove audio rather than assume it."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cti_server.switch.media.rtp import (
    RtpError,
    RtpPacket,
    TelephoneEvent,
    dominant_frequency,
    dtmf_packets,
    goertzel_power,
    pcmu_frames,
    tone,
    ulaw_decode,
    ulaw_encode,
    zero_crossing_frequency,
)


def test_media_rtp_packet_roundtrip_and_header_bytes() -> None:
    pkt = RtpPacket(0, 65535, 160, 0x1234, b"\xff" * 160, marker=True)
    raw = pkt.to_bytes()
    assert raw[:2] == b"\x80\x80"
    assert RtpPacket.parse(raw) == pkt


@pytest.mark.parametrize("data", [b"", b"\x80" * 11, b"\x40" + b"\x00" * 11, b"\x81" + b"\0" * 11])
def test_media_rtp_parse_rejects_non_rtp(data: bytes) -> None:
    with pytest.raises(RtpError):
        RtpPacket.parse(data)


@given(st.integers(-32768, 32767))
def test_media_rtp_ulaw_error_is_bounded(sample: int) -> None:
    """µ-law keeps roughly 13 bits: the error grows with the magnitude, never beyond 1/16."""
    back = ulaw_decode(ulaw_encode([sample]))[0]
    assert abs(back - sample) <= max(8, abs(sample) // 16 + 1) or abs(sample) > 32000


def test_media_rtp_ulaw_known_values() -> None:
    assert ulaw_encode([0]) == b"\xff"
    assert ulaw_decode(b"\xff\x7f") == [0, 0]


@pytest.mark.parametrize("freq", [300.0, 1000.0, 2600.0])
def test_media_rtp_frequency_estimators_find_tone_through_pcmu(freq: float) -> None:
    samples = ulaw_decode(b"".join(pcmu_frames(tone(freq, 0.2))))
    assert abs(dominant_frequency(samples) - freq) <= 3
    assert abs(zero_crossing_frequency(samples) - freq) <= 15
    assert goertzel_power(samples, freq) > 100 * goertzel_power(samples, freq + 400)


def test_media_rtp_dtmf_packets_follow_rfc4733() -> None:
    pkts = dtmf_packets("#", payload_type=101, ssrc=7, first_sequence=10, timestamp=800)
    events = [TelephoneEvent.parse(p.payload) for p in pkts]
    assert pkts[0].marker and not any(p.marker for p in pkts[1:])
    assert {p.timestamp for p in pkts} == {800}
    assert [p.sequence for p in pkts] == list(range(10, 10 + len(pkts)))
    assert all(e.digit == "#" for e in events)
    assert [e.end for e in events[-3:]] == [True] * 3 and not events[0].end
    assert events[-1].duration == 800  # 100 ms at 8 kHz
    with pytest.raises(RtpError):
        dtmf_packets("x", payload_type=101, ssrc=1, first_sequence=0, timestamp=0)
