"""CtiLink against a live CTI server: signals on the GUI thread, requests, login
refusal without a retry storm, offline requests, reconnect + resume through a TCP
proxy we can cut, refused resume → snapshot, idempotent stop."""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import pytest
from pytestqt.qtbot import QtBot

from agent_desktop.cti.link import CtiLink, LinkOffline, LinkState, backoff_delay
from agent_desktop.web.session import WebAuthError, WebSession
from shared.cti_client import CtiClient
from shared.protocol.agent import AgentLogin, AgentNotReady, AgentReady, AgentSetReady
from shared.protocol.desktop import WebTokenRequest, WebTokenResult
from shared.protocol.errors import ErrorCode, ProtocolError
from shared.protocol.handshake import ClientKind, PasswordCredentials, Snapshot, Welcome
from shared.protocol.supervisor import (
    SubscriptionResult,
    SupervisorForceState,
    SupervisorSubscribe,
)
from tests.agent_desktop.conftest import LiveCentre

DEMO = "demo"


# --- a TCP proxy we can cut (runs on the server's loop) --------------------------------------


class Proxy:
    """Forwards TCP to the CTI server; :meth:`cut` aborts every connection and, while
    ``refusing``, closes new ones at once (the server stays up: its sessions detach)."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.listen_port = 0
        self.accepted = 0
        self.refusing = False
        self._transports: set[asyncio.WriteTransport] = set()
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.listen_port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        await self.cut(refuse=True)
        if self._server is not None:
            self._server.close()

    async def cut(self, *, refuse: bool) -> None:
        self.refusing = refuse
        for transport in list(self._transports):
            transport.abort()
        self._transports.clear()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        if self.refusing:
            writer.transport.abort()
            return
        up_reader, up_writer = await asyncio.open_connection(self.host, self.port)
        pair = {writer.transport, up_writer.transport}
        self._transports |= pair

        async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                dst.transport.abort()

        await asyncio.gather(pump(reader, up_writer), pump(up_reader, writer))
        self._transports -= pair


@pytest.fixture
def proxy(live_centre: LiveCentre) -> Any:
    parts = urlsplit(live_centre.ws_url)
    assert parts.hostname and parts.port
    p = Proxy(parts.hostname, parts.port)
    live_centre.call(p.start())
    yield p
    live_centre.call(p.stop())


def via(proxy: Proxy, live_centre: LiveCentre) -> str:
    parts = urlsplit(live_centre.ws_url)
    return parts._replace(netloc=f"127.0.0.1:{proxy.listen_port}").geturl()


# --- recording slots -------------------------------------------------------------------------


@dataclass
class Recorder:
    """Every signal of a link, with a flag telling whether the slot ran on the GUI thread."""

    gui_thread: int = field(default_factory=threading.get_ident)
    log: list[tuple[str, Any]] = field(default_factory=list)
    off_thread: list[str] = field(default_factory=list)

    def attach(self, link: CtiLink) -> None:
        for name in ("connected", "disconnected", "event", "resynced", "state_changed"):
            getattr(link, name).connect(self._slot(name))
        link.login_failed.connect(self._slot("login_failed"))

    def _slot(self, name: str) -> Callable[[object], None]:
        def slot(value: object) -> None:
            if threading.get_ident() != self.gui_thread:
                self.off_thread.append(name)
            self.log.append((name, value))

        return slot

    def of(self, name: str) -> list[Any]:
        return [v for n, v in self.log if n == name]

    def states(self) -> list[str]:
        return self.of("state_changed")


@dataclass
class Done:
    """An ``on_done`` callback that remembers its calls and their thread."""

    calls: list[tuple[object, Exception | None, bool]] = field(default_factory=list)

    def __call__(self, result: object, error: Exception | None) -> None:
        self.calls.append((result, error, threading.get_ident() == threading.main_thread().ident))


def request(qtbot: QtBot, link: CtiLink, message: Any, timeout: int = 5000) -> object:
    done = Done()
    link.request(message, done)
    qtbot.waitUntil(lambda: bool(done.calls), timeout=timeout)
    result, error, on_gui = done.calls[0]
    assert on_gui
    if error is not None:
        raise error
    return result


def wait_event[E](
    qtbot: QtBot,
    rec: Recorder,
    kind: type[E],
    match: Callable[[E], bool] = lambda _e: True,
    timeout: int = 5000,
) -> E:
    def found() -> list[E]:
        return [e for e in rec.of("event") if isinstance(e, kind) and match(e)]

    qtbot.waitUntil(lambda: bool(found()), timeout=timeout)
    return found()[0]


def creds(user: str, password: str = DEMO) -> PasswordCredentials:
    return PasswordCredentials(user_id=user, password=password)


# --- tests -----------------------------------------------------------------------------------


def test_backoff_doubles_from_half_a_second_to_thirty_with_jitter() -> None:
    rng = random.Random(7)
    delays = [backoff_delay(n, rng=rng) for n in range(12)]
    assert 0.4 <= delays[0] <= 0.6
    assert 0.8 <= delays[1] <= 1.2
    assert all(d <= 30.0 for d in delays)
    assert delays[-1] >= 24.0  # capped, still jittered downwards
    assert len({round(backoff_delay(3, rng=rng), 6) for _ in range(20)}) > 1  # jitter


def test_login_requests_and_events_arrive_on_the_gui_thread(
    qtbot: QtBot, live_centre: LiveCentre
) -> None:
    link = CtiLink()
    rec = Recorder()
    rec.attach(link)
    with qtbot.waitSignal(link.connected, timeout=10000) as welcomed:
        link.start(live_centre.ws_url, creds("1001"), client_name="test-desktop")
    welcome = welcomed.args[0]
    assert isinstance(welcome, Welcome) and welcome.principal == "1001"
    assert link.state is LinkState.ONLINE and link.welcome is welcome
    # the first connection brings the initial state as a snapshot
    qtbot.waitUntil(lambda: bool(rec.of("resynced")), timeout=5000)
    assert isinstance(rec.of("resynced")[0], Snapshot)

    request(qtbot, link, AgentLogin(id=0, extension="1001", initial_state="not_ready"))
    assert request(qtbot, link, lambda i: AgentSetReady(id=i)) is None
    ready = wait_event(qtbot, rec, AgentReady)
    assert ready.agent_id == "1001"

    # a refused request is a typed error on the GUI thread, the link stays up
    with pytest.raises(ProtocolError) as refused:
        request(qtbot, link, AgentLogin(id=0, extension="1001"))
    assert refused.value.code is not None
    assert link.state is LinkState.ONLINE

    # other async work (HTTP in the desktop) runs on the link loop, result on the GUI thread
    done = Done()
    link_thread: list[str] = []

    async def work() -> int:
        link_thread.append(threading.current_thread().name)
        await asyncio.sleep(0.01)
        return 42

    link.run(work, done)
    qtbot.waitUntil(lambda: bool(done.calls))
    assert done.calls == [(42, None, True)] and link_thread == ["cti-link"]

    # work still running when the link stops fails with a typed error, never hangs
    pending = Done()

    async def forever() -> None:
        await asyncio.sleep(60)

    link.run(forever, pending)
    started = time.monotonic()
    link.stop()
    assert time.monotonic() - started < 5.0
    qtbot.waitUntil(lambda: bool(pending.calls), timeout=1000)
    assert isinstance(pending.calls[0][1], LinkOffline) and pending.calls[0][2]
    assert link.state.value == "offline"
    link.stop()  # idempotent
    assert rec.states() == ["connecting", "online", "offline"]
    assert rec.off_thread == []
    assert rec.of("disconnected") == []  # a deliberate stop is not a lost connection


def test_bad_password_fails_once_without_retries(
    qtbot: QtBot, live_centre: LiveCentre, proxy: Proxy
) -> None:
    link = CtiLink(backoff_initial=0.05)
    rec = Recorder()
    rec.attach(link)
    with qtbot.waitSignal(link.login_failed, timeout=10000) as failed:
        link.start(via(proxy, live_centre), creds("1001", "wrong"))
    error = failed.args[0]
    assert isinstance(error, ProtocolError) and error.code is ErrorCode.NOT_AUTHENTICATED
    qtbot.wait(800)  # a retry loop would have tried many times by now (50 ms backoff)
    assert proxy.accepted == 1
    assert link.state is LinkState.OFFLINE and not link.running
    assert rec.states() == ["connecting", "offline"]
    assert rec.of("connected") == [] and rec.off_thread == []

    # the same link logs in with the right password afterwards
    with qtbot.waitSignal(link.connected, timeout=10000):
        link.start(via(proxy, live_centre), creds("1001"))
    link.stop()
    link.stop()


def test_requests_while_offline_fail_at_once_with_a_typed_error(qtbot: QtBot) -> None:
    link = CtiLink()
    done = Done()
    started = time.monotonic()
    link.request(AgentSetReady(id=0), done)
    assert done.calls == []  # never called from inside request()
    qtbot.waitUntil(lambda: bool(done.calls), timeout=1000)
    assert time.monotonic() - started < 0.5
    result, error, on_gui = done.calls[0]
    assert result is None and isinstance(error, LinkOffline) and on_gui
    assert "offline" in str(error)
    link.stop()
    link.stop()
    assert link.state is LinkState.OFFLINE


def test_connection_loss_reconnects_and_resumes_without_losing_events(
    qtbot: QtBot, live_centre: LiveCentre, proxy: Proxy
) -> None:
    link = CtiLink(backoff_initial=0.1, backoff_max=0.4)
    rec = Recorder()
    rec.attach(link)
    with qtbot.waitSignal(link.connected, timeout=10000):
        link.start(via(proxy, live_centre), creds("1002"))
    request(qtbot, link, AgentLogin(id=0, extension="1002", initial_state="ready"))
    wait_event(qtbot, rec, AgentReady)
    resyncs_before = len(rec.of("resynced"))

    # cut the connection and keep it cut: the link goes offline
    live_centre.call(proxy.cut(refuse=True))
    qtbot.waitUntil(lambda: link.state is LinkState.OFFLINE, timeout=5000)
    assert rec.of("disconnected"), "the loss is reported"
    done = Done()
    link.request(AgentSetReady(id=0), done)
    qtbot.waitUntil(lambda: bool(done.calls), timeout=1000)
    assert isinstance(done.calls[0][1], LinkOffline)

    # while it is away the team lead forces it not ready: the event waits on the server
    async def force() -> None:
        lead = await CtiClient.connect(live_centre.ws_url, creds("9001"), ClientKind.SUPERVISOR)
        try:
            await lead.request(
                SupervisorForceState(
                    id=0, agent_id="1002", state="not_ready", reason_code="meeting"
                )
            )
        finally:
            await lead.close()

    live_centre.call(force())
    live_centre.call(proxy.cut(refuse=False))

    qtbot.waitUntil(lambda: len(rec.of("connected")) == 2, timeout=5000)
    assert rec.of("connected")[1].resumed is True
    forced = wait_event(qtbot, rec, AgentNotReady, lambda e: e.reason_code == "meeting")
    assert forced.agent_id == "1002" and forced.forced_by == "9001"
    assert len(rec.of("resynced")) == resyncs_before  # resumed: no snapshot needed
    assert link.state is LinkState.ONLINE
    assert rec.states()[-3:] == ["offline", "connecting", "online"]
    seqs = [e.seq for e in rec.of("event")]
    assert seqs == sorted(set(seqs)), "in order, no duplicates"
    assert rec.off_thread == []
    link.stop()


def test_refused_resume_brings_a_snapshot(
    qtbot: QtBot, live_centre: LiveCentre, proxy: Proxy
) -> None:
    """Away longer than the server's grace (2 s here): a fresh session and a snapshot."""
    link = CtiLink(backoff_initial=0.2, backoff_max=0.5)
    rec = Recorder()
    rec.attach(link)
    with qtbot.waitSignal(link.connected, timeout=10000):
        link.start(via(proxy, live_centre), creds("1003"))
    request(qtbot, link, AgentLogin(id=0, extension="1003", initial_state="not_ready"))
    qtbot.waitUntil(lambda: bool(rec.of("resynced")), timeout=5000)
    first_session = link.welcome.session_id if link.welcome else None

    live_centre.call(proxy.cut(refuse=True))
    qtbot.waitUntil(lambda: link.state is not LinkState.ONLINE, timeout=5000)
    qtbot.wait(3500)  # grace 2 s + the server's 0.5 s housekeeping tick + margin
    live_centre.call(proxy.cut(refuse=False))

    qtbot.waitUntil(lambda: len(rec.of("connected")) == 2, timeout=5000)
    again = rec.of("connected")[1]
    assert again.resumed is False and again.session_id != first_session
    qtbot.waitUntil(lambda: len(rec.of("resynced")) == 2, timeout=5000)
    snapshot = rec.of("resynced")[1]
    assert isinstance(snapshot, Snapshot)
    names = [n for n, _ in rec.log]
    last = len(names) - 1
    welcome_at = last - names[::-1].index("connected")
    snapshot_at = last - names[::-1].index("resynced")
    assert welcome_at < snapshot_at, "the welcome comes before the snapshot that follows it"
    assert rec.off_thread == []
    link.stop()
    assert link.state is LinkState.OFFLINE


