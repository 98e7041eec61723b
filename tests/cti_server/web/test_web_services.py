"""Service catalogue, acceptance orders, marketing recommendations, care plans, the
desktop pane JSON and survey results (R-BIZ-2, R-BIZ-7, R-BIZ-8, R-IN-5) through the
real HTTP pages, on SQLite and PostgreSQL. Demo: 1001 is a 上海 agent, C000001 a 上海
VIP customer with a landline, C000002 a 深圳 gold customer."""

from __future__ import annotations

import datetime as dt
import re
import threading
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa

from cti_server.store import session_factory
from cti_server.store.models import (
    AuditEntry,
    BusinessRecord,
    CareAction,
    CarePlan,
    ContactRecord,
    Customer,
    MarketingRule,
    RecommendationResponse,
    Role,
    Service,
    ServiceOperation,
    ServiceOrder,
    ServiceSubscription,
    SurveyResult,
    utcnow,
)
from cti_server.web import services_data as sd
from cti_server.web.data import WebUser
from cti_server.web.i18n import MESSAGES
from tests.cti_server.web.web_support import (
    ADMIN,
    AGENT_SH,
    AGENT_SZ,
    DEPT_SH,
    TEAM_LEAD,
    Browser,
    WebStack,
)

VIP = "C000001"  # 上海
GOLD_SZ = "C000002"  # 深圳
_ORDER = re.compile(r"/ui/orders/(SO\d+)")


def _held(web: WebStack, customer: str) -> dict[str, tuple[str, str | None]]:
    with web.engine.connect() as conn:
        rows = conn.execute(
            sa.select(
                ServiceSubscription.service_code,
                ServiceSubscription.status,
                ServiceSubscription.plan_code,
            ).where(ServiceSubscription.customer_id == customer)
        )
        return {code: (status, plan) for code, status, plan in rows}


def _order(browser: Browser, customer: str, *lines: tuple[str, str, str]) -> str:
    data: dict[str, Any] = {"customer": customer, "remarks": "客户来电办理"}
    for i, (action, service, plan) in enumerate(lines):
        data[f"action_{i}"] = action
        data[f"service_{i}"] = service
        data[f"plan_{i}"] = f"{service}:{plan}" if plan else ""
    done = browser.post("/ui/orders", data)
    assert done.status_code == 303, done.text
    match = _ORDER.search(done.headers["location"])
    assert match
    return match.group(1)


def _user(agent_id: str, role: Role = Role.AGENT, region: str | None = None) -> WebUser:
    return WebUser(agent_id, agent_id, role, region, None)


# --- catalogue -------------------------------------------------------------------------------


def test_catalogue_lists_services_plans_and_fees_in_both_languages(web: WebStack) -> None:
    browser = web.login(AGENT_SH)
    zh = browser.get("/ui/services")
    assert zh.status_code == 200
    assert "千兆宽带" in zh.text and "钻石VIP尊享包" in zh.text and "仅限VIP" in zh.text
    assert "129.00" in zh.text and "包年 1299元" in zh.text
    en = browser.get("/ui/services?lang=en")
    assert "Gigabit broadband" in en.text and "VIP only" in en.text
    with web.engine.connect() as conn:
        fee = conn.execute(sa.select(Service.monthly_fee).where(Service.code == "bb_1000"))
        assert fee.scalar_one() == Decimal("129.00")


# --- acceptance orders -----------------------------------------------------------------------


