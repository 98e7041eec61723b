"""SQLAlchemy 2 ORM models: configuration, customers, calls and audit.

The schema itself is created by the Alembic revisions in ``migrations/``;
these classes must stay in step with them (a test compares both).
Timestamps are timezone-aware UTC datetimes on every backend.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.orm.attributes import get_history
from sqlalchemy.types import TypeDecorator

from .errors import Conflict, ImmutableVersion

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
    recording: Mapped[bool] = mapped_column(sa.Boolean, default=True, server_default=sa.true())
    """Record the calls of this queue (R-SUP-3); off: the switch does not record them."""


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


# --- work orders (issue 6) ---


class WorkOrder(Base):
    """工单: a fault or complaint routed to a department (R-BIZ-5); ``WO-YYYYMMDD-NNNN``."""

    __tablename__ = "work_orders"
    __table_args__ = (sa.Index("ix_work_orders_department_status", "department", "status"),)

    id: Mapped[str] = mapped_column(sa.String(ID_LEN), primary_key=True)
    customer_id: Mapped[str | None] = mapped_column(
        sa.ForeignKey("customers.id", ondelete="SET NULL"), nullable=True, index=True
    )
    customer_number: Mapped[str] = mapped_column(sa.String(NUMBER_LEN * 2), default="")
    call_id: Mapped[str | None] = mapped_column(sa.String(ID_LEN), nullable=True, index=True)
    contact_id: Mapped[str | None] = mapped_column(
        sa.ForeignKey("contact_records.id", ondelete="SET NULL"), nullable=True
    )
    category_id: Mapped[str] = mapped_column(
        sa.ForeignKey("business_categories.id", ondelete="RESTRICT")
    )
    priority: Mapped[str] = mapped_column(sa.String(16), default="normal")
    title: Mapped[str] = mapped_column(sa.String(200))
    description: Mapped[str] = mapped_column(sa.Text, default="")
    status: Mapped[str] = mapped_column(sa.String(16), default="new", index=True)
    department: Mapped[str | None] = mapped_column(sa.String(200), nullable=True)
    assignee: Mapped[str | None] = mapped_column(sa.String(ID_LEN), nullable=True)
    created_by: Mapped[str] = mapped_column(sa.String(ID_LEN))
    respond_by: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)
    on_site_by: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)
    resolve_by: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow, index=True)
    dispatched_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)
    accepted_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)
    on_site_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)
    resolved_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)
    replied_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)
    closed_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)
    feedback: Mapped[str] = mapped_column(sa.Text, default="")
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)


class WorkOrderEvent(Base):
    """One step of a work order's history (transition, note, feedback, reply); appended."""

    __tablename__ = "work_order_events"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    order_id: Mapped[str] = mapped_column(
        sa.ForeignKey("work_orders.id", ondelete="CASCADE"), index=True
    )
    at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    actor: Mapped[str] = mapped_column(sa.String(ID_LEN))
    kind: Mapped[str] = mapped_column(sa.String(32))
    from_status: Mapped[str | None] = mapped_column(sa.String(16), nullable=True)
    to_status: Mapped[str | None] = mapped_column(sa.String(16), nullable=True)
    department: Mapped[str | None] = mapped_column(sa.String(200), nullable=True)
    text: Mapped[str] = mapped_column(sa.Text, default="")
    data: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)


class CallbackTask(Base):
    """A call back to a customer (R-BIZ-5); outbound campaigns consume the open ones."""

    __tablename__ = "callback_tasks"
    __table_args__ = (sa.Index("ix_callback_tasks_state_due_at", "state", "due_at"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    order_id: Mapped[str | None] = mapped_column(
        sa.ForeignKey("work_orders.id", ondelete="SET NULL"), nullable=True, index=True
    )
    customer_id: Mapped[str | None] = mapped_column(
        sa.ForeignKey("customers.id", ondelete="SET NULL"), nullable=True
    )
    number: Mapped[str] = mapped_column(sa.String(NUMBER_LEN * 2))
    due_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    reason: Mapped[str] = mapped_column(sa.Text, default="")
    state: Mapped[str] = mapped_column(sa.String(16), default="open")
    """``open`` (waiting for a campaign or an agent), ``done``, ``cancelled``."""
    created_by: Mapped[str] = mapped_column(sa.String(ID_LEN))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)


class WorkOrderSlaRule(Base):
    """SLA clocks per category / priority (R-BIZ-5: respond 10 min, on site 60 min);
    ``None`` matches any; the most specific rule wins (category before priority)."""

    __tablename__ = "work_order_sla_rules"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    category_id: Mapped[str | None] = mapped_column(
        sa.ForeignKey("business_categories.id", ondelete="CASCADE"), nullable=True
    )
    priority: Mapped[str | None] = mapped_column(sa.String(16), nullable=True)
    respond_minutes: Mapped[int] = mapped_column(sa.Integer)
    on_site_minutes: Mapped[int | None] = mapped_column(sa.Integer, nullable=True)
    resolve_minutes: Mapped[int | None] = mapped_column(sa.Integer, nullable=True)
    department: Mapped[str | None] = mapped_column(sa.String(200), nullable=True)
    """The department the create form suggests for this category (routing by type)."""
    updated_by: Mapped[str] = mapped_column(sa.String(ID_LEN), default="system")
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)


# --- knowledge base (issue 6) ---


