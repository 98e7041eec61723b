"""Prepaid accounts, ledgers, recharge cards and receipts (R-BIZ-6, R-BIZ-4).

One service for every channel: the web pages (an agent keys in the card a caller reads
out, or one sent by SMS) and the IVR's self-service look-ups (``account_balance``,
``recharge`` in :mod:`cti_server.domain.lookups`) call the same functions.

Money is exact: :class:`decimal.Decimal` with two places everywhere (the ``Money``
column type; integer cents on SQLite). A balance only changes together with a journal
row (``ledger_entries``) that carries the amount and the balance after it, in the same
transaction; the sum of a ledger's journal is its balance (:func:`reconcile`).

Recharge (:func:`recharge`) is exactly-once under concurrency on SQLite and PostgreSQL:

* the card is consumed by one conditional ``UPDATE recharge_cards SET state='used' …
  WHERE card_no=… AND state='unused' AND pin_hash=…``. On PostgreSQL a concurrent
  request blocks on the row lock and then finds ``state='used'`` (0 rows); on SQLite that
  UPDATE is the first statement of the write transaction, so writers queue on the
  database lock (busy timeout) and each sees the previous one's commit;
* the credit is ``UPDATE ledgers SET balance = balance + :v … RETURNING balance`` in the
  same transaction, so the journal's ``balance_after`` is the locked row's new value;
* a receipt has a UNIQUE ``idempotency_key`` (and a UNIQUE ``card_no``): the same key
  again returns the first receipt (``replayed=True``) and credits nothing; if a
  concurrent request with the same key wins, the loser rolls back and returns the
  winner's receipt.

Card PINs are stored as ``HMAC-SHA256(pepper, card_no ":" pin)`` (prefix ``h1$``), not
argon2: PINs are long random numbers we issue (not human-chosen passwords), so a slow
hash adds little, while one argon2 verification (64 MiB, tens of ms) per attempt would
make the IVR and 20 parallel top-ups memory-bound. The pepper is a server secret
outside the database (``OPENCC_CARD_PEPPER``), so a copy of the database alone does
not reveal PINs; the card number salts each hash. Online guessing is stopped by the
attempt counter: after :data:`MAX_PIN_ATTEMPTS` wrong PINs the card is ``locked``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
import os
import re
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from . import audit
from .auth import DEFAULT_HASHER, verify_password
from .errors import NotFound, StoreError
from .models import (
    Account,
    AuditEntry,
    Bill,
    Customer,
    Ledger,
    LedgerEntry,
    Receipt,
    RechargeCard,
    utcnow,
)

log = logging.getLogger(__name__)

CENT = Decimal("0.01")
CHANNELS = ("phone", "sms", "web", "ivr")
LEDGER_KINDS = ("main", "bonus", "deposit")
ACCOUNT_KINDS = ("prepaid", "postpaid")
MAX_PIN_ATTEMPTS = 5
"""Wrong PINs after which a card is locked (the last one locks it)."""
SERVICE_PASSWORD_MAX_FAILURES = 5
SERVICE_PASSWORD_WINDOW = dt.timedelta(minutes=15)
"""Wrong service passwords within this window that block further tries."""
PEPPER_ENV = "OPENCC_CARD_PEPPER"
DEMO_PEPPER = b"opencc-demo-card-pepper-change-me"

_CARD_RE = re.compile(r"[0-9]{10,32}")
_PIN_RE = re.compile(r"[0-9]{4,32}")
_warned: set[str] = set()

type Sessions = sessionmaker[Session]


# --- errors -----------------------------------------------------------------------------------


class PaymentError(StoreError):
    """A payment was refused; ``code`` names why (pages and the IVR show it)."""

    code = "payment_error"


class InvalidPaymentInput(PaymentError, ValueError):
    code = "invalid_input"

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field


class UnknownCard(PaymentError):
    code = "unknown_card"


class WrongPin(PaymentError):
    code = "wrong_pin"

    def __init__(self, card_no: str, attempts_left: int) -> None:
        super().__init__(f"wrong PIN for card {mask_card(card_no)}, attempts left: {attempts_left}")
        self.attempts_left = attempts_left


class CardUsed(PaymentError):
    code = "card_used"

    def __init__(self, card_no: str, receipt_no: str | None) -> None:
        super().__init__(f"card {mask_card(card_no)} was already used (receipt {receipt_no})")
        self.receipt_no = receipt_no


class CardVoid(PaymentError):
    code = "card_void"


class CardLocked(PaymentError):
    code = "card_locked"


class CardExpired(PaymentError):
    code = "card_expired"


class UnknownAccount(PaymentError, LookupError):
    code = "unknown_account"


class AccountNotRechargeable(PaymentError):
    code = "account_not_rechargeable"


class IdempotencyConflict(PaymentError):
    """The idempotency key was used for a different payment."""

    code = "idempotency_conflict"


class UnknownCustomer(PaymentError, LookupError):
    code = "unknown_customer"


class NoServicePassword(PaymentError):
    code = "no_service_password"


class WrongServicePassword(PaymentError):
    code = "wrong_service_password"

    def __init__(self, customer_id: str, attempts_left: int) -> None:
        super().__init__(f"wrong service password for {customer_id}")
        self.attempts_left = attempts_left


class ServicePasswordLocked(PaymentError):
    code = "service_password_locked"


# --- helpers ----------------------------------------------------------------------------------


def money(value: object) -> Decimal:
    """``value`` as an exact amount with two places; floats are refused (they are not exact)."""
    if isinstance(value, float | bool):
        raise InvalidPaymentInput("amount", f"use a decimal string, not {type(value).__name__}")
    try:
        amount = Decimal(str(value).strip()) if isinstance(value, str) else Decimal(value)  # type: ignore[arg-type]
    except (InvalidOperation, TypeError, ValueError):
        raise InvalidPaymentInput("amount", f"not an amount: {value!r}") from None
    if not amount.is_finite() or amount != amount.quantize(CENT):
        raise InvalidPaymentInput("amount", f"at most two decimal places: {value!r}")
    return amount.quantize(CENT)


def card_pepper() -> bytes:
    """The server's secret for card PIN hashes (``OPENCC_CARD_PEPPER``; a demo value
    when unset, with a warning in the log)."""
    value = os.environ.get(PEPPER_ENV)
    if value:
        return value.encode("utf-8")
    if PEPPER_ENV not in _warned:
        _warned.add(PEPPER_ENV)
        log.warning("%s is not set: card PINs use the demo pepper", PEPPER_ENV)
    return DEMO_PEPPER


def pin_hash(card_no: str, pin: str, pepper: bytes | None = None) -> str:
    key = card_pepper() if pepper is None else pepper
    digest = hmac.new(key, f"{card_no}:{pin}".encode(), hashlib.sha256).hexdigest()
    return f"h1${digest}"


def normalise_card_no(text: str) -> str:
    card = re.sub(r"[\s-]", "", text or "")
    if not _CARD_RE.fullmatch(card):
        raise InvalidPaymentInput("card_no", "10 to 32 digits")
    return card


def mask_card(card_no: str) -> str:
    return card_no if len(card_no) <= 8 else f"{card_no[:4]}…{card_no[-4:]}"


def new_receipt_no(now: dt.datetime | None = None) -> str:
    at = (now or utcnow()).astimezone(dt.UTC)
    return f"R{at:%Y%m%d%H%M%S}{secrets.randbelow(10**6):06d}"


# --- views ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReceiptView:
    receipt_no: str
    account_id: str
    customer_id: str
    card_no: str | None
    amount: Decimal
    kind: str
    channel: str
    agent_id: str
    call_id: str | None
    created_at: dt.datetime
    balance_after: Decimal | None = None
    """The main balance right after this credit (``None`` when read back later)."""
    replayed: bool = False
    """True when an earlier request with the same idempotency key made this receipt."""

    @property
    def masked_card(self) -> str:
        return mask_card(self.card_no) if self.card_no else ""


def _receipt_view(
    row: Receipt, *, balance_after: Decimal | None = None, replayed: bool = False
) -> ReceiptView:
    return ReceiptView(
        receipt_no=row.receipt_no,
        account_id=row.account_id,
        customer_id=row.customer_id,
        card_no=row.card_no,
        amount=row.amount,
        kind=row.kind,
        channel=row.channel,
        agent_id=row.agent_id,
        call_id=row.call_id,
        created_at=row.created_at,
        balance_after=balance_after,
        replayed=replayed,
    )


@dataclass(frozen=True, slots=True)
class LedgerView:
    kind: str
    balance: Decimal
    updated_at: dt.datetime


@dataclass(frozen=True, slots=True)
class AccountView:
    account_id: str
    customer_id: str
    kind: str
    status: str
    currency: str
    ledgers: tuple[LedgerView, ...]

    @property
    def total(self) -> Decimal:
        return sum((ledger.balance for ledger in self.ledgers), Decimal("0.00"))

    def balance(self, kind: str = "main") -> Decimal:
        return next((x.balance for x in self.ledgers if x.kind == kind), Decimal("0.00"))


@dataclass(frozen=True, slots=True)
class BillView:
    account_id: str
    period: str
    amount_due: Decimal
    amount_paid: Decimal
    due_date: dt.date
    status: str

    @property
    def outstanding(self) -> Decimal:
        return self.amount_due - self.amount_paid


# --- accounts and cards -------------------------------------------------------------------------


def open_account(
    session: Session,
    customer_id: str,
    *,
    account_id: str,
    kind: str = "prepaid",
    opening: dict[str, Decimal] | None = None,
    actor: str = "system",
    now: dt.datetime | None = None,
) -> Account:
    """A new account with one ledger per :data:`LEDGER_KINDS` (prepaid) or a ``main``
    ledger (postpaid); opening balances are journalled as ``opening`` entries."""
    if kind not in ACCOUNT_KINDS:
        raise InvalidPaymentInput("kind", f"one of {ACCOUNT_KINDS}")
    if session.get(Customer, customer_id) is None:
        raise UnknownCustomer(f"no customer {customer_id!r}")
    at = now or utcnow()
    account = Account(
        id=account_id,
        customer_id=customer_id,
        kind=kind,
        status="active",
        currency="CNY",
        created_at=at,
    )
    session.add(account)
    session.flush()
    kinds = LEDGER_KINDS if kind == "prepaid" else ("main",)
    for ledger_kind in kinds:
        amount = money((opening or {}).get(ledger_kind, Decimal("0.00")))
        ledger = Ledger(account_id=account_id, kind=ledger_kind, balance=amount, updated_at=at)
        session.add(ledger)
        session.flush()
        session.add(
            LedgerEntry(
                ledger_id=ledger.id,
                account_id=account_id,
                amount=amount,
                balance_after=amount,
                kind="opening",
                receipt_no=None,
                actor=actor,
                memo="",
                created_at=at,
            )
        )
    session.flush()
    return account


def issue_cards(
    session: Session,
    cards: Iterable[tuple[str, str, Decimal]],
    *,
    batch: str,
    expires_at: dt.datetime | None = None,
    pepper: bytes | None = None,
    now: dt.datetime | None = None,
) -> int:
    """Store ``(card_no, pin, face_value)`` cards as ``unused`` (PINs hashed)."""
    at = now or utcnow()
    rows = [
        {
            "card_no": normalise_card_no(card_no),
            "pin_hash": pin_hash(card_no, pin, pepper),
            "face_value": money(face),
            "batch": batch,
            "state": "unused",
            "failed_attempts": 0,
            "expires_at": expires_at,
            "created_at": at,
        }
        for card_no, pin, face in cards
    ]
    if rows:
        session.execute(sa.insert(RechargeCard), rows)
    return len(rows)


def find_account(
    session: Session, *, account_id: str | None = None, customer_id: str | None = None
) -> Account:
    """The account by number, else the customer's (first) prepaid account."""
    if account_id:
        account = session.get(Account, account_id.strip())
        if account is None or (customer_id and account.customer_id != customer_id):
            raise UnknownAccount(f"no account {account_id!r}")
        return account
    if customer_id:
        account = session.scalars(
            sa.select(Account)
            .where(Account.customer_id == customer_id, Account.kind == "prepaid")
            .order_by(Account.created_at, Account.id)
            .limit(1)
        ).first()
        if account is None:
            raise UnknownAccount(f"customer {customer_id!r} has no prepaid account")
        return account
    raise InvalidPaymentInput("account", "give an account number or a customer")


