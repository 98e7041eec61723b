"""The switch's RTP mixer over real UDP sockets (R-SUP-2 listen/whisper/barge, R-IN-8
consult/conference, music on hold to a held party).

Every party is a :class:`Leg` (a Python UDP socket) streaming its own tone in real
time (one 20 ms packet per 20 ms); what each party *hears* is decoded and measured
with Goertzel, so "C hears A and B but not itself" is a fact about the audio.
"""

from __future__ import annotations

import asyncio
import itertools
import socket
import struct
import wave
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest
import pytest_asyncio
from hypothesis import given
from hypothesis import strategies as st

from cti_server.switch.media.mixer import (
    Mixer,
    MixerError,
    MixerPort,
    MixerRoom,
    MixerSdpError,
    _mix_pair,
    read_wav_samples,
)
from cti_server.switch.media.process import free_port_range
from cti_server.switch.media.rtp import (
    PT_PCMA,
    PT_PCMU,
    SAMPLES_PER_PACKET,
    RtpPacket,
    alaw_decode,
    alaw_encode,
    g711_decode,
    g711_encode,
    goertzel_power,
    rms,
    tone,
)
from cti_server.switch.media.testing import Leg
from cti_server.switch.sip.sdp import parse_sdp

HOST = "127.0.0.1"
C_HZ, A_HZ, B_HZ, S_HZ, MOH_HZ = 500.0, 1000.0, 1500.0, 2000.0, 700.0


# --- helpers --------------------------------------------------------------------------


class Party:
    """A phone (Leg) wired to one mixer port, talking ``codec``."""

    def __init__(self, leg: Leg, port: MixerPort, payload_type: int = PT_PCMU) -> None:
        self.leg = leg
        self.port = port
        self.payload_type = payload_type
        self.phase = 0

    def next_packet(self, frequency: float) -> RtpPacket:
        samples = tone(frequency, 0.2)  # whole cycles for our frequencies: phase-continuous
        start = (self.phase * SAMPLES_PER_PACKET) % len(samples)
        frame = samples[start : start + SAMPLES_PER_PACKET]
        leg = self.leg
        packet = RtpPacket(
            self.payload_type, leg.seq, leg.ts, leg.ssrc, g711_encode(frame, self.payload_type)
        )
        leg.seq += 1
        leg.ts += SAMPLES_PER_PACKET
        self.phase += 1
        return packet

    def mark(self) -> int:
        return len(self.leg.received)

    def heard(self, start: int, end: int | None = None) -> list[int]:
        """Samples received between two marks, skipping the jitter-buffer warm-up."""
        packets = self.leg.received[start + 8 : end]
        return [s for p in packets for s in g711_decode(p.payload, p.payload_type)]


async def party(room: MixerRoom, label: str, payload_type: int = PT_PCMU) -> Party:
    port = await room.add_port(label)
    leg = await Leg.open()
    if payload_type != PT_PCMU:
        port.set_codec("PCMA")
    port.set_remote(HOST, leg.port)
    leg.remote = port.local_address
    return Party(leg, port, payload_type)


