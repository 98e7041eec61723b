"""SQLAlchemy 2 ORM models: configuration, customers, calls and audit.

The schema itself is created by the Alembic revisions in ``migrations/``;
these classes must stay in step with them (a test compares both).
Timestamps are timezone-aware UTC datetimes on every backend.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.orm.attributes import get_history
from sqlalchemy.types import TypeDecorator

from .errors import ImmutableVersion

ID_LEN = 64
NUMBER_LEN = 32


class UtcDateTime(TypeDecorator[dt.datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out (SQLite stores them naive)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: sa.Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: pass an aware (UTC) datetime")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: sa.Dialect) -> dt.datetime | None:
        if value is None:
            return None
        assert isinstance(value, dt.datetime)
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


JSONType = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
BigIntPK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Role(StrEnum):
    AGENT = "agent"
    TEAM_LEAD = "team_lead"
    ADMIN = "admin"
    DEPT_STAFF = "dept_staff"
    """Back-office staff of a city department or the provincial centre (web panels only)."""


class BlacklistAction(StrEnum):
    """What happens to a blacklisted caller of a tier (R-IVR-3); flows apply it."""

    BAR = "bar"  # never reaches an agent
    ALLOW = "allow"  # treated like the tier's other callers


class Base(DeclarativeBase):
    metadata = sa.MetaData(
        naming_convention={
            "ix": "ix_%(table_name)s_%(column_0_N_name)s",
            "uq": "uq_%(table_name)s_%(column_0_N_name)s",
            "ck": "ck_%(table_name)s_%(constraint_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )


# --- configuration -------------------------------------------------------------------------


class Tier(Base):
    __tablename__ = "tiers"

    id: Mapped[str] = mapped_column(sa.String(ID_LEN), primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    sl_seconds: Mapped[float] = mapped_column(sa.Float)
    sl_target: Mapped[float] = mapped_column(sa.Float)  # fraction 0..1
    priority_weight: Mapped[float] = mapped_column(sa.Float, default=1.0)
    skip_ivr: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    blacklist_action: Mapped[str] = mapped_column(sa.String(16), default=BlacklistAction.BAR)


class Skill(Base):
    __tablename__ = "skills"

    id: Mapped[str] = mapped_column(sa.String(ID_LEN), primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(200))


class Agent(Base):
    __tablename__ = "agents"

    id: Mapped[str] = mapped_column(sa.String(ID_LEN), primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    password_hash: Mapped[str] = mapped_column(sa.String(255))
    role: Mapped[str] = mapped_column(sa.String(16), default=Role.AGENT)
    active: Mapped[bool] = mapped_column(sa.Boolean, default=True)
    order_key: Mapped[int] = mapped_column(sa.Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)
    region: Mapped[str | None] = mapped_column(sa.String(100), nullable=True)
    """The customers' region this account may see (R-BIZ-4); ``None`` = every region."""
    department: Mapped[str | None] = mapped_column(sa.String(200), nullable=True)
    """Back-office department (city department, provincial centre) of ``dept_staff``."""