def test_order_with_several_lines_is_checked_confirmed_and_logged(web: WebStack) -> None:
    """R-BIZ-2: apply + reserve + prepaid in one order; Confirm applies every line, the
    operation log has each line's before/after with actor and time, and the R-IN-7
    acceptance record names the order."""
    browser = web.login(AGENT_SH)
    assert browser.get(f"/ui/orders/new?customer={VIP}").status_code == 200
    before = _held(web, VIP)
    assert before == {"landline": ("active", None)}
    order_id = _order(
        browser,
        VIP,
        ("apply", "bb_1000", "bb_1000_y"),
        ("apply", "iptv", ""),
        ("reserve", "tv_sports", ""),
        ("apply", "mob_prepaid", "pre_100"),
    )
    page = browser.get(f"/ui/orders/{order_id}")
    assert page.status_code == 200
    assert "校验通过" in page.text and "草稿" in page.text
    assert _held(web, VIP) == before  # a draft changes nothing
    confirmed = browser.post(f"/ui/orders/{order_id}/confirm", {})
    assert confirmed.status_code == 303
    assert _held(web, VIP) == {
        "landline": ("active", None),
        "bb_1000": ("active", "bb_1000_y"),
        "iptv": ("active", None),
        "tv_sports": ("reserved", None),
        "mob_prepaid": ("active", "pre_100"),
    }
    with web.engine.connect() as conn:
        ops = conn.execute(
            sa.select(ServiceOperation)
            .where(ServiceOperation.order_id == order_id)
            .order_by(ServiceOperation.id)
        ).all()
        order = conn.execute(sa.select(ServiceOrder).where(ServiceOrder.id == order_id)).one()
        record = conn.execute(
            sa.select(BusinessRecord).where(BusinessRecord.serial_no == order.record_serial)
        ).one()
    assert [(o.operation, o.service_code) for o in ops] == [
        ("apply", "bb_1000"),
        ("apply", "iptv"),
        ("reserve", "tv_sports"),
        ("apply", "mob_prepaid"),
        ("confirm", None),
    ]
    assert all(o.actor == AGENT_SH and o.at is not None for o in ops)
    assert ops[0].before is None
    assert ops[0].after["status"] == "active" and ops[0].after["plan_code"] == "bb_1000_y"
    assert ops[2].after["status"] == "reserved"
    assert order.status == "confirmed" and order.confirmed_at is not None
    assert record.kind == "acceptance" and order_id in record.remarks
    assert set(record.categories) == {
        "acceptance.apply",
        "acceptance.reserve",
        "acceptance.prepaid",
    }
    shown = browser.get(f"/ui/orders/{order_id}?notice=confirmed")
    assert "全部明细已生效" in shown.text and order.record_serial in shown.text
    assert shown.text.count("<tr><td>") >= 4  # the log rows
    # the R-IN-7 result page of the record opens from the order
    assert browser.get(f"/ui/records/{order.record_serial}").status_code == 200
    # a second Confirm (double click) applies nothing twice
    assert browser.post(f"/ui/orders/{order_id}/confirm", {}).status_code == 303
    with web.engine.connect() as conn:
        again = conn.execute(
            sa.select(sa.func.count())
            .select_from(ServiceOperation)
            .where(ServiceOperation.order_id == order_id)
        ).scalar_one()
    assert again == len(ops)


def test_invalid_lines_are_shown_and_confirm_applies_nothing(web: WebStack) -> None:
    browser = web.login(AGENT_SH, lang="en")
    order_id = _order(
        browser,
        VIP,
        ("apply", "bb_100", ""),
        ("apply", "bb_1000", ""),  # conflicts with line 1
        ("apply", "tv_sports", ""),  # needs iptv
        ("apply", "bb_100", ""),  # duplicate
        ("cancel", "cloud", ""),  # not subscribed
    )
    page = browser.get(f"/ui/orders/{order_id}")
    assert "Line 2: bb_1000 conflicts with bb_100" in page.text
    assert "Line 3: tv_sports needs iptv first" in page.text
    assert "Line 4: Service bb_100 appears on more than one line" in page.text
    assert "Line 5: The customer does not have cloud" in page.text
    assert "/confirm" not in page.text
    refused = browser.post(f"/ui/orders/{order_id}/confirm", {})
    assert refused.status_code == 409
    assert "nothing was applied" in refused.text
    assert _held(web, VIP) == {"landline": ("active", None)}
    # VIP-only services are refused for a gold customer (深圳 agent, own region)
    sz = web.login(AGENT_SZ, lang="en")
    gold = _order(sz, GOLD_SZ, ("apply", "vip_gold", "vip_m"))
    assert "vip_gold is for VIP customers only" in sz.get(f"/ui/orders/{gold}").text
    # an empty order never becomes a draft
    empty = browser.post("/ui/orders", {"customer": VIP})
    assert empty.status_code == 400 and "Add at least one line" in empty.text


