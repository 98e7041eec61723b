"""rtpengine's pcap recordings of a call → one stereo WAV (R-SUP-3; pure, no asyncio).

rtpengine (``--recording-method=pcap``) writes, between ``start recording`` and ``stop
recording`` / ``delete``, every RTP packet it *receives* for the call into
``<recording dir>/pcaps/<call-id>-<random>.pcap`` (raw IPv4/IPv6 + UDP headers, link
type 101; each stop/start pair makes a new file). SRTP is already decrypted there;
packets rtpengine plays itself (prompts, music on hold) are not in the file.

:func:`pcaps_to_wav` turns the files of one call into an 8 kHz 16-bit **stereo** WAV:
the left channel is what rtpengine received on the caller-facing port (the caller's
voice), the right channel what it received on the switch-side port (the agent, or the
mix of a consultation / conference). Only G.711 is decoded (PT 0 PCMU, PT 8 PCMA);
telephone-event, comfort noise and other payloads are counted and left out (silence).

Placement: sample 0 is ``start`` (wall clock, the same clock rtpengine stamps packets
with); each packet goes where its RTP timestamp puts it relative to the earliest
arrival of its SSRC run (no jitter smear, late bursts keep their place), and a run is
re-anchored to the packet's capture time when the SSRC changes (another agent after a
transfer), a packet arrives earlier than predicted (its RTP clock jumped forward) or
more than :data:`MAX_LATE` later (it jumped back or drifted that far). Time no file
covers (hold, waiting after a transfer) is silence, so the WAV's length is the call's
recorded span ``end - start``.

Runs in a worker process (:class:`cti_server.switch.core.recording.CallRecorder`): only
the standard library, decoding with ``bytes.translate`` and slice assignment so a
five-minute call converts in tens of milliseconds.
"""

from __future__ import annotations

import os
import struct
import wave
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

SAMPLE_RATE: Final = 8000
MAX_SKEW: Final = 0.15
"""An earlier-than-predicted arrival by more than this many seconds counts as a jump of
the sender's RTP clock (``ChannelStats.anchors``); smaller ones are jitter."""
MAX_LATE: Final = 0.5
"""Seconds a packet may arrive later than its RTP clock predicts and still be placed by
it (jitter, a burst after a stall); later → the run is re-anchored at its capture."""
PT_PCMU: Final = 0
PT_PCMA: Final = 8
LINKTYPE_ETHERNET: Final = 1
LINKTYPE_RAW: Final = 101
LINKTYPE_IPV4: Final = 228
LINKTYPE_IPV6: Final = 229

_PORTS = struct.Struct("!HH")
_RTP = struct.Struct("!BBHII")


class PcapError(ValueError):
    """A file that is not a pcap this module reads (the message says why)."""


def _linear(value: int) -> int:
    return value & 0xFFFF


def _tables(decode: list[int]) -> tuple[bytes, bytes]:
    """``bytes.translate`` tables giving the low and high byte of each decoded sample."""
    return (
        bytes(_linear(v) & 0xFF for v in decode),
        bytes(_linear(v) >> 8 for v in decode),
    )


def _ulaw(byte: int) -> int:
    byte = ~byte & 0xFF
    magnitude = ((((byte & 0x0F) << 3) + 0x84) << ((byte >> 4) & 0x07)) - 0x84
    return -magnitude if byte & 0x80 else magnitude


def _alaw(byte: int) -> int:
    byte ^= 0x55
    magnitude = (byte & 0x0F) << 4
    segment = (byte & 0x70) >> 4
    magnitude = magnitude + 8 if segment == 0 else (magnitude + 0x108) << (segment - 1)
    return magnitude if byte & 0x80 else -magnitude


_DECODE: Final = {
    PT_PCMU: _tables([_ulaw(b) for b in range(256)]),
    PT_PCMA: _tables([_alaw(b) for b in range(256)]),
}


@dataclass(frozen=True, slots=True)
class WavJob:
    """What to convert (picklable: it crosses into the worker process)."""

    pcaps: tuple[str, ...]
    wav: str
    """Where the WAV is written (through ``<wav>.part``, renamed when complete)."""
    start: float
    """Wall-clock time of the WAV's first sample."""
    end: float
    """Wall-clock time of its end (the WAV lasts ``end - start``)."""
    caller_ports: tuple[int, ...]
    """rtpengine's local port(s) the caller sends to (left channel)."""
    agent_ports: tuple[int, ...]
    """rtpengine's local port(s) the switch side (agent, mixer) sends to (right channel)."""


