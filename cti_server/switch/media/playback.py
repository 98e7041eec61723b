"""Audio files prepared for rtpengine's ``play media``: G.711 copies, joined prompts.

rtpengine 10.5 opens (ffmpeg) every file it is asked to play, in its ng control
thread, and has no player cache. For a 16-bit PCM WAV that open costs about 1.2 ms
of rtpengine CPU per second of audio, up to ~7 ms for a file of 64 KiB or more
(measured with rtpengine 10.5.3.5 on the 2-core bench machine: 3.1 ms for the
2.6 s ``welcome``, 6.3 ms for the 6.3 s ``main_menu`` and the 4.8 s default music);
the same samples as an **A-law or µ-law WAV open in ~0.4 ms whatever their length**.
At 50 calls/s with three plays per call the PCM opens alone took ~60 % of a core:
the limit of the switch's call set-up rate (docs/benchmarks.md, "switch").

:class:`PlaybackCache` therefore hands rtpengine, for a call whose stream is PCMA or
PCMU, a G.711 WAV *in that codec*. It is encoded with ffmpeg's own tables (the
encoder rtpengine uses), so decoding and re-encoding it gives the very bytes the PCM
original would have given (µ-law's "negative zero" 0x7F comes out as 0xFF, which
decodes to the same 0): callers hear identical audio. Consecutive prompts of
one ``Play`` (an announcement, a number read out) are joined into one file, so they
cost one ``play media`` instead of one each, and remain interruptible by one
``stop media`` (barge-in). :attr:`Piece.parts` keeps each prompt's id and length,
so the IVR still knows which prompt is playing when.

Files are built on first use (in a worker thread) under the cache folder
(``<data dir>/switch/playback/<group>/``, group = language or ``files``), named by a
digest of the prompt ids, codec and each source's path, size, mtime and inode: a
changed prompt (an upload replacing it, a regenerated one) gets a new file on its
next play and the stale one is removed. Anything that is not an 8 kHz mono 16-bit
PCM WAV (an uploaded µ-law prompt, an MP3 music on hold) is played as it is, and so
is everything when the cache folder cannot be written: the switch then behaves as
before, only slower.
"""

from __future__ import annotations

import array
import asyncio
import contextlib
import hashlib
import logging
import os
import struct
import sys
import time
import wave
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

log = logging.getLogger("switch.media.playback")

G711: Final = ("PCMA", "PCMU")
"""Codecs a prepared copy is made for (names as in SDP ``rtpmap``)."""
RATE: Final = 8000
_FORMAT_VERSION: Final = b"playback-1"
"""Part of every file's digest: bump when the files' layout changes."""
_WAV_ALAW, _WAV_ULAW = 6, 7


# --- G.711 exactly as ffmpeg encodes it (libavcodec/pcm_tablegen.h) ------------------


def _alaw_to_linear(code: int) -> int:
    code ^= 0x55
    t = code & 0x0F
    seg = (code & 0x70) >> 4
    t = (t + t + 1 + 32) << (seg + 2) if seg else (t + t + 1) << 3
    return t if code & 0x80 else -t


def _ulaw_to_linear(code: int) -> int:
    code = ~code & 0xFF
    t = ((code & 0x0F) << 3) + 0x84
    t <<= (code & 0x70) >> 4
    return 0x84 - t if code & 0x80 else t - 0x84


def _encode_table(decode: Callable[[int], int], mask: int) -> bytes:
    """ffmpeg's ``build_xlaw_table``: 14-bit linear (``(sample + 32768) >> 2``) → code."""
    table = bytearray(16384)
    table[8192] = mask
    j = 1
    for i in range(127):
        v = (decode(i ^ mask) + decode((i + 1) ^ mask) + 4) >> 3
        while j < v:
            table[8192 - j] = i ^ (mask ^ 0x80)
            table[8192 + j] = i ^ mask
            j += 1
    while j < 8192:
        table[8192 - j] = 127 ^ (mask ^ 0x80)
        table[8192 + j] = 127 ^ mask
        j += 1
    table[0] = table[1]
    return bytes(table)


_TABLES: dict[str, bytes] = {}