async def talk(talkers: Sequence[tuple[Party, float]], seconds: float) -> None:
    """Each party sends its tone in real time (absolute 20 ms schedule)."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    for i in range(round(seconds / 0.02)):
        for p, frequency in talkers:
            assert p.leg.transport is not None and p.leg.remote is not None
            p.leg.transport.sendto(p.next_packet(frequency).to_bytes(), p.leg.remote)
        delay = start + (i + 1) * 0.02 - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)


async def talk_and_listen(
    parties: Sequence[Party], talkers: Sequence[tuple[Party, float]], seconds: float = 1.0
) -> dict[str, list[int]]:
    marks = {p.port.label: p.mark() for p in parties}
    await talk(talkers, seconds)
    return {p.port.label: p.heard(marks[p.port.label]) for p in parties}


def assert_hears(
    samples: list[int], present: Sequence[float], absent: Sequence[float], who: str
) -> None:
    assert len(samples) >= 1600, f"{who} got only {len(samples)} samples"
    power = {f: goertzel_power(samples, f) for f in (*present, *absent)}
    loudest = max(power.values())
    for f in present:
        assert power[f] > 1e6 and power[f] > loudest / 10, f"{who} does not hear {f} Hz: {power}"
    for f in absent:
        assert power[f] < loudest / 100, f"{who} hears {f} Hz: {power}"


def assert_silent(samples: list[int], who: str) -> None:
    assert len(samples) >= 1600, f"{who} got only {len(samples)} samples"
    assert rms(samples) < 50, f"{who} hears something (rms {rms(samples):.0f})"


@pytest_asyncio.fixture
async def mixer() -> AsyncIterator[Mixer]:
    low, high = free_port_range(HOST, 40)
    mixer = Mixer(HOST, port_range=(low, high))
    mixer.start()
    yield mixer
    await mixer.close()


@pytest_asyncio.fixture
async def legs_to_close() -> AsyncIterator[list[Leg]]:
    legs: list[Leg] = []
    yield legs
    for leg in legs:
        await leg.close()


async def parties(room: MixerRoom, legs: list[Leg], *labels: str) -> list[Party]:
    out = [await party(room, label) for label in labels]
    legs.extend(p.leg for p in out)
    return out


# --- hearing presets ---------------------------------------------------------------------


@pytest.mark.asyncio
async def test_mixer_conference_each_hears_the_others_not_itself(
    mixer: Mixer, legs_to_close: list[Leg]
) -> None:
    room = mixer.room("conf")
    c, a, b = await parties(room, legs_to_close, "C", "A", "B")
    assert set(room.labels) == {"C", "A", "B"}
    heard = await talk_and_listen([c, a, b], [(c, C_HZ), (a, A_HZ), (b, B_HZ)])
    assert_hears(heard["C"], [A_HZ, B_HZ], [C_HZ], "C")
    assert_hears(heard["A"], [C_HZ, B_HZ], [A_HZ], "A")
    assert_hears(heard["B"], [C_HZ, A_HZ], [B_HZ], "B")
    for p in (c, a, b):
        assert p.port.stats.packets_in >= 40
        assert p.leg.received[0].marker and not any(x.marker for x in p.leg.received[1:])


@pytest.mark.asyncio
async def test_mixer_five_party_conference(mixer: Mixer, legs_to_close: list[Leg]) -> None:
    """Five talkers: each hears the four others (total-minus-own path); then C hears
    three chosen ones (summing path)."""
    room = mixer.room("conf5")
    everyone = await parties(room, legs_to_close, "C", "A", "B", "S", "E")
    tones = {"C": C_HZ, "A": A_HZ, "B": B_HZ, "S": S_HZ, "E": 2500.0}
    talkers = [(p, tones[p.port.label]) for p in everyone]
    heard = await talk_and_listen(everyone, talkers)
    for label, own in tones.items():
        assert_hears(heard[label], [f for f in tones.values() if f != own], [own], label)
    room.set_hears("C", ["A", "B", "S"])
    heard = await talk_and_listen(everyone[:1], talkers, 0.6)
    assert_hears(heard["C"], [A_HZ, B_HZ, S_HZ], [C_HZ, 2500.0], "C")


@pytest.mark.asyncio
async def test_mixer_whisper_caller_hears_only_the_agent(
    mixer: Mixer, legs_to_close: list[Leg]
) -> None:
    """R-SUP-2 whisper: the supervisor coaches the agent; the caller never hears it."""
    room = mixer.room("whisper")
    c, a, s = await parties(room, legs_to_close, "C", "A", "S")
    room.set_whisper("S", agent="A", caller="C")
    assert room.hears("C") == {"A"} and room.hears("A") == {"C", "S"}
    heard = await talk_and_listen([c, a, s], [(c, C_HZ), (a, A_HZ), (s, S_HZ)])
    assert_hears(heard["C"], [A_HZ], [S_HZ, C_HZ], "C")
    assert_hears(heard["A"], [C_HZ, S_HZ], [A_HZ], "A")
    assert_hears(heard["S"], [C_HZ, A_HZ], [S_HZ], "S")


@pytest.mark.asyncio
async def test_mixer_listen_nobody_hears_the_supervisor(
    mixer: Mixer, legs_to_close: list[Leg]
) -> None:
    """R-SUP-2 listen: S hears both parties; S's microphone reaches nobody."""
    room = mixer.room("listen")
    c, a, s = await parties(room, legs_to_close, "C", "A", "S")
    room.set_listen("S", ["C", "A"])
    heard = await talk_and_listen([c, a, s], [(c, C_HZ), (a, A_HZ), (s, S_HZ)])
    assert_hears(heard["S"], [C_HZ, A_HZ], [S_HZ], "S")
    assert_hears(heard["C"], [A_HZ], [S_HZ], "C")
    assert_hears(heard["A"], [C_HZ], [S_HZ], "A")
    # barge: the same room becomes a conference
    room.set_conference()
    heard = await talk_and_listen([c, a, s], [(c, C_HZ), (a, A_HZ), (s, S_HZ)])
    assert_hears(heard["C"], [A_HZ, S_HZ], [C_HZ], "C")
    assert_hears(heard["A"], [C_HZ, S_HZ], [A_HZ], "A")


