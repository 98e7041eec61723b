"""An RTP audio mixer in the switch process (G.711, 8 kHz, 20 ms frames).

rtpengine 10.5 relays two-party calls but cannot mix (decision 0001), so
listen-in with talk-back, whisper, barge, three-way conference and
consultation calls run their audio through this mixer: every party of a
supervised or multi-party call gets a :class:`MixerPort` (one UDP socket,
pointed at rtpengine or the phone by SDP) in a :class:`MixerRoom`.

Every 20 ms (one drift-corrected clock for the whole :class:`Mixer`) a room
takes at most one 20 ms frame per port from a small jitter buffer (at most
four frames are kept, the oldest are dropped; a missing frame is silence),
and sends each port the sum of the frames of the ports it *hears*, clipped to
16 bits and encoded in that port's codec (PCMU or PCMA, from SDP), with the
port's own SSRC, sequence (+1) and timestamp (+160), marker on the first
packet. Silence is sent too (NAT/rtpengine latching, gap detection).
RFC 4733 telephone-event packets are counted (``stats.events_ignored``) and
not mixed. A port playing a WAV file (:meth:`MixerPort.play`, music on hold)
hears the file instead of the mix.

Hearing presets (R-SUP-2 listen/whisper/barge, R-IN-8 transfer/consult)::

    room = mixer.room("call-42")
    c, a = await room.add_port("C"), await room.add_port("A")
    s = await room.add_port("S")            # default: everyone hears everyone
    room.set_listen("S", ["C", "A"])        # listen: S hears C+A, nobody hears S
    room.set_whisper("S", agent="A", caller="C")
                                            # whisper: S hears C+A, A hears C+S,
                                            # C hears only A
    room.set_conference()                   # barge / conference: all hear all others
    room.set_consult("C", agent="A", consulted="B", music=moh_wav)
                                            # consult: C hears music, A and B hear
                                            # each other, nobody hears C
    room.set_hears("A", ["C"])              # any matrix, one listener at a time
    room.set_muted("A", True)               # nobody hears A (kept across presets)

A new port hears every other port and every other port hears it. Presets
only change who hears whom; mute is a separate overlay they never touch.

Signalling: :meth:`MixerPort.sdp_offer` / :meth:`MixerPort.accept_answer`
when the mixer offers, :meth:`MixerPort.sdp_answer` when the peer offered.
The remote address comes from SDP and is re-latched to the source of the RTP
that arrives (symmetric RTP). Bad SDP raises :class:`MixerSdpError`.

Pure Python with precomputed tables (256-entry decode, wrap-around encode
table that also clips the sum of up to four sources); a frame heard from a
single source is forwarded as is (or translated µ-law ↔ A-law byte-wise), two
sources are mixed with one 64 KiB pair table look-up per sample. See
``bench/bench_mixer.py`` for the numbers behind these choices.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import ipaddress
import itertools
import logging
import operator
import random
import socket
import struct
import sys
import time
import wave
from array import array
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

from cti_server.switch.media.rtp import (
    PT_PCMA,
    PT_PCMU,
    SAMPLE_RATE,
    SAMPLES_PER_PACKET,
    alaw_decode,
    alaw_encode,
    ulaw_decode,
    ulaw_encode,
)
from cti_server.switch.sip.sdp import (
    TELEPHONE_EVENT,
    Direction,
    Media,
    NoCommonCodec,
    SdpParseError,
    SessionDescription,
    audio_answer,
    audio_offer,
    parse_sdp,
)

log = logging.getLogger(__name__)

FRAME_SECONDS = 0.02
FRAME_SAMPLES = SAMPLES_PER_PACKET  # 160 samples = 20 ms at 8 kHz
MAX_BUFFERED_FRAMES = 4
MAX_CATCH_UP_FRAMES = 2
DEFAULT_PORT_RANGE = (7000, 7999)
DEFAULT_TELEPHONE_EVENT_PT = 101
_CODEC_NAMES = {PT_PCMU: "PCMU", PT_PCMA: "PCMA"}
_HEADER = struct.Struct("!BBHII")
_ENCODE_HALF = 1 << 17  # the encode table covers sums in [-2**17, 2**17)
_MAX_UNCHECKED_SOURCES = 4  # 4 × int16 always fits the encode table


class MixerError(ValueError):
    """A mixer request that cannot be done (unknown label, closed room, no free port...)."""


class MixerSdpError(MixerError):
    """SDP the mixer cannot use: malformed, no audio stream, no PCMU/PCMA, bad address."""


@dataclass(slots=True)
class MixerPortStats:
    """Counters of one port (a snapshot is returned by :attr:`MixerPort.stats`)."""

    packets_in: int = 0
    packets_out: int = 0
    frames_missing: int = 0  # ticks with no frame after the port's first audio packet
    late_dropped: int = 0  # frames dropped because more than 4 were waiting
    events_ignored: int = 0  # RFC 4733 telephone-event packets (not mixed)
    other_ignored: int = 0  # RTP with a payload type that is neither G.711 nor events
    bad_packets: int = 0  # datagrams that are not RTP
    relatched: int = 0  # times the remote moved to the source of received RTP
    send_errors: int = 0  # ICMP errors reported for the socket


@dataclass(slots=True)
class MixerClockStats:
    """How the 20 ms clock keeps up (all clocks of a mixer together)."""

    wakeups: int = 0
    busy_seconds: float = 0.0  # time spent mixing and sending
    busy_max: float = 0.0  # longest single wake-up (all rooms of a shared clock)
    late_max: float = 0.0  # latest wake-up after its slot (scheduling + previous work)

    @property
    def busy_mean(self) -> float:
        return self.busy_seconds / self.wakeups if self.wakeups else 0.0


# --- codec tables --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Codec:
    payload_type: int
    decode: tuple[int, ...]  # byte → linear sample
    encode: bytes  # linear sum → byte; negative sums index from the end (wrap-around)
    silence: bytes  # one 20 ms frame of silence

    def encode_sum(self, samples: Iterable[int], sources: int) -> bytes:
        if sources > _MAX_UNCHECKED_SOURCES:
            values = list(samples)
            if min(values) < -_ENCODE_HALF or max(values) >= _ENCODE_HALF:
                values = [max(-32768, min(32767, v)) for v in values]
            samples = values
        return bytes(map(self.encode.__getitem__, samples))


@functools.cache
def _codec(payload_type: int) -> _Codec:
    encode = ulaw_encode if payload_type == PT_PCMU else alaw_encode
    decode = ulaw_decode if payload_type == PT_PCMU else alaw_decode
    linear = encode(range(-32768, 32768))  # index = sample + 32768
    low, high = linear[:1], linear[-1:]
    fill = _ENCODE_HALF - 32768
    table = linear[32768:] + high * fill + low * fill + linear[:32768]
    assert len(table) == 2 * _ENCODE_HALF
    return _Codec(
        payload_type, tuple(decode(bytes(range(256)))), table, encode([0]) * FRAME_SAMPLES
    )


@functools.cache
def _transcode_table(source: int, target: int) -> bytes:
    """A ``bytes.translate`` table from one G.711 law to the other."""
    return bytes(_codec(target).encode[s] for s in _codec(source).decode)


@functools.cache
def _pair_table(high: int, low: int, target: int) -> bytes:
    """65536 entries: ``(a << 8) | b`` → ``target`` byte of decode(a) + decode(b)."""
    high_decode, low_decode = _codec(high).decode, _codec(low).decode
    encode = _codec(target).encode
    return b"".join(
        bytes(map(encode.__getitem__, map(operator.add, itertools.repeat(a, 256), low_decode)))
        for a in high_decode
    )


def _mix_pair(a: bytes, a_law: int, b: bytes, b_law: int, target: int) -> bytes:
    """The sum of two frames in one table look-up per sample (the common case:
    three-party conference, whisper, listen)."""
    table = _pair_table(a_law, b_law, target)
    pairs = bytearray(2 * FRAME_SAMPLES)
    if sys.byteorder == "little":
        pairs[0::2], pairs[1::2] = b, a
    else:
        pairs[0::2], pairs[1::2] = a, b
    return bytes(map(table.__getitem__, memoryview(pairs).cast("H")))


def _translate(payload: bytes, source: int, target: int) -> bytes:
    return payload if source == target else payload.translate(_transcode_table(source, target))


# --- WAV files (music on hold) ----------------------------------------------------

_WAV_PCM, _WAV_ALAW, _WAV_ULAW, _WAV_EXTENSIBLE = 1, 6, 7, 0xFFFE


def read_wav_samples(path: Path | str) -> array[int]:
    """An 8 kHz mono WAV (16-bit PCM, A-law or µ-law) as 16-bit linear samples."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise MixerError(f"cannot read WAV {path}: {exc}") from exc
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise MixerError(f"{path} is not a WAV file")
    fmt: tuple[int, int, int, int] | None = None
    offset = 12
    while offset + 8 <= len(data):
        chunk_id = data[offset : offset + 4]
        (size,) = struct.unpack_from("<I", data, offset + 4)
        body = data[offset + 8 : offset + 8 + size]
        if chunk_id == b"fmt ":
            if len(body) < 16:
                raise MixerError(f"{path}: short fmt chunk")
            tag, channels, rate, _, _, bits = struct.unpack_from("<HHIIHH", body)
            if tag == _WAV_EXTENSIBLE and len(body) >= 26:
                (tag,) = struct.unpack_from("<H", body, 24)
            fmt = (tag, channels, rate, bits)
        elif chunk_id == b"data":
            if fmt is None:
                raise MixerError(f"{path}: data before fmt chunk")
            return _wav_samples(path, fmt, body)
        offset += 8 + size + (size & 1)
    raise MixerError(f"{path}: no data chunk")


