"""Knowledge base (知识库): articles, versions, categories, search index, usage (R-BIZ-3, R-BIZ-9)

Revision ID: 0102_knowledge_base
Revises: 0101_work_orders
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

revision: str = "0102_knowledge_base"
down_revision: str | None = "0101_work_orders"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _article_fk(table: str, ondelete: str = "CASCADE") -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["article_id"],
        ["kb_articles.id"],
        name=op.f(f"fk_{table}_article_id_kb_articles"),
        ondelete=ondelete,
    )


def upgrade() -> None:
    op.create_table(
        "kb_articles",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("slug", sa.String(length=100), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("category_id", sa.String(length=64), nullable=True),
        sa.Column("tags", JSON, nullable=False),
        sa.Column("company", sa.String(length=100), nullable=True),
        sa.Column("visibility", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("current_version", sa.Integer(), nullable=False),
        sa.Column("published_version", sa.Integer(), nullable=True),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.Column("published_at", TIMESTAMP, nullable=True),
        sa.ForeignKeyConstraint(
            ["category_id"],
            ["business_categories.id"],
            name=op.f("fk_kb_articles_category_id_business_categories"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kb_articles")),
        sa.UniqueConstraint("slug", name=op.f("uq_kb_articles_slug")),
    )
    op.create_index(
        op.f("ix_kb_articles_category_id"), "kb_articles", ["category_id"], unique=False
    )
    op.create_table(
        "kb_versions",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("article_id", BIG_ID, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("category_id", sa.String(length=64), nullable=True),
        sa.Column("tags", JSON, nullable=False),
        sa.Column("author", sa.String(length=64), nullable=False),
        sa.Column("note", sa.String(length=500), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        _article_fk("kb_versions"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kb_versions")),
        sa.UniqueConstraint(
            "article_id", "version", name=op.f("uq_kb_versions_article_id_version")
        ),
    )
    op.create_index(op.f("ix_kb_versions_article_id"), "kb_versions", ["article_id"])
    op.create_table(
        "kb_shares",
        sa.Column("article_id", BIG_ID, nullable=False),
        sa.Column("company", sa.String(length=100), nullable=False),
        _article_fk("kb_shares"),
        sa.PrimaryKeyConstraint("article_id", "company", name=op.f("pk_kb_shares")),
    )
    op.create_index(op.f("ix_kb_shares_company"), "kb_shares", ["company"])
    op.create_table(
        "kb_terms",
        sa.Column("term", sa.String(length=64), nullable=False),
        sa.Column("article_id", BIG_ID, nullable=False),
        sa.Column("weight", sa.Integer(), nullable=False),
        _article_fk("kb_terms"),
        # one range read per term: clustered on SQLite, index-only scans on PostgreSQL
        sa.PrimaryKeyConstraint(
            "term", "article_id", name=op.f("pk_kb_terms"), postgresql_include=["weight"]
        ),
        sqlite_with_rowid=False,
    )
    op.create_index(op.f("ix_kb_terms_article_id"), "kb_terms", ["article_id"])
    op.create_table(
        "kb_links",
        sa.Column("article_id", BIG_ID, nullable=False),
        sa.Column("target_slug", sa.String(length=100), nullable=False),
        _article_fk("kb_links"),
        sa.PrimaryKeyConstraint("article_id", "target_slug", name=op.f("pk_kb_links")),
    )
    op.create_index(op.f("ix_kb_links_target_slug"), "kb_links", ["target_slug"])
    op.create_table(
        "kb_events",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("at", TIMESTAMP, nullable=False),
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("agent_id", sa.String(length=64), nullable=False),
        sa.Column("article_id", BIG_ID, nullable=True),
        sa.Column("query", sa.Text(), nullable=False),
        sa.Column("query_norm", sa.String(length=200), nullable=False),
        sa.Column("result_count", sa.Integer(), nullable=True),
        _article_fk("kb_events", "SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kb_events")),
    )
    op.create_index(op.f("ix_kb_events_at"), "kb_events", ["at"])
    op.create_index(op.f("ix_kb_events_agent_id"), "kb_events", ["agent_id"])
    op.create_index(op.f("ix_kb_events_article_id"), "kb_events", ["article_id"])
    op.create_index("ix_kb_events_kind_day", "kb_events", ["kind", "day"])


def downgrade() -> None:
    op.drop_index("ix_kb_events_kind_day", table_name="kb_events")
    for column in ("article_id", "agent_id", "at"):
        op.drop_index(op.f(f"ix_kb_events_{column}"), table_name="kb_events")
    op.drop_table("kb_events")
    op.drop_index(op.f("ix_kb_links_target_slug"), table_name="kb_links")
    op.drop_table("kb_links")
    op.drop_index(op.f("ix_kb_terms_article_id"), table_name="kb_terms")
    op.drop_table("kb_terms")
    op.drop_index(op.f("ix_kb_shares_company"), table_name="kb_shares")
    op.drop_table("kb_shares")
    op.drop_index(op.f("ix_kb_versions_article_id"), table_name="kb_versions")
    op.drop_table("kb_versions")
    op.drop_index(op.f("ix_kb_articles_category_id"), table_name="kb_articles")
    op.drop_table("kb_articles")
