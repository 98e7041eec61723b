"""Call control end to end (R-IN-8, R-SUP-2): a real CTI server process and a real
switch process (rtpengine, the switch's RTP mixer); agents' and the team lead's
softphones and the callers are SIP endpoints with RTP we own; the agents' and the team
lead's desktops speak the CTI protocol.

A caller reaches agent A through the IVR and the server's routing; from then on
everything is driven only by the desktops' CTI requests (``call.hold`` /
``call.retrieve`` / ``call.single_step_transfer`` / ``call.consult`` /
``call.reconnect`` / ``call.transfer`` / ``call.conference`` / ``supervisor.monitor``
/ ``supervisor.monitor_stop``), the requests the Qt desktop sends. Every party sends its
own tone at the same time (caller 1000 Hz, A 450 Hz, B 1400 Hz, team lead 1800 Hz) and
what each one hears is measured per frequency (Goertzel), so a test proves who hears
whom and who does not; the desktops' events and the server's call records are checked
as well.

Known gap (switch, not call control): when the caller hangs up, the switch reports the
agent leg's ``released`` (it BYEs the agent) before the caller's, so the server records
the call as released by the agent (``released_by``, the trajectory's ``released`` step,
``call.connection_cleared.released_by``); the trajectories here do not compare ``by``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import pytest_asyncio

from cti_server.store import CallStore, make_engine
from cti_server.store.calls import CallView, ContactView
from cti_server.switch.media.process import RtpEngineNotFoundError, resolve_binary
from cti_server.switch.media.testing import Leg
from shared.cti_client import CtiClient
from shared.protocol.agent import AgentSetReady, AgentWorkNotReady
from shared.protocol.call import (
    AgentDestination,
    CallConference,
    CallConferenced,
    CallConnectionCleared,
    CallConsult,
    CallDelivered,
    CallEstablished,
    CallHeld,
    CallHold,
    CallReconnect,
    CallRetrieve,
    CallRetrieved,
    CallSingleStepTransfer,
    CallTransfer,
    CallTransferred,
    ConsultResult,
)
from shared.protocol.errors import ProtocolError
from shared.protocol.handshake import ClientKind, PasswordCredentials
from shared.protocol.supervisor import (
    MonitorEndReason,
    MonitorMode,
    MonitorResult,
    SupervisorMonitor,
    SupervisorMonitorEnded,
    SupervisorMonitorStop,
)
from tests.e2e.e2e_support import (
    LoggedProcess,
    Phone,
    exchange_tones,
    expect,
    free_port,
    heard_level,
    hears_moh,
    login_desktop,
    tone_level,
    until,
)

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.slow]

AGENTS = ("1003", "1004")
"""Level 1 of the "general" group: the support queue (IVR main menu key 2) reaches them."""
LEAD = "9001"
"""The demo team lead; its softphone is a SIP user of the switch (``--sip-users``)."""
SUPPORT = "2"
SWITCH_ID = "sw-e2e-cc"
C_HZ, A_HZ, B_HZ, S_HZ = 1000.0, 450.0, 1400.0, 1800.0
HEARD = 1500.0
"""Tone level above which a party clearly hears a tone (sent at 8000 for 0.8 s)."""
SILENT = 400.0
"""Tone level below which a party does not hear it."""


# --- the contact centre: server, switch, softphones, desktops ----------------------


@dataclass
class Centre:
    url: str
    sip: tuple[str, int]
    server: LoggedProcess
    switch: LoggedProcess
    db: Path
    phones: dict[str, Phone]
    desks: dict[str, CtiClient] = field(default_factory=dict)
    callers: list[Phone] = field(default_factory=list)

    async def caller(self, number: str) -> Phone:
        phone = await Phone.open(number)
        self.callers.append(phone)
        return phone


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def shared_centre(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Centre]:
    """One CTI server and one switch (demo) for the module's tests (starting them is
    most of a test's time); agents 1003 and 1004 registered and logged in, the team
    lead's softphone registered (its desktop is opened by the test that needs it)."""
    try:
        resolve_binary(None)
    except RtpEngineNotFoundError as exc:
        pytest.skip(f"rtpengine not installed: {exc}")
    tmp_path = tmp_path_factory.mktemp("call_control")
    ws_port, sip_port = free_port(), free_port()
    users = tmp_path / "sip_users.toml"
    users.write_text(f'"{LEAD}" = "demo"\n', encoding="utf-8")
    server = LoggedProcess(
        "cti-server",
        "cti_server",
        [
            "--demo",
            "--set",
            f"server.ws_port={ws_port}",
            "--set",
            "server.http_port=0",
            "--set",
            f"paths.data_dir={tmp_path / 'cti'}",
        ],
    )
    switch = LoggedProcess(
        "switch",
        "cti_server.switch",
        [
            "--demo",
            "--sip-users",
            str(users),
            "--switch-id",
            SWITCH_ID,
            "--set",
            f"switch.sip_port={sip_port}",
            "--set",
            "switch.rtpengine_ng=127.0.0.1:0",
            "--set",
            f"switch.cti_url=ws://127.0.0.1:{ws_port}",
            "--set",
            f"paths.data_dir={tmp_path / 'switch'}",
        ],
    )
    sw = ("127.0.0.1", sip_port)
    cc = Centre(
        url=f"ws://127.0.0.1:{ws_port}",
        sip=sw,
        server=server,
        switch=switch,
        db=tmp_path / "cti" / "opencc.sqlite3",
        phones={},
    )
    try:
        await asyncio.gather(server.start(), switch.start())
        await server.wait_for(r"listening on 127\.0\.0\.1:\d+", timeout=60)
        await switch.wait_for(r"switch ready on sip:", timeout=30)
        await switch.wait_for(r"CTI mode: the CTI link", timeout=30)
        for user in (*AGENTS, LEAD):
            cc.phones[user] = await Phone.open(user)
            assert await cc.phones[user].register(sw, "demo") == 200
        for agent in AGENTS:
            cc.desks[agent] = await login_desktop(cc.url, agent)
        yield cc
    finally:
        for desk in cc.desks.values():
            await desk.close()
        switch_code = await switch.stop()
        server_code = await server.stop()
        for phone in [*cc.callers, *cc.phones.values()]:
            await phone.close()
        for proc in (server, switch):
            (tmp_path / f"{proc.name}.log").write_text("".join(proc.lines), encoding="utf-8")
    assert switch_code == 0, switch.tail()
    assert server_code == 0, server.tail()
    assert "Traceback" not in "".join(switch.lines)
    assert "Traceback" not in "".join(server.lines)


