"""Blocking data access of the payment and customer-query pages (R-BIZ-4, R-BIZ-6).

Customer data, services, bills, balances and payment history open only after the
customer's service password was given in this web session (:func:`unlock`): an unlock
row ties agent, customer and session (SHA-256 of the session's CSRF token) and ends
after :data:`UNLOCK_TTL`, when the agent locks it again, or when the call it was given
on is released. Every search, unlock, refusal and view is audited (``audit_log``).
Money movements go through :mod:`cti_server.store.payments`, the same service the IVR
uses.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from cti_server.store import audit
from cti_server.store import payments as pay
from cti_server.store.models import (
    Account,
    Call,
    Customer,
    CustomerNumber,
    CustomerUnlock,
    Receipt,
    utcnow,
)

from .data import Refused, WebUser

UNLOCK_TTL = dt.timedelta(minutes=10)
SEARCH_LIMIT = 50

type Sessions = sessionmaker[Session]


def session_key(csrf: str) -> str:
    """What an unlock is bound to: the web session (its CSRF token, hashed)."""
    return hashlib.sha256(b"opencc-unlock\x00" + csrf.encode("utf-8")).hexdigest()


class Locked(Exception):
    """The customer's service password has not been given in this session (or expired)."""


def _customer(session: Session, user: WebUser, customer_id: str) -> Customer:
    row = session.get(Customer, customer_id)
    if row is None:
        raise LookupError(customer_id)
    if not user.sees_region(row.region or None):
        raise Refused("region", customer=customer_id, region=row.region, user_region=user.region)
    return row


def _log(session: Session, user: WebUser, action: str, customer_id: str, **after: Any) -> None:
    audit.record(
        session,
        actor=user.agent_id,
        action=action,
        entity="customer",
        entity_id=customer_id,
        after={
            k: v if isinstance(v, int | bool) or v is None else str(v) for k, v in after.items()
        },
    )


# --- fuzzy search ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CustomerHit:
    customer_id: str
    name: str
    region: str
    tier_id: str
    numbers: tuple[str, ...]


def search_customers(sessions: Sessions, user: WebUser, text: str) -> list[CustomerHit]:
    """Customers whose name or id contains ``text`` or one of whose numbers contains its
    digits; only the user's region; the search is audited."""
    text = text.strip()[:100]
    if not text:
        return []
    pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    digits = re.sub(r"\D", "", text)
    match = [
        Customer.name.ilike(pattern, escape="\\"),
        Customer.id.ilike(pattern, escape="\\"),
    ]
    if len(digits) >= 3:
        match.append(
            Customer.id.in_(
                sa.select(CustomerNumber.customer_id).where(
                    CustomerNumber.number.like(f"%{digits}%")
                )
            )
        )
    where: list[Any] = [sa.or_(*match)]
    if user.region is not None:
        where.append(Customer.region == user.region)
    with sessions.begin() as session:
        rows = session.scalars(
            sa.select(Customer).where(*where).order_by(Customer.id).limit(SEARCH_LIMIT)
        ).all()
        numbers: dict[str, list[str]] = {}
        if rows:
            for number, cid in session.execute(
                sa.select(CustomerNumber.number, CustomerNumber.customer_id)
                .where(CustomerNumber.customer_id.in_([r.id for r in rows]))
                .order_by(CustomerNumber.number)
            ):
                numbers.setdefault(cid, []).append(number)
        audit.record(
            session,
            actor=user.agent_id,
            action="customer_search",
            entity="customer",
            entity_id="",
            after={"q": text, "found": len(rows), "region": user.region},
        )
        return [
            CustomerHit(r.id, r.name, r.region, r.tier_id, tuple(numbers.get(r.id, ())))
            for r in rows
        ]


# --- the service-password gate ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CustomerHead:
    """What the gate shows before the password: who the customer is, nothing else."""

    customer_id: str
    name: str
    region: str


def customer_head(sessions: Sessions, user: WebUser, customer_id: str) -> CustomerHead:
    with sessions() as session:
        row = _customer(session, user, customer_id)
        return CustomerHead(row.id, row.name, row.region)


def unlock(
    sessions: Sessions,
    user: WebUser,
    customer_id: str,
    password: str,
    *,
    csrf: str,
    call_id: str | None = None,
    ttl: dt.timedelta = UNLOCK_TTL,
) -> dt.datetime:
    """Check the service password the caller gave; on success open the customer's data
    to this agent and session until the returned time. Raises :class:`Refused` (region)
    or a :class:`~cti_server.store.payments.PaymentError` (wrong password, locked …)."""
    with sessions() as session:
        _customer(session, user, customer_id)
    pay.check_service_password(sessions, customer_id, password, actor=user.agent_id, channel="web")
    now = utcnow()
    expires = now + ttl
    with sessions.begin() as session:
        session.add(
            CustomerUnlock(
                agent_id=user.agent_id,
                customer_id=customer_id,
                session_key=session_key(csrf),
                call_id=call_id or None,
                created_at=now,
                expires_at=expires,
                ended_at=None,
            )
        )
        _log(session, user, "customer_unlock", customer_id, call_id=call_id, expires_at=expires)
    return expires


