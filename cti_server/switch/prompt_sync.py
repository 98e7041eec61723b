"""The switch's cache of the IVR prompts administrators uploaded (R-IVR-5).

Administrators upload prompts on the CTI server (``PUT /api/v1/prompts/{lang}/{id}``);
the switch keeps a copy of every upload in ``<data_dir>/switch/prompts/<lang>/<id>.wav``,
which the call core's :class:`~cti_server.switch.core.ivr_runner.PromptLibrary`
searches before the shipped prompts. :class:`PromptSync`:

* on every link-up and every ``interval`` seconds asks for the index of uploads
  (``switch.prompt_index``, protocol 1.2);
* downloads each new or changed prompt chunk by chunk (``switch.prompt_get``, at most
  32 KiB per frame), checks size and SHA-256, and writes it to a temporary name that
  is renamed into place (a call never plays half a file);
* removes cached prompts the index no longer lists (deleted on the server: the shipped
  prompt plays again);
* keeps everything it has while the link is down, a server is older than 1.2 or has no
  prompt storage, or a download fails (retried next round).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import hashlib
import logging
import os
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from cti_server.switch.ports import DecisionUnavailable
from shared.protocol.errors import ProtocolError
from shared.protocol.switch import PromptChunk, PromptIndex, PromptIndexEntry

log = logging.getLogger("switch.prompts")

DEFAULT_INTERVAL = 60.0
"""Seconds between two syncs while the link stays up."""
_NAME = re.compile(r"^[a-z0-9_]{1,64}\Z")
_LANG = re.compile(r"^[a-z]{2,8}\Z")
_MAX_CHUNKS = 1_000
"""A download needing more chunks than this is abandoned (a 5 MB prompt needs 160)."""

IndexFetch = Callable[[], Awaitable[PromptIndex]]
ChunkFetch = Callable[[str, str, int], Awaitable[PromptChunk]]


class PromptLink(Protocol):
    """What :meth:`PromptSync.attach` needs of a :class:`~cti_server.switch.link.CtiLink`."""

    async def fetch_prompt_index(self) -> PromptIndex: ...

    async def fetch_prompt_chunk(
        self, language: str, prompt_id: str, offset: int
    ) -> PromptChunk: ...

    def on_state_change(self, callback: Callable[[bool], None]) -> None: ...


class DownloadFailed(Exception):
    """A prompt's download did not produce the file the index announced."""


@dataclass(slots=True)
class SyncReport:
    """What one sync round did."""

    ok: bool = False
    """The index was fetched (else nothing changed)."""
    downloaded: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    unchanged: int = 0


