"""R-BIZ-6 exactly-once top-up under concurrency, on PostgreSQL (``OPENCC_TEST_PG_URL``)
and SQLite (serialised by its write lock): the same recharge card submitted by 20
parallel requests credits exactly once; balances reconcile (sum of the journal = ledger
balance, every used card has one receipt and one credit).

Two levels: 20 threads each calling the service with their own sessions, and 20
parallel HTTP requests against the real uvicorn server (the recharge form)."""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import httpx
import pytest
import sqlalchemy as sa

from cti_server.store import payments as pay
from cti_server.store import session_factory
from cti_server.store.models import LedgerEntry, Receipt, RechargeCard
from cti_server.store.seed import demo_account_no, demo_cards
from tests.cti_server.web.conftest import _backends
from tests.cti_server.web.web_support import AGENT_SH, WebStack

PARALLEL = 20
CUSTOMER = "C000001"


def _parallel[T](work: Callable[[int], T]) -> list[T | BaseException]:
    """Run ``work(i)`` in 20 threads released together by a barrier."""
    barrier = threading.Barrier(PARALLEL)

    def run(index: int) -> T | BaseException:
        barrier.wait(timeout=30)
        try:
            return work(index)
        except Exception as exc:
            return exc

    with ThreadPoolExecutor(PARALLEL) as pool:
        return list(pool.map(run, range(PARALLEL)))


def _check_books(engine: sa.Engine, account: str, card: str, expected: Decimal) -> None:
    with session_factory(engine)() as session:
        assert pay.balances(session, account).balance("main") == expected
        receipts = session.scalars(sa.select(Receipt).where(Receipt.card_no == card)).all()
        assert len(receipts) == 1
        credits = session.scalars(
            sa.select(LedgerEntry).where(LedgerEntry.receipt_no == receipts[0].receipt_no)
        ).all()
        assert len(credits) == 1 and credits[0].balance_after == expected
        row = session.get(RechargeCard, card)
        assert row is not None and row.state == "used"
        assert row.receipt_no == receipts[0].receipt_no
        assert pay.reconcile(session) == []


@pytest.mark.slow
@pytest.mark.parametrize("backend", _backends())
def test_twenty_threads_same_card_credit_exactly_once(
    backend: str, make_web_db: Callable[[str], sa.Engine]
) -> None:
    engine = make_web_db(backend)
    sessions = session_factory(engine)
    account = demo_account_no(CUSTOMER)
    card, pin, face, _state = demo_cards()[10]
    with sessions() as session:
        before = pay.balances(session, account).balance("main")

    results = _parallel(
        lambda i: pay.recharge(
            sessions,
            card_no=card,
            pin=pin,
            channel="phone",
            idempotency_key=f"thread-{i}",
            actor=AGENT_SH,
            account_id=account,
        )
    )
    receipts = [r for r in results if isinstance(r, pay.ReceiptView)]
    used = [r for r in results if isinstance(r, pay.CardUsed)]
    assert len(receipts) == 1, results
    assert len(used) == PARALLEL - 1, results
    assert all(u.receipt_no == receipts[0].receipt_no for u in used)
    assert receipts[0].balance_after == before + Decimal(face)
    _check_books(engine, account, card, before + Decimal(face))


@pytest.mark.slow
@pytest.mark.parametrize("backend", _backends())
def test_twenty_threads_same_idempotency_key_get_the_same_receipt(
    backend: str, make_web_db: Callable[[str], sa.Engine]
) -> None:
    engine = make_web_db(backend)
    sessions = session_factory(engine)
    account = demo_account_no(CUSTOMER)
    card, pin, face, _state = demo_cards()[11]
    with sessions() as session:
        before = pay.balances(session, account).balance("main")

    results = _parallel(
        lambda _i: pay.recharge(
            sessions,
            card_no=card,
            pin=pin,
            channel="ivr",
            idempotency_key="one-request",
            actor="ivr",
            account_id=account,
        )
    )
    assert all(isinstance(r, pay.ReceiptView) for r in results), results
    receipts = [r for r in results if isinstance(r, pay.ReceiptView)]
    assert len({r.receipt_no for r in receipts}) == 1
    assert sum(not r.replayed for r in receipts) == 1
    _check_books(engine, account, card, before + Decimal(face))


