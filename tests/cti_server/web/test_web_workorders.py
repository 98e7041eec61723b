"""Work orders (工单, R-BIZ-5, R-IN-5): every page for every role, the whole life of an
order (create from a call, dispatch, accept, note, on site, resolve, reply, callback,
close), refusals for the wrong role, region and department (403 + audit row), illegal
steps (409, nothing changed), SLA clocks on a controllable clock shown in the configured
web time zone, SLA rules as data and the customer's recent orders for the screen pop.
Real uvicorn, real store, SQLite and PostgreSQL (``OPENCC_TEST_PG_URL``)."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack

import pytest
import sqlalchemy as sa

from cti_server.store.models import (
    AuditEntry,
    CallbackTask,
    WorkOrder,
    WorkOrderEvent,
    WorkOrderSlaRule,
)
from cti_server.web import WebSettings
from cti_server.web import workorders_data as wo
from cti_server.web.i18n import MESSAGES
from tests.cti_server.http.http_support import running_stack
from tests.cti_server.web.conftest import FAST_HASHER, _backends
from tests.cti_server.web.web_support import (
    ADMIN,
    AGENT_SH,
    AGENT_SZ,
    CENTRE,
    DEPT_SH,
    TEAM_LEAD,
    Browser,
    WebStack,
)

SH_DEPT = "上海分公司网络维护部"
CENTRE_DEPT = "省客服中心"
_ORDER_ROW = re.compile(r'<tr data-order="([^"]+)"')
_LOCATION = re.compile(r"/ui/workorders/(WO-\d{8}-\d{4})$")


def order_ids(html: str) -> list[str]:
    return _ORDER_ROW.findall(html)


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


class FakeClock:
    def __init__(self, start: dt.datetime) -> None:
        self.now = start

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += dt.timedelta(**delta)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    fake = FakeClock(dt.datetime.now(dt.UTC).replace(microsecond=0))
    monkeypatch.setattr(wo, "clock", fake)
    return fake


@pytest.fixture(params=_backends())
def web_sh(
    request: pytest.FixtureRequest, make_web_db: Callable[[str], sa.Engine]
) -> Iterator[WebStack]:
    """The seeded demo with the pages in Shanghai time (UTC+8)."""
    engine = make_web_db(request.param)
    with ExitStack() as stack:
        served = stack.enter_context(
            running_stack(engine, FAST_HASHER, web=WebSettings(timezone="Asia/Shanghai"))
        )
        yield WebStack(served)


def demo_order(web: WebStack, customer_id: str) -> str:
    return str(
        web.scalar(
            sa.select(WorkOrder.id)
            .where(WorkOrder.customer_id == customer_id)
            .order_by(WorkOrder.created_at)
            .limit(1)
        )
    )


def status_of(web: WebStack, order_id: str) -> str:
    return str(web.scalar(sa.select(WorkOrder.status).where(WorkOrder.id == order_id)))


def event_kinds(web: WebStack, order_id: str) -> list[str]:
    with web.engine.connect() as conn:
        return list(
            conn.execute(
                sa.select(WorkOrderEvent.kind)
                .where(WorkOrderEvent.order_id == order_id)
                .order_by(WorkOrderEvent.at, WorkOrderEvent.id)
            ).scalars()
        )


def create(
    browser: Browser,
    *,
    customer: str = "C000001",
    call_id: str = "",
    category: str = "complaint.fault.broadband",
    priority: str = "normal",
    title: str = "宽带无法上网",
    department: str = "",
) -> str:
    response = browser.post(
        "/ui/workorders",
        {
            "call_id": call_id,
            "customer": customer,
            "category_id": category,
            "priority": priority,
            "title": title,
            "description": "客户报修：光猫红灯",
            "department": department,
        },
    )
    assert response.status_code == 303, response.text[:800]
    match = _LOCATION.search(response.headers["location"])
    assert match, response.headers["location"]
    return match.group(1)


def step(browser: Browser, order_id: str, path: str, **form: str) -> int:
    return browser.post(f"/ui/workorders/{order_id}/{path}", form).status_code


# --- pages and roles --------------------------------------------------------------------------


def test_every_workorder_page_renders_for_allowed_roles_and_refuses_the_others(
    web: WebStack,
) -> None:
    order = demo_order(web, "C000001")  # dispatched to the 上海 department
    everyone = {ADMIN, TEAM_LEAD, AGENT_SH, DEPT_SH}
    desk = {ADMIN, TEAM_LEAD, AGENT_SH}
    pages = {
        "/ui/workorders": everyone,
        "/ui/workorders?dept=mine&overdue=1": everyone,
        f"/ui/workorders/{order}": everyone,
        "/ui/workorders/new?call_id=DEMO-CALL-0001": desk,
        "/ui/workorders/sla": desk,
        "/ui/workorders/callbacks": desk,
        "/ui/customers/C000001/workorders/recent": desk,
        "/ui/api/customers/C000001/workorders/recent": desk,
    }
    for account in sorted(everyone):
        browser = web.login(account)
        for url, allowed in pages.items():
            response = browser.get(url)
            path = url.split("?")[0]
            if account in allowed:
                assert response.status_code == 200, (account, url, response.text[:500])
            else:
                assert response.status_code == 403, (account, url)
                assert web.refusals(actor=account, entity_id=path, reason="role"), (account, url)
    anonymous = web.anonymous()
    for url in pages:
        assert anonymous.get(url).status_code == 403
        assert web.refusals(actor="anonymous", entity_id=url.split("?")[0], reason="login")
    # the nav links there; dept staff land on their department's list
    assert '/ui/workorders?dept=mine"' in web.login(DEPT_SH).get("/ui/").text
    assert 'href="/ui/workorders"' in web.login(AGENT_SH).get("/ui/").text


def test_posting_a_step_of_another_role_is_refused_and_audited(web: WebStack) -> None:
    agent, dept, lead = web.login(AGENT_SH), web.login(DEPT_SH), web.login(TEAM_LEAD)
    order = create(agent, department=SH_DEPT)
    for path in ("accept", "reject", "transfer", "on-site", "resolve"):
        assert step(agent, order, path, text="x", department=CENTRE_DEPT) == 403, path
        assert web.refusals(actor=AGENT_SH, entity_id=f"/ui/workorders/{order}/{path}")
    for path in ("dispatch", "reply", "callback", "close"):
        assert step(dept, order, path, text="x", department=CENTRE_DEPT) == 403, path
        assert web.refusals(
            actor=DEPT_SH, entity_id=f"/ui/workorders/{order}/{path}", reason="role"
        )
    assert dept.post("/ui/workorders", {"title": "x"}).status_code == 403
    assert lead.post("/ui/workorders/sla", {"respond": "1"}).status_code == 403
    assert web.refusals(actor=TEAM_LEAD, entity_id="/ui/workorders/sla", reason="role")
    # without the session's CSRF token nothing happens either
    assert dept.post(f"/ui/workorders/{order}/accept", {}, csrf="forged").status_code == 403
    assert web.refusals(actor=DEPT_SH, reason="csrf")
    assert status_of(web, order) == "dispatched"
    assert event_kinds(web, order) == ["created", "dispatched"]


# --- the life of an order -----------------------------------------------------------------------


def test_create_from_a_call_prefills_the_call_context_and_links_it(web: WebStack) -> None:
    agent = web.login(AGENT_SH)
    form = agent.get("/ui/workorders/new?call_id=DEMO-CALL-0001")
    assert form.status_code == 200
    page = text_of(form.text)
    assert "13800138000" in page  # caller
    assert "C000001" in page and "broadband" in page  # customer, IVR business selection
    assert "IVR 欢迎致电" in page and "IVR 业务选择 [2]" in page and "q_broadband" in page
    assert "DEMO-CR-0001" in page  # the contact record
    # the fault category routes to the 上海 department (SLA rule as data)
    assert f"<option selected>{SH_DEPT}</option>" in form.text
    before = web.scalar(sa.select(sa.func.max(AuditEntry.id)))
    order = create(agent, call_id="DEMO-CALL-0001", customer="13800138000")
    today = dt.datetime.now(dt.UTC).strftime("%Y%m%d")
    assert order.startswith(f"WO-{today}-")
    with web.engine.connect() as conn:
        row = conn.execute(sa.select(WorkOrder).where(WorkOrder.id == order)).one()
    assert row.call_id == "DEMO-CALL-0001" and row.contact_id == "DEMO-CR-0001"
    assert row.customer_id == "C000001" and row.customer_number == "13800138000"
    assert row.status == "new" and row.created_by == AGENT_SH
    assert row.respond_by - row.created_at == dt.timedelta(minutes=10)  # R-BIZ-5
    assert row.on_site_by - row.created_at == dt.timedelta(minutes=60)
    audit_rows = web.scalar(
        sa.select(sa.func.count())
        .select_from(AuditEntry)
        .where(AuditEntry.id > before, AuditEntry.entity == "work_order")
    )
    assert audit_rows == 1
    detail = agent.get(f"/ui/workorders/{order}")
    assert detail.status_code == 200 and 'href="/ui/calls/DEMO-CALL-0001"' in detail.text
    # a second order the same day gets the next number
    second = create(agent)
    assert int(second[-4:]) == int(order[-4:]) + 1


def test_an_order_goes_from_dispatch_to_close_with_its_full_history(web: WebStack) -> None:
    agent, dept = web.login(AGENT_SH), web.login(DEPT_SH)
    order = create(agent, customer="C000001")
    assert step(agent, order, "dispatch", department=SH_DEPT) == 303
    assert order in order_ids(dept.get("/ui/workorders?dept=mine").text)
    assert step(dept, order, "accept") == 303
    assert step(dept, order, "note", text="已联系客户，约 30 分钟到场") == 303
    assert step(dept, order, "on-site", text="到达现场") == 303
    assert status_of(web, order) == "in_progress"
    assert step(dept, order, "resolve", text="更换光猫后恢复正常") == 303
    assert step(agent, order, "reply", channel="sms", text="您的宽带故障已修复") == 303
    due = (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    assert step(agent, order, "callback", due_at=due, text="回访满意度", number="") == 303
    assert step(agent, order, "close") == 303
    assert status_of(web, order) == "closed"
    assert event_kinds(web, order) == [
        "created",
        "dispatched",
        "accepted",
        "note",
        "on_site",
        "resolved",
        "replied",
        "callback",
        "closed",
    ]
    with web.engine.connect() as conn:
        row = conn.execute(sa.select(WorkOrder).where(WorkOrder.id == order)).one()
        task = conn.execute(sa.select(CallbackTask).where(CallbackTask.order_id == order)).one()
    assert row.assignee == DEPT_SH and row.feedback == "更换光猫后恢复正常"
    assert row.accepted_at and row.on_site_at and row.resolved_at and row.replied_at
    assert task.state == "open" and task.number == "13800138000" and task.reason == "回访满意度"
    detail = text_of(agent.get(f"/ui/workorders/{order}").text)
    for seen in ("派单", "接单", "已联系客户，约 30 分钟到场", "到达现场", "更换光猫后恢复正常"):
        assert seen in detail
    assert "回复客户" in detail and "短信" in detail and "您的宽带故障已修复" in detail
    assert "已关闭" in detail
    english = text_of(agent.get(f"/ui/workorders/{order}?lang=en").text)
    assert "Replied to customer" in english and "SMS" in english
    # the callback task waits for an outbound campaign
    assert "回访满意度" in agent.get("/ui/workorders/callbacks").text


def test_reject_transfer_and_redispatch(web: WebStack) -> None:
    agent, sh, centre = web.login(AGENT_SH), web.login(DEPT_SH), web.login(CENTRE)
    order = create(agent, customer="C000001", department=CENTRE_DEPT)
    assert status_of(web, order) == "dispatched"
    # a reason is required
    assert step(centre, order, "reject", text=" ") == 400
    assert status_of(web, order) == "dispatched"
    assert step(centre, order, "reject", text="属地故障，请派上海维护部") == 303
    assert status_of(web, order) == "rejected"
    assert step(agent, order, "dispatch", department=SH_DEPT) == 303
    # the same department or an unknown one is no transfer
    assert step(sh, order, "transfer", department=SH_DEPT, text="x") == 400
    assert step(sh, order, "transfer", department="不存在的部门", text="x") == 400
    assert step(sh, order, "transfer", department=CENTRE_DEPT, text="需省中心协调") == 303
    assert status_of(web, order) == "transferred"
    # now it is the centre's: 上海 staff no longer see it, the centre accepts it
    assert order not in order_ids(sh.get("/ui/workorders").text)
    assert order in order_ids(centre.get("/ui/workorders?dept=mine").text)
    assert step(centre, order, "accept") == 303
    assert event_kinds(web, order) == [
        "created",
        "dispatched",
        "rejected",
        "dispatched",
        "transferred",
        "accepted",
    ]
    page = text_of(centre.get(f"/ui/workorders/{order}").text)
    assert "属地故障，请派上海维护部" in page and "需省中心协调" in page


def test_illegal_transitions_answer_409_and_change_nothing(web: WebStack) -> None:
    agent, dept = web.login(AGENT_SH), web.login(DEPT_SH)
    order = create(agent, customer="C000001")
    for browser, path, form in (
        (agent, "close", {}),
        (agent, "reply", {"channel": "phone", "text": "x"}),
    ):
        before = event_kinds(web, order)
        response = browser.post(f"/ui/workorders/{order}/{path}", form)
        assert response.status_code == 409, path
        assert "当前状态为“新建”" in response.text and "未做任何更改" in response.text
        assert status_of(web, order) == "new" and event_kinds(web, order) == before
    assert step(agent, order, "dispatch", department=SH_DEPT) == 303
    assert step(agent, order, "dispatch", department=SH_DEPT) == 409  # twice
    assert step(dept, order, "accept") == 303
    response = dept.post(f"/ui/workorders/{order}/accept", {})
    assert response.status_code == 409 and "“接单”" in response.text
    assert step(dept, order, "reject", text="太晚了") == 409
    english = dept.post(f"/ui/workorders/{order}/accept?lang=en", {})
    assert english.status_code == 409 and "“Accept” is not possible" in english.text
    assert event_kinds(web, order) == ["created", "dispatched", "accepted"]
    assert status_of(web, order) == "accepted"
    # the detail offers only what the status allows
    page = dept.get(f"/ui/workorders/{order}").text
    assert 'id="wo-on_site"' in page and 'id="wo-resolve"' in page
    assert 'id="wo-accept"' not in page and 'id="wo-dispatch"' not in page


def test_two_concurrent_accepts_one_wins_the_other_gets_409(web: WebStack) -> None:
    """Two tabs of the department click Accept at once: one step, one 409."""
    agent = web.login(AGENT_SH)
    tabs = [web.login(DEPT_SH), web.login(DEPT_SH)]
    for _round in range(3):
        order = create(agent, customer="C000001", department=SH_DEPT)
        with ThreadPoolExecutor(max_workers=2) as pool:
            codes = sorted(pool.map(lambda tab, order=order: step(tab, order, "accept"), tabs))
        assert codes == [303, 409]
        assert event_kinds(web, order) == ["created", "dispatched", "accepted"]
        assert status_of(web, order) == "accepted"


# --- departments and regions --------------------------------------------------------------------


def test_another_departments_order_is_refused_and_audited(web: WebStack) -> None:
    agent, sh = web.login(AGENT_SH), web.login(DEPT_SH)
    order = create(agent, customer="C000001", department=CENTRE_DEPT)
    assert order not in order_ids(sh.get("/ui/workorders").text)
    response = sh.get(f"/ui/workorders/{order}")
    assert response.status_code == 403
    assert web.refusals(actor=DEPT_SH, entity_id=f"/ui/workorders/{order}", reason="department")
    for path in ("accept", "reject", "transfer", "resolve", "note"):
        response = sh.post(f"/ui/workorders/{order}/{path}", {"text": "x", "department": SH_DEPT})
        assert response.status_code == 403, path
        assert web.refusals(
            actor=DEPT_SH, entity_id=f"/ui/workorders/{order}/{path}", reason="department"
        )
    assert status_of(web, order) == "dispatched"
    assert event_kinds(web, order) == ["created", "dispatched"]
    # naming another department in the list is refused too
    assert sh.get(f"/ui/workorders?dept={CENTRE_DEPT}").status_code == 403
    assert web.refusals(actor=DEPT_SH, entity_id="/ui/workorders", reason="department")
    # dept staff see exactly their department's orders
    listed = order_ids(sh.get("/ui/workorders").text)
    with web.engine.connect() as conn:
        mine = set(
            conn.execute(sa.select(WorkOrder.id).where(WorkOrder.department == SH_DEPT)).scalars()
        )
    assert listed and set(listed) <= mine


def test_region_rules_for_agents_and_regional_department_staff(web: WebStack) -> None:
    shanghai, shenzhen, sh_dept = web.login(AGENT_SH), web.login(AGENT_SZ), web.login(DEPT_SH)
    order = create(shanghai, customer="C000001", department=SH_DEPT)  # 上海 customer
    assert shenzhen.get(f"/ui/workorders/{order}").status_code == 403
    assert web.refusals(actor=AGENT_SZ, entity_id=f"/ui/workorders/{order}", reason="region")
    assert order not in order_ids(shenzhen.get("/ui/workorders").text)
    for url in (
        "/ui/workorders?customer=C000001",
        "/ui/customers/C000001/workorders/recent",
        "/ui/api/customers/C000001/workorders/recent",
        "/ui/workorders/new?call_id=DEMO-CALL-0001",
        "/ui/workorders/new?customer=C000001",
    ):
        assert shenzhen.get(url).status_code == 403, url
        assert web.refusals(actor=AGENT_SZ, entity_id=url.split("?")[0], reason="region")
    assert step(shenzhen, order, "note", text="x") == 403
    # creating for another region's customer is refused, nothing saved
    count = web.scalar(sa.select(sa.func.count()).select_from(WorkOrder))
    response = shenzhen.post(
        "/ui/workorders",
        {
            "customer": "C000001",
            "category_id": "complaint.fault",
            "priority": "normal",
            "title": "x",
        },
    )
    assert response.status_code == 403
    assert web.scalar(sa.select(sa.func.count()).select_from(WorkOrder)) == count
    # a 深圳 customer's order sent to the 上海 department stays hidden from 上海 staff
    other = create(shenzhen, customer="C000002", department=SH_DEPT)
    assert other not in order_ids(sh_dept.get("/ui/workorders").text)
    assert sh_dept.get(f"/ui/workorders/{other}").status_code == 403
    assert web.refusals(actor=DEPT_SH, entity_id=f"/ui/workorders/{other}", reason="region")
    assert step(sh_dept, other, "accept") == 403
    assert status_of(web, other) == "dispatched"


# --- SLA clocks -------------------------------------------------------------------------------


def test_sla_clocks_on_a_controllable_clock_in_the_web_time_zone(
    web_sh: WebStack, clock: FakeClock
) -> None:
    web = web_sh
    agent, dept = web.login(AGENT_SH), web.login(DEPT_SH)
    clock.now = dt.datetime(2026, 3, 1, 1, 50, tzinfo=dt.UTC)  # 09:50 in Shanghai
    order = create(agent, customer="C000001", department=SH_DEPT)
    assert order == f"WO-20260301-{order[-4:]}"
    clock.advance(minutes=4)
    page = agent.get(f"/ui/workorders/{order}").text
    # respond within 10 min (due 10:00 Shanghai time), on site within 60 (10:50)
    assert "2026-03-01 10:00:00" in page and "2026-03-01 10:50:00" in page
    assert 'data-clock="respond" data-state="running" data-minutes="6"' in page
    assert "剩余 6 分钟" in page
    listed = agent.get("/ui/workorders?overdue=1").text
    assert order not in order_ids(listed)
    clock.advance(minutes=7, seconds=30)  # 11.5 min after creation
    listed = agent.get("/ui/workorders").text
    row = listed[listed.index(f'<tr data-order="{order}"') :].split("</tr>")[0]
    assert 'class="overdue' in row and "已超时 2 分钟" in row
    assert order in order_ids(agent.get("/ui/workorders?overdue=1").text)
    # accepting stops the respond clock (late); the on-site clock keeps running
    assert step(dept, order, "accept") == 303
    page = agent.get(f"/ui/workorders/{order}").text
    assert 'data-clock="respond" data-state="late" data-minutes="2"' in page
    assert 'data-clock="on_site" data-state="running" data-minutes="48"' in page
    assert order not in order_ids(agent.get("/ui/workorders?overdue=1").text)
    clock.advance(minutes=50)
    page = agent.get(f"/ui/workorders/{order}").text
    assert 'data-clock="on_site" data-state="overdue" data-minutes="2"' in page
    assert order in order_ids(dept.get("/ui/workorders?overdue=1&dept=mine").text)
    assert step(dept, order, "on-site") == 303
    page = agent.get(f"/ui/workorders/{order}").text
    assert 'data-clock="on_site" data-state="late" data-minutes="2"' in page
    assert order not in order_ids(agent.get("/ui/workorders?overdue=1").text)
    # the JSON for the desktop pane says the same
    data = agent.get("/ui/api/customers/C000001/workorders/recent").json()
    mine = next(o for o in data["orders"] if o["id"] == order)
    assert mine["status"] == "in_progress" and mine["overdue"] is False
    assert mine["sla"]["clock"] == "resolve" and mine["sla"]["state"] == "running"


def test_sla_clock_rounding() -> None:
    due = dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.UTC)
    at = due - dt.timedelta(minutes=5, seconds=30)
    assert wo.sla_clock("respond", due, None, at).minutes == 5
    assert wo.sla_clock("respond", due, None, due).state == "running"
    late = wo.sla_clock("respond", due, None, due + dt.timedelta(seconds=1))
    assert (late.state, late.minutes) == ("overdue", 1)
    met = wo.sla_clock("respond", due, due - dt.timedelta(minutes=1), due)
    assert met.state == "met" and not met.bad
    assert wo.sla_clock("on_site", None, None, due).state == "none"


def test_sla_rules_are_data_an_admin_edits(web: WebStack, clock: FakeClock) -> None:
    admin, agent = web.login(ADMIN), web.login(AGENT_SH)
    page = admin.get("/ui/workorders/sla")
    assert page.status_code == 200 and 'id="wo-rule-add"' in page.text
    assert 'id="wo-rule-add"' not in agent.get("/ui/workorders/sla").text  # read-only
    rule = {
        "category_id": "complaint.fault.broadband",
        "priority": "high",
        "respond": "5",
        "on_site": "30",
        "resolve": "120",
        "department": SH_DEPT,
        "action": "save",
    }
    assert admin.post("/ui/workorders/sla", rule).status_code == 303
    assert admin.post("/ui/workorders/sla", rule).status_code == 400  # one per key
    assert (
        admin.post("/ui/workorders/sla", {**rule, "priority": "low", "respond": "0"}).status_code
        == 400
    )
    assert (
        admin.post("/ui/workorders/sla", {**rule, "priority": "low", "department": "x"}).status_code
        == 400
    )
    order = create(agent, customer="C000001", priority="high")
    with web.engine.connect() as conn:
        row = conn.execute(sa.select(WorkOrder).where(WorkOrder.id == order)).one()
    assert row.respond_by - row.created_at == dt.timedelta(minutes=5)
    assert row.on_site_by - row.created_at == dt.timedelta(minutes=30)
    assert row.resolve_by - row.created_at == dt.timedelta(minutes=120)
    # a lower priority falls back to the parent category's rule (seeded: 10 / 60)
    normal = create(agent, customer="C000001", priority="normal")
    with web.engine.connect() as conn:
        row = conn.execute(sa.select(WorkOrder).where(WorkOrder.id == normal)).one()
    assert row.respond_by - row.created_at == dt.timedelta(minutes=10)
    with web.engine.connect() as conn:
        rules = {
            (r.category_id, r.priority): r.id
            for r in conn.execute(sa.select(WorkOrderSlaRule)).all()
        }
    new_id = rules[("complaint.fault.broadband", "high")]
    changed = {**rule, "rule_id": str(new_id), "respond": "7"}
    assert admin.post("/ui/workorders/sla", changed).status_code == 303
    # the catch-all rule stays; others can go
    default = rules[(None, None)]
    assert (
        admin.post("/ui/workorders/sla", {"rule_id": str(default), "action": "delete"}).status_code
        == 400
    )
    assert (
        admin.post("/ui/workorders/sla", {"rule_id": str(new_id), "action": "delete"}).status_code
        == 303
    )
    with web.engine.connect() as conn:
        actions = list(
            conn.execute(
                sa.select(AuditEntry.action).where(
                    AuditEntry.entity == "work_order_sla_rule",
                    AuditEntry.entity_id == str(new_id),
                )
            ).scalars()
        )
    assert actions == ["create", "update", "delete"]


# --- recent orders for the screen pop; demo data ------------------------------------------------


def test_recent_orders_of_a_calling_customer_open_first(web: WebStack) -> None:
    agent, dept = web.login(AGENT_SH), web.login(DEPT_SH)
    first = create(agent, customer="C000001", department=SH_DEPT)
    assert step(dept, first, "accept") == 303
    assert step(dept, first, "resolve", text="已修复") == 303
    assert step(agent, first, "reply", channel="phone", text="已修复") == 303
    assert step(agent, first, "close") == 303
    second = create(agent, customer="C000001", title="电视花屏")
    page = agent.get("/ui/customers/C000001/workorders/recent")
    assert page.status_code == 200
    ids = order_ids(page.text)
    assert ids.index(second) < ids.index(first)  # open before closed
    data = agent.get("/ui/api/customers/C000001/workorders/recent?lang=en").json()
    assert data["customer_id"] == "C000001" and data["customer_name"]
    by_id = {o["id"]: o for o in data["orders"]}
    assert by_id[first]["status"] == "closed" and by_id[first]["status_text"] == "Closed"
    assert by_id[second]["title"] == "电视花屏" and by_id[second]["url"].endswith(second)
    assert [o["id"] for o in data["orders"]] == ids
    assert agent.get("/ui/customers/NOPE/workorders/recent").status_code == 404
    assert (
        "No work orders for this customer"
        in agent.get("/ui/customers/C000028/workorders/recent").text
    )


def test_demo_orders_cover_the_states_and_some_are_overdue(web: WebStack) -> None:
    with web.engine.connect() as conn:
        states = set(conn.execute(sa.select(WorkOrder.status)).scalars())
        departments = set(conn.execute(sa.select(WorkOrder.department)).scalars())
    assert {"new", "dispatched", "in_progress", "resolved", "closed", "rejected"} <= states
    assert {SH_DEPT, CENTRE_DEPT} <= departments
    admin = web.login(ADMIN)
    overdue = order_ids(admin.get("/ui/workorders?overdue=1").text)
    assert overdue and demo_order(web, "C000001") in overdue
    everything = order_ids(admin.get("/ui/workorders").text)
    assert set(overdue) < set(everything)
    assert all(o.startswith("WO-") for o in everything)
    # the filters narrow the list
    assert order_ids(admin.get("/ui/workorders?status=closed").text) == [demo_order(web, "C000003")]
    assert admin.get("/ui/workorders?status=bogus").status_code == 400
    centre = order_ids(admin.get(f"/ui/workorders?dept={CENTRE_DEPT}").text)
    with web.engine.connect() as conn:
        expected = set(
            conn.execute(
                sa.select(WorkOrder.id).where(WorkOrder.department == CENTRE_DEPT)
            ).scalars()
        )
    assert set(centre) == expected


def test_every_work_order_text_is_in_both_languages() -> None:
    keys = [
        *(f"wo_st_{s}" for s in wo.STATUSES),
        *(f"wo_pr_{p}" for p in wo.PRIORITIES),
        *(f"wo_ev_{k}" for k in wo.EVENT_KINDS),
        *(f"wo_act_{a}" for a in wo.ACTIONS),
        *(f"wo_ch_{c}" for c in wo.REPLY_CHANNELS),
        *(f"wo_clock_{c}" for c in ("respond", "on_site", "resolve")),
        *(f"wo_cb_{s}" for s in ("open", "done", "cancelled")),
        *(
            f"wo_t_{t}"
            for t in (
                "created",
                "dispatched",
                "accepted",
                "on_site",
                "resolved",
                "replied",
                "closed",
            )
        ),
    ]
    missing = [k for k in keys if k not in MESSAGES]
    assert missing == []
    for key in (k for k in MESSAGES if k.startswith("wo_")):
        en, zh = MESSAGES[key]
        assert en.strip() and zh.strip(), key


def test_migration_0101_goes_down_and_up_with_the_default_rule(
    make_web_db: Callable[[str], sa.Engine],
) -> None:
    from alembic import command

    from cti_server.store import current_revision, head_revision, upgrade
    from cti_server.store.db import alembic_config

    engine = make_web_db("sqlite")
    config = alembic_config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0100_web_foundation")
    tables = set(sa.inspect(engine).get_table_names())
    assert not tables & {"work_orders", "work_order_events", "callback_tasks"}
    assert "business_categories" in tables
    upgrade(engine)
    assert current_revision(engine) == head_revision()
    with engine.connect() as conn:
        rules = conn.execute(sa.select(WorkOrderSlaRule)).all()
    assert [(r.category_id, r.priority, r.respond_minutes, r.on_site_minutes) for r in rules] == [
        (None, None, 10, 60)
    ]
