"""Blocking data access of the web panels (pages run these in worker threads).

Every read that can show a customer applies the region rule (R-BIZ-4): an account with
a region sees that region's customers only; an account without one sees every region.
A record an agent handled personally stays visible to them. Contacts of callers who are
not customers have no region and are visible to everyone.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from cti_server.store import audit
from cti_server.store.models import (
    Agent,
    BusinessCategory,
    BusinessRecord,
    Call,
    CallEvent,
    ContactRecord,
    Customer,
    CustomerNumber,
    Notice,
    QueryDefinition,
    Role,
    utcnow,
)
from cti_server.store.numbers import try_normalise
from shared.ids import new_id

BUSINESS_TYPES = (
    "acceptance",
    "inquiry",
    "query",
    "complaint",
    "payment",
    "marketing",
    "care",
)
"""The seven business types of R-BIZ-1: the roots of the category tree."""

SEVERITIES = ("info", "major_outage")


class Refused(Exception):
    """The signed-in user may not see this (wrong role or region); audited by the page."""

    def __init__(self, reason: str, **detail: Any) -> None:
        super().__init__(reason)
        self.reason = reason
        self.detail = detail


class Invalid(Exception):
    """Bad form input: shown next to the form, nothing written."""

    def __init__(self, key: str, **params: Any) -> None:
        super().__init__(key)
        self.key = key
        self.params = params


@dataclass(frozen=True, slots=True)
class WebUser:
    agent_id: str
    name: str
    role: Role
    region: str | None
    department: str | None

    def sees_region(self, region: str | None) -> bool:
        return self.region is None or region is None or region == self.region


def load_user(sessions: sessionmaker[Session], agent_id: str) -> WebUser | None:
    """The active account behind a session cookie (re-read on every request)."""
    with sessions() as session:
        agent = session.get(Agent, agent_id)
        if agent is None or not agent.active:
            return None
        try:
            role = Role(agent.role)
        except ValueError:
            return None
        return WebUser(agent.id, agent.name, role, agent.region, agent.department)


def audit_refusal(
    sessions: sessionmaker[Session], actor: str, path: str, reason: str, detail: Mapping[str, Any]
) -> None:
    with sessions.begin() as session:
        audit.record(
            session,
            actor=actor or "anonymous",
            action="refused",
            entity="web_page",
            entity_id=path[:200],
            after={"reason": reason, **{k: str(v) for k, v in detail.items()}},
        )


def _check_customer(session: Session, user: WebUser, customer_id: str | None) -> None:
    if customer_id is None or user.region is None:
        return
    region = session.scalar(sa.select(Customer.region).where(Customer.id == customer_id))
    if region is not None and not user.sees_region(region):
        raise Refused("region", customer=customer_id, region=region, user_region=user.region)


# --- call trajectory ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TrajectoryStep:
    at: dt.datetime
    kind: str
    data: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Trajectory:
    call_id: str
    caller_number: str
    called_number: str
    customer_id: str | None
    customer_name: str
    tier_id: str | None
    queue_id: str | None
    agent_id: str | None
    arrived_at: dt.datetime
    answered_at: dt.datetime | None
    released_at: dt.datetime | None
    disposition: str | None
    steps: tuple[TrajectoryStep, ...]


def call_trajectory(sessions: sessionmaker[Session], user: WebUser, call_id: str) -> Trajectory:
    """呼叫轨迹: every event of a call in order (IVR nodes, menu digits, queues, agents,
    transfers); ``LookupError`` for an unknown call, :class:`Refused` out of region."""
    with sessions() as session:
        call = session.get(Call, call_id)
        if call is None:
            raise LookupError(call_id)
        handled = {call.agent_id} | set(
            session.scalars(
                sa.select(CallEvent.data["agent_id"].as_string()).where(
                    CallEvent.call_id == call_id
                )
            )
        )
        if user.agent_id not in handled:
            _check_customer(session, user, call.customer_id)
        name: str | None = None
        if call.customer_id is not None:
            name = session.scalar(sa.select(Customer.name).where(Customer.id == call.customer_id))
        events = session.scalars(
            sa.select(CallEvent).where(CallEvent.call_id == call_id).order_by(CallEvent.seq)
        )
        steps = tuple(TrajectoryStep(e.at, e.kind, dict(e.data or {})) for e in events)
        return Trajectory(
            call_id=call.id,
            caller_number=call.caller_number,
            called_number=call.called_number,
            customer_id=call.customer_id,
            customer_name=name or "",
            tier_id=call.tier_id,
            queue_id=call.queue_id,
            agent_id=call.agent_id,
            arrived_at=call.arrived_at,
            answered_at=call.answered_at,
            released_at=call.released_at,
            disposition=call.disposition,
            steps=steps,
        )


# --- contact history ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ContactFilter:
    customer: str = ""
    number: str = ""
    agent: str = ""
    date_from: dt.date | None = None
    date_to: dt.date | None = None
    disposition: str = ""
    business: str = ""


@dataclass(frozen=True, slots=True)
class ContactRow:
    contact_id: str
    call_id: str | None
    customer_id: str | None
    customer_name: str
    number: str
    agent_id: str | None
    channel: str
    direction: str
    started_at: dt.datetime
    ended_at: dt.datetime | None
    disposition: str
    business_selection: str
    summary: str


@dataclass(frozen=True, slots=True)
class Page[T]:
    rows: list[T]
    total: int
    page: int
    size: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.size))


def _day_start(day: dt.date) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)


def region_clause(user: WebUser) -> Any:
    """Rows whose customer is in the user's region, have no customer, or were the user's."""
    if user.region is None:
        return sa.true()
    return sa.or_(
        ContactRecord.customer_id.is_(None),
        Customer.region == user.region,
        ContactRecord.agent_id == user.agent_id,
    )


def contact_history(
    sessions: sessionmaker[Session],
    user: WebUser,
    flt: ContactFilter,
    *,
    page: int = 1,
    size: int = 20,
) -> Page[ContactRow]:
    """接触记录 newest first, filtered and paged; naming a customer of another region is
    :class:`Refused`; otherwise other regions' rows are simply not listed."""
    page = max(1, page)
    with sessions() as session:
        where: list[Any] = [region_clause(user)]
        if flt.customer:
            _check_customer(session, user, flt.customer)
            where.append(ContactRecord.customer_id == flt.customer)
        if flt.number:
            where.append(ContactRecord.number == (try_normalise(flt.number) or flt.number))
        if flt.agent:
            where.append(ContactRecord.agent_id == flt.agent)
        if flt.date_from is not None:
            where.append(ContactRecord.started_at >= _day_start(flt.date_from))
        if flt.date_to is not None:
            end = _day_start(flt.date_to) + dt.timedelta(days=1)
            where.append(ContactRecord.started_at < end)
        if flt.disposition:
            where.append(ContactRecord.disposition == flt.disposition)
        if flt.business:
            where.append(ContactRecord.business_selection == flt.business)
        base = (
            sa.select(ContactRecord, Customer.name)
            .outerjoin(Customer, Customer.id == ContactRecord.customer_id)
            .where(*where)
        )
        total = session.scalar(sa.select(sa.func.count()).select_from(base.subquery())) or 0
        result = session.execute(
            base.order_by(ContactRecord.started_at.desc(), ContactRecord.id.desc())
            .limit(size)
            .offset((page - 1) * size)
        )
        rows = [
            ContactRow(
                contact_id=c.id,
                call_id=c.call_id,
                customer_id=c.customer_id,
                customer_name=name or "",
                number=c.number,
                agent_id=c.agent_id,
                channel=c.channel,
                direction=c.direction,
                started_at=c.started_at,
                ended_at=c.ended_at,
                disposition=c.disposition,
                business_selection=c.business_selection,
                summary=c.summary,
            )
            for c, name in result
        ]
        return Page(rows, total, page, size)


