"""Checked tier imports and the scheduled SQL refresh (R-TIER-3): the check pass finds
exactly the importer's row errors and writes nothing; all or nothing vs. "the valid
rows"; schedules (interval, daily in a time zone); the scheduler runs a real SQLite
source file and — with ``OPENCC_TEST_PG_URL`` — a PostgreSQL source table, claims a
source once with two schedulers, keeps run history and masks passwords."""

from __future__ import annotations

import datetime as dt
import os
import sqlite3
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from cti_server.store import TierDirectory, make_engine
from cti_server.store.models import AuditEntry, TierRefreshRun, TierRefreshSource
from cti_server.store.tier_import import RowError, import_tiers, write_csv
from cti_server.store.tier_refresh import (
    SourceInvalid,
    TierRefreshScheduler,
    check_schedule,
    check_statement,
    check_tiers,
    import_checked,
    mask_url,
    next_run,
    preview,
    sql_rows,
)

UTC = dt.UTC
HEADER = ["customer_id", "number", "tier", "name"]
GOOD_AND_BAD = [
    ["A1", "13800000001", "gold", "甲"],
    ["A2", "not-a-number", "gold", "乙"],
    ["A3", "13800000003", "platinum", "丙"],
    ["A4", "13800000004", "vip", "丁"],
]


def _count(engine: sa.Engine, table: str) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one())


def _tier_of(engine: sa.Engine, customer_id: str) -> str | None:
    with engine.connect() as conn:
        return conn.execute(
            sa.text("SELECT tier_id FROM customers WHERE id = :i"), {"i": customer_id}
        ).scalar()


def test_check_finds_the_importers_errors_and_writes_nothing(
    tiers: sa.Engine, tmp_path: Path
) -> None:
    source = tmp_path / "t.csv"
    write_csv(source, GOOD_AND_BAD, HEADER)
    progress: list[tuple[int, int | None]] = []
    check = check_tiers(tiers, source, on_progress=lambda d, t: progress.append((d, t)))
    assert _count(tiers, "customers") == 0
    assert (check.rows_read, check.rejected, check.total) == (4, 2, 4)
    assert progress[-1] == (4, 4)
    report = import_tiers(tiers, source)
    assert check.errors == report.errors  # same lines, fields and texts
    assert [(e.line, e.field) for e in check.errors] == [(3, "numbers"), (4, "tier")]


def test_all_or_nothing_refuses_and_valid_rows_only_imports(
    tiers: sa.Engine, tmp_path: Path
) -> None:
    source = tmp_path / "t.csv"
    write_csv(source, GOOD_AND_BAD, HEADER)
    directory = TierDirectory(tiers)
    assert directory.lookup("13800000001") is None  # cached miss
    phases: list[str] = []
    refused = import_checked(
        tiers, source, directory=directory, on_progress=lambda p, _d, _t: phases.append(p)
    )
    assert refused.state == "refused" and refused.rejected == 2
    assert refused.errors[0] == RowError(
        3,
        "numbers",
        "'not-a-number': only digits, an optional leading + and separators are allowed",
    )
    assert _count(tiers, "customers") == 0 and set(phases) == {"checking"}

    phases.clear()
    done = import_checked(
        tiers,
        source,
        valid_rows_only=True,
        directory=directory,
        on_progress=lambda p, _d, _t: phases.append(p),
    )
    assert done.state == "succeeded" and done.report is not None
    assert (done.report.imported, done.rejected) == (2, 2)
    assert _tier_of(tiers, "A4") == "vip"
    assert directory.lookup("13800000001").tier_id == "gold"  # type: ignore[union-attr]
    assert phases and set(phases) == {"importing"}

    good = tmp_path / "good.csv"
    write_csv(good, [["A5", "13800000005", "normal", "戊"]], HEADER)
    clean = import_checked(tiers, good)
    assert clean.state == "succeeded" and clean.report.imported == 1  # type: ignore[union-attr]
    assert clean.report.chunks_committed == 1  # type: ignore[union-attr]  # one transaction


def test_unusable_sources_fail_with_a_message(tiers: sa.Engine, tmp_path: Path) -> None:
    missing = import_checked(tiers, tmp_path / "none.csv")
    assert missing.state == "failed" and "no such file" in missing.message
    columns = tmp_path / "cols.csv"
    write_csv(columns, [["x"]], ["name"])
    assert "missing required column" in import_checked(tiers, columns).message
    mapped = import_checked(tiers, columns, mapping={"numbers": "Phone", "tier": "name"})
    assert mapped.state == "failed" and "column 'Phone'" in mapped.message


