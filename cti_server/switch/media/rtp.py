"""RTP packets, G.711 µ-law/A-law and tone measurement (pure, no I/O).

The building blocks for proving audio end to end: build and parse RTP
(RFC 3550) and telephone-event (RFC 4733) packets, encode/decode PCMU and PCMA, make a
tone and measure its frequency (Goertzel scan plus a zero-crossing estimate).
"""

from __future__ import annotations

import itertools
import math
import struct
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

RTP_VERSION = 2
PT_PCMU = 0
PT_PCMA = 8
SAMPLE_RATE = 8000
SAMPLES_PER_PACKET = 160  # 20 ms at 8 kHz
DTMF_CODES = "0123456789*#ABCD"
_HEADER = struct.Struct("!BBHII")


class RtpError(ValueError):
    """A datagram that is not a valid RTP or telephone-event packet."""


@dataclass(frozen=True, slots=True)
class RtpPacket:
    """One RTP packet (no CSRC or header extension on build)."""

    payload_type: int
    sequence: int
    timestamp: int
    ssrc: int
    payload: bytes
    marker: bool = False

    def to_bytes(self) -> bytes:
        if not 0 <= self.payload_type <= 127:
            raise RtpError(f"payload type {self.payload_type} out of range")
        first = RTP_VERSION << 6
        second = (0x80 if self.marker else 0) | self.payload_type
        return (
            _HEADER.pack(
                first,
                second,
                self.sequence & 0xFFFF,
                self.timestamp & 0xFFFFFFFF,
                self.ssrc & 0xFFFFFFFF,
            )
            + self.payload
        )

    @classmethod
    def parse(cls, data: bytes) -> RtpPacket:
        if len(data) < _HEADER.size:
            raise RtpError(f"RTP packet too short ({len(data)} bytes)")
        first, second, seq, ts, ssrc = _HEADER.unpack_from(data)
        if first >> 6 != RTP_VERSION:
            raise RtpError(f"RTP version {first >> 6}, expected 2")
        offset = _HEADER.size + 4 * (first & 0x0F)
        if first & 0x10:  # header extension
            if len(data) < offset + 4:
                raise RtpError("truncated RTP header extension")
            (words,) = struct.unpack_from("!H", data, offset + 2)
            offset += 4 + 4 * words
        end = len(data)
        if first & 0x20:  # padding
            end -= data[-1]
        if offset > end:
            raise RtpError("RTP header longer than packet")
        return cls(second & 0x7F, seq, ts, ssrc, data[offset:end], bool(second & 0x80))


@dataclass(frozen=True, slots=True)
class TelephoneEvent:
    """An RFC 4733 telephone-event payload."""

    event: int
    end: bool
    volume: int
    duration: int  # in timestamp units

    @property
    def digit(self) -> str:
        return DTMF_CODES[self.event] if self.event < len(DTMF_CODES) else f"event-{self.event}"

    def to_bytes(self) -> bytes:
        return struct.pack(
            "!BBH", self.event, (0x80 if self.end else 0) | (self.volume & 0x3F), self.duration
        )

    @classmethod
    def parse(cls, payload: bytes) -> TelephoneEvent:
        if len(payload) < 4:
            raise RtpError("telephone-event payload shorter than 4 bytes")
        event, flags, duration = struct.unpack_from("!BBH", payload)
        return cls(event, bool(flags & 0x80), flags & 0x3F, duration)


def dtmf_packets(
    digit: str,
    *,
    payload_type: int,
    ssrc: int,
    first_sequence: int,
    timestamp: int,
    duration_ms: int = 100,
    volume: int = 10,
) -> list[RtpPacket]:
    """RFC 4733 packets for one digit: updates every 20 ms, then three end packets."""
    if len(digit) != 1 or digit.upper() not in DTMF_CODES:
        raise RtpError(f"not a DTMF digit: {digit!r}")
    event = DTMF_CODES.index(digit.upper())
    total = duration_ms * SAMPLE_RATE // 1000
    durations = list(range(SAMPLES_PER_PACKET, total, SAMPLES_PER_PACKET))
    packets = [
        RtpPacket(
            payload_type,
            first_sequence + i,
            timestamp,
            ssrc,
            TelephoneEvent(event, False, volume, d).to_bytes(),
            marker=i == 0,
        )
        for i, d in enumerate(durations)
    ]
    seq = first_sequence + len(packets)
    packets += [
        RtpPacket(
            payload_type,
            seq + i,
            timestamp,
            ssrc,
            TelephoneEvent(event, True, volume, total).to_bytes(),
            marker=not packets and i == 0,
        )
        for i in range(3)
    ]
    return packets


# --- G.711 µ-law -------------------------------------------------------------

_BIAS = 0x84
_CLIP = 32635


def _ulaw_encode_sample(sample: int) -> int:
    sign = 0x80 if sample < 0 else 0
    magnitude = min(-sample if sample < 0 else sample, _CLIP) + _BIAS
    exponent = max(magnitude.bit_length() - 8, 0)
    mantissa = (magnitude >> (exponent + 3)) & 0x0F
    return ~(sign | (exponent << 4) | mantissa) & 0xFF


def _ulaw_decode_byte(byte: int) -> int:
    byte = ~byte & 0xFF
    magnitude = ((((byte & 0x0F) << 3) + _BIAS) << ((byte >> 4) & 0x07)) - _BIAS
    return -magnitude if byte & 0x80 else magnitude