def contact_choices(sessions: sessionmaker[Session]) -> tuple[list[str], list[str]]:
    """Dispositions and business selections in use (the filter drop-downs)."""
    with sessions() as session:
        dispositions = session.scalars(
            sa.select(ContactRecord.disposition)
            .where(ContactRecord.disposition != "")
            .distinct()
            .order_by(ContactRecord.disposition)
            .limit(200)
        )
        business = session.scalars(
            sa.select(ContactRecord.business_selection)
            .where(ContactRecord.business_selection != "")
            .distinct()
            .order_by(ContactRecord.business_selection)
            .limit(200)
        )
        return list(dispositions), list(business)


# --- notices --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NoticeView:
    notice_id: int
    title: str
    body: str
    severity: str
    region: str | None
    created_by: str
    created_at: dt.datetime
    expires_at: dt.datetime | None
    pushed_to: int


def _notice_view(row: Notice) -> NoticeView:
    return NoticeView(
        row.id,
        row.title,
        row.body,
        row.severity,
        row.region,
        row.created_by,
        row.created_at,
        row.expires_at,
        row.pushed_to,
    )


def _notice_visible(user: WebUser) -> Any:
    if user.region is None:
        return sa.true()
    return sa.or_(Notice.region.is_(None), Notice.region == user.region)