def test_preview_reads_only_the_first_rows(tmp_path: Path) -> None:
    source = tmp_path / "big.csv"
    write_csv(source, [[f"C{i}", f"138{i:08d}", "gold", ""] for i in range(5000)], HEADER)
    shown = preview(source, rows=3)
    assert shown.columns == HEADER and shown.total == 5000
    assert [row[0] for row in shown.rows] == ["C0", "C1", "C2"]
    assert shown.guessed == {
        "customer_id": "customer_id",
        "numbers": "number",
        "tier": "tier",
        "name": "name",
    }


def test_schedules() -> None:
    at = dt.datetime(2026, 3, 7, 23, 0, tzinfo=UTC)
    assert next_run("interval", 90, None, "UTC", at) == at + dt.timedelta(minutes=90)
    # 02:30 in Shanghai is 18:30 UTC the day before
    daily = next_run("daily", None, "02:30", "Asia/Shanghai", at)
    assert daily == dt.datetime(2026, 3, 8, 18, 30, tzinfo=UTC)
    same_day = next_run("daily", None, "23:30", "UTC", at)
    assert same_day == dt.datetime(2026, 3, 7, 23, 30, tzinfo=UTC)
    # New York springs forward at 02:00 on 8 March 2026: 02:30 does not exist that day
    # and is taken with the offset before the change (EST, 07:30 UTC); a day later it is
    # 02:30 EDT (06:30 UTC)
    ny = next_run("daily", None, "02:30", "America/New_York", at)
    assert ny == dt.datetime(2026, 3, 8, 7, 30, tzinfo=UTC)
    after = next_run("daily", None, "02:30", "America/New_York", ny)
    assert after == dt.datetime(2026, 3, 9, 6, 30, tzinfo=UTC)
    bad_schedules: list[Callable[[], None]] = [
        lambda: check_schedule("weekly", 5, None, "UTC"),
        lambda: check_schedule("interval", 0, None, "UTC"),
        lambda: check_schedule("daily", None, "25:00", "UTC"),
        lambda: check_schedule("daily", None, "02:00", "Mars/Base"),
    ]
    for bad in bad_schedules:
        with pytest.raises(SourceInvalid):
            bad()
    check_statement("WITH x AS (SELECT 1) SELECT * FROM x", None)
    for query, table in (("DELETE FROM t", None), ("SELECT 1; DROP TABLE t", None), (None, None)):
        with pytest.raises(SourceInvalid):
            check_statement(query, table)
    with pytest.raises(SourceInvalid, match="table"):
        check_statement(None, "t; drop")


def test_mask_url() -> None:
    assert mask_url("postgresql+psycopg://u:pw@h/db") == "postgresql+psycopg://u:***@h/db"
    assert (
        mask_url("failed for postgresql://a:b@c/d now") == "failed for postgresql://a:***@c/d now"
    )


# --- the scheduler ---------------------------------------------------------------------------


class Clock:
    def __init__(self, at: dt.datetime) -> None:
        self.at = at

    def __call__(self) -> dt.datetime:
        return self.at


def _sqlite_crm(path: Path, rows: list[tuple[str, str, str]]) -> str:
    with sqlite3.connect(path) as conn:
        conn.execute("DROP TABLE IF EXISTS crm")
        conn.execute("CREATE TABLE crm (cust TEXT, phone TEXT, level TEXT, seen INTEGER)")
        conn.executemany("INSERT INTO crm VALUES (?, ?, ?, 1)", rows)
    return f"sqlite:///{path}"


def _add_source(engine: sa.Engine, source_id: str, url: str, **values: object) -> None:
    row = {
        "id": source_id,
        "name": source_id,
        "url": url,
        "query": None,
        "table_name": "crm",
        "mapping": {"customer_id": "cust", "numbers": "phone", "tier": "level"},
        "schedule": "interval",
        "interval_minutes": 60,
        "daily_time": None,
        "tz": "UTC",
        "valid_rows_only": False,
        "enabled": True,
        "next_run_at": dt.datetime(2026, 1, 1, tzinfo=UTC),
        "run_requested_by": None,
        "updated_by": "9901",
        "updated_at": dt.datetime(2026, 1, 1, tzinfo=UTC),
        **values,
    }
    with engine.begin() as conn:
        conn.execute(sa.insert(TierRefreshSource), [row])


def _runs(engine: sa.Engine, source_id: str) -> list[Any]:
    with engine.connect() as conn:
        return list(
            conn.execute(
                sa.select(TierRefreshRun)
                .where(TierRefreshRun.source_id == source_id)
                .order_by(TierRefreshRun.id)
            ).all()
        )


