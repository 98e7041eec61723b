"""Checked tier imports and the scheduled refresh from a SQL source (R-TIER-3).

Everything here runs the store's one importer, :func:`~.tier_import.import_tiers`;
this module adds what the web console and the scheduler need around it:

* :func:`preview` — a file's columns and first rows (for the field mapping);
* :func:`check_tiers` — the importer's own reading and row validation without writing
  anything (same :class:`~.tier_import.RowError` line numbers and texts);
* :func:`import_checked` — **all or nothing** by default: check every row first and
  write nothing if one is bad (``refused``); with ``valid_rows_only`` the importer
  writes the valid rows and reports the bad ones. Sources up to
  :data:`ATOMIC_MAX_ROWS` rows are written in one transaction, so even a database
  error leaves nothing half-written; larger ones in the importer's chunks;
* :class:`TierRefreshScheduler` — a background thread that runs the
  ``tier_refresh_sources`` rows (a SQLAlchemy URL + a query or a table + a mapping +
  ``interval`` / ``daily`` schedule) through :func:`import_checked`, reading the
  source streamed (server-side cursor) and read-only, and keeps ``tier_refresh_runs``
  (rows, errors, duration). Passwords inside URLs are masked (``***``) in logs, run
  messages and audit rows (:func:`mask_url`).
"""

from __future__ import annotations

import codecs
import datetime as dt
import logging
import re
import threading
import time
import zoneinfo
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import NullPool

from shared.config import mask

from . import audit
from . import tier_import as ti
from .db import session_factory
from .errors import TierImportAborted, TierImportError
from .models import TierRefreshRun, TierRefreshSource, utcnow
from .tiers import TierDirectory

log = logging.getLogger("cti_server.store.tier_refresh")

ATOMIC_MAX_ROWS = 20_000
"""Checked imports of at most this many rows are written in one transaction."""
PROGRESS_EVERY = 500
"""The check pass reports progress every this many rows."""
RUN_ERRORS_KEPT = 200
RUNS_KEPT = 200
"""Run history kept per source."""
SCHEDULES = ("interval", "daily")
_TABLE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?")
_HHMM = re.compile(r"([01]\d|2[0-3]):[0-5]\d")
_SELECT = re.compile(r"\s*(select|with)\b", re.IGNORECASE)

Progress = Callable[[str, int, int | None], None]
"""``(phase, rows_done, rows_total_or_None)``; phase ``checking`` or ``importing``."""
RowSource = Path | Callable[[], Iterator[Mapping[str, object]]]
"""A file, or a factory of a fresh row iterator (called once per pass)."""


def mask_url(text: str) -> str:
    """``text`` with the password of every URL in it replaced by ``***``."""
    return mask("url", text)


# --- reading ------------------------------------------------------------------------------


type _Records = Iterator[tuple[int, list[tuple[str, bool]]]]


def _file_records(
    path: Path, *, encoding: str | None, sheet: str | None
) -> tuple[_Records, int | None, str | None]:
    """The importer's own readers: ``(records, total rows or None, encoding)``."""
    if not path.is_file():
        raise TierImportError(f"{path.name}: no such file")
    suffix = path.suffix.lower()
    if suffix in (".xlsx", ".xlsm"):
        return ti._iter_xlsx(path, sheet), ti._xlsx_total(path), None
    if suffix in (".csv", ".tsv", ".txt"):
        if encoding is None:
            encoding = ti.detect_encoding(path)
        else:
            try:
                codecs.lookup(encoding)
            except LookupError:
                raise TierImportError(f"unknown encoding {encoding!r}") from None
        delimiter = "\t" if suffix == ".tsv" else None
        total = max(ti._count_lines(path) - 1, 0)
        return ti._iter_csv(path, encoding, delimiter), total, encoding
    raise TierImportError(f"{path.name}: unsupported file type {suffix!r} (use .csv or .xlsx)")


def _mapping_records(
    source: Callable[[], Iterator[Mapping[str, object]]],
) -> tuple[_Records, Callable[[], None]]:
    rows = source()
    records = ti._iter_mappings(rows)

    def close() -> None:
        _file_closer(records)()
        closer = getattr(rows, "close", None)
        if closer is not None:
            closer()

    return records, close


def _file_closer(records: _Records) -> Callable[[], None]:
    closer = getattr(records, "close", None)
    return closer if closer is not None else (lambda: None)


def _header(records: _Records) -> list[str] | None:
    for _line, cells in records:
        if any(text for text, _numeric in cells):
            return [text for text, _numeric in cells]
    return None


