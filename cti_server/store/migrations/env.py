"""Alembic environment of the store.

Normally run through :func:`cti_server.store.db.upgrade`, which passes an open
connection in ``config.attributes["connection"]``. Developers can also use the
Alembic CLI with ``cti_server/store/alembic.ini`` and ``OPENCC_DATABASE_URL``.
"""

from __future__ import annotations

import os

from alembic import context

from cti_server.store.db import make_engine
from cti_server.store.models import Base

config = context.config


def _run(connection: object) -> None:
    context.configure(
        connection=connection,  # type: ignore[arg-type]
        target_metadata=Base.metadata,
        render_as_batch=True,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


given = config.attributes.get("connection")
if given is not None:
    _run(given)
else:
    url = os.environ.get("OPENCC_DATABASE_URL") or config.get_main_option("sqlalchemy.url")
    if not url:
        raise SystemExit("set OPENCC_DATABASE_URL (or sqlalchemy.url in alembic.ini)")
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            _run(conn)
    finally:
        engine.dispose()