def test_scheduler_runs_a_sqlite_source_on_time(tiers: sa.Engine, tmp_path: Path) -> None:
    url = _sqlite_crm(
        tmp_path / "crm.sqlite3", [("S1", "13811112222", "gold"), ("S2", "13811113333", "vip")]
    )
    _add_source(tiers, "crm", url, next_run_at=dt.datetime(2026, 1, 1, 12, 0, tzinfo=UTC))
    clock = Clock(dt.datetime(2026, 1, 1, 11, 59, tzinfo=UTC))
    directory = TierDirectory(tiers)
    scheduler = TierRefreshScheduler(tiers, directory=directory, clock=clock)
    assert scheduler.tick() == []  # not due yet
    clock.at = dt.datetime(2026, 1, 1, 12, 0, 5, tzinfo=UTC)
    [run_id] = scheduler.tick()
    [run] = _runs(tiers, "crm")
    assert run.id == run_id and run.trigger == "schedule" and run.state == "succeeded"
    assert (run.rows_read, run.imported, run.updated, run.rejected) == (2, 2, 0, 0)
    assert run.duration_seconds > 0 and run.finished_at is not None
    assert _tier_of(tiers, "S2") == "vip"
    with tiers.connect() as conn:
        following = conn.execute(sa.select(TierRefreshSource.next_run_at)).scalar_one()
    assert following == dt.datetime(2026, 1, 1, 13, 0, 5, tzinfo=UTC)
    assert scheduler.tick() == []  # claimed: not due again until then
    # the source changes: the next run updates
    _sqlite_crm(tmp_path / "crm.sqlite3", [("S1", "13811112222", "normal")])
    clock.at = following
    scheduler.tick()
    assert _runs(tiers, "crm")[-1].updated == 1 and _tier_of(tiers, "S1") == "normal"
    with tiers.connect() as conn:
        audits = conn.execute(
            sa.select(AuditEntry.actor, AuditEntry.after).where(AuditEntry.action == "refresh")
        ).all()
    assert [a.actor for a in audits] == ["scheduler", "scheduler"]


def test_manual_run_of_a_disabled_source_and_the_background_thread(
    tiers: sa.Engine, tmp_path: Path
) -> None:
    url = _sqlite_crm(tmp_path / "crm.sqlite3", [("S1", "13811112222", "gold")])
    _add_source(tiers, "crm", url, enabled=False, next_run_at=None)
    scheduler = TierRefreshScheduler(tiers, poll_seconds=30)
    assert scheduler.tick() == []
    with tiers.begin() as conn:
        conn.execute(sa.update(TierRefreshSource).values(run_requested_by="9901"))
    scheduler.start()
    try:
        scheduler.wake()  # at once, not after 30 s
        deadline = dt.datetime.now(UTC) + dt.timedelta(seconds=10)
        while not [r for r in _runs(tiers, "crm") if r.state != "running"]:
            assert dt.datetime.now(UTC) < deadline
            threading.Event().wait(0.05)
    finally:
        scheduler.stop()
    [run] = _runs(tiers, "crm")
    assert (run.trigger, run.actor, run.state) == ("manual", "9901", "succeeded")
    with tiers.connect() as conn:
        source = conn.execute(sa.select(TierRefreshSource)).one()
    assert source.run_requested_by is None and source.next_run_at is None  # still disabled


