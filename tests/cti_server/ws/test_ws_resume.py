"""Sessions across connections: resume and replay, eviction, grace expiry, takeover.

A desktop that loses its network for a moment must not lose call events, and an
agent whose desktop vanished is logged off only after the grace period (R-IN-4).
"""

from __future__ import annotations

import asyncio

import pytest

from cti_server.ws import CtiServer, RequestContext, Session
from shared.cti_client import ClientEvent, CtiClient, Resync
from shared.protocol.agent import AgentLoggedOff, AgentReady, LogoffReason
from shared.protocol.base import Event
from shared.protocol.call import CallAnswer, CallEstablished
from shared.protocol.handshake import Snapshot, SnapshotRequest
from tests.cti_server.ws.ws_support import (
    ClientFactory,
    RecordingHooks,
    ServerFactory,
    make_router,
    wait_until,
)


def _session(server: CtiServer, client: CtiClient) -> Session:
    assert client.session_id is not None
    session = server.sessions.get(client.session_id)
    assert session is not None
    return session


def _push(session: Session, n: int) -> None:
    for _ in range(n):
        session.push(AgentReady(agent_id=session.principal.principal_id))


async def _take(client: CtiClient, n: int) -> list[ClientEvent]:
    return [await client.next_event(timeout=3) for _ in range(n)]


def _seqs(items: list[ClientEvent]) -> list[int]:
    return [item.seq for item in items if isinstance(item, Event)]


@pytest.mark.asyncio
async def test_resume_within_grace_replays_missed_events_once_in_order(
    make_server: ServerFactory, make_client: ClientFactory
) -> None:
    hooks = RecordingHooks()
    server = await make_server(hooks=hooks)
    client = await make_client(server)
    session = _session(server, client)
    _push(session, 2)
    assert _seqs(await _take(client, 2)) == [1, 2]
    await client.disconnect()
    await hooks.wait_for("disconnected")
    _push(session, 3)  # missed while away
    welcome = await client.reconnect()
    assert welcome.resumed and welcome.session_id == session.session_id
    assert welcome.last_seq == 5
    _push(session, 1)  # live again
    assert _seqs(await _take(client, 4)) == [3, 4, 5, 6]
    await asyncio.sleep(0.05)
    assert client._events.empty() and client.duplicates == 0
    assert hooks.names() == ["started", "disconnected", "resumed"]


@pytest.mark.asyncio
async def test_resume_overlapping_events_already_seen_are_not_delivered_twice(
    make_server: ServerFactory, make_client: ClientFactory
) -> None:
    """Events the client applied before the drop come back in the replay; it drops them."""
    server = await make_server()
    client = await make_client(server)
    session = _session(server, client)
    _push(session, 3)
    assert _seqs(await _take(client, 3)) == [1, 2, 3]
    await client.disconnect()
    # Pretend the client applied only seq 1 (e.g. it crashed before persisting 2 and 3).
    client._tracker.reset(1)
    await client.reconnect()
    assert _seqs(await _take(client, 2)) == [2, 3]


@pytest.mark.asyncio
async def test_resume_after_eviction_says_not_resumed_and_client_resyncs(
    make_server: ServerFactory, make_client: ClientFactory
) -> None:
    server = await make_server(replay_buffer=3)
    client = await make_client(server)
    session = _session(server, client)
    _push(session, 1)
    await _take(client, 1)
    await client.disconnect()
    _push(session, 5)  # seq 2..6; only 4..6 kept
    welcome = await client.reconnect()
    assert not welcome.resumed and welcome.last_seq == 6
    assert welcome.session_id == session.session_id
    resync = await client.next_event(timeout=3)
    assert isinstance(resync, Resync) and resync.snapshot is None
    _push(session, 1)
    assert _seqs(await _take(client, 1)) == [7]


