"""Music on hold: the WAV the switch plays to waiting and held callers.

rtpengine plays it with ``play media`` and a large ``repeat-times``, so a
waiting caller hears it without the switch doing anything per packet. The
default music is generated (no licensing question, no binary in git): a slow,
soft arpeggio of sine notes with attack/release envelopes, 8 kHz mono 16-bit.
Administrators replace it with their own file (any format ffmpeg reads).
"""

from __future__ import annotations

import math
import struct
import wave
from pathlib import Path
from typing import Final

from cti_server.switch.media.ng import NgClient

SAMPLE_RATE: Final = 8000
MOH_NOTES: Final = (523.25, 659.25, 783.99, 659.25, 587.33, 698.46, 880.0, 698.46)
"""C5 E5 G5 E5 D5 F5 A5 F5: the default music's notes (Hz), one every ``NOTE_SECONDS``."""
NOTE_SECONDS: Final = 0.6
MOH_REPEAT: Final = 1000
"""``repeat-times`` for music on hold (about 80 minutes of the default music)."""


def moh_samples(
    notes: tuple[float, ...] = MOH_NOTES,
    note_seconds: float = NOTE_SECONDS,
    amplitude: int = 6000,
) -> list[int]:
    """The default music as 16-bit samples (each note faded in and out over 40 ms)."""
    per_note = round(note_seconds * SAMPLE_RATE)
    fade = round(0.04 * SAMPLE_RATE)
    samples: list[int] = []
    for freq in notes:
        step = 2 * math.pi * freq / SAMPLE_RATE
        for i in range(per_note):
            gain = min(1.0, i / fade, (per_note - 1 - i) / fade)
            samples.append(round(amplitude * gain * math.sin(step * i)))
    return samples


def write_moh_wav(path: Path) -> Path:
    """Write the default music on hold to ``path`` (directories created); returns it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    samples = moh_samples()
    tmp = path.with_suffix(".tmp")
    with wave.open(str(tmp), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(SAMPLE_RATE)
        out.writeframes(struct.pack(f"<{len(samples)}h", *samples))
    tmp.replace(path)
    return path


def ensure_moh(path: Path) -> Path:
    """``path`` if it exists, else the default music written there."""
    return path if path.is_file() else write_moh_wav(path)


async def start_moh(ng: NgClient, call_id: str, caller_tag: str, moh_file: Path) -> None:
    """Play the music to the caller in a loop (replaces any playback)."""
    await ng.play_media(call_id, caller_tag, str(moh_file), repeat_times=MOH_REPEAT)
