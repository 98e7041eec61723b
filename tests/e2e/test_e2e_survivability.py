"""Survivability end to end (R-IN-3): a real CTI server process and a real switch
process; agents' softphones and callers are SIP endpoints with RTP we own, agents' desktops
speak the CTI protocol.

With one call bridged per agent, one waiting in the queue and one in the IVR, the CTI
server is killed with SIGKILL: no call drops, audio keeps flowing, the IVR call still
reaches the queue, the waiting call and a new call reach the agents as they become free
(fallback ACD, audio both ways). The server restarts on the same port and database: the
switch's link reconnects and replays its journal; the server records the fallback calls
(``fallback_*`` dispositions, contact records) and keeps the agent still talking on a
fallback call busy (the next call goes to the other agent).

The switch reaches the server through a TCP forwarder the test owns (``LinkProxy``), so
a desktop can log in to the restarted server before the switch reconnects and be told
of the reconciled outage (``system.mode``).

Per gap fixed (docs/switch.md, "Known gaps"): CTI-routed calls are recorded with their
caller and tier (route request before the ``arrived`` report); agents hanging up
bridged CTI calls during the outage do not make the fallback adopt them (the journal
holds only B, C and D); an agent who logs in while still talking on an adopted fallback
call is busy on it, not offered another call; a CTI-routed call still talking across the
kill and the restart (A3) is reported live by the switch, so its agent logging in again
gets it delivered and established, is offered nothing else, and its end closes the row
``answered`` with agent, answer and release times.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from cti_server.store import CallStore, make_engine
from cti_server.store.calls import CallView, ContactView
from shared.cti_client import CtiClient
from shared.protocol.agent import AgentWorkNotReady
from shared.protocol.call import CallDelivered, CallEstablished
from shared.protocol.system import SwitchMode, SystemMode
from tests.e2e.conftest import PhoneFactory, ProcessFactory
from tests.e2e.e2e_support import (
    LinkProxy,
    Phone,
    expect,
    free_port,
    heard_level,
    hears_moh,
    login_desktop,
    ready_desktop,
    tones_both_ways,
    until,
)

pytestmark = [pytest.mark.asyncio, pytest.mark.slow]

# Callers who are not demo customers (tier normal, served by the "general" group): the
# IVR's main menu; 2 = technical support (q_broadband, level 1 in "general": agents 1003
# and 1004), 1 = billing.
A1, A2, B, C, D, E, A3 = (f"1310000000{n}" for n in range(1, 8))
AGENTS = ("1003", "1004")
TALKER = "1010"
"""Talks on a CTI-routed call (A3) from before the kill until after the restart
(broadband level 1 in "general" too; logged on after A1 and A2 are bridged)."""
SUPPORT = "2"
SWITCH_ID = "sw-e2e"
TONE_TOLERANCE = 5.0


async def assert_talking(caller: Phone, agent: Phone, what: str, timeout: float = 4.0) -> None:
    """1 kHz caller → agent and 600 Hz agent → caller both arrive (Goertzel, within 5 Hz).
    Measured again while the switch may still be bridging (music stopping), up to
    ``timeout``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        by_agent, by_caller = await tones_both_ways(caller.media, agent.media)
        if abs(by_agent - 1000.0) <= TONE_TOLERANCE and abs(by_caller - 600.0) <= TONE_TOLERANCE:
            return
        if loop.time() > deadline:
            raise AssertionError(
                f"{what}: the agent hears {by_agent:.0f} Hz (want 1000), "
                f"the caller {by_caller:.0f} Hz (want 600); caller RTP {caller.media.port} → "
                f"{caller.media.remote}, agent RTP {agent.media.port} → {agent.media.remote}"
            )