def list_notices(
    sessions: sessionmaker[Session], user: WebUser, *, page: int = 1, size: int = 20
) -> Page[NoticeView]:
    """Notices for the user's region (or all), newest first; expired ones are left out."""
    page = max(1, page)
    now = utcnow()
    where = [
        _notice_visible(user),
        sa.or_(Notice.expires_at.is_(None), Notice.expires_at > now),
    ]
    with sessions() as session:
        total = session.scalar(sa.select(sa.func.count()).select_from(Notice).where(*where)) or 0
        rows = session.scalars(
            sa.select(Notice)
            .where(*where)
            .order_by(Notice.created_at.desc(), Notice.id.desc())
            .limit(size)
            .offset((page - 1) * size)
        )
        return Page([_notice_view(r) for r in rows], total, page, size)


def get_notice(sessions: sessionmaker[Session], user: WebUser, notice_id: int) -> NoticeView:
    with sessions() as session:
        row = session.get(Notice, notice_id)
        if row is None:
            raise LookupError(notice_id)
        if not user.sees_region(row.region):
            raise Refused("region", notice=notice_id, region=row.region or "")
        return _notice_view(row)


def create_notice(
    sessions: sessionmaker[Session],
    user: WebUser,
    *,
    title: str,
    body: str,
    severity: str,
    region: str | None,
    expires_at: dt.datetime | None = None,
) -> NoticeView:
    title, body = title.strip(), body.strip()
    if not title:
        raise Invalid("error_required", field="title")
    if len(title) > 200:
        raise Invalid("error_too_long", field="title")
    if severity not in SEVERITIES:
        raise Invalid("error_choice", field="severity")
    if user.region is not None and region != user.region:
        # a regional team lead writes for their own region only
        raise Refused("region", region=region or "*", user_region=user.region)
    with sessions.begin() as session:
        row = Notice(
            title=title,
            body=body,
            severity=severity,
            region=region or None,
            created_by=user.agent_id,
            created_at=utcnow(),
            expires_at=expires_at,
            pushed_to=0,
        )
        session.add(row)
        session.flush()
        audit.record(
            session,
            actor=user.agent_id,
            action="create",
            entity="notice",
            entity_id=str(row.id),
            after={"title": title, "severity": severity, "region": region or None},
        )
        return _notice_view(row)


def set_pushed(sessions: sessionmaker[Session], notice_id: int, pushed_to: int) -> None:
    with sessions.begin() as session:
        session.execute(sa.update(Notice).where(Notice.id == notice_id).values(pushed_to=pushed_to))


# --- business categories --------------------------------------------------------------------


