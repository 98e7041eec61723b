"""IVR self-service payments over ``switch.lookup`` (R-BIZ-6, R-BIZ-4): the balance
read-out needs the service password; a phone top-up with a recharge card credits once
(a repeated request in the same call returns the same receipt). A real CTI server on
port 0 and a fake switch over the real protocol; the same service as the web pages."""

from __future__ import annotations

from decimal import Decimal

import pytest
import sqlalchemy as sa

from cti_server.store import payments as pay
from cti_server.store import session_factory
from cti_server.store.models import AuditEntry, Receipt
from cti_server.store.seed import DEMO_SERVICE_PASSWORD, demo_account_no, demo_cards
from shared.protocol.switch import LookupResult, RouteStage, SwitchLookup
from tests.cti_server.domain.domain_support import Clients, route

pytestmark = pytest.mark.asyncio

CALLER = "13900139000"  # C000002, service password 123456
CUSTOMER = "C000002"


async def _lookup(clients: Clients, call_id: str, service: str, **args: str) -> LookupResult:
    switch = clients.switches[0] if clients.switches else await clients.switch()
    body = await switch.client.request(
        SwitchLookup(id=0, call_id=call_id, service=service, args=args)
    )
    assert isinstance(body, LookupResult)
    return body


def _main(db: sa.Engine, account: str) -> Decimal:
    with session_factory(db)() as session:
        return pay.balances(session, account).balance("main")


async def test_balance_needs_the_service_password_and_reads_every_ledger(
    clients: Clients, db: sa.Engine
) -> None:
    switch = await clients.switch()
    await route(switch, "PAY-IVR-1", RouteStage.ARRIVAL, caller=CALLER)
    account = demo_account_no(CUSTOMER)
    with session_factory(db)() as session:
        view = pay.balances(session, account)

    wrong = await _lookup(clients, "PAY-IVR-1", "account_balance", pin="000000")
    assert wrong.values == {} and wrong.error is not None
    assert wrong.error.startswith("wrong_service_password")

    by_caller = await _lookup(clients, "PAY-IVR-1", "account_balance", pin=DEMO_SERVICE_PASSWORD)
    assert by_caller.error is None, by_caller.error
    assert by_caller.values["account"] == account
    assert by_caller.values["balance"] == str(view.balance("main"))
    assert by_caller.values["bonus"] == str(view.balance("bonus"))
    assert by_caller.values["deposit"] == str(view.balance("deposit"))
    assert by_caller.values["total"] == str(view.total)
    assert by_caller.values["currency"] == "CNY"

    by_number = await _lookup(
        clients, "PAY-IVR-1", "account_balance", account=account, pin=DEMO_SERVICE_PASSWORD
    )
    assert by_number.values == by_caller.values
    missing = await _lookup(clients, "PAY-IVR-1", "account_balance", account=account)
    assert missing.error is not None and "`pin`" in missing.error
    unknown = await _lookup(
        clients, "PAY-IVR-1", "account_balance", account="899999999", pin=DEMO_SERVICE_PASSWORD
    )
    assert unknown.error is not None and unknown.error.startswith("unknown_account")

    with session_factory(db)() as session:
        queries = session.scalars(
            sa.select(AuditEntry).where(
                AuditEntry.action == "customer_query", AuditEntry.entity_id == CUSTOMER
            )
        ).all()
        failed = session.scalars(
            sa.select(AuditEntry).where(
                AuditEntry.action == "service_password_failed", AuditEntry.entity_id == CUSTOMER
            )
        ).all()
    assert len(queries) == 2 and all(q.actor == "ivr" for q in queries)
    assert {(q.after or {}).get("call_id") for q in queries} == {"PAY-IVR-1"}
    assert len(failed) == 1


async def test_phone_top_up_credits_once_and_refusals_are_error_results(
    clients: Clients, db: sa.Engine
) -> None:
    switch = await clients.switch()
    await route(switch, "PAY-IVR-2", RouteStage.ARRIVAL, caller=CALLER)
    account = demo_account_no(CUSTOMER)
    before = _main(db, account)
    card, pin, face, _state = demo_cards()[20]

    wrong = await _lookup(clients, "PAY-IVR-2", "recharge", card=card, pin="12341234")
    assert wrong.error is not None and wrong.error.startswith("wrong_pin")
    done = await _lookup(clients, "PAY-IVR-2", "recharge", card=card, pin=pin)
    assert done.error is None, done.error
    assert done.values["amount"] == face
    assert done.values["balance"] == str(before + Decimal(face))
    assert done.values["account"] == account and done.values["replayed"] == "false"

    again = await _lookup(clients, "PAY-IVR-2", "recharge", card=card, pin=pin)  # flow retry
    assert again.values["receipt_no"] == done.values["receipt_no"]
    assert again.values["replayed"] == "true"
    assert _main(db, account) == before + Decimal(face)

    await route(switch, "PAY-IVR-3", RouteStage.ARRIVAL, caller=CALLER)
    used = await _lookup(clients, "PAY-IVR-3", "recharge", card=card, pin=pin)  # another call
    assert used.error is not None and used.error.startswith("card_used")
    bad = await _lookup(clients, "PAY-IVR-3", "recharge", card="12", pin=pin)
    assert bad.error is not None and "`card`" in bad.error
    void_card, void_pin, _f, _s = demo_cards()[-2]
    void = await _lookup(clients, "PAY-IVR-3", "recharge", card=void_card, pin=void_pin)
    assert void.error is not None and void.error.startswith("card_void")
    assert _main(db, account) == before + Decimal(face)

    with session_factory(db)() as session:
        [receipt] = session.scalars(sa.select(Receipt).where(Receipt.card_no == card)).all()
        assert receipt.channel == "ivr" and receipt.call_id == "PAY-IVR-2"
        assert receipt.agent_id == "ivr"
        assert pay.reconcile(session) == []


async def test_unknown_caller_must_name_an_account(clients: Clients) -> None:
    switch = await clients.switch()
    await route(switch, "PAY-IVR-4", RouteStage.ARRIVAL, caller="13311112222")
    card, pin, _face, _state = demo_cards()[21]
    answer = await _lookup(clients, "PAY-IVR-4", "recharge", card=card, pin=pin)
    assert answer.error is not None and "`account`" in answer.error
    balance = await _lookup(clients, "PAY-IVR-4", "account_balance", pin="123456")
    assert balance.error is not None and "`account`" in balance.error
