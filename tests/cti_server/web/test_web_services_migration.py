"""Revision 0104_services_care: down to 0103 drops only its own tables (customers and
their business records stay), up again restores them; on each backend."""

from __future__ import annotations

import os
from collections.abc import Callable

import pytest
import sqlalchemy as sa
from alembic import command

from cti_server.store import current_revision, upgrade
from cti_server.store.db import alembic_config

OWN = {
    "services",
    "service_plans",
    "service_subscriptions",
    "service_orders",
    "service_order_lines",
    "service_operations",
    "marketing_rules",
    "recommendation_responses",
    "care_rules",
    "care_plans",
    "care_actions",
    "survey_results",
}


@pytest.mark.parametrize(
    "backend",
    [
        "sqlite",
        pytest.param(
            "postgresql",
            marks=pytest.mark.skipif(
                not os.environ.get("OPENCC_TEST_PG_URL"), reason="OPENCC_TEST_PG_URL not set"
            ),
        ),
    ],
)
def test_downgrade_drops_only_the_services_tables(
    make_web_db: Callable[[str], sa.Engine], backend: str
) -> None:
    engine = make_web_db(backend)
    assert set(sa.inspect(engine).get_table_names()) >= OWN
    with engine.connect() as conn:
        customers = conn.exec_driver_sql("SELECT count(*) FROM customers").scalar_one()
    config = alembic_config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0103_payments")
    assert current_revision(engine) == "0103_payments"
    tables = set(sa.inspect(engine).get_table_names())
    assert not OWN & tables
    assert {"customers", "business_records", "agents"} <= tables
    upgrade(engine)
    assert set(sa.inspect(engine).get_table_names()) >= OWN
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM customers").scalar_one() == customers
        assert conn.exec_driver_sql("SELECT count(*) FROM services").scalar_one() == 0