@pytest_asyncio.fixture(loop_scope="module")
async def centre(shared_centre: Centre) -> AsyncIterator[Centre]:
    """The shared centre with both agents ready and their desktops' old events read;
    afterwards any call left by a failed test is hung up and, on failure, the
    processes' log lines of this test are shown."""
    cc = shared_centre
    for agent in AGENTS:
        with contextlib.suppress(ProtocolError):  # already ready
            await cc.desks[agent].request(AgentSetReady(id=0))
    await asyncio.sleep(0.3)
    for desk in cc.desks.values():
        while True:
            try:
                await desk.next_event(timeout=0.05)
            except TimeoutError:
                break
    marks = (cc.server.mark, cc.switch.mark)
    yield cc
    for phone in cc.callers:
        if phone.dialog is not None and not phone.bye.is_set():
            with contextlib.suppress(Exception):
                await phone.hang_up()
    lead = cc.desks.pop(LEAD, None)
    if lead is not None:
        await lead.close()
    for proc, mark in zip((cc.server, cc.switch), marks, strict=True):
        lines = [line for line in proc.lines[mark:] if not line.startswith(" ")]
        print(f"===== {proc.name} =====\n{''.join(lines)[-6000:]}")


@dataclass
class Connected:
    """A caller talking to agent A; B is the other agent (ready)."""

    caller: Phone
    a: Phone
    b: Phone
    a_desk: CtiClient
    b_desk: CtiClient
    call_id: str


