"""Call recordings kept by the server and QA scorecards (R-SUP-3, docs/web.md
"Recordings and QA")

Revision ID: 0106_qa_scorecards
Revises: 0105_voicemails
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

revision: str = "0106_qa_scorecards"
down_revision: str | None = "0105_voicemails"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "call_recordings",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("call_id", sa.String(length=64), nullable=False),
        sa.Column("switch_id", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("received", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("seconds", sa.Float(), nullable=True),
        sa.Column("started_at", TIMESTAMP, nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("completed_at", TIMESTAMP, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_call_recordings")),
    )
    op.create_index(
        op.f("ix_call_recordings_call_id"), "call_recordings", ["call_id"], unique=False
    )
    op.create_table(
        "call_recording_chunks",
        sa.Column("recording_id", sa.String(length=64), nullable=False),
        sa.Column("offset", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["recording_id"],
            ["call_recordings.id"],
            name=op.f("fk_call_recording_chunks_recording_id_call_recordings"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("recording_id", "offset", name=op.f("pk_call_recording_chunks")),
    )
    op.create_table(
        "qa_scorecards",
        sa.Column("id", BIGINT_PK, autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_qa_scorecards")),
        sa.UniqueConstraint("name", name=op.f("uq_qa_scorecards_name")),
    )
    op.create_table(
        "qa_criteria",
        sa.Column("id", BIGINT_PK, autoincrement=True, nullable=False),
        sa.Column("scorecard_id", BIGINT_PK, nullable=False),
        sa.Column("section", sa.String(length=100), nullable=False),
        sa.Column("label", sa.String(length=200), nullable=False),
        sa.Column("weight", sa.Float(), nullable=False),
        sa.Column("max_points", sa.Integer(), nullable=False),
        sa.Column("critical", sa.Boolean(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["scorecard_id"],
            ["qa_scorecards.id"],
            name=op.f("fk_qa_criteria_scorecard_id_qa_scorecards"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_qa_criteria")),
    )
    op.create_index(
        op.f("ix_qa_criteria_scorecard_id"), "qa_criteria", ["scorecard_id"], unique=False
    )
    op.create_table(
        "qa_evaluations",
        sa.Column("id", BIGINT_PK, autoincrement=True, nullable=False),
        sa.Column("call_id", sa.String(length=64), nullable=False),
        sa.Column("agent_id", sa.String(length=64), nullable=False),
        sa.Column("scorecard_id", BIGINT_PK, nullable=False),
        sa.Column("call_at", TIMESTAMP, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("critical_failed", sa.Boolean(), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(
            ["scorecard_id"],
            ["qa_scorecards.id"],
            name=op.f("fk_qa_evaluations_scorecard_id_qa_scorecards"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_qa_evaluations")),
        sa.UniqueConstraint(
            "call_id", "scorecard_id", name=op.f("uq_qa_evaluations_call_id_scorecard_id")
        ),
    )
    op.create_index(op.f("ix_qa_evaluations_call_id"), "qa_evaluations", ["call_id"], unique=False)
    op.create_index(
        op.f("ix_qa_evaluations_agent_id"), "qa_evaluations", ["agent_id"], unique=False
    )
    op.create_index(op.f("ix_qa_evaluations_call_at"), "qa_evaluations", ["call_at"], unique=False)
    op.create_table(
        "qa_evaluation_versions",
        sa.Column("id", BIGINT_PK, autoincrement=True, nullable=False),
        sa.Column("evaluation_id", BIGINT_PK, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("critical_failed", sa.Boolean(), nullable=False),
        sa.Column("items", JSON, nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("scored_by", sa.String(length=64), nullable=False),
        sa.Column("scored_at", TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(
            ["evaluation_id"],
            ["qa_evaluations.id"],
            name=op.f("fk_qa_evaluation_versions_evaluation_id_qa_evaluations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_qa_evaluation_versions")),
        sa.UniqueConstraint(
            "evaluation_id", "version", name=op.f("uq_qa_evaluation_versions_evaluation_id_version")
        ),
    )
    op.create_table(
        "qa_comments",
        sa.Column("id", BIGINT_PK, autoincrement=True, nullable=False),
        sa.Column("evaluation_id", BIGINT_PK, nullable=False),
        sa.Column("author", sa.String(length=64), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("at", TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(
            ["evaluation_id"],
            ["qa_evaluations.id"],
            name=op.f("fk_qa_comments_evaluation_id_qa_evaluations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_qa_comments")),
    )
    op.create_index(
        op.f("ix_qa_comments_evaluation_id"), "qa_comments", ["evaluation_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_qa_comments_evaluation_id"), table_name="qa_comments")
    op.drop_table("qa_comments")
    op.drop_table("qa_evaluation_versions")
    op.drop_index(op.f("ix_qa_evaluations_call_at"), table_name="qa_evaluations")
    op.drop_index(op.f("ix_qa_evaluations_agent_id"), table_name="qa_evaluations")
    op.drop_index(op.f("ix_qa_evaluations_call_id"), table_name="qa_evaluations")
    op.drop_table("qa_evaluations")
    op.drop_index(op.f("ix_qa_criteria_scorecard_id"), table_name="qa_criteria")
    op.drop_table("qa_criteria")
    op.drop_table("qa_scorecards")
    op.drop_table("call_recording_chunks")
    op.drop_index(op.f("ix_call_recordings_call_id"), table_name="call_recordings")
    op.drop_table("call_recordings")