@pytest.mark.asyncio
async def test_mixer_mute_keeps_the_matrix(mixer: Mixer, legs_to_close: list[Leg]) -> None:
    room = mixer.room("mute")
    c, a = await parties(room, legs_to_close, "C", "A")
    room.set_muted("A", True)
    assert room.is_muted("A")
    heard = await talk_and_listen([c, a], [(c, C_HZ), (a, A_HZ)], 0.6)
    assert_silent(heard["C"], "C")
    assert_hears(heard["A"], [C_HZ], [A_HZ], "A")
    room.set_muted("A", False)
    heard = await talk_and_listen([c], [(c, C_HZ), (a, A_HZ)], 0.6)
    assert_hears(heard["C"], [A_HZ], [C_HZ], "C")


def write_tone_wav(path: Path, frequency: float, seconds: float, fmt: str) -> Path:
    samples = tone(frequency, seconds)
    if fmt == "pcm16":
        with wave.open(str(path), "wb") as out:
            out.setnchannels(1)
            out.setsampwidth(2)
            out.setframerate(8000)
            out.writeframes(struct.pack(f"<{len(samples)}h", *samples))
    else:  # A-law WAV (format tag 6), written by hand: the wave module cannot
        data = alaw_encode(samples)
        fmt_chunk = struct.pack("<HHIIHH", 6, 1, 8000, 8000, 1, 8)
        body = (
            b"WAVE"
            + b"fmt "
            + struct.pack("<I", len(fmt_chunk))
            + fmt_chunk
            + b"data"
            + struct.pack("<I", len(data))
            + data
        )
        path.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)
    return path


@pytest.mark.asyncio
@pytest.mark.parametrize("fmt", ["pcm16", "alaw"])
async def test_mixer_consult_held_party_hears_music_then_the_mix(
    mixer: Mixer, legs_to_close: list[Leg], tmp_path: Path, fmt: str
) -> None:
    """Consultation (R-IN-8): C on hold hears music; A and B talk privately; then back."""
    moh = write_tone_wav(tmp_path / "moh.wav", MOH_HZ, 0.5, fmt)
    room = mixer.room("consult")
    c, a, b = await parties(room, legs_to_close, "C", "A", "B")
    room.set_consult("C", agent="A", consulted="B", music=moh)
    assert c.port.playing
    talkers = [(c, C_HZ), (a, A_HZ), (b, B_HZ)]
    heard = await talk_and_listen([c, a, b], talkers, 1.2)
    assert_hears(heard["C"], [MOH_HZ], [A_HZ, B_HZ], "C")
    assert_hears(heard["A"], [B_HZ], [C_HZ, MOH_HZ], "A")
    assert_hears(heard["B"], [A_HZ], [C_HZ, MOH_HZ], "B")
    c.port.stop_play()
    room.set_conference()
    heard = await talk_and_listen([c], talkers, 0.8)
    assert_hears(heard["C"], [A_HZ, B_HZ], [MOH_HZ, C_HZ], "C")


