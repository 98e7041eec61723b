"""Switch (排队机) benchmarks with sipp on loopback (issue 5).

Runs the switch as a real process (``cti_server.switch``'s own ``main``, its own
rtpengine, standalone decider) and measures:

1. **Set-up rate with an IVR step**: sipp callers (``bench/sipp/caller_ivr.xml``:
   INVITE, ACK, audio, menu digit 1 as RFC 4733 during the greeting, BYE) at a
   ramp of rates; the agents are sipp too (``agent_register.xml`` registers them
   with digest auth, their Contact points at one ``agent_uas.xml`` process that
   answers and echoes RTP). A call counts only if the caller's call succeeded
   *and* an agent answered it (which needs the digit: without it the caller is
   still in the menu at BYE time).
2. **Concurrent bridged calls with recording**: N calls held bridged with audio
   both ways (sipp callers replay ``g711a.pcap``, agents echo), ``record_start``
   on every bridge; a sample of Python callers (20 ms PCMU, 1 kHz) measures the
   echoed stream's inter-arrival gaps and loss; CPU per bridged call.
3. **DTMF → next prompt**: Python callers wait for the menu prompt to end, send
   an RFC 4733 digit (9, 9, then 1) and time the first RTP packet of the next
   prompt (``invalid_choice`` / ``please_hold``).

The switch is started through ``--serve`` (this file), which calls
``cti_server.switch.__main__.main`` after two bench-only changes to its
composition: a larger rtpengine port range (the product's default of 200 ports
caps a switch at 50 concurrent calls, see the report) and, with ``--record``, a
standalone decider that sends ``record_start`` when a call is bridged (what the
CTI server's recording policy would do).

Usage::

    .venv/bin/python bench/bench_switch.py            # full run, ~6 min
    .venv/bin/python bench/bench_switch.py --quick    # ~3 min
    .venv/bin/python -m bench.bench_switch --rate-only --rates 40,50,60   # part 1 only,
        # printed (compare changes back to back; the "ms/call" CPU figures are the
        # steadiest on a loaded machine); --rtpengine-arg=--num-threads=4 tries an option
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import math
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench._report import write_section  # noqa: E402
from cti_server.switch.media.rtp import (  # noqa: E402
    PT_PCMU,
    SAMPLES_PER_PACKET,
    RtpError,
    RtpPacket,
    dominant_frequency,
    dtmf_packets,
    pcmu_frames,
    tone,
    ulaw_decode,
)
from cti_server.switch.media.testing import audio_sdp, media_ports  # noqa: E402
from cti_server.switch.sip import (  # noqa: E402
    BaseCallHandler,
    Dialog,
    SipConfig,
    SipRequest,
    SipStack,
)

SIPP_DIR = ROOT / "bench" / "sipp"
PT_EVENT = 101
TICK = 0.020
GAP_THRESHOLD = 0.060
SERVICE = "10086"
CLK_TCK = os.sysconf("SC_CLK_TCK")


class BenchError(RuntimeError):
    """A benchmark step could not run (tool missing, switch did not start, …)."""


class _Skip(Exception):
    """A part of the run that the plan leaves out."""


# --- the switch process (``--serve``) ----------------------------------------------


def serve(argv: Sequence[str]) -> int:
    """Run ``cti_server.switch``'s main with a larger RTP port range (and recording)."""
    parser = argparse.ArgumentParser(prog="bench_switch.py --serve")
    parser.add_argument("--rtp-ports", type=int, default=4000)
    parser.add_argument("--record", action="store_true")
    parser.add_argument("--rtpengine-arg", action="append", default=[])
    own, rest = parser.parse_known_args(argv)
    rest = [a for a in rest if a != "--"]

    import cti_server.switch.__main__ as entry
    from cti_server.switch.core import StandaloneDecider, SwitchAppConfig
    from cti_server.switch.ports import CallReport, CommandFailed
    from shared.config import Settings
    from shared.protocol.switch import RecordStart, SwitchCallEventKind

    product_config = entry.app_config

    def app_config(settings: Settings) -> SwitchAppConfig:
        config = product_config(settings)
        engine = replace(
            config.rtpengine,
            rtp_port_count=own.rtp_ports,
            extra_args=config.rtpengine.extra_args + tuple(own.rtpengine_arg),
        )
        return replace(config, rtpengine=engine)

    class RecordOnBridge(StandaloneDecider):
        """The standalone decider plus ``record_start`` on every bridged call."""

        def report(self, report: CallReport) -> None:
            super().report(report)
            if report.kind is SwitchCallEventKind.BRIDGED:
                self._spawn(self._record(report.call_id))

        async def _record(self, call_id: str) -> None:
            assert self.control is not None
            with contextlib.suppress(CommandFailed):
                await self.control.execute(call_id, RecordStart(recording_id=f"r-{call_id}"))

    entry.app_config = app_config
    if own.record:
        vars(entry)["StandaloneDecider"] = RecordOnBridge
    return entry.main(rest)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of one process (not its children)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def machine_busy() -> tuple[float, float]:
    """(busy, total) jiffies of all cores from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values)


def children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


class SwitchProcess:
    """``bench_switch.py --serve … --sip-users FILE`` on free ports; log to a file."""

    def __init__(
        self,
        workdir: Path,
        agents: int,
        *,
        record: bool,
        rtp_ports: int,
        rtpengine_args: Sequence[str] = (),
    ) -> None:
        self.workdir = workdir
        self.rtpengine_args = list(rtpengine_args)
        self.agents = agents
        self.record = record
        self.rtp_ports = rtp_ports
        self.port = free_port()
        self.log = workdir / "switch.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.rtpengine_pid = 0

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def recordings(self) -> Path:
        return self.workdir / "data" / "recordings" / "pcaps"

    def start(self) -> None:
        users = self.workdir / "users.toml"
        users.write_text("".join(f'"{u}" = "pw{u}"\n' for u in agent_ids(self.agents)))
        cmd = [
            sys.executable,
            str(Path(__file__).resolve()),
            "--serve",
            "--rtp-ports",
            str(self.rtp_ports),
            *(["--record"] if self.record else []),
            *(f"--rtpengine-arg={arg}" for arg in self.rtpengine_args),
            "--",
            "--standalone",
            "--sip-users",
            str(users),
            "--set",
            f"switch.sip_port={self.port}",
            "--set",
            "switch.rtpengine_ng=127.0.0.1:0",
            "--set",
            f"paths.data_dir={self.workdir / 'data'}",
            "--set",
            "log.level=WARNING",
        ]
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline:
            text = self.log.read_text(errors="replace")
            if "switch ready on sip:" in text:
                break
            if self.proc.poll() is not None:
                raise BenchError(f"the switch exited {self.proc.returncode}:\n{text[-2000:]}")
            time.sleep(0.1)
        else:
            raise BenchError(f"the switch did not get ready in 40 s:\n{text[-2000:]}")
        for _ in range(50):
            kids = children(self.proc.pid)
            if kids:
                self.rtpengine_pid = kids[0]
                break
            time.sleep(0.1)
        else:
            raise BenchError("no rtpengine child process found")

    def cpu(self) -> tuple[float, float]:
        assert self.proc is not None
        return cpu_seconds(self.proc.pid), cpu_seconds(self.rtpengine_pid)

    def log_problems(self) -> list[str]:
        lines = self.log.read_text(errors="replace").splitlines()
        return [ln for ln in lines if re.search(r"\b(ERROR|CRITICAL)\b|Traceback", ln)]

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def agent_ids(count: int) -> list[str]:
    return [str(2000 + n) for n in range(count)]


# --- sipp ---------------------------------------------------------------------------


@dataclass
class Sipp:
    """One sipp process with a statistics file (``-trace_stat``, dumped every second)."""

    name: str
    workdir: Path
    args: list[str]
    proc: subprocess.Popen[bytes] | None = None
    started: float = 0.0

    @property
    def stats_file(self) -> Path:
        return self.workdir / f"{self.name}_stats.csv"

    def start(self) -> Sipp:
        sipp = shutil.which("sipp")
        if sipp is None:
            raise BenchError("sipp is not installed (Debian package sip-tester)")
        cmd = [
            sipp,
            *self.args,
            "-i",
            "127.0.0.1",
            "-nostdin",
            "-trace_stat",
            "-stf",
            str(self.stats_file),
            "-fd",
            "1",
            "-trace_err",
            "-error_file",
            str(self.workdir / f"{self.name}_errors.log"),
        ]
        out = (self.workdir / f"{self.name}.out").open("wb")
        self.proc = subprocess.Popen(cmd, cwd=self.workdir, stdout=out, stderr=subprocess.STDOUT)
        self.started = time.monotonic()
        return self

    def wait(self, timeout: float) -> int:
        assert self.proc is not None
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise BenchError(f"sipp {self.name} did not finish in {timeout:.0f} s") from None

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGUSR1)  # sipp: dump stats and quit
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def stat(self, key: str) -> int:
        """A cumulative counter from the last stats row (``SuccessfulCall(C)`` …)."""
        if not self.stats_file.exists():
            return 0
        lines = self.stats_file.read_text().strip().splitlines()
        if len(lines) < 2:
            return 0
        row = dict(zip(lines[0].split(";"), lines[-1].split(";"), strict=False))
        return int(float(row.get(key, "0") or 0))

    def errors(self) -> list[str]:
        path = self.workdir / f"{self.name}_errors.log"
        if not path.exists():
            return []
        return [ln for ln in path.read_text(errors="replace").splitlines() if "Aborting" in ln]


def register_agents(switch: SwitchProcess, workdir: Path, agent_port: int) -> None:
    csv = workdir / "agents.csv"
    csv.write_text(
        "SEQUENTIAL\n"
        + "".join(
            f"{u};[authentication username={u} password=pw{u}]\n" for u in agent_ids(switch.agents)
        )
    )
    reg = Sipp(
        "register",
        workdir,
        [
            "-sf",
            str(SIPP_DIR / "agent_register.xml"),
            "-inf",
            str(csv),
            "-key",
            "agent_port",
            str(agent_port),
            "-m",
            str(switch.agents),
            "-r",
            "200",
            "-p",
            str(free_port()),
            switch.address,
        ],
    ).start()
    reg.wait(60)
    ok = reg.stat("SuccessfulCall(C)")
    if ok != switch.agents:
        raise BenchError(f"only {ok}/{switch.agents} agents registered: {reg.errors()[:3]}")


def start_agents(workdir: Path) -> tuple[Sipp, int]:
    port = free_port()
    uas = Sipp(
        "agents",
        workdir,
        [
            "-sf",
            str(SIPP_DIR / "agent_uas.xml"),
            "-rtp_echo",
            "-mp",
            str(free_port()),
            "-p",
            str(port),
            "-max_socket",
            "4096",
        ],
    ).start()
    time.sleep(0.5)
    return uas, port


# --- Python callers (precise RTP timing) ------------------------------------------


class _LegProtocol(asyncio.DatagramProtocol):
    def __init__(self, leg: TimedLeg) -> None:
        self.leg = leg

    def datagram_received(self, data: bytes, addr: tuple[str | bytes, int]) -> None:
        now = time.monotonic()
        try:
            pkt = RtpPacket.parse(data)
        except RtpError:
            return
        self.leg.arrivals.append((now, pkt.payload_type, pkt.payload))


_AUDIO = list(pcmu_frames(tone(1000.0, 1.0, amplitude=6000)))


@dataclass
class TimedLeg:
    """A caller's RTP endpoint: streams 20 ms PCMU (1 kHz) and timestamps arrivals."""

    index: int
    transport: asyncio.DatagramTransport | None = None
    port: int = 0
    remote: tuple[str, int] | None = None
    arrivals: list[tuple[float, int, bytes]] = field(default_factory=list)
    pending: list[RtpPacket] = field(default_factory=list)
    digit_sent: list[tuple[float, float]] = field(default_factory=list)
    """(first event packet, first end packet) send times per digit."""
    seq: int = 0
    ts: int = 0
    sent: int = 0
    ssrc: int = 0

    @classmethod
    async def open(cls, index: int) -> TimedLeg:
        leg = cls(index, ssrc=0x5000 + index)
        transport, _ = await asyncio.get_running_loop().create_datagram_endpoint(
            lambda: _LegProtocol(leg), local_addr=("127.0.0.1", 0)
        )
        leg.transport = transport
        leg.port = int(transport.get_extra_info("sockname")[1])
        return leg

    def tick(self, now: float) -> None:
        if self.transport is None or self.remote is None:
            return
        if self.pending:
            pkt = self.pending.pop(0)
            if pkt.payload_type == PT_EVENT and pkt.marker:
                self.digit_sent.append((now, math.nan))
            elif pkt.payload[1] & 0x80 and math.isnan(self.digit_sent[-1][1]):
                self.digit_sent[-1] = (self.digit_sent[-1][0], now)
            if not self.pending:
                self.ts += 100 * 8
        else:
            payload = _AUDIO[self.seq % len(_AUDIO)]
            pkt = RtpPacket(PT_PCMU, self.seq & 0xFFFF, self.ts, self.ssrc, payload)
            self.ts += SAMPLES_PER_PACKET
        self.seq += 1
        self.transport.sendto(pkt.to_bytes(), self.remote)
        self.sent += 1

    def press(self, digit: str) -> None:
        self.pending = dtmf_packets(
            digit,
            payload_type=PT_EVENT,
            ssrc=self.ssrc,
            first_sequence=self.seq & 0xFFFF,
            timestamp=self.ts,
            duration_ms=100,
        )

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()
            self.transport = None


