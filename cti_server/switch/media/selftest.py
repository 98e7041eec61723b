"""Load sanity check: ``python -m cti_server.switch.media.selftest --calls 50``.

Launches rtpengine, sets up N relayed calls whose legs are local UDP sockets,
streams 20 ms PCMU packets both ways in real time, and reports rtpengine's CPU
use, packet loss and whether the tone survived. Not a benchmark of the switch
(no SIP); a quick check that this machine's rtpengine relays as expected.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from cti_server.switch.media.ng import MediaOptions
from cti_server.switch.media.process import RtpEngineConfig, RtpEngineProcess
from cti_server.switch.media.rtp import PT_PCMU, RtpPacket, dominant_frequency, pcmu_frames, tone
from cti_server.switch.media.testing import Call, Leg, setup_call


def cpu_seconds(pid: int) -> float:
    """utime + stime of ``pid`` in seconds (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def run(calls: int, seconds: float, record: bool) -> int:
    with tempfile.TemporaryDirectory(prefix="rtpengine-selftest-") as tmp:
        config = RtpEngineConfig(
            recording_dir=Path(tmp) if record else None,
            rtp_port_count=max(100, calls * 8 + 40),
        )
        async with RtpEngineProcess(config) as engine:
            assert engine.pid is not None
            legs: list[Leg] = []
            active: list[Call] = []
            t0 = time.perf_counter()
            for _ in range(calls):
                caller, agent = await Leg.open(), await Leg.open()
                legs += [caller, agent]
                active.append(
                    await setup_call(engine.client, caller, agent, MediaOptions(record_call=record))
                )
            setup = time.perf_counter() - t0
            frames = list(pcmu_frames(tone(1000.0, 1.0)))
            ticks = round(seconds / 0.02)
            cpu0, wall0 = cpu_seconds(engine.pid), time.perf_counter()
            loop = asyncio.get_running_loop()
            start = loop.time()
            for n in range(ticks):
                payload = frames[n % len(frames)]
                for leg in legs:
                    assert leg.transport is not None
                    assert leg.remote is not None
                    pkt = RtpPacket(PT_PCMU, leg.seq, leg.ts, leg.ssrc, payload)
                    leg.seq += 1
                    leg.ts += 160
                    leg.transport.sendto(pkt.to_bytes(), leg.remote)
                await asyncio.sleep(max(0.0, start + (n + 1) * 0.02 - loop.time()))
            await asyncio.sleep(0.2)
            cpu = cpu_seconds(engine.pid) - cpu0
            wall = time.perf_counter() - wall0
            sent = ticks * len(legs)
            got = sum(len(leg.received) for leg in legs)
            freq = dominant_frequency(active[0].agent.pcmu_samples()[:1600])
            for call in active:
                await engine.client.delete(call.call_id)
            for leg in legs:
                await leg.close()
    print(f"calls: {calls} ({2 * calls} legs), setup {setup * 1000:.0f} ms total")
    print(f"packets: sent {sent}, relayed {got}, lost {sent - got} ({(sent - got) / sent:.2%})")
    print(f"rtpengine CPU: {100 * cpu / wall:.1f} % of one core over {wall:.1f} s")
    print(f"tone check: {freq:.0f} Hz (sent 1000 Hz); recording {'on' if record else 'off'}")
    return 0 if got >= 0.99 * sent and abs(freq - 1000) <= 5 else 1


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--calls", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--record", action="store_true", help="record every call (pcap)")
    args = parser.parse_args(argv)
    return asyncio.run(run(args.calls, args.seconds, args.record))


if __name__ == "__main__":
    sys.exit(main())