class KbArticle(Base):
    """知识库 article (R-BIZ-3, R-BIZ-9): the stable identity of a versioned text.

    Readers see ``published_version``; ``title``/``category_id``/``tags`` copy that
    version for listings. ``company`` is the owning branch company (keyed like
    ``agents.region``; ``None`` = the provincial centre)."""

    __tablename__ = "kb_articles"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    slug: Mapped[str] = mapped_column(sa.String(100), unique=True)
    title: Mapped[str] = mapped_column(sa.String(200))
    category_id: Mapped[str | None] = mapped_column(
        sa.ForeignKey("business_categories.id", ondelete="SET NULL"), nullable=True, index=True
    )
    tags: Mapped[list[str]] = mapped_column(JSONType, default=list)
    company: Mapped[str | None] = mapped_column(sa.String(100), nullable=True)
    visibility: Mapped[str] = mapped_column(sa.String(16), default="all")
    """``all`` companies, own ``company`` only, or ``shared`` with the ``kb_shares`` rows."""
    status: Mapped[str] = mapped_column(sa.String(16), default="draft")
    current_version: Mapped[int] = mapped_column(sa.Integer, default=0)
    published_version: Mapped[int | None] = mapped_column(sa.Integer, nullable=True)
    created_by: Mapped[str] = mapped_column(sa.String(ID_LEN))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    published_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)


