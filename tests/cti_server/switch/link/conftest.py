"""Fixtures of the switch-link tests: a seeded SQLite file per module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from cti_server.store import make_engine, seed_demo, upgrade
from tests.cti_server.switch.link.link_support import FAST_HASHER


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[sa.Engine]:
    """A migrated SQLite database with the demo contact centre (one per module)."""
    folder = tmp_path_factory.mktemp("link-db")
    engine = make_engine(f"sqlite:///{folder}/opencc.sqlite3")
    upgrade(engine)
    seed_demo(engine, customers=20, hasher=FAST_HASHER)
    yield engine
    engine.dispose()
