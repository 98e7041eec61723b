"""Helpers for the SIP tests: a fake clock, a recording channel, a sipp runner."""

from __future__ import annotations

import asyncio
import heapq
import shutil
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from cti_server.switch.sip.message import SipMessage
from cti_server.switch.sip.transaction import TimerConfig

SIPP = shutil.which("sipp")
requires_sipp = pytest.mark.skipif(
    SIPP is None, reason="sipp (Debian package sip-tester) is not installed"
)

FAST = TimerConfig(t1=0.05, t2=0.4, t4=0.5, d=0.5)

RFC_INVITE = (
    b"INVITE sip:bob@biloxi.com SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bK776asdhds\r\n"
    b"Max-Forwards: 70\r\n"
    b"To: Bob <sip:bob@biloxi.com>\r\n"
    b"From: Alice <sip:alice@atlanta.com>;tag=1928301774\r\n"
    b"Call-ID: a84b4c76e66710@pc33.atlanta.com\r\n"
    b"CSeq: 314159 INVITE\r\n"
    b"Contact: <sip:alice@pc33.atlanta.com>\r\n"
    b"Content-Type: application/sdp\r\n"
    b"Content-Length: 4\r\n"
    b"\r\n"
    b"v=0\n"
)


class _Handle:
    def __init__(self, clock: FakeClock, entry: list[object]) -> None:
        self._clock = clock
        self._entry = entry

    def cancel(self) -> None:
        self._entry[2] = None


@dataclass
class FakeClock:
    """A :class:`Scheduler` whose time moves only when the test says so."""

    now: float = 0.0
    _queue: list[list[object]] = field(default_factory=list)
    _seq: int = 0

    def call_later(self, delay: float, callback: Callable[[], None]) -> _Handle:
        self._seq += 1
        entry: list[object] = [self.now + delay, self._seq, callback]
        heapq.heappush(self._queue, entry)
        return _Handle(self, entry)

    def advance(self, seconds: float) -> None:
        target = self.now + seconds
        while self._queue and float(self._queue[0][0]) <= target:  # type: ignore[arg-type]
            when, _, callback = heapq.heappop(self._queue)
            self.now = float(when)  # type: ignore[arg-type]
            if callback is not None:
                callback()  # type: ignore[operator]
        self.now = target

    def time(self) -> float:
        return self.now


@dataclass
class RecordingChannel:
    """A :class:`Channel` that records what is sent."""

    reliable: bool = False
    transport_name: str = "UDP"
    remote: tuple[str, int] = ("192.0.2.1", 5060)
    sent: list[SipMessage] = field(default_factory=list)

    def send(self, message: SipMessage) -> None:
        self.sent.append(message)


def free_port(kind: int = socket.SOCK_DGRAM) -> int:
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class SippRun:
    returncode: int
    output: str
    successful: int
    failed: int


async def run_sipp(
    args: list[str], workdir: Path, *, timeout: float = 20.0, local_port: int | None = None
) -> SippRun:
    """Run sipp to completion (it exits after ``-m`` calls) and read its stats file."""
    assert SIPP is not None
    stats = workdir / "stats.csv"
    cmd = [
        SIPP,
        *args,
        "-i",
        "127.0.0.1",
        "-p",
        str(local_port or free_port()),
        "-mp",
        str(free_port()),
        "-nostdin",
        "-timeout",
        f"{int(timeout)}s",
        "-trace_stat",
        "-stf",
        str(stats),
        "-trace_err",
        "-error_file",
        str(workdir / "errors.log"),
    ]
    proc = await asyncio.create_subprocess_exec(
        *cmd,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        cwd=workdir,
    )
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), timeout + 10)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    successful = failed = -1
    if stats.exists():
        lines = stats.read_text().strip().splitlines()
        if len(lines) >= 2:
            header = lines[0].split(";")
            values = lines[-1].split(";")
            row = dict(zip(header, values, strict=False))
            successful = int(row.get("SuccessfulCall(C)", "-1"))
            failed = int(row.get("FailedCall(C)", "-1"))
    errors = workdir / "errors.log"
    text = out.decode(errors="replace")
    if errors.exists():
        text += "\n--- sipp errors ---\n" + errors.read_text(errors="replace")
    assert proc.returncode is not None
    return SippRun(proc.returncode, text, successful, failed)
