"""JSON of the desktop's native customer pane over real HTTP (SQLite, and PostgreSQL
with ``OPENCC_TEST_PG_URL``): the pane's prepaid balance only after the service password
was verified in that web session (R-BIZ-4), the session's CSRF token, and accepting or
declining a recommendation as JSON exactly as the customer page's form does (R-BIZ-7),
with refusals answered 4xx JSON and audited like the pages'."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx
import sqlalchemy as sa

from cti_server.store import payments as pay
from cti_server.store import session_factory
from cti_server.store.models import AuditEntry, RecommendationResponse, ServiceOrder
from cti_server.store.seed import DEMO_SERVICE_PASSWORD
from tests.cti_server.web.web_support import AGENT_SH, DEPT_SH, Browser, WebStack

VIP = "C000001"  # 上海, prepaid and postpaid accounts, service password 123456
GOLD_SZ = "C000002"  # 深圳


def _prepaid_main(web: WebStack, customer: str) -> Decimal:
    with session_factory(web.engine)() as session:
        accounts = [a for a in pay.accounts_of(session, customer) if a.kind == "prepaid"]
    assert accounts, "the demo customer has a prepaid account"
    return sum((a.balance("main") for a in accounts), Decimal("0.00"))


def _answer(
    browser: Browser, rule: str, body: Any, *, csrf: str | None, customer: str = VIP
) -> httpx.Response:
    headers = {} if csrf is None else {"X-CSRF-Token": csrf}
    url = f"/ui/api/customers/{customer}/recommendations/{rule}"
    if isinstance(body, bytes):
        return browser.client.post(url, content=body, headers=headers)
    return browser.client.post(url, json=body, headers=headers)


def _responses(web: WebStack) -> list[tuple[str, str, str, str | None]]:
    with web.engine.connect() as conn:
        rows = conn.execute(
            sa.select(
                RecommendationResponse.rule_id,
                RecommendationResponse.response,
                RecommendationResponse.reason,
                RecommendationResponse.order_id,
            ).order_by(RecommendationResponse.id)
        ).all()
    return [(a, b, c, d) for a, b, c, d in rows]


def test_the_pane_shows_the_balance_only_after_the_service_password(web: WebStack) -> None:
    agent = web.login(AGENT_SH)
    pane = agent.get(f"/ui/api/customers/{VIP}/pane").json()
    assert pane["balance"] is None and pane["balance_locked"] is True
    assert pane["csrf"] == agent.csrf  # the token of this web session

    done = agent.post(f"/ui/pay/customers/{VIP}/unlock", {"password": DEMO_SERVICE_PASSWORD})
    assert done.status_code == 303
    unlocked = agent.get(f"/ui/api/customers/{VIP}/pane").json()
    assert unlocked["balance_locked"] is False
    assert Decimal(unlocked["balance"]) == _prepaid_main(web, VIP)
    assert unlocked["customer"] == pane["customer"]
    with web.engine.connect() as conn:
        views = conn.execute(
            sa.select(AuditEntry.after).where(
                AuditEntry.action == "customer_query", AuditEntry.entity_id == VIP
            )
        ).scalars()
        assert {"view": "pane_balance"} in list(views)

    # the verification belongs to that web session: another sign-in is locked again
    other = web.login(AGENT_SH).get(f"/ui/api/customers/{VIP}/pane").json()
    assert other["balance"] is None and other["balance_locked"] is True
    assert other["csrf"] != pane["csrf"]
    # and it ends when the agent locks the customer again
    assert agent.post(f"/ui/pay/customers/{VIP}/lock", {}).status_code == 303
    assert agent.get(f"/ui/api/customers/{VIP}/pane").json()["balance_locked"] is True


def test_recommendations_are_accepted_and_declined_as_json(web: WebStack) -> None:
    agent = web.login(AGENT_SH)
    csrf = agent.get(f"/ui/api/customers/{VIP}/pane").json()["csrf"]

    accepted = _answer(
        agent, "vip_package", {"answer": "accepted", "call_id": "DEMO-CALL-0001"}, csrf=csrf
    )
    assert accepted.status_code == 200, accepted.text
    body = accepted.json()
    assert body["ok"] is True and body["answer"] == "accepted"
    assert body["order_path"] == f"/ui/orders/{body['order_id']}"
    with web.engine.connect() as conn:
        order = conn.execute(
            sa.select(ServiceOrder.source, ServiceOrder.call_id, ServiceOrder.customer_id).where(
                ServiceOrder.id == body["order_id"]
            )
        ).one()
    assert tuple(order) == ("rule:vip_package", "DEMO-CALL-0001", VIP)
    assert agent.get(body["order_path"]).status_code == 200  # the draft order page

    no_note = _answer(agent, "broadband_new", {"answer": "declined"}, csrf=csrf)
    assert no_note.status_code == 400
    assert no_note.json()["error"] == "svc_err_decline_reason"
    assert "拒绝的原因" in no_note.json()["message"]
    declined = _answer(
        agent, "broadband_new", {"answer": "declined", "note": "客户已有宽带"}, csrf=csrf
    )
    assert declined.status_code == 200
    assert declined.json() == {
        "ok": True,
        "answer": "declined",
        "rule_id": "broadband_new",
        "order_id": None,
        "order_path": None,
    }
    assert _responses(web) == [
        ("vip_package", "accepted", "", body["order_id"]),
        ("broadband_new", "declined", "客户已有宽带", None),
    ]
    # declined: the pane no longer offers it (same rules as the page)
    pane = agent.get(f"/ui/api/customers/{VIP}/pane").json()
    assert "broadband_new" not in [r["rule_id"] for r in pane["recommendations"]]


def test_bad_json_requests_get_typed_errors_and_change_nothing(web: WebStack) -> None:
    agent = web.login(AGENT_SH)
    csrf = agent.csrf
    path = f"/ui/api/customers/{VIP}/recommendations/vip_package"

    wrong = _answer(agent, "vip_package", {"answer": "accepted"}, csrf="not-the-token")
    assert wrong.status_code == 403 and wrong.json()["error"] == "csrf"
    missing = _answer(agent, "vip_package", {"answer": "accepted"}, csrf=None)
    assert missing.status_code == 403 and missing.json()["error"] == "csrf"
    assert len(web.refusals(reason="csrf", entity_id=path, actor=AGENT_SH)) == 2
    foreign = web.login(AGENT_SH).csrf  # another session's token
    assert _answer(agent, "vip_package", {"answer": "accepted"}, csrf=foreign).status_code == 403

    for answer, error in (
        ({"answer": "accept"}, "svc_err_answer"),
        ({"answer": None}, "svc_err_answer"),
        ({}, "svc_err_answer"),
        ({"answer": "accepted", "note": 5}, "svc_err_json"),
        ({"answer": "accepted", "call_id": ["x"]}, "svc_err_json"),
    ):
        bad = _answer(agent, "vip_package", answer, csrf=csrf)
        assert bad.status_code == 400, answer
        assert bad.json()["ok"] is False and bad.json()["error"] == error
        assert bad.json()["message"]
    for raw in (b"answer=accepted", b"[1, 2]", b"\xff\xfe", b"{" * 20000):
        bad = _answer(agent, "vip_package", raw, csrf=csrf)
        assert bad.status_code == 400 and bad.json()["error"] == "bad_json"
    unknown = _answer(agent, "no_such_rule", {"answer": "declined", "note": "x"}, csrf=csrf)
    assert unknown.status_code == 404 and unknown.json()["error"] == "not_found"

    region = _answer(
        agent, "cloud_high_spend", {"answer": "declined", "note": "x"}, csrf=csrf, customer=GOLD_SZ
    )
    assert region.status_code == 403 and region.json()["error"] == "region"
    assert web.refusals(reason="region", actor=AGENT_SH, customer=GOLD_SZ)
    dept = web.login(DEPT_SH)
    role = _answer(dept, "vip_package", {"answer": "accepted"}, csrf=dept.csrf)
    assert role.status_code == 403 and role.json()["error"] == "role"
    anonymous = web.anonymous().client.post(path, json={"answer": "accepted"})
    assert anonymous.status_code == 403 and anonymous.json()["error"] == "login"
    assert web.refusals(reason="login", actor="anonymous", entity_id=path)
    assert _responses(web) == []
    assert web.scalar(sa.select(sa.func.count()).select_from(ServiceOrder)) == 0