class KbVersion(Base):
    """One saved version of an article; never changed after it is written."""

    __tablename__ = "kb_versions"
    __table_args__ = (sa.UniqueConstraint("article_id", "version"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    article_id: Mapped[int] = mapped_column(
        sa.ForeignKey("kb_articles.id", ondelete="CASCADE"), index=True
    )
    version: Mapped[int] = mapped_column(sa.Integer)
    title: Mapped[str] = mapped_column(sa.String(200))
    body: Mapped[str] = mapped_column(sa.Text, default="")
    category_id: Mapped[str | None] = mapped_column(sa.String(ID_LEN), nullable=True)
    tags: Mapped[list[str]] = mapped_column(JSONType, default=list)
    author: Mapped[str] = mapped_column(sa.String(ID_LEN))
    note: Mapped[str] = mapped_column(sa.String(500), default="")
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)


class KbShare(Base):
    """A company an article with visibility ``shared`` is shared with."""

    __tablename__ = "kb_shares"

    article_id: Mapped[int] = mapped_column(
        sa.ForeignKey("kb_articles.id", ondelete="CASCADE"), primary_key=True
    )
    company: Mapped[str] = mapped_column(sa.String(100), primary_key=True, index=True)


class KbTerm(Base):
    """The search index: a term of a published article and its weight (title > body)."""

    __tablename__ = "kb_terms"
    __table_args__ = (
        # one range read per term: clustered on SQLite, index-only scans on PostgreSQL
        sa.PrimaryKeyConstraint("term", "article_id", postgresql_include=["weight"]),
        {"sqlite_with_rowid": False},
    )

    term: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    article_id: Mapped[int] = mapped_column(
        sa.ForeignKey("kb_articles.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    weight: Mapped[int] = mapped_column(sa.Integer)


class KbLink(Base):
    """A cross-link ``[[slug]]`` in an article's published version (backlinks)."""

    __tablename__ = "kb_links"

    article_id: Mapped[int] = mapped_column(
        sa.ForeignKey("kb_articles.id", ondelete="CASCADE"), primary_key=True
    )
    target_slug: Mapped[str] = mapped_column(sa.String(100), primary_key=True, index=True)


class KbEvent(Base):
    """Usage log: every article view and every search (R-BIZ-3 "a log of every query")."""

    __tablename__ = "kb_events"
    __table_args__ = (sa.Index("ix_kb_events_kind_day", "kind", "day"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow, index=True)
    day: Mapped[str] = mapped_column(sa.String(10))
    """UTC day ``YYYY-MM-DD`` (groups the same way on every backend)."""
    kind: Mapped[str] = mapped_column(sa.String(8))
    """``view`` or ``search``."""
    agent_id: Mapped[str] = mapped_column(sa.String(ID_LEN), index=True)
    article_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("kb_articles.id", ondelete="SET NULL"), nullable=True, index=True
    )
    query: Mapped[str] = mapped_column(sa.Text, default="")
    query_norm: Mapped[str] = mapped_column(sa.String(200), default="")
    result_count: Mapped[int | None] = mapped_column(sa.Integer, nullable=True)


# --- services, acceptance orders, marketing and care (issue 6) ------------------------------

from decimal import Decimal as _SvcMoney  # noqa: E402  (kept inside this block on purpose)

_SVC_MONEY = sa.Numeric(14, 2)


class Service(Base):
    """A service of the catalogue (R-BIZ-2): broadband, mobile plans, TV, VIP packages."""

    __tablename__ = "services"

    code: Mapped[str] = mapped_column(sa.String(ID_LEN), primary_key=True)
    name_zh: Mapped[str] = mapped_column(sa.String(200))
    name_en: Mapped[str] = mapped_column(sa.String(200))
    category: Mapped[str] = mapped_column(sa.String(32))
    monthly_fee: Mapped[_SvcMoney] = mapped_column(_SVC_MONEY)
    vip_only: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    prepaid: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    """Applying for it opens a prepaid account."""
    requires: Mapped[list[str]] = mapped_column(JSONType, default=list)
    conflicts: Mapped[list[str]] = mapped_column(JSONType, default=list)
    position: Mapped[int] = mapped_column(sa.Integer, default=0)
    active: Mapped[bool] = mapped_column(sa.Boolean, default=True)


class ServicePlan(Base):
    """A tariff / payment plan of a service."""

    __tablename__ = "service_plans"

    service_code: Mapped[str] = mapped_column(
        sa.ForeignKey("services.code", ondelete="CASCADE"), primary_key=True
    )
    code: Mapped[str] = mapped_column(sa.String(ID_LEN), primary_key=True)
    name_zh: Mapped[str] = mapped_column(sa.String(200))
    name_en: Mapped[str] = mapped_column(sa.String(200))
    monthly_fee: Mapped[_SvcMoney] = mapped_column(_SVC_MONEY)
    payment: Mapped[str] = mapped_column(sa.String(16), default="monthly")
    """``monthly``, ``annual`` or ``prepaid``."""
    position: Mapped[int] = mapped_column(sa.Integer, default=0)


class ServiceSubscription(Base):
    """A customer's service: one row per customer and service, its state changes."""

    __tablename__ = "service_subscriptions"
    __table_args__ = (sa.UniqueConstraint("customer_id", "service_code"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    customer_id: Mapped[str] = mapped_column(
        sa.ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    service_code: Mapped[str] = mapped_column(sa.ForeignKey("services.code", ondelete="RESTRICT"))
    plan_code: Mapped[str | None] = mapped_column(sa.String(ID_LEN), nullable=True)
    status: Mapped[str] = mapped_column(sa.String(16))
    """``active``, ``reserved`` or ``cancelled``."""
    since: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    until: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)
    order_id: Mapped[str | None] = mapped_column(sa.String(ID_LEN), nullable=True)
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)


class ServiceOrder(Base):
    """An acceptance order: several lines confirmed (or rolled back) together."""

    __tablename__ = "service_orders"

    id: Mapped[str] = mapped_column(sa.String(ID_LEN), primary_key=True)
    customer_id: Mapped[str] = mapped_column(
        sa.ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    call_id: Mapped[str | None] = mapped_column(sa.String(ID_LEN), nullable=True)
    agent_id: Mapped[str] = mapped_column(sa.String(ID_LEN))
    status: Mapped[str] = mapped_column(sa.String(16), default="draft")
    """``draft``, ``confirmed`` or ``rolled_back``."""
    source: Mapped[str] = mapped_column(sa.String(ID_LEN), default="manual")
    remarks: Mapped[str] = mapped_column(sa.Text, default="")
    record_serial: Mapped[str | None] = mapped_column(sa.String(ID_LEN), nullable=True)
    """The R-IN-7 acceptance record written on confirm."""
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    confirmed_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)
    rolled_back_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)
    rolled_back_by: Mapped[str | None] = mapped_column(sa.String(ID_LEN), nullable=True)


class ServiceOrderLine(Base):
    __tablename__ = "service_order_lines"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    order_id: Mapped[str] = mapped_column(
        sa.ForeignKey("service_orders.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int] = mapped_column(sa.Integer)
    action: Mapped[str] = mapped_column(sa.String(16))
    """``apply``, ``change``, ``cancel`` or ``reserve``."""
    service_code: Mapped[str] = mapped_column(sa.String(ID_LEN))
    plan_code: Mapped[str | None] = mapped_column(sa.String(ID_LEN), nullable=True)
    status: Mapped[str] = mapped_column(sa.String(16), default="pending")
    before: Mapped[dict[str, Any] | None] = mapped_column(JSONType, nullable=True)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSONType, nullable=True)


class ServiceOperation(Base):
    """The detailed operation log of acceptance: one row per applied or reversed line."""

    __tablename__ = "service_operations"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    order_id: Mapped[str] = mapped_column(sa.String(ID_LEN), index=True)
    line_id: Mapped[int | None] = mapped_column(sa.BigInteger, nullable=True)
    operation: Mapped[str] = mapped_column(sa.String(16))
    customer_id: Mapped[str] = mapped_column(sa.String(ID_LEN), index=True)
    service_code: Mapped[str | None] = mapped_column(sa.String(ID_LEN), nullable=True)
    actor: Mapped[str] = mapped_column(sa.String(ID_LEN))
    at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    before: Mapped[dict[str, Any] | None] = mapped_column(JSONType, nullable=True)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSONType, nullable=True)
    detail: Mapped[str] = mapped_column(sa.Text, default="")


class MarketingRule(Base):
    """A recommendation rule (R-BIZ-7): conditions on the customer → a service to offer."""

    __tablename__ = "marketing_rules"

    id: Mapped[str] = mapped_column(sa.String(ID_LEN), primary_key=True)
    name_zh: Mapped[str] = mapped_column(sa.String(200))
    name_en: Mapped[str] = mapped_column(sa.String(200))
    tiers: Mapped[list[str]] = mapped_column(JSONType, default=list)
    regions: Mapped[list[str]] = mapped_column(JSONType, default=list)
    has_services: Mapped[list[str]] = mapped_column(JSONType, default=list)
    lacks_services: Mapped[list[str]] = mapped_column(JSONType, default=list)
    min_tenure_days: Mapped[int | None] = mapped_column(sa.Integer, nullable=True)
    min_spend: Mapped[_SvcMoney | None] = mapped_column(_SVC_MONEY, nullable=True)
    max_spend: Mapped[_SvcMoney | None] = mapped_column(_SVC_MONEY, nullable=True)
    service_code: Mapped[str] = mapped_column(sa.ForeignKey("services.code", ondelete="RESTRICT"))
    plan_code: Mapped[str | None] = mapped_column(sa.String(ID_LEN), nullable=True)
    reason_zh: Mapped[str] = mapped_column(sa.Text, default="")
    reason_en: Mapped[str] = mapped_column(sa.Text, default="")
    priority: Mapped[int] = mapped_column(sa.Integer, default=0)
    active: Mapped[bool] = mapped_column(sa.Boolean, default=True)
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)


class RecommendationResponse(Base):
    """An agent accepted or declined a recommendation during a call."""

    __tablename__ = "recommendation_responses"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    rule_id: Mapped[str] = mapped_column(sa.String(ID_LEN), index=True)
    customer_id: Mapped[str] = mapped_column(sa.String(ID_LEN), index=True)
    call_id: Mapped[str | None] = mapped_column(sa.String(ID_LEN), nullable=True)
    agent_id: Mapped[str] = mapped_column(sa.String(ID_LEN))
    service_code: Mapped[str] = mapped_column(sa.String(ID_LEN))
    response: Mapped[str] = mapped_column(sa.String(16))
    reason: Mapped[str] = mapped_column(sa.Text, default="")
    order_id: Mapped[str | None] = mapped_column(sa.String(ID_LEN), nullable=True)
    at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)


class CareRule(Base):
    """A care rule (R-BIZ-8): a trigger on the customer → a care plan."""

    __tablename__ = "care_rules"

    id: Mapped[str] = mapped_column(sa.String(ID_LEN), primary_key=True)
    name_zh: Mapped[str] = mapped_column(sa.String(200))
    name_en: Mapped[str] = mapped_column(sa.String(200))
    trigger: Mapped[str] = mapped_column(sa.String(32))
    """``recent_complaint``, ``tenure_anniversary`` or ``recent_cancellation``."""
    tiers: Mapped[list[str]] = mapped_column(JSONType, default=list)
    window_days: Mapped[int] = mapped_column(sa.Integer, default=30)
    plan_kind: Mapped[str] = mapped_column(sa.String(16))
    """``retention``, ``follow_up`` or ``care_message``."""
    title_zh: Mapped[str] = mapped_column(sa.String(200))
    title_en: Mapped[str] = mapped_column(sa.String(200))
    due_days: Mapped[int] = mapped_column(sa.Integer, default=3)
    active: Mapped[bool] = mapped_column(sa.Boolean, default=True)
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)


