"""Web panels: sign-in, SSO tokens, roles, regions and CSRF (R-SEC-1, R-BIZ-4, R-IN-6).

Every page renders for the roles allowed to open it; any other role, a missing session
and a bad CSRF token get a 403 page and an audit row. Real uvicorn, real store."""

from __future__ import annotations

import time

import pytest
import sqlalchemy as sa

from cti_server.store import issue_web_token, redeem_web_token
from cti_server.store.errors import NotFound
from cti_server.store.models import Agent, Notice, WebToken
from tests.cti_server.web.web_support import (
    ADMIN,
    AGENT_SH,
    AGENT_SZ,
    CENTRE,
    DEPT_SH,
    TEAM_LEAD,
    WebStack,
    csrf_of,
)

ALL = {ADMIN, TEAM_LEAD, AGENT_SH, DEPT_SH}
DESK = {ADMIN, TEAM_LEAD, AGENT_SH}

# page -> accounts that may open it (the rest get 403)
PAGES: dict[str, set[str]] = {
    "/ui/": ALL,
    "/ui/contacts": ALL,
    "/ui/notices": ALL,
    "/ui/notices/new": {ADMIN, TEAM_LEAD},
    "/ui/categories": ALL,
    "/ui/inquiry": DESK,
    "/ui/acceptance": DESK,
    "/ui/query": ALL,
    "/ui/query/customers?run=1": ALL,
    "/ui/query/contacts_by_agent?run=1": ALL,
    "/ui/calls/DEMO-CALL-0001": ALL,
}


def test_every_page_renders_for_allowed_roles_and_refuses_the_others(web: WebStack) -> None:
    for account in (ADMIN, TEAM_LEAD, AGENT_SH, DEPT_SH):
        browser = web.login(account)
        for url, allowed in PAGES.items():
            response = browser.get(url)
            if account in allowed:
                assert response.status_code == 200, (account, url, response.text[:500])
                assert response.headers["content-type"] == "text/html; charset=utf-8"
            else:
                assert response.status_code == 403, (account, url)
                assert "您的角色无权打开此页面" in response.text
                path = url.split("?")[0]
                assert web.refusals(actor=account, entity_id=path, reason="role"), (account, url)


def test_no_session_is_refused_and_audited_on_every_page(web: WebStack) -> None:
    browser = web.anonymous()
    for url in PAGES:
        response = browser.get(url)
        assert response.status_code == 403, url
        assert "请先登录" in response.text
        assert "/ui/login?next=" in response.text
        assert web.refusals(actor="anonymous", entity_id=url.split("?")[0], reason="login")
    # forms too: nothing is written without a session
    before = web.scalar(sa.select(sa.func.count()).select_from(Notice))
    posted = browser.post("/ui/notices", {"title": "x", "severity": "info"}, csrf="x")
    assert posted.status_code == 403
    assert web.scalar(sa.select(sa.func.count()).select_from(Notice)) == before


def test_login_sets_a_httponly_lax_cookie_and_logout_ends_the_session(web: WebStack) -> None:
    browser = web.anonymous()
    form = browser.get("/ui/login?next=/ui/contacts")
    done = browser.client.post(
        "/ui/login",
        data={
            "csrf": csrf_of(form.text),
            "agent_id": AGENT_SH,
            "password": "demo",
            "next": "/ui/contacts",
        },
    )
    assert done.status_code == 303 and done.headers["location"] == "/ui/contacts"
    cookie = next(h for h in done.headers.get_list("set-cookie") if h.startswith("opencc_web="))
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/ui" in cookie
    home = browser.get("/ui/")
    assert home.status_code == 200 and "张伟" in home.text
    out = browser.post("/ui/logout", {}, csrf=csrf_of(home.text))
    assert out.status_code == 303
    assert browser.get("/ui/").status_code == 403


def test_wrong_password_and_login_csrf_and_open_redirects_are_refused(web: WebStack) -> None:
    browser = web.anonymous()
    form = browser.get("/ui/login")
    token = csrf_of(form.text)
    wrong = browser.client.post(
        "/ui/login", data={"csrf": token, "agent_id": AGENT_SH, "password": "nope"}
    )
    assert wrong.status_code == 401 and "工号或密码错误" in wrong.text
    assert "opencc_web=" not in wrong.headers.get("set-cookie", "")
    forged = web.anonymous().client.post(
        "/ui/login", data={"csrf": token, "agent_id": AGENT_SH, "password": "demo"}
    )
    assert forged.status_code == 403  # no matching login-CSRF cookie
    form = browser.get("/ui/login")
    done = browser.client.post(
        "/ui/login",
        data={
            "csrf": csrf_of(form.text),
            "agent_id": AGENT_SH,
            "password": "demo",
            "next": "https://evil.example/",
        },
    )
    assert done.status_code == 303 and done.headers["location"] == "/ui/"