@dataclass(frozen=True, slots=True)
class Preview:
    """A source's columns and first rows, and which column the importer would take for
    each field without an explicit mapping."""

    columns: list[str]
    rows: list[list[str]]
    guessed: dict[str, str]
    total: int | None
    encoding: str | None


def guess_mapping(columns: Iterable[str]) -> dict[str, str]:
    """Field -> column by the importer's aliases (English and Chinese header names)."""
    normalised = {c.strip().lower(): c for c in columns if c.strip()}
    guessed: dict[str, str] = {}
    for name, aliases in ti.ALIASES.items():
        for alias in aliases:
            if alias in normalised:
                guessed[name] = normalised[alias]
                break
    return guessed


def preview(
    source: RowSource, *, rows: int = 10, encoding: str | None = None, sheet: str | None = None
) -> Preview:
    """The header and the first ``rows`` non-empty rows (only those are read)."""
    total: int | None = None
    if isinstance(source, Path):
        records, total, encoding = _file_records(source, encoding=encoding, sheet=sheet)
        close = _file_closer(records)
    else:
        records, close = _mapping_records(source)
    try:
        columns = _header(records) or []
        first: list[list[str]] = []
        for _line, cells in records:
            if len(first) >= rows:
                break
            if any(text for text, _numeric in cells):
                first.append([text for text, _numeric in cells])
    finally:
        close()
    return Preview(columns, first, guess_mapping(columns), total, encoding)


# --- checking without writing -------------------------------------------------------------


@dataclass(slots=True)
class CheckReport:
    rows_read: int = 0
    rejected: int = 0
    errors: list[ti.RowError] = field(default_factory=list)
    errors_truncated: bool = False
    total: int | None = None
    encoding: str | None = None


def check_tiers(
    engine: sa.Engine,
    source: RowSource,
    *,
    mapping: Mapping[str, str] | None = None,
    encoding: str | None = None,
    sheet: str | None = None,
    on_progress: Callable[[int, int | None], None] | None = None,
    max_errors: int = 1000,
) -> CheckReport:
    """Read and validate every row as :func:`import_tiers` would, writing nothing.

    Raises :class:`TierImportError` for an unusable source (as the importer does)."""
    total: int | None = None
    if isinstance(source, Path):
        records, total, encoding = _file_records(source, encoding=encoding, sheet=sheet)
        close = _file_closer(records)
    else:
        records, close = _mapping_records(source)
    report = CheckReport(total=total, encoding=encoding)
    try:
        header = _header(records)
        if header is None:
            return report
        validator = ti._Validator(header, mapping, ti._tier_names(engine))
        for line, cells in records:
            if not any(text for text, _numeric in cells):
                continue
            report.rows_read += 1
            result = validator.row(line, cells)
            if isinstance(result, list):
                report.rejected += 1
                room = max_errors - len(report.errors)
                if room < len(result):
                    report.errors_truncated = True
                report.errors.extend(result[: max(room, 0)])
            if on_progress is not None and report.rows_read % PROGRESS_EVERY == 0:
                on_progress(report.rows_read, total)
                time.sleep(0)  # let live look-up threads have the GIL
    finally:
        close()
    if on_progress is not None:
        on_progress(report.rows_read, report.rows_read)
    return report


@dataclass(slots=True)
class Outcome:
    """How a checked import ended. ``state``: ``succeeded`` (written; with
    ``valid_rows_only`` bad rows are in ``report.errors``), ``refused`` (bad rows
    found, nothing written: ``check.errors``) or ``failed`` (``message``; chunks
    committed before a database error are in ``report``)."""

    state: str
    report: ti.ImportReport | None = None
    check: CheckReport | None = None
    message: str = ""

    @property
    def rows_read(self) -> int:
        if self.report is not None:
            return self.report.rows_read
        return self.check.rows_read if self.check is not None else 0

    @property
    def errors(self) -> list[ti.RowError]:
        if self.state == "refused" and self.check is not None:
            return self.check.errors
        return self.report.errors if self.report is not None else []

    @property
    def rejected(self) -> int:
        if self.state == "refused" and self.check is not None:
            return self.check.rejected
        return self.report.rejected if self.report is not None else 0

    @property
    def errors_truncated(self) -> bool:
        if self.state == "refused" and self.check is not None:
            return self.check.errors_truncated
        return self.report.errors_truncated if self.report is not None else False

    def summary(self) -> dict[str, Any]:
        report = self.report
        return {
            "state": self.state,
            "rows_read": self.rows_read,
            "imported": report.imported if report else 0,
            "updated": report.updated if report else 0,
            "rejected": self.rejected,
            "chunks_committed": report.chunks_committed if report else 0,
            "message": self.message,
        }


