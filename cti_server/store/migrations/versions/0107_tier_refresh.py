"""Scheduled tier refresh from a SQL source and its run history (R-TIER-3, docs/web.md
"Customer tiers")

Revision ID: 0107_tier_refresh
Revises: 0106_qa_scorecards
Written by hand.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# Plain types on purpose: revisions never import application code.
TIMESTAMP = sa.DateTime(timezone=True)
BIGINT_PK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")

revision: str = "0107_tier_refresh"
down_revision: str | None = "0106_qa_scorecards"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "tier_refresh_sources",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("query", sa.Text(), nullable=True),
        sa.Column("table_name", sa.String(length=200), nullable=True),
        sa.Column("mapping", JSON, nullable=False),
        sa.Column("schedule", sa.String(length=16), nullable=False),
        sa.Column("interval_minutes", sa.Integer(), nullable=True),
        sa.Column("daily_time", sa.String(length=5), nullable=True),
        sa.Column("tz", sa.String(length=64), nullable=False),
        sa.Column("valid_rows_only", sa.Boolean(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("next_run_at", TIMESTAMP, nullable=True),
        sa.Column("run_requested_by", sa.String(length=64), nullable=True),
        sa.Column("updated_by", sa.String(length=64), nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tier_refresh_sources")),
    )
    op.create_index(
        op.f("ix_tier_refresh_sources_next_run_at"),
        "tier_refresh_sources",
        ["next_run_at"],
        unique=False,
    )
    op.create_table(
        "tier_refresh_runs",
        sa.Column("id", BIGINT_PK, autoincrement=True, nullable=False),
        sa.Column("source_id", sa.String(length=64), nullable=False),
        sa.Column("trigger", sa.String(length=16), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("started_at", TIMESTAMP, nullable=False),
        sa.Column("finished_at", TIMESTAMP, nullable=True),
        sa.Column("rows_read", sa.Integer(), nullable=False),
        sa.Column("imported", sa.Integer(), nullable=False),
        sa.Column("updated", sa.Integer(), nullable=False),
        sa.Column("rejected", sa.Integer(), nullable=False),
        sa.Column("duration_seconds", sa.Float(), nullable=False),
        sa.Column("errors", JSON, nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["source_id"],
            ["tier_refresh_sources.id"],
            name=op.f("fk_tier_refresh_runs_source_id_tier_refresh_sources"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tier_refresh_runs")),
    )
    op.create_index(
        op.f("ix_tier_refresh_runs_source_id"), "tier_refresh_runs", ["source_id"], unique=False
    )
    op.create_index(
        op.f("ix_tier_refresh_runs_started_at"), "tier_refresh_runs", ["started_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_tier_refresh_runs_started_at"), table_name="tier_refresh_runs")
    op.drop_index(op.f("ix_tier_refresh_runs_source_id"), table_name="tier_refresh_runs")
    op.drop_table("tier_refresh_runs")
    op.drop_index(op.f("ix_tier_refresh_sources_next_run_at"), table_name="tier_refresh_sources")
    op.drop_table("tier_refresh_sources")