def test_a_forged_or_tampered_cookie_is_no_session(web: WebStack) -> None:
    browser = web.login(AGENT_SH)
    cookie = browser.client.cookies.get("opencc_web")
    assert cookie is not None
    payload, _, signature = cookie.partition(".")
    other = web.anonymous()
    other.client.cookies.set("opencc_web", f"{payload}.{signature[:-2]}xx", path="/ui")
    assert other.get("/ui/").status_code == 403


def test_bad_csrf_is_refused_audited_and_writes_nothing(web: WebStack) -> None:
    lead = web.login(TEAM_LEAD)
    before = web.scalar(sa.select(sa.func.count()).select_from(Notice))
    for token in ("", "forged-token"):
        response = lead.post(
            "/ui/notices", {"title": "停电", "body": "x", "severity": "info"}, csrf=token
        )
        assert response.status_code == 403
        assert "表单已过期" in response.text
    assert len(web.refusals(actor=TEAM_LEAD, entity_id="/ui/notices", reason="csrf")) == 2
    assert web.scalar(sa.select(sa.func.count()).select_from(Notice)) == before
    # another user's token does not work either
    admin = web.login(ADMIN)
    stolen = lead.post("/ui/notices", {"title": "t", "severity": "info"}, csrf=admin.csrf)
    assert stolen.status_code == 403


def test_a_deactivated_account_loses_its_session_at_once(web: WebStack) -> None:
    browser = web.login(AGENT_SH)
    with web.engine.begin() as conn:
        conn.execute(sa.update(Agent).where(Agent.id == AGENT_SH).values(active=False))
    assert browser.get("/ui/").status_code == 403


# --- SSO --------------------------------------------------------------------------------


def test_sso_token_opens_a_session_once(web: WebStack) -> None:
    token = issue_web_token(web.engine, AGENT_SH)
    browser = web.anonymous()
    response = browser.get(f"/ui/sso?token={token}&next=/ui/calls/DEMO-CALL-0001")
    assert response.status_code == 303
    assert response.headers["location"] == "/ui/calls/DEMO-CALL-0001"
    page = browser.get("/ui/calls/DEMO-CALL-0001")
    assert page.status_code == 200 and "呼叫轨迹" in page.text
    # the token is spent
    again = web.anonymous().get(f"/ui/sso?token={token}")
    assert again.status_code == 403 and "单点登录链接无效" in again.text
    assert web.refusals(actor="anonymous", entity_id="/ui/sso", reason="sso")
    # only its hash is stored
    stored = web.scalar(sa.select(WebToken.token_hash))
    assert stored is not None and token not in stored


def test_sso_token_expires_and_unknown_agents_get_none(web: WebStack) -> None:
    token = issue_web_token(web.engine, AGENT_SH, ttl=0.05)
    time.sleep(0.3)  # well past its expiry
    assert web.anonymous().get(f"/ui/sso?token={token}").status_code == 403
    assert redeem_web_token(web.engine, "") is None
    assert redeem_web_token(web.engine, "not-a-token") is None
    with pytest.raises(NotFound):
        issue_web_token(web.engine, "nobody")


# --- regions ------------------------------------------------------------------------------


def test_trajectory_of_another_regions_customer_is_refused_and_audited(web: WebStack) -> None:
    shenzhen = web.login(AGENT_SZ)
    response = shenzhen.get("/ui/calls/DEMO-CALL-0001")  # C000001 lives in 上海
    assert response.status_code == 403 and "该客户属于其他区域" in response.text
    rows = web.refusals(actor=AGENT_SZ, entity_id="/ui/calls/DEMO-CALL-0001", reason="region")
    assert rows and rows[0]["after"]["customer"] == "C000001"
    # the 上海 department and the provincial centre may look
    assert web.login(DEPT_SH).get("/ui/calls/DEMO-CALL-0001").status_code == 200
    assert web.login(CENTRE).get("/ui/calls/DEMO-CALL-0001").status_code == 200


def test_contacts_of_another_regions_customer_are_refused_and_hidden(web: WebStack) -> None:
    shanghai = web.login(DEPT_SH)
    refused = shanghai.get("/ui/contacts?customer=C000002")  # 深圳
    assert refused.status_code == 403
    assert web.refusals(actor=DEPT_SH, entity_id="/ui/contacts", reason="region")
    listing = shanghai.get("/ui/contacts")
    assert listing.status_code == 200
    assert "(C000001)" in listing.text and "(C000002)" not in listing.text
    assert "(C000002)" in web.login(CENTRE).get("/ui/contacts").text


def test_unknown_call_notice_record_and_path_are_404_pages(web: WebStack) -> None:
    admin = web.login(ADMIN)
    for url in ("/ui/calls/NO-SUCH-CALL", "/ui/notices/999999", "/ui/records/ZX0", "/ui/nope"):
        response = admin.get(url)
        assert response.status_code == 404, url
        assert "没有找到" in response.text and "text/html" in response.headers["content-type"]
