"""RTP mixer benchmark (``cti_server.switch.media.mixer``).

1. **Kernel**: the mixing work of one 3-party conference tick (decode three 20 ms
   G.711 frames, three sums of two, clip, encode three frames) in pure Python with
   the mixer's tables vs the same in numpy, no I/O.
2. **Live**: N rooms × 3 ports in this process with real UDP traffic: a separate
   traffic process sends one 20 ms PCMU frame (1 kHz) per port every 20 ms on an
   absolute schedule and receives the mixed streams; this process's CPU is the
   mixer's (UDP receive, jitter buffer, mix, send). Reports CPU % of one core per
   mixed port, tick overruns and audio gaps (inter-arrival > 50 ms at the
   receiver) for a ramp of N; the largest N with no overrun is the capacity.
3. **Clock**: one shared 20 ms clock for all rooms vs one clock per room, same N.

Usage::

    .venv/bin/python bench/bench_mixer.py            # ramp 10..160 rooms, ~2 min
    .venv/bin/python bench/bench_mixer.py --quick    # 10 and 50 rooms
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import socket
import struct
import subprocess
import sys
import time
import timeit
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench._report import write_section  # noqa: E402
from cti_server.switch.media import mixer as mixer_module  # noqa: E402
from cti_server.switch.media.mixer import Mixer  # noqa: E402
from cti_server.switch.media.process import free_port_range  # noqa: E402
from cti_server.switch.media.rtp import PT_PCMU, pcmu_frames, tone, ulaw_encode  # noqa: E402

HOST = "127.0.0.1"
TICK = 0.020
GAP = 0.050

# --- 1. kernel ------------------------------------------------------------------------


def kernel_frames() -> list[bytes]:
    return [next(pcmu_frames(tone(f, 0.02))) for f in (500.0, 1000.0, 1500.0)]


def pure_tick(frames: list[bytes]) -> list[bytes]:
    """What MixerRoom._tick does for three talkers who each hear the two others."""
    a, b, c = frames
    pair = mixer_module._mix_pair
    return [pair(b, 0, c, 0, 0), pair(a, 0, c, 0, 0), pair(a, 0, b, 0, 0)]


def pure_decode_tick(frames: list[bytes]) -> list[bytes]:
    """The general path (decode to ints, add, encode through the clipping table)."""
    codec = mixer_module._codec(PT_PCMU)
    decoded = [list(map(codec.decode.__getitem__, f)) for f in frames]
    out = []
    for i in range(len(frames)):
        others = [d for j, d in enumerate(decoded) if j != i]
        out.append(codec.encode_sum(mixer_module._sum_lazy(others), len(others)))
    return out


def numpy_kernel() -> object | None:
    try:
        import numpy as np
    except ImportError:
        return None
    codec = mixer_module._codec(PT_PCMU)
    decode = np.array(codec.decode, dtype=np.int32)
    encode = np.frombuffer(ulaw_encode(range(-32768, 32768)), dtype=np.uint8)

    def tick(frames: list[bytes]) -> list[bytes]:
        linear = decode[np.frombuffer(b"".join(frames), dtype=np.uint8)].reshape(len(frames), -1)
        total = linear.sum(axis=0)
        return [
            encode[np.clip(total - linear[i], -32768, 32767) + 32768].tobytes()
            for i in range(len(frames))
        ]

    return tick


def bench_kernel() -> dict[str, float]:
    frames = kernel_frames()
    n = 20000
    assert pure_tick(frames) == pure_decode_tick(frames)
    result = {
        "pure_us": min(timeit.repeat(lambda: pure_tick(frames), number=n, repeat=3)) / n,
        "decode_us": min(timeit.repeat(lambda: pure_decode_tick(frames), number=n, repeat=3)) / n,
    }
    tick = numpy_kernel()
    if tick is not None:
        assert callable(tick)
        pure_out, np_out = pure_tick(frames), tick(frames)
        assert pure_out == np_out, "numpy and pure Python mixes differ"
        result["numpy_us"] = min(timeit.repeat(lambda: tick(frames), number=n, repeat=3)) / n
    return {k: v * 1e6 for k, v in result.items()}


# --- 2. traffic process ----------------------------------------------------------------


def traffic_main(ports: list[int], seconds: float, warmup: float) -> None:
    """Send one PCMU frame per port per 20 ms, receive the mixes, print JSON stats."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 8 << 20)
    sock.bind((HOST, 0))
    sock.setblocking(False)
    payload = next(pcmu_frames(tone(1000.0, 0.02)))
    header = struct.Struct("!BBHII")
    last: dict[int, float] = {}
    gaps: dict[int, int] = dict.fromkeys(ports, 0)
    max_gap = 0.0
    received = 0
    late_ticks = 0
    start = time.monotonic()
    measure_from = start + warmup
    total_ticks = round((warmup + seconds) / TICK)
    for i in range(total_ticks):
        for n, port in enumerate(ports):
            packet = header.pack(0x80, PT_PCMU, i & 0xFFFF, (i * 160) & 0xFFFFFFFF, 0x5000 + n)
            with contextlib.suppress(BlockingIOError):
                sock.sendto(packet + payload, (HOST, port))
        while True:
            try:
                _, addr = sock.recvfrom(2048)
            except BlockingIOError:
                break
            now = time.monotonic()
            port = addr[1]
            if now >= measure_from:
                received += 1
                previous = last.get(port)
                if previous is not None and previous >= measure_from:
                    gap = now - previous
                    max_gap = max(max_gap, gap)
                    if gap > GAP:
                        gaps[port] = gaps.get(port, 0) + 1
            last[port] = now
        delay = start + (i + 1) * TICK - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        elif delay < -TICK:
            late_ticks += 1
    print(
        json.dumps(
            {
                "received": received,
                "expected": round(seconds / TICK) * len(ports),
                "gaps": sum(gaps.values()),
                "max_gap_ms": max_gap * 1000,
                "sender_late_ticks": late_ticks,
            }
        )
    )


