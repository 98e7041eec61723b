"""Knowledge base pages (知识库, R-BIZ-3, R-BIZ-9) over real HTTP on SQLite and
PostgreSQL: search in Chinese and English (ranking, highlighting, no-result queries),
reading, writing with versions (history, diff, restore, atomic publish, live-update
stamp, edit conflicts), cross-links, escaping, company visibility and role refusals
(403 + audit), the query log and the usage analytics against hand-computed numbers."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from urllib.parse import unquote

import pytest
import sqlalchemy as sa
from alembic import command

from cti_server.store import current_revision, head_revision, issue_web_token, upgrade
from cti_server.store.db import alembic_config, session_factory
from cti_server.store.models import Agent, AuditEntry, KbArticle, KbEvent, KbTerm, KbVersion
from cti_server.web.data import WebUser
from cti_server.web.knowledge_data import Draft, analytics, save_article, search
from tests.cti_server.web.web_support import (
    ADMIN,
    AGENT_SH,
    AGENT_SZ,
    DEPT_SH,
    TEAM_LEAD,
    Browser,
    WebStack,
)

_HIT = re.compile(r'<li data-slug="([^"]+)">')
_TOTAL = re.compile(r'data-total="(\d+)"')


def hits(html: str) -> list[str]:
    return _HIT.findall(html)


def total(html: str) -> int:
    match = _TOTAL.search(html)
    assert match, "no result count on the page"
    return int(match.group(1))


def events(web: WebStack, **match: object) -> list[KbEvent]:
    with session_factory(web.engine)() as session:
        query = sa.select(KbEvent).order_by(KbEvent.id)
        for key, value in match.items():
            query = query.where(getattr(KbEvent, key) == value)
        return list(session.scalars(query))


def lead_user() -> WebUser:
    from cti_server.store.models import Role

    return WebUser(TEAM_LEAD, "班长", Role.TEAM_LEAD, None, None)


def create(lead: Browser, slug: str, title: str, body: str, **extra: str) -> str:
    form = {
        "slug": slug,
        "title": title,
        "body": body,
        "visibility": "all",
        "action": "publish",
        **extra,
    }
    response = lead.post("/ui/kb", form)
    assert response.status_code == 303, response.text
    return str(response.headers["location"])


# --- search ---------------------------------------------------------------------------------


def test_chinese_search_ranks_title_matches_first_and_highlights(web: WebStack) -> None:
    agent = web.login(AGENT_SH)
    page = agent.get("/ui/kb", params={"q": "宽带资费"})
    assert page.status_code == 200
    found = hits(page.text)
    assert found[0] == "broadband-tariffs-2026"  # the only title with 宽带资费
    assert "<mark>宽带资费</mark>" in page.text
    assert total(page.text) == len(found) >= 1
    # a one-character query finds articles through the indexed characters
    one = agent.get("/ui/kb", params={"q": "厅"})
    assert "outlets-shanghai" in hits(one.text)
    # a question: most of its bigrams must match
    question = agent.get("/ui/kb", params={"q": "机顶盒无信号怎么办"})
    assert hits(question.text)[0] == "faq-stb-no-signal"


def test_english_search_with_plurals_and_case(web: WebStack) -> None:
    agent = web.login(AGENT_SH, lang="en")
    page = agent.get("/ui/kb", params={"q": "Broadband TARIFFS"})
    found = hits(page.text)
    assert found[0] == "broadband-tariffs-2026-en"
    assert "<mark>broadband</mark>" in page.text.lower()
    page = agent.get("/ui/kb", params={"q": "reset password"})
    assert hits(page.text)[0] == "faq-password-reset"


def test_unknown_words_find_nothing_and_are_logged(web: WebStack) -> None:
    agent = web.login(AGENT_SH)
    page = agent.get("/ui/kb", params={"q": "量子纠缠 xyzzy"})
    assert page.status_code == 200 and 'class="kb-empty"' in page.text
    logged = events(web, kind="search")
    assert [(e.agent_id, e.query, e.result_count) for e in logged] == [
        (AGENT_SH, "量子纠缠 xyzzy", 0)
    ]


def test_title_outweighs_body_and_category_filter(web: WebStack) -> None:
    lead = web.login(TEAM_LEAD)
    create(lead, "zz-body", "其他说明", "这里提到光猫更换流程。")
    create(lead, "zz-title", "光猫更换", "见营业厅。", category_id="inquiry.faq")
    agent = web.login(AGENT_SH)
    found = hits(agent.get("/ui/kb", params={"q": "光猫更换"}).text)
    assert found.index("zz-title") < found.index("zz-body")
    only_faq = hits(agent.get("/ui/kb", params={"q": "光猫更换", "category": "inquiry"}).text)
    assert "zz-title" in only_faq and "zz-body" not in only_faq


def test_search_function_agrees_on_both_backends(web: WebStack) -> None:
    sessions = session_factory(web.engine)
    result = search(sessions, lead_user(), "营业厅 地址", log=False)
    slugs = [h.slug for h in result.hits]
    assert slugs[:2] == ["outlets-shanghai", "outlets-shenzhen"] or slugs[:2] == [
        "outlets-shenzhen",
        "outlets-shanghai",
    ]
    assert result.total == len(slugs)
    assert events(web) == []  # log=False


def test_desktop_opens_the_search_through_sso(web: WebStack) -> None:
    token = issue_web_token(web.engine, AGENT_SH)
    browser = web.anonymous()
    response = browser.get(f"/ui/sso?token={token}&next=/ui/kb?q=%E5%AE%BD%E5%B8%A6")
    assert response.status_code == 303
    assert unquote(response.headers["location"]) == "/ui/kb?q=宽带"
    page = browser.get("/ui/kb", params={"q": "宽带"})
    assert page.status_code == 200 and hits(page.text)


# --- reading, cross-links, escaping -----------------------------------------------------------


def test_article_page_renders_tables_cross_links_and_backlinks(web: WebStack) -> None:
    agent = web.login(AGENT_SH)
    page = agent.get("/ui/kb/a/broadband-tariffs-2026")
    assert page.status_code == 200
    assert '<td class="right">169</td>' in page.text
    assert (
        '<a class="kb-xref" href="/ui/kb/a/change-plan-procedure">套餐变更办理流程</a>' in page.text
    )
    assert "<svg" in page.text  # the chart
    assert "kb-backlinks" in page.text and "/ui/kb/a/bundle-tv-broadband" in page.text
    assert "/ui/static/kb.js" in page.text
    script = agent.get("/ui/static/kb.js")
    assert script.status_code == 200 and "/stamp" not in script.text  # URL from the page
    assert (
        "data-stamp-url" in script.text
        and 'data-stamp-url="/ui/kb/a/broadband-tariffs-2026/stamp"' in page.text
    )
    lead = web.login(TEAM_LEAD)
    create(lead, "zz-links", "链接测试", "见 [[tv-packages]] 和 [[gone-away]]。")
    page = agent.get("/ui/kb/a/zz-links")
    assert 'href="/ui/kb/a/tv-packages"' in page.text
    assert '<span class="kb-broken" title="gone-away">gone-away</span>' in page.text
    assert agent.get("/ui/kb/a/gone-away").status_code == 404


def test_script_in_a_body_is_shown_as_text(web: WebStack) -> None:
    lead = web.login(TEAM_LEAD)
    create(
        lead,
        "zz-xss",
        "<b>标题</b>",
        "<script>alert('x')</script>\n\n| <img src=x> |\n|---|\n| a |",
    )
    page = web.login(AGENT_SH).get("/ui/kb/a/zz-xss")
    assert page.status_code == 200
    assert "<script>alert" not in page.text and "<img src=x>" not in page.text
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in page.text
    assert "<h1>&lt;b&gt;标题&lt;/b&gt;</h1>" in page.text
    found = web.login(AGENT_SH).get("/ui/kb", params={"q": "alert"})
    assert "<script>" not in found.text and "zz-xss" in hits(found.text)


# --- versions -----------------------------------------------------------------------------------


def test_versions_publish_atomically_diff_and_restore(web: WebStack) -> None:
    lead = web.login(TEAM_LEAD)
    agent = web.login(AGENT_SH)
    create(lead, "zz-fee", "安装费说明", "安装费 100 元。\n年付免收。")
    assert agent.get("/ui/kb/a/zz-fee/stamp").json()["published_version"] == 1
    # a draft: readers still see version 1, the search still finds the old text
    draft = lead.post(
        "/ui/kb/a/zz-fee",
        {
            "title": "安装费说明",
            "body": "安装调试费 80 元。\n年付免收。",
            "visibility": "all",
            "base_version": "1",
            "action": "draft",
            "note": "降价",
        },
    )
    assert draft.status_code == 303 and draft.headers["location"] == "/ui/kb/a/zz-fee?v=2"
    page = agent.get("/ui/kb/a/zz-fee")
    assert "100 元" in page.text and "80 元" not in page.text
    assert agent.get("/ui/kb/a/zz-fee?v=2").status_code == 404  # drafts are for writers
    assert "80 元" in lead.get("/ui/kb/a/zz-fee?v=2").text
    assert "zz-fee" not in hits(agent.get("/ui/kb", params={"q": "调试费"}).text)
    # publish version 2: page, stamp and index switch together
    assert lead.post("/ui/kb/a/zz-fee/publish", {"version": "2"}).status_code == 303
    assert agent.get("/ui/kb/a/zz-fee/stamp").json()["published_version"] == 2
    assert "80 元" in agent.get("/ui/kb/a/zz-fee").text
    assert "zz-fee" in hits(agent.get("/ui/kb", params={"q": "调试费"}).text)
    # history and diff
    history = lead.get("/ui/kb/a/zz-fee/history")
    assert history.status_code == 200
    assert re.findall(r'<tr data-version="(\d+)"', history.text) == ["2", "1"]
    diff = lead.get("/ui/kb/a/zz-fee/diff", params={"from": "1", "to": "2"})
    assert diff.status_code == 200
    assert re.search(r'<tr class="del">.*?<pre>安装费 100 元。</pre>', diff.text)
    assert re.search(r'<tr class="add">.*?<pre>安装调试费 80 元。</pre>', diff.text)
    assert "新增 1 行，删除 1 行" in diff.text
    # restore version 1 as version 3 (published at once); every version is kept
    assert lead.post("/ui/kb/a/zz-fee/restore", {"version": "1"}).status_code == 303
    stamp = agent.get("/ui/kb/a/zz-fee/stamp").json()
    assert stamp["published_version"] == 3
    assert "100 元" in agent.get("/ui/kb/a/zz-fee").text
    with session_factory(web.engine)() as session:
        versions = session.execute(
            sa.select(KbVersion.version, KbVersion.body, KbVersion.note)
            .join(KbArticle, KbArticle.id == KbVersion.article_id)
            .where(KbArticle.slug == "zz-fee")
            .order_by(KbVersion.version)
        ).all()
        assert [v[0] for v in versions] == [1, 2, 3]
        assert versions[2][1] == versions[0][1] and versions[2][2] == "restored v1"
        article_id = session.scalar(sa.select(KbArticle.id).where(KbArticle.slug == "zz-fee"))
        terms = set(session.scalars(sa.select(KbTerm.term).where(KbTerm.article_id == article_id)))
    assert "100" in terms and "80" not in terms  # the index follows the published text
    audited = web.scalar(
        sa.select(sa.func.count())
        .select_from(AuditEntry)
        .where(AuditEntry.entity == "kb_article", AuditEntry.entity_id == "zz-fee")
    )
    assert audited == 4  # create, update, publish, restore


def test_stale_edit_is_refused_and_nothing_written(web: WebStack) -> None:
    lead = web.login(TEAM_LEAD)
    admin = web.login(ADMIN)
    create(lead, "zz-race", "并发编辑", "第一版")
    form = {"title": "并发编辑", "visibility": "all", "base_version": "1", "action": "publish"}
    assert lead.post("/ui/kb/a/zz-race", {**form, "body": "班长的修改"}).status_code == 303
    late = admin.post("/ui/kb/a/zz-race", {**form, "body": "管理员的修改"})
    assert late.status_code == 409
    assert "管理员的修改" in late.text  # the text is kept in the form
    assert 'name="base_version" value="2"' in late.text
    page = web.login(AGENT_SH).get("/ui/kb/a/zz-race")
    assert "班长的修改" in page.text
    with session_factory(web.engine)() as session:
        assert (
            session.scalar(sa.select(KbArticle.current_version).where(KbArticle.slug == "zz-race"))
            == 2
        )


def test_archive_hides_from_readers_and_search(web: WebStack) -> None:
    lead = web.login(TEAM_LEAD)
    agent = web.login(AGENT_SH)
    assert "spring-campaign" in hits(agent.get("/ui/kb", params={"q": "spring campaign"}).text)
    assert lead.post("/ui/kb/a/spring-campaign/archive", {}).status_code == 303
    assert agent.get("/ui/kb/a/spring-campaign").status_code == 404
    assert agent.get("/ui/kb/a/spring-campaign/stamp").status_code == 404
    assert "spring-campaign" not in hits(agent.get("/ui/kb", params={"q": "spring campaign"}).text)
    listing = lead.get("/ui/kb")
    assert 'class="grid kb-unpublished"' in listing.text and "spring-campaign" in listing.text
    assert lead.post("/ui/kb/a/spring-campaign/publish", {"version": "1"}).status_code == 303
    assert agent.get("/ui/kb/a/spring-campaign").status_code == 200


def test_editor_validation(web: WebStack) -> None:
    lead = web.login(TEAM_LEAD)
    bad_slug = lead.post(
        "/ui/kb", {"slug": "Bad Slug!", "title": "x", "body": "y", "visibility": "all"}
    )
    assert bad_slug.status_code == 400 and "地址标识只能包含" in bad_slug.text
    taken = lead.post(
        "/ui/kb", {"slug": "tv-packages", "title": "x", "body": "y", "visibility": "all"}
    )
    assert taken.status_code == 400
    empty = lead.post("/ui/kb", {"slug": "zz-empty", "title": "", "body": "y", "visibility": "all"})
    assert empty.status_code == 400
    with session_factory(web.engine)() as session:
        assert session.scalar(sa.select(KbArticle.id).where(KbArticle.slug == "zz-empty")) is None
    # an empty slug is made from the title
    location = create(lead, "", "Router reset guide", "Hold the button for 10 seconds.")
    assert location.startswith("/ui/kb/a/router-reset-guide?v=1")
    assert lead.get("/ui/kb/new").status_code == 200
    assert lead.get("/ui/kb/a/tv-packages/edit").status_code == 200


# --- permissions ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/ui/kb/new"),
        ("get", "/ui/kb/analytics"),
        ("get", "/ui/kb/log"),
        ("get", "/ui/kb/a/tv-packages/edit"),
        ("get", "/ui/kb/a/tv-packages/history"),
        ("get", "/ui/kb/a/tv-packages/diff?from=1&to=1"),
        ("post", "/ui/kb"),
        ("post", "/ui/kb/a/tv-packages"),
        ("post", "/ui/kb/a/tv-packages/publish"),
        ("post", "/ui/kb/a/tv-packages/archive"),
        ("post", "/ui/kb/a/tv-packages/restore"),
    ],
)
def test_agents_and_back_office_read_only(web: WebStack, method: str, path: str) -> None:
    for who in (AGENT_SH, DEPT_SH):
        browser = web.login(who)
        if method == "get":
            response = browser.get(path)
        else:
            response = browser.post(path, {"title": "x", "body": "y", "version": "1"})
        assert response.status_code == 403
        assert web.refusals(actor=who, entity_id=path.split("?", maxsplit=1)[0], reason="role")
    with session_factory(web.engine)() as session:
        assert (
            session.scalar(
                sa.select(KbArticle.current_version).where(KbArticle.slug == "tv-packages")
            )
            == 1
        )
    assert web.anonymous().get("/ui/kb").status_code == 403
    assert web.refusals(actor="anonymous", entity_id="/ui/kb", reason="login")


def test_company_visibility_and_sharing(web: WebStack) -> None:
    shanghai, shenzhen = web.login(AGENT_SH), web.login(AGENT_SZ)
    # 深圳-only article: refused for 上海 and audited, left out of 上海's search
    refused = shanghai.get("/ui/kb/a/outlets-shenzhen")
    assert refused.status_code == 403
    rows = web.refusals(actor=AGENT_SH, entity_id="/ui/kb/a/outlets-shenzhen", reason="company")
    assert rows and rows[0]["after"]["company"] == "深圳"
    assert shanghai.get("/ui/kb/a/outlets-shenzhen/stamp").status_code == 403
    assert "outlets-shenzhen" not in hits(shanghai.get("/ui/kb", params={"q": "福田营业厅"}).text)
    assert "outlets-shenzhen" in hits(shenzhen.get("/ui/kb", params={"q": "福田营业厅"}).text)
    # a cross-link to an article the reader may not see shows as broken
    english = shanghai.get("/ui/kb/a/outlets-en")
    assert (
        'title="outlets-shenzhen"' in english.text
        and "/ui/kb/a/outlets-shenzhen" not in english.text
    )
    # 上海's outlets are shared with 深圳
    assert shenzhen.get("/ui/kb/a/outlets-shanghai").status_code == 200
    # the back office of 上海 reads like an agent of 上海; the centre (no region) reads all
    assert web.login(DEPT_SH).get("/ui/kb/a/outlets-shenzhen").status_code == 403
    assert web.login(TEAM_LEAD).get("/ui/kb/a/outlets-shenzhen").status_code == 200


def test_a_regional_team_lead_writes_for_their_company_only(web: WebStack) -> None:
    with web.engine.begin() as conn:  # 1002 becomes the 上海 team lead
        conn.execute(sa.update(Agent).where(Agent.id == "1002").values(role="team_lead"))
    lead = web.login("1002")
    form = {"title": "深圳营业厅", "body": "改", "visibility": "company", "base_version": "1"}
    response = lead.post("/ui/kb/a/outlets-shenzhen", form)
    assert response.status_code == 403
    assert web.refusals(actor="1002", entity_id="/ui/kb/a/outlets-shenzhen", reason="company")
    # edits to a group-wide article (company = provincial centre) are refused too
    assert lead.post("/ui/kb/a/tv-packages/archive", {}).status_code == 403
    # a new article is filed under their own company whatever the form says
    create(lead, "zz-sh-only", "上海内部通知", "仅上海", visibility="company", company="深圳")
    with session_factory(web.engine)() as session:
        assert (
            session.scalar(sa.select(KbArticle.company).where(KbArticle.slug == "zz-sh-only"))
            == "上海"
        )
    assert web.login(AGENT_SZ).get("/ui/kb/a/zz-sh-only").status_code == 403
    assert web.login(AGENT_SH).get("/ui/kb/a/zz-sh-only").status_code == 200


def test_post_without_csrf_is_refused(web: WebStack) -> None:
    lead = web.login(TEAM_LEAD)
    response = lead.post("/ui/kb/a/tv-packages/archive", {}, csrf="forged")
    assert response.status_code == 403
    assert web.refusals(actor=TEAM_LEAD, entity_id="/ui/kb/a/tv-packages/archive", reason="csrf")
    assert web.login(AGENT_SH).get("/ui/kb/a/tv-packages").status_code == 200


# --- query log and analytics ----------------------------------------------------------------------


def test_every_view_and_search_is_logged(web: WebStack) -> None:
    agent = web.login(AGENT_SH)
    agent.get("/ui/kb", params={"q": "宽带资费"})
    agent.get("/ui/kb", params={"q": "宽带资费", "page": "2"})  # paging is not a new query
    agent.get("/ui/kb/a/tv-packages")
    agent.get("/ui/kb/a/tv-packages/stamp")  # polling is not a view
    agent.get("/ui/kb")  # browsing without words is not a search
    web.login(TEAM_LEAD).get("/ui/kb/a/tv-packages/history")  # nor is a writer's history
    logged = events(web)
    assert [(e.kind, e.agent_id) for e in logged] == [("search", AGENT_SH), ("view", AGENT_SH)]
    assert logged[0].query == "宽带资费" and logged[0].result_count and logged[0].result_count > 0
    assert logged[1].article_id is not None and logged[1].result_count is None
    lead = web.login(TEAM_LEAD)
    page = lead.get("/ui/kb/log", params={"agent": AGENT_SH})
    assert page.status_code == 200
    assert (
        page.text.count('<tr class="ev-search">') == 1
        and page.text.count('<tr class="ev-view">') == 1
    )
    assert "宽带资费" in page.text
    only_views = lead.get("/ui/kb/log", params={"kind": "view"})
    assert only_views.text.count('<tr class="ev-search">') == 0


def _insert_events(
    web: WebStack, rows: list[tuple[str, str, str, str | None, str, int | None]]
) -> None:
    """(day, kind, agent, slug, query, result_count)"""
    with session_factory(web.engine).begin() as session:
        ids = {slug: i for slug, i in session.execute(sa.select(KbArticle.slug, KbArticle.id))}
        for day, kind, agent, slug, query, count in rows:
            at = dt.datetime.fromisoformat(day).replace(hour=12, tzinfo=dt.UTC)
            session.add(
                KbEvent(
                    at=at,
                    day=day,
                    kind=kind,
                    agent_id=agent,
                    article_id=ids[slug] if slug else None,
                    query=query,
                    query_norm=query.lower(),
                    result_count=count,
                )
            )


def test_analytics_numbers_match_a_hand_count(web: WebStack) -> None:
    _insert_events(
        web,
        [
            ("2026-03-01", "view", AGENT_SH, "tv-packages", "", None),
            ("2026-03-01", "view", AGENT_SH, "tv-packages", "", None),
            ("2026-03-01", "view", AGENT_SZ, "recharge-card", "", None),
            ("2026-03-01", "search", AGENT_SH, None, "宽带", 7),
            ("2026-03-01", "search", AGENT_SZ, None, "宽带", 7),
            ("2026-03-01", "search", AGENT_SZ, None, "量子", 0),
            ("2026-03-02", "view", AGENT_SZ, "tv-packages", "", None),
            ("2026-03-02", "search", AGENT_SH, None, "量子", 0),
            ("2026-03-02", "search", AGENT_SH, None, "router", 2),
            ("2026-03-05", "view", AGENT_SH, "recharge-card", "", None),  # outside the range
            ("2026-03-05", "search", AGENT_SH, None, "宽带", 3),
        ],
    )
    lead = web.login(TEAM_LEAD)
    page = lead.get("/ui/kb/analytics", params={"from": "2026-03-01", "to": "2026-03-02"})
    assert page.status_code == 200
    text = page.text
    assert re.search(r'id="kb-views">4<', text)
    assert re.search(r'id="kb-searches">5<', text)
    assert re.search(r'id="kb-empty">2<', text)

    def rows(table: str, key: str) -> list[tuple[str, str]]:
        section = text.split(f'id="{table}"')[1].split("</table>")[0]
        return re.findall(rf'<tr data-{key}="([^"]+)">.*?<td class="num">(\d+)</td>', section)

    assert rows("kb-top-articles", "slug") == [("tv-packages", "3"), ("recharge-card", "1")]
    assert rows("kb-top-queries", "q") == [("宽带", "2"), ("量子", "2"), ("router", "1")]
    assert rows("kb-empty-queries", "q") == [("量子", "2")]
    per_day = re.findall(
        r'<tr data-day="([^"]+)"><td>[^<]+</td><td class="num">(\d+)</td>'
        r'<td class="num">(\d+)</td><td class="num">(\d+)</td>',
        text,
    )
    assert per_day == [("2026-03-01", "3", "3", "1"), ("2026-03-02", "1", "2", "1")]
    # the same from the data layer, and a regional team lead counts their region only
    sessions = session_factory(web.engine)
    from cti_server.store.models import Role

    shanghai_lead = WebUser("1002", "x", Role.TEAM_LEAD, "上海", None)
    stats = analytics(sessions, shanghai_lead, dt.date(2026, 3, 1), dt.date(2026, 3, 2))
    assert (stats.views, stats.searches, stats.empty_searches) == (2, 3, 1)
    bad = lead.get("/ui/kb/analytics", params={"from": "2026-03-05", "to": "2026-03-01"})
    assert bad.status_code == 400


def test_save_article_data_function_round_trip(web: WebStack) -> None:
    sessions = session_factory(web.engine)
    slug, version = save_article(
        sessions,
        lead_user(),
        Draft(title="Hotline numbers", body="Call 10000 any time.", tags="hotline, phone"),
        publish=True,
    )
    assert (slug, version) == ("hotline-numbers", 1)
    result = search(sessions, lead_user(), "hotline", log=False)
    assert result.hits[0].slug == "hotline-numbers"
    assert str(result.hits[0].title) == "<mark>Hotline</mark> numbers"


# --- schema -----------------------------------------------------------------------------------


def test_migration_downgrade_and_upgrade(make_web_db: Callable[[str], sa.Engine]) -> None:
    engine = make_web_db("sqlite")
    config = alembic_config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0101_work_orders")
    assert current_revision(engine) == "0101_work_orders"
    tables = set(sa.inspect(engine).get_table_names())
    assert not {t for t in tables if t.startswith("kb_")}
    upgrade(engine)
    assert current_revision(engine) == head_revision()
    assert {"kb_articles", "kb_versions", "kb_terms", "kb_events"} <= set(
        sa.inspect(engine).get_table_names()
    )