async def wait_moh(caller: Phone, timeout: float = 8.0) -> None:
    """The caller ends up hearing music on hold (it is queued)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await hears_moh(caller.media, 0.7):
        if loop.time() > deadline:
            raise AssertionError(f"caller {caller.user} hears no music on hold")


async def press_until_queued(caller: Phone, key: str, timeout: float) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        await caller.press(key)
        if await hears_moh(caller.media, 0.8):
            return
        if loop.time() > deadline:
            raise AssertionError(f"caller {caller.user} pressed {key} but never got queued")


async def place(
    make_phone: PhoneFactory, number: str, switch: tuple[str, int], keys: str = ""
) -> Phone:
    """A caller who dials the switch, hears the greeting and presses ``keys``."""
    caller = await make_phone(number)
    assert await caller.call(switch) == 200
    assert await heard_level(caller.media, 0.4) > 300, f"{number} hears no greeting"
    for key in keys:
        await caller.press(key)
    return caller


async def offered(phone: Phone, count: int, timeout: float = 8.0) -> str:
    """The switch call id of the ``count``-th call this softphone answered."""
    await until(lambda: len(phone.answered) >= count, timeout, f"call #{count} to {phone.user}")
    return phone.answered[count - 1]


def read_calls(db: Path, call_ids: list[str]) -> dict[str, CallView]:
    engine = make_engine(f"sqlite:///{db}")
    try:
        store = CallStore(engine)
        return {c: store.get_call(c) for c in call_ids}
    finally:
        engine.dispose()


def read_contacts(db: Path, number: str) -> list[ContactView]:
    engine = make_engine(f"sqlite:///{db}")
    try:
        return CallStore(engine).contacts_for_number(number)
    finally:
        engine.dispose()


def journal_call_id(journal: Path, caller: str) -> str:
    """The switch's call id of the fallback call from ``caller`` (from its journal)."""
    for line in journal.read_text().splitlines():
        record = json.loads(line)
        if record.get("step") == "arrived" and record.get("caller") == caller:
            return str(record["call_id"])
    raise AssertionError(f"no fallback call from {caller} in {journal}")


