"""Prepaid accounts, ledgers, recharge cards and payments (R-BIZ-4, R-BIZ-6)

Money columns are ``numeric(14, 2)``; on SQLite the application stores integer cents in
them (``cti_server.store.models.Money``: SQLite has no exact decimal type).

Revision ID: 0103_payments
Revises: 0102_knowledge_base
Written by hand.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# Plain types on purpose: revisions never import application code.
TIMESTAMP = sa.DateTime(timezone=True)
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
MONEY = sa.Numeric(14, 2)

revision: str = "0103_payments"
down_revision: str | None = "0102_knowledge_base"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "accounts",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("customer_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_accounts_customer_id_customers"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_accounts")),
    )
    op.create_index(op.f("ix_accounts_customer_id"), "accounts", ["customer_id"], unique=False)
    op.create_table(
        "ledgers",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("account_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("balance", MONEY, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_ledgers_account_id_accounts"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledgers")),
        sa.UniqueConstraint("account_id", "kind", name=op.f("uq_ledgers_account_id_kind")),
    )
    op.create_table(
        "ledger_entries",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("ledger_id", BIG_ID, nullable=False),
        sa.Column("account_id", sa.String(length=64), nullable=False),
        sa.Column("amount", MONEY, nullable=False),
        sa.Column("balance_after", MONEY, nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("receipt_no", sa.String(length=64), nullable=True),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("memo", sa.String(length=200), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(
            ["ledger_id"],
            ["ledgers.id"],
            name=op.f("fk_ledger_entries_ledger_id_ledgers"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_entries")),
    )
    for column in ("ledger_id", "account_id", "receipt_no"):
        op.create_index(
            op.f(f"ix_ledger_entries_{column}"), "ledger_entries", [column], unique=False
        )
    op.create_table(
        "recharge_cards",
        sa.Column("card_no", sa.String(length=32), nullable=False),
        sa.Column("pin_hash", sa.String(length=128), nullable=False),
        sa.Column("face_value", MONEY, nullable=False),
        sa.Column("batch", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("failed_attempts", sa.Integer(), nullable=False),
        sa.Column("expires_at", TIMESTAMP, nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("used_at", TIMESTAMP, nullable=True),
        sa.Column("used_by", sa.String(length=64), nullable=True),
        sa.Column("used_account_id", sa.String(length=64), nullable=True),
        sa.Column("receipt_no", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("card_no", name=op.f("pk_recharge_cards")),
    )
    op.create_index(op.f("ix_recharge_cards_batch"), "recharge_cards", ["batch"], unique=False)
    op.create_table(
        "receipts",
        sa.Column("receipt_no", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.String(length=64), nullable=False),
        sa.Column("customer_id", sa.String(length=64), nullable=False),
        sa.Column("card_no", sa.String(length=32), nullable=True),
        sa.Column("amount", MONEY, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("idempotency_key", sa.String(length=128), nullable=False),
        sa.Column("agent_id", sa.String(length=64), nullable=False),
        sa.Column("call_id", sa.String(length=64), nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_receipts_account_id_accounts"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("receipt_no", name=op.f("pk_receipts")),
        sa.UniqueConstraint("card_no", name=op.f("uq_receipts_card_no")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_receipts_idempotency_key")),
    )
    for column in ("account_id", "customer_id", "created_at"):
        op.create_index(op.f(f"ix_receipts_{column}"), "receipts", [column], unique=False)
    op.create_table(
        "bills",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("account_id", sa.String(length=64), nullable=False),
        sa.Column("period", sa.String(length=7), nullable=False),
        sa.Column("amount_due", MONEY, nullable=False),
        sa.Column("amount_paid", MONEY, nullable=False),
        sa.Column("due_date", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_bills_account_id_accounts"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bills")),
        sa.UniqueConstraint("account_id", "period", name=op.f("uq_bills_account_id_period")),
    )
    op.create_table(
        "customer_unlocks",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("agent_id", sa.String(length=64), nullable=False),
        sa.Column("customer_id", sa.String(length=64), nullable=False),
        sa.Column("session_key", sa.String(length=64), nullable=False),
        sa.Column("call_id", sa.String(length=64), nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("expires_at", TIMESTAMP, nullable=False),
        sa.Column("ended_at", TIMESTAMP, nullable=True),
        sa.ForeignKeyConstraint(
            ["agent_id"],
            ["agents.id"],
            name=op.f("fk_customer_unlocks_agent_id_agents"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_customer_unlocks_customer_id_customers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customer_unlocks")),
    )
    op.create_index(
        "ix_customer_unlocks_agent_id_customer_id",
        "customer_unlocks",
        ["agent_id", "customer_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_customer_unlocks_customer_id"), "customer_unlocks", ["customer_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_customer_unlocks_customer_id"), table_name="customer_unlocks")
    op.drop_index("ix_customer_unlocks_agent_id_customer_id", table_name="customer_unlocks")
    op.drop_table("customer_unlocks")
    op.drop_table("bills")
    for column in ("account_id", "customer_id", "created_at"):
        op.drop_index(op.f(f"ix_receipts_{column}"), table_name="receipts")
    op.drop_table("receipts")
    op.drop_index(op.f("ix_recharge_cards_batch"), table_name="recharge_cards")
    op.drop_table("recharge_cards")
    for column in ("ledger_id", "account_id", "receipt_no"):
        op.drop_index(op.f(f"ix_ledger_entries_{column}"), table_name="ledger_entries")
    op.drop_table("ledger_entries")
    op.drop_table("ledgers")
    op.drop_index(op.f("ix_accounts_customer_id"), table_name="accounts")
    op.drop_table("accounts")