@dataclass(slots=True)
class ChannelStats:
    packets: int = 0
    """G.711 packets placed in the channel."""
    seconds: float = 0.0
    """Audio those packets carried."""
    anchors: int = 0
    """SSRC runs (re-)anchored: 1 + SSRC changes + RTP clock jumps."""


@dataclass(slots=True)
class WavResult:
    """What one conversion wrote and found."""

    wav: str
    seconds: float
    caller: ChannelStats = field(default_factory=ChannelStats)
    agent: ChannelStats = field(default_factory=ChannelStats)
    ignored: int = 0
    """RTP packets not decoded: telephone-event, comfort noise, other codecs."""
    other: int = 0
    """Packets to neither port (another stream of the call) or not RTP."""
    truncated: bool = False
    """A file ended in the middle of a packet (rtpengine stopped while writing)."""


@dataclass(slots=True)
class _Run:
    ssrc: int = -1
    anchor_pos: int = 0
    anchor_ts: int = 0


class _Channel:
    __slots__ = ("buf", "run", "stats")

    def __init__(self, samples: int) -> None:
        self.buf = bytearray(2 * samples)
        self.run = _Run()
        self.stats = ChannelStats()

    def place(self, captured: int, ssrc: int, timestamp: int, pt: int, payload: bytes) -> None:
        """Decode ``payload`` into the buffer; ``captured`` = capture time in samples.

        The run's ``anchor_pos`` is the earliest arrival seen so far for its RTP clock
        (capture time − RTP time since the anchor, minimised): a packet that arrives
        late (jitter, a burst after a stall) keeps its RTP place; one that arrives
        earlier than the anchor predicts moves the anchor (less transit, or the RTP
        clock jumped forward); one later by more than :data:`MAX_LATE` re-anchors (the
        RTP clock jumped back, or drifted that far)."""
        run = self.run
        if ssrc != run.ssrc:
            run.ssrc, run.anchor_pos, run.anchor_ts = ssrc, captured, timestamp
            self.stats.anchors += 1
            pos = captured
        else:
            delta = ((timestamp - run.anchor_ts + 0x80000000) & 0xFFFFFFFF) - 0x80000000
            pos = run.anchor_pos + delta
            early, late = pos - captured, captured - pos
            if early > 0 or late > round(MAX_LATE * SAMPLE_RATE):
                if early > round(MAX_SKEW * SAMPLE_RATE) or late > 0:
                    self.stats.anchors += 1  # a jump, not the jitter of the first packet
                run.anchor_pos, run.anchor_ts = captured, timestamp
                pos = captured
        total = len(self.buf) // 2
        if pos < 0:
            payload = payload[-pos:]
            pos = 0
        if pos >= total or not payload:
            return
        payload = payload[: total - pos]
        low, high = _DECODE[pt]
        start = 2 * pos
        stop = start + 2 * len(payload)
        self.buf[start:stop:2] = payload.translate(low)
        self.buf[start + 1 : stop : 2] = payload.translate(high)
        self.stats.packets += 1
        self.stats.seconds += len(payload) / SAMPLE_RATE