async def test_e2e_kill9_cti_server_calls_survive_and_state_reconciles(
    rtpengine_binary: str,
    tmp_path: Path,
    processes: ProcessFactory,
    make_phone: PhoneFactory,
) -> None:
    """R-IN-3 must-show: kill -9 of the CTI server with calls bridged, queued and in the
    IVR; nothing drops, new calls reach registered agents, the restarted server
    reconciles calls and agent state from the switch's journal."""
    ws_port, sip_port = free_port(), free_port()
    url = f"ws://127.0.0.1:{ws_port}"
    proxy = LinkProxy(ws_port)
    link_url = f"ws://127.0.0.1:{await proxy.start()}"
    db = tmp_path / "cti" / "opencc.sqlite3"
    journal = tmp_path / "switch" / "switch" / f"{SWITCH_ID}.journal.jsonl"
    server_args = [
        "--demo",
        "--set",
        f"server.ws_port={ws_port}",
        "--set",
        "server.http_port=0",
        "--set",
        f"paths.data_dir={tmp_path / 'cti'}",
    ]
    server = processes("cti-server", "cti_server", server_args)
    switch = processes(
        "switch",
        "cti_server.switch",
        [
            "--demo",
            "--switch-id",
            SWITCH_ID,
            "--set",
            f"switch.sip_port={sip_port}",
            "--set",
            "switch.rtpengine_ng=127.0.0.1:0",
            "--set",
            f"switch.cti_url={link_url}",
            "--set",
            f"paths.data_dir={tmp_path / 'switch'}",
        ],
    )
    await asyncio.gather(server.start(), switch.start())
    await server.wait_for(r"listening on 127\.0\.0\.1:\d+", timeout=60)
    await switch.wait_for(r"switch ready on sip:", timeout=30)
    try:
        await switch.wait_for(r"CTI mode: the CTI link", timeout=30)
    except AssertionError:
        raise AssertionError(f"the switch never reached the server through {proxy!r}") from None
    sw = ("127.0.0.1", sip_port)
    desks: list[CtiClient] = []
    try:
        # --- agents: softphones registered with the switch, desktops ready -------------
        p1, p2 = await make_phone(AGENTS[0]), await make_phone(AGENTS[1])
        assert await p1.register(sw, "demo") == 200
        assert await p2.register(sw, "demo") == 200
        desks += [await ready_desktop(url, AGENTS[0]), await ready_desktop(url, AGENTS[1])]

        # --- calls before the outage -----------------------------------------------
        a1 = await place(make_phone, A1, sw, SUPPORT)
        a1_id = await asyncio.wait_for(_first_offer(p1, p2), 15)
        agent_a1 = p1 if p1.invites else p2
        agent_a2 = p2 if agent_a1 is p1 else p1
        a2 = await place(make_phone, A2, sw, SUPPORT)
        a2_id = await offered(agent_a2, 1, timeout=15)
        assert a1_id != a2_id
        await assert_talking(a1, agent_a1, "A1 before the outage")
        # A third agent, free only now, takes A3: still talking after the restart.
        p3 = await make_phone(TALKER)
        assert await p3.register(sw, "demo") == 200
        talker_desk = await ready_desktop(url, TALKER)
        desks.append(talker_desk)
        a3 = await place(make_phone, A3, sw, SUPPORT)
        a3_id = await offered(p3, 1, timeout=15)
        assert (await expect(talker_desk, CallEstablished, timeout=10)).call_id == a3_id
        await assert_talking(a3, p3, "A3 before the outage")
        b = await place(make_phone, B, sw, SUPPORT)  # all agents busy: B waits
        c = await place(make_phone, C, sw)  # C stays in the IVR (main menu)
        await wait_moh(b)
        assert len(p1.invites) == len(p2.invites) == len(p3.invites) == 1

        # --- kill -9 of the CTI server ---------------------------------------------
        mark = switch.mark
        await server.kill9()
        for desk in desks:
            await desk.close()
        desks.clear()
        await switch.wait_for(r"FALLBACK mode", after=mark, timeout=10)

        # Bridged calls keep their audio both ways; nobody was hung up.
        await asyncio.gather(
            assert_talking(a1, agent_a1, "A1 after the kill"),
            assert_talking(a2, agent_a2, "A2 after the kill"),
            assert_talking(a3, p3, "A3 after the kill"),
        )
        assert await hears_moh(b.media)  # B still waits with music
        assert not any(x.bye.is_set() for x in (a1, a2, a3, b, c, p1, p2, p3))

        # A new call D: the fallback ACD's default flow (greeting), 2 → support queue.
        d = await place(make_phone, D, sw, SUPPORT)
        await wait_moh(d)

        # A1's agent hangs up: the fallback offers the longest-waiting call, B (adopted
        # from the server's queue), to that agent; audio both ways.
        await agent_a1.hang_up()
        await asyncio.wait_for(a1.bye.wait(), 5)
        b_id = await offered(agent_a1, 2)
        assert b_id not in (a1_id, a2_id)
        await assert_talking(b, agent_a1, "B under the fallback")

        # A2's agent hangs up: the new call D reaches them.
        await agent_a2.hang_up()
        await asyncio.wait_for(a2.bye.wait(), 5)
        d_id = await offered(agent_a2, 2)
        await assert_talking(d, agent_a2, "D under the fallback")

        # C, in the IVR all along, presses 1 (billing) and reaches the queue. The menu
        # takes keys after its prompt: a caller presses again until it answers.
        assert not c.bye.is_set()
        await press_until_queued(c, "1", timeout=20)
        await c.hang_up()  # C gives up while queued: abandoned
        await b.hang_up()  # B ends normally
        await asyncio.wait_for(agent_a1.bye.wait(), 5)
        assert not d.bye.is_set()
        assert len(agent_a1.invites) == 2 and len(agent_a2.invites) == 2
        c_id = journal_call_id(journal, C)
        outage = journal.read_text()
        assert a1_id not in outage and a2_id not in outage  # hung up: not adopted
        assert a3_id not in outage  # still talking: a CTI call, not the fallback's
        assert len(p3.invites) == 1  # busy on A3: no fallback offer

        # --- the CTI server restarts on the same port and database ----------------
        # (the switch cannot reach it until the test opens the forwarder)
        proxy.opened = False
        mark, server_mark = switch.mark, server.mark
        await server.start()
        await server.wait_for(r"listening on 127\.0\.0\.1:\d+", after=server_mark, timeout=60)
        # A desktop is back before the switch: it is told of the reconciled outage.
        free_desk = await ready_desktop(url, agent_a1.user)
        desks.append(free_desk)
        proxy.opened = True
        replayed = await switch.wait_for(
            r"fallback journal replayed: (\d+) calls", after=mark, timeout=20
        )
        live = await switch.wait_for(
            r"live calls reported to the CTI server: (\d+)", after=mark, timeout=10
        )
        await switch.wait_for(r"CTI mode: the CTI link", after=mark, timeout=10)
        # B, C and D (D still in progress); A1 and A2, CTI calls the agents hung up
        # during the outage, were not adopted by the fallback. A3, the CTI call still
        # talking, follows in the report as a live call: 4 calls reconciled.
        assert int(replayed.group(1)) == 3
        assert int(live.group(1)) == 1
        mode = await expect(free_desk, SystemMode, timeout=10)
        assert (mode.switch_id, mode.mode) == (SWITCH_ID, SwitchMode.NORMAL)
        assert mode.detail is not None and "4 call(s) reconciled" in mode.detail, mode.detail

        views = await asyncio.to_thread(read_calls, db, [a1_id, a2_id, b_id, c_id, d_id])
        # CTI-routed before the outage: caller, tier (from the route request) and agent.
        for call_id, number, phone in ((a1_id, A1, agent_a1), (a2_id, A2, agent_a2)):
            view = views[call_id]
            assert (view.caller_number, view.tier_id, view.agent_id) == (
                number,
                "normal",
                phone.user,
            ), view
            assert view.answered_at is not None
        assert (views[b_id].disposition, views[b_id].agent_id) == (
            "fallback_answered",
            agent_a1.user,
        )
        assert views[c_id].disposition == "fallback_abandoned"
        assert views[d_id].disposition is None  # still talking
        assert views[d_id].agent_id == agent_a2.user
        b_contacts = await asyncio.to_thread(read_contacts, db, B)
        assert [(x.call_id, x.agent_id, x.disposition) for x in b_contacts] == [
            (b_id, agent_a1.user, "fallback_answered")
        ]
        c_contacts = await asyncio.to_thread(read_contacts, db, C)
        assert [(x.call_id, x.disposition) for x in c_contacts] == [(c_id, "fallback_abandoned")]

        # Agent state reconciles: the agent still talking on D (a fallback call) gets it
        # as a live call on their desktop and is offered nothing; the other gets E.
        busy_desk = await login_desktop(url, agent_a2.user)
        desks.append(busy_desk)
        delivered = await expect(busy_desk, CallDelivered, timeout=5)
        assert delivered.call_id == d_id
        assert (await expect(busy_desk, CallEstablished, timeout=5)).call_id == d_id
        # The same for the agent still talking on A3, the CTI-routed call from before
        # the kill: the restarted server knows it from the switch's live report.
        talker_desk = await login_desktop(url, TALKER)
        desks.append(talker_desk)
        assert (await expect(talker_desk, CallDelivered, timeout=5)).call_id == a3_id
        assert (await expect(talker_desk, CallEstablished, timeout=5)).call_id == a3_id
        e = await place(make_phone, E, sw, SUPPORT)
        e_id = await offered(agent_a1, 3, timeout=15)
        assert e_id not in (a1_id, a2_id, a3_id, b_id, d_id)
        assert (await expect(free_desk, CallDelivered, timeout=5)).call_id == e_id
        await assert_talking(e, agent_a1, "E after the restart")
        assert len(agent_a2.invites) == 2  # busy on D: no offer
        assert len(p3.invites) == 1  # busy on A3: no offer
        assert not d.bye.is_set() and not a3.bye.is_set()
        await assert_talking(d, agent_a2, "D after the restart")
        await assert_talking(a3, p3, "A3 after the restart")

        # A3 ends: its agent gets after-call work for it; the row is closed answered,
        # with the agent, the answer before the kill and the release, once.
        await p3.hang_up()
        await asyncio.wait_for(a3.bye.wait(), 5)
        assert (await expect(talker_desk, AgentWorkNotReady, timeout=5)).call_id == a3_id

        # D ends: its agent gets after-call work for it; the server records it
        # answered by that agent. E is recorded with its caller, tier and agent.
        await agent_a2.hang_up()
        await asyncio.wait_for(d.bye.wait(), 5)
        assert (await expect(busy_desk, AgentWorkNotReady, timeout=5)).call_id == d_id

        async def d_closed() -> bool:
            rows = await asyncio.to_thread(read_calls, db, [d_id, a3_id])
            return all(row.disposition is not None for row in rows.values())

        loop = asyncio.get_running_loop()
        deadline = loop.time() + 5
        while not await d_closed():
            assert loop.time() < deadline, "D or A3 was never closed on the server"
            await asyncio.sleep(0.1)
        views = await asyncio.to_thread(read_calls, db, [d_id, e_id, a3_id])
        assert (views[d_id].disposition, views[d_id].agent_id) == ("answered", agent_a2.user)
        a3_view = views[a3_id]
        assert (a3_view.disposition, a3_view.agent_id) == ("answered", TALKER), a3_view
        assert a3_view.answered_at is not None and a3_view.released_at is not None
        assert a3_view.answered_at < a3_view.released_at
        a3_contacts = await asyncio.to_thread(read_contacts, db, A3)
        assert [(x.call_id, x.agent_id, x.disposition) for x in a3_contacts] == [
            (a3_id, TALKER, "answered")
        ]
        assert (views[e_id].caller_number, views[e_id].tier_id, views[e_id].agent_id) == (
            E,
            "normal",
            agent_a1.user,
        )
    finally:
        for desk in desks:
            await desk.close()
        await proxy.close()
    assert await switch.stop() == 0
    assert "Traceback" not in "".join(switch.lines)


async def _first_offer(*phones: Phone) -> str:
    while True:
        for phone in phones:
            if phone.answered:
                return phone.answered[0]
        await asyncio.sleep(0.02)
