"""The desktop dies: defined agent states, calls never stuck, no database lock left.

R-IN-4 (a client crashing mid-call never deadlocks or corrupts records), resume and
snapshots (docs/protocol.md), R-IN-8.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time

import pytest
import sqlalchemy as sa

from cti_server.app import CtiApp
from cti_server.store import CallEventKind, CallStore
from shared.protocol.agent import (
    AgentLogin,
    AgentNotReady,
    AgentReady,
    AgentSetReady,
    AgentState,
)
from shared.protocol.call import CallDelivered, CallEstablished, CallState
from shared.protocol.handshake import Snapshot, SnapshotRequest
from shared.protocol.switch import (
    Hangup,
    LegRole,
    OfferToAgent,
    RouteResponse,
    RouteStage,
    SwitchCallEvent,
    SwitchCallEventKind,
    SwitchRouteRequest,
)
from tests.cti_server.domain.domain_support import GRACE, Clients, FakeSwitch, expect, until

pytestmark = pytest.mark.asyncio

VIP = "13800138000"


async def offer(switch: FakeSwitch, call_id: str) -> RouteResponse:
    await switch.client.request(
        SwitchRouteRequest(id=0, call_id=call_id, stage=RouteStage.ARRIVAL, caller=VIP)
    )
    body = await switch.client.request(
        SwitchRouteRequest(
            id=0,
            call_id=call_id,
            stage=RouteStage.AGENT_NEEDED,
            caller=VIP,
            business_selection="billing",
        )
    )
    assert isinstance(body, RouteResponse)
    return body


async def report(switch: FakeSwitch, call_id: str, kind: SwitchCallEventKind, **f: str) -> None:
    await switch.client.request(
        SwitchCallEvent(id=0, call_id=call_id, kind=kind, at=time.time(), **f)  # type: ignore[arg-type]
    )


def assert_no_lock(db: sa.Engine, call_id: str) -> None:
    """A write on the same database succeeds at once (no transaction left open)."""
    if db.dialect.name == "sqlite":
        path = db.url.database
        assert path is not None
        raw = sqlite3.connect(path, timeout=0, isolation_level=None)
        try:
            raw.execute("BEGIN IMMEDIATE")
            raw.execute("ROLLBACK")
        finally:
            raw.close()
    else:
        with db.begin() as conn:
            conn.exec_driver_sql("SET LOCAL lock_timeout = '200ms'")
            conn.exec_driver_sql(
                "UPDATE calls SET updated_at = updated_at WHERE id = %(id)s", {"id": call_id}
            )
    started = time.monotonic()
    CallStore(db).record_event(call_id, CallEventKind.SURVEY, time.time(), {"survey_id": "s1"})
    assert time.monotonic() - started < 1.0


async def test_desktop_dies_mid_call(app: CtiApp, clients: Clients, db: sa.Engine) -> None:
    """Busy until the switch reports the release, then not ready "disconnected" (no ACW
    that would end in ready), logged off (timeout) after the grace period."""
    switch = await clients.switch()
    await switch.register("1001")
    desk = await clients.desktop("1001")
    await desk.request(AgentLogin(id=0, initial_state="ready"))
    routed = await offer(switch, "DIE-BUSY")
    assert routed.agent is not None and routed.agent.agent_id == "1001"
    await report(
        switch, "DIE-BUSY", SwitchCallEventKind.ANSWERED, leg=LegRole.AGENT, agent_id="1001"
    )
    await expect(desk, CallEstablished)

    await desk.disconnect()
    rec = app.centre.agents["1001"]
    await until(lambda: rec.disconnected)
    await asyncio.sleep(0.1)
    assert rec.state is AgentState.BUSY and rec.call_id == "DIE-BUSY"

    await report(switch, "DIE-BUSY", SwitchCallEventKind.RELEASED, leg=LegRole.CALLER)
    after = app.centre.agents["1001"]
    assert after.state is AgentState.NOT_READY and after.reason == "disconnected"
    assert app.centre.engine.agent_state("1001") == "not_ready"
    await asyncio.to_thread(assert_no_lock, db, "DIE-BUSY")

    await until(lambda: app.centre.agents["1001"].state == "logged_off", timeout=GRACE + 3)
    assert app.centre.engine.agent_state("1001") == "logged_out"
    call = await asyncio.to_thread(CallStore(db).get_call, "DIE-BUSY")
    assert call.disposition == "answered" and call.released_at is not None


async def test_desktop_dies_while_ringing(app: CtiApp, clients: Clients) -> None:
    """The offered call is withdrawn, goes back to its queue at its original position and
    is offered to the next agent who becomes ready; the first agent is not ready."""
    switch = await clients.switch()
    await switch.register("1001", "1002")
    ringing = await clients.desktop("1001")
    await ringing.request(AgentLogin(id=0, initial_state="ready"))
    other = await clients.desktop("1002")
    await other.request(AgentLogin(id=0))

    first = await offer(switch, "RING-1")
    assert first.agent is not None and first.agent.agent_id == "1001"
    second = await offer(switch, "RING-2")
    assert second.agent is None
    await expect(ringing, CallDelivered)

    await ringing.disconnect()
    hangup = await switch.command()
    assert isinstance(hangup.action, Hangup) and hangup.action.leg is LegRole.AGENT
    assert hangup.call_id == "RING-1"
    engine = app.centre.engine
    await until(lambda: engine.call_state("RING-1") == "waiting")
    assert (engine.position("RING-1"), engine.position("RING-2")) == (1, 2)
    rec = app.centre.agents["1001"]
    assert rec.state is AgentState.NOT_READY and rec.reason == "disconnected"

    await other.request(AgentSetReady(id=0))
    command = await switch.command()
    assert isinstance(command.action, OfferToAgent)
    assert (command.call_id, command.action.agent_id) == ("RING-1", "1002")
    delivered = await expect(other, CallDelivered)
    assert delivered.call_id == "RING-1"


async def test_reconnect_within_grace_resumes_and_snapshot_shows_the_call(
    app: CtiApp, clients: Clients
) -> None:
    """Resume replays what was missed; a snapshot gives agent state and calls."""
    switch = await clients.switch()
    await switch.register("1002")
    desk = await clients.desktop("1002")
    await desk.request(AgentLogin(id=0, initial_state="ready"))
    await expect(desk, AgentReady)

    await desk.disconnect()
    rec = app.centre.agents["1002"]
    await until(lambda: rec.state is AgentState.NOT_READY)
    welcome = await desk.reconnect()
    assert welcome.resumed
    missed = await expect(desk, AgentNotReady)  # replayed
    assert missed.reason_code == "disconnected"
    assert not rec.disconnected

    await desk.request(AgentSetReady(id=0))
    await expect(desk, AgentReady)
    routed = await offer(switch, "SNAP-1")
    assert routed.agent is not None
    await report(switch, "SNAP-1", SwitchCallEventKind.ANSWERED, leg=LegRole.AGENT, agent_id="1002")
    await expect(desk, CallEstablished)

    body = await desk.request(SnapshotRequest(id=0))
    assert isinstance(body, Snapshot)
    assert body.agent is not None
    assert body.agent.state is AgentState.BUSY and body.agent.call_id == "SNAP-1"
    assert [(c.call_id, c.state) for c in body.calls] == [("SNAP-1", CallState.ESTABLISHED)]
    assert body.calls[0].tier == "vip" and body.calls[0].trajectory
    assert body.last_seq == desk.last_seq


async def test_session_logout_logs_the_agent_off(app: CtiApp, clients: Clients) -> None:
    desk = await clients.desktop("1003")
    await desk.request(AgentLogin(id=0, initial_state="ready"))
    await expect(desk, AgentReady)
    await desk.logout()
    rec = app.centre.agents["1003"]
    await until(lambda: rec.state is AgentState.LOGGED_OFF)
    assert rec.session is None
