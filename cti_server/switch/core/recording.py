"""Call recording on the switch (R-SUP-3): every bridged agent call whose queue allows it.

:class:`CallRecorder` (one per :class:`~cti_server.switch.core.b2bua.SwitchCore`, with
``CoreConfig.record_calls``) keeps rtpengine recording a call exactly while the call is
**bridged** (``Phase.BRIDGED``) and its queue allows recording (``Call.record``, the
route response's ``record`` at ``agent_needed``):

* the first bridge to an agent starts it (``start recording``: rtpengine writes the
  RTP it receives from both sides into a pcap, in C, on its media threads — nothing
  per packet in the switch);
* hold (either way: rtpengine ``block media`` or the mixer's hold), a consultation's
  hold, and a blind transfer's wait for the next party pause it (``stop recording``);
  the next bridge resumes it (``start recording``: a new pcap of the same call), so
  what the agent says while the caller hears music is never written to disk;
* one recording per call, spanning agents: after a transfer or a consultative transfer
  the next agent (or the outside party) is the same recording's right channel; a call
  transferred into a queue whose recording is off stays paused from then on;
* when the call ends (``_finish``, after rtpengine's ``delete`` closed the files) the
  pcaps go to a worker process (:mod:`cti_server.switch.media.recorder`): an 8 kHz
  16-bit stereo WAV (caller left, agent right) as long as the first bridge → release
  span, paused time as silence; it is queued for upload with
  :func:`~cti_server.switch.recording_upload.queue_recording` (``on_queued`` wakes the
  uploader) and the pcaps are deleted.

The ``record_start`` / ``record_stop`` commands (:mod:`.control`) drive the same
session: ``record_start`` starts one (with the command's recording id) even when
automatic recording is off; ``record_stop`` pauses it until the next ``record_start``.
The conversion never runs on the event loop: a :class:`ProcessPoolExecutor` (spawned,
``workers`` processes, created on the first call that needs it).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import re
import time
from collections.abc import Callable
from concurrent.futures import BrokenExecutor, Executor, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from cti_server.switch.core.calls import Call, Phase
from cti_server.switch.media.ng import NgClient, NgError
from cti_server.switch.media.recorder import PcapError, WavJob, WavResult, pcaps_to_wav
from cti_server.switch.recording_upload import queue_recording
from shared.protocol.switch import LegRole

log = logging.getLogger("switch.core.recording")

CONVERTING: Final = "converting"
"""Subfolder of the recordings folder where WAVs are written before they are queued."""
CLOSE_TIMEOUT: Final = 30.0
"""Seconds :meth:`CallRecorder.close` waits for conversions still running."""
_PORT = re.compile(r"^m=audio (\d+) ", re.MULTILINE)
_RECORDING_ID = re.compile(r"^[A-Za-z0-9_.:\-]{1,64}\Z")
"""What the outbox and the server accept (:func:`queue_recording`)."""


def sdp_audio_port(sdp: str) -> int | None:
    """Port of the first ``m=audio`` line (None: none)."""
    found = _PORT.search(sdp)
    return int(found.group(1)) if found else None


def recording_id_for(call_id: str) -> str:
    """The id of a call's automatic recording: ``<call id>-rec``."""
    return f"{call_id}-rec"[:64]


@dataclass(slots=True)
class RecordingSession:
    """One call's recording while the call lasts."""

    call_id: str
    recording_id: str
    started_at: float
    """Wall-clock time recording first started (the WAV's first sample)."""
    caller_ports: set[int] = field(default_factory=set)
    agent_ports: set[int] = field(default_factory=set)
    active: bool = False
    """rtpengine is writing (between a ``start recording`` and the next stop)."""
    segments: int = 0
    """``start recording`` requests that succeeded (1 + resumes)."""
    stopped_by_command: bool = False
    """``record_stop``: stays paused until the next ``record_start``."""


@dataclass(frozen=True, slots=True)
class PendingRecording:
    """A recording whose call ended, waiting for its conversion."""

    call_id: str
    recording_id: str
    job: WavJob
    """Without its pcaps yet: they are listed when rtpengine has closed them."""


@dataclass(frozen=True, slots=True)
class QueuedRecording:
    """A finished recording put into the outbox (kept in :attr:`CallRecorder.done`)."""

    recording_id: str
    call_id: str
    wav: Path
    seconds: float
    result: WavResult


