"""Fixtures of the HTTP tests: seeded databases and the app on a real uvicorn port.

SQLite databases live in ``tmp_path``. PostgreSQL runs when ``OPENCC_TEST_PG_URL``
is set (e.g. ``postgresql+psycopg://postgres@127.0.0.1:5432/test``): each test gets
a fresh schema that is dropped afterwards.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import Any

import pytest
import sqlalchemy as sa
from argon2 import PasswordHasher

from cti_server.store import make_engine, seed_demo, upgrade
from tests.cti_server.http.http_support import Stack, running_stack

PG_ENV = "OPENCC_TEST_PG_URL"


@pytest.fixture(scope="session")
def fast_hasher() -> PasswordHasher:
    """Cheap argon2 parameters so tests hash quickly (production uses the defaults)."""
    return PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


@pytest.fixture
def make_db(
    tmp_path_factory: pytest.TempPathFactory, fast_hasher: PasswordHasher
) -> Iterator[Callable[..., sa.Engine]]:
    """``make_db("sqlite"|"postgresql", customers=50)`` -> a migrated, seeded database."""
    cleanups: list[Callable[[], None]] = []

    def factory(backend: str, *, customers: int = 50) -> sa.Engine:
        if backend == "sqlite":
            folder = tmp_path_factory.mktemp("db")
            engine = make_engine(f"sqlite:///{folder}/opencc.sqlite3")
            cleanups.append(engine.dispose)
        elif backend == "postgresql":
            url = os.environ.get(PG_ENV)
            if not url:
                pytest.skip(f"{PG_ENV} is not set: PostgreSQL tests skipped")
            schema = f"opencc_http_{uuid.uuid4().hex[:12]}"
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
        upgrade(engine)
        seed_demo(engine, customers=customers, hasher=fast_hasher)
        return engine

    yield factory
    for cleanup in reversed(cleanups):
        cleanup()


@pytest.fixture
def make_stack(
    make_db: Callable[..., sa.Engine], fast_hasher: PasswordHasher
) -> Iterator[Callable[..., Stack]]:
    """``make_stack(backend="sqlite", **create_app_kwargs)`` -> a served, seeded stack."""
    with ExitStack() as stacks:

        def factory(backend: str = "sqlite", **app_kwargs: Any) -> Stack:
            engine = make_db(backend)
            return stacks.enter_context(running_stack(engine, fast_hasher, **app_kwargs))

        yield factory


@pytest.fixture
def stack(make_stack: Callable[..., Stack]) -> Stack:
    """The seeded demo contact centre (SQLite) behind a real HTTP server."""
    return make_stack()


@pytest.fixture(params=["sqlite", "postgresql"])
def any_stack(request: pytest.FixtureRequest, make_stack: Callable[..., Stack]) -> Stack:
    """Like ``stack``, on each backend (PostgreSQL only with OPENCC_TEST_PG_URL)."""
    return make_stack(request.param)