def accounts_of(session: Session, customer_id: str) -> list[AccountView]:
    """Every account of the customer with the balance of each ledger."""
    accounts = session.scalars(
        sa.select(Account).where(Account.customer_id == customer_id).order_by(Account.id)
    ).all()
    return [account_view(session, a) for a in accounts]


def account_view(session: Session, account: Account) -> AccountView:
    ledgers = session.scalars(sa.select(Ledger).where(Ledger.account_id == account.id)).all()
    order = {k: i for i, k in enumerate(LEDGER_KINDS)}
    ledgers = sorted(ledgers, key=lambda x: (order.get(x.kind, 99), x.kind))
    return AccountView(
        account.id,
        account.customer_id,
        account.kind,
        account.status,
        account.currency,
        tuple(LedgerView(x.kind, x.balance, x.updated_at) for x in ledgers),
    )


def bills_of(session: Session, customer_id: str, *, limit: int = 24) -> list[BillView]:
    rows = session.scalars(
        sa.select(Bill)
        .join(Account, Account.id == Bill.account_id)
        .where(Account.customer_id == customer_id)
        .order_by(Bill.period.desc(), Bill.account_id)
        .limit(limit)
    )
    return [
        BillView(b.account_id, b.period, b.amount_due, b.amount_paid, b.due_date, b.status)
        for b in rows
    ]


