"""Web panels: what the pages show and store (R-IN-5 trajectory and contact history,
R-IN-7 inquiry / acceptance / query pages, R-BIZ-1 category tree, R-BIZ-5 notices).
Real uvicorn, real store; Chinese text goes in through forms and comes back out."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import sqlalchemy as sa

from cti_server.store import CallEventKind, Role
from cti_server.store.models import (
    AuditEntry,
    BusinessCategory,
    BusinessRecord,
    ContactRecord,
    Customer,
    Notice,
)
from cti_server.web.data import BUSINESS_TYPES, SEVERITIES
from cti_server.web.i18n import MESSAGES
from cti_server.web.pages import STATIC_DIR, TEMPLATES_DIR, message_keys_used
from cti_server.web.query import SOURCES
from tests.cti_server.web.web_support import (
    ADMIN,
    AGENT_SH,
    CENTRE,
    DEPT_SH,
    TEAM_LEAD,
    Browser,
    WebStack,
    csrf_of,
)

_ROW = re.compile(r'<tr data-contact="([^"]+)">')


def contact_ids(html: str) -> list[str]:
    return _ROW.findall(html)


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


# --- trajectory -----------------------------------------------------------------------------


def test_trajectory_shows_ivr_path_menu_choice_queue_agents_and_transfer(web: WebStack) -> None:
    page = web.login(AGENT_SH).get("/ui/calls/DEMO-CALL-0001")
    assert page.status_code == 200
    text = text_of(page.text)
    steps = re.findall(r"<strong>([^<]+)</strong>", page.text)
    assert steps == [
        "呼叫到达",
        "识别客户层次",
        "IVR 节点",
        "IVR 节点",
        "进入队列",
        "分配座席",
        "应答",
        "转接",
        "挂机",
        "结束",
    ]
    assert "欢迎致电" in text and "按键选择 2" in text and "q_broadband" in text
    assert "转出座席 1003" in text and "转至座席 1001" in text
    assert "郭华玉" not in text or "(C000001)" in text
    english = text_of(web.login(AGENT_SH, lang="en").get("/ui/calls/DEMO-CALL-0001").text)
    assert "Call trajectory" in english and "menu choice 2" in english
    assert "Transferred" in english and "from agent 1003" in english


# --- contact history ------------------------------------------------------------------------


def _count(web: WebStack, *where: object) -> int:
    return int(web.scalar(sa.select(sa.func.count()).select_from(ContactRecord).where(*where)) or 0)


def test_contact_history_pages_through_every_record_newest_first(web: WebStack) -> None:
    admin = web.login(ADMIN)
    total = _count(web)
    assert total >= 60
    seen: list[str] = []
    page = 1
    while True:
        response = admin.get(f"/ui/contacts?page={page}")
        assert response.status_code == 200
        ids = contact_ids(response.text)
        assert len(ids) <= 20
        seen.extend(ids)
        if 'rel="next"' not in response.text:
            break
        page += 1
    assert len(seen) == total == len(set(seen))
    assert f"共 {total} 条" in response.text
    with web.engine.connect() as conn:
        newest = conn.execute(
            sa.select(ContactRecord.id).order_by(
                ContactRecord.started_at.desc(), ContactRecord.id.desc()
            )
        ).scalars()
        assert seen == list(newest)


def test_contact_history_filters_return_exactly_the_matching_rows(web: WebStack) -> None:
    admin = web.login(ADMIN)

    def listed(query: str) -> set[str]:
        response = admin.get(f"/ui/contacts?{query}")
        assert response.status_code == 200, response.text[:300]
        return set(contact_ids(response.text))

    def stored(*where: object) -> set[str]:
        with web.engine.connect() as conn:
            query = sa.select(ContactRecord.id).where(*where)
            return set(conn.execute(query).scalars())

    assert listed("customer=C000002") == stored(ContactRecord.customer_id == "C000002")
    assert listed("number=139-0013-9000") == stored(ContactRecord.number == "13900139000")
    assert listed("agent=1001") == stored(ContactRecord.agent_id == "1001")
    assert listed("disposition=callback&customer=C000001") == stored(
        ContactRecord.disposition == "callback", ContactRecord.customer_id == "C000001"
    )
    assert listed("business=tv&customer=C000001") == stored(
        ContactRecord.business_selection == "tv", ContactRecord.customer_id == "C000001"
    )
    day = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=3)
    lo = dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)
    window = listed(f"from={day.isoformat()}&to={day.isoformat()}")
    assert window == stored(
        ContactRecord.started_at >= lo, ContactRecord.started_at < lo + dt.timedelta(days=1)
    )
    assert window, "the demo has contacts on every one of the last days"
    bad = admin.get("/ui/contacts?from=yesterday")
    assert bad.status_code == 400 and "YYYY-MM-DD" in bad.text


# --- notices --------------------------------------------------------------------------------


def test_team_lead_publishes_a_major_outage_that_is_pushed_and_listed(web: WebStack) -> None:
    lead = web.login(TEAM_LEAD)
    form = lead.get("/ui/notices/new")
    assert form.status_code == 200
    title, body = "杭州主干光缆中断", "余杭区宽带中断，预计 18:00 恢复。"
    response = lead.post(
        "/ui/notices", {"title": title, "body": body, "severity": "major_outage", "region": ""}
    )
    assert response.status_code == 303
    detail_url = response.headers["location"]
    assert [(n.title, n.body, n.severity) for n in web.pushed] == [(title, body, "major_outage")]
    detail = lead.get(detail_url)
    assert title in detail.text and body in detail.text and "已推送到 7 个座席" in detail.text
    # every agent sees it, in either language
    assert title in web.login(AGENT_SH, lang="en").get("/ui/notices").text
    assert title in web.login(DEPT_SH).get("/ui/").text
    notice_id = detail_url.rsplit("/", 1)[1]
    audit = web.scalar(
        sa.select(sa.func.count())
        .select_from(AuditEntry)
        .where(AuditEntry.entity == "notice", AuditEntry.entity_id == notice_id)
    )
    assert audit == 1


def test_every_notice_is_pushed_and_bad_input_is_refused(web: WebStack) -> None:
    admin = web.login(ADMIN)
    before = web.scalar(sa.select(sa.func.count()).select_from(Notice))
    empty = admin.post("/ui/notices", {"title": "  ", "severity": "info"})
    assert empty.status_code == 400 and "请填写所有必填项" in empty.text
    odd = admin.post("/ui/notices", {"title": "x", "severity": "panic"})
    assert odd.status_code == 400
    assert web.scalar(sa.select(sa.func.count()).select_from(Notice)) == before
    ok = admin.post("/ui/notices", {"title": "培训通知", "severity": "info", "region": "深圳"})
    assert ok.status_code == 303
    assert [(n.title, n.severity, n.region) for n in web.pushed] == [("培训通知", "info", "深圳")]


def test_regional_notices_are_only_shown_in_their_region(web: WebStack) -> None:
    with web.engine.connect() as conn:
        shenzhen_id = conn.execute(sa.select(Notice.id).where(Notice.region == "深圳")).scalar_one()
        shenzhen_title = conn.execute(
            sa.select(Notice.title).where(Notice.id == shenzhen_id)
        ).scalar_one()
    shanghai = web.login(AGENT_SH)
    assert shenzhen_title not in shanghai.get("/ui/notices").text
    refused = shanghai.get(f"/ui/notices/{shenzhen_id}")
    assert refused.status_code == 403
    assert web.refusals(actor=AGENT_SH, reason="region")
    assert shenzhen_title in web.login(CENTRE).get("/ui/notices").text


# --- business categories --------------------------------------------------------------------


def _category(web: WebStack, category_id: str) -> dict[str, object]:
    with web.engine.connect() as conn:
        row = conn.execute(
            sa.select(BusinessCategory.__table__).where(BusinessCategory.id == category_id)
        ).mappings()
        return dict(row.one())


def test_the_tree_has_the_seven_business_types_in_both_languages(web: WebStack) -> None:
    zh = text_of(web.login(AGENT_SH).get("/ui/categories").text)
    for name in ("受理", "咨询", "查询", "报障投诉", "缴费", "营销", "关怀", "宽带故障"):
        assert name in zh
    en = text_of(web.login(AGENT_SH, lang="en").get("/ui/categories").text)
    for name in ("Acceptance", "Inquiry", "Information query", "Fault report / complaint"):
        assert name in en
    assert "Payment" in en and "Marketing" in en and "Care" in en
    assert 'name="action"' not in zh  # agents read, only administrators edit


def test_admin_adds_renames_moves_and_disables_nodes(web: WebStack) -> None:
    admin = web.login(ADMIN)
    added = admin.post(
        "/ui/categories",
        {"parent_id": "inquiry.tariff", "name_zh": "固话资费", "name_en": "Landline tariffs"},
    )
    assert added.status_code == 303
    with web.engine.connect() as conn:
        new_id = conn.execute(
            sa.select(BusinessCategory.id).where(BusinessCategory.name_zh == "固话资费")
        ).scalar_one()
    assert "固话资费" in admin.get("/ui/categories").text
    url = f"/ui/categories/{new_id}"
    renamed = admin.post(
        url, {"action": "rename", "name_zh": "固定电话资费", "name_en": "Fixed-line tariffs"}
    )
    assert renamed.status_code == 303
    assert _category(web, new_id)["name_zh"] == "固定电话资费"
    moved = admin.post(url, {"action": "move", "parent_id": "inquiry.faq"})
    assert moved.status_code == 303 and _category(web, new_id)["parent_id"] == "inquiry.faq"
    # refused moves leave the tree as it was
    for target, message in (
        ("complaint.fault", "同一业务大类"),
        (new_id, "自己的下级"),
    ):
        response = admin.post("/ui/categories/inquiry.faq", {"action": "move", "parent_id": target})
        assert response.status_code == 400 and message in response.text
    root = admin.post("/ui/categories/inquiry", {"action": "move", "parent_id": "care"})
    assert root.status_code == 400 and "业务大类不能移动" in root.text
    assert _category(web, "inquiry.faq")["parent_id"] == "inquiry"
    # disabled nodes are no longer offered on the inquiry page
    disabled = admin.post(url, {"action": "disable"})
    assert disabled.status_code == 303 and _category(web, new_id)["active"] is False
    assert "固定电话资费" not in admin.get("/ui/inquiry").text
    assert (
        web.scalar(
            sa.select(sa.func.count())
            .select_from(AuditEntry)
            .where(AuditEntry.entity == "business_category", AuditEntry.entity_id == new_id)
        )
        == 4
    )


def test_only_administrators_edit_the_tree(web: WebStack) -> None:
    lead = web.login(TEAM_LEAD)
    response = lead.post(
        "/ui/categories/inquiry.faq", {"action": "rename", "name_zh": "x", "name_en": "x"}
    )
    assert response.status_code == 403
    assert web.refusals(actor=TEAM_LEAD, entity_id="/ui/categories/inquiry.faq", reason="role")
    assert _category(web, "inquiry.faq")["name_zh"] == "常见问题"


# --- inquiry and acceptance (R-IN-7) ---------------------------------------------------------


def _serial(html: str) -> str:
    match = re.search(r'name="serial_no" value="([^"]+)"', html)
    assert match
    return match.group(1)


def test_inquiry_page_has_the_r_in_7_fields_and_confirm_saves_a_record(web: WebStack) -> None:
    agent = web.login(AGENT_SH)
    page = agent.get("/ui/inquiry?call_id=DEMO-CALL-0001")
    assert page.status_code == 200
    html = page.text
    for label in ("流水号", "客户号码", "接入时间", "工号", "备注", "咨询类别", "确认"):
        assert label in html
    assert 'value="13800138000"' in html and ">1001<" in html
    assert 'type="checkbox" name="categories" value="inquiry.tariff.broadband"' in html
    assert 'value="complaint.fault"' not in html  # only the inquiry sub-tree
    serial = _serial(html)
    remarks = "客户询问 500M 宽带资费；已告知优惠。"
    form = {
        "serial_no": serial,
        "call_id": "DEMO-CALL-0001",
        "customer_no": "13800138000",
        "remarks": remarks,
        "categories": ["inquiry.tariff.broadband", "inquiry.outlet"],
    }
    saved = agent.post("/ui/inquiry", form)
    assert saved.status_code == 200 and f"记录 {serial} 已保存" in saved.text
    assert remarks in saved.text
    again = agent.post("/ui/inquiry", form)  # double click / reload: no second record
    assert again.status_code == 200 and "已保存过" in again.text
    with web.engine.connect() as conn:
        rows = (
            conn.execute(
                sa.select(BusinessRecord.__table__).where(BusinessRecord.serial_no == serial)
            )
            .mappings()
            .all()
        )
    assert len(rows) == 1
    row = rows[0]
    assert (row["kind"], row["agent_id"], row["customer_id"]) == ("inquiry", AGENT_SH, "C000001")
    assert row["remarks"] == remarks and row["call_id"] == "DEMO-CALL-0001"
    assert sorted(row["categories"]) == ["inquiry.outlet", "inquiry.tariff.broadband"]


def test_inquiry_without_categories_or_with_foreign_ones_is_refused(web: WebStack) -> None:
    agent = web.login(AGENT_SH)
    serial = _serial(agent.get("/ui/inquiry").text)
    none = agent.post("/ui/inquiry", {"serial_no": serial, "customer_no": "13800138000"})
    assert none.status_code == 400 and "请至少选择一个分类" in none.text
    foreign = agent.post(
        "/ui/inquiry",
        {"serial_no": serial, "customer_no": "13800138000", "categories": "complaint.fault"},
    )
    assert foreign.status_code == 400
    assert web.scalar(sa.select(sa.func.count()).select_from(BusinessRecord)) == 0


def test_acceptance_confirm_then_shows_the_result(web: WebStack) -> None:
    agent = web.login(AGENT_SH)
    page = agent.get("/ui/acceptance?customer=13800138000")
    assert "受理业务" in page.text
    serial = _serial(page.text)
    assert serial.startswith("SL")
    done = agent.post(
        "/ui/acceptance",
        {
            "serial_no": serial,
            "customer_no": "13800138000",
            "remarks": "加装 IPTV",
            "categories": ["acceptance.apply", "acceptance.plan"],
        },
    )
    assert done.status_code == 303 and done.headers["location"] == f"/ui/records/{serial}"
    result = text_of(agent.get(done.headers["location"]).text)
    assert "受理成功" in result and serial in result
    assert "新装业务" in result and "资费及缴费方式变更" in result and "加装 IPTV" in result


def test_acceptance_for_another_regions_customer_is_refused(web: WebStack) -> None:
    agent = web.login(AGENT_SH)
    page = agent.get("/ui/acceptance?customer=13900139000")  # C000002 lives in 深圳
    assert page.status_code == 403
    assert web.refusals(actor=AGENT_SH, entity_id="/ui/acceptance", reason="region")


# --- query / statistics ------------------------------------------------------------------------


def test_customer_query_is_fuzzy_paged_and_region_limited(web: WebStack) -> None:
    dept = web.login(DEPT_SH)
    with web.engine.connect() as conn:
        shanghai = conn.execute(
            sa.select(sa.func.count()).select_from(Customer).where(Customer.region == "上海")
        ).scalar_one()
        name = conn.execute(sa.select(Customer.name).where(Customer.id == "C000001")).scalar_one()
    listing = dept.get("/ui/query/customers?run=1")
    assert listing.status_code == 200
    assert f"共 {shanghai} 条" in listing.text
    cells = re.findall(r"<td>([^<]*)</td>", listing.text)
    assert "上海" in cells and not {"深圳", "北京", "西安"} & set(cells)
    fuzzy = dept.get(f"/ui/query/customers?run=1&name={name[1:]}")
    assert "C000001" in fuzzy.text
    assert "共 0 条" in dept.get("/ui/query/customers?run=1&customer_id=C000002").text
    everyone = web.login(ADMIN).get("/ui/query/customers?run=1")
    assert "共 50 条" in everyone.text and 'rel="next"' in everyone.text


def test_two_dimensional_statistics_add_up(web: WebStack) -> None:
    admin = web.login(ADMIN, lang="en")
    page = admin.get("/ui/query/contacts_by_agent?run=1")
    assert page.status_code == 200
    assert 'class="grid pivot"' in page.text
    total = re.search(r'<td class="num total">(\d+)</td></tr></tfoot>', page.text)
    assert total and int(total.group(1)) == _count(web)
    assert "Agent \\ Disposition" in page.text


def test_query_inputs_and_columns_come_from_the_definition_row(web: WebStack) -> None:
    from cti_server.store.models import QueryDefinition

    with web.engine.begin() as conn:
        conn.execute(
            sa.update(QueryDefinition)
            .where(QueryDefinition.id == "customers")
            .values(inputs=["tier"], columns=["customer_id", "tier"])
        )
    page = web.login(ADMIN, lang="en").get("/ui/query/customers?run=1&tier=vip")
    assert 'name="tier"' in page.text and 'name="name"' not in page.text
    header = re.search(r"<thead><tr>(.*?)</tr></thead>", page.text)
    assert header and re.findall(r"<th>([^<]+)</th>", header.group(1)) == ["Customer ID", "Tier"]
    with web.engine.begin() as conn:
        conn.execute(
            sa.update(QueryDefinition)
            .where(QueryDefinition.id == "customers")
            .values(columns=["password_hash"])
        )
    broken = web.login(ADMIN).get("/ui/query/customers?run=1")
    assert broken.status_code == 500 and "查询定义无效" in broken.text


# --- language, catalogue, CSS -------------------------------------------------------------------


def test_language_follows_the_query_then_the_cookie(web: WebStack) -> None:
    browser: Browser = web.login(AGENT_SH)
    assert "接触记录" in browser.get("/ui/").text
    english = browser.get("/ui/?lang=en")
    assert "Contact history" in english.text and '<html lang="en">' in english.text
    assert "lang=en" in english.headers["set-cookie"]
    assert "Contact history" in browser.get("/ui/contacts").text  # remembered
    login = web.anonymous(headers={"Accept-Language": "en-GB,en;q=0.9"}).get("/ui/login")
    assert "Sign in" in login.text
    assert 'charset="utf-8"' in login.text and login.headers["content-type"].endswith("utf-8")
    assert csrf_of(login.text)


def test_every_template_string_is_in_the_catalogue_in_both_languages() -> None:
    used: set[str] = set()
    for template in Path(TEMPLATES_DIR).glob("*.html"):
        used |= message_keys_used(template.read_text(encoding="utf-8"))
    assert used, "templates use the catalogue"
    missing = sorted(k for k in used if k not in MESSAGES)
    assert missing == []
    for key, (en, zh) in MESSAGES.items():
        assert en.strip() and zh.strip(), key
    # keys built from data: every value the pages can meet has its text
    dynamic = [
        *(f"ev_{kind.value}" for kind in CallEventKind),
        *(f"role_{role.value}" for role in Role),
        *(f"sev_{severity}" for severity in SEVERITIES),
        *(f"kind_{kind}" for kind in BUSINESS_TYPES),
        *(
            f"{kind}_{part}"
            for kind in ("inquiry", "acceptance")
            for part in ("title", "categories")
        ),
        "result_accepted",
        "result_answered",
    ]
    for source in SOURCES.values():
        dynamic += [f"q_{name}" for name in (*source.inputs, *source.columns, *source.dimensions)]
    assert sorted(k for k in dynamic if k not in MESSAGES) == []


def test_the_style_sheet_prefers_cjk_fonts(web: WebStack) -> None:
    css = web.anonymous().get("/ui/static/web.css")
    assert css.status_code == 200 and "Noto Sans CJK SC" in css.text
    assert (Path(STATIC_DIR) / "web.css").read_text(encoding="utf-8") == css.text
