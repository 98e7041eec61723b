"""Helpers of the end-to-end tests: real processes with parsed logs, SIP phones with
RTP legs we own, audio checks, desktops over the CTI protocol."""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import re
import signal
import socket
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from cti_server.switch.core.queue import MOH_NOTES
from cti_server.switch.media.rtp import dominant_frequency, goertzel_power, rms
from cti_server.switch.media.testing import Leg, audio_sdp, media_ports
from cti_server.switch.sip import (
    BaseCallHandler,
    ClientCredentials,
    Dialog,
    IncomingCall,
    SessionDescription,
    SipConfig,
    SipRequest,
    SipStack,
    parse_sdp,
)
from cti_server.switch.sip.transaction import TimerConfig
from shared.cti_client import CtiClient
from shared.protocol.agent import AgentLogin, AgentReady
from shared.protocol.base import Event
from shared.protocol.handshake import ClientKind, PasswordCredentials

ROOT = Path(__file__).resolve().parents[2]
FAST = TimerConfig(t1=0.05, t2=0.4, t4=0.5, d=0.5)
CALL_ID_HEADER = "X-OpenCC-Call-ID"


def free_port() -> int:
    """A port free for both TCP and UDP on 127.0.0.1 (SIP listens on both)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
            tcp.bind(("127.0.0.1", 0))
            port = int(tcp.getsockname()[1])
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                try:
                    udp.bind(("127.0.0.1", port))
                except OSError:
                    continue
                return port
    raise RuntimeError("no port free for both TCP and UDP")


async def until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.02)


# --- processes ---------------------------------------------------------------------


class LoggedProcess:
    """``python -m <module> <args>`` in its own process group; stderr lines are kept and
    can be awaited by regular expression."""

    def __init__(self, name: str, module: str, args: Sequence[str]) -> None:
        self.name = name
        self.argv = [sys.executable, "-m", module, *args]
        self.lines: list[str] = []
        self.proc: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None
        self._changed = asyncio.Event()

    async def start(self) -> None:
        self.lines.append(f"--- start {' '.join(self.argv[2:])}\n")
        self.proc = await asyncio.create_subprocess_exec(
            *self.argv,
            cwd=ROOT,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,  # its own group: rtpengine goes with it on cleanup
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        self._reader = asyncio.get_running_loop().create_task(self._read(self.proc))

    async def _read(self, proc: asyncio.subprocess.Process) -> None:
        assert proc.stderr is not None
        while line := await proc.stderr.readline():
            self.lines.append(line.decode(errors="replace"))
            self._changed.set()
        self._changed.set()

    @property
    def mark(self) -> int:
        """The current end of the log (wait for lines after it)."""
        return len(self.lines)

    async def wait_for(
        self, pattern: str, *, after: int = 0, timeout: float = 30.0
    ) -> re.Match[str]:
        """The first line at index >= ``after`` that matches ``pattern``."""
        regex = re.compile(pattern)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        index = after
        while True:
            while index < len(self.lines):
                found = regex.search(self.lines[index])
                index += 1
                if found:
                    return found
            if self.proc is not None and self.proc.returncode is not None:
                raise AssertionError(
                    f"{self.name} exited ({self.proc.returncode}) before logging {pattern!r}:\n"
                    + self.tail()
                )
            left = deadline - loop.time()
            if left <= 0:
                raise AssertionError(
                    f"{self.name} did not log {pattern!r} in {timeout} s:\n" + self.tail()
                )
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), min(left, 0.5))

    def tail(self, count: int = 60) -> str:
        return "".join(line for line in self.lines if not line.startswith(" "))[-8000:]

    def count(self, pattern: str) -> int:
        regex = re.compile(pattern)
        return sum(1 for line in self.lines if regex.search(line))

    async def kill9(self) -> None:
        """SIGKILL this process only (what ``kill -9 <pid>`` does)."""
        assert self.proc is not None
        self.proc.kill()
        await self.proc.wait()
        await self._drain()

    async def stop(self, timeout: float = 15.0) -> int | None:
        """SIGTERM, then SIGKILL of the whole process group if it does not stop."""
        proc = self.proc
        if proc is None:
            return None
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), timeout)
            except TimeoutError:
                self.lines.append(f"--- {self.name} did not stop on SIGTERM: killed\n")
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)  # anything left in its group
        if proc.returncode is None:
            await proc.wait()
        await self._drain()
        return proc.returncode

    async def _drain(self) -> None:
        if self._reader is not None:
            with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(self._reader, 5)
            self._reader = None


class LinkProxy:
    """A TCP forwarder on 127.0.0.1 the test owns, in front of the CTI server's port: the
    switch's link goes through it, so the test decides when a restarted server becomes
    reachable for the switch (``opened``); while closed, connections are refused at once
    (accepted and closed). A connection ends when either side ends."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.opened = True
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self.accepted = self.forwarded = 0
        self.last_error: str | None = None

    def __repr__(self) -> str:
        return (
            f"LinkProxy(:{self.port} → :{self.target_port}, opened={self.opened}, "
            f"accepted={self.accepted}, forwarded={self.forwarded}, error={self.last_error})"
        )

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self.port

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        if not self.opened:
            writer.close()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError as exc:
            self.last_error = str(exc)
            writer.close()
            return
        self.forwarded += 1
        self._writers |= {writer, up_writer}
        await asyncio.gather(
            self._pipe(reader, up_writer), self._pipe(up_reader, writer), return_exceptions=True
        )

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()
            self._writers.discard(writer)

    async def drop(self) -> None:
        """Cut every forwarded connection (the listener stays: see ``opened``)."""
        for writer in list(self._writers):
            writer.close()

    async def close(self) -> None:
        await self.drop()
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._server.wait_closed(), 2)