def test_confirm_is_all_or_nothing(web: WebStack, monkeypatch: pytest.MonkeyPatch) -> None:
    """A line that fails while applying (here: the 2nd) rolls the whole order back."""
    sessions = session_factory(web.engine)
    agent = _user(AGENT_SH, region="上海")
    lines = [sd.LineInput("apply", "iptv"), sd.LineInput("apply", "cloud")]
    order_id = sd.create_order(sessions, agent, VIP, lines)
    real = sd._apply_line
    calls: list[str] = []

    def failing(session: Any, order: Any, line: Any, *args: Any) -> Any:
        calls.append(line.service_code)
        if line.position == 2:
            raise RuntimeError("provisioning system refused the line")
        return real(session, order, line, *args)

    monkeypatch.setattr(sd, "_apply_line", failing)
    with pytest.raises(RuntimeError):
        sd.confirm_order(sessions, agent, order_id)
    assert calls == ["iptv", "cloud"]  # line 1 had been applied in the transaction
    assert _held(web, VIP) == {"landline": ("active", None)}
    view = sd.get_order(sessions, agent, order_id)
    assert view.status == "draft" and view.operations == () and view.record_serial is None
    monkeypatch.setattr(sd, "_apply_line", real)

    # a change after the draft was checked: confirm re-checks, nothing applied
    other = sd.create_order(sessions, agent, VIP, [sd.LineInput("apply", "cloud")])
    assert sd.confirm_order(sessions, agent, other)
    with pytest.raises(sd.OrderProblems) as bad:
        sd.confirm_order(sessions, agent, order_id)
    assert [(p.position, p.key) for p in bad.value.problems] == [(2, "svc_err_already")]
    assert "iptv" not in _held(web, VIP)


def test_rollback_reverses_every_line_and_is_refused_while_a_later_order_depends(
    web: WebStack,
) -> None:
    browser = web.login(AGENT_SH)
    first = _order(browser, VIP, ("apply", "iptv", ""), ("cancel", "landline", ""))
    assert browser.post(f"/ui/orders/{first}/confirm", {}).status_code == 303
    second = _order(browser, VIP, ("apply", "tv_sports", ""))  # needs iptv of the first
    assert browser.post(f"/ui/orders/{second}/confirm", {}).status_code == 303
    assert _held(web, VIP)["landline"][0] == "cancelled"

    refused = browser.post(f"/ui/orders/{first}/rollback", {})
    assert refused.status_code == 409
    assert second in refused.text and "拒绝回退" in refused.text
    assert _held(web, VIP)["iptv"] == ("active", None)

    assert browser.post(f"/ui/orders/{second}/rollback", {}).status_code == 303
    assert "tv_sports" not in _held(web, VIP)
    assert browser.post(f"/ui/orders/{first}/rollback", {}).status_code == 303
    assert _held(web, VIP) == {"landline": ("active", None)}
    page = browser.get(f"/ui/orders/{first}")
    assert "已回退" in page.text
    with web.engine.connect() as conn:
        ops = conn.execute(
            sa.select(ServiceOperation.operation, ServiceOperation.service_code)
            .where(ServiceOperation.order_id == first)
            .order_by(ServiceOperation.id)
        ).all()
        serial = conn.execute(
            sa.select(ServiceOrder.record_serial).where(ServiceOrder.id == first)
        ).scalar_one()
        status = conn.execute(
            sa.select(BusinessRecord.status).where(BusinessRecord.serial_no == serial)
        ).scalar_one()
        audits = conn.execute(
            sa.select(AuditEntry.action).where(
                AuditEntry.entity == "service_order", AuditEntry.entity_id == first
            )
        ).scalars()
        assert sorted(audits) == ["confirm", "create", "rollback"]
    assert [tuple(o) for o in ops] == [
        ("apply", "iptv"),
        ("cancel", "landline"),
        ("confirm", None),
        ("rollback", "landline"),
        ("rollback", "iptv"),
    ]
    assert status == "rolled_back"
    # only once
    assert browser.post(f"/ui/orders/{first}/rollback", {}).status_code == 409