class CarePlan(Base):
    __tablename__ = "care_plans"

    id: Mapped[str] = mapped_column(sa.String(ID_LEN), primary_key=True)
    customer_id: Mapped[str] = mapped_column(
        sa.ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(sa.String(16))
    title: Mapped[str] = mapped_column(sa.String(200))
    note: Mapped[str] = mapped_column(sa.Text, default="")
    due_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    state: Mapped[str] = mapped_column(sa.String(16), default="open")
    """``open``, ``postponed``, ``done`` or ``declined``."""
    rule_id: Mapped[str | None] = mapped_column(sa.String(ID_LEN), nullable=True)
    dedupe_key: Mapped[str | None] = mapped_column(sa.String(200), nullable=True, unique=True)
    created_by: Mapped[str] = mapped_column(sa.String(ID_LEN))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)


class CareAction(Base):
    __tablename__ = "care_actions"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    plan_id: Mapped[str] = mapped_column(
        sa.ForeignKey("care_plans.id", ondelete="CASCADE"), index=True
    )
    action: Mapped[str] = mapped_column(sa.String(16))
    note: Mapped[str] = mapped_column(sa.Text, default="")
    agent_id: Mapped[str] = mapped_column(sa.String(ID_LEN))
    call_id: Mapped[str | None] = mapped_column(sa.String(ID_LEN), nullable=True)
    due_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)
    at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)


class SurveyResult(Base):
    """A post-call satisfaction survey (R-IN-5), stored against the call."""

    __tablename__ = "survey_results"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    call_id: Mapped[str] = mapped_column(sa.String(ID_LEN), unique=True)
    agent_id: Mapped[str | None] = mapped_column(sa.String(ID_LEN), nullable=True, index=True)
    customer_id: Mapped[str | None] = mapped_column(sa.String(ID_LEN), nullable=True)
    score: Mapped[int] = mapped_column(sa.Integer)
    """1 (bad) .. 5 (excellent)."""
    answers: Mapped[dict[str, str]] = mapped_column(JSONType, default=dict)
    at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)


# --- voicemails -----------------------------------------------------------------------------


class Voicemail(Base):
    """A voicemail a caller left (R-IVR-4): reported by the switch (``recording_stopped``
    ``voicemail:<file>``); team leads mark it heard, then handled."""

    __tablename__ = "voicemails"
    __table_args__ = (sa.UniqueConstraint("call_id", "file_name"),)

    id: Mapped[str] = mapped_column(sa.String(ID_LEN), primary_key=True)
    call_id: Mapped[str] = mapped_column(sa.String(ID_LEN), index=True)
    switch_id: Mapped[str] = mapped_column(sa.String(ID_LEN), default="")
    caller_number: Mapped[str] = mapped_column(sa.String(NUMBER_LEN * 2), default="")
    mailbox: Mapped[str] = mapped_column(sa.String(ID_LEN), default="", index=True)
    file_name: Mapped[str] = mapped_column(sa.String(255))
    seconds: Mapped[float | None] = mapped_column(sa.Float, nullable=True)
    state: Mapped[str] = mapped_column(sa.String(16), default="new", index=True)
    """``new``, ``heard`` or ``handled``."""
    handled_by: Mapped[str | None] = mapped_column(sa.String(ID_LEN), nullable=True)
    handled_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow, index=True)


# --- payments (issue 6) ---


_CENT = Decimal("0.01")


class Money(TypeDecorator[Decimal]):
    """Exact money (R-BIZ-6): ``Decimal`` with two places in and out, never a float.

    PostgreSQL stores ``numeric(14, 2)``. SQLite has no decimal type (a NUMERIC column
    keeps a binary float), so there the same column holds integer cents: ``balance + x``
    and ``SUM(amount)`` stay exact in SQL on both backends.
    """

    impl = sa.Numeric(14, 2)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: sa.Dialect) -> Any:
        if value is None:
            return None
        if isinstance(value, float):
            raise TypeError(f"money must be a Decimal, not a float: {value!r}")
        amount = Decimal(value).quantize(_CENT)
        return int(amount * 100) if dialect.name == "sqlite" else amount

    def process_result_value(self, value: Any, dialect: sa.Dialect) -> Decimal | None:
        if value is None:
            return None
        if dialect.name == "sqlite":
            return (Decimal(value) / 100).quantize(_CENT)
        return Decimal(value).quantize(_CENT)