# --- 2. live mixer ---------------------------------------------------------------------


@dataclass
class LiveResult:
    rooms: int
    ports: int
    cpu_percent: float
    per_port_percent: float
    overruns: int
    frames_missing: int
    late_dropped: int
    received_ratio: float
    gaps: int
    max_gap_ms: float
    sender_late_ticks: int
    busy_mean_ms: float
    busy_max_ms: float
    late_max_ms: float
    shared_clock: bool


async def live(rooms: int, seconds: float, *, shared_clock: bool = True) -> LiveResult:
    low, high = free_port_range(HOST, 6 * rooms + 20)
    async with Mixer(HOST, (low, high), shared_clock=shared_clock) as mixer:
        all_ports = []
        for r in range(rooms):
            room = mixer.room(f"room-{r}")
            for label in ("C", "A", "B"):
                all_ports.append(await room.add_port(label))
        warmup = 1.0
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            str(Path(__file__).resolve()),
            "--traffic",
            ",".join(str(p.local_address[1]) for p in all_ports),
            "--seconds",
            str(seconds),
            "--warmup",
            str(warmup),
            stdout=subprocess.PIPE,
        )
        await asyncio.sleep(warmup)
        overruns0 = mixer.tick_overruns
        mixer.reset_clock_stats()
        clock0 = mixer.clock_stats
        cpu0, wall0 = time.process_time(), time.monotonic()
        missing0 = sum(p.stats.frames_missing for p in all_ports)
        dropped0 = sum(p.stats.late_dropped for p in all_ports)
        await asyncio.sleep(seconds)
        cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0
        overruns = mixer.tick_overruns - overruns0
        clock = mixer.clock_stats
        wakeups = max(1, clock.wakeups - clock0.wakeups)
        busy_mean = (clock.busy_seconds - clock0.busy_seconds) / wakeups
        missing = sum(p.stats.frames_missing for p in all_ports) - missing0
        dropped = sum(p.stats.late_dropped for p in all_ports) - dropped0
        out, _ = await proc.communicate()
        traffic = json.loads(out.decode().strip().splitlines()[-1])
    cpu_percent = 100 * cpu / wall
    return LiveResult(
        rooms=rooms,
        ports=3 * rooms,
        cpu_percent=cpu_percent,
        per_port_percent=cpu_percent / (3 * rooms),
        overruns=overruns,
        frames_missing=missing,
        late_dropped=dropped,
        received_ratio=traffic["received"] / max(1, traffic["expected"]),
        gaps=traffic["gaps"],
        max_gap_ms=traffic["max_gap_ms"],
        sender_late_ticks=traffic["sender_late_ticks"],
        busy_mean_ms=busy_mean * 1000,
        busy_max_ms=clock.busy_max * 1000,
        late_max_ms=clock.late_max * 1000,
        shared_clock=shared_clock,
    )


