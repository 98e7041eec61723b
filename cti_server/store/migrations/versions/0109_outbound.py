"""Outbound lists: imported sources and rows, extraction sets, target lists and records,
do-not-call list and per-number cooling (issue 9, docs/web.md "Outbound lists")

Revision ID: 0109_outbound
Revises: 0108_queue_recording
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

revision: str = "0109_outbound"
down_revision: str | None = "0108_queue_recording"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "ob_sources",
        sa.Column("id", BIGINT_PK, autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("origin", sa.Text(), nullable=False),
        sa.Column("columns", JSON, nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("rows_imported", sa.Integer(), nullable=False),
        sa.Column("rows_rejected", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ob_sources")),
    )
    op.create_table(
        "ob_source_rows",
        sa.Column("id", BIGINT_PK, autoincrement=True, nullable=False),
        sa.Column("source_id", BIGINT_PK, nullable=False),
        sa.Column("line", sa.Integer(), nullable=False),
        sa.Column("data", JSON, nullable=False),
        sa.ForeignKeyConstraint(
            ["source_id"],
            ["ob_sources.id"],
            name=op.f("fk_ob_source_rows_source_id_ob_sources"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ob_source_rows")),
    )
    op.create_index(
        op.f("ix_ob_source_rows_source_id"), "ob_source_rows", ["source_id"], unique=False
    )
    op.create_table(
        "ob_extraction_sets",
        sa.Column("id", BIGINT_PK, autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("classification", sa.String(length=16), nullable=False),
        sa.Column("source_id", BIGINT_PK, nullable=True),
        sa.Column("conditions", JSON, nullable=False),
        sa.Column("mapping", JSON, nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(
            ["source_id"],
            ["ob_sources.id"],
            name=op.f("fk_ob_extraction_sets_source_id_ob_sources"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ob_extraction_sets")),
        sa.UniqueConstraint("name", name=op.f("uq_ob_extraction_sets_name")),
    )
    op.create_table(
        "ob_target_lists",
        sa.Column("id", BIGINT_PK, autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("classification", sa.String(length=16), nullable=False),
        sa.Column("set_id", BIGINT_PK, nullable=True),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(
            ["set_id"],
            ["ob_extraction_sets.id"],
            name=op.f("fk_ob_target_lists_set_id_ob_extraction_sets"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ob_target_lists")),
    )
    op.create_table(
        "ob_target_records",
        sa.Column("id", BIGINT_PK, autoincrement=True, nullable=False),
        sa.Column("list_id", BIGINT_PK, nullable=False),
        sa.Column("phone", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("account", sa.String(length=100), nullable=False),
        sa.Column("region", sa.String(length=100), nullable=False),
        sa.Column("type", sa.String(length=100), nullable=False),
        sa.Column("tier", sa.String(length=100), nullable=False),
        sa.Column("brand", sa.String(length=100), nullable=False),
        sa.Column("complaint", sa.Text(), nullable=False),
        sa.Column("source_row_id", BIGINT_PK, nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_result", sa.String(length=32), nullable=False),
        sa.Column("last_attempt_at", TIMESTAMP, nullable=True),
        sa.Column("next_attempt_at", TIMESTAMP, nullable=True),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(
            ["list_id"],
            ["ob_target_lists.id"],
            name=op.f("fk_ob_target_records_list_id_ob_target_lists"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ob_target_records")),
    )
    op.create_index(
        op.f("ix_ob_target_records_list_id"), "ob_target_records", ["list_id"], unique=False
    )
    op.create_index(
        op.f("ix_ob_target_records_phone"), "ob_target_records", ["phone"], unique=False
    )
    op.create_table(
        "ob_dnc",
        sa.Column("number", sa.String(length=32), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("added_by", sa.String(length=64), nullable=False),
        sa.Column("added_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("number", name=op.f("pk_ob_dnc")),
    )
    op.create_table(
        "ob_cooling",
        sa.Column("number", sa.String(length=32), nullable=False),
        sa.Column("last_dialled_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("number", name=op.f("pk_ob_cooling")),
    )


def downgrade() -> None:
    op.drop_table("ob_cooling")
    op.drop_table("ob_dnc")
    op.drop_index(op.f("ix_ob_target_records_phone"), table_name="ob_target_records")
    op.drop_index(op.f("ix_ob_target_records_list_id"), table_name="ob_target_records")
    op.drop_table("ob_target_records")
    op.drop_table("ob_target_lists")
    op.drop_table("ob_extraction_sets")
    op.drop_index(op.f("ix_ob_source_rows_source_id"), table_name="ob_source_rows")
    op.drop_table("ob_source_rows")
    op.drop_table("ob_sources")