async def connected_call(cc: Centre, number: str) -> Connected:
    """``number`` calls the switch, picks technical support in the IVR and is routed to
    one of the agents (A), whose softphone answers; audio both ways."""
    caller = await cc.caller(number)
    assert await caller.call(cc.sip) == 200
    assert await heard_level(caller.media, 0.4) > 300, f"{number} hears no greeting"
    phones = [cc.phones[a] for a in AGENTS]
    before = {p.user: len(p.answered) for p in phones}
    for phone in cc.phones.values():
        phone.bye.clear()  # BYEs of earlier tests' calls

    def reached() -> list[Phone]:
        return [p for p in phones if len(p.answered) > before[p.user]]

    loop = asyncio.get_running_loop()
    deadline = loop.time() + 20
    while not reached():
        assert loop.time() < deadline, f"{number}'s call reached no agent"
        await caller.press(SUPPORT)
        await asyncio.sleep(1.0)
    a = reached()[0]
    b = next(p for p in phones if p is not a)
    call_id = a.answered[-1]
    a_desk, b_desk = cc.desks[a.user], cc.desks[b.user]
    assert (await expect(a_desk, CallDelivered, timeout=10)).call_id == call_id
    assert (await expect(a_desk, CallEstablished, timeout=10)).call_id == call_id
    conn = Connected(caller, a, b, a_desk, b_desk, call_id)
    await hearing(conn, {"caller": {"a"}, "a": {"caller"}}, "caller ↔ A after the answer")
    return conn


# --- who hears whom ------------------------------------------------------------------

TONES = {"caller": C_HZ, "a": A_HZ, "b": B_HZ, "lead": S_HZ}


def _leg(conn: Connected, name: str, lead: Phone | None) -> Leg:
    if name == "caller":
        return conn.caller.media
    if name == "a":
        return conn.a.media
    if name == "b":
        return conn.b.media
    assert lead is not None
    return lead.media


def _heard(leg: Leg, sent: dict[str, float]) -> set[str]:
    """Which parties' tones ``leg`` heard; an unclear level counts as ``?name``."""
    result: set[str] = set()
    for name, freq in sent.items():
        level = tone_level(leg, freq)
        if level >= HEARD:
            result.add(name)
        elif level > SILENT:
            result.add(f"?{name}")
    return result


async def hearing(
    conn: Connected,
    want: dict[str, set[str]],
    what: str,
    *,
    lead: Phone | None = None,
    timeout: float = 8.0,
) -> None:
    """Every party in ``want`` sends its tone at once; each must hear exactly the parties
    given (measured again while the switch may still be moving media, up to
    ``timeout``)."""
    legs = {name: _leg(conn, name, lead) for name in want}
    sent = {name: TONES[name] for name in want}
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        await exchange_tones({legs[name]: freq for name, freq in sent.items()})
        got = {name: _heard(legs[name], sent) for name in want}
        if got == want:
            return
        if loop.time() > deadline:
            raise AssertionError(f"{what}: heard {got}, want {want}")


