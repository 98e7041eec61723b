"""Panel windows against the real CTI server's web side (``live_centre``): SSO with a
real one-time token, a shared session for the second panel, re-SSO after the session
is gone, and the page bridge on real pages (whose CSP allows only their own scripts).

Until the CTI ``web.token`` request lands the test mints the token the way the server
will (``cti_server.store.issue_web_token``) and builds ``/ui/sso?token=…&next=…``
(docs/web.md)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

pytest.importorskip("PySide6.QtWebEngineCore")

import shiboken6
from PySide6.QtCore import QTimer
from PySide6.QtWebEngineCore import QWebEnginePage, QWebEngineProfile
from pytestqt.qtbot import QtBot

from agent_desktop.model.screenpop import PanelSpec
from agent_desktop.web.bridge import DesktopBridge
from agent_desktop.web.bs_area import BsArea, Panel, WebWindow
from agent_desktop.web.profile import (
    LoadState,
    PanelLoader,
    SsoDone,
    create_panel_profile,
)

AGENT = "1001"


def run_js(qtbot: QtBot, page: QWebEnginePage, expression: str) -> Any:
    box: list[Any] = []
    page.runJavaScript(f"JSON.stringify(({expression}) ?? null)", 0, box.append)
    qtbot.waitUntil(lambda: bool(box), timeout=5000)
    return json.loads(box[0])


class Desk:
    """What the desktop controller wires: profile, loader (SSO from the CTI side), bridge, area."""

    def __init__(self, qtbot: QtBot, live: Any, profile: QWebEngineProfile) -> None:
        from cti_server.store import make_engine

        self.qtbot = qtbot
        self.engine = make_engine(live.db_url)
        self.asked: list[str] = []
        self.replay: str | None = None  # hand out this (spent) SSO path instead
        self.loader = PanelLoader(profile, live.web_url, self.get_sso_path)
        self.bridge = DesktopBridge()
        self.area = BsArea(self.loader, self.bridge)
        self.area.resize(1100, 800)
        self.area.show()

    def get_sso_path(self, next_path: str, done: SsoDone) -> None:
        from cti_server.store import issue_web_token

        self.asked.append(next_path)
        if self.replay is not None:
            path = self.replay
        else:
            token = issue_web_token(self.engine, AGENT, ttl=60)
            path = "/ui/sso?" + urlencode({"token": token, "next": next_path})
        self.last_sso = path
        QTimer.singleShot(0, lambda: done(path))

    def open(self, key: str, path: str, title_key: str | None = None) -> WebWindow:
        return self.area.open_panel(Panel(key, path, title_key or key, None))

    def wait_page(self, window: WebWindow, path: str) -> None:
        def shown() -> bool:
            return (
                window.navigator.state is LoadState.LOADED
                and window.page.url().path() == path
                and not window.error_shown
            )

        self.qtbot.waitUntil(shown, timeout=15000)

    def who(self, window: WebWindow) -> str:
        text: str = run_js(
            self.qtbot, window.page, "(document.querySelector('.user') || {}).textContent || ''"
        )
        return text

    def close(self) -> None:
        self.area.close_all()
        self.qtbot.wait(20)  # closed windows (and their pages) go before the profile
        shiboken6.delete(self.area)
        shiboken6.delete(self.bridge)
        shiboken6.delete(self.loader)
        self.engine.dispose()


@pytest.fixture(scope="module")
def profile(qapp: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[QWebEngineProfile]:
    storage: Path = tmp_path_factory.mktemp("web-profile")
    profile = create_panel_profile(storage, language="en")
    yield profile
    shiboken6.delete(profile)


@pytest.fixture
def desk(qtbot: QtBot, live_centre: Any, profile: QWebEngineProfile) -> Iterator[Desk]:
    profile.cookieStore().deleteAllCookies()
    qtbot.wait(50)
    made = Desk(qtbot, live_centre, profile)
    yield made
    made.close()


def test_panels_sign_in_once_and_share_the_session(desk: Desk, qtbot: QtBot) -> None:
    # a screen-pop panel as the model gives it
    kb = desk.area.open_panel(
        PanelSpec(key="knowledge", path="/ui/kb?q=宽带", title_key="knowledge", call_id="c-1")
    )
    desk.wait_page(kb, "/ui/kb")
    assert AGENT in desk.who(kb)  # signed in as the agent, no login page
    assert run_js(qtbot, kb.page, "document.documentElement.lang") == "en"
    assert run_js(qtbot, kb.page, "document.querySelector('input[name=q]').value") == "宽带"
    assert kb.windowTitle() == "Knowledge base"

    notices = desk.open("notices", "/ui/notices")
    desk.wait_page(notices, "/ui/notices")
    assert AGENT in desk.who(notices)
    assert desk.asked == ["/ui/kb?q=宽带"]  # one SSO for both panels
    assert desk.area.keys() == ["knowledge", "notices"]
    assert desk.area.close_call_panels("c-1") == 1
    assert desk.area.keys() == ["notices"]

    # the page bridge is there on real pages too (the server's CSP does not stop it)
    assert run_js(qtbot, notices.page, "typeof window.opencc") == "object"
    with qtbot.waitSignal(desk.bridge.dial_requested, timeout=5000) as dialled:
        run_js(qtbot, notices.page, "(opencc.dial('10086'), true)")
    assert dialled.args == ["10086"]


def test_an_expired_session_is_signed_in_again_once(
    desk: Desk, qtbot: QtBot, profile: QWebEngineProfile
) -> None:
    kb = desk.open("kb", "/ui/kb")
    desk.wait_page(kb, "/ui/kb")
    assert desk.loader.signed_in

    profile.cookieStore().deleteAllCookies()  # the web session is gone
    qtbot.wait(100)
    desk.open("kb", "/ui/notices")  # the server answers "please sign in first"
    desk.wait_page(kb, "/ui/notices")
    assert AGENT in desk.who(kb)
    assert desk.asked == ["/ui/kb", "/ui/notices"]

    # a page sent to /ui/login is taken through SSO to the page it names
    kb.page.load(desk.loader.url_for("/ui/login?next=/ui/categories"))
    desk.wait_page(kb, "/ui/categories")
    assert desk.asked[-1] == "/ui/categories"

    # a token the server will not take twice: one more SSO, then the error page
    profile.cookieStore().deleteAllCookies()
    qtbot.wait(100)
    desk.replay = desk.last_sso
    desk.open("kb", "/ui/kb")
    qtbot.waitUntil(lambda: kb.error_shown, timeout=15000)
    assert kb.navigator.failure is not None and kb.navigator.failure[0] == "sso"
    assert len(desk.asked) == 4

    desk.replay = None
    kb.retry_button.click()
    desk.wait_page(kb, "/ui/kb")
    assert AGENT in desk.who(kb)