async def _post_all(
    web: WebStack, cookies: httpx.Cookies, forms: list[dict[str, str]]
) -> list[httpx.Response]:
    url = f"/ui/pay/customers/{CUSTOMER}/recharge"
    async with httpx.AsyncClient(
        base_url=web.stack.server.base_url,
        cookies=cookies,
        timeout=60,
        limits=httpx.Limits(max_connections=PARALLEL),
    ) as client:
        return await asyncio.gather(*(client.post(url, data=form) for form in forms))


@pytest.mark.slow
@pytest.mark.parametrize("same_key", [False, True], ids=["new-keys", "same-key"])
def test_twenty_parallel_http_submits_of_one_card_credit_once(
    web: WebStack, same_key: bool
) -> None:
    """Twenty browsers' worth of submits of the recharge form at once (real uvicorn):
    one receipt; the others are told the card is used (new keys) or shown the same
    receipt (the same form submitted 20 times)."""
    agent = web.login(AGENT_SH, lang="en")
    account = demo_account_no(CUSTOMER)
    card, pin, face, _state = demo_cards()[12 + int(same_key)]
    with session_factory(web.engine)() as session:
        before = pay.balances(session, account).balance("main")
    keys = ["same-form"] * PARALLEL if same_key else [f"form-{i}" for i in range(PARALLEL)]
    forms = [
        {"csrf": agent.csrf, "account_id": account, "card_no": card, "pin": pin,
         "channel": "phone", "key": key}
        for key in keys
    ]  # fmt: skip
    answers = asyncio.run(_post_all(web, agent.client.cookies, forms))

    credited = [a for a in answers if a.status_code == 303 and "again" not in a.headers["location"]]
    assert len(credited) == 1, [(a.status_code, a.headers.get("location")) for a in answers]
    receipt_url = credited[0].headers["location"]
    rest = [a for a in answers if a is not credited[0]]
    if same_key:
        assert all(a.status_code == 303 for a in rest)
        assert {a.headers["location"] for a in rest} == {receipt_url + "?again=1"}
    else:
        assert all(a.status_code == 409 for a in rest)
        assert all("already been used" in a.text for a in rest)
    _check_books(web.engine, account, card, before + Decimal(face))
    match = re.search(r"/pay/receipts/(R\d+)", receipt_url)
    assert match is not None


@pytest.mark.slow
@pytest.mark.parametrize("backend", _backends())
def test_twenty_parallel_wrong_pins_lock_the_card_after_exactly_five(
    backend: str, make_web_db: Callable[[str], sa.Engine]
) -> None:
    """The attempt counter is exact under concurrency: four "wrong PIN" answers, then
    the card is locked for everyone (the right PIN included)."""
    engine = make_web_db(backend)
    sessions = session_factory(engine)
    account = demo_account_no(CUSTOMER)
    card, pin, _face, _state = demo_cards()[14]
    results = _parallel(
        lambda i: pay.recharge(
            sessions,
            card_no=card,
            pin=f"{i:08d}",
            channel="phone",
            idempotency_key=f"guess-{i}",
            actor=AGENT_SH,
            account_id=account,
        )
    )
    wrong = [r for r in results if isinstance(r, pay.WrongPin)]
    locked = [r for r in results if isinstance(r, pay.CardLocked)]
    assert len(wrong) == pay.MAX_PIN_ATTEMPTS - 1, results
    assert len(locked) == PARALLEL - len(wrong), results
    assert sorted(w.attempts_left for w in wrong) == list(range(1, pay.MAX_PIN_ATTEMPTS))
    with sessions() as session:
        row = session.get(RechargeCard, card)
        assert row is not None and row.state == "locked"
        assert row.failed_attempts == pay.MAX_PIN_ATTEMPTS
    with pytest.raises(pay.CardLocked):
        pay.recharge(
            sessions,
            card_no=card,
            pin=pin,
            channel="phone",
            idempotency_key="right-pin",
            actor=AGENT_SH,
            account_id=account,
        )