def import_checked(
    engine: sa.Engine,
    source: RowSource,
    *,
    mapping: Mapping[str, str] | None = None,
    valid_rows_only: bool = False,
    directory: TierDirectory | None = None,
    encoding: str | None = None,
    sheet: str | None = None,
    on_progress: Progress | None = None,
    chunk_size: int = 5000,
    max_errors: int = 1000,
) -> Outcome:
    """Import ``source`` with :func:`import_tiers`; all or nothing unless
    ``valid_rows_only`` (see the module docstring). Never raises for bad input: an
    unusable source or a database error is a ``failed`` outcome with a message
    (URL passwords masked)."""

    def progress(phase: str) -> Callable[[int, int | None], None] | None:
        if on_progress is None:
            return None
        return lambda done, total: on_progress(phase, done, total)

    check: CheckReport | None = None
    try:
        if not valid_rows_only:
            check = check_tiers(
                engine,
                source,
                mapping=mapping,
                encoding=encoding,
                sheet=sheet,
                on_progress=progress("checking"),
                max_errors=max_errors,
            )
            if check.rejected:
                return Outcome("refused", check=check)
            if check.rows_read <= ATOMIC_MAX_ROWS:
                chunk_size = max(check.rows_read, 1)
            encoding = check.encoding or encoding
        if on_progress is not None:
            on_progress("importing", 0, check.rows_read if check is not None else None)
        rows: Path | Iterable[Mapping[str, object]] = (
            source if isinstance(source, Path) else source()
        )
        try:
            report = ti.import_tiers(
                engine,
                rows,
                chunk_size=chunk_size,
                on_progress=progress("importing"),
                mapping=mapping,
                encoding=encoding,
                sheet=sheet,
                directory=directory,
                max_errors=max_errors,
            )
        finally:
            close = getattr(rows, "close", None)
            if close is not None:
                close()
    except TierImportAborted as exc:
        partial = exc.report if isinstance(exc.report, ti.ImportReport) else None
        return Outcome("failed", report=partial, check=check, message=mask_url(str(exc)))
    except TierImportError as exc:
        return Outcome("failed", check=check, message=mask_url(str(exc)))
    except SQLAlchemyError as exc:
        text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return Outcome("failed", check=check, message=mask_url(f"{type(exc).__name__}: {text}"))
    return Outcome("succeeded", report=report, check=check)


# --- SQL sources --------------------------------------------------------------------------


class SourceInvalid(ValueError):
    """A refresh source's settings are not usable: ``field`` and ``problem``."""

    def __init__(self, field_name: str, problem: str) -> None:
        super().__init__(f"{field_name}: {problem}")
        self.field = field_name
        self.problem = problem


def check_url(url: str) -> sa.URL:
    try:
        parsed = sa.make_url(url.strip())
    except Exception:
        raise SourceInvalid(
            "url", "not a SQLAlchemy URL (dialect://user:password@host/db)"
        ) from None
    try:
        parsed.get_dialect()
    except Exception:
        raise SourceInvalid("url", f"unknown database kind {parsed.drivername!r}") from None
    return parsed


def check_statement(query: str | None, table_name: str | None) -> None:
    """One SELECT (or WITH … SELECT) statement, or a table name; not both."""
    query = (query or "").strip().rstrip(";").strip()
    table_name = (table_name or "").strip()
    if bool(query) == bool(table_name):
        raise SourceInvalid("query", "give either a query or a table")
    if query:
        if not _SELECT.match(query):
            raise SourceInvalid("query", "only a SELECT query is run")
        if ";" in query:
            raise SourceInvalid("query", "one statement only")
    elif not _TABLE.fullmatch(table_name):
        raise SourceInvalid("table_name", "a table name: letters, digits, _ (schema.table)")


def _statement(conn: sa.Connection, query: str | None, table_name: str | None) -> Any:
    query = (query or "").strip().rstrip(";").strip()
    if query:
        return sa.text(query)
    schema, _, name = (table_name or "").strip().rpartition(".")
    table = sa.Table(name, sa.MetaData(), autoload_with=conn, schema=schema or None)
    return sa.select(table)


def sql_rows(url: str, query: str | None, table_name: str | None) -> Generator[dict[str, object]]:
    """The source's rows as mappings, streamed (server-side cursor) in a read-only
    transaction; the connection closes when the iterator is exhausted or closed."""
    check_statement(query, table_name)
    source = sa.create_engine(check_url(url), poolclass=NullPool)
    try:
        with source.connect() as conn:
            if source.dialect.name == "sqlite":
                conn.exec_driver_sql("PRAGMA query_only = ON")
            elif source.dialect.name == "postgresql":
                conn.execution_options(postgresql_readonly=True)  # changes conn in place
            result = conn.execution_options(stream_results=True, yield_per=1000).execute(
                _statement(conn, query, table_name)
            )
            for row in result.mappings():
                yield dict(row)
    finally:
        source.dispose()


