"""Launch and supervise an rtpengine daemon (userspace only, foreground).

:class:`RtpEngineProcess` starts ``rtpengine`` with command-line options only
(``--config-file=none`` so ``/etc/rtpengine/rtpengine.conf`` is *not* read),
captures its stderr into our logger, waits until ``ping`` answers, restarts it
with backoff if it dies, and stops it with SIGTERM then SIGKILL.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import random
import shutil
import signal
import socket
import sys
import tempfile
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from cti_server.switch.media.ng import NgClient, NgError

log = logging.getLogger("switch.media.rtpengine")

DEFAULT_BINARY: Final = "/usr/bin/rtpengine"
_LEVELS: Final = {
    "EMERG": logging.CRITICAL,
    "ALERT": logging.CRITICAL,
    "CRIT": logging.CRITICAL,
    "ERR": logging.ERROR,
    "ERROR": logging.ERROR,
    "WARNING": logging.WARNING,
    "NOTICE": logging.INFO,
    "INFO": logging.INFO,
    "DEBUG": logging.DEBUG,
}
_STABLE_AFTER: Final = 30.0  # seconds of uptime after which the backoff resets


class RtpEngineError(Exception):
    """Base class for supervisor errors."""


class RtpEngineNotFoundError(RtpEngineError):
    """The rtpengine binary is not installed or not executable."""


class RtpEngineStartError(RtpEngineError):
    """rtpengine exited or did not answer ``ping`` in time during start-up."""


class NgPortSharedError(RtpEngineStartError):
    """Another process also listens on the ng port.

    rtpengine 10.5 binds its ng socket with port reuse, so a second daemon on
    the same port starts "successfully" and the kernel spreads requests over
    both; we refuse to run like that.
    """


@dataclass(frozen=True, slots=True)
class RtpEngineConfig:
    """How to run rtpengine. Port 0 / empty range means "pick free ones"."""

    binary: str | None = None
    """Path or name of the binary; ``None``: ``rtpengine`` on PATH, else /usr/bin/rtpengine."""
    interface: str = "127.0.0.1"
    ng_host: str = "127.0.0.1"
    ng_port: int = 0
    port_min: int = 0
    port_max: int = 0
    rtp_port_count: int = 200
    """Size of the RTP range when it is picked automatically (2 ports per leg)."""
    dtmf_log_dest: tuple[str, int] | None = None
    recording_dir: Path | None = None
    recording_method: str = "pcap"
    delete_delay: int = 0
    rtp_timeout: int | None = None
    """Seconds without RTP before rtpengine drops a call (daemon default 60). The core's
    RTP reaper (:mod:`cti_server.switch.core.reaper`) reports such calls cleanly; keep
    this above its timeout so the reaper usually acts first."""
    silent_timeout: int | None = None
    """The same for muted/held streams (``sendonly``/``inactive``; daemon default 3600)."""
    num_threads: int | None = None
    log_level: int = 6
    extra_args: tuple[str, ...] = ()
    start_timeout: float = 10.0
    stop_timeout: float = 5.0
    restart: bool = True
    initial_backoff: float = 0.2
    max_backoff: float = 10.0


def resolve_binary(binary: str | None) -> str:
    """Absolute path of the rtpengine binary; raises :class:`RtpEngineNotFoundError`."""
    candidates = [binary] if binary else ["rtpengine", DEFAULT_BINARY]
    for candidate in candidates:
        found = shutil.which(candidate)
        if found:
            return found
    raise RtpEngineNotFoundError(
        f"rtpengine binary not found (tried {', '.join(candidates)}); "
        "install the Debian package rtpengine-daemon"
    )


def free_udp_port(host: str) -> int:
    """A UDP port that is free right now on ``host`` (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def free_port_range(
    host: str, count: int, *, low: int = 10000, high: int = 32000, attempts: int = 50
) -> tuple[int, int]:
    """An even-aligned range of ``count`` UDP ports all free on ``host``.

    Chosen below Linux's ephemeral range (32768+) so client sockets do not
    collide with it; random so parallel test runs rarely pick the same one.
    """
    if count < 2 or count > high - low:
        raise ValueError(f"cannot pick {count} ports in {low}-{high}")
    rng = random.SystemRandom()
    for _ in range(attempts):
        base = rng.randrange(low, high - count) & ~1
        socks: list[socket.socket] = []
        try:
            for port in range(base, base + count):
                sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                socks.append(sock)
                sock.bind((host, port))
        except OSError:
            continue
        finally:
            for sock in socks:
                sock.close()
        return base, base + count - 1
    raise RtpEngineStartError(f"no free range of {count} UDP ports found on {host}")


def build_command(
    binary: str,
    config: RtpEngineConfig,
    *,
    ng_port: int,
    port_range: tuple[int, int],
    pidfile: Path,
) -> list[str]:
    """The full argv for rtpengine (pure)."""
    args = [
        binary,
        "--config-file=none",
        "--foreground",
        "--log-stderr",
        "--no-log-timestamps",
        f"--log-level={config.log_level}",
        "--table=-1",
        f"--interface={config.interface}",
        f"--listen-ng={config.ng_host}:{ng_port}",
        f"--port-min={port_range[0]}",
        f"--port-max={port_range[1]}",
        f"--delete-delay={config.delete_delay}",
        f"--pidfile={pidfile}",
    ]
    if config.dtmf_log_dest is not None:
        args.append(f"--dtmf-log-dest={config.dtmf_log_dest[0]}:{config.dtmf_log_dest[1]}")
    if config.recording_dir is not None:
        args += [
            f"--recording-dir={config.recording_dir}",
            f"--recording-method={config.recording_method}",
        ]
    if config.rtp_timeout is not None:
        args.append(f"--timeout={config.rtp_timeout}")
    if config.silent_timeout is not None:
        args.append(f"--silent-timeout={config.silent_timeout}")
    if config.num_threads is not None:
        args.append(f"--num-threads={config.num_threads}")
    args += config.extra_args
    return args


def quiet_log_level(level: int, logger: logging.Logger = log) -> int:
    """rtpengine's log level capped to what ``logger`` keeps.

    At level 6 (INFO) rtpengine writes ~27 lines per call (offer, answer, play media,
    delete, packet statistics): ~0.4 ms of rtpengine CPU and ~0.5 ms of the switch's
    (reading the pipe) per call, measured on the bench machine, for lines our logger
    drops when it is not enabled for INFO (its usual WARNING). NOTICE lines map to INFO
    (see ``_LEVELS``), so the cap is 4 (WARNING) then, 6 when DEBUG is off."""
    if level > 4 and not logger.isEnabledFor(logging.INFO):
        return 4
    if level > 6 and not logger.isEnabledFor(logging.DEBUG):
        return 6
    return level


def udp_socket_inodes(host: str, port: int, proc_net: Path = Path("/proc/net/udp")) -> set[int]:
    """Inodes of IPv4 UDP sockets bound to ``host:port`` (Linux ``/proc/net/udp``)."""
    packed = socket.inet_aton(host)
    local = f"{int.from_bytes(packed, 'little'):08X}:{port:04X}"
    inodes: set[int] = set()
    for line in proc_net.read_text().splitlines()[1:]:
        cols = line.split()
        if len(cols) > 9 and cols[1] == local:
            inodes.add(int(cols[9]))
    return inodes


def process_socket_inodes(pid: int) -> set[int]:
    """Inodes of the sockets process ``pid`` holds open."""
    inodes: set[int] = set()
    fd_dir = Path(f"/proc/{pid}/fd")
    for fd in fd_dir.iterdir():
        with contextlib.suppress(OSError):
            target = os.readlink(fd)
            if target.startswith("socket:["):
                inodes.add(int(target[8:-1]))
    return inodes


def parse_log_line(line: str) -> tuple[int, str]:
    """Map an rtpengine stderr line (``LEVEL: [subsystem] text``) to a logging level."""
    head, sep, rest = line.partition(": ")
    level = _LEVELS.get(head.strip()) if sep else None
    if level is None:
        return logging.INFO, line
    return level, rest


def _die_with_parent() -> None:  # pragma: no cover - runs in the child
    """Ask Linux to SIGTERM the child when the spawning thread dies."""
    if sys.platform == "linux":
        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class RtpEngineProcess:
    """One supervised rtpengine daemon.

    ``on_restart`` is called (after the new daemon answers ``ping``) with the
    restart count whenever rtpengine had to be restarted: all its calls are
    gone, so the switch must tear down or re-offer them.
    """

    def __init__(
        self,
        config: RtpEngineConfig | None = None,
        *,
        on_restart: Callable[[int], Awaitable[None] | None] | None = None,
    ) -> None:
        self.config = config or RtpEngineConfig()
        self._on_restart = on_restart
        self._proc: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None
        self._monitor: asyncio.Task[None] | None = None
        self._client: NgClient | None = None
        self._workdir: Path | None = None
        self._stopping = False
        self._started_at = 0.0
        self.recent_log: deque[str] = deque(maxlen=50)
        self.restarts = 0
        self.ng_port = 0
        self.port_range = (0, 0)

    # --- properties ------------------------------------------------------------

    @property
    def client(self) -> NgClient:
        if self._client is None:
            raise RtpEngineError("rtpengine is not started")
        return self._client

    @property
    def ng_address(self) -> tuple[str, int]:
        return (self.config.ng_host, self.ng_port)

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.returncode is None

    @property
    def workdir(self) -> Path:
        if self._workdir is None:
            raise RtpEngineError("rtpengine is not started")
        return self._workdir

    def recordings(self, call_id: str) -> list[Path]:
        """pcap files rtpengine wrote for ``call_id`` (``<dir>/pcaps/<call-id>-<rand>.pcap``)."""
        if self.config.recording_dir is None:
            return []
        return sorted((self.config.recording_dir / "pcaps").glob(f"{call_id}-*.pcap"))

    # --- lifecycle -----------------------------------------------------------------

    async def __aenter__(self) -> RtpEngineProcess:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def start(self) -> None:
        """Launch rtpengine and wait until it answers ``ping``."""
        if self._proc is not None:
            raise RtpEngineError("rtpengine already started")
        binary = resolve_binary(self.config.binary)
        self._stopping = False
        self._workdir = Path(tempfile.mkdtemp(prefix="rtpengine-"))
        if self.config.recording_dir is not None:
            self.config.recording_dir.mkdir(parents=True, exist_ok=True)
        auto_ports = self.config.ng_port == 0 or self.config.port_min == 0
        attempts = 3 if auto_ports else 1
        for attempt in range(1, attempts + 1):
            self._pick_ports()
            self._client = await NgClient.connect(self.config.ng_host, self.ng_port)
            try:
                await self._spawn(binary)
                break
            except RtpEngineStartError:
                await self._client.aclose()
                self._client = None
                if attempt == attempts:
                    shutil.rmtree(self._workdir, ignore_errors=True)
                    self._workdir = None
                    raise
                log.warning(
                    "rtpengine failed to start (attempt %d), retrying on new ports", attempt
                )
        self._monitor = asyncio.create_task(self._supervise(binary), name="rtpengine-supervisor")

    def _pick_ports(self) -> None:
        cfg = self.config
        self.ng_port = cfg.ng_port or free_udp_port(cfg.ng_host)
        if cfg.port_min and cfg.port_max:
            self.port_range = (cfg.port_min, cfg.port_max)
        else:
            self.port_range = free_port_range(cfg.interface, cfg.rtp_port_count)

    async def _spawn(self, binary: str) -> None:
        assert self._workdir is not None
        argv = build_command(
            binary,
            self.config,
            ng_port=self.ng_port,
            port_range=self.port_range,
            pidfile=self._workdir / "rtpengine.pid",
        )
        quiet = quiet_log_level(self.config.log_level)
        if quiet != self.config.log_level:
            argv.append(f"--log-level={quiet}")  # rtpengine takes the last one
        log.info("starting %s", " ".join(argv))
        self.recent_log.clear()
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
                cwd=self._workdir,
                preexec_fn=_die_with_parent,
            )
        except OSError as exc:
            raise RtpEngineNotFoundError(f"cannot execute {binary}: {exc}") from exc
        self._proc = proc
        self._started_at = time.monotonic()
        self._reader = asyncio.create_task(self._read_log(proc), name="rtpengine-log")
        try:
            await self._wait_ready(proc, argv)
            self._check_ng_port_owner(proc.pid)
        except RtpEngineStartError:
            await self._terminate(proc)
            self._proc = None
            raise

    async def _read_log(self, proc: asyncio.subprocess.Process) -> None:
        assert proc.stdout is not None
        pid = proc.pid
        while raw := await proc.stdout.readline():
            line = raw.decode(errors="replace").rstrip()
            if not line:
                continue
            self.recent_log.append(line)
            level, text = parse_log_line(line)
            log.log(level, "[rtpengine %d] %s", pid, text)

    def _check_ng_port_owner(self, pid: int) -> None:
        if not Path("/proc/net/udp").exists():
            return  # not Linux: cannot check
        owners = udp_socket_inodes(self.config.ng_host, self.ng_port)
        theirs = owners - process_socket_inodes(pid)
        if theirs:
            raise NgPortSharedError(
                f"ng port {self.config.ng_host}:{self.ng_port} is also bound by another process"
            )

    async def _wait_ready(self, proc: asyncio.subprocess.Process, argv: list[str]) -> None:
        assert self._client is not None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.config.start_timeout
        while True:
            if proc.returncode is not None:
                if self._reader is not None:  # let the reader catch the last lines
                    with contextlib.suppress(Exception):
                        await asyncio.wait_for(asyncio.shield(self._reader), 1.0)
                tail = "\n".join(list(self.recent_log)[-10:]) or "(no output: bad option?)"
                raise RtpEngineStartError(
                    f"rtpengine exited with status {proc.returncode} during start-up; "
                    f"command: {' '.join(argv)}\n{tail}"
                )
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise RtpEngineStartError(
                    f"rtpengine did not answer ping on {self.config.ng_host}:{self.ng_port} "
                    f"within {self.config.start_timeout} s"
                )
            try:
                await self._client.ping(timeout=min(0.3, remaining))
            except NgError:
                continue
            log.info(
                "rtpengine %d ready: ng %s:%d, RTP %d-%d",
                proc.pid,
                self.config.ng_host,
                self.ng_port,
                *self.port_range,
            )
            return

    async def _supervise(self, binary: str) -> None:
        backoff = self.config.initial_backoff
        while True:
            proc = self._proc
            if proc is None:
                return
            code = await proc.wait()
            if self._reader is not None:
                with contextlib.suppress(Exception):
                    await self._reader
            if self._stopping:
                return
            uptime = time.monotonic() - self._started_at
            log.error("rtpengine %d exited unexpectedly with status %s", proc.pid, code)
            if not self.config.restart:
                self._proc = None
                return
            if uptime > _STABLE_AFTER:
                backoff = self.config.initial_backoff
            while not self._stopping:
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self.config.max_backoff)
                if self._stopping:
                    return
                try:
                    await self._spawn(binary)
                except RtpEngineError as exc:
                    log.error("restarting rtpengine failed: %s", exc)
                    continue
                self.restarts += 1
                log.warning("rtpengine restarted (restart #%d); its calls were lost", self.restarts)
                if self._on_restart is not None:
                    try:
                        result = self._on_restart(self.restarts)
                        if result is not None:
                            await result
                    except Exception:
                        log.exception("on_restart callback failed")
                break

    async def _terminate(self, proc: asyncio.subprocess.Process) -> None:
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), self.config.stop_timeout)
            except TimeoutError:
                log.warning("rtpengine %d ignored SIGTERM; killing it", proc.pid)
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()
        if self._reader is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._reader, 1.0)
            self._reader = None

    async def stop(self) -> None:
        """SIGTERM, then SIGKILL after ``stop_timeout``; idempotent."""
        self._stopping = True
        monitor, self._monitor = self._monitor, None
        proc, self._proc = self._proc, None
        if proc is not None:
            await self._terminate(proc)
        if monitor is not None:
            monitor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await monitor
        if self._client is not None:
            await self._client.aclose()
            self._client = None
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None
