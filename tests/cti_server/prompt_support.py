"""WAV files for the prompt-upload tests (R-IVR-5): tones in 16-bit PCM or G.711."""

from __future__ import annotations

import struct
from array import array

from cti_server.switch.media.rtp import alaw_encode, tone, ulaw_encode

FORMAT_TAGS = {"pcm16": (1, 16), "ulaw": (7, 8), "alaw": (6, 8)}


def wav_bytes(
    frequency: float = 1000.0,
    seconds: float = 1.0,
    *,
    fmt: str = "pcm16",
    rate: int = 8000,
    channels: int = 1,
    amplitude: int = 8000,
) -> bytes:
    """A RIFF WAVE file holding a sine tone (each channel the same); ``frequency`` 0 is
    silence (quick to make for long files)."""
    if frequency:
        samples = tone(frequency, seconds, amplitude=amplitude, rate=rate)
    else:
        samples = [0] * round(seconds * rate)
    frames = [s for s in samples for _ in range(channels)]
    tag, bits = FORMAT_TAGS[fmt]
    if fmt == "pcm16":
        data = array("h", frames).tobytes()
    elif fmt == "ulaw":
        data = ulaw_encode(frames)
    else:
        data = alaw_encode(frames)
    align = channels * bits // 8
    fmt_body = struct.pack("<HHIIHH", tag, channels, rate, rate * align, align, bits)
    if tag != 1:
        fmt_body += struct.pack("<H", 0)  # cbSize: the usual 18-byte fmt of G.711
    chunks = b"fmt " + struct.pack("<I", len(fmt_body)) + fmt_body
    if tag != 1:
        chunks += b"fact" + struct.pack("<II", 4, len(samples))
    chunks += b"data" + struct.pack("<I", len(data)) + data
    if len(data) & 1:
        chunks += b"\x00"
    return b"RIFF" + struct.pack("<I", 4 + len(chunks)) + b"WAVE" + chunks
