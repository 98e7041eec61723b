"""What the agent feels on the desktop: latencies of a call's steps and the desktop's CPU.

    .venv/bin/python -m bench.bench_desktop [--calls 10] [--no-write]

A real CTI server and switch (processes, demo data), the real desktop controller
offscreen (pjsua2 softphone with in-memory audio, QtWebEngine windows) as agent 1003,
and SIP callers (customers of the agent's region) that pick technical support. Per
call it measures, on the desktop's clock:

* **ring → pane**: ``call.delivered`` folded → the customer pane filled from the web
  side (pane JSON over the shared web session);
* **answer → established**: the agent clicks Answer (the softphone sends 200 OK) →
  ``call.established`` from the CTI server (switch bridge + CTI round trip);
* **screen pop**: ``call.established`` → every screen-pop window finished loading;
* **release → ACW**: Release clicked → the agent in after-call work on the desktop.

CPU is the desktop process (all its threads: Qt, pjsua2 media, the CTI link) plus its
QtWebEngine helper processes, per second of wall time, idle-registered and in a call
with audio both ways. Linux only (reads /proc). Results go to docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from bench._report import write_section

ROOT = Path(__file__).resolve().parents[1]
AGENT = "1003"


def _support() -> Any:
    spec = importlib.util.spec_from_file_location(
        "opencc_e2e_support", ROOT / "tests" / "e2e" / "e2e_support.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _cpu_seconds(pid: int) -> float:
    """User + system CPU of ``pid`` and its QtWebEngine children (clock ticks → s)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ppid, utime, stime = int(stat[1]), int(stat[11]), int(stat[12])
        if int(entry) == pid or ppid == pid:
            total += (utime + stime) / tick
    return total


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def run(calls: int) -> dict[str, Any]:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from agent_desktop.__main__ import prepare_qt_environment

    prepare_qt_environment(offscreen=True)
    import PySide6.QtWebEngineWidgets  # noqa: F401
    import sqlalchemy as sa
    from PySide6.QtCore import QEventLoop, QTimer
    from PySide6.QtWidgets import QApplication

    from agent_desktop.model.prefs import Prefs
    from agent_desktop.model.state import CallPhase
    from agent_desktop.softphone import pcm
    from agent_desktop.softphone.audio import BufferBackend
    from agent_desktop.ui.app import DesktopController
    from cti_server.store import make_engine
    from cti_server.store.models import Customer, CustomerNumber
    from shared.protocol.agent import AgentState

    support = _support()
    _app = QApplication.instance() or QApplication(["bench-desktop"])
    loop = asyncio.new_event_loop()
    threading.Thread(target=loop.run_forever, daemon=True).start()

    def bg(coro: Any, timeout: float = 60.0) -> Any:
        future = asyncio.run_coroutine_threadsafe(coro, loop)
        wait(future.done, timeout)
        return future.result()

    def wait(predicate: Any, seconds: float, what: str = "") -> float:
        start = time.perf_counter()
        idle = QEventLoop()
        while not predicate():
            if time.perf_counter() - start > seconds:
                raise SystemExit(f"bench_desktop: timed out after {seconds} s: {what}")
            QTimer.singleShot(2, idle.quit)
            idle.exec()
        return time.perf_counter()

    def pause(seconds: float) -> None:
        idle = QEventLoop()
        QTimer.singleShot(int(seconds * 1000), idle.quit)
        idle.exec()

    tmp = Path(tempfile.mkdtemp(prefix="bench-desktop-"))
    ws, http, sip = support.free_port(), support.free_port(), support.free_port()
    server = support.LoggedProcess(
        "cti-server",
        "cti_server",
        [
            "--demo",
            "--set",
            f"server.ws_port={ws}",
            "--set",
            f"server.http_port={http}",
            "--set",
            f"paths.data_dir={tmp / 'cti'}",
        ],
    )
    switch = support.LoggedProcess(
        "switch",
        "cti_server.switch",
        [
            "--demo",
            "--set",
            f"switch.sip_port={sip}",
            "--set",
            "switch.rtpengine_ng=127.0.0.1:0",
            "--set",
            f"switch.cti_url=ws://127.0.0.1:{ws}",
            "--set",
            f"paths.data_dir={tmp / 'sw'}",
        ],
    )

    async def up() -> None:
        await asyncio.gather(server.start(), switch.start())
        await server.wait_for(r"HTTP side ready", timeout=60)
        await switch.wait_for(r"CTI mode: the CTI link", timeout=60)

    bg(up(), 120)
    engine = make_engine(f"sqlite:///{tmp / 'cti' / 'opencc.sqlite3'}")
    with engine.connect() as conn:
        numbers = list(
            conn.scalars(
                sa.select(CustomerNumber.number)
                .join(Customer, Customer.id == CustomerNumber.customer_id)
                .where(
                    Customer.region == "上海",
                    Customer.tier_id == "normal",
                    Customer.blacklisted.is_(False),
                )
                .order_by(Customer.id)
                .limit(calls)
            )
        )
    engine.dispose()
    backend = BufferBackend()
    prefs = Prefs(
        server_url=f"ws://127.0.0.1:{ws}",
        web_url=f"http://127.0.0.1:{http}",
        sip_registrar=f"127.0.0.1:{sip}",
        agent_id=AGENT,
    )
    ctl = DesktopController(prefs, "demo", audio_backend=backend)
    window, model = ctl.window, ctl.model
    ctl.start()
    window.show()
    results: dict[str, list[float]] = {"pane": [], "answer": [], "pop": [], "release": []}
    cpu: dict[str, float] = {}
    pid = os.getpid()
    rang: dict[str, float] = {}
    """When each call's ``call.delivered`` was folded (the model's listener)."""
    pane_shown: list[float] = []

    def on_change(change: Any) -> None:
        view = model.calls.get(change.call_id or "")
        if view is not None and view.phase is CallPhase.OFFERED:
            rang.setdefault(view.call_id, time.perf_counter())

    model.subscribe(on_change)
    show_customer = window.pane.show_customer

    def timed_show_customer(pane: Any) -> None:
        pane_shown.append(time.perf_counter())
        show_customer(pane)

    window.pane.show_customer = timed_show_customer  # type: ignore[method-assign]

    def one_call(index: int, number: str) -> None:
        window.state_bar.ready_button.click()
        wait(lambda: model.agent.state is AgentState.READY, 20, "ready")
        caller = bg(support.Phone.open(number))
        bg(caller.call(("127.0.0.1", sip)))

        def offered() -> bool:
            return any(c.phase is CallPhase.OFFERED for c in model.calls.values())

        for _ in range(30):
            if offered():
                break
            bg(caller.press("2"))
            pause(0.5)
        wait(offered, 20, "the call rings")
        call_id = next(c.call_id for c in model.calls.values() if c.phase is CallPhase.OFFERED)
        wait(lambda: bool(pane_shown) and pane_shown[-1] > rang[call_id], 20, "pane")
        results["pane"].append(pane_shown[-1] - rang[call_id])
        wait(lambda: call_id in ctl._sip_calls, 20, "the INVITE")
        clicked = time.perf_counter()
        window.call_bar.answer_button.click()
        established = wait(
            lambda: model.calls[call_id].phase is CallPhase.ESTABLISHED, 20, "established"
        )
        results["answer"].append(established - clicked)

        def popped() -> bool:
            wins = window.bs_area.windows()
            return bool(wins) and all(w.navigator.state == "loaded" for w in wins)

        results["pop"].append(wait(popped, 30, "screen pop") - established)
        if index == 0:  # CPU in a call with audio both ways
            c0, t0 = _cpu_seconds(pid), time.perf_counter()
            backend.send(pcm.tone(600.0, 10.0, backend.rate))
            sending = asyncio.run_coroutine_threadsafe(
                caller.media.send(caller.media.tone_packets(1000.0, 10.0), interval=0.02), loop
            )
            wait(sending.done, 30, "audio")
            cpu["call"] = (_cpu_seconds(pid) - c0) / (time.perf_counter() - t0)
        clicked = time.perf_counter()
        window.call_bar.release_button.click()
        done = wait(lambda: model.agent.state is AgentState.WORK_NOT_READY, 20, "ACW")
        results["release"].append(done - clicked)
        window.state_bar.end_acw_button.click()
        wait(lambda: model.agent.state is not AgentState.WORK_NOT_READY, 20, "end ACW")
        window.bs_area.close_all()
        bg(caller.close())

    try:
        wait(
            lambda: ctl.softphone.registered and window.state_bar.ready_button.isEnabled(),
            30,
            "log-on",
        )
        c0, t0 = _cpu_seconds(pid), time.perf_counter()
        pause(10.0)
        cpu["idle"] = (_cpu_seconds(pid) - c0) / (time.perf_counter() - t0)
        for index, number in enumerate(numbers):
            one_call(index, number)
    finally:
        ctl.shutdown()

        async def down() -> None:
            await switch.stop()
            await server.stop()

        bg(down(), 60)
    return {"results": results, "cpu": cpu, "calls": len(numbers)}


def report(data: dict[str, Any]) -> str:
    rows = {
        "pane": "ring → customer pane filled",
        "answer": "Answer clicked → call established (CTI)",
        "pop": "established → screen-pop windows loaded",
        "release": "Release clicked → after-call work",
    }
    lines = [
        f"{data['calls']} calls, one after another, to the desktop's agent (ms):",
        "",
        "| step | median | p90 | max |",
        "| --- | ---: | ---: | ---: |",
    ]
    for key, label in rows.items():
        values = [v * 1000 for v in data["results"][key]]
        lines.append(
            f"| {label} | {statistics.median(values):.0f} | {_pct(values, 0.9):.0f} "
            f"| {max(values):.0f} |"
        )
    cpu = data["cpu"]
    lines += [
        "",
        "Desktop CPU (process and its QtWebEngine helpers, % of one core): "
        f"idle and registered {cpu['idle'] * 100:.1f} %, in a call with audio both ways "
        f"{cpu['call'] * 100:.1f} %.",
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=10)
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args()
    data = run(args.calls)
    text = report(data)
    print(text)
    if not args.no_write:
        write_section("desktop", "Agent desktop: call steps and CPU", text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