# --- marketing -------------------------------------------------------------------------------


def test_recommendations_are_accepted_or_declined_from_the_desk(web: WebStack) -> None:
    """R-BIZ-7: the customer page offers the rules' recommendations; accepting opens an
    acceptance order, declining needs a reason; team leads see the acceptance rate."""
    browser = web.login(AGENT_SH)
    page = browser.get(f"/ui/customers/{VIP}?call_id=DEMO-CALL-0001")
    assert page.status_code == 200
    offered = re.findall(r'<li class="rec" data-rule="([^"]+)">', page.text)
    assert offered[0] == "vip_package"  # highest priority
    assert "broadband_new" in offered and "VIP客户专享" in page.text
    accepted = browser.post(
        f"/ui/customers/{VIP}/recommendations/vip_package",
        {"answer": "accept", "call_id": "DEMO-CALL-0001"},
    )
    assert accepted.status_code == 303
    order_id = _ORDER.search(accepted.headers["location"]).group(1)  # type: ignore[union-attr]
    view = sd.get_order(session_factory(web.engine), _user(ADMIN, Role.ADMIN), order_id)
    assert [(ln.action, ln.service_code, ln.plan_code) for ln in view.lines] == [
        ("apply", "vip_gold", "vip_y")
    ]
    assert view.source == "rule:vip_package" and view.call_id == "DEMO-CALL-0001"

    no_reason = browser.post(
        f"/ui/customers/{VIP}/recommendations/broadband_new", {"answer": "decline"}
    )
    assert no_reason.status_code == 400 and "拒绝的原因" in no_reason.text
    declined = browser.post(
        f"/ui/customers/{VIP}/recommendations/broadband_new",
        {"answer": "decline", "reason": "客户已有其他运营商宽带"},
    )
    assert declined.status_code == 303
    again = browser.get(f"/ui/customers/{VIP}")
    assert 'data-rule="broadband_new"' not in again.text  # not offered again for a while
    with web.engine.connect() as conn:
        answers = conn.execute(
            sa.select(
                RecommendationResponse.rule_id,
                RecommendationResponse.response,
                RecommendationResponse.reason,
                RecommendationResponse.order_id,
                RecommendationResponse.agent_id,
            ).order_by(RecommendationResponse.id)
        ).all()
    assert [tuple(a) for a in answers] == [
        ("vip_package", "accepted", "", order_id, AGENT_SH),
        ("broadband_new", "declined", "客户已有其他运营商宽带", None, AGENT_SH),
    ]
    # a second broadband decline by another customer: rate 0 %; vip_package 100 %
    lead = web.login(TEAM_LEAD)
    rules = lead.get("/ui/marketing/rules")
    assert rules.status_code == 200
    row = re.search(r'data-rule="vip_package">(.*?)</tr>', rules.text, re.S)
    assert row and '<td class="num accepted">1</td>' in row.group(1)
    assert "100.0%" in row.group(1)
    row = re.search(r'data-rule="broadband_new">(.*?)</tr>', rules.text, re.S)
    assert row and '<td class="num declined">1</td>' in row.group(1) and "0.0%" in row.group(1)


