"""Revision 0100_web_foundation: down to 0001 and up again keeps the agents and their
skills (plain ALTER TABLE, no table copy that would cascade), on each backend."""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa
from alembic import command

from cti_server.store import current_revision, head_revision, upgrade
from cti_server.store.db import alembic_config


def _counts(engine: sa.Engine) -> tuple[int, int]:
    with engine.connect() as conn:
        agents = conn.exec_driver_sql("SELECT count(*) FROM agents").scalar_one()
        skills = conn.exec_driver_sql("SELECT count(*) FROM agent_skills").scalar_one()
        return int(agents), int(skills)


def test_downgrade_and_upgrade_keep_agents_and_skills(
    make_web_db: Callable[[str], sa.Engine],
) -> None:
    engine = make_web_db("sqlite")
    before = _counts(engine)
    assert before[1] > 0
    config = alembic_config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0001")
    assert current_revision(engine) == "0001"
    assert "business_categories" not in sa.inspect(engine).get_table_names()
    assert "region" not in {c["name"] for c in sa.inspect(engine).get_columns("agents")}
    assert _counts(engine) == before
    upgrade(engine)
    assert current_revision(engine) == head_revision()
    assert _counts(engine) == before