_ULAW_DECODE = tuple(_ulaw_decode_byte(b) for b in range(256))


def ulaw_encode(samples: Iterable[int]) -> bytes:
    """16-bit linear samples → PCMU bytes."""
    return bytes(_ulaw_encode_sample(s) for s in samples)


def ulaw_decode(data: bytes) -> list[int]:
    """PCMU bytes → 16-bit linear samples."""
    return [_ULAW_DECODE[b] for b in data]


# --- G.711 A-law -------------------------------------------------------------

_ALAW_SEGMENT_ENDS = (0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF)


def _alaw_encode_sample(sample: int) -> int:
    pcm = max(-32768, min(32767, sample)) >> 3  # 13-bit
    if pcm >= 0:
        mask = 0xD5
    else:
        mask = 0x55
        pcm = -pcm - 1
    segment = next((i for i, end in enumerate(_ALAW_SEGMENT_ENDS) if pcm <= end), 8)
    if segment >= 8:
        return 0x7F ^ mask
    value = segment << 4
    value |= (pcm >> 1 if segment < 2 else pcm >> segment) & 0x0F
    return value ^ mask


def _alaw_decode_byte(byte: int) -> int:
    byte ^= 0x55
    magnitude = (byte & 0x0F) << 4
    segment = (byte & 0x70) >> 4
    if segment == 0:
        magnitude += 8
    else:
        magnitude = (magnitude + 0x108) << (segment - 1)
    return magnitude if byte & 0x80 else -magnitude


_ALAW_DECODE = tuple(_alaw_decode_byte(b) for b in range(256))


def alaw_encode(samples: Iterable[int]) -> bytes:
    """16-bit linear samples → PCMA bytes."""
    return bytes(_alaw_encode_sample(s) for s in samples)


def alaw_decode(data: bytes) -> list[int]:
    """PCMA bytes → 16-bit linear samples."""
    return [_ALAW_DECODE[b] for b in data]


def g711_decode(data: bytes, payload_type: int) -> list[int]:
    """PCMU (PT 0) or PCMA (PT 8) bytes → 16-bit linear samples."""
    if payload_type == PT_PCMU:
        return ulaw_decode(data)
    if payload_type == PT_PCMA:
        return alaw_decode(data)
    raise RtpError(f"payload type {payload_type} is not G.711")


def g711_encode(samples: Iterable[int], payload_type: int) -> bytes:
    """16-bit linear samples → PCMU (PT 0) or PCMA (PT 8) bytes."""
    if payload_type == PT_PCMU:
        return ulaw_encode(samples)
    if payload_type == PT_PCMA:
        return alaw_encode(samples)
    raise RtpError(f"payload type {payload_type} is not G.711")


# --- tones -------------------------------------------------------------------


def tone(
    frequency: float, seconds: float, *, amplitude: int = 8000, rate: int = SAMPLE_RATE
) -> list[int]:
    """A sine tone as 16-bit linear samples."""
    count = round(seconds * rate)
    step = 2 * math.pi * frequency / rate
    return [round(amplitude * math.sin(step * i)) for i in range(count)]


def pcmu_frames(samples: Sequence[int]) -> Iterator[bytes]:
    """Split samples into 20 ms PCMU payloads (the last partial frame is dropped)."""
    for start in range(0, len(samples) - SAMPLES_PER_PACKET + 1, SAMPLES_PER_PACKET):
        yield ulaw_encode(samples[start : start + SAMPLES_PER_PACKET])


def goertzel_power(samples: Sequence[int], frequency: float, rate: int = SAMPLE_RATE) -> float:
    """Normalised signal power at ``frequency`` (Goertzel algorithm)."""
    if not samples:
        return 0.0
    coeff = 2 * math.cos(2 * math.pi * frequency / rate)
    s1 = s2 = 0.0
    for x in samples:
        s1, s2 = x + coeff * s1 - s2, s1
    power = s1 * s1 + s2 * s2 - coeff * s1 * s2
    return power / (len(samples) ** 2)


def dominant_frequency(
    samples: Sequence[int],
    *,
    low: float = 100.0,
    high: float = 3800.0,
    rate: int = SAMPLE_RATE,
) -> float:
    """The frequency with the most Goertzel power in ``[low, high]``, to about 1 Hz.

    Scans in 20 Hz steps, then refines in 1 Hz steps around the best bin.
    """
    if not samples:
        raise ValueError("no samples to analyse")

    def best(start: float, stop: float, step: float) -> float:
        best_freq, best_power = start, -1.0
        freq = start
        while freq <= stop:
            power = goertzel_power(samples, freq, rate)
            if power > best_power:
                best_freq, best_power = freq, power
            freq += step
        return best_freq

    coarse = best(low, high, 20.0)
    return best(max(low, coarse - 20.0), min(high, coarse + 20.0), 1.0)


def zero_crossing_frequency(samples: Sequence[int], rate: int = SAMPLE_RATE) -> float:
    """Frequency estimate of a pure tone from its zero-crossing rate."""
    if len(samples) < 2:
        raise ValueError("need at least two samples")
    crossings = sum(1 for a, b in itertools.pairwise(samples) if (a < 0) != (b < 0))
    return crossings * rate / (2 * len(samples))


def rms(samples: Sequence[int]) -> float:
    """Root-mean-square level of the samples."""
    if not samples:
        return 0.0
    return math.sqrt(sum(s * s for s in samples) / len(samples))