def receipts_of(session: Session, customer_id: str, *, limit: int = 50) -> list[ReceiptView]:
    rows = session.scalars(
        sa.select(Receipt)
        .where(Receipt.customer_id == customer_id)
        .order_by(Receipt.created_at.desc(), Receipt.receipt_no.desc())
        .limit(limit)
    )
    return [_receipt_view(r) for r in rows]


def get_receipt(session: Session, receipt_no: str) -> ReceiptView:
    row = session.get(Receipt, receipt_no)
    if row is None:
        raise NotFound("receipt", receipt_no)
    return _receipt_view(row)


# --- recharge -----------------------------------------------------------------------------------


class _Retry(Exception):
    """The card changed between two statements: evaluate again."""


def recharge(
    sessions: Sessions,
    *,
    card_no: str,
    pin: str,
    channel: str,
    idempotency_key: str,
    actor: str,
    account_id: str | None = None,
    customer_id: str | None = None,
    call_id: str | None = None,
    max_attempts: int = MAX_PIN_ATTEMPTS,
    pepper: bytes | None = None,
) -> ReceiptView:
    """Credit the card's face value to the account's ``main`` ledger; the receipt.

    Exactly once per card and per ``idempotency_key`` (see the module docstring); the
    same key again returns the first receipt with ``replayed=True``. Refusals raise a
    :class:`PaymentError` subclass (wrong PIN counts towards the lock), every outcome
    is audited. Takes a session factory, not a session: the refusals' counters and
    audit rows commit on their own, and a lost race is retried in a new transaction.
    """
    if channel not in CHANNELS:
        raise InvalidPaymentInput("channel", f"one of {CHANNELS}")
    key = (idempotency_key or "").strip()
    if not key or len(key) > 128:
        raise InvalidPaymentInput("idempotency_key", "1 to 128 characters")
    if not actor:
        raise InvalidPaymentInput("actor", "required")
    card = normalise_card_no(card_no)
    if not _PIN_RE.fullmatch(pin or ""):
        raise InvalidPaymentInput("pin", "4 to 32 digits")
    hashed = pin_hash(card, pin, pepper)

    with sessions() as session:  # read only: ends before the write transaction starts
        earlier = session.scalar(sa.select(Receipt).where(Receipt.idempotency_key == key))
        if earlier is not None:
            return _replay(earlier, card, account_id)
        account = find_account(session, account_id=account_id, customer_id=customer_id)
        if account.status != "active" or account.kind != "prepaid":
            raise AccountNotRechargeable(f"account {account.id} is {account.status} {account.kind}")
        target, owner = account.id, account.customer_id

    for _attempt in range(5):
        try:
            with sessions.begin() as session:
                outcome = _consume_and_credit(
                    session,
                    card=card,
                    hashed=hashed,
                    key=key,
                    channel=channel,
                    actor=actor,
                    account_id=target,
                    customer_id=owner,
                    call_id=call_id,
                    max_attempts=max_attempts,
                )
        except _Retry:
            continue
        except IntegrityError:
            # a concurrent request with the same key (or a receipt number clash) won
            with sessions() as session:
                earlier = session.scalar(sa.select(Receipt).where(Receipt.idempotency_key == key))
                if earlier is not None:
                    return _replay(earlier, card, account_id)
            continue
        if isinstance(outcome, PaymentError):
            raise outcome  # its counter and audit row are committed
        return outcome
    raise PaymentError(f"card {mask_card(card)}: too much contention, try again")