class Callers(BaseCallHandler):
    """Python callers on one SipStack, with a 20 ms ticker feeding every leg."""

    def __init__(self, switch: str) -> None:
        self.switch = switch
        self.stack: SipStack | None = None
        self.legs: list[TimedLeg] = []
        self.byes = 0
        self._ticker: asyncio.Task[None] | None = None

    async def start(self) -> None:
        config = SipConfig(host="127.0.0.1", udp_port=0, tcp_port=None, user="bench")
        self.stack = SipStack(config, handler=self)
        await self.stack.start()
        self._ticker = asyncio.create_task(self._tick())

    async def _tick(self) -> None:
        loop = asyncio.get_running_loop()
        start = loop.time()
        n = 0
        while True:
            n += 1
            await asyncio.sleep(max(0.0, start + n * TICK - loop.time()))
            now = time.monotonic()
            for leg in self.legs:
                leg.tick(now)

    async def call(self, index: int) -> tuple[TimedLeg, Dialog]:
        assert self.stack is not None
        leg = await TimedLeg.open(index)
        result = await self.stack.invite(
            f"sip:{SERVICE}@{self.switch}",
            sdp=audio_sdp(leg.port, 9000 + index).encode(),
            from_uri=f"sip:pycaller{index}@127.0.0.1",
        )
        if result.dialog is None or result.answer is None:
            leg.close()
            raise BenchError(f"Python caller {index}: INVITE got {result.response.status}")
        leg.remote = ("127.0.0.1", media_ports(result.answer.to_text())[0])
        self.legs.append(leg)
        return leg, result.dialog

    async def hang_up(self, leg: TimedLeg, dialog: Dialog) -> None:
        assert self.stack is not None
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.stack.bye(dialog), 5)
        if leg in self.legs:
            self.legs.remove(leg)
        leg.close()

    async def on_bye(self, dialog: Dialog, request: SipRequest) -> None:
        self.byes += 1

    async def close(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
        for leg in self.legs:
            leg.close()
        if self.stack is not None:
            await self.stack.close()


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return math.nan
    k = (len(ordered) - 1) * q
    lo, hi = math.floor(k), math.ceil(k)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


# --- 1. set-up rate with an IVR step ------------------------------------------------


@dataclass
class RateResult:
    rate: int
    offered: int
    ok: int
    failed: int
    to_agent: int
    retrans: int
    setup_ms: float
    switch_cpu: float
    rtpengine_cpu: float
    sipp_cpu: float
    machine_cpu: float


def run_rate(
    switch: SwitchProcess, agents: Sipp, workdir: Path, rate: int, seconds: float
) -> RateResult:
    calls = int(rate * seconds)
    before_agent = agents.stat("IncomingCall(C)")
    cpu0, t0, busy0 = switch.cpu(), time.monotonic(), machine_busy()
    assert agents.proc is not None
    agents0 = cpu_seconds(agents.proc.pid)
    uac = Sipp(
        f"rate{rate}",
        workdir,
        [
            "-sf",
            str(SIPP_DIR / "caller_ivr.xml"),
            "-s",
            SERVICE,
            "-d",
            "4000",
            "-r",
            str(rate),
            "-m",
            str(calls),
            "-l",
            str(rate * 12),
            "-p",
            str(free_port()),
            "-mp",
            str(free_port()),
            "-timeout",
            f"{int(seconds + 40)}s",
            "-max_socket",
            "4096",
            switch.address,
        ],
    ).start()
    assert uac.proc is not None
    uac_cpu = 0.0
    while uac.proc.poll() is None and time.monotonic() < t0 + seconds + 60:
        with contextlib.suppress(OSError, IndexError):
            uac_cpu = cpu_seconds(uac.proc.pid)
        time.sleep(0.2)
    uac.wait(5)
    cpu1, t1, busy1 = switch.cpu(), time.monotonic(), machine_busy()
    sipp_cpu = uac_cpu + cpu_seconds(agents.proc.pid) - agents0
    time.sleep(3.5)  # the agents' timewait and stats period
    rtd = uac.stats_file.read_text().strip().splitlines()
    row = dict(zip(rtd[0].split(";"), rtd[-1].split(";"), strict=False))
    setup = row.get("ResponseTime1(C)", "00:00:00:000000")
    h, m, s, us = (int(x) for x in setup.split(":"))
    wall = t1 - t0
    return RateResult(
        rate=rate,
        offered=calls,
        ok=uac.stat("SuccessfulCall(C)"),
        failed=uac.stat("FailedCall(C)"),
        to_agent=agents.stat("IncomingCall(C)") - before_agent,
        retrans=uac.stat("Retransmissions(C)"),
        setup_ms=(h * 3600 + m * 60 + s) * 1000 + us / 1000,
        switch_cpu=100 * (cpu1[0] - cpu0[0]) / wall,
        rtpengine_cpu=100 * (cpu1[1] - cpu0[1]) / wall,
        sipp_cpu=100 * sipp_cpu / wall,
        machine_cpu=100 * (busy1[0] - busy0[0]) / max(busy1[1] - busy0[1], 1),
    )


# --- 3. DTMF → next prompt --------------------------------------------------------


async def wait_silence(leg: TimedLeg, after: float, quiet: float, timeout: float) -> bool:
    """True once the leg got audio after ``after`` and then nothing for ``quiet`` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        last = leg.arrivals[-1][0] if leg.arrivals else 0.0
        if last > after and time.monotonic() - last >= quiet:
            return True
        await asyncio.sleep(0.05)
    return False


async def dtmf_caller(
    callers: Callers, index: int, delay: float, out: list[tuple[float, float]]
) -> None:
    await asyncio.sleep(delay)
    leg, dialog = await callers.call(index)
    try:
        mark = time.monotonic()
        for digit in ("9", "9", "1"):
            if not await wait_silence(leg, mark, 0.4, 20):
                return
            leg.press(digit)
            await asyncio.sleep(0.3)
            first, end = leg.digit_sent[-1]
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                later = [(t, pt) for t, pt, _p in leg.arrivals if t > first]
                if later:
                    start, pt = later[0]
                    await asyncio.sleep(1.0)
                    # A prompt: PCMU flowing for the next second (not a stray packet).
                    flowing = sum(1 for t, _pt, _p in leg.arrivals if start <= t < start + 1)
                    if pt == PT_PCMU and flowing >= 40:
                        out.append((start - first, start - end))
                    mark = start
                    break
                await asyncio.sleep(0.02)
            else:
                return
        await asyncio.sleep(0.5)
    finally:
        await callers.hang_up(leg, dialog)


async def run_dtmf(switch: SwitchProcess, samples: int) -> tuple[list[tuple[float, float]], int]:
    callers = Callers(switch.address)
    await callers.start()
    out: list[tuple[float, float]] = []
    n_calls = math.ceil(samples / 3)
    try:
        await asyncio.gather(
            *(dtmf_caller(callers, i, i * 8.0 / n_calls, out) for i in range(n_calls))
        )
    finally:
        await callers.close()
    return out, n_calls


# --- 2. concurrent bridged calls with recording ------------------------------------


@dataclass
class HoldResult:
    calls: int
    bridged: int
    ok: int
    failed: int
    window: float
    switch_cpu: float
    rtpengine_cpu: float
    sample_calls: int
    sample_echo: int
    packets_expected: int
    packets_received: int
    gaps: int
    max_gap_ms: float
    recordings: int


async def sample_caller(callers: Callers, index: int, stop: asyncio.Event) -> TimedLeg | None:
    leg, dialog = await callers.call(index)
    await asyncio.sleep(1.0)
    leg.press("1")
    await stop.wait()
    await callers.hang_up(leg, dialog)
    return leg


async def run_hold(
    switch: SwitchProcess, agents: Sipp, workdir: Path, *, calls: int, window: float, sample: int
) -> HoldResult:
    rate = 30
    before_recs = len(list(switch.recordings.glob("*.pcap"))) if switch.recordings.exists() else 0
    uac = Sipp(
        f"hold{calls}",
        workdir,
        [
            "-sf",
            str(SIPP_DIR / "caller_hold.xml"),
            "-s",
            SERVICE,
            "-d",
            "0",
            "-r",
            str(rate),
            "-m",
            str(calls - sample),
            "-p",
            str(free_port()),
            "-mp",
            str(free_port()),
            "-timeout",
            "120s",
            "-max_socket",
            "4096",
            switch.address,
        ],
    ).start()
    callers = Callers(switch.address)
    await callers.start()
    stop = asyncio.Event()
    tasks = [asyncio.create_task(sample_caller(callers, i, stop)) for i in range(sample)]
    # Wait until every call is bridged (the agents' current calls).
    deadline = time.monotonic() + calls / rate + 25
    bridged = 0
    while time.monotonic() < deadline:
        bridged = agents.stat("CurrentCall")
        if bridged >= calls:
            break
        await asyncio.sleep(0.5)
    await asyncio.sleep(1.0)
    cpu0, t0 = switch.cpu(), time.monotonic()
    bridged_start = agents.stat("CurrentCall")
    await asyncio.sleep(window)
    cpu1, t1 = switch.cpu(), time.monotonic()
    bridged = min(bridged_start, agents.stat("CurrentCall"))
    stop.set()
    legs = [leg for leg in await asyncio.gather(*tasks) if leg is not None]
    await callers.close()
    uac.wait(120)
    wall = t1 - t0
    expected = received = gaps = echo = 0
    max_gap = 0.0
    for leg in legs:
        inside = [a for a in leg.arrivals if t0 <= a[0] <= t1]
        expected += round(wall / TICK)
        received += len(inside)
        times = [t for t, _pt, _p in inside]
        deltas = [b - a for a, b in itertools.pairwise(times)]
        if times:
            deltas += [times[0] - t0, t1 - times[-1]]
        gaps += sum(1 for d in deltas if d > GAP_THRESHOLD)
        max_gap = max([max_gap, *deltas])
        pcmu = b"".join(p for _t, pt, p in inside[-100:] if pt == PT_PCMU)
        if pcmu and abs(dominant_frequency(ulaw_decode(pcmu)) - 1000) < 20:
            echo += 1
    time.sleep(2.5)
    recs = len(list(switch.recordings.glob("*.pcap"))) if switch.recordings.exists() else 0
    return HoldResult(
        calls=calls,
        bridged=bridged,
        ok=uac.stat("SuccessfulCall(C)"),
        failed=uac.stat("FailedCall(C)"),
        window=wall,
        switch_cpu=100 * (cpu1[0] - cpu0[0]) / wall,
        rtpengine_cpu=100 * (cpu1[1] - cpu0[1]) / wall,
        sample_calls=len(legs),
        sample_echo=echo,
        packets_expected=expected,
        packets_received=received,
        gaps=gaps,
        max_gap_ms=1000 * max_gap,
        recordings=recs - before_recs,
    )


# --- the run ------------------------------------------------------------------------


@dataclass
class Plan:
    rates: list[int]
    rate_seconds: float
    holds: list[int]
    hold_window: float
    dtmf_samples: int
    sample: int = 10
    rtpengine_args: list[str] = field(default_factory=list)


NOTES = """
Notes:

- The switch runs through `bench_switch.py --serve --standalone …`, i.e.
  `cti_server.switch.__main__.main` with two bench-only changes: an rtpengine range
  of 8000 RTP ports (the product's `app_config` keeps `RtpEngineConfig`'s default
  of 200 ports = 50 concurrent calls; call 51 gets 503) and, for part 2, a
  standalone decider that sends `record_start` on every bridge. Log level WARNING.
- Set-up rate: each call costs rtpengine three `play media` (greeting, please-hold,
  music on hold) plus offer/answer/stop/delete. rtpengine 10.5 opens every played
  file with ffmpeg in its control thread: 3-8 ms of CPU for a 16-bit PCM WAV, which
  capped the rate at 40 calls/s (replies after the switch's 2 s ng timeout → 503 or
  no music). The switch now plays G.711 copies in the caller's codec (same audio,
  ~0.4 ms to open) and joins the prompts of one step (`media/playback.py`,
  docs/decisions/0001): rtpengine's per-call CPU went from ~24.5 to ~16 ms, the
  rest being media (relay in the transcoding path, playback packets). sipp (pcap
  playback threads) and the sipp agents share the same 2 cores.
