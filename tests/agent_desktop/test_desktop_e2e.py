"""The Qt agent desktop end to end (issue 7 "Must show"; R-IN-5..8): a real CTI server
process and a real switch process (rtpengine); the desktop under test is the real
:class:`DesktopController` (main window offscreen, pjsua2 softphone registered to the
switch, QtWebEngine windows signed in over the CTI link); the caller and a second agent
are SIP endpoints with RTP we own, the second agent's desktop speaks the CTI protocol.

a normal-tier customer of the agent's region (上海) → IVR, key 2 → the desktop's softphone rings and
its toast shows the customer → the agent clicks Answer → audio both ways → the customer
pane and the screen-pop windows (call trajectory, contact history) show that customer →
Hold (the caller hears music) / Retrieve → transfer to agent 1004 (caller and 1004 talk)
→ the desktop is in after-call work and saves its notes → 1004 releases → the contact
record holds the notes.

The processes and phones run on an asyncio loop in a thread: the test thread belongs to
Qt (``qtbot``)."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from PySide6.QtCore import Qt

from agent_desktop.model.prefs import Prefs
from agent_desktop.model.state import CallPhase
from agent_desktop.softphone import pcm
from agent_desktop.softphone.audio import BufferBackend
from agent_desktop.ui.app import DesktopController
from cti_server.store import make_engine
from cti_server.store.models import ContactRecord, Customer, CustomerNumber
from cti_server.switch.media.process import RtpEngineNotFoundError, resolve_binary
from shared.cti_client import CtiClient
from shared.protocol.agent import (
    AgentEndAfterCallWork,
    AgentNotReady,
    AgentSetNotReady,
    AgentSetReady,
    AgentState,
    AgentWorkNotReady,
)
from shared.protocol.call import AgentDestination, CallEstablished, CallRelease
from shared.protocol.errors import ProtocolError
from tests.e2e.e2e_support import (
    LoggedProcess,
    Phone,
    exchange_tones,
    expect,
    free_port,
    heard_level,
    hears_moh,
    ready_desktop,
    tone_level,
)

pytestmark = pytest.mark.slow

AGENT = "1003"
"""The desktop under test (level 1 of the general group: IVR key 2 reaches it)."""
OTHER = "1004"
REGION = "上海"
"""The desktop agent's region: it sees only that region's customers (R-BIZ-4)."""
SUPPORT = "2"
WAIT_MS = 20_000


class BackgroundLoop:
    """An asyncio loop in a daemon thread; :meth:`run` waits for a coroutine's result."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="e2e-loop", daemon=True)
        self.thread.start()

    def run[T](self, coro: Coroutine[Any, Any, T], timeout: float = 60.0) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def gui_run[T](self, qtbot: Any, coro: Coroutine[Any, Any, T], timeout: float = 30.0) -> T:
        """:meth:`run` while Qt keeps running (the softphone's audio and SIP are pumped
        by the GUI thread's timers)."""
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        qtbot.waitUntil(future.done, timeout=int(timeout * 1000))
        return future.result()

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@dataclass
class Centre:
    bg: BackgroundLoop
    ws_url: str
    web_url: str
    sip: tuple[str, int]
    db: Path
    server: LoggedProcess
    switch: LoggedProcess
    other_phone: Phone
    other_desk: CtiClient
    callers: list[Phone] = field(default_factory=list)