class Account(Base):
    """A customer's account (prepaid or postpaid); the id is the account number (digits,
    keyed in on the IVR). Balances live in its ledgers."""

    __tablename__ = "accounts"

    id: Mapped[str] = mapped_column(sa.String(ID_LEN), primary_key=True)
    customer_id: Mapped[str] = mapped_column(
        sa.ForeignKey("customers.id", ondelete="RESTRICT"), index=True
    )
    kind: Mapped[str] = mapped_column(sa.String(16))
    """``prepaid`` or ``postpaid``."""
    status: Mapped[str] = mapped_column(sa.String(16), default="active")
    currency: Mapped[str] = mapped_column(sa.String(3), default="CNY")
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)


class Ledger(Base):
    """One balance of an account (``main``, ``bonus``, ``deposit`` …); only changed
    together with a :class:`LedgerEntry` row carrying the new balance."""

    __tablename__ = "ledgers"
    __table_args__ = (sa.UniqueConstraint("account_id", "kind"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    account_id: Mapped[str] = mapped_column(sa.ForeignKey("accounts.id", ondelete="RESTRICT"))
    kind: Mapped[str] = mapped_column(sa.String(16))
    balance: Mapped[Decimal] = mapped_column(Money)
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)


class LedgerEntry(Base):
    """The append-only journal: every change of a ledger's balance, with the balance after
    it (the sum of a ledger's entries is its balance)."""

    __tablename__ = "ledger_entries"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    ledger_id: Mapped[int] = mapped_column(
        sa.ForeignKey("ledgers.id", ondelete="RESTRICT"), index=True
    )
    account_id: Mapped[str] = mapped_column(sa.String(ID_LEN), index=True)
    amount: Mapped[Decimal] = mapped_column(Money)
    balance_after: Mapped[Decimal] = mapped_column(Money)
    kind: Mapped[str] = mapped_column(sa.String(32))
    """``opening``, ``recharge``, ``adjustment``, ``bill_payment``."""
    receipt_no: Mapped[str | None] = mapped_column(sa.String(ID_LEN), nullable=True, index=True)
    actor: Mapped[str] = mapped_column(sa.String(ID_LEN))
    memo: Mapped[str] = mapped_column(sa.String(200), default="")
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)


@event.listens_for(LedgerEntry, "before_update")
@event.listens_for(LedgerEntry, "before_delete")
def _ledger_entries_are_append_only(_mapper: Any, _conn: Any, target: LedgerEntry) -> None:
    raise Conflict(f"ledger entry {target.id} is part of the journal: append a correction")


class RechargeCard(Base):
    """A recharge card (充值卡): the PIN is stored as a keyed hash (see
    ``cti_server.store.payments.pin_hash``); used exactly once."""

    __tablename__ = "recharge_cards"

    card_no: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    pin_hash: Mapped[str] = mapped_column(sa.String(128))
    face_value: Mapped[Decimal] = mapped_column(Money)
    batch: Mapped[str] = mapped_column(sa.String(64), index=True)
    state: Mapped[str] = mapped_column(sa.String(16), default="unused")
    """``unused``, ``used``, ``void`` (withdrawn) or ``locked`` (too many wrong PINs)."""
    failed_attempts: Mapped[int] = mapped_column(sa.Integer, default=0)
    expires_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    used_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)
    used_by: Mapped[str | None] = mapped_column(sa.String(ID_LEN), nullable=True)
    used_account_id: Mapped[str | None] = mapped_column(sa.String(ID_LEN), nullable=True)
    receipt_no: Mapped[str | None] = mapped_column(sa.String(ID_LEN), nullable=True)


class Receipt(Base):
    """缴费凭证: one credited payment. ``idempotency_key`` is unique: a repeated request
    finds the first receipt instead of crediting again; a card makes one receipt."""

    __tablename__ = "receipts"

    receipt_no: Mapped[str] = mapped_column(sa.String(ID_LEN), primary_key=True)
    account_id: Mapped[str] = mapped_column(
        sa.ForeignKey("accounts.id", ondelete="RESTRICT"), index=True
    )
    customer_id: Mapped[str] = mapped_column(sa.String(ID_LEN), index=True)
    card_no: Mapped[str | None] = mapped_column(sa.String(32), nullable=True, unique=True)
    amount: Mapped[Decimal] = mapped_column(Money)
    kind: Mapped[str] = mapped_column(sa.String(16), default="recharge")
    channel: Mapped[str] = mapped_column(sa.String(16))
    """``phone`` (an agent on a call), ``sms``, ``web`` or ``ivr`` (self-service)."""
    idempotency_key: Mapped[str] = mapped_column(sa.String(128), unique=True)
    agent_id: Mapped[str] = mapped_column(sa.String(ID_LEN))
    """Who took the payment: an agent id, or ``ivr``."""
    call_id: Mapped[str | None] = mapped_column(sa.String(ID_LEN), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow, index=True)


