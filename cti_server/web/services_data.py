"""Service catalogue, subscriptions, acceptance orders, marketing rules and care plans
(R-BIZ-2, R-BIZ-7, R-BIZ-8; docs/web.md "Services, marketing and care").

Blocking functions run by the pages in worker threads. Every function that shows or
changes a customer applies the region rule (:class:`Refused` for another region's
customer). Money is :class:`~decimal.Decimal` throughout.

Acceptance orders: a draft holds several lines (apply / change / cancel / reserve);
:func:`validate_order` lists the problems (unknown service or plan, duplicates, VIP-only,
missing prerequisites, conflicts); :func:`confirm_order` re-validates and applies every
line in ONE transaction (all or nothing), writing each line's before/after into the
operation log and an R-IN-7 acceptance record that names the order;
:func:`rollback_order` reverses every line in one transaction, refused when a later
confirmed order touched the same services.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from cti_server.store import audit
from cti_server.store import payments as pay
from cti_server.store.models import (
    Agent,
    BusinessCategory,
    BusinessRecord,
    CareAction,
    CarePlan,
    CareRule,
    ContactRecord,
    Customer,
    CustomerNumber,
    MarketingRule,
    RecommendationResponse,
    Role,
    Service,
    ServiceOperation,
    ServiceOrder,
    ServiceOrderLine,
    ServicePlan,
    ServiceSubscription,
    SurveyResult,
    Tier,
    utcnow,
)
from shared.ids import new_id

from . import payments_data
from .data import Invalid, Refused, WebUser, new_serial

ACTIONS = ("apply", "change", "cancel", "reserve")
HELD = ("active", "reserved")
"""Subscription states that count as "the customer has it"."""
MAX_LINES = 10
DECLINE_QUIET_DAYS = 30
"""A declined recommendation is not offered to the same customer again for this long."""
CARE_KINDS = ("retention", "follow_up", "care_message")
CARE_TRIGGERS = ("recent_complaint", "tenure_anniversary", "recent_cancellation")
CARE_ACTIONS = ("done", "postponed", "declined")
OPEN_CARE = ("open", "postponed")
ZERO = Decimal("0.00")


def _money(value: Decimal | None) -> Decimal:
    return (value if value is not None else ZERO).quantize(Decimal("0.01"))


def parse_money(text: str, field_name: str) -> Decimal | None:
    text = text.strip()
    if not text:
        return None
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise Invalid("svc_err_money", field=field_name) from None
    if not value.is_finite() or value < 0 or value >= Decimal("1e12"):
        raise Invalid("svc_err_money", field=field_name)
    return value.quantize(Decimal("0.01"))


def _codes(text: str | Iterable[str]) -> list[str]:
    items = text.replace("，", ",").split(",") if isinstance(text, str) else text
    return list(dict.fromkeys(i.strip() for i in items if i.strip()))


# --- catalogue -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PlanView:
    code: str
    name_zh: str
    name_en: str
    monthly_fee: Decimal
    payment: str

    def name(self, lang: str) -> str:
        return self.name_zh if lang == "zh" else self.name_en


@dataclass(frozen=True, slots=True)
class ServiceView:
    code: str
    name_zh: str
    name_en: str
    category: str
    monthly_fee: Decimal
    vip_only: bool
    prepaid: bool
    requires: tuple[str, ...]
    conflicts: tuple[str, ...]
    active: bool
    plans: tuple[PlanView, ...]

    def name(self, lang: str) -> str:
        return self.name_zh if lang == "zh" else self.name_en

    def plan(self, code: str | None) -> PlanView | None:
        return next((p for p in self.plans if p.code == code), None)

    def fee(self, plan_code: str | None) -> Decimal:
        plan = self.plan(plan_code)
        return plan.monthly_fee if plan is not None else self.monthly_fee


def _load_catalogue(session: Session) -> dict[str, ServiceView]:
    plans: dict[str, list[PlanView]] = {}
    for p in session.scalars(
        sa.select(ServicePlan).order_by(ServicePlan.position, ServicePlan.code)
    ):
        plans.setdefault(p.service_code, []).append(
            PlanView(p.code, p.name_zh, p.name_en, _money(p.monthly_fee), p.payment)
        )
    return {
        s.code: ServiceView(
            s.code,
            s.name_zh,
            s.name_en,
            s.category,
            _money(s.monthly_fee),
            s.vip_only,
            s.prepaid,
            tuple(s.requires or ()),
            tuple(s.conflicts or ()),
            s.active,
            tuple(plans.get(s.code, ())),
        )
        for s in session.scalars(sa.select(Service).order_by(Service.position, Service.code))
    }


def catalogue(sessions: sessionmaker[Session]) -> list[ServiceView]:
    with sessions() as session:
        return list(_load_catalogue(session).values())


def _conflict(a: ServiceView, b: ServiceView) -> bool:
    return b.code in a.conflicts or a.code in b.conflicts


# --- customers -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SubscriptionView:
    service_code: str
    plan_code: str | None
    status: str
    since: dt.datetime
    until: dt.datetime | None
    order_id: str | None


@dataclass(frozen=True, slots=True)
class CustomerProfile:
    """What the rules look at; build one by hand in tests."""

    customer_id: str
    tier: str
    region: str
    subscriptions: dict[str, SubscriptionView] = field(default_factory=dict)
    tenure_days: int = 0
    monthly_spend: Decimal = ZERO
    name: str = ""
    blacklisted: bool = False

    @property
    def held(self) -> set[str]:
        return {c for c, s in self.subscriptions.items() if s.status in HELD}

    @property
    def account_status(self) -> str:
        if self.blacklisted:
            return "blacklisted"
        return (
            "active"
            if any(s.status == "active" for s in self.subscriptions.values())
            else ("no_service")
        )


def _customer(session: Session, user: WebUser, customer_id: str) -> Customer:
    customer = session.get(Customer, customer_id)
    if customer is None:
        raise LookupError(customer_id)
    if user.region is not None and customer.region != user.region:
        raise Refused(
            "region", customer=customer_id, region=customer.region, user_region=user.region
        )
    return customer


def _sub_state(row: ServiceSubscription | None) -> dict[str, Any] | None:
    if row is None:
        return None
    return {
        "service_code": row.service_code,
        "plan_code": row.plan_code,
        "status": row.status,
        "since": row.since.isoformat(),
        "until": row.until.isoformat() if row.until else None,
        "order_id": row.order_id,
    }


def _profile(
    session: Session, customer: Customer, services: dict[str, ServiceView], now: dt.datetime
) -> CustomerProfile:
    subs = {
        s.service_code: SubscriptionView(
            s.service_code, s.plan_code, s.status, s.since, s.until, s.order_id
        )
        for s in session.scalars(
            sa.select(ServiceSubscription).where(ServiceSubscription.customer_id == customer.id)
        )
    }
    starts = [s.since for s in subs.values()]
    tenure = max(0, (now - min(starts)).days) if starts else 0
    spend = sum(
        (
            services[s.service_code].fee(s.plan_code)
            for s in subs.values()
            if s.status == "active" and s.service_code in services
        ),
        ZERO,
    )
    return CustomerProfile(
        customer.id,
        customer.tier_id,
        customer.region,
        subs,
        tenure,
        _money(spend),
        customer.name,
        customer.blacklisted,
    )


# --- acceptance orders -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LineInput:
    action: str
    service_code: str
    plan_code: str | None = None


@dataclass(frozen=True, slots=True)
class Problem:
    position: int
    """1-based line number; 0 for the order as a whole."""
    key: str
    service_code: str = ""
    other: str = ""


def check_lines(
    profile: CustomerProfile, services: dict[str, ServiceView], lines: Sequence[LineInput]
) -> list[Problem]:
    """Every problem of ``lines`` for this customer, checking each line against the state
    the earlier lines leave (so "apply broadband, apply IPTV over broadband" is fine)."""
    problems: list[Problem] = []
    if not lines:
        return [Problem(0, "svc_err_no_lines")]
    state = {c: (s.status, s.plan_code) for c, s in profile.subscriptions.items()}
    seen: set[str] = set()

    def held() -> set[str]:
        return {c for c, (status, _plan) in state.items() if status in HELD}

    for pos, line in enumerate(lines, start=1):
        svc = services.get(line.service_code)
        if line.action not in ACTIONS:
            problems.append(Problem(pos, "svc_err_action", line.service_code))
            continue
        if svc is None or not svc.active:
            problems.append(Problem(pos, "svc_err_unknown", line.service_code))
            continue
        if svc.code in seen:
            problems.append(Problem(pos, "svc_err_duplicate", svc.code))
            continue
        seen.add(svc.code)
        if line.plan_code and svc.plan(line.plan_code) is None:
            problems.append(Problem(pos, "svc_err_plan", svc.code, line.plan_code))
            continue
        current = state.get(svc.code, ("", None))
        if line.action in ("apply", "reserve"):
            if current[0] in HELD:
                problems.append(Problem(pos, "svc_err_already", svc.code))
                continue
            if svc.vip_only and profile.tier != "vip":
                problems.append(Problem(pos, "svc_err_vip_only", svc.code))
                continue
            missing = [r for r in svc.requires if r not in held()]
            if missing:
                problems.append(Problem(pos, "svc_err_requires", svc.code, ", ".join(missing)))
                continue
            clash = [c for c in sorted(held()) if c in services and _conflict(svc, services[c])]
            if clash:
                problems.append(Problem(pos, "svc_err_conflict", svc.code, ", ".join(clash)))
                continue
            plan = line.plan_code or (svc.plans[0].code if svc.plans else None)
            state[svc.code] = ("active" if line.action == "apply" else "reserved", plan)
        elif line.action == "change":
            if current[0] != "active":
                problems.append(Problem(pos, "svc_err_not_subscribed", svc.code))
                continue
            if not line.plan_code:
                problems.append(Problem(pos, "svc_err_plan_needed", svc.code))
                continue
            if line.plan_code == current[1]:
                problems.append(Problem(pos, "svc_err_same_plan", svc.code, line.plan_code))
                continue
            state[svc.code] = ("active", line.plan_code)
        else:  # cancel
            if current[0] not in HELD:
                problems.append(Problem(pos, "svc_err_not_subscribed", svc.code))
                continue
            state[svc.code] = ("cancelled", current[1])
            needing = [
                c for c in sorted(held()) if c in services and svc.code in services[c].requires
            ]
            if needing:
                problems.append(Problem(pos, "svc_err_required_by", svc.code, ", ".join(needing)))
    return problems


@dataclass(frozen=True, slots=True)
class LineView:
    line_id: int
    position: int
    action: str
    service_code: str
    plan_code: str | None
    status: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class OperationView:
    operation: str
    line_id: int | None
    service_code: str | None
    actor: str
    at: dt.datetime
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    detail: str


@dataclass(frozen=True, slots=True)
class OrderView:
    order_id: str
    customer_id: str
    customer_name: str
    call_id: str | None
    agent_id: str
    status: str
    source: str
    remarks: str
    record_serial: str | None
    created_at: dt.datetime
    confirmed_at: dt.datetime | None
    rolled_back_at: dt.datetime | None
    rolled_back_by: str | None
    lines: tuple[LineView, ...]
    operations: tuple[OperationView, ...]
    problems: tuple[Problem, ...]


def _new_order_id() -> str:
    return f"SO{utcnow():%Y%m%d%H%M%S}{secrets.randbelow(10**6):06d}"


def _lines(session: Session, order_id: str) -> list[ServiceOrderLine]:
    return list(
        session.scalars(
            sa.select(ServiceOrderLine)
            .where(ServiceOrderLine.order_id == order_id)
            .order_by(ServiceOrderLine.position)
        )
    )


def _inputs(lines: Iterable[ServiceOrderLine]) -> list[LineInput]:
    return [LineInput(ln.action, ln.service_code, ln.plan_code) for ln in lines]


def create_order(
    sessions: sessionmaker[Session],
    user: WebUser,
    customer_id: str,
    lines: Sequence[LineInput],
    *,
    call_id: str | None = None,
    remarks: str = "",
    source: str = "manual",
) -> str:
    """A draft order (nothing applied yet); the order page shows its problems."""
    lines = [ln for ln in lines if ln.service_code]
    if not lines:
        raise Invalid("svc_err_no_lines")
    if len(lines) > MAX_LINES:
        raise Invalid("svc_err_too_many")
    if len(remarks) > 4000:
        raise Invalid("error_too_long", field="remarks")
    with sessions.begin() as session:
        customer = _customer(session, user, customer_id)
        order = ServiceOrder(
            id=_new_order_id(),
            customer_id=customer.id,
            call_id=(call_id or "")[:64] or None,
            agent_id=user.agent_id,
            status="draft",
            source=source[:64],
            remarks=remarks,
            created_at=utcnow(),
        )
        session.add(order)
        session.flush()
        for pos, line in enumerate(lines, start=1):
            session.add(
                ServiceOrderLine(
                    order_id=order.id,
                    position=pos,
                    action=line.action[:16],
                    service_code=line.service_code[:64],
                    plan_code=(line.plan_code or None) and line.plan_code[:64],
                    status="pending",
                )
            )
        audit.record(
            session,
            actor=user.agent_id,
            action="create",
            entity="service_order",
            entity_id=order.id,
            after={
                "customer_id": customer.id,
                "lines": [[ln.action, ln.service_code, ln.plan_code] for ln in lines],
            },
        )
        return order.id


def _order(session: Session, user: WebUser, order_id: str, *, lock: bool = False) -> ServiceOrder:
    """The order (region rule applied). ``lock``: confirm and roll-back of one customer's
    orders run one at a time. The first statement is a write (of the same value), so
    SQLite takes its write lock before anything is read; PostgreSQL also locks the
    customer's row, which serialises every order of that customer."""
    if lock:
        session.execute(
            sa.update(ServiceOrder)
            .where(ServiceOrder.id == order_id)
            .values(status=ServiceOrder.status)
        )
    order = session.scalar(sa.select(ServiceOrder).where(ServiceOrder.id == order_id))
    if order is None:
        raise LookupError(order_id)
    if lock:
        session.execute(
            sa.select(Customer.id).where(Customer.id == order.customer_id).with_for_update()
        )
    _customer(session, user, order.customer_id)
    return order


