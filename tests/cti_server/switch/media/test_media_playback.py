"""Prepared playback files (cti_server.switch.media.playback): G.711 copies in the caller's
codec and joined prompt sequences, which rtpengine 10.5 opens ~10x cheaper than PCM WAVs
(the switch's set-up rate, issue 5; R-IVR-1). Pure checks plus real rtpengine: what the
caller receives is byte for byte what the original PCM prompts give."""

from __future__ import annotations

import array
import asyncio
import itertools
import logging
import math
import os
import struct
import time
import wave
from pathlib import Path

import pytest

from cti_server.switch.media.ng import MediaOptions
from cti_server.switch.media.playback import (
    PlaybackCache,
    g711_decode,
    g711_encode,
    playback_codec,
)
from cti_server.switch.media.process import RtpEngineConfig, RtpEngineProcess, quiet_log_level
from cti_server.switch.media.testing import Leg, media_ports

ROOT = Path(__file__).resolve().parents[4]
SHIPPED = ROOT / "resources" / "prompts"


def write_wav(path: Path, samples: list[int], *, rate: int = 8000) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(struct.pack(f"<{len(samples)}h", *samples))
    return path


def tone(frequency: float, seconds: float, amplitude: int = 9000) -> list[int]:
    count = round(seconds * 8000)
    return [round(amplitude * math.sin(2 * math.pi * frequency * i / 8000)) for i in range(count)]


def read_wav(path: Path) -> tuple[int, bytes]:
    """(WAV format tag, data chunk) of a file the cache wrote."""
    data = path.read_bytes()
    assert data[:4] == b"RIFF" and data[8:12] == b"WAVE"
    pos, tag, body = 12, 0, b""
    while pos + 8 <= len(data):
        chunk, size = data[pos : pos + 4], struct.unpack_from("<I", data, pos + 4)[0]
        if chunk == b"fmt ":
            tag = struct.unpack_from("<H", data, pos + 8)[0]
        elif chunk == b"data":
            body = data[pos + 8 : pos + 8 + size]
        pos += 8 + size + (size & 1)
    return tag, body


def pcm(samples_bytes: bytes) -> list[int]:
    values = array.array("h")
    values.frombytes(samples_bytes)
    return list(values)


# --- pure -----------------------------------------------------------------------------


def test_g711_reencoding_a_decoded_code_gives_the_same_code() -> None:
    """Why the prepared copy sounds identical: rtpengine decodes our code and encodes it
    again for the caller; every code survives that (µ-law's "negative zero" 0x7F comes
    back as 0xFF, the same 0), and every 16-bit sample gets the code ffmpeg's encoder
    gives it (codes in order of their values, silence near 0)."""
    for codec in ("PCMA", "PCMU"):
        codes = bytes(range(256))
        again = g711_encode(g711_decode(codes, codec), codec)
        differ = [c for c in range(256) if again[c] != c]
        assert differ == ([0x7F] if codec == "PCMU" else [])
        assert g711_decode(again, codec) == g711_decode(codes, codec)
        everything = g711_encode(range(-32768, 32768), codec)
        decoded = g711_decode(everything, codec)
        assert all(a <= b for a, b in itertools.pairwise(decoded))  # no code out of order
        assert g711_decode(g711_encode([0], codec), codec)[0] in range(-8, 9)


def test_g711_encode_rejects_other_codecs() -> None:
    with pytest.raises(ValueError, match=r"G\.711"):
        g711_encode([0, 1], "G722")


@pytest.mark.parametrize(
    ("media", "rtpmaps", "expected"),
    [
        ("8 101", ["8 PCMA/8000", "101 telephone-event/8000"], "PCMA"),
        ("0 8 101", [], "PCMU"),
        ("9 8 0", ["9 G722/8000"], "PCMA"),
        ("96 0", ["96 pcma/8000"], "PCMA"),
        ("9 111", ["9 G722/8000", "111 opus/48000/2"], None),
    ],
)
def test_playback_codec_is_the_first_g711_the_caller_offered(
    media: str, rtpmaps: list[str], expected: str | None
) -> None:
    sdp = "v=0\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n" + f"m=audio 4000 RTP/AVP {media}\r\n"
    sdp += "".join(f"a=rtpmap:{m}\r\n" for m in rtpmaps)
    sdp += "m=audio 4002 RTP/AVP 0\r\n"  # a second stream does not count
    assert playback_codec(sdp) == expected


