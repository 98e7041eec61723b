"""Fixtures of the web-panel tests: a seeded database (SQLite always, PostgreSQL when
``OPENCC_TEST_PG_URL`` is set) and the HTTP app with its ``/ui`` panels on a real
uvicorn port; the notice broadcaster records what it was asked to push."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack

import pytest
import sqlalchemy as sa
from argon2 import PasswordHasher

from cti_server.store import make_engine, seed_demo, upgrade
from cti_server.store.seed import seed_back_office
from cti_server.web import BroadcastNotice
from tests.cti_server.http.http_support import running_stack
from tests.cti_server.web.web_support import WebStack

PG_ENV = "OPENCC_TEST_PG_URL"
FAST_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


def _backends() -> list[object]:
    pg = pytest.param(
        "postgresql",
        marks=pytest.mark.skipif(not os.environ.get(PG_ENV), reason=f"{PG_ENV} not set"),
    )
    return ["sqlite", pg]


@pytest.fixture
def make_web_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[str], sa.Engine]]:
    cleanups: list[Callable[[], None]] = []

    def factory(backend: str) -> sa.Engine:
        if backend == "sqlite":
            folder = tmp_path_factory.mktemp("web-db")
            engine = make_engine(f"sqlite:///{folder}/opencc.sqlite3")
            cleanups.append(engine.dispose)
        else:
            url = os.environ[PG_ENV]
            schema = f"opencc_web_{uuid.uuid4().hex[:12]}"
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
        upgrade(engine)
        seed_demo(engine, customers=50, hasher=FAST_HASHER)
        seed_back_office(engine, hasher=FAST_HASHER)
        return engine

    yield factory
    for cleanup in reversed(cleanups):
        cleanup()


@pytest.fixture(params=_backends())
def web(
    request: pytest.FixtureRequest, make_web_db: Callable[[str], sa.Engine]
) -> Iterator[WebStack]:
    """The seeded demo behind a real HTTP server, on each backend."""
    engine = make_web_db(request.param)
    pushed: list[BroadcastNotice] = []

    def broadcaster(notice: BroadcastNotice) -> int:
        pushed.append(notice)
        return 7

    with ExitStack() as stack:
        served = stack.enter_context(
            running_stack(engine, FAST_HASHER, notice_broadcaster=broadcaster)
        )
        yield WebStack(served, pushed)