@dataclass(slots=True)
class CategoryNode:
    category_id: str
    parent_id: str | None
    kind: str
    name_zh: str
    name_en: str
    position: int
    active: bool
    children: list[CategoryNode] = field(default_factory=list)

    def name(self, lang: str) -> str:
        return self.name_zh if lang == "zh" else self.name_en

    def walk(self, depth: int = 0) -> list[tuple[int, CategoryNode]]:
        out = [(depth, self)]
        for child in self.children:
            out.extend(child.walk(depth + 1))
        return out


def category_tree(
    sessions: sessionmaker[Session], *, kind: str | None = None, active_only: bool = False
) -> list[CategoryNode]:
    """The roots (business types in R-BIZ-1 order) with their sub-trees."""
    with sessions() as session:
        query = sa.select(BusinessCategory)
        if kind is not None:
            query = query.where(BusinessCategory.kind == kind)
        rows = list(session.scalars(query))
    nodes = {
        r.id: CategoryNode(r.id, r.parent_id, r.kind, r.name_zh, r.name_en, r.position, r.active)
        for r in rows
    }
    roots: list[CategoryNode] = []
    for node in nodes.values():
        parent = nodes.get(node.parent_id) if node.parent_id else None
        if node.parent_id is None or parent is None:
            if node.parent_id is None:
                roots.append(node)
        else:
            parent.children.append(node)

    def prune(items: list[CategoryNode]) -> list[CategoryNode]:
        kept = [n for n in items if n.active or not active_only]
        kept.sort(key=lambda n: (n.position, n.category_id))
        for n in kept:
            n.children = prune(n.children)
        return kept

    order = {k: i for i, k in enumerate(BUSINESS_TYPES)}
    result = prune(roots)
    result.sort(key=lambda n: (order.get(n.kind, 99), n.position, n.category_id))
    return result


def _category_state(row: BusinessCategory) -> dict[str, Any]:
    return {
        "parent_id": row.parent_id,
        "name_zh": row.name_zh,
        "name_en": row.name_en,
        "position": row.position,
        "active": row.active,
    }


def _valid_names(name_zh: str, name_en: str) -> tuple[str, str]:
    name_zh, name_en = name_zh.strip(), name_en.strip()
    if not name_zh or not name_en:
        raise Invalid("error_required", field="name")
    if len(name_zh) > 200 or len(name_en) > 200:
        raise Invalid("error_too_long", field="name")
    return name_zh, name_en


def add_category(
    sessions: sessionmaker[Session], user: WebUser, *, parent_id: str, name_zh: str, name_en: str
) -> str:
    name_zh, name_en = _valid_names(name_zh, name_en)
    with sessions.begin() as session:
        parent = session.get(BusinessCategory, parent_id)
        if parent is None:
            raise Invalid("error_unknown_parent")
        position = session.scalar(
            sa.select(sa.func.coalesce(sa.func.max(BusinessCategory.position), 0)).where(
                BusinessCategory.parent_id == parent_id
            )
        )
        row = BusinessCategory(
            id=f"{parent.kind}.{secrets.token_hex(4)}",
            parent_id=parent_id,
            kind=parent.kind,
            name_zh=name_zh,
            name_en=name_en,
            position=(position or 0) + 10,
            active=True,
        )
        session.add(row)
        session.flush()
        audit.record(
            session,
            actor=user.agent_id,
            action="create",
            entity="business_category",
            entity_id=row.id,
            after=_category_state(row),
        )
        return row.id


