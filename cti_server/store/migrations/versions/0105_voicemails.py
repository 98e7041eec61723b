"""Voicemails left by callers (R-IVR-4, docs/rest_api.md "Voicemails")

Revision ID: 0105_voicemails
Revises: 0104_services_care
Written by hand.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# Plain types on purpose: revisions never import application code.
TIMESTAMP = sa.DateTime(timezone=True)

revision: str = "0105_voicemails"
down_revision: str | None = "0104_services_care"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "voicemails",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("call_id", sa.String(length=64), nullable=False),
        sa.Column("switch_id", sa.String(length=64), nullable=False),
        sa.Column("caller_number", sa.String(length=64), nullable=False),
        sa.Column("mailbox", sa.String(length=64), nullable=False),
        sa.Column("file_name", sa.String(length=255), nullable=False),
        sa.Column("seconds", sa.Float(), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("handled_by", sa.String(length=64), nullable=True),
        sa.Column("handled_at", TIMESTAMP, nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_voicemails")),
        sa.UniqueConstraint("call_id", "file_name", name=op.f("uq_voicemails_call_id_file_name")),
    )
    op.create_index(op.f("ix_voicemails_call_id"), "voicemails", ["call_id"], unique=False)
    op.create_index(op.f("ix_voicemails_mailbox"), "voicemails", ["mailbox"], unique=False)
    op.create_index(op.f("ix_voicemails_state"), "voicemails", ["state"], unique=False)
    op.create_index(op.f("ix_voicemails_created_at"), "voicemails", ["created_at"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_voicemails_created_at"), table_name="voicemails")
    op.drop_index(op.f("ix_voicemails_state"), table_name="voicemails")
    op.drop_index(op.f("ix_voicemails_mailbox"), table_name="voicemails")
    op.drop_index(op.f("ix_voicemails_call_id"), table_name="voicemails")
    op.drop_table("voicemails")