def overrun_rate(r: LiveResult, seconds: float) -> float:
    """Late 20 ms slots per clock tick (a per-room clock counts once per room)."""
    clocks = 1 if r.shared_clock else r.rooms
    return r.overruns / (clocks * seconds / TICK)


def row(r: LiveResult, clock: str = "shared") -> str:
    return (
        f"| {r.rooms} | {r.ports} | {clock} | {r.cpu_percent:.1f} | {r.per_port_percent:.3f} "
        f"| {r.overruns} | {r.frames_missing} | {r.late_dropped} | {100 * r.received_ratio:.1f} "
        f"| {r.gaps} | {r.max_gap_ms:.0f} | {r.sender_late_ticks} "
        f"| {r.busy_mean_ms:.2f} / {r.busy_max_ms:.1f} | {r.late_max_ms:.1f} |"
    )


HEADER = (
    "| rooms | ports | clock | mixer CPU % of a core | CPU % per port | tick overruns "
    "| frames missing (in) | frames dropped (in) | packets received % | gaps > 50 ms "
    "| max gap ms | sender late ticks | clock busy ms mean / max | clock late max ms |\n"
    "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
)


async def run(args: argparse.Namespace, kernel: dict[str, float]) -> str:
    lines = ["### Kernel: one 3-party conference tick (decode 3, mix 3, encode 3)", ""]
    lines.append(f"- pure Python, pair tables (shipped): {kernel['pure_us']:.1f} µs")
    lines.append(f"- pure Python, decode/add/encode tables: {kernel['decode_us']:.1f} µs")
    if "numpy_us" in kernel:
        ratio = kernel["pure_us"] / kernel["numpy_us"]
        lines.append(f"- numpy 2: {kernel['numpy_us']:.1f} µs ({ratio:.2f}× the pure speed)")
    print("\n".join(lines), flush=True)
    ramp = [10, 50] if args.quick else [10, 25, 50, 75, 100, 130, 160, 200]
    results: list[LiveResult] = []
    lines += ["", "### Live: N rooms × 3 ports, real UDP, everyone talking", "", HEADER]
    print(HEADER, flush=True)
    for rooms in ramp:
        result = await live(rooms, args.seconds)
        results.append(result)
        lines.append(row(result))
        print(lines[-1], flush=True)
        if overrun_rate(result, args.seconds) > 0.05 or result.cpu_percent > 90:
            break
    ok = [r.rooms for r in results if overrun_rate(r, args.seconds) <= 0.01]
    capacity = max(ok) if ok else 0
    clock_rooms = 50
    lines += ["", "### Clock: shared vs per room", "", HEADER]
    for shared in (True, False):
        result = await live(clock_rooms, args.seconds, shared_clock=shared)
        lines.append(row(result, "shared" if shared else "per room"))
        print(lines[-1], flush=True)
    mean_per_port = sum(r.per_port_percent for r in results) / len(results)
    lines += [
        "",
        f"Capacity on this run: {capacity} rooms ({3 * capacity} ports) with at most 1 % "
        f"of the 20 ms ticks overrun (shared clock); ≈{mean_per_port:.3f} % of one core "
        "per mixed port (mean over the ramp). Overruns count late 20 ms slots of the "
        "shared clock once, of per-room clocks once per room. The machine is "
        "shared with other jobs (2 cores), so CPU numbers are upper bounds; the traffic "
        "generator runs in its own process and is not counted.",
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--no-record", action="store_true", help="do not write the report")
    parser.add_argument("--traffic", help=argparse.SUPPRESS)
    parser.add_argument("--warmup", type=float, default=1.0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.traffic:
        traffic_main([int(p) for p in args.traffic.split(",")], args.seconds, args.warmup)
        return 0
    if not math.isfinite(args.seconds) or args.seconds <= 0:
        parser.error("--seconds must be positive")
    body = asyncio.run(run(args, bench_kernel()))
    if not args.no_record:
        path = write_section("mixer", "RTP mixer (listen / whisper / barge / conference)", body)
        print(f"written to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
