"""Customer query and recharge pages (R-BIZ-4, R-BIZ-6) over real HTTP, on SQLite and
PostgreSQL: the service-password gate (refused and audited without it, wrong password,
other region, expiry, lock, another session), fuzzy region-scoped search, the recharge
form with its idempotency key and the receipt, every query in the audit log."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import sqlalchemy as sa

from cti_server.store import payments as pay
from cti_server.store import session_factory
from cti_server.store.models import AuditEntry, Call, CustomerUnlock, Receipt, RechargeCard
from cti_server.store.seed import DEMO_SERVICE_PASSWORD, demo_account_no, demo_cards
from tests.cti_server.web.web_support import AGENT_SH, AGENT_SZ, DEPT_SH, Browser, WebStack

SH_CUSTOMER = "C000001"  # 上海, service password 123456, prepaid + postpaid with bills
SZ_CUSTOMER = "C000002"  # 深圳


def _audit(web: WebStack, action: str, entity_id: str | None = None) -> list[AuditEntry]:
    with session_factory(web.engine)() as session:
        where = [AuditEntry.action == action]
        if entity_id is not None:
            where.append(AuditEntry.entity_id == entity_id)
        return list(session.scalars(sa.select(AuditEntry).where(*where).order_by(AuditEntry.id)))


def _unlock(browser: Browser, customer: str, password: str = DEMO_SERVICE_PASSWORD) -> int:
    done = browser.post(f"/ui/pay/customers/{customer}/unlock", {"password": password})
    return done.status_code


def _main_balance(web: WebStack, account: str) -> Decimal:
    with session_factory(web.engine)() as session:
        return pay.balances(session, account).balance("main")


def _form_key(html: str) -> str:
    match = re.search(r'name="key" value="([^"]+)"', html)
    assert match, "the recharge form carries an idempotency key"
    return match.group(1)


# --- the service-password gate ------------------------------------------------------------------


def test_customer_data_is_refused_and_audited_without_the_service_password(web: WebStack) -> None:
    """R-BIZ-4: no query before the service password; the refusal is audited."""
    agent = web.login(AGENT_SH)
    page = agent.get(f"/ui/pay/customers/{SH_CUSTOMER}")
    assert page.status_code == 403
    assert 'name="password"' in page.text  # the gate offers the password form
    assert "800000001" not in page.text  # no account, no balance leaks
    path = f"/ui/pay/customers/{SH_CUSTOMER}"
    assert len(web.refusals(reason="service_password", entity_id=path)) == 1
    assert len(web.refusals(reason="service_password", entity_id=path, actor=AGENT_SH)) == 1

    wrong = agent.post(f"/ui/pay/customers/{SH_CUSTOMER}/unlock", {"password": "000000"})
    assert wrong.status_code == 403
    assert "服务密码错误" in wrong.text
    assert web.refusals(reason="service_password", why="wrong_service_password")
    assert len(_audit(web, "service_password_failed", SH_CUSTOMER)) == 1
    assert agent.get(f"/ui/pay/customers/{SH_CUSTOMER}").status_code == 403  # still closed


def test_the_right_password_opens_data_services_bills_balances_and_history(web: WebStack) -> None:
    agent = web.login(AGENT_SH, lang="en")
    assert _unlock(agent, SH_CUSTOMER) == 303
    page = agent.get(f"/ui/pay/customers/{SH_CUSTOMER}")
    assert page.status_code == 200, page.text
    prepaid, postpaid = demo_account_no(SH_CUSTOMER), demo_account_no(SH_CUSTOMER, "postpaid")
    with session_factory(web.engine)() as session:
        accounts = pay.accounts_of(session, SH_CUSTOMER)
        bills = pay.bills_of(session, SH_CUSTOMER)
    assert {a.account_id for a in accounts} == {prepaid, postpaid}
    for account in accounts:
        for ledger in account.ledgers:
            row = f'data-account="{account.account_id}" data-ledger="{ledger.kind}"'
            assert row in page.text
            cell = page.text.split(row, 1)[1].split("</tr>", 1)[0]
            assert f">{ledger.balance}</td>" in cell
    grand = sum((a.total for a in accounts), Decimal("0.00"))
    assert f"data-grand-total>{grand}</td>" in page.text
    assert len(bills) == 3 and all(f'data-period="{b.period}"' in page.text for b in bills)
    assert "13800138000" in page.text and "Main balance" in page.text
    [query] = _audit(web, "customer_query", SH_CUSTOMER)
    assert query.actor == AGENT_SH and (query.after or {})["view"] == "overview"
    assert _audit(web, "customer_unlock", SH_CUSTOMER)


def test_another_regions_customer_is_refused_and_audited(web: WebStack) -> None:
    """R-BIZ-4: agents of one region see only their region's customers, even with the
    right service password."""
    agent = web.login(AGENT_SH)
    assert agent.get(f"/ui/pay/customers/{SZ_CUSTOMER}/unlock").status_code == 403
    assert _unlock(agent, SZ_CUSTOMER) == 403
    assert agent.get(f"/ui/pay/customers/{SZ_CUSTOMER}").status_code == 403
    assert agent.get(f"/ui/pay/customers/{SZ_CUSTOMER}/recharge").status_code == 403
    refusals = web.refusals(reason="region", actor=AGENT_SH)
    assert len(refusals) == 4
    assert not _audit(web, "customer_unlock", SZ_CUSTOMER)
    assert not _audit(web, "service_password_failed", SZ_CUSTOMER)  # never even checked
    shenzhen = web.login(AGENT_SZ)
    assert _unlock(shenzhen, SZ_CUSTOMER) == 303
    assert shenzhen.get(f"/ui/pay/customers/{SZ_CUSTOMER}").status_code == 200


def test_unlock_expires_ends_on_lock_and_belongs_to_one_session(web: WebStack) -> None:
    agent = web.login(AGENT_SH)
    assert _unlock(agent, SH_CUSTOMER) == 303
    assert agent.get(f"/ui/pay/customers/{SH_CUSTOMER}").status_code == 200
    other_session = web.login(AGENT_SH)  # the same agent in another browser
    assert other_session.get(f"/ui/pay/customers/{SH_CUSTOMER}").status_code == 403

    with web.engine.begin() as conn:  # ten minutes later
        conn.execute(
            sa.update(CustomerUnlock).values(
                expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
            )
        )
    assert agent.get(f"/ui/pay/customers/{SH_CUSTOMER}").status_code == 403

    assert _unlock(agent, SH_CUSTOMER) == 303
    assert agent.get(f"/ui/pay/customers/{SH_CUSTOMER}").status_code == 200
    assert agent.post(f"/ui/pay/customers/{SH_CUSTOMER}/lock", {}).status_code == 303
    assert agent.get(f"/ui/pay/customers/{SH_CUSTOMER}").status_code == 403
    assert _audit(web, "customer_lock", SH_CUSTOMER)


def test_unlock_for_a_call_ends_when_the_call_is_released(web: WebStack) -> None:
    agent = web.login(AGENT_SH)
    call_id = "PAY-CALL-1"
    now = dt.datetime.now(dt.UTC)
    with session_factory(web.engine).begin() as session:
        session.add(
            Call(
                id=call_id,
                switch_id="",
                caller_number="13800138000",
                called_number="",
                customer_id=SH_CUSTOMER,
                business_selection="",
                arrived_at=now,
                hold_count=0,
                hold_seconds=0.0,
                transfer_count=0,
                released_by="",
                trajectory=[],
                updated_at=now,
            )
        )
    done = agent.post(
        f"/ui/pay/customers/{SH_CUSTOMER}/unlock",
        {"password": DEMO_SERVICE_PASSWORD, "call_id": call_id},
    )
    assert done.status_code == 303
    assert agent.get(f"/ui/pay/customers/{SH_CUSTOMER}").status_code == 200
    with session_factory(web.engine).begin() as session:
        call = session.get(Call, call_id)
        assert call is not None
        call.released_at = dt.datetime.now(dt.UTC)
    assert agent.get(f"/ui/pay/customers/{SH_CUSTOMER}").status_code == 403


def test_five_wrong_service_passwords_block_the_right_one(web: WebStack) -> None:
    agent = web.login(AGENT_SH)
    for _ in range(pay.SERVICE_PASSWORD_MAX_FAILURES):
        assert _unlock(agent, SH_CUSTOMER, "999999") == 403
    blocked = agent.post(
        f"/ui/pay/customers/{SH_CUSTOMER}/unlock", {"password": DEMO_SERVICE_PASSWORD}
    )
    assert blocked.status_code == 403 and "15" in blocked.text
    assert web.refusals(reason="service_password", why="service_password_locked")
    assert agent.get(f"/ui/pay/customers/{SH_CUSTOMER}").status_code == 403


def test_roles_and_csrf(web: WebStack) -> None:
    staff = web.login(DEPT_SH)
    assert staff.get("/ui/pay").status_code == 403
    assert web.refusals(reason="role", actor=DEPT_SH)
    agent = web.login(AGENT_SH)
    forged = agent.post(
        f"/ui/pay/customers/{SH_CUSTOMER}/unlock", {"password": DEMO_SERVICE_PASSWORD}, csrf="x"
    )
    assert forged.status_code == 403
    assert web.refusals(reason="csrf", actor=AGENT_SH)
    assert not _audit(web, "customer_unlock")
    assert web.anonymous().get("/ui/pay").status_code == 403


# --- fuzzy search --------------------------------------------------------------------------------


def test_fuzzy_search_by_name_number_and_id_within_the_region(web: WebStack) -> None:
    agent = web.login(AGENT_SH)
    with web.engine.connect() as conn:
        shanghai: dict[str, str] = dict(
            conn.execute(
                sa.text("SELECT id, name FROM customers WHERE region = '上海' ORDER BY id")
            ).all()
        )
        elsewhere: dict[str, str] = dict(
            conn.execute(
                sa.text("SELECT id, name FROM customers WHERE region <> '上海' ORDER BY id")
            ).all()
        )
    by_number = agent.get("/ui/pay", params={"q": "0013800"})  # part of 13800138000
    assert by_number.status_code == 200
    assert 'data-customer="C000001"' in by_number.text
    by_id = agent.get("/ui/pay", params={"q": "c00000"})  # case-insensitive id prefix
    hits = set(re.findall(r'data-customer="([^"]+)"', by_id.text))
    assert hits == {c for c in shanghai if c.startswith("C00000")}
    surname = shanghai[SH_CUSTOMER][0]
    by_name = agent.get("/ui/pay", params={"q": surname})
    hits = set(re.findall(r'data-customer="([^"]+)"', by_name.text))
    assert hits == {c for c, name in shanghai.items() if surname in name}
    assert not hits & set(elsewhere)  # other regions are never listed
    nothing = agent.get("/ui/pay", params={"q": elsewhere[SZ_CUSTOMER]})
    assert SZ_CUSTOMER not in nothing.text
    searches = _audit(web, "customer_search")
    assert len(searches) == 4 and searches[0].actor == AGENT_SH
    assert (searches[0].after or {})["q"] == "0013800"


# --- recharge -------------------------------------------------------------------------------------


def test_recharge_form_credits_once_and_a_double_submit_shows_the_same_receipt(
    web: WebStack,
) -> None:
    """R-BIZ-6: card number + PIN verified, amount credited, receipt; the form's
    idempotency key makes a double submit harmless."""
    agent = web.login(AGENT_SH, lang="en")
    account = demo_account_no(SH_CUSTOMER)
    before = _main_balance(web, account)
    card, pin, face, _state = demo_cards()[3]
    form = agent.get(f"/ui/pay/customers/{SH_CUSTOMER}/recharge")
    assert form.status_code == 200
    fields = {
        "account_id": account,
        "card_no": card,
        "pin": pin,
        "channel": "phone",
        "key": _form_key(form.text),
    }
    first = agent.post(f"/ui/pay/customers/{SH_CUSTOMER}/recharge", fields)
    second = agent.post(f"/ui/pay/customers/{SH_CUSTOMER}/recharge", fields)
    assert first.status_code == second.status_code == 303
    receipt_url = first.headers["location"]
    assert second.headers["location"] == receipt_url + "?again=1"
    receipt = agent.get(receipt_url)
    assert receipt.status_code == 200 and f">{face}</dd>" in receipt.text
    assert "already made" in agent.get(second.headers["location"]).text
    assert _main_balance(web, account) == before + Decimal(face)
    with session_factory(web.engine)() as session:
        receipts = session.scalars(sa.select(Receipt).where(Receipt.card_no == card)).all()
        assert len(receipts) == 1 and receipts[0].channel == "phone"
        assert receipts[0].agent_id == AGENT_SH
        assert pay.reconcile(session) == []
    assert receipt_url.endswith(receipts[0].receipt_no)

    # a new form (new key) with the same card: used
    again = agent.get(f"/ui/pay/customers/{SH_CUSTOMER}/recharge")
    used = agent.post(
        f"/ui/pay/customers/{SH_CUSTOMER}/recharge", {**fields, "key": _form_key(again.text)}
    )
    assert used.status_code == 409 and "already been used" in used.text
    assert _main_balance(web, account) == before + Decimal(face)

    # the payment is in the customer's history once the password is given
    assert _unlock(agent, SH_CUSTOMER) == 303
    page = agent.get(f"/ui/pay/customers/{SH_CUSTOMER}")
    assert f'data-receipt="{receipts[0].receipt_no}"' in page.text
    assert _audit(web, "recharge", account)


def test_wrong_pin_shows_attempts_left_then_locks_the_card(web: WebStack) -> None:
    agent = web.login(AGENT_SH, lang="en")
    account = demo_account_no(SH_CUSTOMER)
    before = _main_balance(web, account)
    card, pin, _face, _state = demo_cards()[4]
    form = agent.get(f"/ui/pay/customers/{SH_CUSTOMER}/recharge")
    fields = {"account_id": account, "card_no": card, "channel": "sms", "key": _form_key(form.text)}
    for left in range(pay.MAX_PIN_ATTEMPTS - 1, 0, -1):
        wrong = agent.post(f"/ui/pay/customers/{SH_CUSTOMER}/recharge", {**fields, "pin": "1111"})
        assert wrong.status_code == 400
        assert f"Attempts left: {left}." in wrong.text
        assert _form_key(wrong.text) == fields["key"]  # the same form, nothing credited
    locked = agent.post(f"/ui/pay/customers/{SH_CUSTOMER}/recharge", {**fields, "pin": "1111"})
    assert locked.status_code == 400 and "locked" in locked.text
    right = agent.post(f"/ui/pay/customers/{SH_CUSTOMER}/recharge", {**fields, "pin": pin})
    assert right.status_code == 400 and "locked" in right.text
    assert _main_balance(web, account) == before
    with session_factory(web.engine)() as session:
        row = session.get(RechargeCard, card)
        assert row is not None and row.state == "locked"
        assert row.failed_attempts == pay.MAX_PIN_ATTEMPTS
    assert len(_audit(web, "recharge_refused", card)) == pay.MAX_PIN_ATTEMPTS + 1


def test_void_and_unknown_cards_and_bad_input_are_refused(web: WebStack) -> None:
    agent = web.login(AGENT_SH, lang="en")
    account = demo_account_no(SH_CUSTOMER)
    void_card, void_pin, _f, state = demo_cards()[-1]
    assert state == "void"
    form = agent.get(f"/ui/pay/customers/{SH_CUSTOMER}/recharge")
    base = {"account_id": account, "channel": "phone", "key": _form_key(form.text)}
    cases = [
        ({"card_no": void_card, "pin": void_pin}, "withdrawn"),
        ({"card_no": "1234567890123", "pin": "123456"}, "No such card"),
        ({"card_no": "12ab", "pin": "123456"}, "Check the input"),
        ({"card_no": void_card, "pin": void_pin, "account_id": "800000002"}, "No such account"),
    ]
    for extra, text in cases:
        answer = agent.post(f"/ui/pay/customers/{SH_CUSTOMER}/recharge", {**base, **extra})
        assert answer.status_code == 400, extra
        assert text in answer.text, extra
    with session_factory(web.engine)() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(Receipt)) == 0