@pytest.fixture(scope="module")
def centre(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Centre]:
    try:
        resolve_binary(None)
    except RtpEngineNotFoundError as exc:
        pytest.skip(f"rtpengine not installed: {exc}")
    tmp = tmp_path_factory.mktemp("desktop_e2e")
    ws_port, http_port, sip_port = free_port(), free_port(), free_port()
    server = LoggedProcess(
        "cti-server",
        "cti_server",
        [
            "--demo",
            "--set",
            f"server.ws_port={ws_port}",
            "--set",
            f"server.http_port={http_port}",
            "--set",
            f"paths.data_dir={tmp / 'cti'}",
        ],
    )
    switch = LoggedProcess(
        "switch",
        "cti_server.switch",
        [
            "--demo",
            "--switch-id",
            "sw-e2e-desktop",
            "--set",
            f"switch.sip_port={sip_port}",
            "--set",
            "switch.rtpengine_ng=127.0.0.1:0",
            "--set",
            f"switch.cti_url=ws://127.0.0.1:{ws_port}",
            "--set",
            f"paths.data_dir={tmp / 'switch'}",
        ],
    )
    bg = BackgroundLoop()
    sip = ("127.0.0.1", sip_port)
    ws_url = f"ws://127.0.0.1:{ws_port}"

    async def up() -> tuple[Phone, CtiClient]:
        await asyncio.gather(server.start(), switch.start())
        await server.wait_for(r"HTTP side ready", timeout=60)
        await switch.wait_for(r"switch ready on sip:", timeout=30)
        await switch.wait_for(r"CTI mode: the CTI link", timeout=30)
        phone = await Phone.open(OTHER)
        assert await phone.register(sip, "demo") == 200
        desk = await ready_desktop(ws_url, OTHER)
        # Not ready until the transfer, so that the caller reaches the desktop under test.
        await desk.request(AgentSetNotReady(id=0, reason_code="backoffice"))
        await expect(desk, AgentNotReady)
        return phone, desk

    other_phone, other_desk = bg.run(up(), 120)
    cc = Centre(
        bg=bg,
        ws_url=ws_url,
        web_url=f"http://127.0.0.1:{http_port}",
        sip=sip,
        db=tmp / "cti" / "opencc.sqlite3",
        server=server,
        switch=switch,
        other_phone=other_phone,
        other_desk=other_desk,
    )
    try:
        yield cc
    finally:

        async def down() -> tuple[int | None, int | None]:
            await other_desk.close()
            codes = (await switch.stop(), await server.stop())
            for phone in [other_phone, *cc.callers]:
                await phone.close()
            return codes

        switch_code, server_code = bg.run(down(), 60)
        bg.close()
        for proc in (server, switch):
            (tmp / f"{proc.name}.log").write_text("".join(proc.lines), encoding="utf-8")
        assert "Traceback" not in "".join(server.lines), server.tail()
        assert "Traceback" not in "".join(switch.lines), switch.tail()
        assert (switch_code, server_code) == (0, 0)


def _customer(db: Path) -> tuple[str, str, str]:
    """A normal-tier demo customer of the agent's region: (id, name, number)."""
    engine = make_engine(f"sqlite:///{db}")
    try:
        with engine.connect() as conn:
            row = conn.execute(
                sa.select(Customer.id, Customer.name, CustomerNumber.number)
                .join(CustomerNumber, CustomerNumber.customer_id == Customer.id)
                .where(
                    Customer.region == REGION,
                    Customer.tier_id == "normal",
                    Customer.blacklisted.is_(False),
                )
                .order_by(Customer.id)
                .limit(1)
            ).one()
        return str(row[0]), str(row[1]), str(row[2])
    finally:
        engine.dispose()


def _contact(db: Path, call_id: str, agent_id: str) -> tuple[str, str] | None:
    engine = make_engine(f"sqlite:///{db}")
    try:
        with engine.connect() as conn:
            row = conn.execute(
                sa.select(ContactRecord.summary, ContactRecord.customer_id).where(
                    ContactRecord.call_id == call_id, ContactRecord.agent_id == agent_id
                )
            ).first()
        return None if row is None else (str(row[0]), str(row[1]))
    finally:
        engine.dispose()


def _heard(backend: BufferBackend, seconds: float, qtbot: Any) -> float:
    """The dominant frequency of what the desktop's speaker got in ``seconds``."""
    backend.received.clear()
    qtbot.wait(int(seconds * 1000))
    data = bytes(backend.received)
    return pcm.dominant_frequency(data, backend.rate) if len(data) > 3200 else 0.0