def _wav_samples(path: Path | str, fmt: tuple[int, int, int, int], body: bytes) -> array[int]:
    tag, channels, rate, bits = fmt
    if channels != 1 or rate != SAMPLE_RATE:
        raise MixerError(f"{path}: need 8 kHz mono, got {rate} Hz × {channels} channels")
    if tag == _WAV_PCM and bits == 16:
        samples = array("h", body[: len(body) & ~1])
        if sys.byteorder == "big":
            samples.byteswap()
    elif tag in (_WAV_ALAW, _WAV_ULAW) and bits == 8:
        codec = _codec(PT_PCMA if tag == _WAV_ALAW else PT_PCMU)
        samples = array("h", map(codec.decode.__getitem__, body))
    else:
        raise MixerError(f"{path}: unsupported WAV format {tag} with {bits} bits")
    if not samples:
        raise MixerError(f"{path}: no audio")
    return samples


class _Playback:
    """A WAV file being played to one port, encoded lazily per codec."""

    def __init__(self, samples: array[int], loop: bool) -> None:
        self._samples = samples
        self._loop = loop
        self._encoded: dict[int, bytes] = {}
        self._position = 0

    def next_frame(self, payload_type: int) -> bytes | None:
        encoded = self._encoded.get(payload_type)
        if encoded is None:
            codec = _codec(payload_type)
            encoded = bytes(map(codec.encode.__getitem__, self._samples))
            self._encoded[payload_type] = encoded
        if self._position >= len(encoded):
            if not self._loop:
                return None
            self._position = 0
        frame = encoded[self._position : self._position + FRAME_SAMPLES]
        self._position += FRAME_SAMPLES
        if len(frame) < FRAME_SAMPLES:
            if self._loop:
                self._position = FRAME_SAMPLES - len(frame)
                frame += encoded[: self._position]
            frame += _codec(payload_type).silence[len(frame) :]
        return frame


