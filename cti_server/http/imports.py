"""Tier import jobs behind ``POST /api/v1/tiers/import`` (R-TIER-2, R-TIER-3).

The request body is streamed to a temporary file (never held in memory), then the
store's chunked :func:`~cti_server.store.import_tiers` runs in a dedicated worker
thread. One import runs at a time; later uploads wait in the ``queued`` state.
Each committed chunk reports progress and invalidates the tier cache, while live
look-ups keep being answered from the cache and the database (each chunk is one
short transaction). A job ends ``succeeded``, ``failed`` (unusable file, or a
database error that rolled back the current chunk; whole chunks committed before
stay) or ``cancelled`` (stops after the chunk being written). A finished import
that changed data leaves an ``import`` row in the audit log with its report.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import secrets
import tempfile
import threading
from collections import OrderedDict
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from cti_server.store import (
    ImportReport,
    TierDirectory,
    TierImportAborted,
    TierImportError,
    import_tiers,
)
from cti_server.store.audit import record

from .errors import ApiError

log = logging.getLogger("cti_server.http.imports")

SUFFIXES = {"csv": ".csv", "xlsx": ".xlsx"}


class _Cancelled(Exception):
    """Raised from the progress callback to stop an import between chunks."""


@dataclass(frozen=True, slots=True)
class ImportOptions:
    replace_numbers: bool = False
    chunk_size: int = 5000
    encoding: str | None = None
    sheet: str | None = None


@dataclass(slots=True)
class _Job:
    id: str
    format: str
    actor: str
    options: ImportOptions
    path: Path
    bytes_received: int
    created_at: dt.datetime
    state: str = "queued"
    started_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None
    rows_done: int = 0
    rows_total: int | None = None
    report: ImportReport | None = None
    error: str | None = None
    cancel: threading.Event = field(default_factory=threading.Event)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _report_dict(report: ImportReport) -> dict[str, Any]:
    return {
        "rows_read": report.rows_read,
        "imported": report.imported,
        "updated": report.updated,
        "rejected": report.rejected,
        "numbers_written": report.numbers_written,
        "chunks_committed": report.chunks_committed,
        "errors": [{"line": e.line, "field": e.field, "problem": e.problem} for e in report.errors],
        "errors_truncated": report.errors_truncated,
        "duration_seconds": round(report.duration_seconds, 3),
        "encoding": report.encoding,
    }


class ImportJobs:
    """Receives uploads, runs imports one at a time and answers progress questions.

    Thread-safe: the worker thread updates jobs under a lock; readers get copies.
    """

    def __init__(
        self,
        engine: sa.Engine,
        sessions: sessionmaker[Session],
        directory: TierDirectory | None,
        *,
        import_dir: Path | None = None,
        max_bytes: int = 1 << 30,
        default_chunk_size: int = 5000,
        keep_finished: int = 100,
    ) -> None:
        self._engine = engine
        self._sessions = sessions
        self._directory = directory
        self._dir = import_dir
        self.max_bytes = max_bytes
        self.default_chunk_size = default_chunk_size
        self._keep = keep_finished
        self._lock = threading.Lock()
        self._jobs: OrderedDict[str, _Job] = OrderedDict()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tier-import")
        self._closed = False

    # uploads -----------------------------------------------------------------------------

    async def receive(
        self,
        chunks: AsyncIterator[bytes],
        *,
        fmt: str,
        actor: str,
        options: ImportOptions,
        declared_length: int | None = None,
    ) -> dict[str, Any]:
        """Stream the upload to a temporary file and queue the import; the job's snapshot."""
        if self._closed:
            raise ApiError(503, "shutting_down", "the server is shutting down")
        if declared_length is not None and declared_length > self.max_bytes:
            raise self._too_large()
        if self._dir is not None:
            self._dir.mkdir(parents=True, exist_ok=True)
        handle = tempfile.NamedTemporaryFile(  # noqa: SIM115 - closed below, deleted by the job
            prefix="tier-import-", suffix=SUFFIXES[fmt], dir=self._dir, delete=False
        )
        path = Path(handle.name)
        size = 0
        try:
            with handle:
                async for chunk in chunks:
                    if not chunk:
                        continue
                    size += len(chunk)
                    if size > self.max_bytes:
                        raise self._too_large()
                    await asyncio.to_thread(handle.write, chunk)
            if size == 0:
                raise ApiError(422, "empty_upload", "the request body (the file) is empty")
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        job = _Job(
            id=secrets.token_hex(8),
            format=fmt,
            actor=actor,
            options=options,
            path=path,
            bytes_received=size,
            created_at=_now(),
        )
        with self._lock:
            self._jobs[job.id] = job
            self._trim()
        self._executor.submit(self._run, job)
        return self._snapshot(job)

    def _too_large(self) -> ApiError:
        return ApiError(
            413,
            "upload_too_large",
            f"the file is larger than {self.max_bytes} bytes",
            {"max_bytes": self.max_bytes},
        )

    def _trim(self) -> None:
        finished = [j.id for j in self._jobs.values() if j.finished_at is not None]
        for job_id in finished[: max(len(finished) - self._keep, 0)]:
            del self._jobs[job_id]

    # the worker --------------------------------------------------------------------------

    def _run(self, job: _Job) -> None:
        try:
            with self._lock:
                cancelled = job.cancel.is_set()
                if not cancelled:
                    job.state = "running"
                    job.started_at = _now()
            if cancelled:
                self._finish(job, "cancelled", None, None)
                return

            def progress(done: int, total: int | None) -> None:
                with self._lock:
                    job.rows_done = done
                    job.rows_total = total
                if job.cancel.is_set():
                    raise _Cancelled

            try:
                report = import_tiers(
                    self._engine,
                    job.path,
                    chunk_size=job.options.chunk_size,
                    on_progress=progress,
                    encoding=job.options.encoding,
                    sheet=job.options.sheet,
                    directory=self._directory,
                    replace_numbers=job.options.replace_numbers,
                )
            except _Cancelled:
                self._finish(job, "cancelled", None, "cancelled after a committed chunk")
            except TierImportAborted as exc:
                partial = exc.report if isinstance(exc.report, ImportReport) else None
                self._finish(job, "failed", partial, str(exc))
            except TierImportError as exc:
                self._finish(job, "failed", None, str(exc))
            except Exception as exc:
                log.exception("tier import %s failed", job.id)
                self._finish(job, "failed", None, f"{type(exc).__name__}: {exc}")
            else:
                self._finish(job, "succeeded", report, None)
        finally:
            job.path.unlink(missing_ok=True)

    def _finish(
        self, job: _Job, state: str, report: ImportReport | None, error: str | None
    ) -> None:
        with self._lock:
            job.state = state
            job.report = report
            job.error = error
            job.finished_at = _now()
            if report is not None:
                job.rows_done = report.rows_read
        changed = state == "succeeded" or (report is not None and report.chunks_committed > 0)
        if changed or (state == "cancelled" and job.rows_done):
            self._audit(job)

    def _audit(self, job: _Job) -> None:
        after: dict[str, Any] = {
            "state": job.state,
            "format": job.format,
            "bytes": job.bytes_received,
            "rows_done": job.rows_done,
        }
        if job.report is not None:
            summary = _report_dict(job.report)
            summary.pop("errors")
            after["report"] = summary
        if job.error:
            after["error"] = job.error
        try:
            with self._sessions.begin() as session:
                record(
                    session,
                    actor=job.actor,
                    action="import",
                    entity="tier_import",
                    entity_id=job.id,
                    after=after,
                )
        except Exception:
            log.exception("could not audit tier import %s", job.id)

    # queries -----------------------------------------------------------------------------

    def _snapshot(self, job: _Job) -> dict[str, Any]:
        with self._lock:
            total = job.rows_total
            progress = None
            if job.state == "succeeded":
                progress = 1.0
            elif total:
                progress = min(job.rows_done / total, 1.0)
            return {
                "id": job.id,
                "state": job.state,
                "format": job.format,
                "actor": job.actor,
                "bytes_received": job.bytes_received,
                "created_at": job.created_at,
                "started_at": job.started_at,
                "finished_at": job.finished_at,
                "rows_done": job.rows_done,
                "rows_total": total,
                "progress": progress,
                "report": _report_dict(job.report) if job.report is not None else None,
                "error": job.error,
            }

    def get(self, job_id: str) -> dict[str, Any]:
        with self._lock:
            job = self._jobs.get(job_id)
        if job is None:
            raise ApiError(404, "not_found", f"import job {job_id!r} not found", {"id": job_id})
        return self._snapshot(job)

    def jobs(self) -> list[dict[str, Any]]:
        """Known jobs, newest first."""
        with self._lock:
            jobs = list(self._jobs.values())
        return [self._snapshot(j) for j in reversed(jobs)]

    def cancel(self, job_id: str) -> dict[str, Any]:
        with self._lock:
            job = self._jobs.get(job_id)
        if job is None:
            raise ApiError(404, "not_found", f"import job {job_id!r} not found", {"id": job_id})
        job.cancel.set()
        return self._snapshot(job)

    def counts(self) -> dict[str, int]:
        """Jobs by state (for /metrics)."""
        out = dict.fromkeys(("queued", "running", "succeeded", "failed", "cancelled"), 0)
        with self._lock:
            for job in self._jobs.values():
                out[job.state] += 1
        return out

    def close(self) -> None:
        """Refuse new uploads, cancel queued and running jobs, wait for the current chunk."""
        self._closed = True
        with self._lock:
            for job in self._jobs.values():
                job.cancel.set()
        self._executor.shutdown(wait=True, cancel_futures=True)
        with self._lock:
            for job in self._jobs.values():
                if job.finished_at is None:  # never started: its future was cancelled
                    job.state = "cancelled"
                    job.finished_at = _now()
                    job.path.unlink(missing_ok=True)
