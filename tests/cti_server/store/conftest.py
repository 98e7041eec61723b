"""Fixtures of the store tests.

SQLite tests use a file database in ``tmp_path`` (WAL needs a file). PostgreSQL
tests run when ``OPENCC_TEST_PG_URL`` is set (e.g.
``postgresql+psycopg://postgres@127.0.0.1:5432/test``); each test gets a fresh
schema (first on the ``search_path``) that is dropped afterwards, so parallel
runs and other suites never see each other's tables.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator

import pytest
import sqlalchemy as sa
from argon2 import PasswordHasher

from cti_server.store import make_engine, upgrade

PG_ENV = "OPENCC_TEST_PG_URL"
BACKENDS = ("sqlite", "postgresql")


@pytest.fixture(scope="session")
def fast_hasher() -> PasswordHasher:
    """Cheap argon2 parameters so tests hash quickly (production uses the defaults)."""
    return PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


def _pg_url() -> str:
    url = os.environ.get(PG_ENV)
    if not url:
        pytest.skip(f"{PG_ENV} is not set: PostgreSQL tests skipped")
    return url


@pytest.fixture
def make_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., sa.Engine]]:
    """Factory: ``make_db("sqlite"|"postgresql", migrate=True)`` -> a fresh, empty database."""
    cleanups: list[Callable[[], None]] = []

    def factory(backend: str, *, migrate: bool = True) -> sa.Engine:
        if backend == "sqlite":
            folder = tmp_path_factory.mktemp("db")
            engine = make_engine(f"sqlite:///{folder}/nested/opencc.sqlite3")
            cleanups.append(engine.dispose)
        elif backend == "postgresql":
            url = _pg_url()
            schema = f"opencc_test_{uuid.uuid4().hex[:12]}"
            admin = make_engine(url)
            with admin.begin() as conn:
                conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
            engine = make_engine(url, schema=schema)

            def drop(engine: sa.Engine = engine, admin: sa.Engine = admin) -> None:
                engine.dispose()
                with admin.begin() as conn:
                    conn.exec_driver_sql(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
                admin.dispose()

            cleanups.append(drop)
        else:
            raise ValueError(backend)
        if migrate:
            upgrade(engine)
        return engine

    yield factory
    for cleanup in reversed(cleanups):
        cleanup()


@pytest.fixture(params=BACKENDS)
def engine(request: pytest.FixtureRequest, make_db: Callable[..., sa.Engine]) -> sa.Engine:
    """A migrated, empty database on each backend."""
    return make_db(request.param)


@pytest.fixture
def sqlite_engine(make_db: Callable[..., sa.Engine]) -> sa.Engine:
    return make_db("sqlite")


@pytest.fixture
def tiers(engine: sa.Engine) -> sa.Engine:
    """``engine`` with the three demo tiers (vip / gold / normal)."""
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO tiers (id, name, sl_seconds, sl_target, priority_weight, skip_ivr,"
                " blacklist_action) VALUES (:id, :name, :s, :t, :w, :skip, 'bar')"
            ),
            [
                {"id": "vip", "name": "VIP", "s": 10, "t": 0.9, "w": 3, "skip": True},
                {"id": "gold", "name": "金卡", "s": 15, "t": 0.85, "w": 2, "skip": False},
                {"id": "normal", "name": "普通", "s": 20, "t": 0.8, "w": 1, "skip": False},
            ],
        )
    return engine
