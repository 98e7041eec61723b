"""Fixtures of the web-panel tests: a seeded database (SQLite always, PostgreSQL when
``OPENCC_TEST_PG_URL`` is set) and the HTTP app with its ``/ui`` panels on a real
uvicorn port; the notice broadcaster records what it was asked to push."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

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


class _Templates:
    """One migrated and seeded demo database per backend and test session; every test
    gets its own copy (a file copy on SQLite, ``CREATE DATABASE … TEMPLATE`` on
    PostgreSQL), so seeding costs once, not once per test."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.sqlite: Path | None = None
        self.pg_admin: sa.Engine | None = None
        self.pg_template: str | None = None

    @staticmethod
    def _seed(engine: sa.Engine) -> None:
        upgrade(engine)
        seed_demo(engine, customers=50, hasher=FAST_HASHER)
        seed_back_office(engine, hasher=FAST_HASHER)

    def sqlite_copy(self, target: Path) -> sa.Engine:
        if self.sqlite is None:
            path = self.folder / "template.sqlite3"
            engine = make_engine(f"sqlite:///{path}")
            self._seed(engine)
            engine.dispose()  # checkpoints the WAL into the file
            self.sqlite = path
        shutil.copyfile(self.sqlite, target)
        return make_engine(f"sqlite:///{target}")

    def pg_copy(self) -> tuple[sa.Engine, Callable[[], None]]:
        url = sa.make_url(os.environ[PG_ENV])
        if self.pg_admin is None:
            self.pg_admin = make_engine(url).execution_options(isolation_level="AUTOCOMMIT")
        admin = self.pg_admin
        if self.pg_template is None:
            name = f"opencc_web_tpl_{uuid.uuid4().hex[:10]}"
            with admin.connect() as conn:
                conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
            engine = make_engine(url.set(database=name))
            self._seed(engine)
            engine.dispose()
            self.pg_template = name
        copy = f"opencc_web_{uuid.uuid4().hex[:12]}"
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{copy}" TEMPLATE "{self.pg_template}"')
        engine = make_engine(url.set(database=copy))

        def drop() -> None:
            engine.dispose()
            with admin.connect() as conn:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{copy}" WITH (FORCE)')

        return engine, drop

    def close(self) -> None:
        if self.pg_admin is not None:
            if self.pg_template is not None:
                with self.pg_admin.connect() as conn:
                    conn.exec_driver_sql(
                        f'DROP DATABASE IF EXISTS "{self.pg_template}" WITH (FORCE)'
                    )
            self.pg_admin.dispose()


@pytest.fixture(scope="session")
def web_templates(tmp_path_factory: pytest.TempPathFactory) -> Iterator[_Templates]:
    templates = _Templates(tmp_path_factory.mktemp("web-template"))
    yield templates
    templates.close()


@pytest.fixture
def make_web_db(
    tmp_path_factory: pytest.TempPathFactory, web_templates: _Templates
) -> Iterator[Callable[[str], sa.Engine]]:
    """A fresh copy of the seeded demo database on ``backend``."""
    cleanups: list[Callable[[], None]] = []

    def factory(backend: str) -> sa.Engine:
        if backend == "sqlite":
            folder = tmp_path_factory.mktemp("web-db")
            engine = web_templates.sqlite_copy(folder / "opencc.sqlite3")
            cleanups.append(engine.dispose)
            return engine
        engine, drop = web_templates.pg_copy()
        cleanups.append(drop)
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