def g711_encode(samples: Sequence[int], codec: str) -> bytes:
    """16-bit samples → PCMA or PCMU bytes, bit-exact with ffmpeg's encoder."""
    table = _TABLES.get(codec)
    if table is None:
        if codec == "PCMA":
            table = _encode_table(_alaw_to_linear, 0xD5)
        elif codec == "PCMU":
            table = _encode_table(_ulaw_to_linear, 0xFF)
        else:
            raise ValueError(f"not a G.711 codec: {codec!r}")
        _TABLES[codec] = table
    return bytes([table[(s + 32768) >> 2] for s in samples])


def g711_decode(data: bytes, codec: str) -> list[int]:
    """PCMA or PCMU bytes → 16-bit samples (ffmpeg's decoder)."""
    decode = _alaw_to_linear if codec == "PCMA" else _ulaw_to_linear
    return [decode(b) for b in data]


def g711_wav(data: bytes, codec: str) -> bytes:
    """A WAV file (format 6 A-law / 7 µ-law, 8 kHz mono) holding ``data``."""
    tag = _WAV_ALAW if codec == "PCMA" else _WAV_ULAW
    fmt = struct.pack("<HHIIHHH", tag, 1, RATE, RATE, 1, 8, 0)
    fact = struct.pack("<I", len(data))
    pad = b"\0" if len(data) % 2 else b""
    body = (
        b"WAVE"
        + b"fmt "
        + struct.pack("<I", len(fmt))
        + fmt
        + b"fact"
        + struct.pack("<I", len(fact))
        + fact
        + b"data"
        + struct.pack("<I", len(data))
        + data
        + pad
    )
    return b"RIFF" + struct.pack("<I", len(body)) + body


# --- SDP → playback codec ---------------------------------------------------------------


def playback_codec(sdp: str) -> str | None:
    """The G.711 codec rtpengine plays to a caller who offered ``sdp``: the first PCMU or
    PCMA of the first ``m=audio`` (what the switch answers, ``audio_answer``); None for
    anything else (a prepared copy would not be bit-identical there)."""
    formats: list[str] = []
    names: dict[str, str] = {"0": "PCMU", "8": "PCMA"}
    for raw in sdp.splitlines():
        line = raw.strip()
        if line.startswith("m="):
            if formats:
                break  # only the first audio stream
            parts = line[2:].split()
            if parts and parts[0] == "audio" and len(parts) > 3:
                formats = parts[3:]
        elif formats and line.startswith("a=rtpmap:"):
            pt, _, spec = line[len("a=rtpmap:") :].partition(" ")
            names[pt] = spec.split("/", 1)[0].strip().upper()
    for pt in formats:
        name = names.get(pt)
        if name in G711:
            return name
    return None


# --- the cache --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Piece:
    """One ``play media``: ``path`` holds ``parts`` (prompt id, seconds) in order."""

    path: Path
    parts: tuple[tuple[str, float], ...]

    @property
    def seconds(self) -> float:
        return sum(seconds for _id, seconds in self.parts)


@dataclass(frozen=True, slots=True)
class _Source:
    prompt_id: str
    path: Path
    samples: array.array[int] | None
    """8 kHz mono 16-bit PCM samples; None: played as it is."""
    seconds: float


def _stamp(path: Path) -> tuple[int, int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_size, st.st_mtime_ns, st.st_ino)


