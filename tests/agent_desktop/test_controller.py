"""The desktop controller against a real CTI server (``live_centre``: WebSocket + web
side), without a switch: log-on, the directory, roles, SSO into the web windows, the
bridge, a refused login, and the CTI-offline banner when the link is cut (a TCP proxy we
own between the desktop and the server). The call path with a real switch and SIP is
``test_desktop_e2e.py``."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from agent_desktop.model.prefs import Prefs
from agent_desktop.softphone.audio import BufferBackend
from agent_desktop.ui.app import DesktopController
from shared.protocol.agent import AgentState
from tests.agent_desktop.conftest import LiveCentre
from tests.e2e.e2e_support import LinkProxy

WAIT_MS = 15_000


def _prefs(centre: LiveCentre, agent: str, ws_url: str | None = None) -> Prefs:
    return Prefs(
        server_url=ws_url or centre.ws_url,
        web_url=centre.web_url,
        sip_registrar="127.0.0.1:9",  # nobody answers: the phone stays unregistered
        agent_id=agent,
        language="en",
    )


@pytest.fixture
def desktops(qtbot: Any) -> Iterator[list[DesktopController]]:
    made: list[DesktopController] = []
    yield made
    for ctl in made:
        ctl.shutdown()
        ctl.window.close()


def _open(
    qtbot: Any, made: list[DesktopController], prefs: Prefs, password: str = "demo"
) -> DesktopController:
    ctl = DesktopController(prefs, password, audio_backend=BufferBackend())
    made.append(ctl)
    qtbot.addWidget(ctl.window)
    ctl.start()
    ctl.window.show()
    return ctl


def test_an_agent_logs_on_with_the_servers_reason_codes(
    qtbot: Any, live_centre: LiveCentre, desktops: list[DesktopController]
) -> None:
    ctl = _open(qtbot, desktops, _prefs(live_centre, "1001"))
    qtbot.waitUntil(lambda: ctl.model.agent.state is AgentState.NOT_READY, timeout=WAIT_MS)
    assert ctl.window.link_label.text() == "CTI: online"
    assert ctl.role == "agent" and not ctl.window.team_lead_shown
    qtbot.waitUntil(lambda: ctl.window.state_bar.reason_actions() != [], timeout=WAIT_MS)
    labels = {a.text() for a in ctl.window.state_bar.reason_actions()}
    assert {"小休", "用餐", "培训"} <= labels
    qtbot.mouseClick(ctl.window.state_bar.ready_button, _left())
    qtbot.waitUntil(lambda: ctl.model.agent.state is AgentState.READY, timeout=WAIT_MS)
    assert not ctl.window.state_bar.ready_button.isEnabled()


def test_a_team_lead_gets_the_team_tab_with_live_agents(
    qtbot: Any, live_centre: LiveCentre, desktops: list[DesktopController]
) -> None:
    lead = _open(qtbot, desktops, _prefs(live_centre, "9001"))
    qtbot.waitUntil(lambda: lead.window.team_lead_shown, timeout=WAIT_MS)
    agent = _open(qtbot, desktops, _prefs(live_centre, "1002"))
    qtbot.waitUntil(lambda: agent.model.agent.state is AgentState.NOT_READY, timeout=WAIT_MS)
    grid = lead.window.team_lead.agents_grid
    qtbot.waitUntil(lambda: "1002" in grid.visible_agents(), timeout=WAIT_MS)
    agent.window.state_bar.ready_button.click()
    qtbot.waitUntil(
        lambda: lead.wallboard.agents["1002"].state is AgentState.READY, timeout=WAIT_MS
    )
    # Force it not ready from the lead's grid: the agent's own desktop follows.
    grid.force_state_requested.emit("1002", "not_ready", "meeting")
    qtbot.waitUntil(lambda: agent.model.agent.state is AgentState.NOT_READY, timeout=WAIT_MS)
    assert agent.model.agent.reason_code == "meeting"
    assert agent.model.agent.forced_by == "9001"


def test_web_windows_open_signed_in_and_pages_reach_the_bridge(
    qtbot: Any, live_centre: LiveCentre, desktops: list[DesktopController]
) -> None:
    ctl = _open(qtbot, desktops, _prefs(live_centre, "1003"))
    qtbot.waitUntil(lambda: ctl.model.agent.state is AgentState.NOT_READY, timeout=WAIT_MS)
    ctl.window.standard_panel_requested.emit("kb", "/ui/kb")
    window = ctl.window.bs_area.panel("kb")
    assert window is not None
    html = _html_when(qtbot, window, lambda text: "/ui/kb" in text or "kb" in text.lower())
    assert "login" not in window.view.url().path()
    assert 'name="password"' not in html  # no second sign-in
    # A page asks the desktop to open another panel through the bridge.
    page_answer: list[Any] = []
    window.page.runJavaScript(
        "opencc.openPanel('notices', '/ui/notices').then(r => window.__answer = r)"
    )
    qtbot.waitUntil(lambda: ctl.window.bs_area.panel("notices") is not None, timeout=WAIT_MS)

    def answered() -> bool:
        window.page.runJavaScript("JSON.stringify(window.__answer || null)", 0, page_answer.append)
        return bool(page_answer) and page_answer[-1] not in (None, "null")

    qtbot.waitUntil(answered, timeout=WAIT_MS)
    assert '"ok":true' in page_answer[-1].replace(" ", "")
    # A bad command is refused with a typed error, and opens nothing.
    bad: list[Any] = []
    window.page.runJavaScript(
        "opencc.openPanel('x', 'https://evil.example/').then(r => window.__bad = r)"
    )

    def refused() -> bool:
        window.page.runJavaScript("JSON.stringify(window.__bad || null)", 0, bad.append)
        return bool(bad) and bad[-1] not in (None, "null")

    qtbot.waitUntil(refused, timeout=WAIT_MS)
    assert '"ok":false' in bad[-1].replace(" ", "") and "invalid_field" in bad[-1]
    assert ctl.window.bs_area.panel("x") is None


def test_a_wrong_password_is_refused_without_retrying(
    qtbot: Any, live_centre: LiveCentre, desktops: list[DesktopController]
) -> None:
    ctl = _open(qtbot, desktops, _prefs(live_centre, "1004"), password="wrong")
    with qtbot.waitSignal(ctl.login_failed, timeout=WAIT_MS) as failed:
        pass
    assert failed.args and failed.args[0]
    assert not ctl.link.running


@pytest.fixture
def proxy(live_centre: LiveCentre) -> Iterator[LinkProxy]:
    """A TCP forwarder in front of the server's WebSocket port, on its own loop."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    port = int(live_centre.ws_url.rsplit(":", 1)[1])
    link = LinkProxy(port)
    asyncio.run_coroutine_threadsafe(link.start(), loop).result(10)
    link.loop = loop  # type: ignore[attr-defined]
    yield link
    asyncio.run_coroutine_threadsafe(link.close(), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)
    loop.close()


