"""Screenshots of the agent desktop for reviewers: the agent view during a real call and
the team-lead view, in English and Simplified Chinese (docs/screenshots/*.png).

    .venv/bin/python docs/screenshots.py            # all four (about a minute)
    .venv/bin/python docs/screenshots.py --lang zh_CN

Nothing is staged: a real CTI server and a real switch run as processes (demo data), a
SIP caller (customer C000003, 13700137000) calls and picks technical support, the
desktop's pjsua2 softphone answers, the screen-pop windows load from the server's web
side; agents 1004..1006 are logged on (one ready, two not ready) so the team lead's
grid and wallboard have something to show. Each language runs in its own process (Qt
translators are installed before the widgets are built). Offscreen rendering; needs
rtpengine (scripts/debian-packages.txt).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "screenshots"
LANGUAGES = ("en", "zh_CN")


def shoot(language: str, out: Path) -> None:
    import asyncio
    import shutil
    import tempfile
    import threading

    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from agent_desktop.__main__ import prepare_qt_environment

    prepare_qt_environment(offscreen=True)
    import PySide6.QtWebEngineWidgets  # noqa: F401
    from PySide6.QtCore import QEventLoop, QTimer
    from PySide6.QtWidgets import QApplication

    from agent_desktop.model.prefs import Prefs
    from agent_desktop.model.state import CallPhase
    from agent_desktop.softphone.audio import BufferBackend
    from agent_desktop.ui import i18n
    from agent_desktop.ui.app import DesktopController
    from shared.protocol.agent import AgentLogin, AgentSetNotReady
    support = _e2e_support()
    LoggedProcess, Phone = support.LoggedProcess, support.Phone
    free_port, login_desktop = support.free_port, support.login_desktop
    from shared.cti_client import CtiClient
    from shared.protocol.handshake import ClientKind, PasswordCredentials

    app = QApplication.instance() or QApplication(["opencc-screenshots"])
    assert isinstance(app, QApplication)
    i18n.apply_font(app)
    i18n.install(app, language)
    loop = asyncio.new_event_loop()
    threading.Thread(target=loop.run_forever, daemon=True).start()

    def run(coro: Any, timeout: float = 60.0) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, loop).result(timeout)

    def wait(predicate: Any, seconds: float, what: str) -> None:
        idle = QEventLoop()
        for _ in range(int(seconds * 20)):
            if predicate():
                return
            QTimer.singleShot(50, idle.quit)
            idle.exec()
        raise SystemExit(f"screenshots: timed out waiting for {what}")

    def pause(seconds: float) -> None:
        idle = QEventLoop()
        QTimer.singleShot(int(seconds * 1000), idle.quit)
        idle.exec()

    tmp = Path(tempfile.mkdtemp(prefix=f"opencc-shots-{language}-"))
    ws, http, sip = free_port(), free_port(), free_port()
    users = tmp / "sip_users.toml"
    users.write_text('"9001" = "demo"\n', encoding="utf-8")
    server = LoggedProcess(
        "cti-server",
        "cti_server",
        ["--demo", "--set", f"server.ws_port={ws}", "--set", f"server.http_port={http}",
         "--set", f"paths.data_dir={tmp / 'cti'}"],
    )
    switch = LoggedProcess(
        "switch",
        "cti_server.switch",
        ["--demo", "--sip-users", str(users), "--set", f"switch.sip_port={sip}",
         "--set", "switch.rtpengine_ng=127.0.0.1:0", "--set", f"switch.cti_url=ws://127.0.0.1:{ws}",
         "--set", f"paths.data_dir={tmp / 'switch'}"],
    )
    clients: list[CtiClient] = []
    caller: Any = None

    async def up() -> None:
        await asyncio.gather(server.start(), switch.start())
        await server.wait_for(r"HTTP side ready", timeout=60)
        await switch.wait_for(r"CTI mode: the CTI link", timeout=60)
        clients.append(await login_desktop(f"ws://127.0.0.1:{ws}", "1004"))
        for agent, reason in (("1005", "break"), ("1006", "training")):
            client = CtiClient(
                f"ws://127.0.0.1:{ws}",
                PasswordCredentials(user_id=agent, password="demo"),
                ClientKind.DESKTOP,
                heartbeat=False,
            )
            await client.open()
            await client.request(AgentLogin(id=0, extension=agent, initial_state="not_ready"))
            try:
                await client.request(AgentSetNotReady(id=0, reason_code=reason))
            except Exception:  # an unknown reason code keeps the default one
                pass
            clients.append(client)

    run(up(), 120)

    def prefs(agent: str) -> Prefs:
        return Prefs(
            server_url=f"ws://127.0.0.1:{ws}",
            web_url=f"http://127.0.0.1:{http}",
            sip_registrar=f"127.0.0.1:{sip}",
            agent_id=agent,
            language="zh_CN" if language == "zh_CN" else "en",
        )

    agent = DesktopController(prefs("1003"), "demo", audio_backend=BufferBackend())
    lead = DesktopController(prefs("9001"), "demo", audio_backend=BufferBackend())
    try:
        for ctl in (agent, lead):
            ctl.start()
            ctl.window.resize(1440, 900)
            ctl.window.show()
        wait(lambda: agent.softphone.registered, 20, "the softphone to register")
        wait(lambda: agent.window.state_bar.ready_button.isEnabled(), 20, "the agent to log on")
        agent.window.state_bar.ready_button.click()
        caller = run(Phone.open("19138511463"))
        run(caller.call(("127.0.0.1", sip)))
        for _ in range(20):
            if agent.model.calls:
                break
            run(caller.press("2"))
            pause(1.0)
        wait(lambda: any(c.phase is CallPhase.OFFERED for c in agent.model.calls.values()), 20,
             "the call to ring")
        agent.window.call_bar.answer_button.click()
        wait(lambda: any(c.phase is CallPhase.ESTABLISHED for c in agent.model.calls.values()), 20,
             "the answer")
        wait(lambda: agent.window.pane.pane is not None, 20, "the customer pane")
        pause(6.0)  # the screen-pop pages load and the call timer runs a little
        agent.window.bs_area.tile()
        pause(1.5)
        agent.window.grab().save(str(out / f"agent_{language}.png"))

        wait(lambda: lead.window.team_lead_shown, 20, "the team-lead tab")
        lead.window.tabs.setCurrentWidget(lead.window.team_lead)
        pause(4.0)  # a few rounds of statistics
        lead.window.grab().save(str(out / f"team_lead_{language}.png"))
        lead.window.team_lead.tabs.setCurrentIndex(1)
        lead.window.team_lead.agents_grid.select_agent("1003")  # its actions enabled
        pause(1.0)
        lead.window.grab().save(str(out / f"team_lead_agents_{language}.png"))
    finally:
        for ctl in (agent, lead):
            ctl.shutdown()

        async def down() -> None:
            for client in clients:
                await client.close()
            if caller is not None:
                await caller.close()
            await switch.stop()
            await server.stop()

        run(down(), 60)
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"screenshots ({language}) written to {out}")


def _e2e_support() -> Any:
    """The end-to-end tests' real processes and SIP phones (tests/e2e/e2e_support.py),
    loaded by path: an unrelated ``tests`` package may be installed in site-packages."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "opencc_e2e_support", ROOT / "tests" / "e2e" / "e2e_support.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lang", choices=LANGUAGES, default=None)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    if args.lang is not None:
        shoot(args.lang, args.out)
        return 0
    for language in LANGUAGES:
        code = subprocess.run(
            [sys.executable, __file__, "--lang", language, "--out", str(args.out)],
            cwd=ROOT,
            check=False,
        ).returncode
        if code:
            return code
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
