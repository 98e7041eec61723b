"""Blocking data access of the work-order pages (工单, R-BIZ-5); pages run these in threads.

A work order is created from a call (or for a typed customer), dispatched to a
department, accepted / rejected / transferred there, worked on (notes, arrival on
site), resolved with feedback, replied to the customer and closed. Every step appends a
``work_order_events`` row and an audit row in the same transaction; a step the order's
status does not allow raises :class:`Conflict` and changes nothing.

Who may act:

* desk roles (agent, team lead, admin) create, dispatch, note, reply, create callback
  tasks and close — for customers of their region (R-BIZ-4);
* ``dept_staff`` accept, reject, transfer, note, report arrival on site and resolve —
  only orders assigned to their own department (and their region, if they have one);
  anything else is :class:`Refused` (``department``) and audited by the page.

SLA clocks (respond, on site, resolve) come from ``work_order_sla_rules`` when the order
is created; :data:`clock` is the time source (tests replace it).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from cti_server.store import audit
from cti_server.store.models import (
    Agent,
    BusinessCategory,
    Call,
    CallbackTask,
    CallEvent,
    ContactRecord,
    Customer,
    CustomerNumber,
    Role,
    WorkOrder,
    WorkOrderEvent,
    WorkOrderSlaRule,
    utcnow,
)
from cti_server.store.numbers import try_normalise

from .data import Invalid, Page, Refused, WebUser, _check_customer, _find_customer

clock: Callable[[], dt.datetime] = utcnow
"""Current time of the SLA clocks (tests swap it for a controllable one)."""

PRIORITIES = ("low", "normal", "high", "urgent")
STATUSES = (
    "new",
    "dispatched",
    "transferred",
    "accepted",
    "in_progress",
    "resolved",
    "replied",
    "closed",
    "rejected",
)
OPEN_STATUSES = tuple(s for s in STATUSES if s != "closed")
REPLY_CHANNELS = ("phone", "sms", "email", "wechat")
EVENT_KINDS = (
    "created",
    "dispatched",
    "accepted",
    "rejected",
    "transferred",
    "note",
    "on_site",
    "resolved",
    "replied",
    "callback",
    "closed",
)
DEFAULT_SLA = (10, 60, 24 * 60)
"""Respond / on site / resolve minutes when no rule matches (R-BIZ-5: 10 and 60)."""

DESK = frozenset({Role.AGENT, Role.TEAM_LEAD, Role.ADMIN})

# action -> statuses it may start from, status it leads to (None: unchanged), who
_ACTIONS: dict[str, tuple[frozenset[str], str | None, str]] = {
    "dispatch": (frozenset({"new", "rejected"}), "dispatched", "desk"),
    "accept": (frozenset({"dispatched", "transferred"}), "accepted", "dept"),
    "reject": (frozenset({"dispatched", "transferred"}), "rejected", "dept"),
    "transfer": (
        frozenset({"dispatched", "transferred", "accepted", "in_progress"}),
        "transferred",
        "dept",
    ),
    "on_site": (frozenset({"accepted"}), "in_progress", "dept"),
    "resolve": (frozenset({"accepted", "in_progress"}), "resolved", "dept"),
    "reply": (frozenset({"resolved"}), "replied", "desk"),
    "close": (frozenset({"replied", "rejected"}), "closed", "desk"),
    "note": (frozenset(OPEN_STATUSES), None, "any"),
    "callback": (frozenset(STATUSES), None, "desk"),
}
ACTIONS = tuple(_ACTIONS)
_EVENT_OF = {
    "dispatch": "dispatched",
    "accept": "accepted",
    "reject": "rejected",
    "transfer": "transferred",
    "on_site": "on_site",
    "resolve": "resolved",
    "reply": "replied",
    "close": "closed",
    "note": "note",
    "callback": "callback",
}


class Conflict(Exception):
    """The step is not allowed in the order's current status (the page answers 409)."""

    def __init__(self, order_id: str, action: str, status: str) -> None:
        super().__init__(f"{action} not allowed on {order_id} in status {status}")
        self.order_id = order_id
        self.action = action
        self.status = status


def _now() -> dt.datetime:
    return clock()


# --- SLA ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SlaClock:
    """One SLA clock as a page shows it: minutes left, minutes overdue, or met/late."""

    name: str
    due: dt.datetime | None
    stopped: dt.datetime | None
    state: str  # none | running | overdue | met | late
    minutes: int

    @property
    def bad(self) -> bool:
        return self.state in ("overdue", "late")