class AgentSkill(Base):
    __tablename__ = "agent_skills"

    agent_id: Mapped[str] = mapped_column(
        sa.ForeignKey("agents.id", ondelete="CASCADE"), primary_key=True
    )
    skill_id: Mapped[str] = mapped_column(
        sa.ForeignKey("skills.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    level: Mapped[int] = mapped_column(sa.Integer)


class AgentGroup(Base):
    __tablename__ = "agent_groups"

    id: Mapped[str] = mapped_column(sa.String(ID_LEN), primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(200))


class AgentGroupMember(Base):
    __tablename__ = "agent_group_members"

    group_id: Mapped[str] = mapped_column(
        sa.ForeignKey("agent_groups.id", ondelete="CASCADE"), primary_key=True
    )
    agent_id: Mapped[str] = mapped_column(
        sa.ForeignKey("agents.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class AgentGroupTier(Base):
    __tablename__ = "agent_group_tiers"

    group_id: Mapped[str] = mapped_column(
        sa.ForeignKey("agent_groups.id", ondelete="CASCADE"), primary_key=True
    )
    tier_id: Mapped[str] = mapped_column(
        sa.ForeignKey("tiers.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class Calendar(Base):
    __tablename__ = "calendars"

    id: Mapped[str] = mapped_column(sa.String(ID_LEN), primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    tz: Mapped[str] = mapped_column(sa.String(64), default="UTC")
    # {"mon": [["09:00", "18:00"]], ...}
    weekly: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    holidays: Mapped[list[str]] = mapped_column(JSONType, default=list)  # ISO dates
    open_days: Mapped[list[str]] = mapped_column(JSONType, default=list)  # ISO dates


class Queue(Base):
    __tablename__ = "queues"

    id: Mapped[str] = mapped_column(sa.String(ID_LEN), primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    skill_id: Mapped[str] = mapped_column(sa.ForeignKey("skills.id"), index=True)
    agent_order: Mapped[str] = mapped_column(sa.String(32), default="longest_idle")
    max_level: Mapped[int | None] = mapped_column(sa.Integer, nullable=True)
    # [{"after": 30, "widen_to_level": 2, "add_groups": [...], "add_queues": [...]}]
    overflow: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    max_wait: Mapped[float | None] = mapped_column(sa.Float, nullable=True)
    max_wait_action: Mapped[str] = mapped_column(sa.String(ID_LEN + 16), default="callback")
    acw_seconds: Mapped[float] = mapped_column(sa.Float, default=0.0)
    calendar_id: Mapped[str | None] = mapped_column(
        sa.ForeignKey("calendars.id", ondelete="SET NULL"), nullable=True
    )


class ReasonCode(Base):
    """Not-ready reasons agents pick (break, training, ...)."""

    __tablename__ = "reason_codes"

    id: Mapped[str] = mapped_column(sa.String(ID_LEN), primary_key=True)
    label: Mapped[str] = mapped_column(sa.String(200))
    paid: Mapped[bool] = mapped_column(sa.Boolean, default=True)
    active: Mapped[bool] = mapped_column(sa.Boolean, default=True)


class IvrFlow(Base):
    """One immutable version of an IVR flow document (R-IVR-5)."""

    __tablename__ = "ivr_flows"

    id: Mapped[str] = mapped_column(sa.String(ID_LEN), primary_key=True)
    version: Mapped[int] = mapped_column(sa.Integer, primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    document: Mapped[dict[str, Any]] = mapped_column(JSONType)
    published: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(sa.String(ID_LEN), default="")


@event.listens_for(IvrFlow, "before_update")
def _flow_versions_are_immutable(_mapper: Any, _connection: Any, target: IvrFlow) -> None:
    """Only the published flag of a stored flow version may change."""
    for attr in ("id", "version", "name", "document"):
        if get_history(target, attr).has_changes():
            raise ImmutableVersion(
                f"ivr flow {target.id}@{target.version}: {attr} cannot change; add a new version"
            )


# --- customers ------------------------------------------------------------------------------


class Customer(Base):
    __tablename__ = "customers"

    id: Mapped[str] = mapped_column(sa.String(ID_LEN), primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(200), default="")
    region: Mapped[str] = mapped_column(sa.String(100), default="")
    tier_id: Mapped[str] = mapped_column(sa.ForeignKey("tiers.id"), index=True)
    blacklisted: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    service_password_hash: Mapped[str | None] = mapped_column(sa.String(255), nullable=True)
    services: Mapped[list[Any]] = mapped_column(JSONType, default=list)
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)


class CustomerNumber(Base):
    """A normalised number (see :mod:`.numbers`) belonging to one customer."""

    __tablename__ = "customer_numbers"

    number: Mapped[str] = mapped_column(sa.String(NUMBER_LEN), primary_key=True)
    customer_id: Mapped[str] = mapped_column(
        sa.ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )


# --- calls ----------------------------------------------------------------------------------


class Call(Base):
    """Summary of one call; the full history is in ``call_events``."""

    __tablename__ = "calls"

    id: Mapped[str] = mapped_column(sa.String(ID_LEN), primary_key=True)
    switch_id: Mapped[str] = mapped_column(sa.String(ID_LEN), default="")
    caller_number: Mapped[str] = mapped_column(sa.String(NUMBER_LEN * 2), default="")
    called_number: Mapped[str] = mapped_column(sa.String(NUMBER_LEN * 2), default="")
    customer_id: Mapped[str | None] = mapped_column(
        sa.ForeignKey("customers.id", ondelete="SET NULL"), nullable=True, index=True
    )
    tier_id: Mapped[str | None] = mapped_column(sa.String(ID_LEN), nullable=True)
    business_selection: Mapped[str] = mapped_column(sa.String(100), default="")
    queue_id: Mapped[str | None] = mapped_column(sa.String(ID_LEN), nullable=True)
    agent_id: Mapped[str | None] = mapped_column(sa.String(ID_LEN), nullable=True, index=True)
    arrived_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, index=True)
    ivr_started_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)
    queued_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)
    offered_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)
    answered_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)
    last_held_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)
    hold_count: Mapped[int] = mapped_column(sa.Integer, default=0)
    hold_seconds: Mapped[float] = mapped_column(sa.Float, default=0.0)
    transferred_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)
    transfer_count: Mapped[int] = mapped_column(sa.Integer, default=0)
    released_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, nullable=True, index=True)
    released_by: Mapped[str] = mapped_column(sa.String(32), default="")
    acw_ended_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)
    disposition: Mapped[str | None] = mapped_column(sa.String(64), nullable=True)
    routing_explanation: Mapped[dict[str, Any] | None] = mapped_column(JSONType, nullable=True)
    trajectory: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)


