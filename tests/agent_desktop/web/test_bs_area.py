"""The BS area: panel windows of real QtWebEngine pages, their arrangement, SSO and errors.

The pages come from a small local web side that behaves like the CTI server's for what
the desktop relies on (one-time SSO tokens redirecting to ``next`` with a session
cookie, the 403 "please sign in" refusal, ``/ui/login``); the real server is used by
``test_web_panels_live.py``.
"""

from __future__ import annotations

import html
import json
import secrets
import socket
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import pytest

pytest.importorskip("PySide6.QtWebEngineCore")

import shiboken6
from PySide6.QtCore import QRect, Qt, QTimer
from PySide6.QtTest import QTest
from PySide6.QtWebEngineCore import QWebEngineProfile
from pytestqt.qtbot import QtBot

from agent_desktop.web.bridge import DesktopBridge
from agent_desktop.web.bs_area import BsArea, LayoutError, Panel, WebWindow
from agent_desktop.web.profile import (
    LoadState,
    PanelLoader,
    SsoDone,
    create_panel_profile,
)


class StubWebSide:
    """Just enough of the web side: SSO, session cookie, 403 login refusal, /ui/login."""

    def __init__(self, port: int = 0) -> None:
        self.tokens: set[str] = set()
        self.sessions: set[str] = set()
        self.sso_hits = 0
        self.forget_sessions = False  # a server that never keeps a session
        side = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                side.handle(self)

            def log_message(self, *_: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def mint(self, next_path: str) -> str:
        token = secrets.token_urlsafe(16)
        self.tokens.add(token)
        return f"/ui/sso?token={token}&next={quote(next_path)}"

    def handle(self, req: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(req.path)
        query = parse_qs(parts.query)
        cookies = dict(
            c.strip().split("=", 1) for c in req.headers.get("Cookie", "").split(";") if "=" in c
        )
        if parts.path == "/ui/sso":
            self.sso_hits += 1
            token = query.get("token", [""])[0]
            if token not in self.tokens:
                return self.page(req, 403, "refused", '<p data-reason="sso">bad token</p>')
            self.tokens.discard(token)
            sid = secrets.token_hex(8)
            if not self.forget_sessions:
                self.sessions.add(sid)
            req.send_response(303)
            req.send_header("Location", query.get("next", ["/ui/"])[0])
            req.send_header("Set-Cookie", f"sid={sid}; Path=/ui; HttpOnly")
            req.end_headers()
            return None
        if parts.path == "/ui/login":
            return self.page(req, 200, "Sign in", "<form>login</form>")
        if cookies.get("sid") not in self.sessions:
            return self.page(req, 403, "Forbidden", '<p data-reason="login">sign in first</p>')
        if parts.path == "/ui/gone":
            req.send_response(303)
            req.send_header("Location", "/ui/login?next=/ui/back")
            req.end_headers()
            return None
        title = f"page {parts.path}{'?' + parts.query if parts.query else ''}"
        return self.page(req, 200, title, f'<h1 id="where">{html.escape(title)}</h1>')

    @staticmethod
    def page(req: BaseHTTPRequestHandler, status: int, title: str, body: str) -> None:
        data = (
            f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}"
            f"</title></head><body>{body}</body></html>"
        ).encode()
        req.send_response(status)
        req.send_header("Content-Type", "text/html; charset=utf-8")
        req.send_header("Content-Length", str(len(data)))
        req.end_headers()
        req.wfile.write(data)


@pytest.fixture(scope="module")
def profile(qapp: Any) -> Iterator[QWebEngineProfile]:
    profile = create_panel_profile()
    yield profile
    shiboken6.delete(profile)


@pytest.fixture
def side() -> Iterator[StubWebSide]:
    stub = StubWebSide()
    yield stub
    stub.stop()


class Harness:
    def __init__(
        self, qtbot: QtBot, profile: QWebEngineProfile, url: str, side: StubWebSide | None
    ) -> None:
        self.qtbot = qtbot
        self.side = side
        self.asked: list[str] = []
        self.give_tokens = True
        self.loader = PanelLoader(profile, url, self.get_sso_path)
        self.bridge = DesktopBridge()
        self.area = BsArea(self.loader, self.bridge)
        self.area.resize(1000, 700)
        self.area.show()

    def get_sso_path(self, next_path: str, done: SsoDone) -> None:
        self.asked.append(next_path)
        value = self.side.mint(next_path) if self.side and self.give_tokens else None
        QTimer.singleShot(0, lambda: done(value))  # answers later, as the CTI link does

    def open(
        self, key: str, path: str, title_key: str = "", call_id: str | None = None
    ) -> WebWindow:
        return self.area.open_panel(Panel(key, path, title_key or key, call_id))

    def wait_loaded(self, window: WebWindow, path: str | None = None) -> None:
        def done() -> bool:
            if window.navigator.state is not LoadState.LOADED:
                return False
            return path is None or window.page.title() == f"page {path}"

        self.qtbot.waitUntil(done, timeout=10000)

    def close(self) -> None:
        self.area.close_all()
        self.qtbot.wait(20)  # closed windows (and their pages) go before the profile
        shiboken6.delete(self.area)
        shiboken6.delete(self.bridge)
        shiboken6.delete(self.loader)


@pytest.fixture
def make(
    qtbot: QtBot, profile: QWebEngineProfile
) -> Iterator[Callable[[str, StubWebSide | None], Harness]]:
    made: list[Harness] = []

    def factory(url: str, side: StubWebSide | None) -> Harness:
        profile.cookieStore().deleteAllCookies()
        harness = Harness(qtbot, profile, url, side)
        made.append(harness)
        return harness

    yield factory
    for harness in made:
        harness.close()


@pytest.fixture
def bs(make: Callable[[str, StubWebSide | None], Harness], side: StubWebSide) -> Harness:
    return make(side.url, side)


def test_two_panels_share_one_sign_in_and_reopening_a_key_reloads_its_window(bs: Harness) -> None:
    kb = bs.open("kb", "/ui/kb")
    bs.wait_loaded(kb, "/ui/kb")
    assert kb.windowTitle() == "Knowledge base"
    trajectory = bs.open("trajectory", "/ui/calls/c-1", call_id="c-1")
    bs.wait_loaded(trajectory, "/ui/calls/c-1")
    assert trajectory.windowTitle() == "Call trajectory"
    assert bs.asked == ["/ui/kb"]  # the second panel needed no second SSO
    assert bs.area.keys() == ["kb", "trajectory"]

    again = bs.open("kb", "/ui/kb?q=broadband")
    assert again is kb
    bs.wait_loaded(kb, "/ui/kb?q=broadband")
    assert len(bs.area.windows()) == 2
    assert bs.area.keys()[-1] == "kb"  # raised to the front
    assert bs.area.activeSubWindow() is kb


def test_windows_maximise_minimise_restore_and_close(bs: Harness, qtbot: QtBot) -> None:
    a = bs.open("kb", "/ui/kb")
    b = bs.open("trajectory", "/ui/calls/c-1", call_id="c-1")
    c = bs.open("contacts", "/ui/contacts?customer=C1", call_id="c-1")
    d = bs.open("notices", "/ui/notices")
    a.setGeometry(QRect(10, 20, 400, 300))
    bs.area.maximize("kb")
    assert a.isMaximized()
    assert a.geometry().width() > 400
    bs.area.restore("kb")
    assert not a.isMaximized()
    assert a.geometry() == QRect(10, 20, 400, 300)
    bs.area.minimize("notices")
    assert d.isMinimized()
    bs.area.activate("notices")  # choosing it again brings it back
    assert not d.isMinimized()

    with qtbot.waitSignal(bs.area.panel_closed, timeout=2000) as closed:
        assert bs.area.close_panel("kb")
    assert closed.args == ["kb"]
    assert bs.area.panel("kb") is None
    assert not bs.area.close_panel("kb")
    assert bs.area.close_call_panels("c-1") == 2
    assert bs.area.keys() == ["notices"]
    assert not shiboken6.isValid(b) or not b.isVisible()
    assert not shiboken6.isValid(c) or not c.isVisible()
    with pytest.raises(KeyError):
        bs.area.maximize("trajectory")


def test_windows_reorder_tile_and_cascade(bs: Harness) -> None:
    for key in ("kb", "notices", "contacts"):
        bs.open(key, f"/ui/{key}")
    assert bs.area.keys() == ["kb", "notices", "contacts"]
    bs.area.send_to_back("contacts")
    assert bs.area.keys() == ["contacts", "kb", "notices"]
    bs.area.bring_to_front("kb")
    assert bs.area.keys() == ["contacts", "notices", "kb"]
    bs.area.send_backward("kb")
    assert bs.area.keys() == ["contacts", "kb", "notices"]
    bs.area.bring_forward("contacts")
    assert bs.area.keys() == ["kb", "contacts", "notices"]
    bs.area.bring_forward("notices")  # already in front
    assert bs.area.keys() == ["kb", "contacts", "notices"]

    bs.area.tile()
    rects = [w.geometry() for w in bs.area.windows()]
    assert all(not r1.intersects(r2) for i, r1 in enumerate(rects) for r2 in rects[i + 1 :])
    assert all(bs.area.viewport().rect().contains(r) for r in rects)
    bs.area.cascade()
    tops = sorted(w.geometry().topLeft().y() for w in bs.area.windows())
    assert tops[0] < tops[1] < tops[2]


def test_window_menu_lists_windows_and_activates_the_chosen_one(bs: Harness) -> None:
    bs.open("kb", "/ui/kb")
    bs.open("notices", "/ui/notices")
    menu = bs.area.window_menu()
    menu.aboutToShow.emit()
    texts = [a.text().replace("&", "") for a in menu.actions() if not a.isSeparator()]
    assert "Tile" in texts and "Cascade" in texts
    listed = [t for t in texts if t.endswith(("Knowledge base", "Notices"))]
    assert listed == ["1 Notices", "2 Knowledge base"]  # front first
    choose_kb = next(a for a in menu.actions() if a.text().endswith("Knowledge base"))
    choose_kb.trigger()
    assert bs.area.keys()[-1] == "kb"
    close = next(a for a in menu.actions() if a.text().replace("&", "") == "Close")
    menu.aboutToShow.emit()  # rebuilt for the new front window
    close = next(a for a in menu.actions() if a.text().replace("&", "") == "Close")
    close.trigger()
    assert bs.area.keys() == ["notices"]


def test_layout_round_trips_through_json(
    bs: Harness, make: Callable[[str, StubWebSide | None], Harness], side: StubWebSide
) -> None:
    kb = bs.open("kb", "/ui/kb")
    notices = bs.open("notices", "/ui/notices")
    trajectory = bs.open("trajectory", "/ui/calls/c-1", call_id="c-1")
    kb.setGeometry(QRect(30, 40, 420, 310))
    notices.setGeometry(QRect(200, 100, 380, 260))
    bs.area.maximize("notices")
    trajectory.setGeometry(QRect(500, 50, 300, 200))
    bs.area.bring_to_front("kb")
    saved = json.loads(json.dumps(bs.area.layout_state()))
    assert [w["key"] for w in saved["windows"]] == ["trajectory", "notices", "kb"]

    other = make(side.url, side)
    other.area.restore_layout(saved, reopen=True)
    assert other.area.keys() == ["notices", "kb"]  # the call's panel is not reopened
    assert other.area.panel("kb").geometry() == QRect(30, 40, 420, 310)  # type: ignore[union-attr]
    restored = other.area.panel("notices")
    assert restored is not None and restored.isMaximized()
    bs.area.restore("notices")
    other.area.restore("notices")
    assert restored.geometry() == QRect(200, 100, 380, 260)
    # a remembered key opens where it was
    popped = other.open("trajectory", "/ui/calls/c-2", call_id="c-2")
    assert popped.geometry() == QRect(500, 50, 300, 200)
    # and the layout of the new area says the same again
    again = other.area.layout_state()
    assert {w["key"]: (w["x"], w["y"], w["width"]) for w in again["windows"]} == {
        "notices": (200, 100, 380),
        "kb": (30, 40, 420),
        "trajectory": (500, 50, 300),
    }


@pytest.mark.parametrize(
    "bad",
    [
        {"windows": [{"key": "kb"}]},
        {"windows": "no"},
        {"version": 9},
        {
            "windows": [
                {
                    "key": "kb",
                    "path": "/ui/kb",
                    "title_key": "kb",
                    "x": 0,
                    "y": 0,
                    "width": 5,
                    "height": 5,
                }
            ]
        },
        [1, 2],
    ],
)
def test_a_bad_layout_is_refused_and_changes_nothing(bs: Harness, bad: object) -> None:
    kb = bs.open("kb", "/ui/kb")
    kb.setGeometry(QRect(30, 40, 420, 310))
    before = bs.area.layout_state()
    with pytest.raises(LayoutError):
        bs.area.restore_layout(bad, reopen=True)
    assert bs.area.layout_state() == before


def test_network_error_shows_an_error_page_and_retry_loads(
    make: Callable[[str, StubWebSide | None], Harness], qtbot: QtBot
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    bs = make(f"http://127.0.0.1:{port}", None)
    bs.loader.set_signed_in(True)  # straight to the page: nothing listens there
    window = bs.open("kb", "/ui/kb")
    qtbot.waitUntil(lambda: window.error_shown, timeout=10000)
    assert window.navigator.state is LoadState.FAILED
    assert window.retry_button.isVisible()
    assert window.error_text  # Chromium's reason (connection refused)

    side = StubWebSide(port)
    try:
        bs.side = side
        bs.loader.set_signed_in(False)
        QTest.mouseClick(window.retry_button, Qt.MouseButton.LeftButton)
        bs.wait_loaded(window, "/ui/kb")
        assert not window.error_shown
        assert window.view.isVisible()
    finally:
        side.stop()


def test_expired_session_is_signed_in_again_once(bs: Harness, side: StubWebSide) -> None:
    window = bs.open("kb", "/ui/kb")
    bs.wait_loaded(window, "/ui/kb")
    side.sessions.clear()  # the web session expired
    bs.open("kb", "/ui/kb?q=tv")
    bs.wait_loaded(window, "/ui/kb?q=tv")
    assert bs.asked == ["/ui/kb", "/ui/kb?q=tv"]
    assert not window.error_shown

    # landing on /ui/login (with next=) also signs in again, to the page it names
    window.page.load(bs.loader.url_for("/ui/gone"))
    bs.wait_loaded(window, "/ui/back")
    assert bs.asked[-1] == "/ui/back"

    # a session that never sticks: one more SSO, then the error page (no loop)
    side.forget_sessions = True
    side.sessions.clear()
    asked = len(bs.asked)
    bs.open("kb", "/ui/kb")
    bs.qtbot.waitUntil(lambda: window.error_shown, timeout=10000)
    assert len(bs.asked) == asked + 1
    assert window.navigator.failure is not None
    assert window.navigator.failure[0] == "expired"


def test_no_sso_token_shows_the_error_page(bs: Harness, side: StubWebSide) -> None:
    bs.give_tokens = False
    window = bs.open("kb", "/ui/kb")
    bs.qtbot.waitUntil(lambda: window.error_shown, timeout=10000)
    assert window.navigator.failure is not None and window.navigator.failure[0] == "sso"
    assert side.sso_hits == 0
    bs.give_tokens = True
    window.retry_button.click()
    bs.wait_loaded(window, "/ui/kb")
    assert not window.error_shown


def test_unknown_title_keys_show_the_page_title_and_bad_paths_open_nothing(bs: Harness) -> None:
    window = bs.open("custom", "/ui/custom", title_key="something_new")
    bs.wait_loaded(window, "/ui/custom")
    bs.qtbot.waitUntil(lambda: window.windowTitle() == "page /ui/custom", timeout=5000)
    with pytest.raises(ValueError):
        bs.open("evil", "https://example.com/")
    with pytest.raises(ValueError):
        bs.open("api", "/api/agents")
    with pytest.raises(ValueError):  # nor does a bad path change an open window
        bs.open("custom", "/ui/../api/agents", title_key="kb")
    assert bs.area.keys() == ["custom"]
    assert window.path == "/ui/custom" and window.windowTitle() == "page /ui/custom"


def test_a_page_asking_for_a_panel_opens_it(bs: Harness, qtbot: QtBot) -> None:
    bs.bridge.open_panel_requested.connect(bs.area.open_path)
    first = bs.open("kb", "/ui/kb")
    bs.wait_loaded(first, "/ui/kb")
    first.page.runJavaScript("opencc.openPanel('notices', '/ui/notices')")
    qtbot.waitUntil(lambda: bs.area.panel("notices") is not None, timeout=5000)
    notices = bs.area.panel("notices")
    assert notices is not None
    bs.wait_loaded(notices, "/ui/notices")
    assert bs.area.keys() == ["kb", "notices"]
    assert notices.windowTitle() == "Notices"
