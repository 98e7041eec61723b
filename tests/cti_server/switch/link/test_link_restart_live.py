"""Calls still live on the switch when the CTI server restarts (R-IN-3, issue 5
survivability; docs/switch.md "Known gaps"): after a fresh session the switch reports
every call the server routed that is still running (and adopted fallback calls still
running) ``in_progress`` in its fallback report; the restarted server knows them, keeps
their agents busy on them (at login) and closes them through the live path when they
end. A call that ended while the server was away is not reported (no double count)."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path

import msgspec
import pytest
import sqlalchemy as sa

from cti_server.store import CallStore
from cti_server.switch.decider import reportable
from cti_server.switch.journal import Journal, Step
from shared.clock import SystemClock
from shared.cti_client import CtiClient
from shared.protocol.agent import (
    AgentEndAfterCallWork,
    AgentLogin,
    AgentReady,
    AgentState,
    AgentWorkNotReady,
)
from shared.protocol.call import CallDelivered, CallEstablished, TrajectoryKind, TrajectoryStep
from shared.protocol.switch import (
    FallbackCall,
    FallbackOutcome,
    LegRole,
    OfferToAgent,
    SwitchCallEventKind,
)
from tests.cti_server.switch.link.link_support import (
    FakeControl,
    Server,
    arrive,
    desktop,
    event,
    expect,
    make_decider,
    need_agent,
    ready_desktop,
    until,
)

pytestmark = pytest.mark.asyncio

K = SwitchCallEventKind
TALKER, IVR_CALLER, RUNG, ENDED = "13100000021", "13100000022", "13100000023", "13100000024"
"""Callers who are not demo customers (tier ``normal``; ``broadband`` → agent 1003)."""


def new_call(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def events_of(store: CallStore, call_id: str) -> list[str]:
    view = store.call_with_events(call_id)
    assert view is not None
    return [e.kind for e in view.events]


async def test_a_call_talking_across_a_server_restart_keeps_its_agent_busy(
    db: sa.Engine, tmp_path: Path
) -> None:
    """1003 talks on a CTI-routed call and another call is in the IVR when the server
    stops; the link is down only briefly. The restarted server learns both from the
    switch's report (the row is not duplicated: one arrival, one answer), 1003 logging
    in gets the call delivered and established and is offered nothing else (the IVR
    call, now needing an agent, waits in the restarted server's queue); when the call
    ends 1003 has after-call work for it and the row is closed ``answered`` with the
    agent, the original answer time and one contact record; then 1003 gets the call
    from the IVR."""
    srv = Server(db)
    await srv.start()
    control = FakeControl("1003")
    decider = make_decider(srv.url, control, tmp_path / "journal.jsonl")
    await decider.start()
    await decider.link.wait_up(5.0)
    desk = await ready_desktop(srv.url, "1003")
    talked, ivr = new_call("LT"), new_call("LI")
    try:
        await arrive(decider, talked, TALKER)
        routed = await need_agent(decider, talked, "broadband", caller=TALKER)
        assert routed.agent is not None and routed.agent.agent_id == "1003"
        decider.report(event(talked, K.RINGING, LegRole.AGENT, "1003"))
        decider.report(event(talked, K.ANSWERED, LegRole.AGENT, "1003"))
        decider.report(event(talked, K.BRIDGED, LegRole.CALLER, "1003"))
        assert (await expect(desk, CallEstablished)).call_id == talked
        await arrive(decider, ivr, IVR_CALLER)
        decider.report(event(ivr, K.IVR_NODE))
        await until(lambda: decider.link.queued == 0)
    finally:
        await desk.close()
    store = CallStore(db)
    before = await asyncio.to_thread(store.get_call, talked)
    assert before.answered_at is not None and before.agent_id == "1003"

    await srv.stop()  # the server's memory is gone; the database keeps the rows
    await until(lambda: not decider.link.up)
    app = await srv.start()
    again: CtiClient | None = None
    try:
        await decider.link.wait_up(5.0)
        assert decider.link.live_calls_reported == 2
        await until(lambda: {talked, ivr} <= set(app.centre.calls))
        # 1003 logs in: busy on the call they are still talking on
        again = await desktop(srv.url, "1003")
        await again.request(AgentLogin(id=0, extension="1003", initial_state="ready"))
        delivered = await expect(again, CallDelivered)
        assert delivered.call_id == talked
        assert (await expect(again, CallEstablished)).call_id == talked
        assert app.centre.agents["1003"].state is AgentState.BUSY
        # the IVR call needs an agent: it waits (1003 is busy, nobody else serves it)
        assert (await need_agent(decider, ivr, "broadband", caller=IVR_CALLER)).agent is None
        await asyncio.sleep(0.3)
        assert not any(isinstance(a, OfferToAgent) for _, a in control.executed)
        # the restarted server added no second arrival or answer to the rows
        for call_id in (talked, ivr):
            kinds = await asyncio.to_thread(events_of, store, call_id)
            assert kinds.count("arrived") == 1, kinds
        assert (await asyncio.to_thread(events_of, store, talked)).count("answered") == 1

        # the call ends: after-call work for it, the row closed through the live path
        decider.report(event(talked, K.RELEASED, LegRole.AGENT, "1003"))
        decider.report(event(talked, K.RELEASED))
        acw = await expect(again, AgentWorkNotReady, timeout=5.0)
        assert acw.call_id == talked
        await until(lambda: decider.link.queued == 0, timeout=5.0)

        async def closed() -> bool:
            view = await asyncio.to_thread(store.get_call, talked)
            return view.disposition is not None

        deadline = time.monotonic() + 5.0
        while not await closed():
            assert time.monotonic() < deadline, "the call was never closed"
            await asyncio.sleep(0.05)
        view = await asyncio.to_thread(store.get_call, talked)
        assert (view.disposition, view.agent_id) == ("answered", "1003")
        assert view.answered_at == before.answered_at
        assert view.released_at is not None and view.released_by == "agent"
        contacts = await asyncio.to_thread(store.contacts_for_number, TALKER)
        assert [(c.call_id, c.agent_id, c.disposition) for c in contacts] == [
            (talked, "1003", "answered")
        ]
        # after-call work ends: 1003 is ready and gets the call from the IVR
        await again.request(AgentEndAfterCallWork(id=0))
        await expect(again, AgentReady, timeout=5.0)
        call_id, action = await control.next(timeout=5.0)
        assert call_id == ivr and isinstance(action, OfferToAgent)
        assert action.agent_id == "1003"
    finally:
        if again is not None:
            await again.close()
        await decider.close()
        await srv.stop()


async def test_a_call_ringing_across_a_restart_is_adopted_when_answered(
    db: sa.Engine, tmp_path: Path
) -> None:
    """A call ringing at 1003 when the server stops is not in the live report (the
    restarted server has no offer for it); 1003 logs in (ready) and then answers: the
    server adopts the call from that report, so 1003 gets it delivered and established
    and is busy on it; its end closes the row ``answered`` with one contact record."""
    srv = Server(db)
    await srv.start()
    control = FakeControl("1003")
    decider = make_decider(srv.url, control, tmp_path / "journal.jsonl")
    await decider.start()
    await decider.link.wait_up(5.0)
    desk = await ready_desktop(srv.url, "1003")
    rung = new_call("LR")
    try:
        await arrive(decider, rung, RUNG)
        routed = await need_agent(decider, rung, "broadband", caller=RUNG)
        assert routed.agent is not None and routed.agent.agent_id == "1003"
        decider.report(event(rung, K.RINGING, LegRole.AGENT, "1003"))
        assert (await expect(desk, CallDelivered)).call_id == rung
        await until(lambda: decider.link.queued == 0)
    finally:
        await desk.close()
    await srv.stop()
    await until(lambda: not decider.link.up)
    app = await srv.start()
    again: CtiClient | None = None
    try:
        await decider.link.wait_up(5.0)
        assert decider.link.live_calls_reported == 0 and rung not in app.centre.calls
        again = await ready_desktop(srv.url, "1003")
        decider.report(event(rung, K.ANSWERED, LegRole.AGENT, "1003"))
        assert (await expect(again, CallDelivered, timeout=5.0)).call_id == rung
        assert (await expect(again, CallEstablished)).call_id == rung
        assert app.centre.agents["1003"].state is AgentState.BUSY
        decider.report(event(rung, K.BRIDGED, LegRole.CALLER, "1003"))
        decider.report(event(rung, K.RELEASED))
        assert (await expect(again, AgentWorkNotReady, timeout=5.0)).call_id == rung
        store = CallStore(db)

        async def closed() -> bool:
            view = await asyncio.to_thread(store.get_call, rung)
            return view.disposition is not None

        deadline = time.monotonic() + 5.0
        while not await closed():
            assert time.monotonic() < deadline, "the call was never closed"
            await asyncio.sleep(0.05)
        view = await asyncio.to_thread(store.get_call, rung)
        assert (view.disposition, view.agent_id) == ("answered", "1003")
        assert view.answered_at is not None and view.released_at is not None
        contacts = await asyncio.to_thread(store.contacts_for_number, RUNG)
        assert [(c.call_id, c.agent_id, c.disposition) for c in contacts] == [
            (rung, "1003", "answered")
        ]
        assert decider.link.messages_rejected == 0
    finally:
        if again is not None:
            await again.close()
        await decider.close()
        await srv.stop()


async def test_a_call_ending_while_the_server_is_away_is_not_reported_live(
    db: sa.Engine, tmp_path: Path
) -> None:
    """A CTI call that ends while the server is down is not in the live report: its
    queued end closes the row once (one contact record) and 1003, logging in again,
    is ready, not busy on it."""
    srv = Server(db)
    await srv.start()
    control = FakeControl("1003")
    decider = make_decider(srv.url, control, tmp_path / "journal.jsonl")
    await decider.start()
    await decider.link.wait_up(5.0)
    desk = await ready_desktop(srv.url, "1003")
    ended = new_call("LE")
    try:
        await arrive(decider, ended, ENDED)
        routed = await need_agent(decider, ended, "broadband", caller=ENDED)
        assert routed.agent is not None and routed.agent.agent_id == "1003"
        decider.report(event(ended, K.ANSWERED, LegRole.AGENT, "1003"))
        decider.report(event(ended, K.BRIDGED, LegRole.CALLER, "1003"))
        assert (await expect(desk, CallEstablished)).call_id == ended
        await until(lambda: decider.link.queued == 0)
    finally:
        await desk.close()
    await srv.stop()
    await until(lambda: not decider.link.up)
    decider.report(event(ended, K.RELEASED, LegRole.AGENT, "1003"))
    decider.report(event(ended, K.RELEASED))
    assert decider.live_calls() == []

    app = await srv.start()
    again: CtiClient | None = None
    try:
        await decider.link.wait_up(5.0)
        await until(lambda: decider.link.queued == 0, timeout=5.0)
        assert decider.link.live_calls_reported == 0
        assert ended not in app.centre.calls
        again = await ready_desktop(srv.url, "1003")
        assert app.centre.agents["1003"].state is AgentState.READY
        store = CallStore(db)
        view = await asyncio.to_thread(store.get_call, ended)
        assert (view.disposition, view.agent_id) == ("answered", "1003")
        contacts = await asyncio.to_thread(store.contacts_for_number, ENDED)
        assert [(c.call_id, c.disposition) for c in contacts] == [(ended, "answered")]
    finally:
        if again is not None:
            await again.close()
        await decider.close()
        await srv.stop()


async def test_an_adopted_fallback_call_still_running_is_listed_for_a_restarted_server(
    tmp_path: Path,
) -> None:
    """A fallback call the server adopted (reported ``in_progress``, acknowledged) is
    not in the next journal replay; it is listed as live (for a server that restarts
    again) until it ends, with its agent and answer time."""
    clock = SystemClock()
    with Journal(tmp_path / "j.jsonl", clock=clock, fsync="none") as journal:
        journal.append(Step.ARRIVED, "F1", caller="13100000025", called="95555")
        journal.append(Step.QUEUED, "F1", queue_id="q_broadband")
        journal.append(Step.OFFERED, "F1", agent_id="1004")
        journal.append(Step.ANSWERED, "F1", agent_id="1004")
        assert journal.handed_over_live() == []  # not reported yet: the replay sends it
        pending = journal.pending()
        assert pending is not None
        journal.acknowledge(pending.parts[0].calls)
        assert journal.pending() is None
        (live,) = journal.handed_over_live()
        assert (live.call_id, live.outcome, live.agent_id) == (
            "F1",
            FallbackOutcome.IN_PROGRESS,
            "1004",
        )
        assert live.answered_at is not None and live.queue_id == "q_broadband"
        journal.append(Step.RELEASED, "F1")
        assert journal.handed_over_live() == []


async def test_a_live_call_with_a_field_the_protocol_refuses_is_still_reported() -> None:
    """A caller the protocol cannot carry (``anonymous``) or an IVR node name with a
    space must not make the server refuse the whole report part: the call is sent
    without them, still with its agent and answer time; a call id the protocol
    refuses is left out."""
    odd = FallbackCall(
        call_id="X-odd",
        outcome=FallbackOutcome.IN_PROGRESS,
        arrived_at=1.7e9,
        caller="anonymous",
        agent_id="1003",
        answered_at=1.7e9 + 5,
        trajectory=(TrajectoryStep(at=1.7e9, kind=TrajectoryKind.IVR_NODE, node="main menu"),),
    )
    sent = reportable(odd)
    assert sent is not None
    assert (sent.caller, sent.trajectory, sent.agent_id, sent.answered_at) == (
        None,
        (),
        "1003",
        1.7e9 + 5,
    )
    assert reportable(msgspec.structs.replace(odd, call_id="bad id")) is None