# --- schedule -----------------------------------------------------------------------------


def check_schedule(
    schedule: str, interval_minutes: int | None, daily_time: str | None, tz: str
) -> None:
    if schedule not in SCHEDULES:
        raise SourceInvalid("schedule", f"one of {', '.join(SCHEDULES)}")
    if schedule == "interval":
        if interval_minutes is None or not 1 <= interval_minutes <= 7 * 24 * 60:
            raise SourceInvalid("interval_minutes", "whole minutes from 1 to 10080")
    elif daily_time is None or not _HHMM.fullmatch(daily_time):
        raise SourceInvalid("daily_time", "a time of day HH:MM")
    try:
        zoneinfo.ZoneInfo(tz)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise SourceInvalid("tz", f"unknown time zone {tz!r}") from None


def next_run(
    schedule: str,
    interval_minutes: int | None,
    daily_time: str | None,
    tz: str,
    after: dt.datetime,
) -> dt.datetime:
    """The first run time strictly after ``after`` (aware UTC)."""
    if schedule == "interval":
        return after + dt.timedelta(minutes=interval_minutes or 60)
    zone = zoneinfo.ZoneInfo(tz)
    hours, minutes = (int(x) for x in (daily_time or "00:00").split(":"))
    local = after.astimezone(zone)
    day = local.date()
    for _ in range(3):
        candidate = dt.datetime(day.year, day.month, day.day, hours, minutes, tzinfo=zone)
        at = candidate.astimezone(dt.UTC)
        if at > after:
            return at
        day += dt.timedelta(days=1)
    raise AssertionError("unreachable")  # pragma: no cover


# --- the scheduler ------------------------------------------------------------------------


def _run_errors(errors: Iterable[ti.RowError]) -> list[dict[str, Any]]:
    return [
        {"line": e.line, "field": e.field, "problem": e.problem}
        for e in list(errors)[:RUN_ERRORS_KEPT]
    ]


class _Stopped(Exception):
    """Raised from a run's progress callback when the scheduler stops."""


