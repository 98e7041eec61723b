"""Web panels: agent regions and departments, business categories, notices, business
records, one-time web tokens and query definitions (docs/web.md)

Revision ID: 0100_web_foundation
Revises: 0001
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

revision: str = "0100_web_foundation"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # plain ALTER TABLE ... ADD COLUMN on both backends (no batch copy of ``agents``)
    op.add_column("agents", sa.Column("region", sa.String(length=100), nullable=True))
    op.add_column("agents", sa.Column("department", sa.String(length=200), nullable=True))
    op.create_table(
        "business_categories",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("parent_id", sa.String(length=64), nullable=True),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("name_zh", sa.String(length=200), nullable=False),
        sa.Column("name_en", sa.String(length=200), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(
            ["parent_id"],
            ["business_categories.id"],
            name=op.f("fk_business_categories_parent_id_business_categories"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_business_categories")),
    )
    op.create_index(
        op.f("ix_business_categories_parent_id"),
        "business_categories",
        ["parent_id"],
        unique=False,
    )
    op.create_table(
        "notices",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("region", sa.String(length=100), nullable=True),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("expires_at", TIMESTAMP, nullable=True),
        sa.Column("pushed_to", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notices")),
    )
    op.create_index(op.f("ix_notices_created_at"), "notices", ["created_at"], unique=False)
    op.create_table(
        "business_records",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("serial_no", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("call_id", sa.String(length=64), nullable=True),
        sa.Column("customer_id", sa.String(length=64), nullable=True),
        sa.Column("customer_number", sa.String(length=64), nullable=False),
        sa.Column("agent_id", sa.String(length=64), nullable=False),
        sa.Column("accessed_at", TIMESTAMP, nullable=False),
        sa.Column("remarks", sa.Text(), nullable=False),
        sa.Column("categories", JSON, nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("result", sa.Text(), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_business_records_customer_id_customers"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_business_records")),
        sa.UniqueConstraint("serial_no", name=op.f("uq_business_records_serial_no")),
    )
    for column in ("call_id", "customer_id", "agent_id"):
        op.create_index(
            op.f(f"ix_business_records_{column}"), "business_records", [column], unique=False
        )
    op.create_table(
        "web_tokens",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("agent_id", sa.String(length=64), nullable=False),
        sa.Column("expires_at", TIMESTAMP, nullable=False),
        sa.Column("used_at", TIMESTAMP, nullable=True),
        sa.ForeignKeyConstraint(
            ["agent_id"],
            ["agents.id"],
            name=op.f("fk_web_tokens_agent_id_agents"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_web_tokens")),
    )
    op.create_index(op.f("ix_web_tokens_agent_id"), "web_tokens", ["agent_id"], unique=False)
    op.create_table(
        "query_definitions",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("name_zh", sa.String(length=200), nullable=False),
        sa.Column("name_en", sa.String(length=200), nullable=False),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("inputs", JSON, nullable=False),
        sa.Column("columns", JSON, nullable=False),
        sa.Column("shape", sa.String(length=8), nullable=False),
        sa.Column("page_size", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_query_definitions")),
    )


def downgrade() -> None:
    op.drop_table("query_definitions")
    op.drop_index(op.f("ix_web_tokens_agent_id"), table_name="web_tokens")
    op.drop_table("web_tokens")
    for column in ("call_id", "customer_id", "agent_id"):
        op.drop_index(op.f(f"ix_business_records_{column}"), table_name="business_records")
    op.drop_table("business_records")
    op.drop_index(op.f("ix_notices_created_at"), table_name="notices")
    op.drop_table("notices")
    op.drop_index(op.f("ix_business_categories_parent_id"), table_name="business_categories")
    # the self-reference would refuse dropping a populated tree on SQLite
    op.execute("UPDATE business_categories SET parent_id = NULL")
    op.drop_table("business_categories")
    # plain ALTER TABLE ... DROP COLUMN (SQLite >= 3.35): a batch copy of ``agents``
    # would cascade-delete the agents' skills and group memberships
    op.drop_column("agents", "department")
    op.drop_column("agents", "region")