def _read(prompt_id: str, path: Path) -> _Source:
    """The source's samples when it is an 8 kHz mono 16-bit PCM WAV."""
    try:
        with wave.open(str(path), "rb") as w:
            params = w.getparams()
            frames = w.readframes(params.nframes)
    except (OSError, EOFError, wave.Error):
        return _Source(prompt_id, path, None, _seconds_any(path))
    seconds = params.nframes / params.framerate if params.framerate else 0.0
    if (params.sampwidth, params.nchannels, params.framerate) != (2, 1, RATE):
        return _Source(prompt_id, path, None, seconds)
    samples = array.array("h")
    samples.frombytes(frames[: len(frames) // 2 * 2])
    if sys.byteorder == "big":
        samples.byteswap()
    return _Source(prompt_id, path, samples, seconds)


def wav_seconds(path: Path) -> float:
    """Duration of a WAV file, PCM or not (0 when it cannot be read)."""
    try:
        with wave.open(str(path), "rb") as w:
            return w.getnframes() / float(w.getframerate())
    except (OSError, EOFError, wave.Error, ZeroDivisionError):
        return _seconds_any(path)


def _seconds_any(path: Path) -> float:
    """Length of a WAV that ``wave`` cannot read (G.711, …): data size / block align / rate."""
    try:
        data = path.read_bytes()
    except OSError:
        return 0.0
    if data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        return 0.0
    pos, rate, align = 12, 0, 0
    while pos + 8 <= len(data):
        chunk = data[pos : pos + 4]
        size: int = struct.unpack_from("<I", data, pos + 4)[0]
        if chunk == b"fmt " and size >= 16:
            rate, align = struct.unpack_from("<4xIIH", data, pos + 8)[0::2]
        elif chunk == b"data" and rate and align:
            return float(min(size, len(data) - pos - 8) / align / rate)
        pos += 8 + size + (size & 1)
    return 0.0


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{id(data):x}.tmp")
    try:
        tmp.write_bytes(data)
        tmp.replace(path)
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()


def _pcm_wav(samples: array.array[int]) -> bytes:
    data = array.array("h", samples)
    if sys.byteorder == "big":
        data.byteswap()
    fmt = struct.pack("<HHIIHH", 1, 1, RATE, RATE * 2, 2, 16)
    raw = data.tobytes()
    body = b"WAVEfmt " + struct.pack("<I", len(fmt)) + fmt + b"data"
    body += struct.pack("<I", len(raw)) + raw
    return b"RIFF" + struct.pack("<I", len(body)) + body


type _Key = tuple[str, str, tuple[tuple[str, str], ...]]
type _Stamps = tuple[tuple[int, int, int] | None, ...]


class PlaybackCache:
    """Prepared copies of prompt files under ``root`` (see the module docstring).

    ``root`` None: no cache, every prompt plays from its own file (the old way).

    Bounded: announcements and numbers read out make many distinct sequences, so at
    most ``max_sequences`` (least recently played first out) are kept, and files an
    earlier run left and did not touch for ``stale_days`` are removed on the first
    build (an evicted or removed copy is simply built again when needed)."""

    def __init__(
        self, root: Path | None, *, max_sequences: int = 2000, stale_days: float = 7.0
    ) -> None:
        self.root = root
        self.max_sequences = max_sequences
        self.stale_days = stale_days
        self._memo: OrderedDict[_Key, tuple[_Stamps, tuple[Piece, ...]]] = OrderedDict()
        self._pruned = False
        self._building: dict[tuple[_Key, _Stamps], asyncio.Task[tuple[Piece, ...]]] = {}
        self._broken = False
        self.builds = 0
        """Files written so far (tests, diagnostics)."""

    async def pieces(
        self, sources: Sequence[tuple[str, Path]], codec: str | None, *, group: str
    ) -> tuple[Piece, ...]:
        """What to play for ``sources`` (prompt id, file) in a call whose playback codec
        is ``codec``: as few pieces as possible, in order, covering every source."""
        if not sources:
            return ()
        key: _Key = (group, codec or "pcm", tuple((pid, str(path)) for pid, path in sources))
        stamps: _Stamps = tuple(_stamp(path) for _pid, path in sources)
        hit = self._memo.get(key)
        if hit is not None and hit[0] == stamps and all(p.path.is_file() for p in hit[1]):
            self._memo.move_to_end(key)
            return hit[1]
        if self.root is None or self._broken:
            plain = self._plain(sources)
            self._remember(key, stamps, plain)
            return plain
        task = self._building.get((key, stamps))
        if task is None:
            task = asyncio.get_running_loop().create_task(
                asyncio.to_thread(self._build, key, stamps, list(sources), codec, group),
                name=f"playback-build-{group}",
            )
            self._building[(key, stamps)] = task
            task.add_done_callback(lambda t: self._built(key, stamps, t))
        try:
            built = await asyncio.shield(task)
        except OSError as exc:
            if not self._broken:
                log.warning(
                    "cannot write prepared prompts under %s (%s): playing the originals",
                    self.root,
                    exc,
                )
            self._broken = True
            return self._plain(sources)
        except Exception:
            log.exception("preparing %s failed: playing the originals", key[2])
            return self._plain(sources)
        self._remember(key, stamps, built)
        return built

    def _remember(self, key: _Key, stamps: _Stamps, built: tuple[Piece, ...]) -> None:
        self._memo[key] = (stamps, built)
        self._memo.move_to_end(key)
        while len(self._memo) > self.max_sequences:
            _old_key, (_stamps, old) = self._memo.popitem(last=False)
            if self.root is None:
                continue
            for piece in old:
                if piece.path.is_relative_to(self.root):  # a copy, not a prompt
                    with contextlib.suppress(OSError):
                        piece.path.unlink(missing_ok=True)

    def _built(self, key: _Key, stamps: _Stamps, task: asyncio.Task[tuple[Piece, ...]]) -> None:
        self._building.pop((key, stamps), None)
        if not task.cancelled():
            task.exception()  # retrieved here: its awaiters may all have been cancelled

    async def file(self, path: Path, codec: str | None) -> Path:
        """The file to play for one source (music on hold): its prepared copy or itself."""
        pieces = await self.pieces([(path.name, path)], codec, group="files")
        return pieces[0].path if pieces else path

    @staticmethod
    def _plain(sources: Sequence[tuple[str, Path]]) -> tuple[Piece, ...]:
        return tuple(Piece(path, ((pid, wav_seconds(path)),)) for pid, path in sources)

    def _prune(self, root: Path) -> None:
        """(worker thread) Remove copies an earlier run left unused for ``stale_days``."""
        cutoff = time.time() - self.stale_days * 86400
        with contextlib.suppress(OSError):
            for path in root.glob("*/*.wav"):
                with contextlib.suppress(OSError):
                    if path.stat().st_mtime < cutoff:
                        path.unlink()

    def _build(
        self,
        key: _Key,
        stamps: _Stamps,
        sources: list[tuple[str, Path]],
        codec: str | None,
        group: str,
    ) -> tuple[Piece, ...]:
        """(worker thread) Read the sources, write the joined/encoded files."""
        assert self.root is not None
        if not self._pruned:
            self._pruned = True
            self._prune(self.root)
        folder = self.root / group
        ids = hashlib.sha256(repr(key).encode()).hexdigest()[:16]
        content = hashlib.sha256(_FORMAT_VERSION)
        content.update(repr((key, stamps)).encode())
        prefix = f"{ids}-{codec or 'pcm'}-"
        name = f"{prefix}{content.hexdigest()[:16]}.wav"
        read = [_read(pid, path) for pid, path in sources]
        pieces: list[Piece] = []
        run: list[_Source] = []

        def flush() -> None:
            if not run:
                return
            parts = tuple((s.prompt_id, s.seconds) for s in run)
            if codec is None and len(run) == 1:
                pieces.append(Piece(run[0].path, parts))  # nothing to gain from a copy
            else:
                samples = array.array("h")
                for s in run:
                    assert s.samples is not None
                    samples.extend(s.samples)
                out = folder / (name if len(pieces) == 0 else f"{name[:-4]}.{len(pieces)}.wav")
                if out.is_file():
                    with contextlib.suppress(OSError):
                        os.utime(out)  # in use again: not stale (see _prune)
                else:
                    data = (
                        _pcm_wav(samples)
                        if codec is None
                        else g711_wav(g711_encode(samples, codec), codec)
                    )
                    _write_atomic(out, data)
                    self.builds += 1
                pieces.append(Piece(out, parts))
            run.clear()

        for source in read:
            if source.samples is None:
                flush()
                pieces.append(Piece(source.path, ((source.prompt_id, source.seconds),)))
            else:
                run.append(source)
        flush()
        keep = {p.path.name for p in pieces}
        with contextlib.suppress(OSError):
            for stale in folder.glob(f"{prefix}*.wav"):
                if stale.name not in keep:
                    stale.unlink(missing_ok=True)
        return tuple(pieces)


__all__ = [
    "G711",
    "Piece",
    "PlaybackCache",
    "g711_decode",
    "g711_encode",
    "g711_wav",
    "playback_codec",
]