def _replay(earlier: Receipt, card: str, account_id: str | None) -> ReceiptView:
    if earlier.card_no != card or (account_id and earlier.account_id != account_id):
        raise IdempotencyConflict(
            f"idempotency key already used for receipt {earlier.receipt_no} (another payment)"
        )
    return _receipt_view(earlier, replayed=True)


def _consume_and_credit(
    session: Session,
    *,
    card: str,
    hashed: str,
    key: str,
    channel: str,
    actor: str,
    account_id: str,
    customer_id: str,
    call_id: str | None,
    max_attempts: int,
) -> ReceiptView | PaymentError:
    now = utcnow()
    receipt_no = new_receipt_no(now)
    # the first statement of the transaction is this write (see the module docstring)
    face = session.execute(
        sa.update(RechargeCard)
        .where(
            RechargeCard.card_no == card,
            RechargeCard.state == "unused",
            RechargeCard.pin_hash == hashed,
            sa.or_(RechargeCard.expires_at.is_(None), RechargeCard.expires_at > now),
        )
        .values(
            state="used",
            used_at=now,
            used_by=actor,
            used_account_id=account_id,
            receipt_no=receipt_no,
        )
        .returning(RechargeCard.face_value)
    ).scalar_one_or_none()
    if face is None:
        return _refusal(
            session,
            card=card,
            hashed=hashed,
            key=key,
            actor=actor,
            channel=channel,
            account_id=account_id,
            max_attempts=max_attempts,
            now=now,
        )
    credited = session.execute(
        sa.update(Ledger)
        .where(Ledger.account_id == account_id, Ledger.kind == "main")
        .values(balance=Ledger.balance + face, updated_at=now)
        .returning(Ledger.id, Ledger.balance)
    ).one_or_none()
    if credited is None:
        raise UnknownAccount(f"account {account_id} has no main ledger")  # rolls back the card
    ledger_id, balance_after = credited
    receipt = Receipt(
        receipt_no=receipt_no,
        account_id=account_id,
        customer_id=customer_id,
        card_no=card,
        amount=face,
        kind="recharge",
        channel=channel,
        idempotency_key=key,
        agent_id=actor,
        call_id=call_id,
        created_at=now,
    )
    session.add(receipt)
    session.flush()  # a duplicate key raises here and rolls everything back
    session.add(
        LedgerEntry(
            ledger_id=ledger_id,
            account_id=account_id,
            amount=face,
            balance_after=balance_after,
            kind="recharge",
            receipt_no=receipt_no,
            actor=actor,
            memo=f"card {mask_card(card)}",
            created_at=now,
        )
    )
    audit.record(
        session,
        actor=actor,
        action="recharge",
        entity="account",
        entity_id=account_id,
        after={
            "receipt_no": receipt_no,
            "card_no": card,
            "amount": str(face),
            "balance_after": str(balance_after),
            "channel": channel,
            "call_id": call_id,
        },
    )
    return _receipt_view(receipt, balance_after=balance_after)


