"""16-bit mono PCM helpers (pure Python, no I/O): tones, levels, frequency, resampling."""

from __future__ import annotations

import math
import sys
from array import array

FRAME_MS = 20


def frame_bytes(rate: int) -> int:
    """Bytes of one 20 ms frame of 16-bit mono at ``rate``."""
    return rate * FRAME_MS // 1000 * 2


def samples(pcm: bytes) -> array[int]:
    """Little-endian 16-bit bytes → samples."""
    data = array("h")
    data.frombytes(pcm[: len(pcm) - len(pcm) % 2])
    if sys.byteorder == "big":  # pragma: no cover - every desktop target is little-endian
        data.byteswap()
    return data


def to_bytes(data: array[int]) -> bytes:
    if sys.byteorder == "big":  # pragma: no cover
        data = array("h", data)
        data.byteswap()
    return data.tobytes()


def tone(
    frequency: float, seconds: float, rate: int, amplitude: int = 8000, phase_samples: int = 0
) -> bytes:
    """A sine tone (several frequencies may be summed by the caller)."""
    count = round(seconds * rate)
    step = 2 * math.pi * frequency / rate
    values = array(
        "h", (round(amplitude * math.sin(step * (i + phase_samples))) for i in range(count))
    )
    return to_bytes(values)


def ring_pattern(rate: int) -> bytes:
    """One ring cycle: 440 + 480 Hz for 1 s, then 2 s of silence."""
    on = round(rate * 1.0)
    step_a = 2 * math.pi * 440 / rate
    step_b = 2 * math.pi * 480 / rate
    ring = array(
        "h", (round(5000 * (math.sin(step_a * i) + math.sin(step_b * i))) for i in range(on))
    )
    return to_bytes(ring) + bytes(2 * rate * 2)


def rms(pcm: bytes) -> float:
    data = samples(pcm)
    if not data:
        return 0.0
    return math.sqrt(sum(s * s for s in data) / len(data))


def level(pcm: bytes) -> float:
    """0..1 for a VU meter: dBFS mapped linearly from -60 dB (0) to 0 dB (1)."""
    value = rms(pcm)
    if value <= 0:
        return 0.0
    db = 20 * math.log10(value / 32768)
    return max(0.0, min(1.0, (db + 60) / 60))


def goertzel_power(data: array[int], frequency: float, rate: int) -> float:
    if not data:
        return 0.0
    coeff = 2 * math.cos(2 * math.pi * frequency / rate)
    s1 = s2 = 0.0
    for x in data:
        s1, s2 = x + coeff * s1 - s2, s1
    return (s1 * s1 + s2 * s2 - coeff * s1 * s2) / (len(data) ** 2)


def dominant_frequency(pcm: bytes, rate: int, low: float = 200.0, high: float = 3400.0) -> float:
    """The strongest frequency in ``[low, high]`` (20 Hz scan, then 1 Hz refine)."""
    data = samples(pcm)
    if not data:
        raise ValueError("no samples to analyse")

    def best(start: float, stop: float, step: float) -> float:
        found, power = start, -1.0
        freq = start
        while freq <= stop:
            p = goertzel_power(data, freq, rate)
            if p > power:
                found, power = freq, p
            freq += step
        return found

    coarse = best(low, high, 20.0)
    return best(max(low, coarse - 20.0), min(high, coarse + 20.0), 1.0)


def tone_amplitude(pcm: bytes, frequency: float, rate: int) -> float:
    """About the amplitude of ``frequency`` in ``pcm`` (a full-time tone of amplitude A
    gives about A, silence about 0)."""
    data = samples(pcm)
    return 2 * math.sqrt(goertzel_power(data, frequency, rate)) if data else 0.0


def resample(pcm: bytes, src: int, dst: int) -> bytes:
    """Integer-ratio resampling (8/16/48 kHz): repeat samples up, average groups down."""
    if src == dst or not pcm:
        return pcm
    data = samples(pcm)
    if dst > src:
        factor = dst // src
        out = array("h", (s for s in data for _ in range(factor)))
        return to_bytes(out)
    factor = src // dst
    count = len(data) // factor
    out = array("h", (sum(data[i * factor : (i + 1) * factor]) // factor for i in range(count)))
    return to_bytes(out)