def change_category(
    sessions: sessionmaker[Session],
    user: WebUser,
    category_id: str,
    *,
    name_zh: str | None = None,
    name_en: str | None = None,
    parent_id: str | None = None,
    active: bool | None = None,
) -> None:
    """Rename, move (under another node of the same business type) or enable/disable."""
    with sessions.begin() as session:
        row = session.get(BusinessCategory, category_id)
        if row is None:
            raise LookupError(category_id)
        before = _category_state(row)
        if name_zh is not None or name_en is not None:
            row.name_zh, row.name_en = _valid_names(
                name_zh if name_zh is not None else row.name_zh,
                name_en if name_en is not None else row.name_en,
            )
        if parent_id is not None and parent_id != row.parent_id:
            if row.parent_id is None:
                raise Invalid("error_move_root")
            target = session.get(BusinessCategory, parent_id)
            if target is None:
                raise Invalid("error_unknown_parent")
            if target.kind != row.kind:
                raise Invalid("error_move_kind")
            walk: BusinessCategory | None = target
            while walk is not None:  # no cycles: the target may not sit below the node
                if walk.id == row.id:
                    raise Invalid("error_move_cycle")
                walk = session.get(BusinessCategory, walk.parent_id) if walk.parent_id else None
            row.parent_id = parent_id
        if active is not None:
            row.active = active
        session.flush()
        after = _category_state(row)
        if after != before:
            audit.record(
                session,
                actor=user.agent_id,
                action="update",
                entity="business_category",
                entity_id=row.id,
                before=before,
                after=after,
            )


def category_names(sessions: sessionmaker[Session], ids: Sequence[str]) -> dict[str, CategoryNode]:
    if not ids:
        return {}
    with sessions() as session:
        rows = session.scalars(sa.select(BusinessCategory).where(BusinessCategory.id.in_(ids)))
        return {
            r.id: CategoryNode(
                r.id, r.parent_id, r.kind, r.name_zh, r.name_en, r.position, r.active
            )
            for r in rows
        }


# --- inquiry and acceptance records -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CallContext:
    """What the inquiry / acceptance page shows before Confirm."""

    call_id: str | None
    customer_id: str | None
    customer_number: str
    accessed_at: dt.datetime


@dataclass(frozen=True, slots=True)
class BusinessRecordView:
    record_id: str
    serial_no: str
    kind: str
    call_id: str | None
    customer_id: str | None
    customer_number: str
    agent_id: str
    accessed_at: dt.datetime
    remarks: str
    categories: list[str]
    status: str
    result: str
    created_at: dt.datetime


def _record_view(row: BusinessRecord) -> BusinessRecordView:
    return BusinessRecordView(
        row.id,
        row.serial_no,
        row.kind,
        row.call_id,
        row.customer_id,
        row.customer_number,
        row.agent_id,
        row.accessed_at,
        row.remarks,
        list(row.categories or []),
        row.status,
        row.result,
        row.created_at,
    )


def new_serial(kind: str, now: dt.datetime | None = None) -> str:
    prefix = {"inquiry": "ZX", "acceptance": "SL"}.get(kind, "YW")
    at = (now or utcnow()).strftime("%Y%m%d%H%M%S")
    return f"{prefix}{at}{secrets.randbelow(10**6):06d}"


def _find_customer(session: Session, text: str) -> str | None:
    text = text.strip()
    if not text:
        return None
    if session.get(Customer, text) is not None:
        return text
    number = try_normalise(text)
    if number is None:
        return None
    return session.scalar(
        sa.select(CustomerNumber.customer_id).where(CustomerNumber.number == number)
    )


def call_context(
    sessions: sessionmaker[Session], user: WebUser, call_id: str | None, customer: str
) -> CallContext:
    """The call's caller and answer time, or the typed customer and now."""
    with sessions() as session:
        if call_id:
            call = session.get(Call, call_id)
            if call is not None:
                if call.agent_id != user.agent_id:
                    _check_customer(session, user, call.customer_id)
                return CallContext(
                    call.id,
                    call.customer_id,
                    call.caller_number,
                    call.answered_at or call.arrived_at,
                )
        customer_id = _find_customer(session, customer)
        _check_customer(session, user, customer_id)
        return CallContext(None, customer_id, customer.strip(), utcnow())