def _refusal(
    session: Session,
    *,
    card: str,
    hashed: str,
    key: str,
    actor: str,
    channel: str,
    account_id: str,
    max_attempts: int,
    now: dt.datetime,
) -> ReceiptView | PaymentError:
    """Why the card was not consumed (same transaction, after the conditional UPDATE)."""
    earlier = session.scalar(sa.select(Receipt).where(Receipt.idempotency_key == key))
    if earlier is not None:  # the same request again, after its twin won the card
        try:
            return _replay(earlier, card, account_id)
        except IdempotencyConflict as conflict:
            return conflict
    row = session.get(RechargeCard, card, populate_existing=True)
    error: PaymentError
    if row is None:
        error = UnknownCard(f"no card {mask_card(card)}")
    elif row.state == "used":
        error = CardUsed(card, row.receipt_no)
    elif row.state == "void":
        error = CardVoid(f"card {mask_card(card)} was withdrawn")
    elif row.state == "locked":
        error = CardLocked(f"card {mask_card(card)} is locked after {max_attempts} wrong PINs")
    elif row.expires_at is not None and row.expires_at <= now:
        error = CardExpired(f"card {mask_card(card)} expired on {row.expires_at:%Y-%m-%d}")
    elif not hmac.compare_digest(row.pin_hash, hashed):
        counted = session.execute(
            sa.update(RechargeCard)
            .where(
                RechargeCard.card_no == card,
                RechargeCard.state == "unused",
                RechargeCard.pin_hash != hashed,
            )
            .values(
                failed_attempts=RechargeCard.failed_attempts + 1,
                state=sa.case(
                    (RechargeCard.failed_attempts + 1 >= max_attempts, "locked"),
                    else_=RechargeCard.state,
                ),
            )
            .returning(RechargeCard.failed_attempts, RechargeCard.state)
        ).one_or_none()
        if counted is None:
            raise _Retry
        failed, state = counted
        if state == "locked":
            error = CardLocked(f"card {mask_card(card)} is locked after {failed} wrong PINs")
        else:
            error = WrongPin(card, max(0, max_attempts - failed))
    else:
        raise _Retry  # unused, right PIN: it changed under us (only when it expired just now)
    audit.record(
        session,
        actor=actor,
        action="recharge_refused",
        entity="recharge_card",
        entity_id=card,
        after={"reason": error.code, "channel": channel, "account_id": account_id},
    )
    return error


