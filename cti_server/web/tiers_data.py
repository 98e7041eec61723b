"""Data side of the customer-tier pages (R-TIER-3; docs/web.md "Customer tiers").

* **Uploads and import jobs** (:class:`TierJobs`): an upload is streamed to a file
  (never held whole in memory); its columns and first rows are shown for the field
  mapping; the import runs in a background thread through
  :func:`cti_server.store.tier_refresh.import_checked` — the store's one importer,
  all or nothing unless "import the valid rows" is chosen — and its progress is read
  by the page's script. Finished jobs leave an ``import`` audit row and a row-level
  error report (CSV).
* **Customers**: browse and search (number, name, customer id, tier, region), edit one
  customer's name, region, tier, blacklist flag and numbers in one audited transaction
  (before/after), then drop the customer's numbers from the running server's tier
  cache (:class:`~cti_server.store.TierDirectory`).
* **SQL refresh sources**: the settings of :class:`~cti_server.store.tier_refresh.
  TierRefreshScheduler` (URL shown masked, a masked password kept on save), "run now",
  and the run history.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import io
import logging
import re
import secrets
import threading
from collections import OrderedDict
from collections.abc import AsyncIterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec
import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from cti_server.store import TierDirectory
from cti_server.store import audit as store_audit
from cti_server.store import tier_refresh as tr
from cti_server.store.errors import InvalidNumber
from cti_server.store.models import (
    Customer,
    CustomerNumber,
    Tier,
    TierRefreshRun,
    TierRefreshSource,
    utcnow,
)
from cti_server.store.numbers import normalise
from cti_server.store.tier_import import FIELDS, REQUIRED_FIELDS, RowError

from .data import Refused, WebUser
from .uploads import Upload, UploadRefused, UploadShelf

log = logging.getLogger("cti_server.web.tiers")

PAGE_SIZE = 50
PREVIEW_ROWS = 10
SUFFIXES = (".csv", ".tsv", ".txt", ".xlsx")
_NUMBER_SPLIT = re.compile(r"[\s;,|\u3001\uff1b\uff0c\uff5c]+")
_SOURCE_ID = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
MASK = "***"
_NUMBERISH = re.compile(r"[+\d][\d\s\-()]*")


class FormInvalid(Exception):
    """Field problems of a submitted form (catalogue keys or texts); nothing written."""

    def __init__(self, errors: Mapping[str, str], general: str = "tier_not_saved") -> None:
        super().__init__(", ".join(f"{k}: {v}" for k, v in errors.items()) or general)
        self.errors = dict(errors)
        self.general = general


class Stale(Exception):
    """The customer changed since the form was shown."""


# --- uploads and import jobs ---------------------------------------------------------------


@dataclass(slots=True)
class Job:
    id: str
    actor: str
    file_name: str
    mapping: dict[str, str]
    valid_rows_only: bool
    created_at: dt.datetime
    state: str = "queued"
    """``queued``, ``checking``, ``importing``, then ``succeeded`` / ``refused`` / ``failed``."""
    rows_done: int = 0
    rows_total: int | None = None
    outcome: tr.Outcome | None = None
    finished_at: dt.datetime | None = None
    retry_upload: str | None = None
    """A refused file stays uploaded so its valid rows can be imported without a new upload."""

    @property
    def finished(self) -> bool:
        return self.finished_at is not None


class _Cancelled(Exception):
    """Raised from the progress callback when the server stops (between chunks)."""


class TierJobs:
    """Uploads waiting for their mapping and import jobs (one runs at a time)."""

    def __init__(
        self,
        engine: sa.Engine,
        sessions: sessionmaker[Session],
        directory: TierDirectory | None,
        *,
        upload_dir: Path | None = None,
        max_bytes: int = 1 << 30,
        keep_jobs: int = 50,
    ) -> None:
        self.engine = engine
        self.sessions = sessions
        self.directory = directory
        self.uploads = UploadShelf(
            "tier",
            SUFFIXES,
            refused={".xls": "tier_err_xls"},
            upload_dir=upload_dir,
            max_bytes=max_bytes,
        )
        self._keep = keep_jobs
        self._lock = threading.Lock()
        self._jobs: OrderedDict[str, Job] = OrderedDict()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="web-tier-import")
        self._closing = threading.Event()

    async def receive(
        self, chunks: AsyncIterator[bytes], *, actor: str, name: str, declared: int | None
    ) -> Upload:
        """Stream the request body to a file; refuses types the importer cannot read."""
        return await self.uploads.receive(chunks, actor=actor, name=name, declared=declared)

    def upload(self, upload_id: str, actor: str) -> Upload:
        return self.uploads.get(upload_id, actor)

    def preview(self, upload: Upload) -> tr.Preview:
        return tr.preview(upload.path, rows=PREVIEW_ROWS)

    def start(self, upload: Upload, *, mapping: Mapping[str, str], valid_rows_only: bool) -> Job:
        if not self.uploads.take(upload.id):
            raise LookupError(upload.id)  # already imported
        with self._lock:
            job = Job(
                secrets.token_hex(8),
                upload.actor,
                upload.name,
                dict(mapping),
                valid_rows_only,
                utcnow(),
            )
            self._jobs[job.id] = job
            finished = [j.id for j in self._jobs.values() if j.finished]
            for old in finished[: max(len(finished) - self._keep, 0)]:
                del self._jobs[old]
        self._executor.submit(self._run, job, upload)
        return job

    def _run(self, job: Job, upload: Upload) -> None:
        def progress(phase: str, done: int, total: int | None) -> None:
            if self._closing.is_set():
                raise _Cancelled
            with self._lock:
                job.state, job.rows_done = phase, done
                if total is not None:
                    job.rows_total = total

        try:
            outcome = tr.import_checked(
                self.engine,
                upload.path,
                mapping=job.mapping or None,
                valid_rows_only=job.valid_rows_only,
                directory=self.directory,
                on_progress=progress,
            )
        except _Cancelled:
            outcome = tr.Outcome("failed", message="cancelled: the server is stopping")
        except Exception as exc:  # never leave a job "running" forever
            log.exception("tier import %s failed", job.id)
            outcome = tr.Outcome("failed", message=f"{type(exc).__name__}: {exc}")
        with self._lock:
            if outcome.state == "refused" and not self._closing.is_set():
                self.uploads.put_back(upload)  # nothing written: the file can be retried
                job.retry_upload = upload.id
            else:
                upload.path.unlink(missing_ok=True)
            job.outcome = outcome
            job.state = outcome.state
            job.rows_done = outcome.rows_read
            job.finished_at = utcnow()
        try:
            with self.sessions.begin() as session:
                store_audit.record(
                    session,
                    actor=job.actor,
                    action="import",
                    entity="tier_import",
                    entity_id=job.id,
                    after={
                        **outcome.summary(),
                        "via": "web",
                        "file": job.file_name,
                        "bytes": upload.size,
                        "mapping": job.mapping,
                        "valid_rows_only": job.valid_rows_only,
                    },
                )
        except Exception:
            log.exception("could not audit tier import %s", job.id)

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
            outcome = job.outcome
            total = job.rows_total
            percent = 0.0
            if job.finished:
                percent = 100.0
            elif total:
                share = min(job.rows_done / total, 1.0)
                percent = 50 * share if not job.valid_rows_only else 100 * share
                if job.state == "importing" and not job.valid_rows_only:
                    percent += 50
            return {
                "id": job.id,
                "state": job.state,
                "finished": job.finished,
                "rows_done": job.rows_done,
                "rows_total": total,
                "percent": round(percent, 1),
                "summary": outcome.summary() if outcome is not None else None,
            }

    def close(self) -> None:
        """Stop a running import after its current chunk (earlier chunks stay)."""
        self._closing.set()
        self._executor.shutdown(wait=True, cancel_futures=True)
        self.uploads.discard_all()


def errors_csv(errors: list[RowError]) -> str:
    """The row-level error report: row (the file's line), field, problem; UTF-8 with a
    BOM so Excel opens Chinese text."""
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out)
    writer.writerow(["row", "field", "problem"])
    for error in errors:
        writer.writerow([error.line, error.field, error.problem])
    return out.getvalue()


def parse_mapping(form: Mapping[str, str], columns: list[str]) -> dict[str, str]:
    """``map_<field>`` form values -> importer mapping; required fields must be mapped,
    a column at most once."""
    mapping: dict[str, str] = {}
    errors: dict[str, str] = {}
    seen: dict[str, str] = {}
    for name in FIELDS:
        column = form.get(f"map_{name}", "").strip()
        if not column:
            if name in REQUIRED_FIELDS:
                errors[f"map_{name}"] = "tier_err_required"
            continue
        if column not in columns:
            errors[f"map_{name}"] = "tier_err_column"
        elif column in seen:
            errors[f"map_{name}"] = "tier_err_column_twice"
        else:
            seen[column] = name
            mapping[name] = column
    if errors:
        raise FormInvalid(errors)
    return mapping


# --- customers -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CustomerRow:
    id: str
    name: str
    region: str
    tier_id: str
    blacklisted: bool
    numbers: list[str]
    updated_at: dt.datetime


@dataclass(frozen=True, slots=True)
class CustomerPage:
    rows: list[CustomerRow]
    total: int
    page: int
    pages: int


def tier_choices(sessions: sessionmaker[Session]) -> list[tuple[str, str]]:
    with sessions() as session:
        return [(t.id, t.name) for t in session.scalars(sa.select(Tier).order_by(Tier.id))]


def _rows(session: Session, customers: list[Customer]) -> list[CustomerRow]:
    numbers: dict[str, list[str]] = {}
    if customers:
        for number, owner in session.execute(
            sa.select(CustomerNumber.number, CustomerNumber.customer_id)
            .where(CustomerNumber.customer_id.in_([c.id for c in customers]))
            .order_by(CustomerNumber.number)
        ):
            numbers.setdefault(owner, []).append(number)
    return [
        CustomerRow(
            c.id, c.name, c.region, c.tier_id, c.blacklisted, numbers.get(c.id, []), c.updated_at
        )
        for c in customers
    ]


def search_customers(
    sessions: sessionmaker[Session],
    user: WebUser,
    *,
    q: str = "",
    tier: str = "",
    region: str = "",
    page: int = 1,
) -> CustomerPage:
    """``q`` matches a number (digits, any written form: prefix), a part of the name or of
    the customer id. A regional user sees their region only."""
    query = sa.select(Customer)
    q = q.strip()
    if q:
        digits = re.sub(r"\D", "", q) if _NUMBERISH.fullmatch(q) else ""
        wanted: list[sa.ColumnElement[bool]] = [
            Customer.id.contains(q, autoescape=True),
            Customer.name.contains(q, autoescape=True),
        ]
        prefixes = {digits} if digits else set()
        with contextlib.suppress(InvalidNumber):
            prefixes.add(normalise(q))
        for prefix in prefixes:
            wanted.append(
                sa.exists().where(
                    CustomerNumber.customer_id == Customer.id,
                    CustomerNumber.number.startswith(prefix, autoescape=True),
                )
            )
        query = query.where(sa.or_(*wanted))
    if tier:
        query = query.where(Customer.tier_id == tier)
    if user.region is not None:
        query = query.where(Customer.region == user.region)
    elif region.strip():
        query = query.where(Customer.region.contains(region.strip(), autoescape=True))
    with sessions() as session:
        total = session.scalar(sa.select(sa.func.count()).select_from(query.subquery())) or 0
        pages = max(1, -(-total // PAGE_SIZE))
        page = min(max(page, 1), pages)
        customers = list(
            session.scalars(
                query.order_by(Customer.id).limit(PAGE_SIZE).offset((page - 1) * PAGE_SIZE)
            )
        )
        return CustomerPage(_rows(session, customers), total, page, pages)


def customer(sessions: sessionmaker[Session], user: WebUser, customer_id: str) -> CustomerRow:
    with sessions() as session:
        row = session.get(Customer, customer_id)
        if row is None:
            raise LookupError(customer_id)
        if not user.sees_region(row.region or None):
            raise Refused("region", customer=customer_id)
        return _rows(session, [row])[0]


def _stamp(row: Customer | CustomerRow, numbers: list[str]) -> str:
    return f"{row.updated_at.isoformat()}|{','.join(sorted(numbers))}"


def stamp_of(row: CustomerRow) -> str:
    return _stamp(row, row.numbers)


def _customer_patch(values: dict[str, Any]) -> dict[str, Any]:
    """The REST API's ``CustomerPatch`` rules (lengths, types)."""
    from cti_server.http import schemas  # late: cti_server.http imports this package

    try:
        msgspec.convert(values, schemas.CustomerPatch)
    except msgspec.ValidationError as exc:
        text = str(exc)
        match = re.search(r"at `\$\.([A-Za-z_]+)", text)
        raise FormInvalid(
            {match.group(1) if match else "_": text.split(" - at ", maxsplit=1)[0]}
        ) from None
    return values


def save_customer(
    sessions: sessionmaker[Session],
    directory: TierDirectory | None,
    user: WebUser,
    customer_id: str,
    form: Mapping[str, str],
) -> bool:
    """Change one customer in one transaction with one audit row (before/after, numbers
    included), then forget the customer's old and new numbers in the live tier cache.
    Returns whether anything changed."""
    values = _customer_patch(
        {
            "name": form.get("name", "").strip(),
            "region": form.get("region", "").strip(),
            "tier_id": form.get("tier_id", "").strip(),
            "blacklisted": form.get("blacklisted") in ("1", "on", "true"),
        }
    )
    errors: dict[str, str] = {}
    numbers: list[str] = []
    for part in _NUMBER_SPLIT.split(form.get("numbers", "")):
        if not part.strip():
            continue
        try:
            number = normalise(part)
        except InvalidNumber as exc:
            errors["numbers"] = f"{part}: {exc.problem}"
            break
        if number not in numbers:
            numbers.append(number)
    numbers.sort()
    with sessions.begin() as session:
        row = session.get(Customer, customer_id)
        if row is None:
            raise LookupError(customer_id)
        if not user.sees_region(row.region or None):
            raise Refused("region", customer=customer_id)
        if session.get(Tier, values["tier_id"]) is None:
            errors["tier_id"] = "tier_err_tier"
        old_numbers = sorted(
            session.scalars(
                sa.select(CustomerNumber.number).where(CustomerNumber.customer_id == customer_id)
            )
        )
        taken = session.execute(
            sa.select(CustomerNumber.number, CustomerNumber.customer_id).where(
                CustomerNumber.number.in_(numbers), CustomerNumber.customer_id != customer_id
            )
        ).all()
        if taken and "numbers" not in errors:
            errors["numbers"] = ", ".join(f"{n} → {c}" for n, c in taken)
        if errors:
            raise FormInvalid(errors)
        if form.get("stamp") and form.get("stamp") != _stamp(row, old_numbers):
            raise Stale(customer_id)
        before = {
            "name": row.name,
            "region": row.region,
            "tier_id": row.tier_id,
            "blacklisted": row.blacklisted,
            "numbers": old_numbers,
        }
        after = {**values, "numbers": numbers}
        if before == after:
            return False
        for name in ("name", "region", "tier_id", "blacklisted"):
            setattr(row, name, values[name])
        row.updated_at = utcnow()
        if numbers != old_numbers:
            session.execute(
                sa.delete(CustomerNumber).where(CustomerNumber.customer_id == customer_id)
            )
            session.add_all(CustomerNumber(number=n, customer_id=customer_id) for n in numbers)
        store_audit.record(
            session,
            actor=user.agent_id,
            action="update",
            entity="customer",
            entity_id=customer_id,
            before=before,
            after={**after, "via": "web"},
        )
    if directory is not None:
        directory.invalidate(numbers=[*old_numbers, *numbers], customer_ids=[customer_id])
    return True


# --- SQL refresh sources ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RunView:
    id: int
    source_id: str
    trigger: str
    actor: str | None
    state: str
    started_at: dt.datetime
    finished_at: dt.datetime | None
    rows_read: int
    imported: int
    updated: int
    rejected: int
    duration_seconds: float
    errors: list[dict[str, Any]]
    message: str


@dataclass(frozen=True, slots=True)
class SourceView:
    id: str
    name: str
    url: str
    """Masked."""
    query: str
    table_name: str
    mapping: dict[str, str]
    schedule: str
    interval_minutes: int | None
    daily_time: str
    tz: str
    valid_rows_only: bool
    enabled: bool
    next_run_at: dt.datetime | None
    run_requested: bool
    last_run: RunView | None = None
    runs: list[RunView] = field(default_factory=list)


def _run_view(row: TierRefreshRun) -> RunView:
    return RunView(
        row.id,
        row.source_id,
        row.trigger,
        row.actor,
        row.state,
        row.started_at,
        row.finished_at,
        row.rows_read,
        row.imported,
        row.updated,
        row.rejected,
        row.duration_seconds,
        list(row.errors or []),
        row.message,
    )


def _source_view(row: TierRefreshSource, runs: list[RunView]) -> SourceView:
    return SourceView(
        row.id,
        row.name,
        tr.mask_url(row.url),
        row.query or "",
        row.table_name or "",
        {k: str(v) for k, v in (row.mapping or {}).items()},
        row.schedule,
        row.interval_minutes,
        row.daily_time or "",
        row.tz,
        row.valid_rows_only,
        row.enabled,
        row.next_run_at,
        row.run_requested_by is not None,
        runs[0] if runs else None,
        runs,
    )


def list_sources(sessions: sessionmaker[Session]) -> list[SourceView]:
    with sessions() as session:
        sources = list(session.scalars(sa.select(TierRefreshSource).order_by(TierRefreshSource.id)))
        views = []
        for source in sources:
            last = session.scalars(
                sa.select(TierRefreshRun)
                .where(TierRefreshRun.source_id == source.id)
                .order_by(TierRefreshRun.id.desc())
                .limit(1)
            ).first()
            views.append(_source_view(source, [_run_view(last)] if last else []))
        return views


def source(sessions: sessionmaker[Session], source_id: str, runs: int = 30) -> SourceView:
    with sessions() as session:
        row = session.get(TierRefreshSource, source_id)
        if row is None:
            raise LookupError(source_id)
        history = [
            _run_view(r)
            for r in session.scalars(
                sa.select(TierRefreshRun)
                .where(TierRefreshRun.source_id == source_id)
                .order_by(TierRefreshRun.id.desc())
                .limit(runs)
            )
        ]
        return _source_view(row, history)


def _audit_view(row: TierRefreshSource) -> dict[str, Any]:
    return {
        "name": row.name,
        "url": tr.mask_url(row.url),
        "query": row.query,
        "table_name": row.table_name,
        "mapping": row.mapping,
        "schedule": row.schedule,
        "interval_minutes": row.interval_minutes,
        "daily_time": row.daily_time,
        "tz": row.tz,
        "valid_rows_only": row.valid_rows_only,
        "enabled": row.enabled,
    }


def _keep_password(new_url: str, old_url: str | None) -> str:
    """A URL submitted with the masked password keeps the stored one."""
    if old_url is None:
        return new_url
    try:
        new, old = sa.make_url(new_url), sa.make_url(old_url)
    except Exception:
        return new_url
    if new.password == MASK and old.password is not None:
        return new.set(password=old.password).render_as_string(hide_password=False)
    return new_url


def save_source(
    sessions: sessionmaker[Session],
    actor: str,
    source_id: str | None,
    form: Mapping[str, str],
    *,
    now: dt.datetime | None = None,
) -> str:
    """Create (``source_id`` None: the form's ``id``) or change a refresh source; the
    next run is scheduled from now. Audited with the URL masked."""
    errors: dict[str, str] = {}
    new_id = source_id or form.get("id", "").strip()
    if source_id is None and not _SOURCE_ID.fullmatch(new_id):
        errors["id"] = "tier_err_source_id"
    schedule = form.get("schedule", "interval")
    interval: int | None = None
    if schedule == "interval":
        try:
            interval = int(form.get("interval_minutes", "").strip())
        except ValueError:
            errors["interval_minutes"] = "tier_err_interval"
    daily = form.get("daily_time", "").strip() or None
    tz = form.get("tz", "").strip() or "UTC"
    mapping = {
        name: form.get(f"map_{name}", "").strip()
        for name in FIELDS
        if form.get(f"map_{name}", "").strip()
    }
    query = form.get("query", "").strip() or None
    table = form.get("table_name", "").strip() or None
    name = form.get("name", "").strip()[:200]
    url_text = form.get("url", "").strip()
    with sessions.begin() as session:
        row = session.get(TierRefreshSource, source_id) if source_id else None
        if source_id is not None and row is None:
            raise LookupError(source_id)
        if source_id is None and session.get(TierRefreshSource, new_id) is not None:
            errors["id"] = "tier_err_source_exists"
        url = _keep_password(url_text, row.url if row is not None else None)
        checks: list[Any] = [
            lambda: tr.check_url(url),
            lambda: tr.check_statement(query, table),
            lambda: tr.check_schedule(schedule, interval, daily, tz),
        ]
        for check in checks:
            try:
                check()
            except tr.SourceInvalid as bad:
                errors.setdefault(bad.field, bad.problem)
        if mapping:
            missing = [f for f in REQUIRED_FIELDS if f not in mapping]
            if missing:
                errors[f"map_{missing[0]}"] = "tier_err_required"
        if errors:
            raise FormInvalid(errors)
        before = _audit_view(row) if row is not None else None
        if row is None:
            row = TierRefreshSource(id=new_id)
            session.add(row)
        row.name = name
        row.url = url
        row.query = query
        row.table_name = table
        row.mapping = mapping
        row.schedule = schedule
        row.interval_minutes = interval if schedule == "interval" else None
        row.daily_time = daily if schedule == "daily" else None
        row.tz = tz
        row.valid_rows_only = form.get("valid_rows_only") in ("1", "on", "true")
        row.enabled = form.get("enabled") in ("1", "on", "true")
        row.updated_by = actor
        row.updated_at = utcnow()
        row.next_run_at = (
            tr.next_run(schedule, interval, daily, tz, now or utcnow()) if row.enabled else None
        )
        session.flush()
        after = _audit_view(row)
        if before != after:
            store_audit.record(
                session,
                actor=actor,
                action="update" if before is not None else "create",
                entity="tier_refresh_source",
                entity_id=new_id,
                before=before,
                after=after,
            )
    return new_id


def delete_source(sessions: sessionmaker[Session], actor: str, source_id: str) -> None:
    with sessions.begin() as session:
        row = session.get(TierRefreshSource, source_id)
        if row is None:
            raise LookupError(source_id)
        before = _audit_view(row)
        session.execute(sa.delete(TierRefreshRun).where(TierRefreshRun.source_id == source_id))
        session.delete(row)
        store_audit.record(
            session,
            actor=actor,
            action="delete",
            entity="tier_refresh_source",
            entity_id=source_id,
            before=before,
        )


def request_run(sessions: sessionmaker[Session], actor: str, source_id: str) -> None:
    """Ask the scheduler to run the source at its next look (``wake`` makes it now)."""
    with sessions.begin() as session:
        row = session.get(TierRefreshSource, source_id)
        if row is None:
            raise LookupError(source_id)
        row.run_requested_by = actor
        store_audit.record(
            session,
            actor=actor,
            action="run",
            entity="tier_refresh_source",
            entity_id=source_id,
            after={"requested": True},
        )


def preview_source(sessions: sessionmaker[Session], source_id: str) -> tr.Preview:
    """The source's columns and first rows (connects and runs the query)."""
    with sessions() as session:
        row = session.get(TierRefreshSource, source_id)
        if row is None:
            raise LookupError(source_id)
        url, query, table = row.url, row.query, row.table_name
    return tr.preview(lambda: tr.sql_rows(url, query, table), rows=PREVIEW_ROWS)


def run_errors(sessions: sessionmaker[Session], source_id: str, run_id: int) -> list[RowError]:
    with sessions() as session:
        run = session.get(TierRefreshRun, run_id)
        if run is None or run.source_id != source_id:
            raise LookupError(run_id)
        return [RowError(e["line"], e["field"], e["problem"]) for e in run.errors or []]


class TierLink:
    """What the tier pages need from the running server (the composition root fills it):
    the live tier cache, the refresh scheduler, where uploads are spooled."""

    def __init__(
        self,
        *,
        directory: TierDirectory | None = None,
        scheduler: tr.TierRefreshScheduler | None = None,
        upload_dir: Path | None = None,
        max_upload_bytes: int = 1 << 30,
    ) -> None:
        self.directory = directory
        self.scheduler = scheduler
        self.upload_dir = upload_dir
        self.max_upload_bytes = max_upload_bytes
        self._jobs: TierJobs | None = None
        self._lock = threading.Lock()

    def jobs(self, sessions: sessionmaker[Session]) -> TierJobs:
        with self._lock:
            if self._jobs is None:
                bind = sessions.kw.get("bind")
                if not isinstance(bind, sa.Engine):
                    raise RuntimeError("the web sessions are not bound to an engine")
                self._jobs = TierJobs(
                    bind,
                    sessions,
                    self.directory,
                    upload_dir=self.upload_dir,
                    max_bytes=self.max_upload_bytes,
                )
            return self._jobs

    def close(self) -> None:
        """Wait for a running import; stop the scheduler."""
        if self.scheduler is not None:
            self.scheduler.stop()
        with self._lock:
            jobs, self._jobs = self._jobs, None
        if jobs is not None:
            jobs.close()


__all__ = [
    "CustomerPage",
    "CustomerRow",
    "FormInvalid",
    "Job",
    "SourceView",
    "Stale",
    "TierJobs",
    "TierLink",
    "Upload",
    "UploadRefused",
    "errors_csv",
]
