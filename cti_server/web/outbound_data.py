"""Data side of the outbound list pages (:mod:`.outbound`): uploads and background import
jobs (the tier import's mechanics: ``PUT`` streamed to a temporary file, one job at a
time in a worker thread, a progress snapshot polled by ``static/tiers.js``), and the
blocking data functions over :mod:`cti_server.store.outbound_lists`."""

from __future__ import annotations

import datetime as dt
import json
import logging
import secrets
import threading
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from cti_server.store import outbound_lists as ob
from cti_server.store.models import ObSource, ObTargetList, ObTargetRecord, utcnow
from cti_server.store.tier_refresh import mask_url

from .uploads import Upload, UploadShelf

log = logging.getLogger(__name__)

PAGE_SIZE = 50


@dataclass(slots=True)
class Job:
    id: str
    actor: str
    origin: str
    valid_rows_only: bool
    created_at: dt.datetime
    state: str = "importing"
    """``importing``, then ``succeeded`` / ``refused`` / ``failed``."""
    rows_done: int = 0
    rows_total: int | None = None
    report: ob.ImportReport | None = None
    message: str = ""
    finished_at: dt.datetime | None = None
    retry_upload: str | None = None

    @property
    def finished(self) -> bool:
        return self.finished_at is not None


@dataclass(slots=True)
class SqlSource:
    url: str
    table_name: str = ""
    query: str = ""


@dataclass(slots=True)
class ObJobs:
    """Uploads waiting for their import and the import jobs (one runs at a time)."""

    engine: sa.Engine
    upload_dir: Path | None = None
    max_bytes: int = 1 << 30
    keep_jobs: int = 50
    _lock: threading.Lock = field(default_factory=threading.Lock)
    uploads: UploadShelf = field(init=False)
    _jobs: OrderedDict[str, Job] = field(default_factory=OrderedDict)
    _executor: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(1, thread_name_prefix="web-ob-import")
    )

    def __post_init__(self) -> None:
        self.uploads = UploadShelf(
            "ob", ob.FILE_SUFFIXES, upload_dir=self.upload_dir, max_bytes=self.max_bytes
        )

    async def receive(
        self, chunks: AsyncIterator[bytes], *, actor: str, name: str, declared: int | None
    ) -> Upload:
        return await self.uploads.receive(chunks, actor=actor, name=name, declared=declared)

    def upload(self, upload_id: str, actor: str) -> Upload:
        return self.uploads.get(upload_id, actor)

    def _new_job(self, actor: str, origin: str, valid_rows_only: bool) -> Job:
        job = Job(secrets.token_hex(8), actor, origin, valid_rows_only, utcnow())
        with self._lock:
            self._jobs[job.id] = job
            finished = [j.id for j in self._jobs.values() if j.finished]
            for old in finished[: max(len(finished) - self.keep_jobs, 0)]:
                del self._jobs[old]
        return job

    def start_file(
        self, upload: Upload, *, name: str, required: list[str], valid_rows_only: bool
    ) -> Job:
        if not self.uploads.take(upload.id):
            raise LookupError(upload.id)
        job = self._new_job(upload.actor, upload.name, valid_rows_only)
        opener = lambda: ob.open_file(upload.path, name=upload.name)  # noqa: E731
        self._executor.submit(self._run, job, opener, name, required, upload)
        return job

    def start_sql(
        self,
        actor: str,
        source: SqlSource,
        *,
        name: str,
        required: list[str],
        valid_rows_only: bool,
    ) -> Job:
        table = source.table_name or source.query
        job = self._new_job(actor, mask_url(f"{source.url} {table}"), valid_rows_only)
        opener = lambda: ob.open_sql(  # noqa: E731
            source.url, table_name=source.table_name, query=source.query
        )
        self._executor.submit(self._run, job, opener, name, required, None)
        return job

    def _run(
        self,
        job: Job,
        opener: Callable[[], ob.Table],
        name: str,
        required: list[str],
        upload: Upload | None,
    ) -> None:
        def progress(done: int, total: int | None) -> None:
            with self._lock:
                job.rows_done = done
                if total is not None:
                    job.rows_total = total

        report: ob.ImportReport | None = None
        message = ""
        try:
            table = opener()
            with self._lock:
                job.rows_total = table.total
            report = ob.import_table(
                self.engine,
                table,
                actor=job.actor,
                name=name,
                required=required,
                valid_rows_only=job.valid_rows_only,
                on_progress=progress,
            )
        except ob.OutboundError as exc:
            message = str(exc)
        except Exception as exc:  # never leave a job "importing" forever
            log.exception("outbound import %s failed", job.id)
            message = mask_url(f"{type(exc).__name__}: {exc}")
        with self._lock:
            job.report = report
            job.message = message
            job.state = report.state if report is not None else "failed"
            job.rows_done = report.rows_read if report is not None else job.rows_done
            if upload is not None:
                if job.state == "refused":
                    self.uploads.put_back(upload)  # can be retried with valid rows only
                    job.retry_upload = upload.id
                else:
                    upload.path.unlink(missing_ok=True)
            job.finished_at = utcnow()

    def job(self, job_id: str) -> Job:
        with self._lock:
            job = self._jobs.get(job_id)
        if job is None:
            raise LookupError(job_id)
        return job

    def jobs(self) -> list[Job]:
        with self._lock:
            return list(reversed(self._jobs.values()))

    def snapshot(self, job: Job) -> dict[str, Any]:
        with self._lock:
            total = job.rows_total
            percent = 100.0 if job.finished else 0.0
            if not job.finished and total:
                percent = round(min(job.rows_done / total, 1.0) * 99, 1)
            return {
                "id": job.id,
                "state": job.state,
                "finished": job.finished,
                "rows_done": job.rows_done,
                "rows_total": total,
                "percent": percent,
            }

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)
        self.uploads.discard_all()