class PcapReader:
    """The records of a classic pcap file (microsecond or nanosecond, either byte
    order): iterate for ``(capture time, frame)``; ``truncated`` is True afterwards when
    the file ended inside a record (rtpengine stopped while writing)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        with path.open("rb") as file:
            head = file.read(40)
        if len(head) < 24:
            raise PcapError(f"{path}: not a pcap file ({len(head)} bytes)")
        magic = head[:4]
        if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
            order = "<"
        elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
            order = ">"
        else:
            raise PcapError(f"{path}: not a pcap file (magic {magic.hex()})")
        self.scale = 1e-9 if magic in (b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d") else 1e-6
        (self.link,) = struct.unpack_from(order + "I", head, 20)
        self._record = struct.Struct(order + "IIII")
        self.first_time: float | None = None
        """Capture time of the first record (None: no record)."""
        if len(head) == 40:
            seconds, fraction, _, _ = self._record.unpack_from(head, 24)
            self.first_time = seconds + fraction * self.scale
        self.truncated = False

    def __iter__(self) -> Iterator[tuple[float, bytes]]:
        data = self.path.read_bytes()
        record, scale = self._record, self.scale
        offset, size = 24, len(data)
        while offset + 16 <= size:
            seconds, fraction, length, _ = record.unpack_from(data, offset)
            offset += 16
            if offset + length > size:
                break
            yield seconds + fraction * scale, data[offset : offset + length]
            offset += length
        self.truncated = offset != size


def _udp(link: int, frame: bytes) -> tuple[int, bytes] | None:
    """``(destination port, UDP payload)`` of a captured frame (None: not IP/UDP)."""
    if link == LINKTYPE_ETHERNET:
        frame = frame[14:]
    elif link not in (LINKTYPE_RAW, LINKTYPE_IPV4, LINKTYPE_IPV6):
        return None
    if not frame:
        return None
    version = frame[0] >> 4
    if version == 4:
        header = (frame[0] & 0x0F) * 4
        if len(frame) < header + 8 or frame[9] != 17:
            return None
    elif version == 6:
        header = 40
        if len(frame) < header + 8 or frame[6] != 17:
            return None
    else:
        return None
    _, dport = _PORTS.unpack_from(frame, header)
    return dport, frame[header + 8 :]


def pcaps_to_wav(job: WavJob) -> WavResult:
    """Convert ``job.pcaps`` to ``job.wav`` (module docstring); raises :class:`PcapError`
    for a file that is not a pcap, ``OSError`` when a file cannot be read or written."""
    total = max(0, round((job.end - job.start) * SAMPLE_RATE))
    left, right = _Channel(total), _Channel(total)
    result = WavResult(wav=job.wav, seconds=total / SAMPLE_RATE)
    channels = {port: right for port in job.agent_ports}
    channels.update({port: left for port in job.caller_ports})
    readers = [PcapReader(Path(name)) for name in job.pcaps]
    # the files of one call follow each other (stop/start recording); in time order
    readers.sort(key=lambda r: r.first_time or 0.0)
    for reader in readers:
        for captured, frame in reader:
            udp = _udp(reader.link, frame)
            dport, rtp = udp if udp is not None else (-1, b"")
            channel = channels.get(dport)
            if channel is None or len(rtp) < 12 or rtp[0] >> 6 != 2:
                result.other += 1
                continue
            first, second, _, timestamp, ssrc = _RTP.unpack_from(rtp)
            pt = second & 0x7F
            header = 12 + 4 * (first & 0x0F)
            if first & 0x10 and len(rtp) >= header + 4:  # header extension
                header += 4 + 4 * int.from_bytes(rtp[header + 2 : header + 4], "big")
            end = len(rtp)
            if first & 0x20 and end > header:  # padding
                end -= rtp[-1]
            if pt not in _DECODE or end <= header:
                result.ignored += 1
                continue
            at = round((captured - job.start) * SAMPLE_RATE)
            channel.place(at, ssrc, timestamp, pt, rtp[header:end])
        result.truncated |= reader.truncated
    result.caller, result.agent = left.stats, right.stats
    write_stereo_wav(Path(job.wav), left.buf, right.buf)
    return result


def write_stereo_wav(path: Path, left: bytes | bytearray, right: bytes | bytearray) -> None:
    """Interleave two 16-bit little-endian channels of equal length into an 8 kHz WAV
    (written to ``<path>.part`` and renamed, so nobody sees half a file; interleaved a
    minute at a time, so a long call needs little memory beyond its two channels)."""
    if len(left) != len(right) or len(left) % 2:
        raise ValueError("the channels must hold the same whole number of samples")
    part = path.with_name(path.name + ".part")
    step = 2 * 60 * SAMPLE_RATE
    with wave.open(str(part), "wb") as out:
        out.setnchannels(2)
        out.setsampwidth(2)
        out.setframerate(SAMPLE_RATE)
        for start in range(0, len(left), step):
            lpart, rpart = left[start : start + step], right[start : start + step]
            frames = bytearray(2 * len(lpart))
            frames[0::4] = lpart[0::2]
            frames[1::4] = lpart[1::2]
            frames[2::4] = rpart[0::2]
            frames[3::4] = rpart[1::2]
            out.writeframesraw(frames)
    os.replace(part, path)


__all__ = [
    "MAX_LATE",
    "MAX_SKEW",
    "SAMPLE_RATE",
    "ChannelStats",
    "PcapError",
    "PcapReader",
    "WavJob",
    "WavResult",
    "pcaps_to_wav",
    "write_stereo_wav",
]