@pytest.mark.asyncio
async def test_resume_after_eviction_with_auto_snapshot_fetches_the_snapshot(
    make_server: ServerFactory, make_client: ClientFactory
) -> None:
    server = await make_server(replay_buffer=2)
    client = await make_client(server, auto_snapshot=True)
    first = await client.next_event(timeout=3)
    assert isinstance(first, Resync) and first.snapshot is not None  # initial state
    session = _session(server, client)
    await client.disconnect()
    _push(session, 4)
    await client.reconnect()
    resync = await client.next_event(timeout=3)
    assert isinstance(resync, Resync)
    assert resync.snapshot == Snapshot(last_seq=4)
    _push(session, 1)
    assert _seqs(await _take(client, 1)) == [5]


@pytest.mark.asyncio
async def test_events_queued_before_the_snapshot_result_are_sent_again_after_it(
    make_server: ServerFactory, make_client: ClientFactory
) -> None:
    """The snapshot is as of seq N; events after N pushed while it was built follow it."""
    router = make_router(without=[SnapshotRequest])

    @router.handles(SnapshotRequest)
    async def snapshot(ctx: RequestContext, msg: SnapshotRequest) -> Snapshot:
        as_of = ctx.session.last_seq
        ctx.push(AgentReady(agent_id="1001"))  # happens while the snapshot is "being built"
        await asyncio.sleep(0.01)
        return Snapshot(last_seq=as_of)

    server = await make_server(router=router)
    client = await make_client(server, auto_snapshot=True)
    resync = await client.next_event(timeout=3)
    assert isinstance(resync, Resync) and resync.snapshot == Snapshot(last_seq=0)
    assert _seqs(await _take(client, 1)) == [1]


@pytest.mark.asyncio
async def test_grace_expiry_calls_on_session_expired_and_resume_starts_fresh(
    make_server: ServerFactory, make_client: ClientFactory
) -> None:
    hooks = RecordingHooks()
    server = await make_server(hooks=hooks, disconnect_grace=0.15)
    client = await make_client(server)
    old_id = client.session_id
    await client.disconnect()
    expired = await hooks.wait_for("expired")
    assert expired == (old_id,)
    assert server.sessions.get(old_id or "") is None
    welcome = await client.reconnect()
    assert not welcome.resumed and welcome.session_id != old_id
    assert hooks.names() == ["started", "disconnected", "expired", "started"]


@pytest.mark.asyncio
async def test_second_login_takes_over_the_first_desktop(
    make_server: ServerFactory, make_client: ClientFactory
) -> None:
    hooks = RecordingHooks()
    hooks.on_takeover_push = lambda old, new: old.push(
        AgentLoggedOff(agent_id="1001", reason=LogoffReason.TAKEN_OVER)
    )
    server = await make_server(hooks=hooks)
    first = await make_client(server, "1001")
    second = await make_client(server, "1001")
    told = await first.next_event(timeout=3)
    assert isinstance(told, AgentLoggedOff) and told.reason is LogoffReason.TAKEN_OVER
    await first.wait_disconnected()
    assert (first.close_code, first.close_reason) == (4001, "taken over")
    assert hooks.calls[-1] == ("takeover", (first.session_id, second.session_id))
    assert second.connected
    assert await second.request(CallAnswer(id=0, call_id="c1")) is None
    assert isinstance(await second.next_event(timeout=3), CallEstablished)
    assert [s.session_id for s in server.sessions.for_principal("1001")] == [second.session_id]


@pytest.mark.asyncio
async def test_connection_lost_keeps_session_until_resume(
    make_server: ServerFactory, make_client: ClientFactory
) -> None:
    """The server notices a vanished client (heartbeat) and keeps its session for the resume."""
    hooks = RecordingHooks()
    server = await make_server(hooks=hooks, heartbeat_interval=0.05)
    client = await make_client(server)  # heartbeat=False: it goes silent
    session = _session(server, client)
    await client.wait_disconnected()
    assert (client.close_code, client.close_reason) == (4002, "heartbeat timeout")
    await wait_until(lambda: "disconnected" in hooks.names())
    assert session.disconnect_reason == "heartbeat timeout"
    _push(session, 2)
    welcome = await client.reconnect()
    assert welcome.resumed
    assert _seqs(await _take(client, 2)) == [1, 2]