@pytest.mark.asyncio
async def test_joined_file_holds_the_concatenated_prompts_in_the_call_s_codec(
    tmp_path: Path,
) -> None:
    one = tone(440, 0.5)
    two = tone(880, 0.3)
    sources = [
        ("one", write_wav(tmp_path / "p" / "zh" / "one.wav", one)),
        ("two", write_wav(tmp_path / "p" / "zh" / "two.wav", two)),
    ]
    cache = PlaybackCache(tmp_path / "cache")
    for codec, tag in (("PCMA", 6), ("PCMU", 7)):
        (piece,) = await cache.pieces(sources, codec, group="zh")
        assert piece.path.parent == tmp_path / "cache" / "zh"
        assert piece.parts == (("one", 0.5), ("two", 0.3))
        assert math.isclose(piece.seconds, 0.8)
        found_tag, body = read_wav(piece.path)
        assert found_tag == tag
        assert body == g711_encode(one + two, codec)
    # another codec (G.722 caller): joined as 16-bit PCM, sample for sample
    (piece,) = await cache.pieces(sources, None, group="zh")
    found_tag, body = read_wav(piece.path)
    assert (found_tag, pcm(body)) == (1, one + two)
    # a single prompt in a non-G.711 call is played from its own file
    (single,) = await cache.pieces(sources[:1], None, group="zh")
    assert single.path == sources[0][1]


@pytest.mark.asyncio
async def test_the_cache_is_rebuilt_when_a_prompt_file_changes(tmp_path: Path) -> None:
    """An upload or a regenerated prompt replaces the file: the next play uses a new
    copy holding the new audio, the stale copy is removed."""
    first = write_wav(tmp_path / "p" / "en" / "greeting.wav", tone(500, 0.4))
    second = write_wav(tmp_path / "p" / "en" / "menu.wav", tone(700, 0.2))
    sources = [("greeting", first), ("menu", second)]
    cache = PlaybackCache(tmp_path / "cache")
    (old,) = await cache.pieces(sources, "PCMU", group="en")
    assert await cache.pieces(sources, "PCMU", group="en") == (old,)  # memoised
    assert cache.builds == 1

    replacement = tmp_path / "p" / "en" / "greeting.new"
    write_wav(replacement, tone(1200, 0.6))
    replacement.replace(first)  # how prompt uploads land (rename into place)
    (new,) = await cache.pieces(sources, "PCMU", group="en")
    assert new.path != old.path
    assert not old.path.exists()
    assert new.parts == (("greeting", 0.6), ("menu", 0.2))
    assert read_wav(new.path)[1] == g711_encode(tone(1200, 0.6) + tone(700, 0.2), "PCMU")
    assert cache.builds == 2

    new.path.unlink()  # someone cleared the cache folder: rebuilt, not a dead path
    (again,) = await cache.pieces(sources, "PCMU", group="en")
    assert again.path.is_file()


@pytest.mark.asyncio
async def test_each_language_gets_its_own_copies(tmp_path: Path) -> None:
    zh = write_wav(tmp_path / "p" / "zh" / "welcome.wav", tone(400, 0.3))
    en = write_wav(tmp_path / "p" / "en" / "welcome.wav", tone(1000, 0.3))
    cache = PlaybackCache(tmp_path / "cache")
    (in_zh,) = await cache.pieces([("welcome", zh)], "PCMA", group="zh")
    (in_en,) = await cache.pieces([("welcome", en)], "PCMA", group="en")
    assert in_zh.path.parent.name == "zh" and in_en.path.parent.name == "en"
    assert read_wav(in_zh.path)[1] == g711_encode(tone(400, 0.3), "PCMA")
    assert read_wav(in_en.path)[1] == g711_encode(tone(1000, 0.3), "PCMA")