def test_web_token_opens_a_web_session_through_the_link(
    qtbot: QtBot, live_centre: LiveCentre
) -> None:
    """The desktop's flow: ``web.token`` over the CTI link, then the blocking WebSession
    on the link loop (``asyncio.to_thread``), results on the GUI thread."""
    link = CtiLink()
    with qtbot.waitSignal(link.connected, timeout=10000):
        link.start(live_centre.ws_url, creds("1001"))
    issued = request(qtbot, link, WebTokenRequest(id=0, next_path="/ui/notices"))
    assert isinstance(issued, WebTokenResult) and issued.sso_path.startswith("/ui/sso?")

    web = WebSession(live_centre.web_url)
    done = Done()

    async def open_pane() -> object:
        await asyncio.to_thread(web.sso, issued.sso_path)
        return await asyncio.to_thread(web.get_json, "/ui/api/customers/C000001/pane")

    link.run(open_pane, done)
    qtbot.waitUntil(lambda: bool(done.calls), timeout=10000)
    pane, error, on_gui = done.calls[0]
    assert error is None and on_gui
    assert isinstance(pane, dict) and pane["customer"]["customer_id"] == "C000001"

    # the token was spent: a second use is a typed auth error delivered the same way
    again = Done()
    link.run(lambda: asyncio.to_thread(WebSession(live_centre.web_url).sso, issued.sso_path), again)
    qtbot.waitUntil(lambda: bool(again.calls), timeout=10000)
    assert isinstance(again.calls[0][1], WebAuthError)
    link.stop()


def test_a_team_lead_connects_as_a_supervisor(qtbot: QtBot, live_centre: LiveCentre) -> None:
    link = CtiLink()
    with qtbot.waitSignal(link.connected, timeout=10000) as welcomed:
        link.start(live_centre.ws_url, creds("9001"), kind=ClientKind.SUPERVISOR)
    assert welcomed.args[0].principal == "9001"
    result = request(qtbot, link, SupervisorSubscribe(id=0))
    assert isinstance(result, SubscriptionResult)
    link.stop()