@pytest.mark.asyncio
async def test_mixer_play_once_returns_to_the_mix(
    mixer: Mixer, legs_to_close: list[Leg], tmp_path: Path
) -> None:
    moh = write_tone_wav(tmp_path / "short.wav", MOH_HZ, 0.3, "pcm16")
    room = mixer.room("once")
    c, a = await parties(room, legs_to_close, "C", "A")
    c.port.play(moh, loop=False)
    mark = c.mark()
    await talk([(a, A_HZ)], 1.2)
    assert not c.port.playing
    packets = c.leg.received[mark:]
    first = [s for p in packets[:12] for s in g711_decode(p.payload, p.payload_type)]
    last = [s for p in packets[-20:] for s in g711_decode(p.payload, p.payload_type)]
    assert_hears(first, [MOH_HZ], [A_HZ], "C during the file")
    assert_hears(last, [A_HZ], [MOH_HZ], "C after the file")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"not a wav", "not a WAV"),
        (
            b"RIFF\x24\0\0\0WAVEfmt \x10\0\0\0"
            + struct.pack("<HHIIHH", 1, 2, 8000, 32000, 4, 16)
            + b"data\0\0\0\0",
            "8 kHz mono",
        ),
        (
            b"RIFF\x24\0\0\0WAVEfmt \x10\0\0\0"
            + struct.pack("<HHIIHH", 1, 1, 16000, 32000, 2, 16)
            + b"data\0\0\0\0",
            "8 kHz mono",
        ),
    ],
)
def test_mixer_rejects_unusable_wav(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "bad.wav"
    path.write_bytes(content)
    with pytest.raises(MixerError, match=message):
        read_wav_samples(path)
    with pytest.raises(MixerError, match="cannot read"):
        read_wav_samples(tmp_path / "missing.wav")


# --- codecs, addresses, SDP -------------------------------------------------------------


@given(st.integers(-32768, 32767))
def test_mixer_alaw_error_is_bounded(sample: int) -> None:
    back = alaw_decode(alaw_encode([sample]))[0]
    assert abs(back - sample) <= max(16, abs(sample) // 16 + 1)


def test_mixer_alaw_known_values() -> None:
    assert alaw_encode([0]) == b"\xd5"
    assert alaw_encode(alaw_decode(bytes(range(256)))) == bytes(range(256))


@given(
    st.binary(min_size=160, max_size=160),
    st.binary(min_size=160, max_size=160),
    st.sampled_from([PT_PCMU, PT_PCMA]),
    st.sampled_from([PT_PCMU, PT_PCMA]),
    st.sampled_from([PT_PCMU, PT_PCMA]),
)
def test_mixer_pair_table_equals_clipped_sum(
    a: bytes, b: bytes, a_law: int, b_law: int, target: int
) -> None:
    """The two-source fast path is exactly decode, add, clip, encode."""
    summed = [
        max(-32768, min(32767, x + y))
        for x, y in zip(g711_decode(a, a_law), g711_decode(b, b_law), strict=True)
    ]
    assert _mix_pair(a, a_law, b, b_law, target) == g711_encode(summed, target)


@pytest.mark.asyncio
async def test_mixer_pcma_and_pcmu_ports_interoperate(
    mixer: Mixer, legs_to_close: list[Leg]
) -> None:
    room = mixer.room("codecs")
    c = await party(room, "C", PT_PCMU)
    a = await party(room, "A", PT_PCMA)
    legs_to_close.extend([c.leg, a.leg])
    assert a.port.codec == "PCMA" and a.port.payload_type == PT_PCMA
    heard = await talk_and_listen([c, a], [(c, C_HZ), (a, A_HZ)])
    assert {p.payload_type for p in c.leg.received} == {PT_PCMU}
    assert {p.payload_type for p in a.leg.received} == {PT_PCMA}
    assert_hears(heard["C"], [A_HZ], [C_HZ], "C (PCMU)")
    assert_hears(heard["A"], [C_HZ], [A_HZ], "A (PCMA)")
    # a third party: two-source mixes across codecs
    b = await party(room, "B", PT_PCMA)
    legs_to_close.append(b.leg)
    heard = await talk_and_listen([c, a, b], [(c, C_HZ), (a, A_HZ), (b, B_HZ)])
    assert_hears(heard["C"], [A_HZ, B_HZ], [C_HZ], "C (PCMU)")
    assert_hears(heard["A"], [C_HZ, B_HZ], [A_HZ], "A (PCMA)")
    assert_hears(heard["B"], [C_HZ, A_HZ], [B_HZ], "B (PCMA)")


@pytest.mark.asyncio
async def test_mixer_relatches_to_the_real_source(mixer: Mixer, legs_to_close: list[Leg]) -> None:
    """Symmetric RTP: rtpengine or a phone may send from another port than advertised."""
    room = mixer.room("latch")
    c, a = await parties(room, legs_to_close, "C", "A")
    wrong = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    wrong.bind((HOST, 0))
    c.port.set_remote(HOST, wrong.getsockname()[1])  # SDP said here; C sends from elsewhere
    try:
        mark = c.mark()
        await talk([(c, C_HZ), (a, A_HZ)], 0.6)
        assert c.port.remote == (HOST, c.leg.port)
        assert c.port.stats.relatched == 1
        assert_hears(c.heard(mark), [A_HZ], [C_HZ], "C after re-latching")
    finally:
        wrong.close()


def offer_from(port: int, formats: str, rtpmaps: str = "", direction: str = "sendrecv") -> str:
    return (
        "v=0\r\no=- 7 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
        f"m=audio {port} RTP/AVP {formats}\r\n{rtpmaps}a={direction}\r\n"
    )


@pytest.mark.asyncio
async def test_mixer_sdp_offer_answer_round_trip(mixer: Mixer, legs_to_close: list[Leg]) -> None:
    room = mixer.room("sdp")
    x = await room.add_port("X")
    y = await room.add_port("Y")
    offer = x.sdp_offer(1234)
    parsed = parse_sdp(offer)
    audio = parsed.audio
    assert audio is not None and audio.port == x.local_address[1]
    assert audio.formats == ("0", "8", "101")
    assert {m.encoding for m in audio.rtpmaps.values()} == {"PCMU", "PCMA", "telephone-event"}
    assert audio.attribute("ptime") == "20" and parsed.direction(audio) == "sendrecv"
    assert parsed.origin.session_id == "1234"
    assert x.sdp_offer(1234) == offer  # unchanged SDP keeps its version
    # a peer that prefers PCMA
    leg = await Leg.open()
    legs_to_close.append(leg)
    answer = y.sdp_answer(
        offer_from(leg.port, "8 0 101", "a=rtpmap:101 telephone-event/8000\r\n"), 99
    )
    answered = parse_sdp(answer).audio
    assert answered is not None and answered.formats == ("8", "101")
    assert answered.port == y.local_address[1]
    assert y.codec == "PCMA" and y.remote == (HOST, leg.port)
    # X offered, Y-as-peer answers: X takes Y's codec and address
    x.accept_answer(y.sdp_answer(offer, 100))
    assert x.remote == y.local_address and y.remote == x.local_address
    assert x.codec == "PCMU" == y.codec
    # dynamic payload type for PCMA is honoured on the wire
    y.sdp_answer(offer_from(leg.port, "96", "a=rtpmap:96 PCMA/8000\r\n"), 101)
    assert (y.codec, y.payload_type) == ("PCMA", 96)
    # a sendonly offer (we are put on hold) is answered recvonly and we stop sending
    held = y.sdp_answer(offer_from(leg.port, "0", direction="sendonly"), 102)
    assert "a=recvonly" in held and y.direction == "recvonly"


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("sdp", "message"),
    [
        ("garbage", "malformed"),
        (
            "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
            "m=video 5000 RTP/AVP 96\r\n",
            "no audio",
        ),
        (offer_from(5000, "18", "a=rtpmap:18 G729/8000\r\n"), "no common audio codec"),
        (offer_from(0, "0"), "rejected"),
        (offer_from(5000, "0").replace("c=IN IP4 127.0.0.1", "c=IN IP4 pbx.example"), "IP"),
        (offer_from(5000, "0").replace("c=IN IP4 127.0.0.1", "c=IN IP6 ::1"), "does not match"),
    ],
)
async def test_mixer_bad_sdp_is_a_typed_error_and_changes_nothing(
    mixer: Mixer, sdp: str, message: str
) -> None:
    port = await mixer.room("bad").add_port("X")
    port.set_remote(HOST, 4000)
    with pytest.raises(MixerSdpError, match=message):
        port.sdp_answer(sdp, 1)
    with pytest.raises(MixerError):
        port.accept_answer(sdp)
    assert port.remote == (HOST, 4000) and port.codec == "PCMU"


@pytest.mark.asyncio
async def test_mixer_bad_requests_are_typed_errors(mixer: Mixer) -> None:
    room = mixer.room("errors")
    await room.add_port("A")
    with pytest.raises(MixerError, match="already has"):
        await room.add_port("A")
    with pytest.raises(MixerError, match="no port 'Z'"):
        room.set_hears("A", ["Z"])
    with pytest.raises(MixerError, match="itself"):
        room.set_hears("A", ["A"])
    with pytest.raises(MixerError, match="no port"):
        await room.remove_port("Z")
    with pytest.raises(MixerError, match="not an IP"):
        room.port("A").set_remote("pbx.example", 5000)
    await room.add_port("B")
    await room.add_port("C")
    before = {label: room.hears(label) for label in room.labels}
    with pytest.raises(MixerError, match="cannot read WAV"):
        room.set_consult("A", agent="B", consulted="C", music="/nonexistent/moh.wav")
    with pytest.raises(MixerError, match="no port 'Z'"):
        room.set_whisper("A", agent="B", caller="Z")
    with pytest.raises(MixerError, match="three different"):
        room.set_whisper("A", agent="B", caller="B")
    assert {label: room.hears(label) for label in room.labels} == before
    assert not room.port("A").playing
    with pytest.raises(MixerError, match="port range"):
        Mixer(HOST, port_range=(5001, 5001))
    with pytest.raises(MixerError, match="advertised_host"):
        Mixer("0.0.0.0", port_range=(5000, 5001))
    assert Mixer("0.0.0.0", advertised_host="192.0.2.7").advertised_host == "192.0.2.7"
    await room.close()
    with pytest.raises(MixerError, match="closed"):
        await room.add_port("D")


# --- lifecycle, silence, buffers -----------------------------------------------------------


@pytest.mark.asyncio
async def test_mixer_remove_port_mid_call_and_close_frees_ports(
    mixer: Mixer, legs_to_close: list[Leg]
) -> None:
    room = mixer.room("remove")
    c, a, b = await parties(room, legs_to_close, "C", "A", "B")
    await room.remove_port("B")
    assert room.labels == ("C", "A") and "B" not in room.hears("C")
    heard = await talk_and_listen([c, a], [(c, C_HZ), (a, A_HZ), (b, B_HZ)])
    assert_hears(heard["C"], [A_HZ], [B_HZ, C_HZ], "C")
    assert_hears(heard["A"], [C_HZ], [B_HZ, A_HZ], "A")
    numbers = [c.port.local_address[1], a.port.local_address[1], b.port.local_address[1]]
    assert all(n % 2 == 0 for n in numbers)
    await room.close()
    assert mixer.ports_in_use == 0 and not mixer.ticking
    assert "remove" not in mixer.rooms
    for number in numbers:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.bind((HOST, number))  # the UDP port is free again


@pytest.mark.asyncio
async def test_mixer_sends_silence_at_50_packets_per_second(
    mixer: Mixer, legs_to_close: list[Leg]
) -> None:
    """A listener with nothing to hear still gets a steady stream (latching, gap detection)."""
    room = mixer.room("quiet")
    (s,) = await parties(room, legs_to_close, "S")
    await asyncio.sleep(1.0)
    packets = list(s.leg.received)
    assert 40 <= len(packets) <= 55, len(packets)
    assert all(p.payload == b"\xff" * 160 for p in packets)
    assert packets[0].marker
    for prev, cur in itertools.pairwise(packets):
        assert cur.sequence == (prev.sequence + 1) & 0xFFFF
        assert cur.timestamp == (prev.timestamp + 160) & 0xFFFFFFFF
        assert cur.ssrc == prev.ssrc == s.port.ssrc
    assert room.tick_overruns <= 2  # a loaded CI machine may wake late once or twice


@pytest.mark.asyncio
async def test_mixer_empty_room_stops_ticking(mixer: Mixer) -> None:
    room = mixer.room("idle")
    await room.add_port("A")
    assert mixer.ticking
    await room.remove_port("A")
    assert not mixer.ticking
    ticks = room.ticks
    await asyncio.sleep(0.1)
    assert room.ticks == ticks
    await room.add_port("B")
    assert mixer.ticking


@pytest.mark.asyncio
async def test_mixer_ignores_dtmf_and_bounds_the_jitter_buffer(
    mixer: Mixer, legs_to_close: list[Leg]
) -> None:
    room = mixer.room("dtmf")
    c, a = await parties(room, legs_to_close, "C", "A")
    mark = c.mark()
    await a.leg.send(a.leg.dtmf_packets("5", 600), interval=0.02)
    assert a.port.stats.events_ignored >= 10
    assert_silent(c.heard(mark), "C while A sends RFC 4733 only")
    # a burst of 20 frames at once: only the newest 4 are kept
    burst = [a.next_packet(A_HZ) for _ in range(20)]
    assert a.leg.transport is not None and a.leg.remote is not None
    for packet in burst:
        a.leg.transport.sendto(packet.to_bytes(), a.leg.remote)
    await asyncio.sleep(0.3)
    assert a.port.stats.late_dropped >= 14
    assert a.port.stats.frames_missing > 0  # nothing after the burst


@pytest.mark.asyncio
async def test_mixer_records_the_full_mix(
    mixer: Mixer, legs_to_close: list[Leg], tmp_path: Path
) -> None:
    room = mixer.room("rec")
    c, a, b = await parties(room, legs_to_close, "C", "A", "B")
    room.set_listen("B", ["C", "A"])  # what B hears does not matter: all are recorded
    room.record(tmp_path / "conf.wav")
    assert room.recording
    await talk([(c, C_HZ), (a, A_HZ), (b, B_HZ)], 1.0)
    await room.close()
    samples = list(read_wav_samples(tmp_path / "conf.wav"))
    assert len(samples) >= 0.8 * 8000
    assert_hears(samples, [C_HZ, A_HZ, B_HZ], [S_HZ], "the recording")


@pytest.mark.asyncio
async def test_mixer_per_room_clocks_mix_too(legs_to_close: list[Leg]) -> None:
    low, high = free_port_range(HOST, 20)
    async with Mixer(HOST, (low, high), shared_clock=False) as mixer:
        room = mixer.room("own-clock")
        c, a = await parties(room, legs_to_close, "C", "A")
        heard = await talk_and_listen([c, a], [(c, C_HZ), (a, A_HZ)], 0.6)
        assert_hears(heard["C"], [A_HZ], [C_HZ], "C")
        await room.remove_port("C")
        await room.remove_port("A")
        assert not mixer.ticking