class Bill(Base):
    """A monthly bill of an account (账单查询)."""

    __tablename__ = "bills"
    __table_args__ = (sa.UniqueConstraint("account_id", "period"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    account_id: Mapped[str] = mapped_column(sa.ForeignKey("accounts.id", ondelete="RESTRICT"))
    period: Mapped[str] = mapped_column(sa.String(7))
    """``YYYY-MM``."""
    amount_due: Mapped[Decimal] = mapped_column(Money)
    amount_paid: Mapped[Decimal] = mapped_column(Money)
    due_date: Mapped[dt.date] = mapped_column(sa.Date)
    status: Mapped[str] = mapped_column(sa.String(16), default="open")
    """``open`` or ``paid``."""
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)


class CustomerUnlock(Base):
    """The customer's service password was given in this web session (R-BIZ-4): queries of
    that customer are open to that agent and session until ``expires_at`` (or ``ended_at``,
    or the end of ``call_id``)."""

    __tablename__ = "customer_unlocks"
    __table_args__ = (
        sa.Index("ix_customer_unlocks_agent_id_customer_id", "agent_id", "customer_id"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    agent_id: Mapped[str] = mapped_column(sa.ForeignKey("agents.id", ondelete="CASCADE"))
    customer_id: Mapped[str] = mapped_column(
        sa.ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    session_key: Mapped[str] = mapped_column(sa.String(64))
    """SHA-256 of the web session's CSRF token: another session of the agent is not open."""
    call_id: Mapped[str | None] = mapped_column(sa.String(ID_LEN), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    ended_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)


# --- scheduled tier refresh from a SQL source (R-TIER-3, docs/web.md "Customer tiers") ------


class TierRefreshSource(Base):
    """A SQL database the server reads customers' tiers from on a schedule."""

    __tablename__ = "tier_refresh_sources"

    id: Mapped[str] = mapped_column(sa.String(ID_LEN), primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(200), default="")
    url: Mapped[str] = mapped_column(sa.Text)
    """SQLAlchemy URL (credentials included; shown and logged masked)."""
    query: Mapped[str | None] = mapped_column(sa.Text, nullable=True)
    table_name: Mapped[str | None] = mapped_column(sa.String(200), nullable=True)
    mapping: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    """Importer field -> source column; empty: the importer's column aliases."""
    schedule: Mapped[str] = mapped_column(sa.String(16), default="interval")
    """``interval`` (every ``interval_minutes``) or ``daily`` (at ``daily_time`` in ``tz``)."""
    interval_minutes: Mapped[int | None] = mapped_column(sa.Integer, nullable=True)
    daily_time: Mapped[str | None] = mapped_column(sa.String(5), nullable=True)
    tz: Mapped[str] = mapped_column(sa.String(64), default="UTC")
    valid_rows_only: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    """False: a run with a bad row writes nothing (all or nothing)."""
    enabled: Mapped[bool] = mapped_column(sa.Boolean, default=True)
    next_run_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, nullable=True, index=True)
    run_requested_by: Mapped[str | None] = mapped_column(sa.String(ID_LEN), nullable=True)
    updated_by: Mapped[str] = mapped_column(sa.String(ID_LEN), default="")
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)


class TierRefreshRun(Base):
    """One run of a :class:`TierRefreshSource`: counts, row errors, duration."""

    __tablename__ = "tier_refresh_runs"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    source_id: Mapped[str] = mapped_column(
        sa.ForeignKey("tier_refresh_sources.id", ondelete="CASCADE"), index=True
    )
    trigger: Mapped[str] = mapped_column(sa.String(16))
    """``schedule`` or ``manual``."""
    actor: Mapped[str | None] = mapped_column(sa.String(ID_LEN), nullable=True)
    state: Mapped[str] = mapped_column(sa.String(16))
    """``running``, ``succeeded``, ``refused`` (bad rows, nothing written), ``failed``."""
    started_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow, index=True)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)
    rows_read: Mapped[int] = mapped_column(sa.Integer, default=0)
    imported: Mapped[int] = mapped_column(sa.Integer, default=0)
    updated: Mapped[int] = mapped_column(sa.Integer, default=0)
    rejected: Mapped[int] = mapped_column(sa.Integer, default=0)
    duration_seconds: Mapped[float] = mapped_column(sa.Float, default=0.0)
    errors: Mapped[list[Any]] = mapped_column(JSONType, default=list)
    """The first row errors: ``{line, field, problem}``."""
    message: Mapped[str] = mapped_column(sa.Text, default="")


# --- call recordings and QA scorecards (R-SUP-3, revision 0106_qa_scorecards) ---------------


class CallRecording(Base):
    """A call's recording as the server keeps it: the switch uploads the finished WAV over
    the CTI link in chunks (``call_recording_chunks``); ``state`` is ``receiving`` until
    every byte arrived and the SHA-256 matched, then ``complete``."""

    __tablename__ = "call_recordings"

    id: Mapped[str] = mapped_column(sa.String(ID_LEN), primary_key=True)
    call_id: Mapped[str] = mapped_column(sa.String(ID_LEN), index=True)
    switch_id: Mapped[str] = mapped_column(sa.String(ID_LEN), default="")
    state: Mapped[str] = mapped_column(sa.String(16), default="receiving")
    size: Mapped[int] = mapped_column(sa.Integer)
    received: Mapped[int] = mapped_column(sa.Integer, default=0)
    sha256: Mapped[str] = mapped_column(sa.String(64))
    seconds: Mapped[float | None] = mapped_column(sa.Float, nullable=True)
    started_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    completed_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)


class CallRecordingChunk(Base):
    """Bytes ``offset`` … ``offset + len(data)`` of a recording's WAV file."""

    __tablename__ = "call_recording_chunks"

    recording_id: Mapped[str] = mapped_column(
        sa.ForeignKey("call_recordings.id", ondelete="CASCADE"), primary_key=True
    )
    offset: Mapped[int] = mapped_column(sa.Integer, primary_key=True)
    data: Mapped[bytes] = mapped_column(sa.LargeBinary)