@pytest.mark.asyncio
async def test_files_it_cannot_convert_are_played_as_they_are(tmp_path: Path) -> None:
    """A µ-law upload or a 16 kHz file splits the sequence: the PCM runs around it are
    joined, it plays from its own file; order and lengths are kept."""
    a = write_wav(tmp_path / "p" / "a.wav", tone(300, 0.2))
    b = write_wav(tmp_path / "p" / "b.wav", tone(300, 0.2))
    wide = write_wav(tmp_path / "p" / "wide.wav", tone(300, 0.5), rate=16000)
    ulaw = tmp_path / "p" / "ulaw.wav"
    body = g711_encode(tone(600, 0.5), "PCMU")
    fmt = struct.pack("<HHIIHH", 7, 1, 8000, 8000, 1, 8)
    ulaw.write_bytes(
        b"RIFF"
        + struct.pack("<I", 4 + 8 + len(fmt) + 8 + len(body))
        + b"WAVEfmt "
        + struct.pack("<I", len(fmt))
        + fmt
        + b"data"
        + struct.pack("<I", len(body))
        + body
    )
    cache = PlaybackCache(tmp_path / "cache")
    pieces = await cache.pieces(
        [("a", a), ("b", b), ("ulaw", ulaw), ("a", a), ("wide", wide)], "PCMA", group="en"
    )
    assert [p.parts for p in pieces] == [
        (("a", 0.2), ("b", 0.2)),
        (("ulaw", 0.5),),
        (("a", 0.2),),
        (("wide", 0.25),),
    ]
    assert pieces[1].path == ulaw and pieces[3].path == wide
    assert read_wav(pieces[2].path)[1] == g711_encode(tone(300, 0.2), "PCMA")


@pytest.mark.asyncio
async def test_without_a_writable_folder_the_originals_play(tmp_path: Path) -> None:
    a = write_wav(tmp_path / "p" / "a.wav", tone(300, 0.2))
    b = write_wav(tmp_path / "p" / "b.wav", tone(500, 0.1))
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the cache folder should be")
    cache = PlaybackCache(blocked)
    pieces = await cache.pieces([("a", a), ("b", b)], "PCMA", group="zh")
    assert [(p.path, p.parts) for p in pieces] == [(a, (("a", 0.2),)), (b, (("b", 0.1),))]
    assert await PlaybackCache(None).pieces([("a", a)], "PCMU", group="zh") == pieces[:1]


@pytest.mark.asyncio
async def test_concurrent_first_plays_build_once(tmp_path: Path) -> None:
    a = write_wav(tmp_path / "p" / "a.wav", tone(300, 1.0))
    cache = PlaybackCache(tmp_path / "cache")
    results = await asyncio.gather(
        *(cache.pieces([("a", a)], "PCMU", group="zh") for _ in range(20))
    )
    assert len({r for r in results}) == 1
    assert cache.builds == 1


@pytest.mark.asyncio
async def test_least_recently_played_copies_are_evicted_and_stale_ones_pruned(
    tmp_path: Path,
) -> None:
    """Announcements make many distinct sequences: the cache keeps ``max_sequences`` of
    them (least recently played out first) and drops copies an earlier run left unused
    for ``stale_days``; an evicted copy is built again when it is needed."""
    a, b, c = (
        write_wav(tmp_path / "p" / f"{n}.wav", tone(f, 0.2))
        for n, f in (("a", 400), ("b", 500), ("c", 600))
    )
    folder = tmp_path / "cache"
    stale = folder / "zh" / "0123456789abcdef-PCMA-0123456789abcdef.wav"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"left by an earlier run")
    week_ago = time.time() - 8 * 86400
    os.utime(stale, (week_ago, week_ago))
    cache = PlaybackCache(folder, max_sequences=2)
    (pa,) = await cache.pieces([("a", a)], "PCMA", group="zh")
    assert not stale.exists()
    (pb,) = await cache.pieces([("b", b)], "PCMA", group="zh")
    await cache.pieces([("a", a)], "PCMA", group="zh")  # a played again: b is oldest
    (pc,) = await cache.pieces([("c", c)], "PCMA", group="zh")
    assert pa.path.is_file() and pc.path.is_file()
    assert not pb.path.exists()
    assert b.is_file()  # the prompt itself is never touched
    (again,) = await cache.pieces([("b", b)], "PCMA", group="zh")
    assert again.path.is_file()
    assert read_wav(again.path)[1] == g711_encode(tone(500, 0.2), "PCMA")


# --- real rtpengine -------------------------------------------------------------------