class CallEvent(Base):
    """One thing that happened to a call; rows are only ever appended."""

    __tablename__ = "call_events"
    __table_args__ = (
        sa.UniqueConstraint("call_id", "seq"),
        sa.UniqueConstraint("call_id", "event_key"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    call_id: Mapped[str] = mapped_column(sa.ForeignKey("calls.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(sa.Integer)
    kind: Mapped[str] = mapped_column(sa.String(32))
    at: Mapped[dt.datetime] = mapped_column(UtcDateTime, index=True)
    data: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    event_key: Mapped[str | None] = mapped_column(sa.String(128), nullable=True)


class ContactRecord(Base):
    """接触记录: one contact with a customer (every call leaves one, R-IN-5)."""

    __tablename__ = "contact_records"
    __table_args__ = (
        sa.Index("ix_contact_records_customer_started", "customer_id", "started_at"),
        sa.Index("ix_contact_records_number_started", "number", "started_at"),
    )

    id: Mapped[str] = mapped_column(sa.String(ID_LEN), primary_key=True)
    call_id: Mapped[str | None] = mapped_column(
        sa.ForeignKey("calls.id", ondelete="SET NULL"), nullable=True, index=True
    )
    customer_id: Mapped[str | None] = mapped_column(
        sa.ForeignKey("customers.id", ondelete="SET NULL"), nullable=True
    )
    number: Mapped[str] = mapped_column(sa.String(NUMBER_LEN * 2), default="")
    agent_id: Mapped[str | None] = mapped_column(sa.String(ID_LEN), nullable=True)
    channel: Mapped[str] = mapped_column(sa.String(16), default="voice")
    direction: Mapped[str] = mapped_column(sa.String(16), default="inbound")
    started_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    ended_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)
    disposition: Mapped[str] = mapped_column(sa.String(64), default="")
    business_selection: Mapped[str] = mapped_column(sa.String(100), default="")
    summary: Mapped[str] = mapped_column(sa.Text, default="")
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)


# --- audit ----------------------------------------------------------------------------------


class AuditEntry(Base):
    __tablename__ = "audit_log"
    __table_args__ = (sa.Index("ix_audit_log_entity", "entity", "entity_id"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(sa.String(ID_LEN))
    action: Mapped[str] = mapped_column(sa.String(32))
    entity: Mapped[str] = mapped_column(sa.String(64))
    entity_id: Mapped[str] = mapped_column(sa.String(200))
    before: Mapped[dict[str, Any] | None] = mapped_column(JSONType, nullable=True)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSONType, nullable=True)


# --- web panels (docs/web.md) ---------------------------------------------------------------


class BusinessCategory(Base):
    """A node of the business category tree (R-BIZ-1); roots are the seven business types."""

    __tablename__ = "business_categories"

    id: Mapped[str] = mapped_column(sa.String(ID_LEN), primary_key=True)
    parent_id: Mapped[str | None] = mapped_column(
        sa.ForeignKey("business_categories.id", ondelete="RESTRICT"), nullable=True, index=True
    )
    kind: Mapped[str] = mapped_column(sa.String(32))
    """The root's business type (acceptance, inquiry, query, complaint, payment, ...)."""
    name_zh: Mapped[str] = mapped_column(sa.String(200))
    name_en: Mapped[str] = mapped_column(sa.String(200))
    position: Mapped[int] = mapped_column(sa.Integer, default=0)
    active: Mapped[bool] = mapped_column(sa.Boolean, default=True)
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)


class Notice(Base):
    """通知通告: a notice for agents and back-office staff (R-BIZ-5 major outages)."""

    __tablename__ = "notices"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    title: Mapped[str] = mapped_column(sa.String(200))
    body: Mapped[str] = mapped_column(sa.Text, default="")
    severity: Mapped[str] = mapped_column(sa.String(16), default="info")
    region: Mapped[str | None] = mapped_column(sa.String(100), nullable=True)
    created_by: Mapped[str] = mapped_column(sa.String(ID_LEN))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow, index=True)
    expires_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)
    pushed_to: Mapped[int] = mapped_column(sa.Integer, default=0)
    """Desktops the broadcast reached when it was created."""