# --- phones ------------------------------------------------------------------------


class Phone(BaseCallHandler):
    """A SIP endpoint built on the product's SipStack with an RTP leg we own.

    As an agent softphone it registers with digest, rings and answers every INVITE
    after ``answer_after`` seconds; as a caller it places one call."""

    def __init__(self, user: str, *, answer_after: float = 0.2) -> None:
        self.user = user
        self.answer_after = answer_after
        self.stack: SipStack | None = None
        self.leg: Leg | None = None
        self.invites: list[IncomingCall] = []
        self.dialog: Dialog | None = None
        self.answered: list[str] = []
        """Switch call ids (``X-OpenCC-Call-ID``) of the calls this phone answered."""
        self.old_legs: list[Leg] = []
        self.byes: list[str] = []
        """SIP Call-IDs of the dialogs the other side hung up."""
        self.bye = asyncio.Event()
        self.legs_by_dialog: dict[str, Leg] = {}
        """SIP Call-ID of each answered dialog → the RTP leg answered on it."""
        self.reinvites = 0

    @classmethod
    async def open(cls, user: str, *, answer_after: float = 0.2) -> Phone:
        phone = cls(user, answer_after=answer_after)
        config = SipConfig(host="127.0.0.1", udp_port=0, tcp_port=None, user=user, timers=FAST)
        phone.stack = SipStack(config, handler=phone)
        await phone.stack.start()
        phone.leg = await Leg.open()
        return phone

    async def close(self) -> None:
        if self.stack is not None:
            await self.stack.close()
        for leg in [*self.old_legs, self.leg]:
            if leg is not None:
                await leg.close()

    @property
    def media(self) -> Leg:
        assert self.leg is not None
        return self.leg

    # --- agent softphone -----------------------------------------------------------------

    async def register(self, switch: tuple[str, int], password: str) -> int:
        assert self.stack is not None
        return await self.stack.register(
            switch, ClientCredentials(self.user, password), expires=600
        )

    async def on_invite(self, call: IncomingCall) -> None:
        assert self.leg is not None and call.offer is not None
        self.invites.append(call)
        call.ring()
        await asyncio.sleep(self.answer_after)
        if call.cancelled.is_set():
            return
        if self.answered:  # a new RTP port per call, as softphones do
            self.old_legs.append(self.leg)
            self.leg = await Leg.open()
        self.leg.remote = ("127.0.0.1", media_ports(call.offer.to_text())[0])
        self.dialog = call.answer(audio_sdp(self.leg.port, 7).encode())
        self.legs_by_dialog[self.dialog.call_id] = self.leg
        self.answered.append(call.request.headers.get(CALL_ID_HEADER) or "?")

    async def on_reinvite(self, dialog: Dialog, request: SipRequest) -> SessionDescription | None:
        """A re-INVITE (the switch moving the call onto or off its mixer): the dialog's
        RTP leg sends to the new address and answers with the same port."""
        ports = media_ports(request.body.decode(errors="replace"))
        leg = self.legs_by_dialog.get(dialog.call_id, self.leg)
        if not ports or leg is None:
            return None
        leg.remote = ("127.0.0.1", ports[0])
        self.reinvites += 1
        return parse_sdp(audio_sdp(leg.port, 7))

    async def on_bye(self, dialog: Dialog, request: SipRequest) -> None:
        self.byes.append(dialog.call_id)
        self.bye.set()

    # --- caller --------------------------------------------------------------------------

    async def call(self, switch: tuple[str, int], number: str = "10086") -> int:
        assert self.stack is not None and self.leg is not None
        host, port = switch
        result = await self.stack.invite(
            f"sip:{number}@{host}:{port}",
            sdp=audio_sdp(self.leg.port, 1).encode(),
            from_uri=f"sip:{self.user}@127.0.0.1",
        )
        if result.dialog is not None and result.answer is not None:
            self.dialog = result.dialog
            self.leg.remote = ("127.0.0.1", media_ports(result.answer.to_text())[0])
        return result.status

    async def press(self, digit: str) -> None:
        """Some audio first (rtpengine logs DTMF only on a stream that carried audio),
        then the digit as RFC 4733."""
        await self.media.send_tone(440.0, 0.1)
        await self.media.send(self.media.dtmf_packets(digit))

    async def hang_up(self) -> None:
        assert self.stack is not None and self.dialog is not None
        await self.stack.bye(self.dialog)