def test_admin_edits_marketing_rules_others_are_refused(web: WebStack) -> None:
    rule = {
        "rule_id": "cloud_shanghai",
        "name_zh": "上海云存储",
        "name_en": "Cloud for Shanghai",
        "regions": "上海",
        "tiers": "vip",
        "lacks_services": "cloud",
        "service_code": "cloud",
        "reason_zh": "上海VIP客户云存储免费一年",
        "reason_en": "Shanghai VIP: a free year of cloud storage",
        "priority": "95",
        "min_spend": "10.00",
        "active": "1",
    }
    for agent in (AGENT_SH, TEAM_LEAD):
        refused = web.login(agent).post("/ui/marketing/rules", rule)
        assert refused.status_code == 403
        assert web.refusals(actor=agent, entity_id="/ui/marketing/rules", reason="role")
    assert web.login(AGENT_SH).get("/ui/marketing/rules").status_code == 403
    admin = web.login(ADMIN)
    bad = admin.post("/ui/marketing/rules", {**rule, "service_code": "nope"})
    assert bad.status_code == 400
    bad_money = admin.post("/ui/marketing/rules", {**rule, "min_spend": "ten"})
    assert bad_money.status_code == 400
    assert admin.post("/ui/marketing/rules", rule).status_code == 303
    with web.engine.connect() as conn:
        row = conn.execute(
            sa.select(MarketingRule).where(MarketingRule.id == "cloud_shanghai")
        ).one()
        assert row.min_spend == Decimal("10.00") and row.regions == ["上海"]
        assert conn.execute(
            sa.select(AuditEntry.action).where(
                AuditEntry.entity == "marketing_rule", AuditEntry.entity_id == "cloud_shanghai"
            )
        ).scalars().all() == ["create"]
    pane = web.login(AGENT_SH).get(f"/ui/api/customers/{VIP}/pane").json()
    assert pane["recommendations"][0]["rule_id"] == "cloud_shanghai"
    # switched off: gone
    assert admin.post("/ui/marketing/rules", {**rule, "active": ""}).status_code == 303
    pane = web.login(AGENT_SH).get(f"/ui/api/customers/{VIP}/pane").json()
    assert "cloud_shanghai" not in [r["rule_id"] for r in pane["recommendations"]]


# --- the desktop pane and care ---------------------------------------------------------------


def test_pane_json_has_what_the_desktop_shows(web: WebStack) -> None:
    browser = web.login(AGENT_SH)
    response = browser.get(f"/ui/api/customers/{VIP}/pane")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    pane = response.json()
    with web.engine.connect() as conn:
        customer = conn.execute(sa.select(Customer).where(Customer.id == VIP)).one()
        catalogue = set(conn.execute(sa.select(Service.code)).scalars())
    assert pane["customer"] == {
        "customer_id": VIP,
        "name": customer.name,
        "tier": "vip",
        "region": "上海",
        "account_status": "active",
        "tenure_days": pane["customer"]["tenure_days"],
        "monthly_spend": "15.00",
    }
    subscribed = {s["service_code"] for s in pane["subscribed"]}
    missing = {s["service_code"] for s in pane["not_subscribed"]}
    assert subscribed == {"landline"} and subscribed | missing == catalogue
    assert not subscribed & missing
    assert {"rule_id", "service_code", "reason_zh", "reason_en", "priority"} <= set(
        pane["recommendations"][0]
    )
    assert [c["plan_id"] for c in pane["care_plans"]] == ["DEMO-CARE-0001"]
    # the HTML page shows the same
    html = browser.get(f"/ui/customers/{VIP}").text
    assert "VIP客户季度回访" in html and "固定电话" in html and "15.00" in html