class BusinessRecord(Base):
    """An inquiry or acceptance confirmed on the web pages (R-IN-7); rows are appended."""

    __tablename__ = "business_records"

    id: Mapped[str] = mapped_column(sa.String(ID_LEN), primary_key=True)
    serial_no: Mapped[str] = mapped_column(sa.String(ID_LEN), unique=True)
    kind: Mapped[str] = mapped_column(sa.String(32))
    call_id: Mapped[str | None] = mapped_column(sa.String(ID_LEN), nullable=True, index=True)
    customer_id: Mapped[str | None] = mapped_column(
        sa.ForeignKey("customers.id", ondelete="SET NULL"), nullable=True, index=True
    )
    customer_number: Mapped[str] = mapped_column(sa.String(NUMBER_LEN * 2), default="")
    agent_id: Mapped[str] = mapped_column(sa.String(ID_LEN), index=True)
    accessed_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    remarks: Mapped[str] = mapped_column(sa.Text, default="")
    categories: Mapped[list[str]] = mapped_column(JSONType, default=list)
    status: Mapped[str] = mapped_column(sa.String(32), default="confirmed")
    result: Mapped[str] = mapped_column(sa.Text, default="")
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)


class WebToken(Base):
    """A one-time token the desktop exchanges for a web session (``/ui/sso``)."""

    __tablename__ = "web_tokens"

    token_hash: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    agent_id: Mapped[str] = mapped_column(
        sa.ForeignKey("agents.id", ondelete="CASCADE"), index=True
    )
    expires_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    used_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)


class QueryDefinition(Base):
    """A query/statistics page (R-IN-7) as data: which inputs and result columns it shows."""

    __tablename__ = "query_definitions"

    id: Mapped[str] = mapped_column(sa.String(ID_LEN), primary_key=True)
    name_zh: Mapped[str] = mapped_column(sa.String(200))
    name_en: Mapped[str] = mapped_column(sa.String(200))
    source: Mapped[str] = mapped_column(sa.String(32))
    """A built-in data source of the web package (customers, contacts, business records)."""
    inputs: Mapped[list[str]] = mapped_column(JSONType, default=list)
    columns: Mapped[list[str]] = mapped_column(JSONType, default=list)
    """1-D: the result columns; 2-D: ``[row dimension, column dimension]``."""
    shape: Mapped[str] = mapped_column(sa.String(8), default="table")
    """``table`` (1-D rows) or ``pivot`` (2-D counts)."""
    page_size: Mapped[int] = mapped_column(sa.Integer, default=20)
    position: Mapped[int] = mapped_column(sa.Integer, default=0)
    active: Mapped[bool] = mapped_column(sa.Boolean, default=True)