class CallRecorder:
    """Records bridged calls (module docstring). Every method but :meth:`close` runs
    with the call's lock held."""

    def __init__(
        self,
        ng: NgClient,
        folder: Path | None,
        *,
        enabled: bool = True,
        workers: int = 1,
        on_queued: Callable[[str], None] | None = None,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.ng = ng
        self.folder = folder
        """rtpengine's recording folder (``pcaps/`` under it) and the uploader's (its
        ``outbox/``). None: nothing can be recorded."""
        self.enabled = enabled and folder is not None
        """Record bridged calls automatically (``record_start`` works either way)."""
        self.workers = max(1, workers)
        self.on_queued = on_queued
        """Called with the recording id once a WAV is in the outbox (wakes the uploader)."""
        self.wall = wall
        """The clock rtpengine stamps its packets with (the WAV's time line)."""
        self.sessions: dict[str, RecordingSession] = {}
        self.done: list[QueuedRecording] = []
        """The recordings queued since start (diagnostics, tests; last 100)."""
        self.failures = 0
        self._pool: Executor | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        if enabled and folder is None:
            log.warning("call recording is on but there is no recordings folder: off")

    # --- while the call lasts ------------------------------------------------------------

    def wants(self, call: Call) -> bool:
        """Should rtpengine be writing this call's media now?"""
        if call.ended or not call.record or call.phase is not Phase.BRIDGED:
            return False
        session = self.sessions.get(call.call_id)
        if session is not None:
            return not session.stopped_by_command
        # a new recording starts only on an agent's bridge (not an IVR's outside number)
        return self.enabled and call.agent is not None and call.agent.role is LegRole.AGENT

    async def sync(self, call: Call) -> None:
        """Start, pause or resume the call's recording after its state changed."""
        session = self.sessions.get(call.call_id)
        want = self.wants(call)
        if want and (session is None or not session.active):
            try:
                await self._start(call, session, None)
            except NgError as exc:
                log.warning("%s: recording not started: %s", call.call_id, exc)
        elif not want and session is not None and session.active:
            await self._pause(session)

    async def start(self, call: Call, recording_id: str | None = None) -> RecordingSession:
        """``record_start``: record now (raises :class:`NgError`); the command's
        ``recording_id`` names a recording it starts."""
        session = self.sessions.get(call.call_id)
        if session is not None:
            session.stopped_by_command = False
            if session.active:
                return session
        return await self._start(call, session, recording_id)

    async def stop(self, call: Call) -> None:
        """``record_stop``: pause until the next ``record_start`` (raises :class:`NgError`)."""
        session = self.sessions.get(call.call_id)
        if session is None:
            await self.ng.stop_recording(call.call_id)
            return
        session.stopped_by_command = True
        if session.active:
            await self.ng.stop_recording(call.call_id)
            session.active = False

    async def _start(
        self, call: Call, session: RecordingSession | None, recording_id: str | None
    ) -> RecordingSession:
        if self.folder is None:
            raise NgError("no recordings folder: rtpengine cannot record")
        at = self.wall()
        await self.ng.start_recording(call.call_id)
        if session is None:
            if recording_id is not None and not _RECORDING_ID.match(recording_id):
                log.warning(
                    "%s: recording id %r unusable as a file name", call.call_id, recording_id
                )
                recording_id = None
            session = RecordingSession(
                call_id=call.call_id,
                recording_id=recording_id or recording_id_for(call.call_id),
                started_at=at,
            )
            self.sessions[call.call_id] = session
            log.info("%s: recording %s started", call.call_id, session.recording_id)
        for sdp, ports in (
            (call.caller_answer, session.caller_ports),
            (call.agent_side_offer, session.agent_ports),
        ):
            port = sdp_audio_port(sdp)
            if port is not None:
                ports.add(port)
        session.active = True
        session.segments += 1
        return session

    async def _pause(self, session: RecordingSession) -> None:
        session.active = False
        try:
            await self.ng.stop_recording(session.call_id)
        except NgError as exc:
            log.warning("%s: recording not paused: %s", session.call_id, exc)

    # --- at the end ------------------------------------------------------------------------

    def call_ended(self, call: Call) -> PendingRecording | None:
        """The call ends (before rtpengine's ``delete`` closes its files): its recording,
        to pass to :meth:`convert_later` after the ``delete`` (None: not recorded)."""
        session = self.sessions.pop(call.call_id, None)
        if session is None or self.folder is None:
            return None
        converting = self.folder / CONVERTING
        return PendingRecording(
            call_id=call.call_id,
            recording_id=session.recording_id,
            job=WavJob(
                pcaps=(),
                wav=str(converting / f"{session.recording_id}.wav"),
                start=session.started_at,
                end=max(self.wall(), session.started_at),
                caller_ports=tuple(sorted(session.caller_ports)),
                agent_ports=tuple(sorted(session.agent_ports)),
            ),
        )

    def convert_later(self, pending: PendingRecording) -> None:
        """Convert and queue in the background (after rtpengine's ``delete``)."""
        task = asyncio.get_running_loop().create_task(
            self._convert(pending), name=f"recording-{pending.call_id}"
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _executor(self) -> Executor:
        if self._pool is None:
            self._pool = ProcessPoolExecutor(
                max_workers=self.workers, mp_context=multiprocessing.get_context("spawn")
            )
        return self._pool

    def pcaps(self, call_id: str) -> list[Path]:
        """rtpengine's pcap files of ``call_id``."""
        if self.folder is None:
            return []
        return sorted((self.folder / "pcaps").glob(f"{glob_escape(call_id)}-*.pcap"))

    async def _convert(self, pending: PendingRecording) -> None:
        assert self.folder is not None
        folder = self.folder
        call_id, recording_id, job = pending.call_id, pending.recording_id, pending.job
        pcaps = await asyncio.to_thread(self.pcaps, call_id)
        if not pcaps:
            log.warning("%s: recording %s has no pcap file: nothing queued", call_id, recording_id)
            self.failures += 1
            return
        job = WavJob(
            pcaps=tuple(str(p) for p in pcaps),
            wav=job.wav,
            start=job.start,
            end=job.end,
            caller_ports=job.caller_ports,
            agent_ports=job.agent_ports,
        )
        try:
            await asyncio.to_thread(Path(job.wav).parent.mkdir, parents=True, exist_ok=True)
            loop = asyncio.get_running_loop()
            result = await loop.run_in_executor(self._executor(), pcaps_to_wav, job)
            wav = await asyncio.to_thread(
                queue_recording,
                folder,
                recording_id=recording_id,
                call_id=call_id,
                wav=Path(job.wav),
                seconds=round(result.seconds, 3),
                started_at=job.start,
            )
        except (OSError, PcapError, ValueError, RuntimeError) as exc:
            # pcaps stay where they are (the conversion can be repeated by hand)
            log.error("%s: recording %s not converted: %s", call_id, recording_id, exc)
            self.failures += 1
            broken, pool = isinstance(exc, BrokenExecutor), self._pool
            if broken and pool is not None:  # a worker died: a new pool next time
                self._pool = None
                pool.shutdown(wait=False, cancel_futures=True)
            part = Path(job.wav)
            for leftover in (part, part.with_name(part.name + ".part")):
                with contextlib.suppress(OSError):
                    await asyncio.to_thread(leftover.unlink, missing_ok=True)
            return
        await asyncio.to_thread(_remove_pcaps, folder, pcaps)
        log.info(
            "%s: recording %s queued (%.1f s; caller %d, agent %d packets)",
            call_id,
            recording_id,
            result.seconds,
            result.caller.packets,
            result.agent.packets,
        )
        self.done.append(QueuedRecording(recording_id, call_id, wav, result.seconds, result))
        del self.done[:-100]
        if self.on_queued is not None:
            try:
                self.on_queued(recording_id)
            except Exception:
                log.exception("on_queued failed for %s", recording_id)

    async def drain(self, timeout: float = CLOSE_TIMEOUT) -> None:
        """Wait for the conversions in progress (at most ``timeout`` seconds)."""
        tasks = set(self._tasks)
        if tasks:
            _, late = await asyncio.wait(tasks, timeout=timeout)
            for task in late:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def close(self, timeout: float = CLOSE_TIMEOUT) -> None:
        """Finish the conversions in progress, then stop the worker processes."""
        await self.drain(timeout)
        pool, self._pool = self._pool, None
        if pool is not None:
            await asyncio.to_thread(pool.shutdown, wait=True, cancel_futures=True)


def glob_escape(text: str) -> str:
    """``text`` with glob wildcards bracketed (call ids are ``c-`` + hex anyway)."""
    return re.sub(r"([*?\[])", r"[\1]", text)


def _remove_pcaps(folder: Path, pcaps: list[Path]) -> None:
    """Delete converted pcaps and rtpengine's metadata files of them."""
    for pcap in pcaps:
        pcap.unlink(missing_ok=True)
        for meta in (
            folder / "metadata" / f"rtpengine-meta-{pcap.stem}.txt",
            folder / "tmp" / f"rtpengine-meta-{pcap.stem}.tmp",
        ):
            with contextlib.suppress(OSError):
                meta.unlink(missing_ok=True)


__all__ = [
    "CONVERTING",
    "CallRecorder",
    "PendingRecording",
    "QueuedRecording",
    "RecordingSession",
    "recording_id_for",
    "sdp_audio_port",
]
