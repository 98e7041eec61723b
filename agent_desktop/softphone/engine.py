"""The process-wide pjsua2 endpoint (pjsua allows one per process).

Created on first use from the GUI thread with ``threadCnt = 0`` and
``mainThreadOnly = True``: pjsua2 does nothing on its own threads except the null sound
device's media clock, and every SIP callback runs inside :meth:`Engine.poll`, which the
softphone calls from a 10 ms ``QTimer``. ``libDestroy`` runs at process exit after every
session released its calls, ports and accounts (pjsua aborts or hangs up later calls
otherwise); several softphones over time (tests) share the one endpoint.
"""

from __future__ import annotations

import atexit
import logging
import threading
from collections.abc import Callable

import pjsua2 as pj

from agent_desktop.softphone import pcm
from agent_desktop.softphone.audio import MediaBuffers
from agent_desktop.softphone.bridge import BridgePort

log = logging.getLogger("softphone.pjsua")

CLOCK_RATE = 8000
"""Conference bridge rate: G.711 is what the switch speaks."""

_LEVELS = {0: logging.ERROR, 1: logging.ERROR, 2: logging.WARNING, 3: logging.INFO}


class _LogWriter(pj.LogWriter):  # type: ignore[misc]
    """pjsua's log into Python logging (any thread; logging is thread-safe)."""

    silenced = False
    """Set for ``libDestroy`` at exit: its chatter would reach logging handlers whose
    streams the interpreter (or pytest) has already closed."""

    def write(self, entry: object) -> None:
        if _LogWriter.silenced:
            return
        level = _LEVELS.get(int(entry.level), logging.DEBUG)  # type: ignore[attr-defined]
        log.log(level, "%s", str(entry.msg).rstrip())  # type: ignore[attr-defined]


class _Endpoint(pj.Endpoint):  # type: ignore[misc]
    def onRejectedIncomingCall(self, prm: object) -> None:
        log.warning(
            "pjsua refused an incoming call with %s %s (%s)",
            prm.statusCode,  # type: ignore[attr-defined]
            prm.reason,  # type: ignore[attr-defined]
            "the softphone takes at most 4 calls"
            if prm.statusCode == 486  # type: ignore[attr-defined]
            else "rejected",
        )


class Engine:
    """The one pjsua2 endpoint and the sessions living on it."""

    def __init__(self) -> None:
        self.thread = threading.get_ident()
        self.ep = _Endpoint()
        self.ep.libCreate()
        self._writer = _LogWriter()
        config = pj.EpConfig()
        config.uaConfig.threadCnt = 0
        config.uaConfig.mainThreadOnly = True
        config.uaConfig.userAgent = "OpenCC desktop softphone"
        config.logConfig.level = 4
        config.logConfig.consoleLevel = 4  # what reaches the writer
        config.logConfig.msgLogging = 0
        config.logConfig.writer = self._writer
        config.medConfig.clockRate = CLOCK_RATE
        config.medConfig.sndClockRate = CLOCK_RATE
        config.medConfig.channelCount = 1
        config.medConfig.noVad = True
        config.medConfig.ecTailLen = 0
        self.ep.libInit(config)
        self.ep.libStart()
        # The wheel has no sound devices: the null device only clocks the bridge.
        self.ep.audDevManager().setNullDev()
        for codec in self.ep.codecEnum2():
            name = str(codec.codecId)
            priority = 255 if name.startswith(("PCMU/", "PCMA/")) else 0
            if name.startswith("G722/"):
                priority = 100
            self.ep.codecSetPriority(name, priority)
        self._sessions: dict[int, Callable[[], None]] = {}
        self._ports: list[BridgePort] = []
        self._idle_ports: list[BridgePort] = []
        self.destroyed = False
        log.info("pjsua2 %s ready (threadCnt=0, mainThreadOnly)", self.ep.libVersion().full)

    def poll(self) -> None:
        if not self.destroyed:
            self.ep.libHandleEvents(0)

    def pump_for(self, seconds: float, until: Callable[[], bool] | None = None) -> None:
        """Handle pjsua events for up to ``seconds`` (shutdown paths only)."""
        import time

        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and not self.destroyed:
            self.ep.libHandleEvents(10)
            if until is not None and until():
                return

    def attach(self, key: int, release: Callable[[], None]) -> None:
        self._sessions[key] = release

    def detach(self, key: int) -> None:
        self._sessions.pop(key, None)

    def take_port(self, buffers: MediaBuffers) -> BridgePort:
        """A conference port bound to ``buffers`` (an idle one from the pool, or new)."""
        if self._idle_ports:
            port = self._idle_ports.pop()
        else:
            port = BridgePort(MediaBuffers(CLOCK_RATE))
            fmt = pj.MediaFormatAudio()
            fmt.type = pj.PJMEDIA_TYPE_AUDIO
            fmt.init(pj.PJMEDIA_FORMAT_PCM, CLOCK_RATE, 1, pcm.FRAME_MS * 1000, 16)
            port.createPort(f"softphone-{len(self._ports)}", fmt)
            self._ports.append(port)
        port.muted = False
        port.buffers = buffers
        return port

    def give_back_port(self, port: BridgePort) -> None:
        """Back to the pool, detached from its softphone's buffers (not freed: the
        clock thread may still call it)."""
        port.buffers = MediaBuffers(CLOCK_RATE)
        port.muted = False
        if port not in self._idle_ports:
            self._idle_ports.append(port)

    def destroy(self) -> None:
        """Release every session's pjsua objects, then ``libDestroy``."""
        if self.destroyed:
            return
        for release in list(self._sessions.values()):
            try:
                release()
            except Exception:
                log.exception("releasing a softphone session failed")
        self._sessions.clear()
        self.ep.hangupAllCalls()
        try:
            self.ep.audDevManager().setNoDev()  # stop the media clock before freeing ports
        except pj.Error as exc:
            log.info("stopping the null sound device failed: %s", exc.info())
        self._idle_ports.clear()
        self._ports.clear()
        self.destroyed = True
        _LogWriter.silenced = True
        self.ep.libDestroy()


_engines: list[Engine] = []


def engine() -> Engine:
    """The process's engine, created (and registered for exit) on first use."""
    if not _engines:
        created = Engine()
        _engines.append(created)
        atexit.register(created.destroy)
    if _engines[0].destroyed:
        raise RuntimeError("the pjsua2 endpoint was already destroyed in this process")
    return _engines[0]