class PromptSync:
    """Keeps ``folder`` in step with the server's uploaded prompts (module docstring)."""

    def __init__(
        self,
        folder: Path,
        index: IndexFetch | None = None,
        chunk: ChunkFetch | None = None,
        *,
        interval: float = DEFAULT_INTERVAL,
    ) -> None:
        self.folder = folder
        self.interval = interval
        self._index = index
        self._chunk = chunk
        self._have: dict[tuple[str, str], str] = {}
        """(language, prompt id) → SHA-256 of the cached file."""
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self.rounds = 0
        """Sync rounds that fetched the index."""
        self.downloads = 0
        self.removals = 0
        self.failures = 0
        self.last_report: SyncReport | None = None
        self._load()

    # -- wiring -----------------------------------------------------------------------

    def attach(self, link: PromptLink) -> None:
        """Sync through ``link`` from now on, and on each of its link-ups."""
        self._index = link.fetch_prompt_index
        self._chunk = link.fetch_prompt_chunk
        link.on_state_change(self._link_changed)

    def _link_changed(self, up: bool) -> None:
        if up:
            self._wake.set()

    def start(self) -> None:
        """Run the sync loop (first round now)."""
        if self._task is None:
            self._wake.set()
            self._task = asyncio.get_running_loop().create_task(self._loop(), name="prompt-sync")

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
                await self.sync_now()
            except asyncio.CancelledError:
                raise
            except Exception:
                self.failures += 1
                log.exception("prompt sync failed")

    # -- the cache --------------------------------------------------------------------

    def cached(self) -> dict[tuple[str, str], str]:
        """(language, prompt id) → SHA-256 of every cached upload."""
        return dict(self._have)

    def path(self, language: str, prompt_id: str) -> Path:
        return self.folder / language / f"{prompt_id}.wav"

    def _load(self) -> None:
        if not self.folder.is_dir():
            return
        for path in sorted(self.folder.glob("*/*.wav")):
            language, prompt_id = path.parent.name, path.stem
            if not (_LANG.match(language) and _NAME.match(prompt_id)):
                continue
            try:
                self._have[(language, prompt_id)] = hashlib.sha256(path.read_bytes()).hexdigest()
            except OSError as exc:
                log.warning("prompt cache: %s skipped: %s", path, exc)
        log.info("prompt cache %s: %d uploaded prompt(s)", self.folder, len(self._have))

    # -- syncing ----------------------------------------------------------------------

    async def sync_now(self) -> SyncReport:
        """One round: index, downloads, removals (never raises for link trouble)."""
        async with self._lock:
            report = await self._sync()
            self.last_report = report
            return report

    async def _sync(self) -> SyncReport:
        report = SyncReport()
        fetch_index = self._index
        if fetch_index is None:
            return report
        try:
            index = await fetch_index()
        except (DecisionUnavailable, ProtocolError) as exc:
            log.info(
                "prompt sync: no index (%s); keeping %d cached prompt(s)", exc, len(self._have)
            )
            return report
        report.ok = True
        self.rounds += 1
        wanted: dict[tuple[str, str], PromptIndexEntry] = {
            (e.language, e.prompt_id): e for e in index.prompts
        }
        for key, entry in wanted.items():
            if self._have.get(key) == entry.sha256:
                report.unchanged += 1
                continue
            name = "/".join(key)
            try:
                await self._download(entry)
            except (DecisionUnavailable, ProtocolError, DownloadFailed, OSError) as exc:
                self.failures += 1
                report.failed.append(name)
                log.warning("prompt %s: not downloaded (%s); keeping what is cached", name, exc)
                continue
            report.downloaded.append(name)
        for key in sorted(set(self._have) - set(wanted)):
            path = self.path(*key)
            try:
                path.unlink(missing_ok=True)
            except OSError as exc:
                log.warning("prompt %s: not removed: %s", "/".join(key), exc)
                continue
            del self._have[key]
            self.removals += 1
            report.removed.append("/".join(key))
        if report.downloaded or report.removed or report.failed:
            log.info(
                "prompt sync: %d downloaded, %d removed, %d failed, %d unchanged",
                len(report.downloaded),
                len(report.removed),
                len(report.failed),
                report.unchanged,
            )
        return report

    async def _download(self, entry: PromptIndexEntry) -> None:
        fetch_chunk = self._chunk
        if fetch_chunk is None:
            raise DownloadFailed("no link to download through")
        language, prompt_id = entry.language, entry.prompt_id
        parts: list[bytes] = []
        offset = 0
        sha, size = entry.sha256, entry.size
        for _ in range(_MAX_CHUNKS):
            chunk = await fetch_chunk(language, prompt_id, offset)
            if offset == 0:
                sha, size = chunk.sha256, chunk.size  # replaced since the index: take the new one
            elif (chunk.sha256, chunk.size) != (sha, size):
                raise DownloadFailed("the prompt changed during the download")
            if chunk.offset != offset:
                raise DownloadFailed(f"asked for offset {offset}, got {chunk.offset}")
            try:
                data = base64.b64decode(chunk.data, validate=True)
            except (binascii.Error, ValueError) as exc:
                raise DownloadFailed(f"bad base64 at offset {offset}: {exc}") from None
            parts.append(data)
            offset += len(data)
            if offset >= size:
                break
            if not data:
                raise DownloadFailed(f"empty chunk at offset {offset} of {size}")
        else:
            raise DownloadFailed(f"more than {_MAX_CHUNKS} chunks")
        blob = b"".join(parts)
        if len(blob) != size:
            raise DownloadFailed(f"got {len(blob)} bytes, expected {size}")
        digest = hashlib.sha256(blob).hexdigest()
        if digest != sha:
            raise DownloadFailed(f"SHA-256 {digest[:12]}… does not match {sha[:12]}…")
        await asyncio.to_thread(_write_atomic, self.path(language, prompt_id), blob)
        self._have[(language, prompt_id)] = digest
        self.downloads += 1


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with tmp.open("wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
