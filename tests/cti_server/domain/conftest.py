"""Fixtures of the domain tests: a seeded database per module and backend, a real
CTI server on port 0 per test, real WebSocket clients (desktops and a simulated switch).

SQLite runs always (a file in a temporary folder); PostgreSQL too when
``OPENCC_TEST_PG_URL`` is set: each module gets a fresh schema, dropped afterwards.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import pytest_asyncio
import sqlalchemy as sa
from argon2 import PasswordHasher

from cti_server.app import CtiApp
from cti_server.domain import DomainConfig
from cti_server.store import make_engine, seed_demo, upgrade
from cti_server.ws import TransportConfig
from shared.config import Settings
from tests.cti_server.domain.domain_support import GRACE, Clients

PG_ENV = "OPENCC_TEST_PG_URL"
FAST_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


def _backends() -> list[Any]:
    pg = pytest.param(
        "postgresql",
        marks=pytest.mark.skipif(not os.environ.get(PG_ENV), reason=f"{PG_ENV} not set"),
    )
    return ["sqlite", pg]


@pytest.fixture(scope="module", params=_backends())
def db(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[sa.Engine]:
    """A migrated database with the demo contact centre (one per module and backend)."""
    if request.param == "sqlite":
        folder = tmp_path_factory.mktemp("domain-db")
        engine = make_engine(f"sqlite:///{folder}/opencc.sqlite3")
        upgrade(engine)
        seed_demo(engine, customers=50, hasher=FAST_HASHER)
        yield engine
        engine.dispose()
        return
    url = os.environ[PG_ENV]
    schema = f"opencc_dom_{uuid.uuid4().hex[:12]}"
    admin = make_engine(url)
    with admin.begin() as conn:
        conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
    engine = make_engine(url, schema=schema)
    try:
        upgrade(engine)
        seed_demo(engine, customers=50, hasher=FAST_HASHER)
        yield engine
    finally:
        engine.dispose()
        with admin.begin() as conn:
            conn.exec_driver_sql(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        admin.dispose()


@pytest_asyncio.fixture
async def app(db: sa.Engine) -> AsyncIterator[CtiApp]:
    """A started CTI server on a free port (tiny heartbeat, grace and timeouts)."""
    server = CtiApp(
        Settings(),
        db=db,
        domain=DomainConfig(command_timeout=0.5, supervisor_interval=0.1, ring_timeout=5.0),
        transport=TransportConfig(
            heartbeat_interval=5.0, disconnect_grace=GRACE, close_timeout=1.0
        ),
        hasher=FAST_HASHER,
    )
    await server.start(host="127.0.0.1", port=0)
    yield server
    await server.stop()


@pytest_asyncio.fixture
async def clients(app: CtiApp) -> AsyncIterator[Clients]:
    made = Clients(app)
    yield made
    await made.close()