def test_two_schedulers_run_a_due_source_once(tiers: sa.Engine, tmp_path: Path) -> None:
    url = _sqlite_crm(tmp_path / "crm.sqlite3", [("S1", "13811112222", "gold")])
    _add_source(tiers, "crm", url)
    first, second = TierRefreshScheduler(tiers), TierRefreshScheduler(tiers)
    results: list[list[int]] = []
    barrier = threading.Barrier(2)

    def tick(scheduler: TierRefreshScheduler) -> None:
        barrier.wait()
        results.append(scheduler.tick())

    threads = [threading.Thread(target=tick, args=(s,)) for s in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    assert sorted(len(r) for r in results) == [0, 1]
    assert len(_runs(tiers, "crm")) == 1


def test_failed_runs_are_recorded_with_masked_messages(tiers: sa.Engine, tmp_path: Path) -> None:
    _add_source(
        tiers,
        "down",
        "postgresql+psycopg://reader:hunter2@127.0.0.1:9/crm?connect_timeout=2",
        table_name=None,
        query="SELECT * FROM crm",
    )
    _add_source(tiers, "nofile", f"sqlite:///{tmp_path}/missing/none.sqlite3")
    _add_source(
        tiers, "badquery", _sqlite_crm(tmp_path / "c.sqlite3", []), query="SELECT nope FROM crm"
    )
    with tiers.begin() as conn:
        conn.execute(
            sa.update(TierRefreshSource)
            .where(TierRefreshSource.id == "badquery")
            .values(table_name=None)
        )
    TierRefreshScheduler(tiers).tick()
    for source_id in ("down", "nofile", "badquery"):
        [run] = _runs(tiers, source_id)
        assert run.state == "failed" and run.message, source_id
        assert "hunter2" not in run.message
    with tiers.connect() as conn:
        audit = conn.execute(sa.select(AuditEntry.after).where(AuditEntry.action == "refresh"))
        assert all("hunter2" not in str(a) for a in audit.scalars())


def test_sql_rows_is_read_only_and_streams(tmp_path: Path) -> None:
    url = _sqlite_crm(tmp_path / "crm.sqlite3", [("S1", "1", "gold"), ("S2", "2", "vip")])
    rows = sql_rows(url, "SELECT cust, level FROM crm ORDER BY cust", None)
    assert next(rows) == {"cust": "S1", "level": "gold"}
    rows.close()  # closes the connection
    writer = sql_rows(url, "WITH x AS (SELECT 1) SELECT * FROM x", None)
    assert list(writer) == [{"1": 1}]
    # a second statement is refused before anything is sent
    sneaky = sql_rows(
        url, "WITH d AS (SELECT 1) SELECT * FROM d; INSERT INTO crm VALUES ('x','x','x',1)", None
    )
    with pytest.raises(SourceInvalid):
        list(sneaky)


# --- a PostgreSQL source table ---------------------------------------------------------------


@pytest.fixture
def pg_source() -> Iterator[tuple[str, str]]:
    url = os.environ.get("OPENCC_TEST_PG_URL")
    if not url:
        pytest.skip("OPENCC_TEST_PG_URL is not set: PostgreSQL source skipped")
    schema = f"crm_{uuid.uuid4().hex[:10]}"
    admin = make_engine(url)
    with admin.begin() as conn:
        conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
        conn.exec_driver_sql(
            f"CREATE TABLE {schema}.crm (cust text, phone text, level text, seen int)"
        )
        conn.exec_driver_sql(
            f"INSERT INTO {schema}.crm VALUES ('P1', '13855550001', 'vip', 1), "
            "('P2', '13855550002', 'nope', 1), ('P3', '021 5555 0003', 'gold', 1)"
        )
    try:
        yield url, schema
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
        admin.dispose()


def test_postgresql_source_table(
    sqlite_engine: sa.Engine, pg_source: tuple[str, str], tmp_path: Path
) -> None:
    url, schema = pg_source
    with sqlite_engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO tiers (id, name, sl_seconds, sl_target, priority_weight, skip_ivr,"
                " blacklist_action) VALUES (:id, :id, 10, 0.8, 1, false, 'bar')"
            ),
            [{"id": "vip"}, {"id": "gold"}],
        )
    _add_source(sqlite_engine, "pg", url, table_name=f"{schema}.crm")
    TierRefreshScheduler(sqlite_engine).tick()
    [run] = _runs(sqlite_engine, "pg")
    assert (run.state, run.rows_read, run.rejected) == ("refused", 3, 1)
    assert run.errors == [{"line": 2, "field": "tier", "problem": "unknown tier 'nope'"}]
    with sqlite_engine.begin() as conn:
        conn.execute(sa.update(TierRefreshSource).values(valid_rows_only=True, next_run_at=None))
        conn.execute(sa.update(TierRefreshSource).values(run_requested_by="9901"))
    TierRefreshScheduler(sqlite_engine).tick()
    last = _runs(sqlite_engine, "pg")[-1]
    assert (last.state, last.imported, last.rejected) == ("succeeded", 2, 1)
    assert _tier_of(sqlite_engine, "P3") == "gold"
    # a query too, read-only: a writing statement fails inside PostgreSQL
    rows = list(sql_rows(url, f"SELECT cust FROM {schema}.crm ORDER BY cust", None))
    assert [r["cust"] for r in rows] == ["P1", "P2", "P3"]
    read_only = list(sql_rows(url, "SELECT current_setting('transaction_read_only') AS ro", None))
    assert read_only == [{"ro": "on"}]


def test_revision_downgrades_and_upgrades(engine: sa.Engine, tmp_path: Path) -> None:
    from alembic import command

    from cti_server.store import current_revision, head_revision, upgrade
    from cti_server.store.db import alembic_config

    _add_source(engine, "crm", f"sqlite:///{tmp_path}/crm.sqlite3")
    config = alembic_config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0106_qa_scorecards")
    assert current_revision(engine) == "0106_qa_scorecards"
    assert "tier_refresh_sources" not in sa.inspect(engine).get_table_names()
    upgrade(engine)
    assert current_revision(engine) == head_revision()
    assert _count(engine, "tier_refresh_sources") == 0
