"""Engines, sessions and schema migrations.

SQLite (the embedded default) runs in WAL mode so live look-ups read while an
import writes (R-TIER-2), with foreign keys on, a busy timeout instead of
instant "database is locked" errors and ``synchronous=NORMAL`` (a committed
transaction survives a process crash; use ``FULL`` or PostgreSQL to survive a
power cut as well). PostgreSQL connections are pinged before use so a server
restart costs one reconnect, not an error.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import event
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import StaticPool

from .errors import StoreError

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
SQLITE_BUSY_TIMEOUT_MS = 10_000


def _is_memory_sqlite(url: sa.URL) -> bool:
    return url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:")


def make_engine(
    url: str | sa.URL,
    *,
    echo: bool = False,
    schema: str | None = None,
    sqlite_synchronous: Literal["NORMAL", "FULL"] = "NORMAL",
    pool_size: int | None = None,
) -> sa.Engine:
    """An engine configured for this application.

    ``schema`` (PostgreSQL only) puts that schema first on the ``search_path``
    of every connection, so tables and the Alembic version table live there.
    """
    parsed = sa.make_url(url)
    backend = parsed.get_backend_name()
    kwargs: dict[str, Any] = {"echo": echo}
    if backend == "sqlite":
        if schema is not None:
            raise StoreError("schema= is only supported on PostgreSQL")
        if _is_memory_sqlite(parsed):
            kwargs["poolclass"] = StaticPool
            kwargs["connect_args"] = {"check_same_thread": False}
        else:
            assert parsed.database is not None
            Path(parsed.database).expanduser().resolve().parent.mkdir(parents=True, exist_ok=True)
            if pool_size is not None:
                kwargs["pool_size"] = pool_size
        engine = sa.create_engine(parsed, **kwargs)
        memory = _is_memory_sqlite(parsed)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            try:
                if not memory:
                    cursor.execute("PRAGMA journal_mode=WAL")
                cursor.execute("PRAGMA foreign_keys=ON")
                cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
                cursor.execute(f"PRAGMA synchronous={sqlite_synchronous}")
            finally:
                cursor.close()

        return engine
    if backend == "postgresql":
        kwargs["pool_pre_ping"] = True
        if pool_size is not None:
            kwargs["pool_size"] = pool_size
        if schema is not None:
            if not schema.replace("_", "").isalnum():
                raise StoreError(f"unsafe schema name {schema!r}")
            kwargs["connect_args"] = {"options": f"-csearch_path={schema}"}
        return sa.create_engine(parsed, **kwargs)
    raise StoreError(f"unsupported database {backend!r}: use sqlite or postgresql")


def session_factory(engine: sa.Engine) -> sessionmaker[Session]:
    """Sessions that keep loaded attributes after commit (objects cross threads)."""
    return sessionmaker(bind=engine, expire_on_commit=False)


def alembic_config() -> Config:
    """An Alembic config pointing at the packaged migrations (no alembic.ini needed)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def current_revision(engine: sa.Engine) -> str | None:
    """The revision the database is at, or ``None`` for an empty database."""
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine_or_url: sa.Engine | str | sa.URL, revision: str = "head") -> None:
    """Migrate the database to ``revision``; a database already there is left alone."""
    engine = engine_or_url if isinstance(engine_or_url, sa.Engine) else make_engine(engine_or_url)
    try:
        config = alembic_config()
        with engine.begin() as conn:
            config.attributes["connection"] = conn
            command.upgrade(config, revision)
    finally:
        if engine is not engine_or_url:
            engine.dispose()


def dialect_insert(dialect_name: str, table: Any) -> Any:
    """``INSERT`` with ``on_conflict_do_update``/``do_nothing`` for this backend."""
    if dialect_name == "postgresql":
        return pg_insert(table)
    if dialect_name == "sqlite":
        return sqlite_insert(table)
    raise StoreError(f"unsupported database {dialect_name!r}")