def test_care_rules_pop_plans_when_the_customer_calls(web: WebStack) -> None:
    """R-BIZ-8: a VIP with a recent complaint gets a follow-up visit the next time the
    pane is opened (once); a tenure anniversary gives a care message; plans are acted on
    (done / postponed / declined with notes) and leave the pane when closed."""
    now = utcnow()
    with session_factory(web.engine).begin() as session:
        session.add(
            ContactRecord(
                id="T-COMPLAINT-1",
                customer_id=VIP,
                number="13800138000",
                agent_id="1002",
                channel="voice",
                direction="inbound",
                started_at=now - dt.timedelta(days=2),
                disposition="complaint",
                business_selection="broadband",
                summary="宽带频繁掉线，客户投诉",
            )
        )
        landline = session.scalar(
            sa.select(ServiceSubscription).where(
                ServiceSubscription.customer_id == VIP,
                ServiceSubscription.service_code == "landline",
            )
        )
        assert landline is not None
        landline.since = now - dt.timedelta(days=365 * 3 + 1)  # third anniversary: today
    browser = web.login(AGENT_SH)
    pane = browser.get(f"/ui/api/customers/{VIP}/pane").json()
    kinds = sorted((c["kind"], c["rule_id"] or "") for c in pane["care_plans"])
    assert kinds == [
        ("care_message", "anniversary"),
        ("follow_up", ""),
        ("follow_up", "vip_complaint"),
    ]
    again = browser.get(f"/ui/api/customers/{VIP}/pane").json()  # no duplicates
    assert len(again["care_plans"]) == 3
    visit = next(c for c in pane["care_plans"] if c["rule_id"] == "vip_complaint")
    assert "VIP客户投诉回访" in visit["title"]
    message = next(c for c in pane["care_plans"] if c["rule_id"] == "anniversary")

    done = browser.post(
        f"/ui/care/plans/{visit['plan_id']}",
        {"action": "done", "note": "已上门检修，客户满意", "back": "customer"},
    )
    assert done.status_code == 303 and done.headers["location"].endswith(f"/customers/{VIP}")
    later = (now + dt.timedelta(days=10)).date().isoformat()
    assert (
        browser.post(
            f"/ui/care/plans/{message['plan_id']}",
            {"action": "postponed", "note": "客户在开会", "due": later},
        ).status_code
        == 303
    )
    past = browser.post(
        "/ui/care/plans/DEMO-CARE-0001", {"action": "postponed", "due": "2020-01-01"}
    )
    assert past.status_code == 400
    assert (
        browser.post(
            "/ui/care/plans/DEMO-CARE-0001", {"action": "declined", "note": "客户不需要回访"}
        ).status_code
        == 303
    )
    closed = browser.post("/ui/care/plans/DEMO-CARE-0001", {"action": "done"})
    assert closed.status_code == 400
    pane = browser.get(f"/ui/api/customers/{VIP}/pane").json()
    assert [(c["plan_id"], c["state"]) for c in pane["care_plans"]] == [
        (message["plan_id"], "postponed")
    ]
    assert pane["care_plans"][0]["due_at"].startswith(later)
    with web.engine.connect() as conn:
        actions = conn.execute(
            sa.select(
                CareAction.plan_id, CareAction.action, CareAction.note, CareAction.agent_id
            ).order_by(CareAction.id)
        ).all()
    assert [tuple(a) for a in actions] == [
        (visit["plan_id"], "done", "已上门检修，客户满意", AGENT_SH),
        (message["plan_id"], "postponed", "客户在开会", AGENT_SH),
        ("DEMO-CARE-0001", "declined", "客户不需要回访", AGENT_SH),
    ]
    page = browser.get("/ui/care/plans/DEMO-CARE-0001")
    assert "客户不需要回访" in page.text and "客户拒绝" in page.text


def test_care_plans_added_by_hand_and_listed_by_region(web: WebStack) -> None:
    browser = web.login(AGENT_SH)
    due = (utcnow() + dt.timedelta(days=4)).date().isoformat()
    added = browser.post(
        f"/ui/customers/{VIP}/care",
        {"kind": "retention", "title": "合约到期挽留", "due": due, "note": "推荐包年"},
    )
    assert added.status_code == 303
    listing = browser.get("/ui/care")
    assert "合约到期挽留" in listing.text and "VIP客户季度回访" in listing.text
    assert "生日关怀短信" not in listing.text  # C000002 is a 深圳 customer
    assert "生日关怀短信" in web.login(TEAM_LEAD).get("/ui/care").text
    bad = browser.post(f"/ui/customers/{VIP}/care", {"kind": "party", "title": "x"})
    assert bad.status_code == 400
    with web.engine.connect() as conn:
        assert (
            conn.execute(
                sa.select(sa.func.count())
                .select_from(CarePlan)
                .where(CarePlan.title == "合约到期挽留", CarePlan.created_by == AGENT_SH)
            ).scalar_one()
            == 1
        )


def test_admin_edits_care_rules(web: WebStack) -> None:
    rule = {
        "rule_id": "gold_complaint",
        "name_zh": "金卡投诉回访",
        "name_en": "Gold complaint follow-up",
        "trigger": "recent_complaint",
        "tiers": "gold",
        "window_days": "14",
        "plan_kind": "follow_up",
        "title_zh": "金卡客户投诉回访",
        "title_en": "Gold customer complaint follow-up",
        "due_days": "1",
        "active": "1",
    }
    assert web.login(TEAM_LEAD).post("/ui/care/rules", rule).status_code == 403
    admin = web.login(ADMIN)
    assert admin.post("/ui/care/rules", {**rule, "trigger": "birthday"}).status_code == 400
    assert admin.post("/ui/care/rules", rule).status_code == 303
    assert "金卡投诉回访" in web.login(TEAM_LEAD).get("/ui/care/rules").text