def save_business_record(
    sessions: sessionmaker[Session],
    user: WebUser,
    *,
    kind: str,
    serial_no: str,
    call_id: str | None,
    customer_number: str,
    accessed_at: dt.datetime,
    remarks: str,
    categories: Sequence[str],
) -> tuple[BusinessRecordView, bool]:
    """Confirm an inquiry / acceptance: ``(record, created)``. The serial number makes a
    repeated Confirm (double click, reload) return the first record instead of a copy."""
    if kind not in ("inquiry", "acceptance"):
        raise Invalid("error_choice", field="kind")
    if not serial_no or len(serial_no) > 64:
        raise Invalid("error_required", field="serial_no")
    if len(remarks) > 4000:
        raise Invalid("error_too_long", field="remarks")
    chosen = list(dict.fromkeys(categories))
    if not chosen:
        raise Invalid("error_pick_category")
    with sessions.begin() as session:
        existing = session.scalar(
            sa.select(BusinessRecord).where(BusinessRecord.serial_no == serial_no)
        )
        if existing is not None:
            if existing.agent_id != user.agent_id:
                raise Refused("serial_of_another_agent", serial=serial_no)
            return _record_view(existing), False
        known: dict[str, str] = {
            category_id: category_kind
            for category_id, category_kind in session.execute(
                sa.select(BusinessCategory.id, BusinessCategory.kind).where(
                    BusinessCategory.id.in_(chosen), BusinessCategory.active.is_(True)
                )
            )
        }
        if set(chosen) - set(known) or any(k != kind for k in known.values()):
            raise Invalid("error_choice", field="categories")
        customer_id = _find_customer(session, customer_number)
        if call_id:
            call = session.get(Call, call_id)
            if call is None:
                call_id = None
            elif customer_id is None:
                customer_id = call.customer_id
        _check_customer(session, user, customer_id)
        result = "accepted" if kind == "acceptance" else "answered"
        row = BusinessRecord(
            id=new_id(),
            serial_no=serial_no,
            kind=kind,
            call_id=call_id or None,
            customer_id=customer_id,
            customer_number=customer_number.strip()[:64],
            agent_id=user.agent_id,
            accessed_at=accessed_at,
            remarks=remarks,
            categories=chosen,
            status="confirmed",
            result=result,
            created_at=utcnow(),
        )
        session.add(row)
        session.flush()
        audit.record(
            session,
            actor=user.agent_id,
            action="create",
            entity=f"{kind}_record",
            entity_id=serial_no,
            after={"customer_id": customer_id, "categories": chosen},
        )
        return _record_view(row), True


def get_business_record(
    sessions: sessionmaker[Session], user: WebUser, serial_no: str
) -> BusinessRecordView:
    with sessions() as session:
        row = session.scalar(sa.select(BusinessRecord).where(BusinessRecord.serial_no == serial_no))
        if row is None:
            raise LookupError(serial_no)
        if row.agent_id != user.agent_id:
            _check_customer(session, user, row.customer_id)
        return _record_view(row)


# --- query / statistics pages -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class QueryDef:
    query_id: str
    name_zh: str
    name_en: str
    source: str
    inputs: list[str]
    columns: list[str]
    shape: str
    page_size: int

    def name(self, lang: str) -> str:
        return self.name_zh if lang == "zh" else self.name_en


def _query_def(row: QueryDefinition) -> QueryDef:
    return QueryDef(
        row.id,
        row.name_zh,
        row.name_en,
        row.source,
        list(row.inputs or []),
        list(row.columns or []),
        row.shape,
        max(1, min(row.page_size, 500)),
    )


def query_definitions(sessions: sessionmaker[Session]) -> list[QueryDef]:
    with sessions() as session:
        rows = session.scalars(
            sa.select(QueryDefinition)
            .where(QueryDefinition.active.is_(True))
            .order_by(QueryDefinition.position, QueryDefinition.id)
        )
        return [_query_def(r) for r in rows]


def query_definition(sessions: sessionmaker[Session], query_id: str) -> QueryDef:
    with sessions() as session:
        row = session.get(QueryDefinition, query_id)
        if row is None or not row.active:
            raise LookupError(query_id)
        return _query_def(row)