def test_losing_the_cti_link_shows_the_basic_acd_banner_until_it_is_back(
    qtbot: Any, live_centre: LiveCentre, desktops: list[DesktopController], proxy: LinkProxy
) -> None:
    ctl = _open(qtbot, desktops, _prefs(live_centre, "1005", ws_url=f"ws://127.0.0.1:{proxy.port}"))
    qtbot.waitUntil(lambda: ctl.model.agent.state is AgentState.NOT_READY, timeout=WAIT_MS)
    assert ctl.window.banner_bar.texts() == []
    loop = proxy.loop  # type: ignore[attr-defined]
    proxy.opened = False
    asyncio.run_coroutine_threadsafe(proxy.drop(), loop).result(10)
    qtbot.waitUntil(lambda: ctl.window.link_label.text() == "CTI: offline", timeout=WAIT_MS)
    texts = ctl.window.banner_bar.texts()
    assert any("basic ACD mode, calls still arrive" in t for t in texts), texts
    assert ctl.window.call_bar.offline
    proxy.opened = True
    qtbot.waitUntil(lambda: ctl.window.link_label.text() == "CTI: online", timeout=40_000)
    texts = ctl.window.banner_bar.texts()
    assert not any("calls still arrive" in t for t in texts)
    assert any("back" in t for t in texts), texts
    assert not ctl.window.call_bar.offline
    assert ctl.model.agent.state is AgentState.NOT_READY  # resumed, still logged on


def _left() -> Any:
    from PySide6.QtCore import Qt

    return Qt.MouseButton.LeftButton


def _html_when(qtbot: Any, window: Any, predicate: Any) -> str:
    box: list[str] = []

    def ready() -> bool:
        box.clear()
        window.page.toHtml(box.append)
        qtbot.waitUntil(lambda: bool(box), timeout=WAIT_MS)
        return predicate(box[0]) and window.navigator.state == "loaded"

    qtbot.waitUntil(ready, timeout=WAIT_MS)
    return box[0]


def test_the_web_windows_come_back_where_the_agent_left_them(
    qtbot: Any, live_centre: LiveCentre, desktops: list[DesktopController]
) -> None:
    ctl = _open(qtbot, desktops, _prefs(live_centre, "1006"))
    qtbot.waitUntil(lambda: ctl.model.agent.state is AgentState.NOT_READY, timeout=WAIT_MS)
    ctl.window.standard_panel_requested.emit("notices", "/ui/notices")
    panel = ctl.window.bs_area.panel("notices")
    assert panel is not None
    panel.setGeometry(40, 30, 420, 260)
    ctl.shutdown()
    saved = ctl.prefs
    assert "notices" in saved.panels

    again = _open(qtbot, desktops, saved)
    qtbot.waitUntil(lambda: again.model.agent.state is AgentState.NOT_READY, timeout=WAIT_MS)
    again.window.standard_panel_requested.emit("notices", "/ui/notices")
    reopened = again.window.bs_area.panel("notices")
    assert reopened is not None
    geometry = reopened.normal_geometry()
    assert (geometry.x(), geometry.y(), geometry.width(), geometry.height()) == (40, 30, 420, 260)