# --- surveys ---------------------------------------------------------------------------------


def test_survey_averages_per_agent_match_the_stored_results(web: WebStack) -> None:
    lead = web.login(TEAM_LEAD)
    page = lead.get("/ui/surveys")
    assert page.status_code == 200
    shown = dict(
        re.findall(r'<tr data-agent="(\d+)">.*?<td class="num avg">([\d.]+)</td>', page.text)
    )
    with web.engine.connect() as conn:
        rows = conn.execute(
            sa.select(SurveyResult.agent_id, SurveyResult.score).where(
                SurveyResult.at >= utcnow() - dt.timedelta(days=30)
            )
        ).all()
    expected: dict[str, list[int]] = {}
    for agent, score in rows:
        expected.setdefault(agent or "", []).append(score)
    assert shown == {
        a: str((Decimal(sum(s)) / len(s)).quantize(Decimal("0.01"))) for a, s in expected.items()
    }
    call = web.login(AGENT_SH).get("/ui/surveys/DEMO-CALL-0001")
    assert call.status_code == 200 and '<dd class="score">5</dd>' in call.text
    assert web.login(AGENT_SH).get("/ui/surveys").status_code == 403


# --- permissions and regions -----------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        f"/ui/customers/{GOLD_SZ}",
        f"/ui/api/customers/{GOLD_SZ}/pane",
        "/ui/care/plans/DEMO-CARE-0002",
    ],
)
def test_another_regions_customer_is_refused_and_audited(web: WebStack, path: str) -> None:
    browser = web.login(AGENT_SH)
    refused = browser.get(path)
    assert refused.status_code == 403
    assert web.refusals(actor=AGENT_SH, entity_id=path, reason="region")
    assert web.login(AGENT_SZ).get(path).status_code == 200


def test_orders_respect_roles_regions_and_csrf(web: WebStack) -> None:
    sz = web.login(AGENT_SZ)
    order_id = _order(sz, GOLD_SZ, ("apply", "cloud", ""))
    sh = web.login(AGENT_SH)
    for method, path in (
        ("get", f"/ui/orders/{order_id}"),
        ("post", f"/ui/orders/{order_id}/confirm"),
        ("post", f"/ui/orders/{order_id}/rollback"),
        ("post", f"/ui/customers/{GOLD_SZ}/recommendations/cloud_high_spend"),
        ("post", f"/ui/customers/{GOLD_SZ}/care"),
    ):
        response = sh.get(path) if method == "get" else sh.post(path, {"answer": "accept"})
        assert response.status_code == 403, path
        assert web.refusals(actor=AGENT_SH, entity_id=path, reason="region"), path
    creating = sh.post("/ui/orders", {"customer": GOLD_SZ, "service_0": "cloud"})
    assert creating.status_code == 403
    assert "cloud" not in _held(web, GOLD_SZ) or _held(web, GOLD_SZ)["cloud"][0] != "active"
    # no CSRF token: refused before anything is written
    forged = sz.post(f"/ui/orders/{order_id}/confirm", {}, csrf="forged")
    assert forged.status_code == 403
    assert web.refusals(actor=AGENT_SZ, entity_id=f"/ui/orders/{order_id}/confirm", reason="csrf")
    assert (
        sd.get_order(session_factory(web.engine), _user(ADMIN, Role.ADMIN), order_id).status
        == "draft"
    )
    # back-office staff have no desk pages; nobody without a session
    dept = web.login(DEPT_SH)
    for path in (f"/ui/customers/{GOLD_SZ}", "/ui/orders/new", "/ui/care", "/ui/surveys"):
        assert dept.get(path).status_code == 403
        assert web.refusals(actor=DEPT_SH, entity_id=path, reason="role")
    assert dept.get("/ui/services").status_code == 200
    anonymous = web.anonymous().get(f"/ui/api/customers/{VIP}/pane")
    assert anonymous.status_code == 403
    assert web.refusals(actor="anonymous", entity_id=f"/ui/api/customers/{VIP}/pane")
    # unknown things are 404
    assert sh.get("/ui/orders/SO0000").status_code == 404
    assert sh.get("/ui/customers/C999999").status_code == 404