def get_order(sessions: sessionmaker[Session], user: WebUser, order_id: str) -> OrderView:
    with sessions() as session:
        order = _order(session, user, order_id)
        customer = session.get(Customer, order.customer_id)
        assert customer is not None
        lines = _lines(session, order.id)
        problems: list[Problem] = []
        if order.status == "draft":
            services = _load_catalogue(session)
            problems = check_lines(
                _profile(session, customer, services, utcnow()), services, _inputs(lines)
            )
        ops = session.scalars(
            sa.select(ServiceOperation)
            .where(ServiceOperation.order_id == order.id)
            .order_by(ServiceOperation.id)
        )
        return OrderView(
            order.id,
            order.customer_id,
            customer.name,
            order.call_id,
            order.agent_id,
            order.status,
            order.source,
            order.remarks,
            order.record_serial,
            order.created_at,
            order.confirmed_at,
            order.rolled_back_at,
            order.rolled_back_by,
            tuple(
                LineView(
                    ln.id,
                    ln.position,
                    ln.action,
                    ln.service_code,
                    ln.plan_code,
                    ln.status,
                    ln.before,
                    ln.after,
                )
                for ln in lines
            ),
            tuple(
                OperationView(
                    o.operation,
                    o.line_id,
                    o.service_code,
                    o.actor,
                    o.at,
                    o.before,
                    o.after,
                    o.detail,
                )
                for o in ops
            ),
            tuple(problems),
        )


