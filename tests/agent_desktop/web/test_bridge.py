"""The page bridge: typed commands from real QtWebEngine pages to the desktop.

Pages are local HTML (``setHtml`` with a ``qrc:`` base, so Qt's ``qwebchannel.js`` may
load) talking to a real ``QWebChannel``; answers are read back with ``runJavaScript``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import shiboken6

pytest.importorskip("PySide6.QtWebEngineCore")

from PySide6.QtCore import QUrl
from PySide6.QtWebEngineCore import QWebEnginePage, QWebEngineProfile
from pytestqt.qtbot import QtBot

from agent_desktop.web.bridge import DesktopBridge
from agent_desktop.web.commands import (
    BridgeError,
    BridgeErrorCode,
    CloseWork,
    Context,
    Dial,
    OpenPanel,
    decode_command,
)
from agent_desktop.web.profile import create_panel_profile

RAW_PAGE = """<!DOCTYPE html><html><head><title>raw</title>
<script src="qrc:///qtwebchannel/qwebchannel.js"></script></head><body><script>
window.answers = []; window.contexts = [];
new QWebChannel(qt.webChannelTransport, function (channel) {
  window.api = channel.objects.opencc;
  api.contextChanged.connect(function (text) { contexts.push(JSON.parse(text)); });
  window.channelUp = true;
});
function send(text) { api.command(text, function (a) { answers.push(JSON.parse(a)); }); }
</script></body></html>"""


def run_js(qtbot: QtBot, page: QWebEnginePage, expression: str) -> Any:
    """The value of a JavaScript expression in the page (through JSON)."""
    box: list[Any] = []
    page.runJavaScript(f"JSON.stringify(({expression}) ?? null)", 0, box.append)
    qtbot.waitUntil(lambda: bool(box), timeout=5000)
    return json.loads(box[0])


def exec_js(qtbot: QtBot, page: QWebEnginePage, statements: str) -> None:
    run_js(qtbot, page, f"(function () {{ {statements}; return true; }})()")


def wait_js(qtbot: QtBot, page: QWebEnginePage, script: str) -> Any:
    """Poll ``script`` until it is truthy; its value."""
    seen: list[Any] = []

    def check() -> bool:
        value = run_js(qtbot, page, script)
        seen[:] = [value]
        return bool(value)

    qtbot.waitUntil(check, timeout=8000)
    return seen[0]


class Spy:
    """Records every Python-side signal of the bridge."""

    def __init__(self, bridge: DesktopBridge) -> None:
        self.calls: list[tuple[str, tuple[str, ...]]] = []
        bridge.dial_requested.connect(lambda n: self.calls.append(("dial", (n,))))
        bridge.open_panel_requested.connect(lambda k, p: self.calls.append(("open", (k, p))))
        bridge.close_work_requested.connect(lambda c, n, g: self.calls.append(("close", (c, n, g))))


@pytest.fixture
def raw_profile(qapp: Any) -> Iterator[QWebEngineProfile]:
    profile = QWebEngineProfile()  # off the record, no injected scripts
    yield profile
    shiboken6.delete(profile)


@pytest.fixture
def raw_page(
    qtbot: QtBot, raw_profile: QWebEngineProfile
) -> Iterator[tuple[QWebEnginePage, DesktopBridge]]:
    bridge = DesktopBridge()
    page = QWebEnginePage(raw_profile)
    bridge.attach(page)
    with qtbot.waitSignal(page.loadFinished, timeout=10000):
        page.setHtml(RAW_PAGE, QUrl("qrc:///opencc/test.html"))
    wait_js(qtbot, page, "window.channelUp === true")
    yield page, bridge
    shiboken6.delete(page)
    shiboken6.delete(bridge)


def send(qtbot: QtBot, page: QWebEnginePage, command: object) -> dict[str, Any]:
    before = run_js(qtbot, page, "answers.length")
    text = command if isinstance(command, str) else json.dumps(command)
    exec_js(qtbot, page, f"send({json.dumps(text)})")
    wait_js(qtbot, page, f"answers.length > {before}")
    answer: dict[str, Any] = run_js(qtbot, page, f"answers[{before}]")
    return answer


def test_valid_dial_from_a_page_fires_the_signal_with_the_number(
    qtbot: QtBot, raw_page: tuple[QWebEnginePage, DesktopBridge]
) -> None:
    page, bridge = raw_page
    spy = Spy(bridge)
    with qtbot.waitSignal(bridge.dial_requested, timeout=5000) as blocker:
        exec_js(qtbot, page, """send('{"type": "dial", "number": "+8610086*1#"}')""")
    assert blocker.args == ["+8610086*1#"]
    wait_js(qtbot, page, "answers.length === 1")
    assert run_js(qtbot, page, "answers[0]") == {"ok": True}
    assert spy.calls == [("dial", ("+8610086*1#",))]


@pytest.mark.parametrize(
    ("command", "code"),
    [
        ("{not json", "bad_json"),
        ("[1, 2]", "bad_json"),
        ({"type": "format_disk"}, "unknown_command"),
        ({"number": "123"}, "unknown_command"),
        ({"type": "dial"}, "missing_field"),
        ({"type": "dial", "number": "123; rm -rf"}, "invalid_field"),
        ({"type": "dial", "number": "1" * 33}, "invalid_field"),
        ({"type": "dial", "number": "123", "extra": 1}, "invalid_field"),
        ({"type": "open_panel", "key": "x", "path": "https://evil.example/"}, "invalid_field"),
        ({"type": "open_panel", "key": "x", "path": "/ui/../api/agents"}, "invalid_field"),
        ({"type": "close_work", "notes": "no call id"}, "missing_field"),
    ],
)
def test_bad_commands_get_a_typed_error_and_do_nothing(
    qtbot: QtBot,
    raw_page: tuple[QWebEnginePage, DesktopBridge],
    command: object,
    code: str,
) -> None:
    page, bridge = raw_page
    spy = Spy(bridge)
    answer = send(qtbot, page, command)
    assert answer["ok"] is False
    assert answer["error"]["code"] == code
    assert answer["error"]["message"]
    qtbot.wait(50)
    assert spy.calls == []


def test_open_panel_and_close_work_reach_the_controller(
    qtbot: QtBot, raw_page: tuple[QWebEnginePage, DesktopBridge]
) -> None:
    page, bridge = raw_page
    spy = Spy(bridge)
    assert send(qtbot, page, {"type": "open_panel", "key": "kb", "path": "/ui/kb?q=宽带"}) == {
        "ok": True
    }
    answer = send(
        qtbot,
        page,
        {
            "type": "close_work",
            "call_id": "c-17",
            "notes": "资费咨询",
            "category": "inquiry.tariff",
        },
    )
    assert answer == {"ok": True}
    assert spy.calls == [
        ("open", ("kb", "/ui/kb?q=宽带")),
        ("close", ("c-17", "资费咨询", "inquiry.tariff")),
    ]


def test_a_command_nobody_handles_is_unavailable(
    qtbot: QtBot, raw_page: tuple[QWebEnginePage, DesktopBridge]
) -> None:
    page, _bridge = raw_page
    answer = send(qtbot, page, {"type": "dial", "number": "10086"})
    assert answer["error"]["code"] == "unavailable"


def test_context_is_pushed_to_the_page_and_readable(
    qtbot: QtBot, raw_page: tuple[QWebEnginePage, DesktopBridge]
) -> None:
    page, bridge = raw_page
    assert send(qtbot, page, {"type": "context"}) == {"ok": True, "context": None}
    bridge.set_context(
        {
            "call_id": "c-9",
            "caller": "13800138000",
            "customer_id": "C0001",
            "tier": "gold",
            "business_selection": "broadband",
        }
    )
    pushed = wait_js(qtbot, page, "contexts.length === 1 && contexts[0]")
    expected = {
        "call_id": "c-9",
        "caller": "13800138000",
        "customer_id": "C0001",
        "tier": "gold",
        "business_selection": "broadband",
    }
    assert pushed == expected
    assert send(qtbot, page, {"type": "context"}) == {"ok": True, "context": expected}
    with pytest.raises(BridgeError) as bad:
        bridge.set_context({"caller": "123"})  # no call id
    assert bad.value.code is BridgeErrorCode.MISSING_FIELD
    assert send(qtbot, page, {"type": "context"})["context"] == expected  # unchanged
    bridge.set_context(None)
    assert wait_js(qtbot, page, "contexts.length === 2") is True
    assert run_js(qtbot, page, "contexts[1]") is None


def test_pages_cannot_delete_or_see_the_controller_side(
    qtbot: QtBot, raw_page: tuple[QWebEnginePage, DesktopBridge]
) -> None:
    page, bridge = raw_page
    names = run_js(qtbot, page, "Object.keys(api)")
    assert "command" in names and "contextChanged" in names
    assert "dial_requested" not in names and "close_work_requested" not in names
    exec_js(qtbot, page, "api.deleteLater()")
    qtbot.wait(100)
    Spy(bridge)
    assert send(qtbot, page, {"type": "dial", "number": "10000"}) == {"ok": True}


def test_profile_pages_get_the_opencc_wrapper(qtbot: QtBot, qapp: Any) -> None:
    profile = create_panel_profile()
    bridge = DesktopBridge()
    spy = Spy(bridge)
    page = QWebEnginePage(profile)
    bridge.attach(page)
    try:
        html = "<html><head><title>w</title></head><body>panel</body></html>"
        with qtbot.waitSignal(page.loadFinished, timeout=10000):
            page.setHtml(html, QUrl("http://127.0.0.1:9/ui/kb"))
        assert wait_js(qtbot, page, "typeof window.opencc === 'object'") is True
        exec_js(
            qtbot,
            page,
            "window.got = []; opencc.onContext(function (c) { got.push(c); });"
            "opencc.dial('95598').then(function (r) { window.dialled = r; })",
        )
        assert wait_js(qtbot, page, "window.dialled") == {"ok": True}
        assert spy.calls == [("dial", ("95598",))]
        exec_js(qtbot, page, "opencc.dial('abc').then(function (r) { window.refused = r; })")
        refused = wait_js(qtbot, page, "window.refused")
        assert refused["error"]["code"] == "invalid_field"
        bridge.set_context({"call_id": "c-1", "caller": "95598"})
        assert wait_js(qtbot, page, "got.length === 1 && got[0].call_id") == "c-1"
        exec_js(qtbot, page, "opencc.context().then(function (c) { window.ctx = c; })")
        assert wait_js(qtbot, page, "window.ctx")["caller"] == "95598"
        assert spy.calls == [("dial", ("95598",))]
    finally:
        shiboken6.delete(page)
        shiboken6.delete(bridge)
        shiboken6.delete(profile)


@pytest.mark.parametrize(
    ("text", "command"),
    [
        ('{"type": "dial", "number": "*86#"}', Dial(number="*86#")),
        ('{"type": "context"}', Context()),
        (
            '{"type": "open_panel", "key": "kb", "path": "/ui/kb"}',
            OpenPanel(key="kb", path="/ui/kb"),
        ),
        ('{"type": "close_work", "call_id": "c1"}', CloseWork(call_id="c1")),
    ],
)
def test_decoder_gives_typed_commands(text: str, command: object) -> None:
    assert decode_command(text) == command


def test_decoder_refuses_oversized_and_non_text_input() -> None:
    with pytest.raises(BridgeError) as big:
        decode_command('{"type": "dial", "number": "1", "pad": "' + "x" * 20000 + '"}')
    assert big.value.code is BridgeErrorCode.TOO_LARGE
    with pytest.raises(BridgeError) as surrogate:
        decode_command('{"type": "dial", "number": "\ud800"}')
    assert surrogate.value.code is BridgeErrorCode.BAD_JSON
    with pytest.raises(BridgeError) as encoded:
        decode_command('{"type": "open_panel", "key": "k", "path": "/ui/%2e%2e/api"}')
    assert encoded.value.code is BridgeErrorCode.INVALID_FIELD
