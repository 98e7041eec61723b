"""WebSession against a live CTI server's web side: SSO with a real one-time token,
JSON and pages with the session cookie, CSRF-protected posts, typed errors."""

from __future__ import annotations

import re
import socket
from collections.abc import Callable, Iterator

import pytest

from agent_desktop.web.session import (
    WebAuthError,
    WebError,
    WebSession,
    WebTimeout,
    WebUnreachable,
)
from tests.agent_desktop.conftest import LiveCentre

type TokenFactory = Callable[[str], str]


@pytest.fixture(scope="module")
def token(live_centre: LiveCentre) -> Iterator[TokenFactory]:
    """One-time SSO tokens as the CTI side issues them (``web.token``)."""
    from cti_server.store import issue_web_token, make_engine

    engine = make_engine(live_centre.db_url)
    yield lambda agent_id: issue_web_token(engine, agent_id)
    engine.dispose()


def signed_in(live_centre: LiveCentre, token: TokenFactory, agent_id: str = "1001") -> WebSession:
    web = WebSession(live_centre.web_url, timeout=10.0)
    web.sso(WebSession.sso_path(token(agent_id)))
    return web


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "the page carries the session's CSRF token"
    return found.group(1)


def test_sso_gives_a_session_for_pages_and_json(
    live_centre: LiveCentre, token: TokenFactory
) -> None:
    web = WebSession(live_centre.web_url + "/")
    assert web.base_url == live_centre.web_url and not web.signed_in
    landed = web.sso(WebSession.sso_path(token("1001"), "/ui/notices"))
    assert landed == "/ui/notices" and web.signed_in
    pane = web.get_json("/ui/api/customers/C000001/pane")
    assert pane["customer"]["customer_id"] == "C000001"
    assert isinstance(pane["subscribed"], list)
    orders = web.get_json("/ui/api/customers/C000001/workorders/recent")
    assert orders["customer_id"] == "C000001" and orders["orders"]
    assert "DEMO-CALL-0001" in web.get_text("/ui/calls/DEMO-CALL-0001")


def test_a_token_works_once_and_only_a_session_opens_pages(
    live_centre: LiveCentre, token: TokenFactory
) -> None:
    once = token("1001")
    WebSession(live_centre.web_url).sso(WebSession.sso_path(once))
    again = WebSession(live_centre.web_url)
    with pytest.raises(WebAuthError) as spent:
        again.sso(WebSession.sso_path(once))
    assert spent.value.status == 403 and not again.signed_in
    assert once not in str(spent.value), "tokens stay out of error texts (logs)"
    with pytest.raises(WebAuthError):
        again.sso(WebSession.sso_path("made-up-token"))
    with pytest.raises(WebAuthError) as no_session:
        again.get_json("/ui/api/customers/C000001/pane")
    assert no_session.value.status == 403


def test_http_errors_are_typed(live_centre: LiveCentre, token: TokenFactory) -> None:
    web = signed_in(live_centre, token)
    with pytest.raises(WebError) as missing:
        web.get_text("/ui/calls/NO-SUCH-CALL")
    assert missing.value.status == 404 and not isinstance(missing.value, WebAuthError)
    with pytest.raises(WebAuthError) as other_region:  # C000002 is a 深圳 customer
        web.get_json("/ui/api/customers/C000002/pane")
    assert other_region.value.status == 403
    with pytest.raises(WebError, match="not JSON"):
        web.get_json("/ui/notices")
    with pytest.raises(ValueError):
        web.get_text("http://elsewhere.example/ui/")
    with pytest.raises(ValueError):
        WebSession("ftp://host")


def test_posts_carry_the_csrf_token(live_centre: LiveCentre, token: TokenFactory) -> None:
    web = signed_in(live_centre, token)
    csrf = csrf_of(web.get_text("/ui/customers/C000001"))
    page = web.post_form(
        "/ui/customers/C000001/care",
        {"kind": "follow_up", "title": "WebSession 回访测试", "due": "", "note": ""},
        csrf=csrf,
    )
    assert "WebSession 回访测试" in page  # redirected back to the customer desk
    with pytest.raises(WebAuthError) as forged:
        web.post_form(
            "/ui/customers/C000001/care",
            {"kind": "follow_up", "title": "forged", "due": "", "note": ""},
            csrf="forged",
        )
    assert forged.value.status == 403
    assert "forged" not in web.get_text("/ui/customers/C000001")


def test_json_posts_send_the_csrf_header(live_centre: LiveCentre, token: TokenFactory) -> None:
    """The customer pane's recommendation answer: JSON in, JSON out."""
    web = signed_in(live_centre, token)
    pane = web.get_json("/ui/api/customers/C000001/pane")
    rule = pane["recommendations"][0]["rule_id"]
    path = f"/ui/api/customers/C000001/recommendations/{rule}"
    with pytest.raises(WebAuthError) as forged:
        web.post_json(path, {"answer": "declined", "note": "x"}, csrf="forged")
    assert (forged.value.status, forged.value.reason) == (403, "csrf")
    with pytest.raises(WebError) as bad:
        web.post_json(path, {"answer": "maybe"}, csrf=pane["csrf"])
    assert bad.value.status == 400 and bad.value.message
    answer = web.post_json(
        path, {"answer": "declined", "note": "客户暂不需要", "call_id": None}, csrf=pane["csrf"]
    )
    assert answer["ok"] is True
    again = web.get_json("/ui/api/customers/C000001/pane")
    assert rule not in [r["rule_id"] for r in again["recommendations"]]  # declined: not offered


def test_no_answer_is_a_timeout_and_a_closed_port_is_unreachable() -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)  # accepts the connection (backlog), never answers
        port = silent.getsockname()[1]
        with pytest.raises(WebTimeout) as slow:
            WebSession(f"http://127.0.0.1:{port}", timeout=0.3).get_json("/ui/api/x")
        assert slow.value.status == 0
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    with pytest.raises(WebUnreachable) as down:
        WebSession(f"http://127.0.0.1:{closed}", timeout=2.0).get_text("/ui/")
    assert down.value.status == 0