def list_orders(
    sessions: sessionmaker[Session], user: WebUser, customer_id: str, *, limit: int = 50
) -> list[tuple[str, str, dt.datetime, int]]:
    """``(order id, status, created, lines)`` of a customer, newest first."""
    with sessions() as session:
        _customer(session, user, customer_id)
        rows = session.execute(
            sa.select(
                ServiceOrder.id,
                ServiceOrder.status,
                ServiceOrder.created_at,
                sa.func.count(ServiceOrderLine.id),
            )
            .outerjoin(ServiceOrderLine, ServiceOrderLine.order_id == ServiceOrder.id)
            .where(ServiceOrder.customer_id == customer_id)
            .group_by(ServiceOrder.id, ServiceOrder.status, ServiceOrder.created_at)
            .order_by(ServiceOrder.created_at.desc(), ServiceOrder.id.desc())
            .limit(limit)
        )
        return [(r[0], r[1], r[2], int(r[3])) for r in rows]


class OrderProblems(Invalid):
    """Confirm found problems: nothing was applied."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        super().__init__("svc_err_order_invalid")
        self.problems = tuple(problems)


_CATEGORY_OF = {
    "apply": "acceptance.apply",
    "change": "acceptance.plan",
    "cancel": "acceptance.cancel",
    "reserve": "acceptance.reserve",
}


def _apply_line(
    session: Session,
    order: ServiceOrder,
    line: ServiceOrderLine,
    services: dict[str, ServiceView],
    now: dt.datetime,
) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """Apply one validated line; returns the subscription ``(before, after)``."""
    row = session.scalar(
        sa.select(ServiceSubscription).where(
            ServiceSubscription.customer_id == order.customer_id,
            ServiceSubscription.service_code == line.service_code,
        )
    )
    before = _sub_state(row)
    svc = services[line.service_code]
    if line.action in ("apply", "reserve"):
        plan = line.plan_code or (svc.plans[0].code if svc.plans else None)
        status = "active" if line.action == "apply" else "reserved"
        if row is None:
            row = ServiceSubscription(
                customer_id=order.customer_id,
                service_code=line.service_code,
                plan_code=plan,
                status=status,
                since=now,
                until=None,
                order_id=order.id,
                updated_at=now,
            )
            session.add(row)
        else:
            row.plan_code, row.status, row.since, row.until = plan, status, now, None
    elif line.action == "change":
        assert row is not None
        row.plan_code = line.plan_code
    else:  # cancel
        assert row is not None
        row.status, row.until = "cancelled", now
    row.order_id, row.updated_at = order.id, now
    session.flush()
    return before, _sub_state(row)


def confirm_order(sessions: sessionmaker[Session], user: WebUser, order_id: str) -> bool:
    """Apply every line in one transaction; ``False`` if it was confirmed already.
    :class:`OrderProblems` (nothing applied) when a line no longer validates."""
    with sessions.begin() as session:
        order = _order(session, user, order_id, lock=True)
        if order.status == "confirmed":
            return False
        if order.status != "draft":
            raise Invalid("svc_err_not_draft")
        customer = session.get(Customer, order.customer_id)
        assert customer is not None
        services = _load_catalogue(session)
        now = utcnow()
        lines = _lines(session, order.id)
        problems = check_lines(_profile(session, customer, services, now), services, _inputs(lines))
        if problems:
            raise OrderProblems(problems)
        for line in lines:
            before, after = _apply_line(session, order, line, services, now)
            line.before, line.after, line.status = before, after, "applied"
            session.add(
                ServiceOperation(
                    order_id=order.id,
                    line_id=line.id,
                    operation=line.action,
                    customer_id=order.customer_id,
                    service_code=line.service_code,
                    actor=user.agent_id,
                    at=now,
                    before=before,
                    after=after,
                    detail=f"line {line.position}: {line.action} {line.service_code}"
                    + (f" plan {line.plan_code}" if line.plan_code else ""),
                )
            )
        categories = {_CATEGORY_OF[ln.action] for ln in lines}
        if any(services[ln.service_code].prepaid for ln in lines if ln.action == "apply"):
            categories.add("acceptance.prepaid")
        known = set(
            session.scalars(
                sa.select(BusinessCategory.id).where(
                    BusinessCategory.id.in_(categories), BusinessCategory.active.is_(True)
                )
            )
        )
        serial = new_serial("acceptance", now)
        session.add(
            BusinessRecord(
                id=new_id(),
                serial_no=serial,
                kind="acceptance",
                call_id=order.call_id,
                customer_id=order.customer_id,
                customer_number=session.scalar(
                    sa.select(CustomerNumber.number)
                    .where(CustomerNumber.customer_id == order.customer_id)
                    .order_by(CustomerNumber.number)
                    .limit(1)
                )
                or order.customer_id,
                agent_id=user.agent_id,
                accessed_at=now,
                remarks=f"{order.remarks}\n[{order.id}]".strip(),
                categories=sorted(known),
                status="confirmed",
                result="accepted",
                created_at=now,
            )
        )
        order.status, order.confirmed_at, order.record_serial = "confirmed", now, serial
        session.add(
            ServiceOperation(
                order_id=order.id,
                line_id=None,
                operation="confirm",
                customer_id=order.customer_id,
                service_code=None,
                actor=user.agent_id,
                at=now,
                before=None,
                after={"lines": len(lines), "record_serial": serial},
                detail=f"{len(lines)} lines applied",
            )
        )
        session.flush()
        audit.record(
            session,
            actor=user.agent_id,
            action="confirm",
            entity="service_order",
            entity_id=order.id,
            after={"lines": [[ln.action, ln.service_code, ln.plan_code] for ln in lines]},
        )
        return True


def _restore(session: Session, row: ServiceSubscription | None, state: dict[str, Any]) -> None:
    assert row is not None
    row.plan_code = state["plan_code"]
    row.status = state["status"]
    row.since = dt.datetime.fromisoformat(state["since"])
    row.until = dt.datetime.fromisoformat(state["until"]) if state["until"] else None
    row.order_id = state["order_id"]
    row.updated_at = utcnow()


def rollback_order(sessions: sessionmaker[Session], user: WebUser, order_id: str) -> None:
    """Reverse every line of a confirmed order in one transaction (its own operation in
    the log). Refused (:class:`Invalid` ``svc_err_rollback_depends``) when a later
    confirmed order changed one of the same services."""
    with sessions.begin() as session:
        order = _order(session, user, order_id, lock=True)
        if order.status != "confirmed":
            raise Invalid("svc_err_not_confirmed")
        lines = _lines(session, order.id)
        codes = {ln.service_code for ln in lines}
        # a later order on the same services, or on services that need them, depends on it
        codes |= {s.code for s in _load_catalogue(session).values() if set(s.requires) & codes}
        assert order.confirmed_at is not None
        later = session.scalar(
            sa.select(ServiceOrder.id)
            .join(ServiceOrderLine, ServiceOrderLine.order_id == ServiceOrder.id)
            .where(
                ServiceOrder.customer_id == order.customer_id,
                ServiceOrder.status == "confirmed",
                ServiceOrder.id != order.id,
                ServiceOrder.confirmed_at >= order.confirmed_at,
                ServiceOrderLine.service_code.in_(codes),
            )
            .order_by(ServiceOrder.confirmed_at)
            .limit(1)
        )
        if later is not None:
            raise Invalid("svc_err_rollback_depends", order=later)
        now = utcnow()
        for line in reversed(lines):
            row = session.scalar(
                sa.select(ServiceSubscription).where(
                    ServiceSubscription.customer_id == order.customer_id,
                    ServiceSubscription.service_code == line.service_code,
                )
            )
            current = _sub_state(row)
            if line.before is None:
                if row is not None:
                    session.delete(row)
            else:
                if row is None:
                    row = ServiceSubscription(
                        customer_id=order.customer_id, service_code=line.service_code
                    )
                    session.add(row)
                _restore(session, row, line.before)
            line.status = "rolled_back"
            session.add(
                ServiceOperation(
                    order_id=order.id,
                    line_id=line.id,
                    operation="rollback",
                    customer_id=order.customer_id,
                    service_code=line.service_code,
                    actor=user.agent_id,
                    at=now,
                    before=current,
                    after=line.before,
                    detail=f"line {line.position}: {line.action} {line.service_code} reversed",
                )
            )
            session.flush()
        order.status, order.rolled_back_at, order.rolled_back_by = "rolled_back", now, user.agent_id
        if order.record_serial:
            session.execute(
                sa.update(BusinessRecord)
                .where(BusinessRecord.serial_no == order.record_serial)
                .values(status="rolled_back")
            )
        audit.record(
            session,
            actor=user.agent_id,
            action="rollback",
            entity="service_order",
            entity_id=order.id,
            after={"lines": len(lines)},
        )


# --- marketing -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RuleView:
    rule_id: str
    name_zh: str
    name_en: str
    tiers: tuple[str, ...] = ()
    regions: tuple[str, ...] = ()
    has_services: tuple[str, ...] = ()
    lacks_services: tuple[str, ...] = ()
    min_tenure_days: int | None = None
    min_spend: Decimal | None = None
    max_spend: Decimal | None = None
    service_code: str = ""
    plan_code: str | None = None
    reason_zh: str = ""
    reason_en: str = ""
    priority: int = 0
    active: bool = True

    def name(self, lang: str) -> str:
        return self.name_zh if lang == "zh" else self.name_en

    def reason(self, lang: str) -> str:
        return self.reason_zh if lang == "zh" else self.reason_en


@dataclass(frozen=True, slots=True)
class Recommendation:
    rule_id: str
    service_code: str
    plan_code: str | None
    reason_zh: str
    reason_en: str
    priority: int

    def reason(self, lang: str) -> str:
        return self.reason_zh if lang == "zh" else self.reason_en


def rule_matches(rule: RuleView, customer: CustomerProfile) -> bool:
    held = customer.held
    return (
        rule.active
        and (not rule.tiers or customer.tier in rule.tiers)
        and (not rule.regions or customer.region in rule.regions)
        and all(c in held for c in rule.has_services)
        and not any(c in held for c in rule.lacks_services)
        and rule.service_code not in held
        and (rule.min_tenure_days is None or customer.tenure_days >= rule.min_tenure_days)
        and (rule.min_spend is None or customer.monthly_spend >= rule.min_spend)
        and (rule.max_spend is None or customer.monthly_spend <= rule.max_spend)
    )


def recommendations(
    customer: CustomerProfile,
    rules: Iterable[RuleView],
    services: dict[str, ServiceView] | None = None,
    *,
    declined: Iterable[str] = (),
) -> list[Recommendation]:
    """The rules that match ``customer``, highest priority first, one per service; a
    rule the customer declined lately, a VIP-only service for a non-VIP, a retired
    service or one that would conflict with what the customer has are left out."""
    quiet = set(declined)
    out: dict[str, Recommendation] = {}
    ordered = sorted(rules, key=lambda r: (-r.priority, r.rule_id))
    for rule in ordered:
        if rule.rule_id in quiet or rule.service_code in out or not rule_matches(rule, customer):
            continue
        if services is not None:
            svc = services.get(rule.service_code)
            if svc is None or not svc.active or (svc.vip_only and customer.tier != "vip"):
                continue
            line = LineInput("apply", rule.service_code, rule.plan_code)
            if check_lines(customer, services, [line]):
                continue
        out[rule.service_code] = Recommendation(
            rule.rule_id,
            rule.service_code,
            rule.plan_code,
            rule.reason_zh,
            rule.reason_en,
            rule.priority,
        )
    return list(out.values())


def _rule_view(r: MarketingRule) -> RuleView:
    return RuleView(
        r.id,
        r.name_zh,
        r.name_en,
        tuple(r.tiers or ()),
        tuple(r.regions or ()),
        tuple(r.has_services or ()),
        tuple(r.lacks_services or ()),
        r.min_tenure_days,
        _money(r.min_spend) if r.min_spend is not None else None,
        _money(r.max_spend) if r.max_spend is not None else None,
        r.service_code,
        r.plan_code,
        r.reason_zh,
        r.reason_en,
        r.priority,
        r.active,
    )


def marketing_rules(sessions: sessionmaker[Session]) -> list[RuleView]:
    with sessions() as session:
        rows = session.scalars(
            sa.select(MarketingRule).order_by(MarketingRule.priority.desc(), MarketingRule.id)
        )
        return [_rule_view(r) for r in rows]


def _declined(session: Session, customer_id: str, now: dt.datetime) -> set[str]:
    return set(
        session.scalars(
            sa.select(RecommendationResponse.rule_id).where(
                RecommendationResponse.customer_id == customer_id,
                RecommendationResponse.response == "declined",
                RecommendationResponse.at >= now - dt.timedelta(days=DECLINE_QUIET_DAYS),
            )
        )
    )


@dataclass(frozen=True, slots=True)
class RuleStats:
    rule: RuleView
    accepted: int
    declined: int

    @property
    def rate(self) -> Decimal | None:
        total = self.accepted + self.declined
        if total == 0:
            return None
        return (Decimal(100) * self.accepted / total).quantize(Decimal("0.1"))


def rule_stats(sessions: sessionmaker[Session], user: WebUser) -> list[RuleStats]:
    """Accepted / declined per rule (a regional team lead counts their region's answers)."""
    with sessions() as session:
        query = sa.select(
            RecommendationResponse.rule_id,
            RecommendationResponse.response,
            sa.func.count(),
        ).group_by(RecommendationResponse.rule_id, RecommendationResponse.response)
        if user.region is not None:
            query = query.join(Customer, Customer.id == RecommendationResponse.customer_id).where(
                Customer.region == user.region
            )
        counts: dict[tuple[str, str], int] = {
            (rule_id, response): int(n) for rule_id, response, n in session.execute(query)
        }
        rules = session.scalars(
            sa.select(MarketingRule).order_by(MarketingRule.priority.desc(), MarketingRule.id)
        )
        return [
            RuleStats(
                _rule_view(r), counts.get((r.id, "accepted"), 0), counts.get((r.id, "declined"), 0)
            )
            for r in rules
        ]


_RULE_ID_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789_-.")


def save_marketing_rule(
    sessions: sessionmaker[Session], user: WebUser, values: dict[str, str]
) -> str:
    """Create or replace a rule from the admin form (audited with before/after)."""
    rule_id = values.get("rule_id", "").strip().lower()
    if not rule_id or len(rule_id) > 64 or not set(rule_id) <= _RULE_ID_CHARS:
        raise Invalid("svc_err_rule_id")
    name_zh, name_en = values.get("name_zh", "").strip(), values.get("name_en", "").strip()
    if not name_zh or not name_en:
        raise Invalid("error_required", field="name")
    try:
        priority = int(values.get("priority", "0") or "0")
        tenure_text = values.get("min_tenure_days", "").strip()
        tenure = int(tenure_text) if tenure_text else None
    except ValueError:
        raise Invalid("svc_err_number") from None
    if tenure is not None and tenure < 0:
        raise Invalid("svc_err_number")
    min_spend = parse_money(values.get("min_spend", ""), "min_spend")
    max_spend = parse_money(values.get("max_spend", ""), "max_spend")
    with sessions.begin() as session:
        services = _load_catalogue(session)
        code = values.get("service_code", "").strip()
        svc = services.get(code)
        if svc is None:
            raise Invalid("svc_err_unknown_service")
        plan = values.get("plan_code", "").strip() or None
        if plan is not None and svc.plan(plan) is None:
            raise Invalid("svc_err_unknown_plan")
        listed = _codes(values.get("has_services", "")) + _codes(values.get("lacks_services", ""))
        if any(c not in services for c in listed):
            raise Invalid("svc_err_unknown_service")
        tiers = _codes(values.get("tiers", ""))
        known_tiers = set(session.scalars(sa.select(Tier.id)))
        if any(t not in known_tiers for t in tiers):
            raise Invalid("svc_err_unknown_tier")
        state: dict[str, Any] = {
            "name_zh": name_zh[:200],
            "name_en": name_en[:200],
            "tiers": tiers,
            "regions": _codes(values.get("regions", "")),
            "has_services": _codes(values.get("has_services", "")),
            "lacks_services": _codes(values.get("lacks_services", "")),
            "min_tenure_days": tenure,
            "min_spend": min_spend,
            "max_spend": max_spend,
            "service_code": code,
            "plan_code": plan,
            "reason_zh": values.get("reason_zh", "").strip()[:2000],
            "reason_en": values.get("reason_en", "").strip()[:2000],
            "priority": priority,
            "active": values.get("active", "") in ("1", "on", "true"),
        }
        row = session.get(MarketingRule, rule_id)
        before = None if row is None else _rule_state(row)
        if row is None:
            row = MarketingRule(id=rule_id, **state, updated_at=utcnow())
            session.add(row)
        else:
            for key, value in state.items():
                setattr(row, key, value)
            row.updated_at = utcnow()
        session.flush()
        audit.record(
            session,
            actor=user.agent_id,
            action="create" if before is None else "update",
            entity="marketing_rule",
            entity_id=rule_id,
            before=before,
            after=_rule_state(row),
        )
        return rule_id


def _rule_state(row: MarketingRule) -> dict[str, Any]:
    state = {c.key: getattr(row, c.key) for c in MarketingRule.__table__.columns}
    state.pop("updated_at", None)
    return {k: (str(v) if isinstance(v, Decimal) else v) for k, v in state.items()}


def respond_to_recommendation(
    sessions: sessionmaker[Session],
    user: WebUser,
    customer_id: str,
    rule_id: str,
    *,
    accept: bool,
    reason: str = "",
    call_id: str | None = None,
) -> str | None:
    """Record the agent's answer; accepting creates a draft acceptance order (returned)."""
    reason = reason.strip()
    if not accept and not reason:
        raise Invalid("svc_err_decline_reason")
    if len(reason) > 2000:
        raise Invalid("error_too_long", field="reason")
    with sessions() as session:
        _customer(session, user, customer_id)
        rule = session.get(MarketingRule, rule_id)
        if rule is None:
            raise LookupError(rule_id)
        service_code, plan_code = rule.service_code, rule.plan_code
    order_id = None
    if accept:
        order_id = create_order(
            sessions,
            user,
            customer_id,
            [LineInput("apply", service_code, plan_code)],
            call_id=call_id,
            remarks=reason,
            source=f"rule:{rule_id}",
        )
    with sessions.begin() as session:
        session.add(
            RecommendationResponse(
                rule_id=rule_id,
                customer_id=customer_id,
                call_id=(call_id or "")[:64] or None,
                agent_id=user.agent_id,
                service_code=service_code,
                response="accepted" if accept else "declined",
                reason=reason,
                order_id=order_id,
                at=utcnow(),
            )
        )
        audit.record(
            session,
            actor=user.agent_id,
            action="accept" if accept else "decline",
            entity="recommendation",
            entity_id=f"{customer_id}:{rule_id}",
            after={"order_id": order_id, "reason": reason, "call_id": call_id},
        )
    return order_id


# --- care ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CareRuleView:
    rule_id: str
    name_zh: str
    name_en: str
    trigger: str
    tiers: tuple[str, ...]
    window_days: int
    plan_kind: str
    title_zh: str
    title_en: str
    due_days: int
    active: bool

    def name(self, lang: str) -> str:
        return self.name_zh if lang == "zh" else self.name_en


@dataclass(frozen=True, slots=True)
class CarePlanView:
    plan_id: str
    customer_id: str
    kind: str
    title: str
    note: str
    due_at: dt.datetime
    state: str
    rule_id: str | None
    created_by: str
    actions: tuple[tuple[str, str, str, dt.datetime], ...] = ()
    """``(action, note, agent, at)`` newest last."""

    def overdue(self, now: dt.datetime) -> bool:
        return self.state in OPEN_CARE and self.due_at < now


def _care_rule_view(r: CareRule) -> CareRuleView:
    return CareRuleView(
        r.id,
        r.name_zh,
        r.name_en,
        r.trigger,
        tuple(r.tiers or ()),
        r.window_days,
        r.plan_kind,
        r.title_zh,
        r.title_en,
        r.due_days,
        r.active,
    )


def care_rules(sessions: sessionmaker[Session]) -> list[CareRuleView]:
    with sessions() as session:
        return [
            _care_rule_view(r) for r in session.scalars(sa.select(CareRule).order_by(CareRule.id))
        ]


def save_care_rule(sessions: sessionmaker[Session], user: WebUser, values: dict[str, str]) -> str:
    rule_id = values.get("rule_id", "").strip().lower()
    if not rule_id or len(rule_id) > 64 or not set(rule_id) <= _RULE_ID_CHARS:
        raise Invalid("svc_err_rule_id")
    trigger, kind = values.get("trigger", ""), values.get("plan_kind", "")
    if trigger not in CARE_TRIGGERS or kind not in CARE_KINDS:
        raise Invalid("error_choice", field="trigger")
    fields = {k: values.get(k, "").strip() for k in ("name_zh", "name_en", "title_zh", "title_en")}
    if not all(fields.values()):
        raise Invalid("error_required", field="name")
    try:
        window, due = int(values.get("window_days", "30")), int(values.get("due_days", "3"))
    except ValueError:
        raise Invalid("svc_err_number") from None
    if not (0 < window <= 3660 and 0 <= due <= 365):
        raise Invalid("svc_err_number")
    with sessions.begin() as session:
        tiers = _codes(values.get("tiers", ""))
        if any(t not in set(session.scalars(sa.select(Tier.id))) for t in tiers):
            raise Invalid("svc_err_unknown_tier")
        row = session.get(CareRule, rule_id)
        before = None if row is None else _care_rule_view(row).__repr__()
        state = {
            **{k: v[:200] for k, v in fields.items()},
            "trigger": trigger,
            "plan_kind": kind,
            "tiers": tiers,
            "window_days": window,
            "due_days": due,
            "active": values.get("active", "") in ("1", "on", "true"),
            "updated_at": utcnow(),
        }
        if row is None:
            session.add(CareRule(id=rule_id, **state))
        else:
            for key, value in state.items():
                setattr(row, key, value)
        session.flush()
        audit.record(
            session,
            actor=user.agent_id,
            action="create" if before is None else "update",
            entity="care_rule",
            entity_id=rule_id,
            before=None if before is None else {"rule": before},
            after={k: v for k, v in state.items() if k != "updated_at"},
        )
        return rule_id


def _trigger_keys(
    session: Session, rule: CareRuleView, profile: CustomerProfile, now: dt.datetime
) -> list[str]:
    """The occasions ``rule`` fires on for this customer (one plan per occasion)."""
    since = now - dt.timedelta(days=rule.window_days)
    if rule.trigger == "recent_complaint":
        records = session.execute(
            sa.select(BusinessRecord.serial_no, BusinessRecord.categories).where(
                BusinessRecord.customer_id == profile.customer_id,
                BusinessRecord.accessed_at >= since,
            )
        )
        keys = [s for s, cats in records if any(str(c).startswith("complaint") for c in cats or ())]
        keys += list(
            session.scalars(
                sa.select(ContactRecord.id).where(
                    ContactRecord.customer_id == profile.customer_id,
                    ContactRecord.disposition == "complaint",
                    ContactRecord.started_at >= since,
                )
            )
        )
        return sorted(keys)[-1:]  # one follow-up for the latest complaint
    if rule.trigger == "tenure_anniversary":
        starts = [s.since for s in profile.subscriptions.values()]
        if not starts:
            return []
        first = min(starts)
        years = now.year - first.year
        for year in (years, years + 1):
            if year < 1:
                continue
            try:
                day = first.replace(year=first.year + year)
            except ValueError:  # 29 February
                day = first.replace(year=first.year + year, day=28)
            if abs((day - now).days) <= rule.window_days:
                return [f"year{year}"]
        return []
    if rule.trigger == "recent_cancellation":
        return [
            f"{s.service_code}@{s.until:%Y%m%d}"
            for s in profile.subscriptions.values()
            if s.status == "cancelled" and s.until is not None and s.until >= since
        ][-1:]
    return []


def run_care_rules(
    session: Session, customer: Customer, now: dt.datetime, *, actor: str = "system"
) -> int:
    """Create the care plans the active rules call for (once per occasion); returns how
    many were created."""
    services = _load_catalogue(session)
    profile = _profile(session, customer, services, now)
    created = 0
    for rule_row in session.scalars(sa.select(CareRule).where(CareRule.active.is_(True))):
        rule = _care_rule_view(rule_row)
        if rule.tiers and profile.tier not in rule.tiers:
            continue
        for key in _trigger_keys(session, rule, profile, now):
            dedupe = f"{rule.rule_id}:{customer.id}:{key}"[:200]
            if session.scalar(sa.select(CarePlan.id).where(CarePlan.dedupe_key == dedupe)):
                continue
            plan = CarePlan(
                id=new_id(),
                customer_id=customer.id,
                kind=rule.plan_kind,
                title=f"{rule.title_zh} / {rule.title_en}"[:200],
                note="",
                due_at=now + dt.timedelta(days=rule.due_days),
                state="open",
                rule_id=rule.rule_id,
                dedupe_key=dedupe,
                created_by=actor,
                created_at=now,
                updated_at=now,
            )
            session.add(plan)
            session.flush()
            audit.record(
                session,
                actor=actor,
                action="create",
                entity="care_plan",
                entity_id=plan.id,
                after={"rule": rule.rule_id, "customer_id": customer.id, "occasion": key},
            )
            created += 1
    return created


def _plan_view(session: Session, p: CarePlan, *, with_actions: bool = False) -> CarePlanView:
    actions: tuple[tuple[str, str, str, dt.datetime], ...] = ()
    if with_actions:
        actions = tuple(
            (a.action, a.note, a.agent_id, a.at)
            for a in session.scalars(
                sa.select(CareAction).where(CareAction.plan_id == p.id).order_by(CareAction.id)
            )
        )
    return CarePlanView(
        p.id,
        p.customer_id,
        p.kind,
        p.title,
        p.note,
        p.due_at,
        p.state,
        p.rule_id,
        p.created_by,
        actions,
    )


def _active_plans(session: Session, customer_id: str) -> list[CarePlanView]:
    rows = session.scalars(
        sa.select(CarePlan)
        .where(CarePlan.customer_id == customer_id, CarePlan.state.in_(OPEN_CARE))
        .order_by(CarePlan.due_at, CarePlan.id)
    )
    return [_plan_view(session, p) for p in rows]


def add_care_plan(
    sessions: sessionmaker[Session],
    user: WebUser,
    customer_id: str,
    *,
    kind: str,
    title: str,
    due: dt.date | None,
    note: str = "",
) -> str:
    title = title.strip()
    if kind not in CARE_KINDS:
        raise Invalid("error_choice", field="kind")
    if not title:
        raise Invalid("error_required", field="title")
    if len(title) > 200 or len(note) > 4000:
        raise Invalid("error_too_long", field="title")
    now = utcnow()
    due_at = (
        dt.datetime(due.year, due.month, due.day, 9, tzinfo=dt.UTC)
        if due is not None
        else now + dt.timedelta(days=3)
    )
    with sessions.begin() as session:
        _customer(session, user, customer_id)
        plan = CarePlan(
            id=new_id(),
            customer_id=customer_id,
            kind=kind,
            title=title,
            note=note.strip(),
            due_at=due_at,
            state="open",
            rule_id=None,
            dedupe_key=None,
            created_by=user.agent_id,
            created_at=now,
            updated_at=now,
        )
        session.add(plan)
        session.flush()
        audit.record(
            session,
            actor=user.agent_id,
            action="create",
            entity="care_plan",
            entity_id=plan.id,
            after={"customer_id": customer_id, "kind": kind, "title": title},
        )
        return plan.id


def act_on_care_plan(
    sessions: sessionmaker[Session],
    user: WebUser,
    plan_id: str,
    *,
    action: str,
    note: str = "",
    due: dt.date | None = None,
    call_id: str | None = None,
) -> str:
    """Done / postponed (to ``due``, default in 3 days) / declined, with notes; returns
    the customer id."""
    if action not in CARE_ACTIONS:
        raise Invalid("error_choice", field="action")
    if len(note) > 4000:
        raise Invalid("error_too_long", field="note")
    now = utcnow()
    with sessions.begin() as session:
        plan = session.get(CarePlan, plan_id)
        if plan is None:
            raise LookupError(plan_id)
        _customer(session, user, plan.customer_id)
        if plan.state not in OPEN_CARE:
            raise Invalid("care_err_closed")
        before = {"state": plan.state, "due_at": plan.due_at.isoformat()}
        new_due = None
        if action == "postponed":
            new_due = (
                dt.datetime(due.year, due.month, due.day, 9, tzinfo=dt.UTC)
                if due is not None
                else now + dt.timedelta(days=3)
            )
            if new_due <= now:
                raise Invalid("care_err_due_past")
            plan.due_at = new_due
        plan.state, plan.updated_at = action, now
        session.add(
            CareAction(
                plan_id=plan.id,
                action=action,
                note=note.strip(),
                agent_id=user.agent_id,
                call_id=(call_id or "")[:64] or None,
                due_at=new_due,
                at=now,
            )
        )
        audit.record(
            session,
            actor=user.agent_id,
            action=action,
            entity="care_plan",
            entity_id=plan.id,
            before=before,
            after={"state": plan.state, "due_at": plan.due_at.isoformat(), "note": note[:200]},
        )
        return plan.customer_id


def care_overview(
    sessions: sessionmaker[Session], user: WebUser, *, state: str = "open", limit: int = 200
) -> list[tuple[CarePlanView, str, str]]:
    """Care plans in the user's region (``(plan, customer name, region)``), due first."""
    states = OPEN_CARE if state == "open" else (state,)
    with sessions() as session:
        query = (
            sa.select(CarePlan, Customer.name, Customer.region)
            .join(Customer, Customer.id == CarePlan.customer_id)
            .where(CarePlan.state.in_(states))
            .order_by(CarePlan.due_at, CarePlan.id)
            .limit(limit)
        )
        if user.region is not None:
            query = query.where(Customer.region == user.region)
        return [(_plan_view(session, p), n, r) for p, n, r in session.execute(query)]


def care_plan(sessions: sessionmaker[Session], user: WebUser, plan_id: str) -> CarePlanView:
    with sessions() as session:
        plan = session.get(CarePlan, plan_id)
        if plan is None:
            raise LookupError(plan_id)
        _customer(session, user, plan.customer_id)
        return _plan_view(session, plan, with_actions=True)


# --- the desktop pane ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Pane:
    profile: CustomerProfile
    services: dict[str, ServiceView]
    recommendations: list[Recommendation]
    care_plans: list[CarePlanView]
    rule_names: dict[str, tuple[str, str]]

    @property
    def subscribed(self) -> list[SubscriptionView]:
        return [
            s
            for code, s in sorted(self.profile.subscriptions.items())
            if s.status in HELD and code in self.services
        ]

    @property
    def not_subscribed(self) -> list[ServiceView]:
        held = self.profile.held
        return [s for s in self.services.values() if s.active and s.code not in held]


def customer_pane(sessions: sessionmaker[Session], user: WebUser, customer_id: str) -> Pane:
    """What the desktop pane shows for a customer; runs the care rules first, so plans
    they call for pop up when the customer calls."""
    now = utcnow()
    try:
        with sessions.begin() as session:
            customer = _customer(session, user, customer_id)
            run_care_rules(session, customer, now)
    except sa.exc.IntegrityError:
        pass  # the same plan was just created by a concurrent request: it is there
    with sessions() as session:
        customer = _customer(session, user, customer_id)
        services = _load_catalogue(session)
        profile = _profile(session, customer, services, now)
        rules = [_rule_view(r) for r in session.scalars(sa.select(MarketingRule))]
        recs = recommendations(
            profile, rules, services, declined=_declined(session, customer.id, now)
        )
        return Pane(
            profile,
            services,
            recs,
            _active_plans(session, customer.id),
            {r.rule_id: (r.name_zh, r.name_en) for r in rules},
        )


@dataclass(frozen=True, slots=True)
class PaneBalance:
    """The prepaid balance on the desktop pane: shown only once the customer's service
    password was verified in this web session (R-BIZ-4, the payment pages' gate)."""

    balance: Decimal | None
    """Sum of the main ledgers of the customer's prepaid accounts; ``None`` while locked
    or without a prepaid account."""
    locked: bool


LOCKED_BALANCE = PaneBalance(None, True)


def pane_balance(
    sessions: sessionmaker[Session], user: WebUser, customer_id: str, *, csrf: str
) -> PaneBalance:
    """The customer's prepaid balance for this web session (identified by its CSRF token,
    like the payment pages' unlock); locked without the service password. Showing it is
    audited (``customer_query``, view ``pane_balance``)."""
    with sessions.begin() as session:
        _customer(session, user, customer_id)
        if not csrf or payments_data.unlocked_until(session, user, customer_id, csrf) is None:
            return LOCKED_BALANCE
        prepaid = [a for a in pay.accounts_of(session, customer_id) if a.kind == "prepaid"]
        balance = sum((a.balance("main") for a in prepaid), Decimal("0.00")) if prepaid else None
        audit.record(
            session,
            actor=user.agent_id,
            action="customer_query",
            entity="customer",
            entity_id=customer_id,
            after={"view": "pane_balance"},
        )
        return PaneBalance(balance, False)


def pane_json(
    pane: Pane,
    fmt: Any = None,
    *,
    balance: PaneBalance = LOCKED_BALANCE,
    csrf: str = "",
) -> dict[str, Any]:
    """The pane as JSON for the desktop (money as decimal strings, times ISO 8601 UTC);
    ``balance`` / ``balance_locked`` from :func:`pane_balance`, ``csrf`` the session's
    token (the ``X-CSRF-Token`` of the JSON POSTs)."""
    now = utcnow()
    p = pane.profile

    def svc_names(code: str) -> dict[str, str]:
        svc = pane.services.get(code)
        return {"name_zh": svc.name_zh if svc else code, "name_en": svc.name_en if svc else code}

    return {
        "customer": {
            "customer_id": p.customer_id,
            "name": p.name,
            "tier": p.tier,
            "region": p.region,
            "account_status": p.account_status,
            "tenure_days": p.tenure_days,
            "monthly_spend": str(p.monthly_spend),
        },
        "subscribed": [
            {
                "service_code": s.service_code,
                **svc_names(s.service_code),
                "plan_code": s.plan_code,
                "status": s.status,
                "since": s.since.isoformat(),
                "monthly_fee": str(pane.services[s.service_code].fee(s.plan_code)),
            }
            for s in pane.subscribed
        ],
        "not_subscribed": [
            {
                "service_code": s.code,
                "name_zh": s.name_zh,
                "name_en": s.name_en,
                "category": s.category,
                "monthly_fee": str(s.monthly_fee),
                "vip_only": s.vip_only,
            }
            for s in pane.not_subscribed
        ],
        "recommendations": [
            {
                "rule_id": r.rule_id,
                "service_code": r.service_code,
                **svc_names(r.service_code),
                "plan_code": r.plan_code,
                "reason_zh": r.reason_zh,
                "reason_en": r.reason_en,
                "priority": r.priority,
            }
            for r in pane.recommendations
        ],
        "care_plans": [
            {
                "plan_id": c.plan_id,
                "kind": c.kind,
                "title": c.title,
                "note": c.note,
                "due_at": c.due_at.isoformat(),
                "state": c.state,
                "overdue": c.overdue(now),
                "rule_id": c.rule_id,
            }
            for c in pane.care_plans
        ],
        "balance": None if balance.balance is None else str(balance.balance),
        "balance_locked": balance.locked,
        "csrf": csrf,
    }


# --- satisfaction surveys --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SurveyView:
    call_id: str
    agent_id: str | None
    customer_id: str | None
    score: int
    answers: dict[str, str]
    at: dt.datetime


def call_survey(sessions: sessionmaker[Session], user: WebUser, call_id: str) -> SurveyView:
    with sessions() as session:
        row = session.scalar(sa.select(SurveyResult).where(SurveyResult.call_id == call_id))
        if row is None:
            raise LookupError(call_id)
        if row.agent_id != user.agent_id and row.customer_id is not None:
            _customer(session, user, row.customer_id)
        if user.role is Role.AGENT and row.agent_id != user.agent_id:
            raise Refused("role", call=call_id)
        return SurveyView(
            row.call_id, row.agent_id, row.customer_id, row.score, dict(row.answers or {}), row.at
        )


@dataclass(frozen=True, slots=True)
class AgentSurveyStats:
    agent_id: str
    name: str
    surveys: int
    average: Decimal
    low: int
    """Scores of 1 or 2."""


def survey_averages(
    sessions: sessionmaker[Session], user: WebUser, *, days: int = 30
) -> list[AgentSurveyStats]:
    """Per-agent survey averages over the last ``days`` (a regional team lead sees the
    agents of their region)."""
    since = utcnow() - dt.timedelta(days=days)
    with sessions() as session:
        query = (
            sa.select(
                SurveyResult.agent_id,
                Agent.name,
                sa.func.count(),
                sa.func.avg(SurveyResult.score),
                sa.func.sum(sa.case((SurveyResult.score <= 2, 1), else_=0)),
            )
            .join(Agent, Agent.id == SurveyResult.agent_id)
            .where(SurveyResult.at >= since)
            .group_by(SurveyResult.agent_id, Agent.name)
            .order_by(SurveyResult.agent_id)
        )
        if user.region is not None:
            query = query.where(Agent.region == user.region)
        return [
            AgentSurveyStats(
                str(agent),
                name,
                int(n),
                Decimal(str(avg)).quantize(Decimal("0.01")),
                int(low or 0),
            )
            for agent, name, n, avg, low in session.execute(query)
        ]


def recent_surveys(
    sessions: sessionmaker[Session], user: WebUser, *, limit: int = 50
) -> list[SurveyView]:
    with sessions() as session:
        query = sa.select(SurveyResult).order_by(SurveyResult.at.desc()).limit(limit)
        if user.region is not None:
            query = query.join(Agent, Agent.id == SurveyResult.agent_id).where(
                Agent.region == user.region
            )
        return [
            SurveyView(r.call_id, r.agent_id, r.customer_id, r.score, dict(r.answers or {}), r.at)
            for r in session.scalars(query)
        ]
