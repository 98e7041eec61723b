"""Per-queue call recording switch (R-SUP-3, issue 8: queues "strategy, overflow, max
wait, recording")

Revision ID: 0108_queue_recording
Revises: 0107_tier_refresh
Written by hand.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0108_queue_recording"
down_revision: str | None = "0107_tier_refresh"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # existing queues keep recording on (the default)
    with op.batch_alter_table("queues") as batch:
        batch.add_column(
            sa.Column("recording", sa.Boolean(), server_default=sa.true(), nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("queues") as batch:
        batch.drop_column("recording")