def preview_upload(upload: Upload) -> ob.Preview:
    return ob.preview(ob.open_file(upload.path, name=upload.name))


def preview_sql(source: SqlSource) -> ob.Preview:
    return ob.preview(ob.open_sql(source.url, table_name=source.table_name, query=source.query))


# --- views --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SourceView:
    id: int
    name: str
    kind: str
    state: str
    rows_imported: int
    rows_rejected: int
    created_by: str
    created_at: dt.datetime
    columns: list[str]


def sources(sessions: sessionmaker[Session]) -> list[SourceView]:
    with sessions() as session:
        rows = session.scalars(sa.select(ObSource).order_by(ObSource.id.desc()).limit(100))
        return [
            SourceView(
                r.id,
                r.name,
                r.kind,
                r.state,
                r.rows_imported,
                r.rows_rejected,
                r.created_by,
                r.created_at,
                list(r.columns),
            )
            for r in rows
        ]


def index(sessions: sessionmaker[Session]) -> tuple[list[ob.SetView], list[ob.ListView]]:
    with sessions() as session:
        return ob.list_sets(session), ob.list_lists(session)


def usable_sources(sessions: sessionmaker[Session]) -> list[SourceView]:
    return [s for s in sources(sessions) if s.state == "succeeded"]


def get_set(sessions: sessionmaker[Session], set_id: int) -> ob.SetView:
    with sessions() as session:
        return ob.get_set(session, set_id)


def count_set(sessions: sessionmaker[Session], set_id: int) -> int:
    with sessions() as session:
        return ob.preview_set(session, set_id)


def count_conditions(sessions: sessionmaker[Session], source_id: int, tree: Any) -> int:
    with sessions() as session:
        return ob.count_matching(session, source_id, tree)


def parse_set_form(form: Mapping[str, str]) -> dict[str, Any]:
    """The set form's fields as :func:`ob.create_set` arguments (conditions as JSON)."""
    errors: dict[str, str] = {}
    conditions: Any = {"op": "and", "items": []}
    text = form.get("conditions", "").strip()
    if text:
        try:
            conditions = json.loads(text)
        except ValueError:
            errors["conditions"] = "ob_err_json"
    source = form.get("source_id", "")
    if errors:
        raise ob.RecordInvalid(errors)
    return {
        "name": form.get("name", ""),
        "classification": form.get("classification", ""),
        "source_id": int(source) if source.isdigit() else None,
        "conditions": conditions,
        "mapping": {t: form.get(f"map_{t}", "") for t in ob.TARGET_FIELDS},
    }


@dataclass(frozen=True, slots=True)
class ListPage:
    target: ObTargetList
    records: list[ObTargetRecord]
    total: int
    page: int
    pages: int


def list_page(sessions: sessionmaker[Session], list_id: int, page: int) -> ListPage:
    with sessions() as session:
        target = session.get(ObTargetList, list_id)
        if target is None:
            raise LookupError(list_id)
        total = int(
            session.scalar(
                sa.select(sa.func.count())
                .select_from(ObTargetRecord)
                .where(ObTargetRecord.list_id == list_id)
            )
            or 0
        )
        pages = max((total + PAGE_SIZE - 1) // PAGE_SIZE, 1)
        page = min(max(page, 1), pages)
        rows = ob.records(session, list_id, offset=(page - 1) * PAGE_SIZE, limit=PAGE_SIZE)
        return ListPage(target, rows, total, page, pages)


def record(sessions: sessionmaker[Session], record_id: int) -> ObTargetRecord:
    with sessions() as session:
        row = session.get(ObTargetRecord, record_id)
        if row is None:
            raise LookupError(record_id)
        return row


def dnc(sessions: sessionmaker[Session], q: str) -> list[Any]:
    with sessions() as session:
        return ob.dnc_numbers(session, q=q)
