"""Outbound campaigns: definitions, call-guide scripts, questionnaires, attempts and
answers (issue 9, docs/outbound.md "Campaigns")

Revision ID: 0110_campaigns
Revises: 0109_outbound
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

revision: str = "0110_campaigns"
down_revision: str | None = "0109_outbound"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "cmp_scripts",
        sa.Column("id", BIGINT_PK, autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("sections", JSON, nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cmp_scripts")),
        sa.UniqueConstraint("name", name=op.f("uq_cmp_scripts_name")),
    )
    op.create_table(
        "cmp_questionnaires",
        sa.Column("id", BIGINT_PK, autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("questions", JSON, nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cmp_questionnaires")),
        sa.UniqueConstraint("name", name=op.f("uq_cmp_questionnaires_name")),
    )
    op.create_table(
        "cmp_campaigns",
        sa.Column("id", BIGINT_PK, autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("classification", sa.String(length=16), nullable=False),
        sa.Column("list_id", BIGINT_PK, nullable=True),
        sa.Column("dial_mode", sa.String(length=16), nullable=False),
        sa.Column("power_ratio", sa.Float(), nullable=False),
        sa.Column("abandon_ceiling", sa.Float(), nullable=False),
        sa.Column("strategy", JSON, nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("script_id", BIGINT_PK, nullable=True),
        sa.Column("questionnaire_id", BIGINT_PK, nullable=True),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(
            ["list_id"],
            ["ob_target_lists.id"],
            name=op.f("fk_cmp_campaigns_list_id_ob_target_lists"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["script_id"],
            ["cmp_scripts.id"],
            name=op.f("fk_cmp_campaigns_script_id_cmp_scripts"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["questionnaire_id"],
            ["cmp_questionnaires.id"],
            name=op.f("fk_cmp_campaigns_questionnaire_id_cmp_questionnaires"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cmp_campaigns")),
        sa.UniqueConstraint("name", name=op.f("uq_cmp_campaigns_name")),
    )
    op.create_table(
        "cmp_attempts",
        sa.Column("id", BIGINT_PK, autoincrement=True, nullable=False),
        sa.Column("campaign_id", BIGINT_PK, nullable=False),
        sa.Column("record_id", BIGINT_PK, nullable=True),
        sa.Column("phone", sa.String(length=32), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("right_party", sa.Boolean(), nullable=False),
        sa.Column("conversion", sa.Boolean(), nullable=False),
        sa.Column("agent_id", sa.String(length=64), nullable=True),
        sa.Column("started_at", TIMESTAMP, nullable=False),
        sa.Column("answered_at", TIMESTAMP, nullable=True),
        sa.Column("ended_at", TIMESTAMP, nullable=True),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["cmp_campaigns.id"],
            name=op.f("fk_cmp_attempts_campaign_id_cmp_campaigns"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cmp_attempts")),
    )
    op.create_index(
        op.f("ix_cmp_attempts_campaign_id"), "cmp_attempts", ["campaign_id"], unique=False
    )
    op.create_table(
        "cmp_answers",
        sa.Column("id", BIGINT_PK, autoincrement=True, nullable=False),
        sa.Column("attempt_id", BIGINT_PK, nullable=False),
        sa.Column("questionnaire_id", BIGINT_PK, nullable=True),
        sa.Column("question_id", sa.String(length=64), nullable=False),
        sa.Column("value", JSON, nullable=False),
        sa.Column("answered_by", sa.String(length=64), nullable=False),
        sa.Column("answered_at", TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(
            ["attempt_id"],
            ["cmp_attempts.id"],
            name=op.f("fk_cmp_answers_attempt_id_cmp_attempts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cmp_answers")),
        sa.UniqueConstraint(
            "attempt_id", "question_id", name=op.f("uq_cmp_answers_attempt_id_question_id")
        ),
    )
    op.create_index(op.f("ix_cmp_answers_attempt_id"), "cmp_answers", ["attempt_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_cmp_answers_attempt_id"), table_name="cmp_answers")
    op.drop_table("cmp_answers")
    op.drop_index(op.f("ix_cmp_attempts_campaign_id"), table_name="cmp_attempts")
    op.drop_table("cmp_attempts")
    op.drop_table("cmp_campaigns")
    op.drop_table("cmp_questionnaires")
    op.drop_table("cmp_scripts")
