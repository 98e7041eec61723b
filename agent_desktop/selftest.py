"""``agent-desktop --self-test``: proves an installed desktop can run on this machine.

It opens the main window offscreen with the real widgets, loads a web panel (a page
shipped with the desktop, through the same QtWebEngine profile and QWebChannel bridge
the CTI server's pages use, and it must answer a bridge command), starts the softphone's
SIP library and runs its audio loop test, switches to each UI language, then prints one
JSON line with every check and exits 0 only when all passed. No server is needed, so
installers can run it right after installing (issue 10).
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from typing import Any

from shared.config import DesktopSettings

EXIT_FAILED = 1
PAGE_TIMEOUT_S = 60.0


def run_self_test(settings: DesktopSettings, *, language: str = "en") -> int:
    import PySide6.QtWebEngineWidgets  # noqa: F401  (before the QApplication exists)
    from PySide6.QtCore import QEvent, QEventLoop, QTimer, QUrl
    from PySide6.QtWidgets import QApplication

    from agent_desktop.model.prefs import Prefs
    from agent_desktop.resources import resource, translation
    from agent_desktop.ui import i18n
    from agent_desktop.ui.app import DesktopController
    from agent_desktop.web.bs_area import Panel

    app = QApplication.instance() or QApplication([sys.argv[0]])
    assert isinstance(app, QApplication)
    checks: dict[str, Any] = {}
    started = time.monotonic()

    def check(name: str, fn: Callable[[], Any]) -> None:
        try:
            value = fn()
            checks[name] = {"ok": bool(value) if value is not None else True, "value": value}
        except Exception as exc:
            checks[name] = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}

    check("translations", lambda: translation("zh_CN").is_file())
    check("language", lambda: i18n.install(app, language))
    prefs = Prefs.from_settings(settings)
    controller = DesktopController(prefs, password="", parent=None)
    window = controller.window
    window.show()
    check("main_window", lambda: window.isVisible() and window.pane.isVisible())

    page = resource("selftest.html")
    loaded: dict[str, Any] = {}

    def wait(predicate: Callable[[], bool], seconds: float) -> bool:
        loop = QEventLoop()
        deadline = time.monotonic() + seconds
        while not predicate() and time.monotonic() < deadline:
            QTimer.singleShot(20, loop.quit)
            loop.exec()
        return predicate()

    def load_panel() -> bool:
        # A local page opened like a server page; the loader serves file URLs directly.
        web_window = window.bs_area.open_panel(
            Panel(key="selftest", path="/ui/selftest", title_key="selftest")
        )
        view = web_window.view
        view.loadFinished.connect(lambda ok: loaded.setdefault("ok", ok))
        view.setUrl(QUrl.fromLocalFile(str(page)))
        if not wait(lambda: "ok" in loaded, PAGE_TIMEOUT_S) or not loaded["ok"]:
            return False

        def title() -> str:
            return str(view.title())

        # the page sends a ``context`` command through the bridge and puts the answer
        # in its title: the bridge answered when the title says so.
        return wait(lambda: title().startswith("bridge:ok"), PAGE_TIMEOUT_S)

    check("web_panel", load_panel)

    def phone() -> dict[str, Any]:
        result = controller.softphone.test_call()
        if result.code not in ("ok", "no_device"):
            raise RuntimeError(f"audio loop test: {result.code} ({result.detail})")
        return {"audio_loop": result.code, "detail": result.detail}

    check("softphone", phone)
    controller.shutdown()
    window.close()
    window.deleteLater()
    QApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)  # pages before profile
    ok = all(c["ok"] for c in checks.values())
    print(
        json.dumps(
            {
                "self_test": "passed" if ok else "failed",
                "seconds": round(time.monotonic() - started, 2),
                "checks": checks,
            },
            ensure_ascii=False,
            default=str,
        )
    )
    return 0 if ok else EXIT_FAILED