class TierRefreshScheduler:
    """Runs due ``tier_refresh_sources`` in a background thread.

    The thread looks for due sources every ``poll_seconds`` (so sources added or
    changed in the web console apply without a restart) and at once after
    :meth:`wake`. A source is claimed with a conditional ``UPDATE`` (its next run time
    moves forward first), so two servers on one database never run it twice. Runs are
    sequential; a run never raises out of the thread.
    """

    def __init__(
        self,
        engine: sa.Engine,
        *,
        directory: TierDirectory | None = None,
        poll_seconds: float = 15.0,
        clock: Callable[[], dt.datetime] = utcnow,
    ) -> None:
        self.engine = engine
        self.sessions: sessionmaker[Session] = session_factory(engine)
        self.directory = directory
        self.poll_seconds = poll_seconds
        self.clock = clock
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._busy = threading.Lock()
        self.current: str | None = None
        """The source being run now, if any."""

    # lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="tier-refresh", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop polling; waits for the run in progress (up to ``timeout``)."""
        self._stop.set()
        self._wake.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout)

    def wake(self) -> None:
        """Look for due sources now (after a "run now" or a schedule change)."""
        self._wake.set()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.tick()
            except Exception:
                log.exception("tier refresh: looking for due sources failed")
            self._wake.wait(self.poll_seconds)
            self._wake.clear()

    # work --------------------------------------------------------------------------------

    def tick(self) -> list[int]:
        """Run every due source once; the ids of the runs made."""
        now = self.clock()
        with self.sessions() as session:
            due = list(
                session.scalars(
                    sa.select(TierRefreshSource.id)
                    .where(
                        sa.or_(
                            sa.and_(
                                TierRefreshSource.enabled.is_(True),
                                TierRefreshSource.next_run_at <= now,
                            ),
                            TierRefreshSource.run_requested_by.is_not(None),
                        )
                    )
                    .order_by(TierRefreshSource.next_run_at)
                )
            )
        runs = []
        for source_id in due:
            if self._stop.is_set():
                break
            claimed = self._claim(source_id, now)
            if claimed is not None:
                runs.append(self.run(source_id, trigger=claimed[0], actor=claimed[1]))
        return runs

    def _claim(self, source_id: str, now: dt.datetime) -> tuple[str, str | None] | None:
        with self.sessions.begin() as session:
            source = session.get(TierRefreshSource, source_id)
            if source is None:
                return None
            requested = source.run_requested_by
            following = next_run(
                source.schedule, source.interval_minutes, source.daily_time, source.tz, now
            )
            claimed = session.execute(
                sa.update(TierRefreshSource)
                .where(
                    TierRefreshSource.id == source_id,
                    sa.or_(
                        TierRefreshSource.next_run_at <= now,
                        TierRefreshSource.run_requested_by.is_not(None),
                    ),
                )
                .values(
                    next_run_at=following if source.enabled else None,
                    run_requested_by=None,
                )
                .execution_options(synchronize_session=False)
            )
            if claimed.rowcount != 1:  # type: ignore[attr-defined]
                return None
        return ("manual", requested) if requested else ("schedule", None)

    def run(self, source_id: str, *, trigger: str = "manual", actor: str | None = None) -> int:
        """Run one source now (in the calling thread); the id of its run row."""
        with self._busy:
            self.current = source_id
            try:
                return self._run(source_id, trigger, actor)
            finally:
                self.current = None

    def _run(self, source_id: str, trigger: str, actor: str | None) -> int:
        with self.sessions.begin() as session:
            source = session.get(TierRefreshSource, source_id)
            if source is None:
                raise LookupError(source_id)
            url, query, table = source.url, source.query, source.table_name
            mapping = {k: str(v) for k, v in (source.mapping or {}).items() if v}
            valid_rows_only = source.valid_rows_only
            row = TierRefreshRun(source_id=source_id, trigger=trigger, actor=actor, state="running")
            session.add(row)
            session.flush()
            run_id = row.id
        log.info("tier refresh %s from %s started (%s)", source_id, mask_url(url), trigger)
        started = time.perf_counter()
        try:
            check_statement(query, table)
            check_url(url)
        except SourceInvalid as bad:
            outcome = Outcome("failed", message=mask_url(str(bad)))
        else:

            def progress(_phase: str, _done: int, _total: int | None) -> None:
                if self._stop.is_set():
                    raise _Stopped

            try:
                outcome = import_checked(
                    self.engine,
                    lambda: sql_rows(url, query, table),
                    mapping=mapping or None,
                    valid_rows_only=valid_rows_only,
                    directory=self.directory,
                    on_progress=progress,
                )
            except _Stopped:
                outcome = Outcome("failed", message="cancelled: the server is stopping")
            except Exception as exc:  # a driver's own error type: record it, masked
                text = str(exc).splitlines()[0] if str(exc) else ""
                outcome = Outcome("failed", message=mask_url(f"{type(exc).__name__}: {text}"))
        duration = time.perf_counter() - started
        report = outcome.report
        with self.sessions.begin() as session:
            session.execute(
                sa.update(TierRefreshRun)
                .where(TierRefreshRun.id == run_id)
                .values(
                    state=outcome.state,
                    finished_at=utcnow(),
                    rows_read=outcome.rows_read,
                    imported=report.imported if report else 0,
                    updated=report.updated if report else 0,
                    rejected=outcome.rejected,
                    duration_seconds=round(duration, 3),
                    errors=_run_errors(outcome.errors),
                    message=outcome.message,
                )
            )
            old = list(
                session.scalars(
                    sa.select(TierRefreshRun.id)
                    .where(TierRefreshRun.source_id == source_id)
                    .order_by(TierRefreshRun.id.desc())
                    .offset(RUNS_KEPT)
                )
            )
            if old:
                session.execute(sa.delete(TierRefreshRun).where(TierRefreshRun.id.in_(old)))
            audit.record(
                session,
                actor=actor or "scheduler",
                action="refresh",
                entity="tier_refresh_source",
                entity_id=source_id,
                after={**outcome.summary(), "run": run_id, "trigger": trigger},
            )
        log.info(
            "tier refresh %s: %s, %d rows, %d rejected, %.1f s%s",
            source_id,
            outcome.state,
            outcome.rows_read,
            outcome.rejected,
            duration,
            f": {outcome.message}" if outcome.message else "",
        )
        return run_id


__all__ = [
    "ATOMIC_MAX_ROWS",
    "CheckReport",
    "Outcome",
    "Preview",
    "SourceInvalid",
    "TierRefreshScheduler",
    "check_schedule",
    "check_statement",
    "check_tiers",
    "check_url",
    "guess_mapping",
    "import_checked",
    "mask_url",
    "next_run",
    "preview",
    "sql_rows",
]