# --- address helpers ---------------------------------------------------------------


def _ip(host: str, what: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    try:
        return ipaddress.ip_address(host)
    except ValueError as exc:
        raise MixerSdpError(f"{what} {host!r} is not an IP address") from exc


def _parse(sdp: str) -> tuple[SessionDescription, Media]:
    try:
        parsed = parse_sdp(sdp)
    except SdpParseError as exc:
        raise MixerSdpError(f"malformed SDP: {exc}") from exc
    audio = parsed.audio
    if audio is None:
        raise MixerSdpError("SDP has no audio stream")
    if audio.port == 0:
        raise MixerSdpError("the audio stream is rejected (port 0)")
    return parsed, audio


_REVERSE: dict[Direction, Direction] = {
    "sendrecv": "sendrecv",
    "sendonly": "recvonly",
    "recvonly": "sendonly",
    "inactive": "inactive",
}


# --- ports ----------------------------------------------------------------------------


class _PortProtocol(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.port: MixerPort | None = None  # set right after the endpoint is created
        self.lost: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def datagram_received(self, data: bytes, addr: tuple[str | bytes, int]) -> None:
        if self.port is not None:
            self.port._on_datagram(data, addr)

    def error_received(self, exc: Exception) -> None:
        if self.port is not None:
            self.port._stats.send_errors += 1

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.lost.done():
            self.lost.set_result(None)


class MixerPort:
    """One party's audio in a room: a UDP socket, its codec, remote and jitter buffer."""

    def __init__(
        self,
        room: MixerRoom,
        label: str,
        transport: asyncio.DatagramTransport,
        protocol: _PortProtocol,
        local_address: tuple[str, int],
    ) -> None:
        self.label = label
        self._room = room
        self._transport = transport
        self._local = local_address
        self._remote: tuple[str, int] | None = None
        self._codec_pt = PT_PCMU  # which G.711 law
        self._send_pt = PT_PCMU  # payload type on the wire (may be dynamic)
        self._receive_pts: dict[int, int] = {PT_PCMU: PT_PCMU, PT_PCMA: PT_PCMA}
        self._event_pt = DEFAULT_TELEPHONE_EVENT_PT
        self._direction: Direction = "sendrecv"
        self._buffer = bytearray()
        self._receiving = False
        self._stats = MixerPortStats()
        rng = random.SystemRandom()
        self._ssrc = rng.getrandbits(32)
        self._seq = rng.getrandbits(16)
        self._ts = rng.getrandbits(32)
        self._first = True
        self._playback: _Playback | None = None
        self._sdp_version = 0
        self._sdp_last = ""
        self._lost = protocol.lost
        protocol.port = self

    # -- public state --

    @property
    def local_address(self) -> tuple[str, int]:
        return self._local

    @property
    def remote(self) -> tuple[str, int] | None:
        return self._remote

    @property
    def payload_type(self) -> int:
        """Payload type of the packets we send (0, 8 or a dynamic one for PCMU/PCMA)."""
        return self._send_pt

    @property
    def codec(self) -> str:
        """``"PCMU"`` or ``"PCMA"``."""
        return _CODEC_NAMES[self._codec_pt]

    @property
    def direction(self) -> Direction:
        """Our side's direction from the last SDP exchange (``sendrecv`` by default)."""
        return self._direction

    @property
    def stats(self) -> MixerPortStats:
        return replace(self._stats)

    @property
    def playing(self) -> bool:
        return self._playback is not None

    @property
    def ssrc(self) -> int:
        return self._ssrc

    # -- configuration --

    def set_remote(self, host: str, port: int) -> None:
        """Where to send (until RTP from elsewhere re-latches it)."""
        if not 0 < port < 65536:
            raise MixerError(f"bad remote port {port}")
        self._check_family(_ip(host, "remote address"))
        self._remote = (host, port)

    def set_codec(self, codec: str, payload_type: int | None = None) -> None:
        """Send ``"PCMU"``/``"PCMA"`` (with ``payload_type``, default the static one)."""
        names = {v: k for k, v in _CODEC_NAMES.items()}
        if codec.upper() not in names:
            raise MixerError(f"unsupported codec {codec!r}")
        law = names[codec.upper()]
        self._apply_codec(law, law if payload_type is None else payload_type)

    def play(self, path: Path | str, loop: bool = True) -> None:
        """Send this 8 kHz mono WAV (PCM16 or G.711) instead of the mix (music on hold)."""
        self._playback = _Playback(_cached_wav(Path(path)), loop)

    def stop_play(self) -> None:
        """Back to the mix."""
        self._playback = None

    # -- SDP --

    def sdp_offer(self, session_id: int) -> str:
        """Offer PCMU, PCMA and telephone-event/8000 on this port (sendrecv, ptime 20)."""
        host, port = self._room._mixer.advertised_host, self._local[1]
        sdp = audio_offer(
            host,
            port,
            codecs=(str(PT_PCMU), str(PT_PCMA)),
            telephone_event=str(self._event_pt),
            session_id=str(session_id),
            username="opencc-mixer",
        )
        return self._versioned(sdp)

    def sdp_answer(self, offer: str, session_id: int) -> str:
        """Answer the peer's offer: first of PCMU/PCMA offered, remote from its c=/m=."""
        parsed, audio = _parse(offer)
        host, port = self._room._mixer.advertised_host, self._local[1]
        try:
            answer = audio_answer(
                parsed,
                host,
                port,
                supported=("PCMU", "PCMA"),
                session_id=str(session_id),
                username="opencc-mixer",
            )
        except NoCommonCodec as exc:
            raise MixerSdpError(str(exc)) from exc
        answered = answer.audio
        assert answered is not None
        self._apply_sdp(parsed, audio, answered.formats[0], _REVERSE[parsed.direction(audio)])
        return self._versioned(answer)

    def accept_answer(self, answer_sdp: str) -> None:
        """Take the peer's answer to :meth:`sdp_offer`: its codec and address."""
        parsed, audio = _parse(answer_sdp)
        maps = audio.rtpmaps
        chosen = [
            pt
            for pt in audio.formats
            if pt in maps and maps[pt].encoding.upper() in ("PCMU", "PCMA")
        ]
        if not chosen:
            raise MixerSdpError("answer has no PCMU/PCMA")
        self._apply_sdp(parsed, audio, chosen[0], _REVERSE[parsed.direction(audio)])

    # -- internals --

    def _apply_sdp(
        self, parsed: SessionDescription, audio: Media, chosen: str, direction: Direction
    ) -> None:
        maps = audio.rtpmaps
        connection = parsed.media_connection(audio)
        assert connection is not None  # parse_sdp guarantees it for a non-zero port
        address = _ip(connection.address, "c= address")
        self._check_family(address)
        if not chosen.isdigit() or int(chosen) > 127:
            raise MixerSdpError(f"bad payload type {chosen!r}")
        law = PT_PCMU if maps[chosen].encoding.upper() == "PCMU" else PT_PCMA
        events = [pt for pt in audio.formats if pt in maps and maps[pt].encoding == TELEPHONE_EVENT]
        # validated: now apply
        self._apply_codec(law, int(chosen))
        for pt, rtpmap in maps.items():
            if pt.isdigit() and rtpmap.encoding.upper() in ("PCMU", "PCMA"):
                self._receive_pts[int(pt)] = (
                    PT_PCMU if rtpmap.encoding.upper() == "PCMU" else PT_PCMA
                )
        if events and events[0].isdigit():
            self._event_pt = int(events[0])
        self._direction = direction
        if not address.is_unspecified:  # c=0.0.0.0 is RFC 2543 hold: keep the old remote
            self._remote = (str(address), audio.port)

    def _apply_codec(self, law: int, payload_type: int) -> None:
        if law != self._codec_pt:
            self._buffer.clear()
        self._codec_pt = law
        self._send_pt = payload_type
        self._receive_pts[payload_type] = law

    def _versioned(self, sdp: SessionDescription) -> str:
        body = sdp.to_text()
        if body != self._sdp_last:
            self._sdp_last = body
            self._sdp_version += 1
        return replace(sdp, origin=replace(sdp.origin, session_version=self._sdp_version)).to_text()

    def _check_family(self, address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> None:
        local_v6 = ":" in self._local[0]
        if (address.version == 6) != local_v6:
            raise MixerSdpError(f"address {address} does not match the mixer's {self._local[0]}")

    def _on_datagram(self, data: bytes, addr: tuple[str | bytes, int]) -> None:
        stats = self._stats
        size = len(data)
        if size < 12 or data[0] >> 6 != 2:
            stats.bad_packets += 1
            return
        first = data[0]
        offset = 12 + 4 * (first & 0x0F)
        if first & 0x10:
            if size < offset + 4:
                stats.bad_packets += 1
                return
            offset += 4 + 4 * int.from_bytes(data[offset + 2 : offset + 4])
        end = size - data[-1] if first & 0x20 else size
        if offset > end:
            stats.bad_packets += 1
            return
        stats.packets_in += 1
        source = (str(addr[0]), int(addr[1]))
        if source != self._remote:
            if self._remote is not None:
                stats.relatched += 1
            self._remote = source
        payload_type = data[1] & 0x7F
        law = self._receive_pts.get(payload_type)
        if law is None:
            if payload_type == self._event_pt:
                stats.events_ignored += 1
            else:
                stats.other_ignored += 1
            return
        buffer = self._buffer
        buffer += _translate(data[offset:end], law, self._codec_pt)
        self._receiving = True
        excess = len(buffer) - MAX_BUFFERED_FRAMES * FRAME_SAMPLES
        if excess > 0:
            frames = -(-excess // FRAME_SAMPLES)
            del buffer[: frames * FRAME_SAMPLES]
            stats.late_dropped += frames

    def _take_frame(self) -> bytes | None:
        buffer = self._buffer
        if len(buffer) >= FRAME_SAMPLES:
            frame = bytes(buffer[:FRAME_SAMPLES])
            del buffer[:FRAME_SAMPLES]
            return frame
        if self._receiving:
            self._stats.frames_missing += 1
        return None

    def _play_frame(self) -> bytes | None:
        assert self._playback is not None
        frame = self._playback.next_frame(self._codec_pt)
        if frame is None:
            self._playback = None
        return frame

    def _send(self, payload: bytes) -> None:
        remote = self._remote
        if remote is None or self._direction in ("recvonly", "inactive"):
            return
        marker = 0x80 if self._first else 0
        header = _HEADER.pack(0x80, marker | self._send_pt, self._seq, self._ts, self._ssrc)
        self._transport.sendto(header + payload, remote)
        self._seq = (self._seq + 1) & 0xFFFF
        self._ts = (self._ts + FRAME_SAMPLES) & 0xFFFFFFFF
        self._first = False
        self._stats.packets_out += 1

    async def _close(self) -> None:
        self._transport.close()
        await self._lost


@functools.lru_cache(maxsize=16)
def _wav_by_stat(path: Path, mtime_ns: int, size: int) -> array[int]:
    return read_wav_samples(path)


def _cached_wav(path: Path) -> array[int]:
    try:
        st = path.stat()
    except OSError as exc:
        raise MixerError(f"cannot read WAV {path}: {exc}") from exc
    return _wav_by_stat(path, st.st_mtime_ns, st.st_size)


# --- rooms ----------------------------------------------------------------------------


class MixerRoom:
    """A set of ports mixed together every 20 ms according to a hearing matrix."""

    def __init__(self, mixer: Mixer, room_id: str) -> None:
        self.room_id = room_id
        self._mixer = mixer
        self._ports: dict[str, MixerPort] = {}
        self._hears: dict[str, set[str]] = {}
        self._muted: set[str] = set()
        self._recorder: wave.Wave_write | None = None
        self._closed = False
        self._lock = asyncio.Lock()
        self.tick_overruns = 0
        self.ticks = 0

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(self._ports)

    @property
    def closed(self) -> bool:
        return self._closed

    def port(self, label: str) -> MixerPort:
        self._check(label)
        return self._ports[label]

    async def add_port(self, label: str) -> MixerPort:
        """A new port on a free even UDP port; it hears everyone and everyone hears it."""
        async with self._lock:
            if self._closed:
                raise MixerError(f"room {self.room_id} is closed")
            if label in self._ports:
                raise MixerError(f"room {self.room_id} already has a port {label!r}")
            port = await self._mixer._open_port(self, label)
            for other in self._ports:
                self._hears[other].add(label)
            self._hears[label] = set(self._ports)
            self._ports[label] = port
            if len(self._ports) == 1:
                self._mixer._activate(self)
            return port

    async def remove_port(self, label: str) -> None:
        """Close the port; the others keep hearing each other."""
        async with self._lock:
            self._check(label)
            port = self._ports.pop(label)
            del self._hears[label]
            for heard in self._hears.values():
                heard.discard(label)
            self._muted.discard(label)
            if not self._ports:
                self._mixer._deactivate(self)
            await port._close()

    async def close(self) -> None:
        """Close every port (freeing the UDP ports) and stop recording."""
        async with self._lock:
            if self._closed:
                return
            self._closed = True
            self._mixer._forget(self)
            ports = list(self._ports.values())
            self._ports.clear()
            self._hears.clear()
            self.stop_record()
            await asyncio.gather(*(p._close() for p in ports))

    # -- hearing matrix --

    def hears(self, listener: str) -> frozenset[str]:
        self._check(listener)
        return frozenset(self._hears[listener])

    def set_hears(self, listener: str, sources: Iterable[str]) -> None:
        """``listener`` hears exactly ``sources`` (other ports of this room)."""
        self._check(listener)
        wanted = set(sources)
        for source in wanted:
            self._check(source)
        if listener in wanted:
            raise MixerError(f"port {listener!r} cannot hear itself")
        self._hears[listener] = wanted

    def set_muted(self, label: str, muted: bool) -> None:
        """Nobody hears ``label`` while muted (the matrix is kept for unmute)."""
        self._check(label)
        if muted:
            self._muted.add(label)
        else:
            self._muted.discard(label)

    def is_muted(self, label: str) -> bool:
        self._check(label)
        return label in self._muted

    def set_conference(self, labels: Iterable[str] | None = None) -> None:
        """Barge / conference: each of ``labels`` (default all) hears all the others."""
        members = list(self._ports) if labels is None else list(labels)
        for label in members:
            self._check(label)
        for label in members:
            self.set_hears(label, [m for m in members if m != label])

    def set_listen(self, listener: str, parties: Iterable[str]) -> None:
        """Listen: ``listener`` hears ``parties``; parties hear each other, nobody hears
        the listener."""
        members = list(parties)
        for label in (listener, *members):
            self._check(label)
        self.set_hears(listener, members)
        for label in members:
            self.set_hears(label, [m for m in members if m != label])
        for label, heard in self._hears.items():
            if label != listener:
                heard.discard(listener)

    def set_whisper(self, supervisor: str, *, agent: str, caller: str) -> None:
        """Whisper: supervisor hears caller+agent, agent hears caller+supervisor,
        caller hears only the agent."""
        for label in (supervisor, agent, caller):
            self._check(label)
        if len({supervisor, agent, caller}) != 3:
            raise MixerError("supervisor, agent and caller must be three different ports")
        self.set_hears(supervisor, [caller, agent])
        self.set_hears(agent, [caller, supervisor])
        self.set_hears(caller, [agent])

    def set_consult(
        self, held: str, *, agent: str, consulted: str, music: Path | str | None = None
    ) -> None:
        """Consultation: agent and consulted hear each other, nobody hears the held party,
        who hears ``music`` (looped) if given, else silence."""
        for label in (held, agent, consulted):
            self._check(label)
        if len({held, agent, consulted}) != 3:
            raise MixerError("held, agent and consulted must be three different ports")
        if music is not None:
            self._ports[held].play(music, loop=True)  # first: a bad file changes nothing
        self.set_hears(agent, [consulted])
        self.set_hears(consulted, [agent])
        self.set_hears(held, [])
        for label, heard in self._hears.items():
            if label != held:
                heard.discard(held)

    # -- recording --

    def record(self, path: Path | str) -> None:
        """Write the sum of all (unmuted) ports to an 8 kHz 16-bit mono WAV until
        :meth:`stop_record` or :meth:`close`."""
        if self._closed:
            raise MixerError(f"room {self.room_id} is closed")
        self.stop_record()
        try:
            writer = wave.open(str(path), "wb")  # noqa: SIM115 (closed by stop_record)
        except OSError as exc:
            raise MixerError(f"cannot record to {path}: {exc}") from exc
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(SAMPLE_RATE)
        self._recorder = writer

    def stop_record(self) -> None:
        writer, self._recorder = self._recorder, None
        if writer is not None:
            with contextlib.suppress(OSError):
                writer.close()

    @property
    def recording(self) -> bool:
        return self._recorder is not None

    # -- internals --

    def _check(self, label: str) -> None:
        if label not in self._ports:
            raise MixerError(f"room {self.room_id} has no port {label!r}")

    def _tick(self) -> None:
        """Mix one 20 ms frame for every port."""
        self.ticks += 1
        ports = self._ports
        muted = self._muted
        frames: dict[str, bytes] = {}
        for label, port in ports.items():
            frame = port._take_frame()
            if frame is not None and label not in muted:
                frames[label] = frame
        linear: dict[str, list[int]] = {}

        def decoded(label: str) -> list[int]:
            samples = linear.get(label)
            if samples is None:
                table = _codec(ports[label]._codec_pt).decode
                samples = linear[label] = list(map(table.__getitem__, frames[label]))
            return samples

        total: list[int] | None = None
        for label, port in ports.items():
            law = port._codec_pt
            if port._playback is not None:
                played = port._play_frame()
                if played is not None:
                    port._send(played)
                    continue
            heard = [s for s in self._hears[label] if s in frames]
            if not heard:
                payload = _codec(law).silence
            elif len(heard) == 1:
                source = heard[0]
                payload = _translate(frames[source], ports[source]._codec_pt, law)
            elif len(heard) == 2:
                first, second = heard
                payload = _mix_pair(
                    frames[first],
                    ports[first]._codec_pt,
                    frames[second],
                    ports[second]._codec_pt,
                    law,
                )
            else:
                mix: Iterator[int] | list[int]
                own = label in frames
                if len(heard) >= 3 and len(heard) == len(frames) - own:
                    # hears everyone who talks: total minus own (O(n) for big conferences)
                    if total is None:
                        total = _sum(decoded(s) for s in frames)
                    mix = map(operator.sub, total, decoded(label)) if own else total
                else:
                    mix = _sum_lazy([decoded(s) for s in heard])
                payload = _codec(law).encode_sum(mix, len(heard))
            port._send(payload)
        if self._recorder is not None:
            self._write_recording([decoded(s) for s in frames])

    def _write_recording(self, sources: list[list[int]]) -> None:
        assert self._recorder is not None
        if sources:
            mixed = array("h", (max(-32768, min(32767, v)) for v in _sum_lazy(sources)))
        else:
            mixed = array("h", bytes(2 * FRAME_SAMPLES))
        if sys.byteorder == "big":
            mixed.byteswap()
        try:
            self._recorder.writeframesraw(mixed.tobytes())
        except OSError:
            log.exception("room %s: recording failed, stopped", self.room_id)
            self.stop_record()


def _sum_lazy(sources: list[list[int]]) -> Iterator[int]:
    mix: Iterator[int] = iter(sources[0])
    for other in sources[1:]:
        mix = map(operator.add, mix, other)
    return mix


def _sum(sources: Iterable[list[int]]) -> list[int]:
    return list(_sum_lazy(list(sources)))


# --- clock ---------------------------------------------------------------------------


class _Clock:
    """Calls ``on_tick`` every 20 ms against an absolute schedule (no drift).

    A wake-up late by one frame or more counts those frames in ``on_overrun`` and
    runs up to two catch-up ticks; frames later than that are skipped.
    """

    def __init__(
        self,
        on_tick: Callable[[], None],
        on_overrun: Callable[[int], None],
        stats: MixerClockStats,
    ) -> None:
        self._on_tick = on_tick
        self._on_overrun = on_overrun
        self._stats = stats
        self._loop = asyncio.get_running_loop()
        self._handle: asyncio.TimerHandle | None = None
        self._start = 0.0
        self._count = 0

    @property
    def running(self) -> bool:
        return self._handle is not None

    def start(self) -> None:
        if self._handle is None:
            self._start = self._loop.time()
            self._count = 0
            self._handle = self._loop.call_at(self._start + FRAME_SECONDS, self._fire)

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _fire(self) -> None:
        self._count += 1
        began = time.perf_counter()
        late = self._loop.time() - (self._start + self._count * FRAME_SECONDS)
        missed = int(late / FRAME_SECONDS) if late >= FRAME_SECONDS else 0
        if missed:
            self._on_overrun(missed)
            self._count += missed
        for _ in range(1 + min(missed, MAX_CATCH_UP_FRAMES)):
            try:
                self._on_tick()
            except Exception:
                log.exception("mixer tick failed")
        busy = time.perf_counter() - began
        stats = self._stats
        stats.wakeups += 1
        stats.busy_seconds += busy
        stats.busy_max = max(stats.busy_max, busy)
        stats.late_max = max(stats.late_max, late)
        if self._handle is not None:
            self._handle = self._loop.call_at(
                self._start + (self._count + 1) * FRAME_SECONDS, self._fire
            )


# --- mixer ----------------------------------------------------------------------------


class Mixer:
    """Owns the rooms, the UDP port range and the 20 ms clock."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port_range: tuple[int, int] = DEFAULT_PORT_RANGE,
        *,
        shared_clock: bool = True,
        advertised_host: str | None = None,
    ) -> None:
        try:
            address = ipaddress.ip_address(host)
            advertised = ipaddress.ip_address(advertised_host or host)
        except ValueError as exc:
            raise MixerError(f"mixer host {host!r} is not an IP address") from exc
        if advertised.is_unspecified:
            raise MixerError(f"bound to {host}: give advertised_host= for the SDP c= line")
        if advertised.version != address.version:
            raise MixerError(f"advertised host {advertised} is not of the family of {host}")
        low, high = port_range
        if not 0 < low <= high < 65536:
            raise MixerError(f"bad port range {port_range}")
        if low + (low & 1) > high:
            raise MixerError(f"port range {port_range} holds no even port")
        self.host = host
        self.advertised_host = str(advertised)
        """The address put in SDP (``host`` unless bound to a wildcard address)."""
        self.port_range = (low, high)
        self._family = socket.AF_INET6 if address.version == 6 else socket.AF_INET
        self._shared = shared_clock
        self._rooms: dict[str, MixerRoom] = {}
        self._active: dict[str, MixerRoom] = {}
        self._clocks: dict[str, _Clock] = {}
        self._clock: _Clock | None = None
        self._in_use: set[int] = set()
        self._cursor = low + (low & 1)
        self._started = False
        self._closed = False
        self.tick_overruns = 0
        self._clock_stats = MixerClockStats()

    # -- lifecycle --

    def start(self) -> None:
        """Prepare the codec tables; rooms may be created after this."""
        if self._closed:
            raise MixerError("mixer is closed")
        asyncio.get_running_loop()
        for law in (PT_PCMU, PT_PCMA):
            _codec(law)
            _transcode_table(law, PT_PCMA if law == PT_PCMU else PT_PCMU)
            _pair_table(law, law, law)  # ~10 ms each; mixed-codec tables on first use
        self._started = True

    async def close(self) -> None:
        """Close every room and stop the clock."""
        self._closed = True
        await asyncio.gather(*(room.close() for room in list(self._rooms.values())))
        if self._clock is not None:
            self._clock.stop()

    async def __aenter__(self) -> Mixer:
        self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- rooms --

    def room(self, room_id: str) -> MixerRoom:
        """The room ``room_id``, created if needed."""
        if self._closed:
            raise MixerError("mixer is closed")
        if not self._started:
            self.start()
        room = self._rooms.get(room_id)
        if room is None:
            room = self._rooms[room_id] = MixerRoom(self, room_id)
        return room

    @property
    def rooms(self) -> dict[str, MixerRoom]:
        return dict(self._rooms)

    @property
    def ticking(self) -> bool:
        """Whether any clock runs (false when every room is empty)."""
        if self._clock is not None and self._clock.running:
            return True
        return any(c.running for c in self._clocks.values())

    @property
    def clock_stats(self) -> MixerClockStats:
        return replace(self._clock_stats)

    def reset_clock_stats(self) -> None:
        self._clock_stats.busy_max = self._clock_stats.late_max = 0.0

    @property
    def ports_in_use(self) -> int:
        return len(self._in_use)

    # -- internals used by rooms --

    async def _open_port(self, room: MixerRoom, label: str) -> MixerPort:
        low, high = self.port_range
        first = low + (low & 1)
        evens = list(range(first, high + 1, 2))
        start = evens.index(self._cursor) if self._cursor in evens else 0
        loop = asyncio.get_running_loop()
        for number in evens[start:] + evens[:start]:
            if number in self._in_use:
                continue
            sock = socket.socket(self._family, socket.SOCK_DGRAM)
            try:
                sock.bind((self.host, number))
            except OSError:
                sock.close()
                continue
            sock.setblocking(False)
            self._in_use.add(number)
            self._cursor = number + 2 if number + 2 <= high else first
            try:
                transport, protocol = await loop.create_datagram_endpoint(_PortProtocol, sock=sock)
            except BaseException:
                sock.close()
                self._in_use.discard(number)
                raise
            protocol.lost.add_done_callback(self._releaser(number))
            return MixerPort(room, label, transport, protocol, (self.host, number))
        raise MixerError(f"no free even UDP port in {low}-{high} on {self.host}")

    def _releaser(self, number: int) -> Callable[[asyncio.Future[None]], None]:
        def release(_: asyncio.Future[None]) -> None:
            self._in_use.discard(number)

        return release

    def _activate(self, room: MixerRoom) -> None:
        self._active[room.room_id] = room
        if self._shared:
            if self._clock is None:
                self._clock = _Clock(self._tick_all, self._overrun_all, self._clock_stats)
            self._clock.start()
        else:
            clock = self._clocks.get(room.room_id)
            if clock is None:
                clock = self._clocks[room.room_id] = _Clock(
                    room._tick, functools.partial(self._overrun_room, room), self._clock_stats
                )
            clock.start()

    def _deactivate(self, room: MixerRoom) -> None:
        self._active.pop(room.room_id, None)
        clock = self._clocks.pop(room.room_id, None)
        if clock is not None:
            clock.stop()
        if self._clock is not None and not self._active:
            self._clock.stop()

    def _forget(self, room: MixerRoom) -> None:
        self._deactivate(room)
        if self._rooms.get(room.room_id) is room:
            del self._rooms[room.room_id]

    def _tick_all(self) -> None:
        for room in list(self._active.values()):
            try:
                room._tick()
            except Exception:
                log.exception("mixer room %s: tick failed", room.room_id)

    def _overrun_all(self, frames: int) -> None:
        self.tick_overruns += frames
        for room in self._active.values():
            room.tick_overruns += frames

    def _overrun_room(self, room: MixerRoom, frames: int) -> None:
        self.tick_overruns += frames
        room.tick_overruns += frames