def test_every_page_renders_for_the_roles_that_may_open_it(web: WebStack) -> None:
    for agent in (AGENT_SH, TEAM_LEAD, ADMIN):
        browser = web.login(agent, lang="en")
        for path in (
            "/ui/services",
            f"/ui/customers/{VIP}",
            f"/ui/orders/new?customer={VIP}",
            "/ui/care",
            "/ui/care?state=done",
            "/ui/care/plans/DEMO-CARE-0001",
        ):
            assert browser.get(path).status_code == 200, (agent, path)
        if agent != AGENT_SH:
            for path in ("/ui/marketing/rules", "/ui/care/rules", "/ui/surveys"):
                assert browser.get(path).status_code == 200, (agent, path)


def test_data_driven_message_keys_exist_in_both_languages() -> None:
    keys = [
        *(f"svc_act_{a}" for a in sd.ACTIONS),
        *(f"svc_status_{s}" for s in ("active", "reserved", "cancelled", "blacklisted")),
        "svc_status_no_service",
        *(f"svc_ost_{s}" for s in ("draft", "confirmed", "rolled_back")),
        *(f"svc_lst_{s}" for s in ("pending", "applied", "rolled_back")),
        *(f"svc_cat_{c}" for c in ("broadband", "mobile", "tv", "vip", "value_added")),
        *(f"svc_pay_{p}" for p in ("monthly", "annual", "prepaid")),
        *(f"care_kind_{k}" for k in sd.CARE_KINDS),
        *(f"care_trigger_{t}" for t in sd.CARE_TRIGGERS),
        *(f"care_state_{s}" for s in ("open", *sd.CARE_ACTIONS)),
        *(f"care_act_{a}" for a in sd.CARE_ACTIONS),
    ]
    assert [k for k in keys if k not in MESSAGES] == []
    for key in keys:
        en, zh = MESSAGES[key]
        assert en.strip() and zh.strip()


def test_audit_rows_for_every_change(web: WebStack) -> None:
    browser = web.login(AGENT_SH)
    order_id = _order(browser, VIP, ("apply", "cloud", ""))
    browser.post(f"/ui/orders/{order_id}/confirm", {})
    browser.post(
        f"/ui/customers/{VIP}/recommendations/broadband_new",
        {"answer": "decline", "reason": "暂不需要"},
    )
    with web.engine.connect() as conn:
        entities = set(
            conn.execute(
                sa.select(AuditEntry.entity, AuditEntry.action).where(AuditEntry.actor == AGENT_SH)
            ).all()
        )
    assert {
        ("service_order", "create"),
        ("service_order", "confirm"),
        ("recommendation", "decline"),
    } <= {tuple(e) for e in entities}


def test_concurrent_confirms_of_conflicting_orders_apply_exactly_one(web: WebStack) -> None:
    """Two agents confirm orders that conflict (100M and gigabit broadband) at the same
    moment: one applies, the other is refused with nothing applied."""
    sessions = session_factory(web.engine)
    agent = _user(AGENT_SH, region="上海")
    orders = [
        sd.create_order(sessions, agent, VIP, [sd.LineInput("apply", code)])
        for code in ("bb_100", "bb_1000")
    ]
    start = threading.Barrier(len(orders))
    outcomes: dict[str, str] = {}

    def confirm(order_id: str) -> None:
        start.wait()
        try:
            sd.confirm_order(sessions, agent, order_id)
            outcomes[order_id] = "confirmed"
        except sd.OrderProblems as bad:
            outcomes[order_id] = bad.problems[0].key

    threads = [threading.Thread(target=confirm, args=(o,)) for o in orders]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(outcomes.values()) == ["confirmed", "svc_err_conflict"]
    held = _held(web, VIP)
    assert ("bb_100" in held) != ("bb_1000" in held)