def sla_clock(
    name: str, due: dt.datetime | None, stopped: dt.datetime | None, now: dt.datetime
) -> SlaClock:
    """``running``: whole minutes left (rounded down); ``overdue``: minutes past due
    (rounded up, so a late order never shows 0); ``met`` / ``late`` once stopped."""
    if due is None:
        return SlaClock(name, None, stopped, "none", 0)
    if stopped is not None:
        late = (stopped - due).total_seconds()
        if late > 0:
            return SlaClock(name, due, stopped, "late", math.ceil(late / 60))
        return SlaClock(name, due, stopped, "met", 0)
    left = (due - now).total_seconds()
    if left >= 0:
        return SlaClock(name, due, None, "running", int(left // 60))
    return SlaClock(name, due, None, "overdue", math.ceil(-left / 60))


def _clocks(row: WorkOrder, now: dt.datetime) -> tuple[SlaClock, ...]:
    # the respond clock stops at acceptance, on site at arrival (or resolution without a
    # visit), resolve at resolution; closing (e.g. a rejected order) stops them all
    closed = row.closed_at
    return (
        sla_clock("respond", row.respond_by, row.accepted_at or closed, now),
        sla_clock("on_site", row.on_site_by, row.on_site_at or row.resolved_at or closed, now),
        sla_clock("resolve", row.resolve_by, row.resolved_at or closed, now),
    )


def overdue_clause(now: dt.datetime) -> Any:
    """SQL: an open order with a running clock past its due time."""
    return sa.and_(
        WorkOrder.status != "closed",
        sa.or_(
            sa.and_(WorkOrder.accepted_at.is_(None), WorkOrder.respond_by < now),
            sa.and_(
                WorkOrder.on_site_at.is_(None),
                WorkOrder.resolved_at.is_(None),
                WorkOrder.on_site_by < now,
            ),
            sa.and_(WorkOrder.resolved_at.is_(None), WorkOrder.resolve_by < now),
        ),
    )


@dataclass(frozen=True, slots=True)
class SlaRuleView:
    rule_id: int
    category_id: str | None
    priority: str | None
    respond_minutes: int
    on_site_minutes: int | None
    resolve_minutes: int | None
    department: str | None
    updated_by: str
    updated_at: dt.datetime


def _rule_for(
    session: Session, category_id: str, priority: str
) -> tuple[int, int | None, int | None, str | None]:
    """The most specific rule: the category (or its nearest ancestor) with this priority,
    then that category for any priority, up the tree, then any category."""
    rules = list(session.scalars(sa.select(WorkOrderSlaRule)))
    by_key = {(r.category_id, r.priority): r for r in rules}
    chain: list[str | None] = []
    walk: str | None = category_id
    seen: set[str] = set()
    while walk is not None and walk not in seen:
        seen.add(walk)
        chain.append(walk)
        walk = session.scalar(
            sa.select(BusinessCategory.parent_id).where(BusinessCategory.id == walk)
        )
    chain.append(None)
    for category in chain:
        for prio in (priority, None):
            rule = by_key.get((category, prio))
            if rule is not None:
                return (
                    rule.respond_minutes,
                    rule.on_site_minutes,
                    rule.resolve_minutes,
                    rule.department,
                )
    return (*DEFAULT_SLA, None)


def sla_rules(sessions: sessionmaker[Session]) -> list[SlaRuleView]:
    with sessions() as session:
        rows = session.scalars(
            sa.select(WorkOrderSlaRule).order_by(
                WorkOrderSlaRule.category_id.is_not(None),
                WorkOrderSlaRule.category_id,
                WorkOrderSlaRule.priority.is_not(None),
                WorkOrderSlaRule.priority,
                WorkOrderSlaRule.id,
            )
        )
        return [
            SlaRuleView(
                r.id,
                r.category_id,
                r.priority,
                r.respond_minutes,
                r.on_site_minutes,
                r.resolve_minutes,
                r.department,
                r.updated_by,
                r.updated_at,
            )
            for r in rows
        ]


def _minutes(text: str, *, required: bool) -> int | None:
    text = text.strip()
    if not text:
        if required:
            raise Invalid("error_required", field="minutes")
        return None
    try:
        value = int(text)
    except ValueError:
        raise Invalid("wo_error_minutes") from None
    if not 1 <= value <= 60 * 24 * 365:
        raise Invalid("wo_error_minutes")
    return value


def save_sla_rule(
    sessions: sessionmaker[Session],
    user: WebUser,
    *,
    rule_id: int | None,
    category_id: str,
    priority: str,
    respond: str,
    on_site: str,
    resolve: str,
    department: str,
) -> int:
    """Add a rule (``rule_id`` None) or change one; one rule per category × priority."""
    category = category_id.strip() or None
    prio = priority.strip() or None
    if prio is not None and prio not in PRIORITIES:
        raise Invalid("error_choice", field="priority")
    values = {
        "category_id": category,
        "priority": prio,
        "respond_minutes": _minutes(respond, required=True),
        "on_site_minutes": _minutes(on_site, required=False),
        "resolve_minutes": _minutes(resolve, required=False),
        "department": department.strip() or None,
    }
    with sessions.begin() as session:
        if category is not None and session.get(BusinessCategory, category) is None:
            raise Invalid("error_choice", field="category")
        if values["department"] is not None and values["department"] not in _departments(session):
            raise Invalid("wo_error_department")
        clash = session.scalar(
            sa.select(WorkOrderSlaRule.id).where(
                WorkOrderSlaRule.category_id.is_(None)
                if category is None
                else WorkOrderSlaRule.category_id == category,
                WorkOrderSlaRule.priority.is_(None)
                if prio is None
                else WorkOrderSlaRule.priority == prio,
            )
        )
        if clash is not None and clash != rule_id:
            raise Invalid("wo_error_rule_exists")
        before: dict[str, Any] | None = None
        if rule_id is None:
            row = WorkOrderSlaRule(**values, updated_by=user.agent_id, updated_at=_now())
            session.add(row)
        else:
            found = session.get(WorkOrderSlaRule, rule_id)
            if found is None:
                raise LookupError(rule_id)
            row = found
            before = _rule_state(row)
            for key, value in values.items():
                setattr(row, key, value)
            row.updated_by, row.updated_at = user.agent_id, _now()
        session.flush()
        audit.record(
            session,
            actor=user.agent_id,
            action="create" if rule_id is None else "update",
            entity="work_order_sla_rule",
            entity_id=str(row.id),
            before=before,
            after=_rule_state(row),
        )
        return row.id


def delete_sla_rule(sessions: sessionmaker[Session], user: WebUser, rule_id: int) -> None:
    """Remove a rule; the catch-all rule (any category, any priority) stays."""
    with sessions.begin() as session:
        row = session.get(WorkOrderSlaRule, rule_id)
        if row is None:
            raise LookupError(rule_id)
        if row.category_id is None and row.priority is None:
            raise Invalid("wo_error_default_rule")
        before = _rule_state(row)
        session.delete(row)
        audit.record(
            session,
            actor=user.agent_id,
            action="delete",
            entity="work_order_sla_rule",
            entity_id=str(rule_id),
            before=before,
        )


def _rule_state(row: WorkOrderSlaRule) -> dict[str, Any]:
    return {
        "category_id": row.category_id,
        "priority": row.priority,
        "respond_minutes": row.respond_minutes,
        "on_site_minutes": row.on_site_minutes,
        "resolve_minutes": row.resolve_minutes,
        "department": row.department,
    }


# --- departments and visibility ---------------------------------------------------------------


def _departments(session: Session) -> list[str]:
    rows = session.scalars(
        sa.select(Agent.department)
        .where(
            Agent.role == Role.DEPT_STAFF.value,
            Agent.active.is_(True),
            Agent.department.is_not(None),
        )
        .distinct()
    )
    return sorted(d for d in rows if d)


def departments(sessions: sessionmaker[Session]) -> list[str]:
    """Departments orders can go to: those of active back-office accounts."""
    with sessions() as session:
        return _departments(session)


def _visible(user: WebUser) -> Any:
    """SQL: the orders ``user`` may see (join ``Customer`` on the order's customer)."""
    region = (
        sa.true()
        if user.region is None
        else sa.or_(WorkOrder.customer_id.is_(None), Customer.region == user.region)
    )
    if user.role is Role.DEPT_STAFF:
        if not user.department:
            return sa.false()
        return sa.and_(WorkOrder.department == user.department, region)
    if user.region is None:
        return sa.true()
    return sa.or_(region, WorkOrder.created_by == user.agent_id)


def _check_order(session: Session, user: WebUser, row: WorkOrder, action: str = "view") -> None:
    """:class:`Refused` unless ``user`` may see (and, for dept staff, act on) ``row``."""
    if user.role is Role.DEPT_STAFF:
        if not user.department or row.department != user.department:
            raise Refused(
                "department",
                order=row.id,
                action=action,
                department=row.department or "",
                user_department=user.department or "",
            )
        _check_customer(session, user, row.customer_id)
        return
    if row.created_by != user.agent_id:
        _check_customer(session, user, row.customer_id)


def _may(user: WebUser, who: str) -> bool:
    if who == "any":
        return True
    if who == "dept":
        return user.role is Role.DEPT_STAFF
    return user.role in DESK


def actions_for(user: WebUser, status: str) -> list[str]:
    """The steps ``user`` may take on a visible order in ``status`` (the detail's forms)."""
    return [
        name
        for name, (starts, _to, who) in _ACTIONS.items()
        if status in starts and _may(user, who)
    ]


# --- views ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OrderRow:
    order_id: str
    customer_id: str | None
    customer_name: str
    customer_number: str
    category_id: str
    category_zh: str
    category_en: str
    priority: str
    title: str
    status: str
    department: str | None
    created_by: str
    created_at: dt.datetime
    clocks: tuple[SlaClock, ...]

    @property
    def overdue(self) -> bool:
        return any(c.state == "overdue" for c in self.clocks)

    @property
    def next_clock(self) -> SlaClock | None:
        """The clock a list shows: the first overdue one, else the first running one."""
        for state in ("overdue", "running"):
            for c in self.clocks:
                if c.state == state:
                    return c
        return None

    def category(self, lang: str) -> str:
        return self.category_zh if lang == "zh" else self.category_en


@dataclass(frozen=True, slots=True)
class EventView:
    at: dt.datetime
    actor: str
    kind: str
    from_status: str | None
    to_status: str | None
    department: str | None
    text: str
    data: dict[str, Any]


@dataclass(frozen=True, slots=True)
class CallbackView:
    task_id: int
    order_id: str | None
    number: str
    due_at: dt.datetime
    reason: str
    state: str
    created_by: str


@dataclass(frozen=True, slots=True)
class OrderDetail:
    row: OrderRow
    call_id: str | None
    contact_id: str | None
    description: str
    assignee: str | None
    feedback: str
    times: dict[str, dt.datetime | None]
    events: list[EventView]
    callbacks: list[CallbackView]
    actions: list[str]


def _order_query() -> Any:
    return (
        sa.select(WorkOrder, Customer.name, BusinessCategory.name_zh, BusinessCategory.name_en)
        .outerjoin(Customer, Customer.id == WorkOrder.customer_id)
        .outerjoin(BusinessCategory, BusinessCategory.id == WorkOrder.category_id)
    )


def _row(
    o: WorkOrder, name: str | None, zh: str | None, en: str | None, now: dt.datetime
) -> OrderRow:
    return OrderRow(
        order_id=o.id,
        customer_id=o.customer_id,
        customer_name=name or "",
        customer_number=o.customer_number,
        category_id=o.category_id,
        category_zh=zh or o.category_id,
        category_en=en or o.category_id,
        priority=o.priority,
        title=o.title,
        status=o.status,
        department=o.department,
        created_by=o.created_by,
        created_at=o.created_at,
        clocks=_clocks(o, now),
    )


@dataclass(frozen=True, slots=True)
class OrderFilter:
    status: str = ""
    department: str = ""
    priority: str = ""
    overdue: bool = False
    customer: str = ""


def list_orders(
    sessions: sessionmaker[Session],
    user: WebUser,
    flt: OrderFilter,
    *,
    page: int = 1,
    size: int = 20,
) -> Page[OrderRow]:
    """Visible orders, newest first; dept staff see their department's only. Naming a
    customer of another region or (dept staff) another department is :class:`Refused`."""
    page = max(1, page)
    now = _now()
    if flt.status and flt.status not in STATUSES:
        raise Invalid("error_choice", field="status")
    if flt.priority and flt.priority not in PRIORITIES:
        raise Invalid("error_choice", field="priority")
    with sessions() as session:
        where: list[Any] = [_visible(user)]
        if flt.department:
            if user.role is Role.DEPT_STAFF and flt.department != user.department:
                raise Refused(
                    "department",
                    department=flt.department,
                    user_department=user.department or "",
                )
            where.append(WorkOrder.department == flt.department)
        if flt.customer:
            _check_customer(session, user, flt.customer)
            where.append(WorkOrder.customer_id == flt.customer)
        if flt.status:
            where.append(WorkOrder.status == flt.status)
        if flt.priority:
            where.append(WorkOrder.priority == flt.priority)
        if flt.overdue:
            where.append(overdue_clause(now))
        base = _order_query().where(*where)
        total = session.scalar(sa.select(sa.func.count()).select_from(base.subquery())) or 0
        result = session.execute(
            base.order_by(WorkOrder.created_at.desc(), WorkOrder.id.desc())
            .limit(size)
            .offset((page - 1) * size)
        )
        rows = [_row(o, name, zh, en, now) for o, name, zh, en in result]
        return Page(rows, total, page, size)


def recent_orders(
    sessions: sessionmaker[Session], user: WebUser, customer_id: str, *, limit: int = 10
) -> tuple[str, list[OrderRow]]:
    """A customer's name and orders for the screen pop: open ones first, then newest."""
    now = _now()
    with sessions() as session:
        customer = session.get(Customer, customer_id)
        if customer is None:
            raise LookupError(customer_id)
        _check_customer(session, user, customer_id)
        result = session.execute(
            _order_query()
            .where(WorkOrder.customer_id == customer_id, _visible(user))
            .order_by(
                sa.case((WorkOrder.status == "closed", 1), else_=0),
                WorkOrder.created_at.desc(),
                WorkOrder.id.desc(),
            )
            .limit(limit)
        )
        return customer.name, [_row(o, name, zh, en, now) for o, name, zh, en in result]


def get_order(sessions: sessionmaker[Session], user: WebUser, order_id: str) -> OrderDetail:
    now = _now()
    with sessions() as session:
        found = session.execute(_order_query().where(WorkOrder.id == order_id)).first()
        if found is None:
            raise LookupError(order_id)
        o, name, zh, en = found
        _check_order(session, user, o)
        events = session.scalars(
            sa.select(WorkOrderEvent)
            .where(WorkOrderEvent.order_id == order_id)
            .order_by(WorkOrderEvent.at, WorkOrderEvent.id)
        )
        callbacks = session.scalars(
            sa.select(CallbackTask)
            .where(CallbackTask.order_id == order_id)
            .order_by(CallbackTask.due_at, CallbackTask.id)
        )
        return OrderDetail(
            row=_row(o, name, zh, en, now),
            call_id=o.call_id,
            contact_id=o.contact_id,
            description=o.description,
            assignee=o.assignee,
            feedback=o.feedback,
            times={
                "created": o.created_at,
                "dispatched": o.dispatched_at,
                "accepted": o.accepted_at,
                "on_site": o.on_site_at,
                "resolved": o.resolved_at,
                "replied": o.replied_at,
                "closed": o.closed_at,
            },
            events=[
                EventView(
                    e.at,
                    e.actor,
                    e.kind,
                    e.from_status,
                    e.to_status,
                    e.department,
                    e.text,
                    dict(e.data or {}),
                )
                for e in events
            ],
            callbacks=[
                CallbackView(c.id, c.order_id, c.number, c.due_at, c.reason, c.state, c.created_by)
                for c in callbacks
            ],
            actions=actions_for(user, o.status),
        )


# --- creating from a call ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NewOrderContext:
    """What the create form shows before saving (from the call and its contact record)."""

    call_id: str | None
    contact_id: str | None
    customer_id: str | None
    customer_name: str
    customer_number: str
    business_selection: str
    trajectory: str
    contact_summary: str
    suggestions: dict[str, str] = field(default_factory=dict)


def _trajectory_summary(session: Session, call_id: str) -> str:
    """One line of the call's path: IVR nodes and digits, queues, agents, transfers."""
    parts: list[str] = []
    for kind, data in session.execute(
        sa.select(CallEvent.kind, CallEvent.data)
        .where(CallEvent.call_id == call_id)
        .order_by(CallEvent.seq)
    ):
        d = dict(data or {})
        if kind == "ivr_node":
            label = str(d.get("label") or d.get("node") or "")
            parts.append(f"IVR {label}" + (f" [{d['digits']}]" if d.get("digits") else ""))
        elif kind == "queued":
            parts.append(f"queue {d.get('queue_id', '')}")
        elif kind == "answered":
            parts.append(f"agent {d.get('agent_id', '')}")
        elif kind == "transferred":
            target = d.get("to_agent") or d.get("to_queue") or ""
            parts.append(f"→ {target}")
        elif kind == "released":
            parts.append(f"released ({d.get('by', '')})")
    return " › ".join(parts)


def new_order_context(
    sessions: sessionmaker[Session], user: WebUser, call_id: str, customer: str
) -> NewOrderContext:
    """Prefill from the call (customer, caller, business selection, trajectory, contact
    record) or from a typed customer id / number; another region's customer is refused."""
    with sessions() as session:
        call = session.get(Call, call_id) if call_id else None
        if call_id and call is None:
            raise LookupError(call_id)
        if call is not None:
            if call.agent_id != user.agent_id:
                _check_customer(session, user, call.customer_id)
            contact = session.scalar(
                sa.select(ContactRecord)
                .where(ContactRecord.call_id == call.id)
                .order_by(ContactRecord.started_at.desc())
                .limit(1)
            )
            customer_id = call.customer_id or (contact.customer_id if contact else None)
            name = session.scalar(sa.select(Customer.name).where(Customer.id == customer_id))
            return NewOrderContext(
                call_id=call.id,
                contact_id=contact.id if contact else None,
                customer_id=customer_id,
                customer_name=name or "",
                customer_number=call.caller_number or (contact.number if contact else ""),
                business_selection=call.business_selection
                or (contact.business_selection if contact else ""),
                trajectory=_trajectory_summary(session, call.id),
                contact_summary=contact.summary if contact else "",
            )
        customer_id = _find_customer(session, customer)
        _check_customer(session, user, customer_id)
        name = session.scalar(sa.select(Customer.name).where(Customer.id == customer_id))
        return NewOrderContext(
            call_id=None,
            contact_id=None,
            customer_id=customer_id,
            customer_name=name or "",
            customer_number=customer.strip(),
            business_selection="",
            trajectory="",
            contact_summary="",
        )


def suggested_departments(sessions: sessionmaker[Session]) -> dict[str, str]:
    """category id -> the department its SLA rule routes to (the form's pre-selection)."""
    with sessions() as session:
        rows = session.execute(
            sa.select(WorkOrderSlaRule.category_id, WorkOrderSlaRule.department).where(
                WorkOrderSlaRule.category_id.is_not(None),
                WorkOrderSlaRule.department.is_not(None),
            )
        )
        return {c: d for c, d in rows if c and d}


def _next_id(session: Session, now: dt.datetime, offset: int) -> str:
    prefix = f"WO-{now:%Y%m%d}-"
    last = session.scalar(
        sa.select(sa.func.max(WorkOrder.id)).where(WorkOrder.id.like(f"{prefix}%"))
    )
    number = int(last.rsplit("-", 1)[1]) if last else 0
    return f"{prefix}{number + 1 + offset:04d}"


def _event(
    session: Session,
    row: WorkOrder,
    user: WebUser,
    kind: str,
    now: dt.datetime,
    *,
    before: str | None,
    text: str = "",
    department: str | None = None,
    data: dict[str, Any] | None = None,
) -> None:
    session.add(
        WorkOrderEvent(
            order_id=row.id,
            at=now,
            actor=user.agent_id,
            kind=kind,
            from_status=before,
            to_status=row.status,
            department=department,
            text=text,
            data=data or {},
        )
    )
    audit.record(
        session,
        actor=user.agent_id,
        action=kind,
        entity="work_order",
        entity_id=row.id,
        before={"status": before} if before else None,
        after={
            "status": row.status,
            "department": row.department,
            **({"text": text[:500]} if text else {}),
            **(data or {}),
        },
    )


def _text(value: str, *, required: bool, limit: int = 4000, name: str = "text") -> str:
    value = value.strip()
    if required and not value:
        raise Invalid("error_required", field=name)
    if len(value) > limit:
        raise Invalid("error_too_long", field=name)
    return value


def create_order(
    sessions: sessionmaker[Session],
    user: WebUser,
    *,
    call_id: str,
    customer: str,
    category_id: str,
    priority: str,
    title: str,
    description: str,
    department: str = "",
) -> str:
    """Save a new order (status ``new``, or ``dispatched`` when a department is given)
    with its SLA due times; returns the ``WO-YYYYMMDD-NNNN`` id."""
    title = _text(title, required=True, limit=200, name="title")
    description = _text(description, required=False, limit=8000, name="description")
    if priority not in PRIORITIES:
        raise Invalid("error_choice", field="priority")
    for attempt in range(5):
        try:
            return _insert_order(
                sessions,
                user,
                attempt,
                call_id=call_id.strip(),
                customer=customer,
                category_id=category_id,
                priority=priority,
                title=title,
                description=description,
                department=department.strip(),
            )
        except IntegrityError:
            # another order took the same number this second: count again
            if attempt == 4:
                raise
    raise AssertionError("unreachable")


def _insert_order(
    sessions: sessionmaker[Session],
    user: WebUser,
    attempt: int,
    *,
    call_id: str,
    customer: str,
    category_id: str,
    priority: str,
    title: str,
    description: str,
    department: str,
) -> str:
    now = _now()
    with sessions.begin() as session:
        category = session.get(BusinessCategory, category_id)
        if category is None or not category.active:
            raise Invalid("error_choice", field="category")
        if department and department not in _departments(session):
            raise Invalid("wo_error_department")
        call = session.get(Call, call_id) if call_id else None
        customer_id = _find_customer(session, customer)
        contact_id: str | None = None
        if call is not None:
            if customer_id is None:
                customer_id = call.customer_id
            contact_id = session.scalar(
                sa.select(ContactRecord.id)
                .where(ContactRecord.call_id == call.id)
                .order_by(ContactRecord.started_at.desc())
                .limit(1)
            )
        typed = customer.strip()
        number = call.caller_number if call is not None and call.caller_number else ""
        if not number and typed and typed != customer_id:
            number = typed  # a typed number (of a customer or not)
        if not number and customer_id is not None:
            number = (
                session.scalar(
                    sa.select(CustomerNumber.number)
                    .where(CustomerNumber.customer_id == customer_id)
                    .order_by(CustomerNumber.number)
                    .limit(1)
                )
                or ""
            )
        if not number and customer_id is None:
            raise Invalid("error_required", field="customer")
        if call is None or call.agent_id != user.agent_id:
            _check_customer(session, user, customer_id)
        respond, on_site, resolve, _suggested = _rule_for(session, category_id, priority)
        row = WorkOrder(
            id=_next_id(session, now, attempt),
            customer_id=customer_id,
            customer_number=(try_normalise(number) or number)[:64],
            call_id=call.id if call is not None else None,
            contact_id=contact_id,
            category_id=category_id,
            priority=priority,
            title=title,
            description=description,
            status="new",
            department=None,
            assignee=None,
            created_by=user.agent_id,
            respond_by=now + dt.timedelta(minutes=respond),
            on_site_by=now + dt.timedelta(minutes=on_site) if on_site else None,
            resolve_by=now + dt.timedelta(minutes=resolve) if resolve else None,
            created_at=now,
            feedback="",
            updated_at=now,
        )
        session.add(row)
        session.flush()
        _event(
            session,
            row,
            user,
            "created",
            now,
            before=None,
            text=description,
            data={"call_id": row.call_id, "category_id": category_id, "priority": priority},
        )
        if department:
            row.status, row.department, row.dispatched_at = "dispatched", department, now
            _event(session, row, user, "dispatched", now, before="new", department=department)
        return row.id


# --- steps ----------------------------------------------------------------------------------


def act(
    sessions: sessionmaker[Session],
    user: WebUser,
    order_id: str,
    action: str,
    form: dict[str, str],
    *,
    zone: dt.tzinfo = dt.UTC,
) -> str:
    """Take one step on an order (see :data:`ACTIONS`); returns the new status.

    :class:`Refused` for a user who may not act on this order (wrong department, region
    or role), :class:`Conflict` when the status does not allow the step, :class:`Invalid`
    for bad input; nothing is written in any of those cases."""
    if action not in _ACTIONS:
        raise LookupError(action)
    starts, target, who = _ACTIONS[action]
    now = _now()
    with sessions.begin() as session:
        row = session.scalar(sa.select(WorkOrder).where(WorkOrder.id == order_id).with_for_update())
        if row is None:
            raise LookupError(order_id)
        _check_order(session, user, row, action)
        if not _may(user, who):
            raise Refused("role", order=order_id, action=action, role=user.role.value)
        before = row.status
        if before not in starts:
            raise Conflict(order_id, action, before)
        text = ""
        department: str | None = None
        data: dict[str, Any] = {}
        if action in ("dispatch", "transfer"):
            department = form.get("department", "").strip()
            if not department or department not in _departments(session):
                raise Invalid("wo_error_department")
            if action == "transfer":
                if department == row.department:
                    raise Invalid("wo_error_same_department")
                text = _text(form.get("text", ""), required=True, name="reason")
                data = {"from_department": row.department}
            row.department = department
            row.assignee = None
            if action == "dispatch":
                row.dispatched_at = now
        elif action == "accept":
            row.assignee = user.agent_id
            row.accepted_at = row.accepted_at or now
        elif action == "reject":
            text = _text(form.get("text", ""), required=True, name="reason")
            data = {"department": row.department}
        elif action == "on_site":
            row.on_site_at = now
            text = _text(form.get("text", ""), required=False)
        elif action == "resolve":
            text = _text(form.get("text", ""), required=True, name="feedback")
            row.feedback = text
            row.resolved_at = now
        elif action == "reply":
            text = _text(form.get("text", ""), required=True, name="reply")
            channel = form.get("channel", "")
            if channel not in REPLY_CHANNELS:
                raise Invalid("error_choice", field="channel")
            data = {"channel": channel}
            row.replied_at = now
        elif action == "close":
            text = _text(form.get("text", ""), required=False)
            row.closed_at = now
        elif action == "note":
            text = _text(form.get("text", ""), required=True, name="note")
        elif action == "callback":
            _add_callback(session, user, row, form, now, zone=zone)
            return row.status
        if target is not None:
            # compare-and-set: of two concurrent steps (two clicks, two staff) one wins,
            # the other sees the new status and gets the 409; on SQLite too, where the
            # read above takes no lock
            moved = session.execute(
                sa.update(WorkOrder)
                .where(WorkOrder.id == row.id, WorkOrder.status == before)
                .values(status=target, updated_at=now)
                .execution_options(synchronize_session=False)
            )
            if getattr(moved, "rowcount", 1) != 1:
                raise Conflict(order_id, action, _current_status(session, order_id))
            row.status = target
        row.updated_at = now
        _event(
            session,
            row,
            user,
            _EVENT_OF[action],
            now,
            before=before,
            text=text,
            department=department,
            data=data,
        )
        return row.status


def _current_status(session: Session, order_id: str) -> str:
    status = session.scalar(sa.select(WorkOrder.status).where(WorkOrder.id == order_id))
    return str(status or "new")


def _parse_due(text: str, zone: dt.tzinfo) -> dt.datetime:
    text = text.strip()
    try:
        local = dt.datetime.fromisoformat(text)
    except ValueError:
        raise Invalid("wo_error_due") from None
    if local.tzinfo is None:
        local = local.replace(tzinfo=zone)
    return local.astimezone(dt.UTC)


def _add_callback(
    session: Session,
    user: WebUser,
    row: WorkOrder,
    form: dict[str, str],
    now: dt.datetime,
    *,
    zone: dt.tzinfo,
) -> None:
    due = _parse_due(form.get("due_at", ""), zone)
    if due < now - dt.timedelta(minutes=1):
        raise Invalid("wo_error_due")
    reason = _text(form.get("text", ""), required=True, name="reason")
    number = (form.get("number", "") or row.customer_number).strip()
    if not number or len(number) > 64:
        raise Invalid("error_required", field="number")
    task = CallbackTask(
        order_id=row.id,
        customer_id=row.customer_id,
        number=try_normalise(number) or number,
        due_at=due,
        reason=reason,
        state="open",
        created_by=user.agent_id,
        created_at=now,
        updated_at=now,
    )
    session.add(task)
    session.flush()
    row.updated_at = now
    _event(
        session,
        row,
        user,
        "callback",
        now,
        before=row.status,
        text=reason,
        data={"task_id": task.id, "number": task.number, "due_at": due.isoformat()},
    )


def open_callbacks(sessions: sessionmaker[Session], *, limit: int = 100) -> list[CallbackView]:
    """Open callback tasks, earliest due first (what an outbound campaign would take)."""
    with sessions() as session:
        rows = session.scalars(
            sa.select(CallbackTask)
            .where(CallbackTask.state == "open")
            .order_by(CallbackTask.due_at, CallbackTask.id)
            .limit(limit)
        )
        return [
            CallbackView(c.id, c.order_id, c.number, c.due_at, c.reason, c.state, c.created_by)
            for c in rows
        ]