# --- audio -------------------------------------------------------------------------


async def heard_level(leg: Leg, seconds: float) -> float:
    """RMS of the PCMU the leg receives during the next ``seconds``."""
    leg.received.clear()
    await asyncio.sleep(seconds)
    return rms(leg.pcmu_samples())


async def hears_moh(leg: Leg, seconds: float = 1.0) -> bool:
    """True if what the leg hears is the music on hold: most 100 ms windows are one of
    its notes (speech prompts are not)."""
    leg.received.clear()
    await asyncio.sleep(seconds)
    samples = leg.pcmu_samples()
    windows = range(0, len(samples) - 800, 400)
    if len(windows) < 4 or rms(samples) < 300:
        return False
    notes = 0
    for start in windows:
        freq = dominant_frequency(samples[start : start + 800], low=400, high=1000)
        notes += any(abs(freq - note) <= 10 for note in MOH_NOTES)
    return notes >= 0.6 * len(windows)


async def tones_both_ways(caller: Leg, agent: Leg) -> tuple[float, float]:
    """1 kHz caller → agent and 600 Hz agent → caller at once; returns the dominant
    frequencies (heard by the agent, heard by the caller)."""
    caller.received.clear()
    agent.received.clear()
    await asyncio.gather(caller.send_tone(1000.0, 0.4), agent.send_tone(600.0, 0.4))
    await agent.wait_packets(15)
    await caller.wait_packets(15)
    return _dominant(agent), _dominant(caller)


def tone_level(leg: Leg, frequency: float) -> float:
    """About the amplitude of ``frequency`` in what the leg received (a tone heard all
    the time at 8000 gives about 8000, silence about 0)."""
    samples = leg.pcmu_samples()
    return 2 * math.sqrt(goertzel_power(samples, frequency)) if samples else 0.0


async def exchange_tones(tones: dict[Leg, float], seconds: float = 0.8) -> None:
    """Clear every leg's buffer, let each send its own tone in real time (20 ms packets,
    all at once), then wait for the last packets to cross."""
    for leg in tones:
        leg.received.clear()
    await asyncio.gather(
        *(leg.send(leg.tone_packets(freq, seconds), interval=0.02) for leg, freq in tones.items())
    )
    await asyncio.sleep(0.3)


def _dominant(leg: Leg) -> float:
    samples = leg.pcmu_samples()
    return dominant_frequency(samples) if len(samples) >= 1600 else 0.0


# --- desktops ----------------------------------------------------------------------


async def login_desktop(url: str, agent: str, password: str = "demo") -> CtiClient:
    """An agent desktop that logs in ready on the softphone ``agent`` (it may be put on
    a call instead: the events tell)."""
    client = CtiClient(
        url,
        PasswordCredentials(user_id=agent, password=password),
        ClientKind.DESKTOP,
        heartbeat=False,
        request_timeout=10.0,
    )
    await client.open()
    await client.request(AgentLogin(id=0, extension=agent, initial_state="ready"))
    return client


async def ready_desktop(url: str, agent: str, password: str = "demo") -> CtiClient:
    """An agent desktop logged in (on the softphone ``agent``) and ready."""
    client = await login_desktop(url, agent, password)
    await expect(client, AgentReady)
    return client


async def expect[E: Event](client: CtiClient, kind: type[E], timeout: float = 5.0) -> E:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        item = await client.next_event(timeout=max(0.01, deadline - loop.time()))
        if isinstance(item, kind):
            return item