def lock(sessions: Sessions, user: WebUser, customer_id: str, *, csrf: str) -> int:
    """End this session's unlocks of the customer (the call is over); how many ended."""
    with sessions.begin() as session:
        ended = session.execute(
            sa.update(CustomerUnlock)
            .where(
                CustomerUnlock.agent_id == user.agent_id,
                CustomerUnlock.customer_id == customer_id,
                CustomerUnlock.session_key == session_key(csrf),
                CustomerUnlock.ended_at.is_(None),
            )
            .values(ended_at=utcnow())
            .returning(CustomerUnlock.id)
        ).all()
        _log(session, user, "customer_lock", customer_id, ended=len(ended))
        return len(ended)


def unlocked_until(
    session: Session, user: WebUser, customer_id: str, csrf: str
) -> dt.datetime | None:
    """Until when this session may see the customer's data, or ``None``."""
    now = utcnow()
    rows = session.execute(
        sa.select(CustomerUnlock.expires_at, Call.released_at, CustomerUnlock.call_id)
        .outerjoin(Call, Call.id == CustomerUnlock.call_id)
        .where(
            CustomerUnlock.agent_id == user.agent_id,
            CustomerUnlock.customer_id == customer_id,
            CustomerUnlock.session_key == session_key(csrf),
            CustomerUnlock.ended_at.is_(None),
            CustomerUnlock.expires_at > now,
        )
    ).all()
    valid = [expires for expires, released, call in rows if call is None or released is None]
    return max(valid) if valid else None


# --- the customer's data ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CustomerOverview:
    customer_id: str
    name: str
    region: str
    tier_id: str
    blacklisted: bool
    numbers: tuple[str, ...]
    services: tuple[str, ...]
    accounts: tuple[pay.AccountView, ...]
    bills: tuple[pay.BillView, ...]
    receipts: tuple[pay.ReceiptView, ...]
    unlocked_until: dt.datetime

    @property
    def total(self) -> Decimal:
        return sum((a.total for a in self.accounts), Decimal("0.00"))


def customer_overview(
    sessions: Sessions, user: WebUser, customer_id: str, *, csrf: str
) -> CustomerOverview:
    """Customer data, services, balances of every ledger, bills and payment history.
    :class:`Refused` out of region, :class:`Locked` without the service password; the
    view is audited (``customer_query``)."""
    with sessions.begin() as session:
        row = _customer(session, user, customer_id)
        until = unlocked_until(session, user, customer_id, csrf)
        if until is None:
            raise Locked(customer_id)
        numbers = tuple(
            session.scalars(
                sa.select(CustomerNumber.number)
                .where(CustomerNumber.customer_id == customer_id)
                .order_by(CustomerNumber.number)
            )
        )
        overview = CustomerOverview(
            customer_id=row.id,
            name=row.name,
            region=row.region,
            tier_id=row.tier_id,
            blacklisted=row.blacklisted,
            numbers=numbers,
            services=tuple(str(s) for s in (row.services or [])),
            accounts=tuple(pay.accounts_of(session, customer_id)),
            bills=tuple(pay.bills_of(session, customer_id)),
            receipts=tuple(pay.receipts_of(session, customer_id)),
            unlocked_until=until,
        )
        _log(session, user, "customer_query", customer_id, view="overview")
        return overview


# --- recharge -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RechargeContext:
    customer_id: str
    name: str
    accounts: tuple[str, ...]
    """The customer's prepaid account numbers."""


def recharge_context(sessions: Sessions, user: WebUser, customer_id: str) -> RechargeContext:
    with sessions() as session:
        row = _customer(session, user, customer_id)
        accounts = tuple(
            session.scalars(
                sa.select(Account.id)
                .where(
                    Account.customer_id == customer_id,
                    Account.kind == "prepaid",
                    Account.status == "active",
                )
                .order_by(Account.id)
            )
        )
        return RechargeContext(row.id, row.name, accounts)


def recharge(
    sessions: Sessions,
    user: WebUser,
    customer_id: str,
    *,
    account_id: str,
    card_no: str,
    pin: str,
    channel: str,
    idempotency_key: str,
    call_id: str | None = None,
) -> pay.ReceiptView:
    """A card top-up taken by an agent (the caller reads the card out, or sent it by SMS)."""
    with sessions() as session:
        _customer(session, user, customer_id)
    if channel not in ("phone", "sms"):
        raise pay.InvalidPaymentInput("channel", "phone or sms")
    return pay.recharge(
        sessions,
        card_no=card_no,
        pin=pin,
        channel=channel,
        idempotency_key=f"web:{idempotency_key}",
        actor=user.agent_id,
        account_id=account_id or None,
        customer_id=customer_id,
        call_id=call_id or None,
    )


def receipt(sessions: Sessions, user: WebUser, receipt_no: str) -> tuple[pay.ReceiptView, str]:
    """A receipt and its customer's name (region rule applies; the view is audited)."""
    with sessions.begin() as session:
        row = session.get(Receipt, receipt_no)
        if row is None:
            raise LookupError(receipt_no)
        customer = _customer(session, user, row.customer_id)
        _log(session, user, "customer_query", row.customer_id, view="receipt", receipt=receipt_no)
        return pay.get_receipt(session, receipt_no), customer.name