class QaScorecard(Base):
    """A QA scorecard administrators configure: weighted criteria in sections."""

    __tablename__ = "qa_scorecards"
    __table_args__ = (sa.UniqueConstraint("name"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(sa.String(100))
    description: Mapped[str] = mapped_column(sa.Text, default="")
    active: Mapped[bool] = mapped_column(sa.Boolean, default=True)
    created_by: Mapped[str] = mapped_column(sa.String(ID_LEN))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)


class QaCriterion(Base):
    """One line of a scorecard. Evaluations copy it, so later edits do not change them."""

    __tablename__ = "qa_criteria"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    scorecard_id: Mapped[int] = mapped_column(
        BigIntPK, sa.ForeignKey("qa_scorecards.id", ondelete="CASCADE"), index=True
    )
    section: Mapped[str] = mapped_column(sa.String(100))
    label: Mapped[str] = mapped_column(sa.String(200))
    weight: Mapped[float] = mapped_column(sa.Float)
    max_points: Mapped[int] = mapped_column(sa.Integer)
    critical: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    """Scored 0 → the whole evaluation scores 0."""
    position: Mapped[int] = mapped_column(sa.Integer, default=0)
    active: Mapped[bool] = mapped_column(sa.Boolean, default=True)


class QaEvaluation(Base):
    """A call scored against a scorecard; the current score of an append-only history
    (``qa_evaluation_versions``)."""

    __tablename__ = "qa_evaluations"
    __table_args__ = (sa.UniqueConstraint("call_id", "scorecard_id"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    call_id: Mapped[str] = mapped_column(sa.String(ID_LEN), index=True)
    agent_id: Mapped[str] = mapped_column(sa.String(ID_LEN), index=True)
    scorecard_id: Mapped[int] = mapped_column(BigIntPK, sa.ForeignKey("qa_scorecards.id"))
    call_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, index=True)
    version: Mapped[int] = mapped_column(sa.Integer, default=1)
    score: Mapped[float] = mapped_column(sa.Float)
    critical_failed: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    created_by: Mapped[str] = mapped_column(sa.String(ID_LEN))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)


class QaEvaluationVersion(Base):
    """One scoring of an evaluation (never changed: a re-score appends a version)."""

    __tablename__ = "qa_evaluation_versions"
    __table_args__ = (sa.UniqueConstraint("evaluation_id", "version"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    evaluation_id: Mapped[int] = mapped_column(
        BigIntPK, sa.ForeignKey("qa_evaluations.id", ondelete="CASCADE")
    )
    version: Mapped[int] = mapped_column(sa.Integer)
    score: Mapped[float] = mapped_column(sa.Float)
    critical_failed: Mapped[bool] = mapped_column(sa.Boolean)
    items: Mapped[list[dict[str, Any]]] = mapped_column(JSONType)
    """Per criterion: ``criterion_id, section, label, weight, max_points, critical, points``
    (``points`` null = not applicable)."""
    reason: Mapped[str] = mapped_column(sa.Text, default="")
    scored_by: Mapped[str] = mapped_column(sa.String(ID_LEN))
    scored_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)


class QaComment(Base):
    """A comment on an evaluation (append-only)."""

    __tablename__ = "qa_comments"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    evaluation_id: Mapped[int] = mapped_column(
        BigIntPK, sa.ForeignKey("qa_evaluations.id", ondelete="CASCADE"), index=True
    )
    author: Mapped[str] = mapped_column(sa.String(ID_LEN))
    text: Mapped[str] = mapped_column(sa.Text)
    at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)


# --- outbound lists (issue 9: import, extraction sets, target lists, DNC, cooling) -------


class ObSource(Base):
    """One import of a 2-D table (file or SQL table/query) into ``ob_source_rows``."""

    __tablename__ = "ob_sources"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    kind: Mapped[str] = mapped_column(sa.String(16))
    """``csv``, ``xlsx``, ``xls`` or ``sql``."""
    origin: Mapped[str] = mapped_column(sa.Text, default="")
    """File name, or the SQLAlchemy URL (password masked) and table/query."""
    columns: Mapped[list[str]] = mapped_column(JSONType)
    state: Mapped[str] = mapped_column(sa.String(16), default="importing")
    """``importing``, ``succeeded``, ``refused`` (nothing kept) or ``failed``."""
    rows_imported: Mapped[int] = mapped_column(sa.Integer, default=0)
    rows_rejected: Mapped[int] = mapped_column(sa.Integer, default=0)
    created_by: Mapped[str] = mapped_column(sa.String(ID_LEN))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)


class ObSourceRow(Base):
    """One imported row: every source field kept as text, keyed by its column name."""

    __tablename__ = "ob_source_rows"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    source_id: Mapped[int] = mapped_column(
        BigIntPK, sa.ForeignKey("ob_sources.id", ondelete="CASCADE"), index=True
    )
    line: Mapped[int] = mapped_column(sa.Integer)
    data: Mapped[dict[str, Any]] = mapped_column(JSONType)


class ObExtractionSet(Base):
    """Saved conditions + field mapping + classification over one source's rows."""

    __tablename__ = "ob_extraction_sets"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(sa.String(200), unique=True)
    classification: Mapped[str] = mapped_column(sa.String(16))
    source_id: Mapped[int | None] = mapped_column(
        BigIntPK, sa.ForeignKey("ob_sources.id", ondelete="SET NULL"), nullable=True
    )
    conditions: Mapped[dict[str, Any]] = mapped_column(JSONType)
    mapping: Mapped[dict[str, str]] = mapped_column(JSONType)
    created_by: Mapped[str] = mapped_column(sa.String(ID_LEN))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)


class ObTargetList(Base):
    """A list of targets to call (made by running an extraction set, or by hand)."""

    __tablename__ = "ob_target_lists"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    classification: Mapped[str] = mapped_column(sa.String(16))
    set_id: Mapped[int | None] = mapped_column(
        BigIntPK, sa.ForeignKey("ob_extraction_sets.id", ondelete="SET NULL"), nullable=True
    )
    created_by: Mapped[str] = mapped_column(sa.String(ID_LEN))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)