def test_a_call_through_the_desktop(qtbot: Any, centre: Centre, tmp_path: Path) -> None:
    cc = centre
    customer = _customer(cc.db)
    backend = BufferBackend()
    prefs = Prefs(
        server_url=cc.ws_url,
        web_url=cc.web_url,
        sip_registrar=f"{cc.sip[0]}:{cc.sip[1]}",
        agent_id=AGENT,
        language="en",
    )
    ctl = DesktopController(prefs, "demo", audio_backend=backend, web_storage=None)
    window = ctl.window
    qtbot.addWidget(window)
    ctl.start()
    window.show()
    try:
        _run_call(qtbot, cc, ctl, backend, customer)
    finally:
        ctl.shutdown()
        window.close()


def _run_call(
    qtbot: Any,
    cc: Centre,
    ctl: DesktopController,
    backend: BufferBackend,
    customer: tuple[str, str, str],
) -> None:
    window, model = ctl.window, ctl.model
    customer_id, name, number = customer

    # Logged on (not ready) with the softphone registered; the agent clicks Ready.
    qtbot.waitUntil(lambda: ctl.softphone.registered, timeout=WAIT_MS)
    qtbot.waitUntil(lambda: model.agent.state is AgentState.NOT_READY, timeout=WAIT_MS)
    assert window.link_label.text() == "CTI: online"
    qtbot.waitUntil(window.state_bar.ready_button.isEnabled, timeout=WAIT_MS)
    qtbot.mouseClick(window.state_bar.ready_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: model.agent.state is AgentState.READY, timeout=WAIT_MS)

    # The customer calls and picks technical support until the desktop rings.
    caller = cc.bg.gui_run(qtbot, Phone.open(number))
    cc.callers.append(caller)
    assert cc.bg.gui_run(qtbot, caller.call(cc.sip)) == 200
    for _ in range(20):
        if any(c.phase is CallPhase.OFFERED for c in model.calls.values()):
            break
        cc.bg.gui_run(qtbot, caller.press(SUPPORT))
        qtbot.wait(1000)
    offered = [c for c in model.calls.values() if c.phase is CallPhase.OFFERED]
    assert offered, "the call never reached the desktop:\n" + cc.server.tail()
    call_id = offered[0].call_id
    assert offered[0].customer_ref == customer_id
    qtbot.waitUntil(lambda: call_id in ctl._sip_calls, timeout=WAIT_MS)  # the INVITE
    assert ctl.softphone.call_state(ctl._sip_calls[call_id]) == "ringing"
    assert backend.ringing, "the ringer is not ringing"
    assert window.toast.isVisible() and window.toast.call_id == call_id
    assert window.call_bar.answer_button.isEnabled()
    assert not window.call_bar.hold_button.isEnabled()  # not before the answer

    # Answer: established, audio both ways.
    qtbot.mouseClick(window.call_bar.answer_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: model.calls[call_id].phase is CallPhase.ESTABLISHED, timeout=WAIT_MS)
    assert not window.toast.isVisible()
    assert not backend.ringing
    sending = asyncio.run_coroutine_threadsafe(
        caller.media.send(caller.media.tone_packets(1000.0, 1.2), interval=0.02), cc.bg.loop
    )
    heard = _heard(backend, 0.6, qtbot)
    qtbot.waitUntil(sending.done, timeout=5000)
    assert abs(heard - 1000.0) < 30, f"the agent hears {heard:.0f} Hz, not the caller's 1 kHz"
    backend.send(pcm.tone(600.0, 1.5, backend.rate))
    caller_level = cc.bg.gui_run(qtbot, heard_level(caller.media, 0.8))
    assert caller_level > 300, "the caller does not hear the agent"

    # The customer pane and the screen pop show that customer.
    try:
        qtbot.waitUntil(lambda: window.pane.pane is not None, timeout=WAIT_MS)
    except Exception as exc:
        raise AssertionError(
            f"no customer pane: {list(ctl.problems)!r}, "
            f"web queue {len(ctl._web_queue)}, busy {ctl._web_busy}, signed in {ctl.web.signed_in}"
        ) from exc
    pane = window.pane.pane
    assert pane is not None and pane.customer.customer_id == customer_id
    assert pane.customer.name == name
    pane_text = " ".join(
        label.text() for label in window.pane.findChildren(type(window.link_label))
    )
    assert name in pane_text and number in pane_text
    keys = window.bs_area.keys()
    assert {"trajectory", "contacts"} <= set(keys), keys

    def page_html(key: str) -> str:
        box: list[str] = []
        panel = window.bs_area.panel(key)
        assert panel is not None
        panel.page.toHtml(box.append)
        qtbot.waitUntil(lambda: bool(box), timeout=WAIT_MS)
        return box[0]

    qtbot.waitUntil(lambda: call_id in page_html("trajectory"), timeout=WAIT_MS)
    qtbot.waitUntil(lambda: f'value="{customer_id}"' in page_html("contacts"), timeout=WAIT_MS)
    assert "/ui/login" not in page_html("trajectory")

    # Hold: the caller hears music; Retrieve: back to the agent.
    qtbot.mouseClick(window.call_bar.hold_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: model.calls[call_id].phase is CallPhase.HELD, timeout=WAIT_MS)
    assert window.call_bar.hold_button.text() == "Retrieve"
    assert cc.bg.gui_run(qtbot, _waits_for_moh(caller)), "the held caller hears no music on hold"
    qtbot.mouseClick(window.call_bar.hold_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: model.calls[call_id].phase is CallPhase.ESTABLISHED, timeout=WAIT_MS)

    # Transfer to the other agent (what the transfer dialog's "blind, agent 1004" sends).
    cc.bg.gui_run(qtbot, cc.other_desk.request(AgentSetReady(id=0)))
    ctl.transfer(call_id, AgentDestination(agent_id=OTHER), False)
    established = cc.bg.gui_run(qtbot, expect(cc.other_desk, CallEstablished, timeout=20), 30)
    assert established.call_id == call_id
    qtbot.waitUntil(lambda: model.calls[call_id].phase is CallPhase.CLEARED, timeout=WAIT_MS)
    qtbot.waitUntil(lambda: model.agent.state is AgentState.WORK_NOT_READY, timeout=WAIT_MS)
    cc.bg.gui_run(qtbot, exchange_tones({cc.other_phone.media: 1400.0}))
    assert tone_level(caller.media, 1400.0) > 1500, "the caller does not hear agent 1004"

    # After-call notes, saved from the wrap-up box.
    notes = "客户咨询宽带故障，已转技术支持 1004"
    qtbot.waitUntil(window.wrap_up.isVisible, timeout=WAIT_MS)
    window.wrap_up.notes.setPlainText(notes)
    qtbot.mouseClick(window.wrap_up.save_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "saved" in window.wrap_up.status.text().lower(), timeout=WAIT_MS)

    # The other agent releases; the contact record of our part holds the notes.
    cc.bg.gui_run(qtbot, cc.other_desk.request(CallRelease(id=0, call_id=call_id)))
    cc.bg.gui_run(qtbot, expect(cc.other_desk, AgentWorkNotReady, timeout=10))
    qtbot.waitUntil(lambda: _contact(cc.db, call_id, AGENT) is not None, timeout=WAIT_MS)
    summary, contact_customer = _contact(cc.db, call_id, AGENT) or ("", "")
    assert (summary, contact_customer) == (notes, customer_id)

    # The contact-history window, reloaded, lists this call with the notes.
    contacts = window.bs_area.panel("contacts")
    assert contacts is not None
    contacts.view.reload()
    qtbot.waitUntil(lambda: notes in page_html("contacts"), timeout=WAIT_MS)
    assert name in page_html("contacts")