# --- balances and reconciliation ----------------------------------------------------------------


def balances(session: Session, account_id: str) -> AccountView:
    account = session.get(Account, account_id)
    if account is None:
        raise UnknownAccount(f"no account {account_id!r}")
    return account_view(session, account)


def reconcile(session: Session, account_ids: Sequence[str] | None = None) -> list[str]:
    """Problems found (empty when every ledger's balance equals the sum of its journal and
    its last entry's ``balance_after``; every used card has exactly one receipt of its
    face value and every receipt one journal credit)."""
    problems: list[str] = []
    where = [Ledger.account_id.in_(account_ids)] if account_ids is not None else []
    sums = dict(
        session.execute(
            sa.select(LedgerEntry.ledger_id, sa.func.sum(LedgerEntry.amount)).group_by(
                LedgerEntry.ledger_id
            )
        ).all()
    )
    last_ids = (
        sa.select(sa.func.max(LedgerEntry.id).label("id"))
        .group_by(LedgerEntry.ledger_id)
        .subquery()
    )
    last = dict(
        session.execute(
            sa.select(LedgerEntry.ledger_id, LedgerEntry.balance_after).join(
                last_ids, last_ids.c.id == LedgerEntry.id
            )
        ).all()
    )
    for ledger in session.scalars(sa.select(Ledger).where(*where)):
        journal = sums.get(ledger.id, Decimal("0.00"))
        if journal != ledger.balance:
            problems.append(
                f"ledger {ledger.account_id}/{ledger.kind}: balance {ledger.balance} "
                f"!= journal {journal}"
            )
        if last.get(ledger.id, Decimal("0.00")) != ledger.balance:
            problems.append(
                f"ledger {ledger.account_id}/{ledger.kind}: last balance_after "
                f"{last.get(ledger.id)} != balance {ledger.balance}"
            )
    receipts = session.execute(sa.select(Receipt.receipt_no, Receipt.card_no, Receipt.amount)).all()
    credits = dict(
        session.execute(
            sa.select(LedgerEntry.receipt_no, sa.func.sum(LedgerEntry.amount))
            .where(LedgerEntry.receipt_no.is_not(None))
            .group_by(LedgerEntry.receipt_no)
        ).all()
    )
    faces = dict(
        session.execute(
            sa.select(RechargeCard.card_no, RechargeCard.face_value).where(
                RechargeCard.state == "used"
            )
        ).all()
    )
    for receipt_no, card_no, amount in receipts:
        if credits.get(receipt_no) != amount:
            problems.append(f"receipt {receipt_no}: credited {credits.get(receipt_no)} != {amount}")
        if card_no is not None and faces.pop(card_no, None) != amount:
            problems.append(f"receipt {receipt_no}: card {card_no} face value differs or unused")
    problems.extend(f"card {card} is used but has no receipt" for card in faces)
    return problems