class ObTargetRecord(Base):
    """One target: required phone, name, account, region, type; the dialer's state."""

    __tablename__ = "ob_target_records"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    list_id: Mapped[int] = mapped_column(
        BigIntPK, sa.ForeignKey("ob_target_lists.id", ondelete="CASCADE"), index=True
    )
    phone: Mapped[str] = mapped_column(sa.String(NUMBER_LEN), index=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    account: Mapped[str] = mapped_column(sa.String(100))
    region: Mapped[str] = mapped_column(sa.String(100))
    type: Mapped[str] = mapped_column(sa.String(100))
    tier: Mapped[str] = mapped_column(sa.String(100), default="")
    brand: Mapped[str] = mapped_column(sa.String(100), default="")
    complaint: Mapped[str] = mapped_column(sa.Text, default="")
    source_row_id: Mapped[int | None] = mapped_column(BigIntPK, nullable=True)
    status: Mapped[str] = mapped_column(sa.String(16), default="new")
    """``new``, ``scheduled``, ``dialling``, ``done``, ``failed`` (the dialer moves it)."""
    attempts: Mapped[int] = mapped_column(sa.Integer, default=0)
    last_result: Mapped[str] = mapped_column(sa.String(32), default="")
    last_attempt_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)
    next_attempt_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)


class ObDoNotCall(Base):
    """A number never dialled by outbound campaigns."""

    __tablename__ = "ob_dnc"

    number: Mapped[str] = mapped_column(sa.String(NUMBER_LEN), primary_key=True)
    reason: Mapped[str] = mapped_column(sa.Text, default="")
    added_by: Mapped[str] = mapped_column(sa.String(ID_LEN))
    added_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)


class ObCooling(Base):
    """When a number was last dialled (the cooling period runs from here)."""

    __tablename__ = "ob_cooling"

    number: Mapped[str] = mapped_column(sa.String(NUMBER_LEN), primary_key=True)
    last_dialled_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)


# --- outbound campaigns, scripts, questionnaires, attempts (issue 9, 0110_campaigns) ------


class CmpScript(Base):
    """A call guide: ordered text sections (``{"title", "text"}``) with {placeholders}."""

    __tablename__ = "cmp_scripts"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(sa.String(200), unique=True)
    sections: Mapped[list[dict[str, Any]]] = mapped_column(JSONType)
    created_by: Mapped[str] = mapped_column(sa.String(ID_LEN))
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)


class CmpQuestionnaire(Base):
    """Ordered questions with branching (validated by ``store.campaigns``)."""

    __tablename__ = "cmp_questionnaires"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(sa.String(200), unique=True)
    questions: Mapped[list[dict[str, Any]]] = mapped_column(JSONType)
    created_by: Mapped[str] = mapped_column(sa.String(ID_LEN))
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)


class CmpCampaign(Base):
    """An outbound campaign: target list, dial mode, pacing, strategy JSON, state."""

    __tablename__ = "cmp_campaigns"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(sa.String(200), unique=True)
    classification: Mapped[str] = mapped_column(sa.String(16))
    list_id: Mapped[int | None] = mapped_column(
        BigIntPK, sa.ForeignKey("ob_target_lists.id", ondelete="SET NULL"), nullable=True
    )
    dial_mode: Mapped[str] = mapped_column(sa.String(16))
    power_ratio: Mapped[float] = mapped_column(sa.Float, default=2.0)
    abandon_ceiling: Mapped[float] = mapped_column(sa.Float, default=0.03)
    strategy: Mapped[dict[str, Any]] = mapped_column(JSONType)
    state: Mapped[str] = mapped_column(sa.String(16), default="draft")
    script_id: Mapped[int | None] = mapped_column(
        BigIntPK, sa.ForeignKey("cmp_scripts.id", ondelete="SET NULL"), nullable=True
    )
    questionnaire_id: Mapped[int | None] = mapped_column(
        BigIntPK, sa.ForeignKey("cmp_questionnaires.id", ondelete="SET NULL"), nullable=True
    )
    created_by: Mapped[str] = mapped_column(sa.String(ID_LEN))
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)


class CmpAttempt(Base):
    """One dial attempt of a campaign and its outcome (append-only)."""

    __tablename__ = "cmp_attempts"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    campaign_id: Mapped[int] = mapped_column(
        BigIntPK, sa.ForeignKey("cmp_campaigns.id", ondelete="CASCADE"), index=True
    )
    record_id: Mapped[int | None] = mapped_column(BigIntPK, nullable=True)
    phone: Mapped[str] = mapped_column(sa.String(NUMBER_LEN))
    outcome: Mapped[str] = mapped_column(sa.String(16))
    right_party: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    conversion: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    agent_id: Mapped[str | None] = mapped_column(sa.String(ID_LEN), nullable=True)
    started_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    answered_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)
    ended_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)


class CmpAnswer(Base):
    """One questionnaire answer given during an attempt (append-only)."""

    __tablename__ = "cmp_answers"
    __table_args__ = (sa.UniqueConstraint("attempt_id", "question_id"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    attempt_id: Mapped[int] = mapped_column(
        BigIntPK, sa.ForeignKey("cmp_attempts.id", ondelete="CASCADE"), index=True
    )
    questionnaire_id: Mapped[int | None] = mapped_column(BigIntPK, nullable=True)
    question_id: Mapped[str] = mapped_column(sa.String(ID_LEN))
    value: Mapped[Any] = mapped_column(JSONType)
    answered_by: Mapped[str] = mapped_column(sa.String(ID_LEN))
    answered_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