async def _waits_for_moh(caller: Phone, timeout: float = 6.0) -> bool:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        if await hears_moh(caller.media, 0.7):
            return True
    return False


def test_without_the_cti_server_the_softphone_still_takes_calls(qtbot: Any, centre: Centre) -> None:
    """R-IN-3 at the desktop: the CTI server dies; the banner says basic ACD mode, the
    switch's fallback ACD rings the desktop's softphone, the agent answers and hangs up
    from the call bar; the server comes back and the desktop logs on again by itself.
    (Runs after the call test: the module's server is restarted here.)"""
    cc = centre
    backend = BufferBackend()
    prefs = Prefs(
        server_url=cc.ws_url,
        web_url=cc.web_url,
        sip_registrar=f"{cc.sip[0]}:{cc.sip[1]}",
        agent_id=AGENT,
        language="en",
    )
    ctl = DesktopController(prefs, "demo", audio_backend=backend)
    window, model = ctl.window, ctl.model
    qtbot.addWidget(window)
    ctl.start()
    window.show()
    try:
        qtbot.waitUntil(lambda: ctl.softphone.registered, timeout=WAIT_MS)
        qtbot.waitUntil(window.state_bar.ready_button.isEnabled, timeout=WAIT_MS)
        window.state_bar.ready_button.click()
        qtbot.waitUntil(lambda: model.agent.state is AgentState.READY, timeout=WAIT_MS)
        # The other agent is not ready: the switch must pick the desktop.
        with contextlib.suppress(ProtocolError):
            cc.bg.gui_run(qtbot, cc.other_desk.request(AgentEndAfterCallWork(id=0)))
        with contextlib.suppress(ProtocolError):
            cc.bg.gui_run(
                qtbot, cc.other_desk.request(AgentSetNotReady(id=0, reason_code="backoffice"))
            )
        qtbot.wait(1500)  # the switch learns the agents' states

        mark = cc.switch.mark
        cc.bg.gui_run(qtbot, cc.server.kill9())
        cc.bg.gui_run(qtbot, cc.switch.wait_for(r"switch mode: fallback", after=mark))
        qtbot.waitUntil(lambda: window.link_label.text() == "CTI: offline", timeout=WAIT_MS)
        assert any("calls still arrive" in t for t in window.banner_bar.texts())

        caller = cc.bg.gui_run(qtbot, Phone.open("13100000099"))
        cc.callers.append(caller)
        assert cc.bg.gui_run(qtbot, caller.call(cc.sip)) == 200
        for _ in range(20):
            if ctl.softphone.calls():
                break
            cc.bg.gui_run(qtbot, caller.press(SUPPORT))
            qtbot.wait(1000)
        assert ctl.softphone.calls(), (
            "the fallback ACD never rang the desktop:\n" + cc.switch.tail()
        )
        key = ctl.softphone.calls()[0].key
        qtbot.waitUntil(lambda: ctl.softphone.call_state(key) == "ringing", timeout=WAIT_MS)
        assert window.toast.isVisible()
        assert window.call_bar.offline and window.call_bar.answer_button.isEnabled()
        qtbot.mouseClick(window.call_bar.answer_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: ctl.softphone.call_state(key) == "confirmed", timeout=WAIT_MS)
        sending = asyncio.run_coroutine_threadsafe(
            caller.media.send(caller.media.tone_packets(1000.0, 1.2), interval=0.02), cc.bg.loop
        )
        heard = _heard(backend, 0.6, qtbot)
        qtbot.waitUntil(sending.done, timeout=5000)
        assert abs(heard - 1000.0) < 30, f"the agent hears {heard:.0f} Hz without the CTI"
        qtbot.mouseClick(window.call_bar.release_button, Qt.MouseButton.LeftButton)
        cc.bg.gui_run(qtbot, asyncio.wait_for(caller.bye.wait(), 10))
        qtbot.waitUntil(lambda: not ctl.softphone.calls(), timeout=WAIT_MS)

        # The server comes back: the desktop reconnects, logs on again, the banner goes.
        cc.bg.gui_run(qtbot, cc.server.start())
        qtbot.waitUntil(lambda: window.link_label.text() == "CTI: online", timeout=60_000)
        try:
            qtbot.waitUntil(lambda: model.agent.state is not AgentState.LOGGED_OFF, timeout=WAIT_MS)
        except Exception as exc:
            raise AssertionError(
                f"not logged on again: {model.agent}, problems {list(ctl.problems)}"
            ) from exc
        assert not any("calls still arrive" in t for t in window.banner_bar.texts())
    finally:
        ctl.shutdown()
        window.close()