async def wait_moh(phone: Phone, what: str, timeout: float = 6.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await hears_moh(phone.media, 0.7):
        if loop.time() > deadline:
            raise AssertionError(f"{what}: {phone.user} hears no music on hold")


def read_call(db: Path, call_id: str) -> CallView:
    engine = make_engine(f"sqlite:///{db}")
    try:
        view = CallStore(engine).call_with_events(call_id)
        assert view is not None, f"no call {call_id} in the database"
        return view
    finally:
        engine.dispose()


def read_contacts(db: Path, number: str) -> list[ContactView]:
    engine = make_engine(f"sqlite:///{db}")
    try:
        return CallStore(engine).contacts_for_number(number)
    finally:
        engine.dispose()


def path(view: CallView) -> list[tuple[str | None, ...]]:
    """The call's recorded trajectory (R-IVR-2) from the first offer on: (kind, agent /
    from agent / released by[, to agent or conferenced agent, transfer mode])."""
    steps: list[tuple[str | None, ...]] = []
    for step in view.trajectory:
        kind = step["kind"]
        if kind in ("offered", "answered"):
            steps.append((kind, step["agent_id"]))
        elif kind == "transferred":
            steps.append((kind, step["from_agent"], step.get("to_agent"), step["mode"]))
        elif kind == "conferenced":
            steps.append((kind, step["agent_id"], step.get("with_agent")))
        elif kind == "released" and steps:
            # not ``by``: a caller's hang-up is recorded "agent" (the switch reports
            # the agent leg's release first; see the module docstring)
            steps.append((kind,))
    return steps


async def contacts_of(db: Path, number: str, call_id: str) -> set[tuple[str | None, str]]:
    """(agent, disposition) of each contact record of ``call_id``: one per agent who
    handled the call (an earlier agent's part is written when it ends)."""
    contacts = await asyncio.to_thread(read_contacts, db, number)
    found = [(x.agent_id, x.disposition) for x in contacts if x.call_id == call_id]
    assert len(found) == len(set(found)), contacts
    return set(found)


async def closed_call(db: Path, call_id: str, timeout: float = 8.0) -> CallView:
    """The call's record once the server closed it (disposition set)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        view = await asyncio.to_thread(read_call, db, call_id)
        if view.disposition is not None:
            return view
        assert loop.time() < deadline, f"call {call_id} was never closed: {view}"
        await asyncio.sleep(0.2)


async def consult_b(conn: Connected) -> str:
    """A consults B over CTI; B's softphone answers; A ↔ B talk, the caller hears music."""
    answered = len(conn.b.answered)
    result = await conn.a_desk.request(
        CallConsult(id=0, call_id=conn.call_id, destination=AgentDestination(agent_id=conn.b.user))
    )
    assert isinstance(result, ConsultResult)
    consult_id = result.consult_call_id
    await expect(conn.a_desk, CallHeld)
    delivered = await expect(conn.b_desk, CallDelivered, timeout=8)
    assert (delivered.call_id, delivered.consult_of) == (consult_id, conn.call_id)
    await until(lambda: len(conn.b.answered) > answered, 10, "B's softphone answering")
    assert conn.b.answered[-1] == consult_id
    assert (await expect(conn.b_desk, CallEstablished, timeout=8)).call_id == consult_id
    await wait_moh(conn.caller, "consultation")
    await hearing(conn, {"caller": set(), "a": {"b"}, "b": {"a"}}, "consultation")
    return consult_id


# --- the tests -----------------------------------------------------------------------


async def test_e2e_hold_and_retrieve_over_cti(centre: Centre) -> None:
    """R-IN-8: call.hold → the caller hears music, A hears nothing of the caller;
    call.retrieve → tones both ways again."""
    conn = await connected_call(centre, "13100000011")
    await conn.a_desk.request(CallHold(id=0, call_id=conn.call_id))
    assert (await expect(conn.a_desk, CallHeld)).call_id == conn.call_id
    await wait_moh(conn.caller, "hold")
    await hearing(conn, {"caller": set(), "a": set()}, "hold")
    await conn.a_desk.request(CallRetrieve(id=0, call_id=conn.call_id))
    assert (await expect(conn.a_desk, CallRetrieved)).call_id == conn.call_id
    await hearing(conn, {"caller": {"a"}, "a": {"caller"}}, "after retrieve")
    await conn.caller.hang_up()
    await asyncio.wait_for(conn.a.bye.wait(), 5)
    view = await closed_call(centre.db, conn.call_id)
    assert (view.hold_count, view.disposition, view.agent_id) == (1, "answered", conn.a.user)
    a = conn.a.user
    assert path(view) == [("offered", a), ("answered", a), ("released",)]


async def test_e2e_blind_transfer_to_agent_over_cti(centre: Centre) -> None:
    """R-IN-8: call.single_step_transfer to agent B → B's softphone rings and answers,
    caller ↔ B both ways; A is freed (transferred, after-call work); B's desktop gets
    the call delivered (with A as from_agent) and established; the record shows it."""
    conn = await connected_call(centre, "13100000012")
    answered = len(conn.b.answered)
    await conn.a_desk.request(
        CallSingleStepTransfer(
            id=0, call_id=conn.call_id, destination=AgentDestination(agent_id=conn.b.user)
        )
    )
    moved = await expect(conn.a_desk, CallTransferred)
    assert (moved.call_id, moved.to) == (conn.call_id, AgentDestination(agent_id=conn.b.user))
    assert (await expect(conn.a_desk, AgentWorkNotReady)).call_id == conn.call_id
    await asyncio.wait_for(conn.a.bye.wait(), 5)  # A's softphone is hung up
    await until(lambda: len(conn.b.answered) > answered, 10, "B's softphone answering")
    assert conn.b.answered[-1] == conn.call_id
    delivered = await expect(conn.b_desk, CallDelivered, timeout=8)
    assert (delivered.call_id, delivered.from_agent) == (conn.call_id, conn.a.user)
    assert (await expect(conn.b_desk, CallEstablished, timeout=8)).call_id == conn.call_id
    await hearing(conn, {"caller": {"b"}, "b": {"caller"}}, "caller ↔ B after the transfer")
    await conn.caller.hang_up()
    await asyncio.wait_for(conn.b.bye.wait(), 5)
    cleared = await expect(conn.b_desk, CallConnectionCleared)
    assert cleared.call_id == conn.call_id
    view = await closed_call(centre.db, conn.call_id)
    assert view.transfer_count == 1 and view.agent_id == conn.b.user, view
    a, b = conn.a.user, conn.b.user
    assert path(view) == [
        ("offered", a),
        ("answered", a),
        ("transferred", a, b, "single_step"),
        ("offered", b),
        ("answered", b),
        ("released",),
    ], view.trajectory
    assert await contacts_of(centre.db, "13100000012", conn.call_id) == {
        (a, "transferred"),
        (b, "answered"),
    }


async def test_e2e_consult_reconnect_then_consultative_transfer(centre: Centre) -> None:
    """R-IN-8: call.consult B → the caller hears music, A ↔ B talk; call.reconnect → B
    is released, caller ↔ A again; call.consult again → call.transfer → caller ↔ B,
    A released (after-call work), B's desktop has the call."""
    conn = await connected_call(centre, "13100000013")
    consult_id = await consult_b(conn)
    byes = len(conn.b.byes)
    await conn.a_desk.request(CallReconnect(id=0, call_id=conn.call_id, consult_call_id=consult_id))
    await until(lambda: len(conn.b.byes) > byes, 5, "B's consultation hung up")
    assert (await expect(conn.b_desk, CallConnectionCleared)).call_id == consult_id
    assert (await expect(conn.a_desk, CallRetrieved)).call_id == conn.call_id
    await hearing(conn, {"caller": {"a"}, "a": {"caller"}, "b": set()}, "after reconnect")

    consult_id = await consult_b(conn)
    await conn.a_desk.request(CallTransfer(id=0, call_id=conn.call_id, consult_call_id=consult_id))
    moved = await expect(conn.a_desk, CallTransferred)
    assert moved.call_id == conn.call_id
    assert (await expect(conn.a_desk, AgentWorkNotReady)).call_id == conn.call_id
    await asyncio.wait_for(conn.a.bye.wait(), 5)
    delivered = await expect(conn.b_desk, CallDelivered)
    assert delivered.call_id == conn.call_id
    assert (await expect(conn.b_desk, CallEstablished)).call_id == conn.call_id
    await hearing(conn, {"caller": {"b"}, "b": {"caller"}, "a": set()}, "after the transfer")
    conn.b.bye.clear()  # (the first consultation's BYE)
    await conn.caller.hang_up()
    await asyncio.wait_for(conn.b.bye.wait(), 5)
    assert (await expect(conn.b_desk, CallConnectionCleared)).call_id == conn.call_id
    view = await closed_call(centre.db, conn.call_id)
    assert (view.disposition, view.agent_id, view.transfer_count) == (
        "answered",
        conn.b.user,
        1,
    ), view
    a, b = conn.a.user, conn.b.user
    assert path(view) == [
        ("offered", a),
        ("answered", a),
        ("transferred", a, b, "consultative"),
        ("released",),
    ], view.trajectory
    assert view.hold_count == 2, view  # the caller was held for each consultation
    assert await contacts_of(centre.db, "13100000013", conn.call_id) == {
        (a, "transferred"),
        (b, "answered"),
    }


async def test_e2e_consult_then_conference(centre: Centre) -> None:
    """R-IN-8: call.consult B → call.conference: everyone hears the other two (not
    itself); both desktops are told of the conference; A leaves, caller ↔ B go on."""
    conn = await connected_call(centre, "13100000014")
    consult_id = await consult_b(conn)
    await conn.a_desk.request(
        CallConference(id=0, call_id=conn.call_id, consult_call_id=consult_id)
    )
    for desk in (conn.a_desk, conn.b_desk):
        joined = await expect(desk, CallConferenced)
        assert joined.call_id == conn.call_id
        assert len(joined.parties) == 3
    await hearing(
        conn,
        {"caller": {"a", "b"}, "a": {"caller", "b"}, "b": {"caller", "a"}},
        "conference",
    )
    # A hangs up on the softphone: the caller and B go on.
    await conn.a.hang_up()
    assert (await expect(conn.a_desk, CallConnectionCleared)).call_id == conn.call_id
    await hearing(conn, {"caller": {"b"}, "b": {"caller"}}, "after A left the conference")
    await conn.caller.hang_up()
    await asyncio.wait_for(conn.b.bye.wait(), 5)
    view = await closed_call(centre.db, conn.call_id)
    a, b = conn.a.user, conn.b.user
    assert path(view) == [
        ("offered", a),
        ("answered", a),
        ("conferenced", a, b),
        ("transferred", a, b, "conference_left"),
        ("released",),
    ], view.trajectory
    assert (view.disposition, view.agent_id) == ("answered", b)
    assert await contacts_of(centre.db, "13100000014", conn.call_id) == {
        (a, "conference_left"),
        (b, "answered"),
    }


async def test_e2e_team_lead_listen_whisper_barge(centre: Centre) -> None:
    """R-SUP-2: the team lead's desktop monitors A's call: listen (the lead hears both,
    nobody hears the lead) → whisper (A hears the lead, the caller does not) → barge
    (everyone hears everyone) → stop (the lead's softphone is hung up, caller ↔ A)."""
    conn = await connected_call(centre, "13100000015")
    lead = centre.phones[LEAD]
    desk = CtiClient(
        centre.url,
        PasswordCredentials(user_id=LEAD, password="demo"),
        ClientKind.SUPERVISOR,
        heartbeat=False,
        request_timeout=10.0,
    )
    await desk.open()
    centre.desks[LEAD] = desk
    invited = len(lead.answered)
    result = await desk.request(SupervisorMonitor(id=0, agent_id=conn.a.user))
    assert isinstance(result, MonitorResult) and result.call_id == conn.call_id
    await until(lambda: len(lead.answered) > invited, 10, "the team lead's softphone answering")
    everyone = {"caller", "a", "lead"}

    def rules(mode: str) -> dict[str, set[str]]:
        return {
            "listen": {"caller": {"a"}, "a": {"caller"}, "lead": {"caller", "a"}},
            "whisper": {"caller": {"a"}, "a": {"caller", "lead"}, "lead": {"caller", "a"}},
            "barge": {name: everyone - {name} for name in everyone},
        }[mode]

    await hearing(conn, rules("listen"), "listen", lead=lead)
    for mode in (MonitorMode.WHISPER, MonitorMode.BARGE):
        again = await desk.request(SupervisorMonitor(id=0, agent_id=conn.a.user, mode=mode))
        assert isinstance(again, MonitorResult) and again.monitor_id == result.monitor_id
        await hearing(conn, rules(mode.value), mode.value, lead=lead)
    assert len(lead.answered) == invited + 1  # one INVITE: modes change on the mixer
    await desk.request(SupervisorMonitorStop(id=0, monitor_id=result.monitor_id))
    ended = await expect(desk, SupervisorMonitorEnded)
    assert (ended.monitor_id, ended.reason) == (result.monitor_id, MonitorEndReason.STOPPED)
    await asyncio.wait_for(lead.bye.wait(), 5)
    await hearing(conn, {"caller": {"a"}, "a": {"caller"}}, "after the monitor stopped")
    await conn.caller.hang_up()
    await asyncio.wait_for(conn.a.bye.wait(), 5)
    view = await closed_call(centre.db, conn.call_id)
    assert (view.disposition, view.agent_id) == ("answered", conn.a.user)
