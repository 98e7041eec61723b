"""Service catalogue, subscriptions, acceptance orders, marketing and care
(R-BIZ-2, R-BIZ-7, R-BIZ-8)

Revision ID: 0104_services_care
Revises: 0103_payments
Written by hand.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# Plain types on purpose: revisions never import application code.
TIMESTAMP = sa.DateTime(timezone=True)
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
MONEY = sa.Numeric(14, 2)

revision: str = "0104_services_care"
down_revision: str | None = "0103_payments"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _fk(table: str, column: str, target: str, ondelete: str) -> sa.ForeignKeyConstraint:
    ref_table = target.split(".", maxsplit=1)[0]
    return sa.ForeignKeyConstraint(
        [column], [target], name=op.f(f"fk_{table}_{column}_{ref_table}"), ondelete=ondelete
    )


def _index(table: str, *columns: str, unique: bool = False) -> None:
    op.create_index(op.f(f"ix_{table}_{'_'.join(columns)}"), table, list(columns), unique=unique)


_INDEXES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("service_subscriptions", ("customer_id",)),
    ("service_orders", ("customer_id",)),
    ("service_order_lines", ("order_id",)),
    ("service_operations", ("order_id",)),
    ("service_operations", ("customer_id",)),
    ("recommendation_responses", ("rule_id",)),
    ("recommendation_responses", ("customer_id",)),
    ("care_plans", ("customer_id",)),
    ("care_actions", ("plan_id",)),
    ("survey_results", ("agent_id",)),
)


def upgrade() -> None:
    op.create_table(
        "services",
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name_zh", sa.String(length=200), nullable=False),
        sa.Column("name_en", sa.String(length=200), nullable=False),
        sa.Column("category", sa.String(length=32), nullable=False),
        sa.Column("monthly_fee", MONEY, nullable=False),
        sa.Column("vip_only", sa.Boolean(), nullable=False),
        sa.Column("prepaid", sa.Boolean(), nullable=False),
        sa.Column("requires", JSON, nullable=False),
        sa.Column("conflicts", JSON, nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_services")),
    )
    op.create_table(
        "service_plans",
        sa.Column("service_code", sa.String(length=64), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name_zh", sa.String(length=200), nullable=False),
        sa.Column("name_en", sa.String(length=200), nullable=False),
        sa.Column("monthly_fee", MONEY, nullable=False),
        sa.Column("payment", sa.String(length=16), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        _fk("service_plans", "service_code", "services.code", "CASCADE"),
        sa.PrimaryKeyConstraint("service_code", "code", name=op.f("pk_service_plans")),
    )
    op.create_table(
        "service_subscriptions",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("customer_id", sa.String(length=64), nullable=False),
        sa.Column("service_code", sa.String(length=64), nullable=False),
        sa.Column("plan_code", sa.String(length=64), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("since", TIMESTAMP, nullable=False),
        sa.Column("until", TIMESTAMP, nullable=True),
        sa.Column("order_id", sa.String(length=64), nullable=True),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        _fk("service_subscriptions", "customer_id", "customers.id", "CASCADE"),
        _fk("service_subscriptions", "service_code", "services.code", "RESTRICT"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_service_subscriptions")),
        sa.UniqueConstraint(
            "customer_id",
            "service_code",
            name=op.f("uq_service_subscriptions_customer_id_service_code"),
        ),
    )
    op.create_table(
        "service_orders",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("customer_id", sa.String(length=64), nullable=False),
        sa.Column("call_id", sa.String(length=64), nullable=True),
        sa.Column("agent_id", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("remarks", sa.Text(), nullable=False),
        sa.Column("record_serial", sa.String(length=64), nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("confirmed_at", TIMESTAMP, nullable=True),
        sa.Column("rolled_back_at", TIMESTAMP, nullable=True),
        sa.Column("rolled_back_by", sa.String(length=64), nullable=True),
        _fk("service_orders", "customer_id", "customers.id", "CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_service_orders")),
    )
    op.create_table(
        "service_order_lines",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("order_id", sa.String(length=64), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("service_code", sa.String(length=64), nullable=False),
        sa.Column("plan_code", sa.String(length=64), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("before", JSON, nullable=True),
        sa.Column("after", JSON, nullable=True),
        _fk("service_order_lines", "order_id", "service_orders.id", "CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_service_order_lines")),
    )
    op.create_table(
        "service_operations",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("order_id", sa.String(length=64), nullable=False),
        sa.Column("line_id", sa.BigInteger(), nullable=True),
        sa.Column("operation", sa.String(length=16), nullable=False),
        sa.Column("customer_id", sa.String(length=64), nullable=False),
        sa.Column("service_code", sa.String(length=64), nullable=True),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("at", TIMESTAMP, nullable=False),
        sa.Column("before", JSON, nullable=True),
        sa.Column("after", JSON, nullable=True),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_service_operations")),
    )
    op.create_table(
        "marketing_rules",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("name_zh", sa.String(length=200), nullable=False),
        sa.Column("name_en", sa.String(length=200), nullable=False),
        sa.Column("tiers", JSON, nullable=False),
        sa.Column("regions", JSON, nullable=False),
        sa.Column("has_services", JSON, nullable=False),
        sa.Column("lacks_services", JSON, nullable=False),
        sa.Column("min_tenure_days", sa.Integer(), nullable=True),
        sa.Column("min_spend", MONEY, nullable=True),
        sa.Column("max_spend", MONEY, nullable=True),
        sa.Column("service_code", sa.String(length=64), nullable=False),
        sa.Column("plan_code", sa.String(length=64), nullable=True),
        sa.Column("reason_zh", sa.Text(), nullable=False),
        sa.Column("reason_en", sa.Text(), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        _fk("marketing_rules", "service_code", "services.code", "RESTRICT"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_marketing_rules")),
    )
    op.create_table(
        "recommendation_responses",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("rule_id", sa.String(length=64), nullable=False),
        sa.Column("customer_id", sa.String(length=64), nullable=False),
        sa.Column("call_id", sa.String(length=64), nullable=True),
        sa.Column("agent_id", sa.String(length=64), nullable=False),
        sa.Column("service_code", sa.String(length=64), nullable=False),
        sa.Column("response", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("order_id", sa.String(length=64), nullable=True),
        sa.Column("at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recommendation_responses")),
    )
    op.create_table(
        "care_rules",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("name_zh", sa.String(length=200), nullable=False),
        sa.Column("name_en", sa.String(length=200), nullable=False),
        sa.Column("trigger", sa.String(length=32), nullable=False),
        sa.Column("tiers", JSON, nullable=False),
        sa.Column("window_days", sa.Integer(), nullable=False),
        sa.Column("plan_kind", sa.String(length=16), nullable=False),
        sa.Column("title_zh", sa.String(length=200), nullable=False),
        sa.Column("title_en", sa.String(length=200), nullable=False),
        sa.Column("due_days", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_care_rules")),
    )
    op.create_table(
        "care_plans",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("customer_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("due_at", TIMESTAMP, nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("rule_id", sa.String(length=64), nullable=True),
        sa.Column("dedupe_key", sa.String(length=200), nullable=True),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        _fk("care_plans", "customer_id", "customers.id", "CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_care_plans")),
        sa.UniqueConstraint("dedupe_key", name=op.f("uq_care_plans_dedupe_key")),
    )
    op.create_table(
        "care_actions",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("plan_id", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("agent_id", sa.String(length=64), nullable=False),
        sa.Column("call_id", sa.String(length=64), nullable=True),
        sa.Column("due_at", TIMESTAMP, nullable=True),
        sa.Column("at", TIMESTAMP, nullable=False),
        _fk("care_actions", "plan_id", "care_plans.id", "CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_care_actions")),
    )
    op.create_table(
        "survey_results",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("call_id", sa.String(length=64), nullable=False),
        sa.Column("agent_id", sa.String(length=64), nullable=True),
        sa.Column("customer_id", sa.String(length=64), nullable=True),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("answers", JSON, nullable=False),
        sa.Column("at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_survey_results")),
        sa.UniqueConstraint("call_id", name=op.f("uq_survey_results_call_id")),
    )
    for table, columns in _INDEXES:
        _index(table, *columns)


def downgrade() -> None:
    for table, columns in reversed(_INDEXES):
        op.drop_index(op.f(f"ix_{table}_{'_'.join(columns)}"), table_name=table)
    for table in (
        "survey_results",
        "care_actions",
        "care_plans",
        "care_rules",
        "recommendation_responses",
        "marketing_rules",
        "service_operations",
        "service_order_lines",
        "service_orders",
        "service_subscriptions",
        "service_plans",
        "services",
    ):
        op.drop_table(table)