# --- service password (R-BIZ-4) -------------------------------------------------------------------


def check_service_password(
    sessions: Sessions,
    customer_id: str,
    password: str,
    *,
    actor: str,
    channel: str,
    now: dt.datetime | None = None,
) -> None:
    """Returns when ``password`` is the customer's service password; otherwise raises
    (:class:`WrongServicePassword`, :class:`ServicePasswordLocked` after
    :data:`SERVICE_PASSWORD_MAX_FAILURES` failures in :data:`SERVICE_PASSWORD_WINDOW`,
    :class:`NoServicePassword`, :class:`UnknownCustomer`). Failures are audited
    (``service_password_failed``) and counted from the audit log."""
    at = now or utcnow()
    with sessions() as session:
        row = session.execute(
            sa.select(Customer.id, Customer.service_password_hash).where(Customer.id == customer_id)
        ).one_or_none()
        failures = (
            session.scalar(
                sa.select(sa.func.count())
                .select_from(AuditEntry)
                .where(
                    AuditEntry.entity == "customer",
                    AuditEntry.entity_id == customer_id,
                    AuditEntry.action == "service_password_failed",
                    AuditEntry.at >= at - SERVICE_PASSWORD_WINDOW,
                )
            )
            or 0
        )
    if row is None:
        raise UnknownCustomer(f"no customer {customer_id!r}")
    if failures >= SERVICE_PASSWORD_MAX_FAILURES:
        raise ServicePasswordLocked(
            f"{failures} wrong service passwords for {customer_id} in the last "
            f"{int(SERVICE_PASSWORD_WINDOW.total_seconds() // 60)} minutes"
        )
    stored = row[1]
    if stored is None:
        raise NoServicePassword(f"customer {customer_id} has no service password")
    if verify_password(stored, password or "", hasher=DEFAULT_HASHER):
        return
    with sessions.begin() as session:
        audit.record(
            session,
            actor=actor,
            action="service_password_failed",
            entity="customer",
            entity_id=customer_id,
            after={"channel": channel},
        )
    raise WrongServicePassword(customer_id, SERVICE_PASSWORD_MAX_FAILURES - failures - 1)


# --- top-up by SMS -------------------------------------------------------------------------------

SMS_PATTERN = re.compile(
    r"\s*(?:CZ|充值)[\s:：,，]*([0-9][0-9 -]{8,40}[0-9])[\s,，]+([0-9]{4,32})\s*", re.I
)
"""``CZ <card number> <PIN>`` (or ``充值 …``): the top-up SMS a customer sends."""


def recharge_by_sms(
    sessions: Sessions, *, from_number: str, text: str, message_id: str
) -> ReceiptView:
    """A top-up SMS from ``from_number`` credits the sender's prepaid account; the
    gateway's ``message_id`` is the idempotency key (a redelivered SMS credits once)."""
    from .models import CustomerNumber
    from .numbers import try_normalise

    match = SMS_PATTERN.fullmatch(text or "")
    if match is None:
        raise InvalidPaymentInput("sms", "expected `CZ <card number> <PIN>`")
    number = try_normalise(from_number)
    with sessions() as session:
        customer_id = (
            session.scalar(
                sa.select(CustomerNumber.customer_id).where(CustomerNumber.number == number)
            )
            if number
            else None
        )
    if customer_id is None:
        raise UnknownCustomer(f"no customer with number {from_number!r}")
    return recharge(
        sessions,
        card_no=match.group(1),
        pin=match.group(2),
        channel="sms",
        idempotency_key=f"sms:{message_id}",
        actor="sms",
        customer_id=customer_id,
    )
