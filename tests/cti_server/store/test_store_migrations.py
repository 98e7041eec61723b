"""Schema migrations on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from cti_server.store import current_revision, head_revision, make_engine, upgrade
from cti_server.store.errors import StoreError
from cti_server.store.models import Base

EXPECTED_TABLES = {
    "agent_group_members",
    "agent_group_tiers",
    "agent_groups",
    "agent_skills",
    "agents",
    "audit_log",
    "calendars",
    "call_events",
    "calls",
    "contact_records",
    "customer_numbers",
    "customers",
    "ivr_flows",
    "queues",
    "reason_codes",
    "skills",
    "tiers",
}


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_upgrade_creates_schema_and_second_run_is_a_no_op(
    backend: str, make_db: Callable[..., sa.Engine]
) -> None:
    engine = make_db(backend, migrate=False)
    assert current_revision(engine) is None
    upgrade(engine)
    assert current_revision(engine) == head_revision()
    tables = set(sa.inspect(engine).get_table_names())
    assert tables >= EXPECTED_TABLES
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO skills (id, name) VALUES ('billing', 'Billing')"))
    upgrade(engine)  # again: nothing changes, data survives
    assert current_revision(engine) == head_revision()
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT name FROM skills")).scalar_one() == "Billing"


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_models_match_the_migrated_schema(backend: str, make_db: Callable[..., sa.Engine]) -> None:
    """The ORM models and the hand-reviewed revision describe the same schema."""
    engine = make_db(backend)
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []


def test_indexes_for_hot_lookups_exist(sqlite_engine: sa.Engine) -> None:
    inspector = sa.inspect(sqlite_engine)
    assert inspector.get_pk_constraint("customer_numbers")["constrained_columns"] == ["number"]
    indexed = {
        (table, tuple(ix["column_names"]))
        for table in ("calls", "audit_log", "customer_numbers", "contact_records")
        for ix in inspector.get_indexes(table)
    }
    assert ("calls", ("arrived_at",)) in indexed
    assert ("audit_log", ("at",)) in indexed
    assert ("customer_numbers", ("customer_id",)) in indexed
    assert ("contact_records", ("customer_id", "started_at")) in indexed


def test_sqlite_engine_uses_wal_and_foreign_keys(tmp_path: Path) -> None:
    """R-TIER-2: WAL lets look-ups read while an import writes; FKs protect integrity (R-IN-4)."""
    path = tmp_path / "deep" / "er" / "cc.sqlite3"
    engine = make_engine(f"sqlite:///{path}")
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert (conn.exec_driver_sql("PRAGMA busy_timeout").scalar() or 0) >= 1000
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL
        assert path.exists()
    finally:
        engine.dispose()


def test_upgrade_accepts_a_url(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/by_url.sqlite3"
    upgrade(url)
    engine = make_engine(url)
    try:
        assert current_revision(engine) == head_revision()
    finally:
        engine.dispose()


def test_unsupported_backend_is_a_typed_error() -> None:
    with pytest.raises(StoreError, match="unsupported database"):
        make_engine("mysql://localhost/x")
