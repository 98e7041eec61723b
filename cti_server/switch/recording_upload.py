"""Finished call recordings, from the switch's disk to the CTI server (R-SUP-3).

The switch and the CTI server may run on different hosts, so the server never reads
the switch's folders: whatever records a call (the call core) drops the finished WAV
into the **outbox** (``<recordings_dir>/outbox``) with :func:`queue_recording` —
``<recording id>.wav`` and then, as the ready mark, ``<recording id>.json`` (call id,
length, start time). :class:`RecordingUploader`:

* on every link-up and every ``interval`` seconds sends each ready recording over the
  CTI link in chunks of at most 32 KiB (``switch.recording_put``, protocol 1.3) and
  moves on from the offset the server says it holds, so an upload cut by a lost link
  or a restart of either side resumes where it stopped;
* deletes the local copy once the server answers ``complete`` (it checked the
  SHA-256), moves a recording the server refuses for good into ``rejected/``;
* keeps everything while the link is down or the server is older than 1.3.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import logging
import os
import re
import shutil
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from cti_server.switch.ports import DecisionUnavailable
from shared.protocol.errors import ErrorCode, ProtocolError
from shared.protocol.switch import RECORDING_CHUNK_BYTES, RecordingReceipt, SwitchRecordingPut

log = logging.getLogger("switch.recordings")

DEFAULT_INTERVAL = 30.0
OUTBOX = "outbox"
REJECTED = "rejected"
_ID = re.compile(r"^[A-Za-z0-9_.:\-]{1,64}\Z")
_MAX_RESTARTS = 3
"""A file whose upload had to start over this often in one round waits for the next."""

ChunkPut = Callable[[SwitchRecordingPut], Awaitable[RecordingReceipt]]


class RecordingLink(Protocol):
    """What :meth:`RecordingUploader.attach` needs of a :class:`~cti_server.switch.link.CtiLink`."""

    async def put_recording_chunk(self, chunk: SwitchRecordingPut) -> RecordingReceipt: ...

    def on_state_change(self, callback: Callable[[bool], None]) -> None: ...


def queue_recording(
    folder: Path,
    *,
    recording_id: str,
    call_id: str,
    wav: Path,
    seconds: float | None = None,
    started_at: float | None = None,
) -> Path:
    """Move a finished WAV into the outbox of ``folder`` (the recordings folder) and
    mark it ready; returns its new path. The WAV is renamed first and the JSON mark
    written under a temporary name and renamed, so the uploader never sees half a file."""
    if not _ID.match(recording_id):
        raise ValueError(f"recording id {recording_id!r}: 1-64 of A-Z a-z 0-9 _.:-")
    outbox = folder / OUTBOX
    outbox.mkdir(parents=True, exist_ok=True)
    target = outbox / f"{recording_id}.wav"
    shutil.move(wav, target)
    meta = {
        "recording_id": recording_id,
        "call_id": call_id,
        "seconds": seconds,
        "started_at": started_at,
    }
    tmp = outbox / f".{recording_id}.json.tmp"
    tmp.write_text(json.dumps(meta), encoding="utf-8")
    os.replace(tmp, outbox / f"{recording_id}.json")
    return target


@dataclass(slots=True)
class UploadReport:
    """What one round did."""

    uploaded: list[str] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)
    waiting: list[str] = field(default_factory=list)
    """Still in the outbox (link down, transport failure, retried too often)."""


class RecordingUploader:
    """Sends the outbox of ``folder`` to the CTI server (module docstring)."""

    def __init__(
        self, folder: Path, put: ChunkPut | None = None, *, interval: float = DEFAULT_INTERVAL
    ) -> None:
        self.folder = folder
        self.outbox = folder / OUTBOX
        self.interval = interval
        self._put = put
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self.uploaded = 0
        self.rejected = 0
        self.chunks_sent = 0
        self.last_report: UploadReport | None = None

    # -- wiring -----------------------------------------------------------------------

    def attach(self, link: RecordingLink) -> None:
        """Upload through ``link`` from now on, and on each of its link-ups."""
        self._put = link.put_recording_chunk
        link.on_state_change(self._link_changed)

    def _link_changed(self, up: bool) -> None:
        if up:
            self._wake.set()

    def wake(self) -> None:
        """Upload now (a recording was just queued)."""
        self._wake.set()

    def start(self) -> None:
        if self._task is None:
            self._wake.set()
            self._task = asyncio.get_running_loop().create_task(
                self._loop(), name="recording-upload"
            )

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _loop(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.interval)
            self._wake.clear()
            try:
                await self.upload_now()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("recording upload round failed")

    # -- one round ----------------------------------------------------------------------

    def pending(self) -> list[Path]:
        """The ready marks (``*.json``) in the outbox, oldest first."""
        if not self.outbox.is_dir():
            return []
        marks = [p for p in self.outbox.glob("*.json") if _ID.match(p.stem)]
        return sorted(marks, key=lambda p: (p.stat().st_mtime, p.name))

    async def upload_now(self) -> UploadReport:
        async with self._lock:
            report = UploadReport()
            for mark in self.pending():
                name = mark.stem
                try:
                    done = await self._upload(mark)
                except DecisionUnavailable as exc:
                    log.info("recording %s waits: %s", name, exc)
                    report.waiting.extend(p.stem for p in self.pending())
                    break
                except _Rejected as exc:
                    log.error("recording %s refused by the server: %s", name, exc)
                    self._move_rejected(mark)
                    self.rejected += 1
                    report.rejected.append(name)
                    continue
                if done:
                    self.uploaded += 1
                    report.uploaded.append(name)
                else:
                    report.waiting.append(name)
            self.last_report = report
            return report

    async def _upload(self, mark: Path) -> bool:
        if self._put is None:
            raise DecisionUnavailable("no CTI link attached")
        wav = mark.with_suffix(".wav")
        try:
            meta = json.loads(mark.read_text(encoding="utf-8"))
            data = wav.read_bytes()
        except (OSError, ValueError) as exc:
            raise _Rejected(f"unreadable: {exc}") from None
        if not data:
            raise _Rejected("empty file")
        sha = hashlib.sha256(data).hexdigest()
        offset = 0
        restarts = 0
        while True:
            chunk = data[offset : offset + RECORDING_CHUNK_BYTES]
            try:
                receipt = await self._put(
                    SwitchRecordingPut(
                        id=0,
                        recording_id=mark.stem,
                        call_id=str(meta["call_id"]),
                        size=len(data),
                        sha256=sha,
                        offset=offset,
                        data=base64.b64encode(chunk).decode("ascii"),
                        seconds=meta.get("seconds"),
                        started_at=meta.get("started_at"),
                    )
                )
            except ProtocolError as exc:
                expected = exc.detail.get("expected")
                if exc.code is ErrorCode.INVALID_FIELD and isinstance(expected, int):
                    restarts += expected <= offset
                    if restarts > _MAX_RESTARTS:
                        return False
                    offset = expected  # the server holds a different amount: go on from there
                    continue
                if exc.code in (ErrorCode.UNAVAILABLE, ErrorCode.INTERNAL, ErrorCode.TIMEOUT):
                    raise DecisionUnavailable(str(exc)) from None
                raise _Rejected(f"{exc.code.value}: {exc}") from None
            except (KeyError, TypeError, ValueError) as exc:  # a bad mark or struct field
                raise _Rejected(f"bad recording data: {exc}") from None
            self.chunks_sent += 1
            if receipt.complete:
                wav.unlink(missing_ok=True)
                mark.unlink(missing_ok=True)
                log.info("recording %s uploaded (%d bytes)", mark.stem, len(data))
                return True
            if receipt.received <= offset and chunk:
                raise _Rejected(f"the server did not take bytes {offset}…")
            offset = receipt.received

    def _move_rejected(self, mark: Path) -> None:
        target = self.folder / REJECTED
        target.mkdir(parents=True, exist_ok=True)
        for path in (mark.with_suffix(".wav"), mark):
            if path.exists():
                os.replace(path, target / path.name)


class _Rejected(Exception):
    """The server refused the recording for good (or it cannot be read)."""