def _sdp(port: int, pt: int, name: str) -> str:
    return (
        "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
        f"m=audio {port} RTP/AVP {pt} 101\r\na=rtpmap:{pt} {name}/8000\r\n"
        "a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=ptime:20\r\n"
    )


_ids = itertools.count(1)


async def _heard(engine: RtpEngineProcess, path: Path, pt: int, name: str, seconds: float) -> bytes:
    """What a caller (codec ``name``) receives while rtpengine plays ``path`` to it."""
    caller, agent = await Leg.open(), await Leg.open()
    call_id = f"playback-{next(_ids)}"
    options = MediaOptions(inject_dtmf=True)  # as the switch sets up every call
    try:
        offer = await engine.client.offer(_sdp(caller.port, pt, name), call_id, "a", options)
        await engine.client.answer(_sdp(agent.port, pt, name), call_id, "a", "b", options)
        assert media_ports(offer.sdp)
        await engine.client.play_media(call_id, "a", str(path))
        # until the playback is over: at least its packets arrived and no more come
        expected, count = int(seconds * 50) - 1, -1
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds + 10
        while loop.time() < deadline:
            await asyncio.sleep(0.3)
            now = sum(1 for p in caller.received if p.payload_type == pt)
            if now >= expected and now == count:
                break
            count = now
        await engine.client.delete(call_id)
    finally:
        await caller.close()
        await agent.close()
    return b"".join(p.payload for p in caller.received if p.payload_type == pt)


@pytest.mark.slow
@pytest.mark.asyncio
async def test_rtpengine_plays_the_prepared_copy_byte_for_byte_like_the_originals(
    engine: RtpEngineProcess, tmp_path: Path
) -> None:
    """PCMA and PCMU callers: the joined G.711 copy of welcome + please_hold gives the
    caller exactly the bytes the two PCM WAVs give when played one after the other
    (rtpengine drops each file's last partial 20 ms, so the second prompt starts at its
    sample offset in the joined stream)."""
    welcome = SHIPPED / "zh" / "welcome.wav"
    hold = SHIPPED / "zh" / "please_hold.wav"
    with wave.open(str(welcome), "rb") as w:
        offset = w.getnframes()
    cache = PlaybackCache(tmp_path / "cache")
    for pt, name in ((8, "PCMA"), (0, "PCMU")):
        (joined,) = await cache.pieces(
            [("welcome", welcome), ("please_hold", hold)], name, group="zh"
        )
        first, second, both = await asyncio.gather(
            _heard(engine, welcome, pt, name, 2.7),
            _heard(engine, hold, pt, name, 2.4),
            _heard(engine, joined.path, pt, name, 5.0),
        )
        assert len(first) > 15000 and len(second) > 15000
        assert both[: len(first)] == first
        assert both[offset : offset + len(second)] == second


# --- rtpengine's log level follows the switch's logger --------------------------------


def test_rtpengine_log_level_is_capped_to_what_the_logger_keeps() -> None:
    logger = logging.getLogger("test.playback.quiet")
    logger.setLevel(logging.WARNING)
    assert [quiet_log_level(n, logger) for n in (3, 4, 5, 6, 7)] == [3, 4, 4, 4, 4]
    logger.setLevel(logging.INFO)
    assert [quiet_log_level(n, logger) for n in (3, 5, 6, 7)] == [3, 5, 6, 6]
    logger.setLevel(logging.DEBUG)
    assert quiet_log_level(7, logger) == 7


@pytest.mark.asyncio
@pytest.mark.parametrize(("level", "expected"), [(logging.WARNING, "4"), (logging.INFO, "6")])
async def test_rtpengine_runs_at_the_capped_log_level(
    rtpengine_binary: str, caplog: pytest.LogCaptureFixture, level: int, expected: str
) -> None:
    caplog.set_level(level, logger="switch.media.rtpengine")
    async with RtpEngineProcess(RtpEngineConfig(binary=rtpengine_binary)) as engine:
        assert engine.pid is not None
        argv = Path(f"/proc/{engine.pid}/cmdline").read_bytes().decode().split("\0")
        levels = [a.split("=", 1)[1] for a in argv if a.startswith("--log-level=")]
        assert levels[-1] == expected
        await engine.client.ping()
