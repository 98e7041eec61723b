"""The payment service (``cti_server.store.payments``, R-BIZ-6) on SQLite and PostgreSQL:
exact decimal money, card states and the wrong-PIN lock, idempotency conflicts, the SMS
top-up, reconciliation that catches a tampered balance, the append-only journal, hashed
PINs, and the revision's downgrade."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal

import pytest
import sqlalchemy as sa
from alembic import command

from cti_server.store import current_revision, head_revision, session_factory, upgrade
from cti_server.store import payments as pay
from cti_server.store.db import alembic_config
from cti_server.store.errors import Conflict
from cti_server.store.models import AuditEntry, Ledger, LedgerEntry, Receipt, RechargeCard
from cti_server.store.seed import demo_account_no, demo_cards
from tests.cti_server.web.conftest import _backends

CUSTOMER = "C000005"

type MakeDb = Callable[[str], sa.Engine]


def _fresh_account(engine: sa.Engine, account_id: str = "700000001") -> str:
    with session_factory(engine).begin() as session:
        pay.open_account(session, CUSTOMER, account_id=account_id)
    return account_id


def _cards(engine: sa.Engine, faces: list[str]) -> list[tuple[str, str, Decimal]]:
    cards = [(f"5550{i:012d}", f"{i:08d}", Decimal(face)) for i, face in enumerate(faces)]
    with session_factory(engine).begin() as session:
        pay.issue_cards(session, cards, batch="TEST")
    return cards


def _top_up(engine: sa.Engine, card: str, pin: str, account: str, key: str) -> pay.ReceiptView:
    return pay.recharge(
        session_factory(engine),
        card_no=card,
        pin=pin,
        channel="web",
        idempotency_key=key,
        actor="1001",
        account_id=account,
    )


@pytest.mark.parametrize("backend", _backends())
def test_money_is_exact_decimal(backend: str, make_web_db: MakeDb) -> None:
    """0.10 + 0.20 is 0.30, and 27 more 0.10 cards make 3.00 (floats would drift)."""
    engine = make_web_db(backend)
    account = _fresh_account(engine)
    cards = _cards(engine, ["0.10", "0.20"] + ["0.10"] * 27)
    for index, (card, pin, _face) in enumerate(cards):
        receipt = _top_up(engine, card, pin, account, f"k{index}")
        if index == 1:
            assert receipt.balance_after == Decimal("0.30")
    with session_factory(engine)() as session:
        view = pay.balances(session, account)
        assert view.balance("main") == Decimal("3.00")
        assert str(view.total) == "3.00"
        summed = session.scalar(
            sa.select(sa.func.sum(LedgerEntry.amount)).where(LedgerEntry.account_id == account)
        )
        assert summed == Decimal("3.00") and isinstance(summed, Decimal)
        assert pay.reconcile(session) == []
    if backend == "sqlite":  # integer cents on disk, not a binary float
        with engine.connect() as conn:
            raw = conn.exec_driver_sql(
                "SELECT balance, typeof(balance) FROM ledgers"
                " WHERE account_id = ? AND kind = 'main'",
                (account,),
            ).one()
        assert tuple(raw) == (300, "integer")
    with pytest.raises(pay.InvalidPaymentInput):
        pay.money(0.1)
    with pytest.raises(pay.InvalidPaymentInput):
        pay.money("1.005")
    assert pay.money("19.9") == Decimal("19.90")


@pytest.mark.parametrize("backend", _backends())
def test_card_states_and_the_wrong_pin_lock(backend: str, make_web_db: MakeDb) -> None:
    engine = make_web_db(backend)
    account = demo_account_no(CUSTOMER)
    (card, pin, _face), (expired, expired_pin, _f2) = _cards(engine, ["50.00", "30.00"])[:2]
    with engine.begin() as conn:
        conn.execute(
            sa.update(RechargeCard)
            .where(RechargeCard.card_no == expired)
            .values(expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(days=1))
        )
    with pytest.raises(pay.CardExpired):
        _top_up(engine, expired, expired_pin, account, "e1")
    with pytest.raises(pay.UnknownCard):
        _top_up(engine, "5559999999999999", "12345678", account, "u1")
    void_card, void_pin, _f, _s = demo_cards()[-3]
    with pytest.raises(pay.CardVoid):
        _top_up(engine, void_card, void_pin, account, "v1")
    with pytest.raises(pay.InvalidPaymentInput):
        _top_up(engine, "abc", "1234", account, "i1")
    for left in range(pay.MAX_PIN_ATTEMPTS - 1, 0, -1):
        with pytest.raises(pay.WrongPin) as wrong:
            _top_up(engine, card, "99999999", account, f"w{left}")
        assert wrong.value.attempts_left == left
    with pytest.raises(pay.CardLocked):
        _top_up(engine, card, "99999999", account, "w0")
    with pytest.raises(pay.CardLocked):
        _top_up(engine, card, pin, account, "right-but-late")
    with session_factory(engine)() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(Receipt)) == 0
        reasons = session.scalars(
            sa.select(AuditEntry.after).where(AuditEntry.action == "recharge_refused")
        ).all()
        codes = [r["reason"] for r in reasons if r]
        assert codes.count("wrong_pin") == pay.MAX_PIN_ATTEMPTS - 1
        assert {"card_expired", "unknown_card", "card_void", "card_locked"} <= set(codes)
        assert pay.reconcile(session) == []


@pytest.mark.parametrize("backend", _backends())
def test_idempotency_key_of_another_payment_and_postpaid_accounts_are_refused(
    backend: str, make_web_db: MakeDb
) -> None:
    engine = make_web_db(backend)
    account = demo_account_no(CUSTOMER)
    (a, pin_a, _fa), (b, pin_b, _fb) = _cards(engine, ["20.00", "20.00"])
    first = _top_up(engine, a, pin_a, account, "shared-key")
    with pytest.raises(pay.IdempotencyConflict):
        _top_up(engine, b, pin_b, account, "shared-key")
    assert _top_up(engine, a, pin_a, account, "shared-key").receipt_no == first.receipt_no
    with pytest.raises(pay.AccountNotRechargeable):
        _top_up(engine, b, pin_b, demo_account_no("C000003", "postpaid"), "post")
    with session_factory(engine)() as session:
        card_b = session.get(RechargeCard, b)
        assert card_b is not None and card_b.state == "unused"


@pytest.mark.parametrize("backend", _backends())
def test_sms_top_up_credits_the_senders_account_once(backend: str, make_web_db: MakeDb) -> None:
    engine = make_web_db(backend)
    sessions = session_factory(engine)
    card, pin, face, _state = demo_cards()[30]
    account = demo_account_no("C000001")
    with sessions() as session:
        before = pay.balances(session, account).balance()
    text = f"CZ {card[:4]} {card[4:8]} {card[8:]} {pin}"
    receipt = pay.recharge_by_sms(sessions, from_number="13800138000", text=text, message_id="m1")
    again = pay.recharge_by_sms(sessions, from_number="13800138000", text=text, message_id="m1")
    assert again.receipt_no == receipt.receipt_no and again.replayed
    assert receipt.channel == "sms" and receipt.account_id == account
    with sessions() as session:
        assert pay.balances(session, account).balance() == before + Decimal(face)
    with pytest.raises(pay.InvalidPaymentInput):
        pay.recharge_by_sms(sessions, from_number="13800138000", text="hello", message_id="m2")
    with pytest.raises(pay.UnknownCustomer):
        pay.recharge_by_sms(sessions, from_number="13311112222", text=text, message_id="m3")


@pytest.mark.parametrize("backend", _backends())
def test_reconcile_catches_a_balance_changed_without_a_journal_row(
    backend: str, make_web_db: MakeDb
) -> None:
    engine = make_web_db(backend)
    sessions = session_factory(engine)
    with sessions() as session:
        assert pay.reconcile(session) == []
    account = demo_account_no(CUSTOMER)
    with sessions.begin() as session:  # someone "fixes" a balance in place
        session.execute(
            sa.update(Ledger)
            .where(Ledger.account_id == account, Ledger.kind == "bonus")
            .values(balance=Ledger.balance + Decimal("1.00"))
        )
    with sessions() as session:
        problems = pay.reconcile(session)
    assert len(problems) == 2 and all(f"{account}/bonus" in p for p in problems)

    with sessions.begin() as session:
        entry = session.scalars(sa.select(LedgerEntry).limit(1)).one()
        entry.amount = Decimal("999.00")
        with pytest.raises(Conflict):
            session.flush()
        session.rollback()


def test_pins_are_stored_as_keyed_hashes(make_web_db: MakeDb) -> None:
    engine = make_web_db("sqlite")
    card, pin, _face, _state = demo_cards()[40]
    with session_factory(engine)() as session:
        row = session.get(RechargeCard, card)
        assert row is not None
        assert pin not in row.pin_hash and row.pin_hash.startswith("h1$")
        assert row.pin_hash == pay.pin_hash(card, pin)
    assert pay.pin_hash(card, pin, b"another-pepper") != pay.pin_hash(card, pin)


def test_downgrade_drops_the_payment_tables_and_upgrade_restores_them(
    make_web_db: MakeDb,
) -> None:
    engine = make_web_db("sqlite")
    config = alembic_config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0102_knowledge_base")
    tables = set(sa.inspect(engine).get_table_names())
    assert not tables & {"accounts", "ledgers", "ledger_entries", "recharge_cards", "receipts"}
    assert "customers" in tables
    upgrade(engine)
    assert current_revision(engine) == head_revision()
    assert {"accounts", "bills", "customer_unlocks"} <= set(sa.inspect(engine).get_table_names())


def test_every_payment_word_on_the_pages_has_both_languages() -> None:
    """Data-driven catalogue keys (channels, ledger and account kinds, bill states,
    services, every refusal code) exist in English and Chinese."""
    from cti_server.store.seed import _SERVICES
    from cti_server.web import payments as pages
    from cti_server.web.i18n import MESSAGES

    codes = {cls.code for cls in _subclasses(pay.PaymentError)} | {pay.PaymentError.code}
    keys = (
        {f"pay_ch_{c}" for c in pay.CHANNELS}
        | {f"pay_l_{k}" for k in pay.LEDGER_KINDS}
        | {f"pay_k_{k}" for k in pay.ACCOUNT_KINDS}
        | {"pay_b_open", "pay_b_paid"}
        | {f"pay_svc_{s}" for s in _SERVICES}
        | {f"pay_err_{c}" for c in codes}
    )
    assert pages.routes  # the module registered its catalogue entries on import
    missing = [k for k in sorted(keys) if k not in MESSAGES or not all(MESSAGES[k])]
    assert missing == []


def _subclasses(cls: type) -> set[type]:
    found = set(cls.__subclasses__())
    return found | {s for c in found for s in _subclasses(c)}