- Bridged calls cost the Python switch nothing (media stays in rtpengine,
  userspace `--table=-1`); rtpengine's per-call cost includes pcap recording and
  the transcoding path that `inject DTMF` forces.
- DTMF: rtpengine reports a digit on its end packet, so latency is timed from
  the E bit; "digit start" adds the 80 ms a 100 ms key press takes to send.
"""


def run(plan: Plan, workdir: Path) -> str:
    load = os.getloadavg()
    lines: list[str] = []
    # Switch A: set-up rate, then DTMF latency.
    agents_a = max(plan.rates) * 4 + 40
    switch = SwitchProcess(
        workdir / "a",
        agents_a,
        record=False,
        rtp_ports=8000,
        rtpengine_args=plan.rtpengine_args,
    )
    switch.workdir.mkdir(parents=True, exist_ok=True)
    rates: list[RateResult] = []
    problems: list[str] = []
    uas: Sipp | None = None
    try:
        switch.start()
        uas, uas_port = start_agents(switch.workdir)
        register_agents(switch, switch.workdir, uas_port)
        for rate in plan.rates:
            res = run_rate(switch, uas, switch.workdir, rate, plan.rate_seconds)
            rates.append(res)
            print(
                f"rate {rate}/s: {res.ok}/{res.offered} ok, {res.failed} failed, "
                f"{res.to_agent} to an agent, switch {res.switch_cpu:.0f} % "
                f"({res.switch_cpu * 10 / rate:.1f} ms/call), "
                f"rtpengine {res.rtpengine_cpu:.0f} % "
                f"({res.rtpengine_cpu * 10 / rate:.1f} ms/call)",
                flush=True,
            )
            if res.failed or res.to_agent < res.ok:
                break
        dtmf: list[tuple[float, float]] = []
        dtmf_calls = 0
        if plan.dtmf_samples > 0:
            time.sleep(3)
            dtmf, dtmf_calls = asyncio.run(run_dtmf(switch, plan.dtmf_samples))
        problems += switch.log_problems()
    finally:
        if uas is not None:
            uas.stop()
        switch.stop()
    # Switch B: concurrent bridged calls with recording.
    holds: list[HoldResult] = []
    agents_b = max(plan.holds, default=0) + 20
    switch = SwitchProcess(
        workdir / "b",
        agents_b,
        record=True,
        rtp_ports=8000,
        rtpengine_args=plan.rtpengine_args,
    )
    switch.workdir.mkdir(parents=True, exist_ok=True)
    uas = None
    try:
        if not plan.holds:
            raise _Skip
        switch.start()
        uas, uas_port = start_agents(switch.workdir)
        register_agents(switch, switch.workdir, uas_port)
        for calls in plan.holds:
            held = asyncio.run(
                run_hold(
                    switch,
                    uas,
                    switch.workdir,
                    calls=calls,
                    window=plan.hold_window,
                    sample=plan.sample,
                )
            )
            holds.append(held)
            print(
                f"hold {calls}: {held.bridged} bridged, {held.failed} failed, "
                f"switch {held.switch_cpu:.0f} %, rtpengine {held.rtpengine_cpu:.0f} %, "
                f"gaps {held.gaps}, max gap {held.max_gap_ms:.0f} ms",
                flush=True,
            )
            time.sleep(4)
        problems += switch.log_problems()
    except _Skip:
        pass
    finally:
        if uas is not None:
            uas.stop()
        switch.stop()

    best = max((r.rate for r in rates if r.failed == 0 and r.to_agent == r.ok), default=0)
    lines += [
        f"Machine load average at start: {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f} "
        "(2 cores shared with other work: CPU figures are % of one core).",
        "",
        "### 1. Call set-up rate with an IVR step",
        "",
        "sipp `caller_ivr.xml` (INVITE → 200 → ACK, 1 s of audio, RFC 4733 digit 1 "
        "during the greeting, 4 s more, BYE) against sipp agents (`agent_register.xml` "
        "with digest auth, `agent_uas.xml` answering with RTP echo). *To agent* = calls "
        "an agent answered (proof the digit was taken: without it the caller is still "
        "in the menu at BYE).",
        "",
        "| calls/s | calls | ok | failed | to agent | retrans. | INVITE→200 avg | "
        "switch CPU | rtpengine CPU | sipp CPU | machine busy |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rates:
        lines.append(
            f"| {r.rate} | {r.offered} | {r.ok} | {r.failed} | {r.to_agent} | {r.retrans} | "
            f"{r.setup_ms:.1f} ms | {r.switch_cpu:.0f} % | {r.rtpengine_cpu:.0f} % | "
            f"{r.sipp_cpu:.0f} % | {r.machine_cpu:.0f} % of 2 cores |"
        )
    lines += [
        "",
        f"Highest rate with 0 failed calls (all reaching an agent): **{best} calls/s** "
        f"(goal ≥ 50).",
        "",
        "### 2. Concurrent bridged calls with recording",
        "",
        "sipp `caller_hold.xml` callers (g711a audio for 42 s) and sipp agents echoing "
        f"RTP; `record_start` on every bridge (rtpengine pcap). {plan.sample} of the calls "
        "are Python callers (20 ms PCMU 1 kHz) timing the echoed stream: a *gap* is an "
        f"inter-arrival > {GAP_THRESHOLD * 1000:.0f} ms. CPU measured over the window "
        "in which all calls were bridged.",
        "",
        "| calls | bridged | failed | window | switch CPU | per call | rtpengine CPU | "
        "per call | sample echo ok | sample pkts recv/exp | gaps | max gap | pcaps |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for h in holds:
        per_sw = h.switch_cpu / max(h.bridged, 1)
        per_rtp = h.rtpengine_cpu / max(h.bridged, 1)
        lines.append(
            f"| {h.calls} | {h.bridged} | {h.failed} | {h.window:.0f} s | "
            f"{h.switch_cpu:.1f} % | {per_sw:.3f} % | {h.rtpengine_cpu:.1f} % | "
            f"{per_rtp:.3f} % | {h.sample_echo}/{h.sample_calls} | "
            f"{h.packets_received}/{h.packets_expected} | {h.gaps} | {h.max_gap_ms:.0f} ms | "
            f"{h.recordings} |"
        )
    from_first = [a * 1000 for a, _b in dtmf]
    from_end = [b * 1000 for _a, b in dtmf]
    lines += [
        "",
        "### 3. DTMF → next prompt",
        "",
        f"{dtmf_calls} Python callers (staggered over 8 s, so up to {dtmf_calls} calls "
        "in the IVR at once) wait for the menu prompt to end, send an RFC 4733 digit "
        "(100 ms: 9, 9, then 1) and time the first RTP packet of the next prompt "
        "(`invalid_choice`, `please_hold`).",
        "",
        "| measured from | samples | p50 | p95 | p99 | max |",
        "|---|---|---|---|---|---|",
    ]
    for label, vals in (("digit end (E bit)", from_end), ("digit start", from_first)):
        lines.append(
            f"| {label} | {len(vals)} | {percentile(vals, 0.5):.0f} ms | "
            f"{percentile(vals, 0.95):.0f} ms | {percentile(vals, 0.99):.0f} ms | "
            f"{max(vals, default=math.nan):.0f} ms |"
        )
    lines += [
        "",
        f"Switch log ERROR lines during the run: {len(problems)}"
        + (f" (first: `{problems[0][:160]}`)" if problems else "")
        + ".",
        NOTES,
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--serve"]:
        return serve(argv[1:])
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="shorter steps (~3 min)")
    parser.add_argument("--rates", default=None, help="comma-separated calls/s ramp")
    parser.add_argument("--holds", default=None, help="comma-separated bridged-call counts")
    parser.add_argument("--dtmf-samples", type=int, default=None)
    parser.add_argument("--no-write", action="store_true", help="print only")
    parser.add_argument(
        "--rate-only",
        action="store_true",
        help="only part 1 (set-up rate), print only (for comparing changes)",
    )
    parser.add_argument("--rate-seconds", type=float, default=None, help="seconds per rate step")
    parser.add_argument(
        "--rtpengine-arg",
        action="append",
        default=[],
        metavar="ARG",
        help="extra rtpengine option for the switch's daemon (repeatable; to compare settings)",
    )
    parser.add_argument("--keep", type=Path, help="work in this folder and keep the logs")
    args = parser.parse_args(argv)
    plan = (
        Plan(rates=[20, 50, 80], rate_seconds=8, holds=[150], hold_window=10, dtmf_samples=60)
        if args.quick
        else Plan(
            rates=[20, 30, 40, 50, 65, 80],
            rate_seconds=15,
            holds=[100, 200, 300],
            hold_window=15,
            dtmf_samples=200,
        )
    )
    if args.rates:
        plan.rates = [int(x) for x in args.rates.split(",")]
    if args.holds:
        plan.holds = [int(x) for x in args.holds.split(",")]
    if args.dtmf_samples:
        plan.dtmf_samples = args.dtmf_samples
    if args.rate_seconds:
        plan.rate_seconds = args.rate_seconds
    plan.rtpengine_args = list(args.rtpengine_arg)
    if args.rate_only:
        plan.holds, plan.dtmf_samples, args.no_write = [], 0, True
    with tempfile.TemporaryDirectory(prefix="bench-switch-") as tmp:
        workdir = args.keep or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        try:
            body = run(plan, workdir)
        except BenchError as exc:
            print(f"bench_switch: {exc}", file=sys.stderr)
            return 1
    print(body)
    if not args.no_write:
        path = write_section("switch", "Switch (排队机) with sipp on loopback", body)
        print(f"written to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
