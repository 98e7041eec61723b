"""Slow consumers, heartbeats and shutdown.

One stuck desktop must never delay the others (R-IN-1: hundreds of agents on one
server; R-IN-4: a misbehaving client never stalls the system).
"""

from __future__ import annotations

import asyncio

import pytest
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from cti_server.ws import CtiServer, Session
from shared.cti_client import ConnectionLost, CtiClient
from shared.protocol.base import Event
from shared.protocol.call import CallDelivered, CallHold, TrajectoryKind, TrajectoryStep
from shared.protocol.handshake import Welcome
from tests.cti_server.ws.ws_support import (
    ClientFactory,
    RawFactory,
    RecordingHooks,
    ServerFactory,
    make_router,
)

# A screen-pop event with a long trajectory: ~20 KB, so socket buffers fill quickly.
TRAJECTORY = tuple(
    TrajectoryStep(
        at=1_767_225_600.0 + i, kind=TrajectoryKind.IVR_NODE, node=f"n{i}", detail="x" * 40
    )
    for i in range(200)
)


def _big_event(i: int, agent: str) -> CallDelivered:
    return CallDelivered(call_id=f"call-{i}", agent_id=agent, trajectory=TRAJECTORY)


async def _read_until_closed(ws: ClientConnection) -> None:
    while True:
        await ws.recv()


def _session_of(server: CtiServer, principal: str) -> Session:
    (session,) = server.sessions.for_principal(principal)
    return session


@pytest.mark.asyncio
async def test_slow_consumer_is_dropped_while_a_fast_client_gets_everything(
    make_server: ServerFactory, make_client: ClientFactory, make_raw: RawFactory
) -> None:
    hooks = RecordingHooks()
    server = await make_server(hooks=hooks, outbox_limit=32, close_timeout=10.0)
    fast = await make_client(server, "1001", compression=False)
    received: list[int] = []
    done = asyncio.Event()
    total = 600

    def collect(item: object) -> None:
        if isinstance(item, Event):
            received.append(item.seq)
            if len(received) == total:
                done.set()

    fast.on_event = collect
    # The slow client says hello, then stops reading (small client-side queue).
    slow = await make_raw(server, compression=None, max_queue=1)
    assert isinstance(await slow.hello("1002"), Welcome)
    fast_session = _session_of(server, "1001")
    slow_session = _session_of(server, "1002")

    dropped_at: list[int] = []
    hooks.on_disconnect = lambda session: dropped_at.append(len(received))
    for i in range(total):
        fast_session.push(_big_event(i, "1001"))
        slow_session.push(_big_event(i, "1002"))
        if i % 8 == 0:
            await asyncio.sleep(0)  # let the writers run, as a real event source would
    # Every event reaches the fast client, in order, while the slow one is stuck.
    await asyncio.wait_for(done.wait(), 10)
    assert received == list(range(1, total + 1))

    assert server.stats.slow_consumer_drops == 1
    await hooks.wait_for("disconnected")
    # The slow client was cut off while the fast one was still being served.
    assert dropped_at and dropped_at[0] < total
    assert slow_session.disconnect_reason == "slow consumer"
    assert server.sessions.get(slow_session.session_id) is slow_session  # kept for a resume
    # The slow client catches up on what was already in flight, then sees why it was closed.
    with pytest.raises(ConnectionClosed):
        await _read_until_closed(slow.ws)
    assert (slow.ws.close_code, slow.ws.close_reason) == (4000, "slow consumer")
    assert fast.connected


@pytest.mark.asyncio
async def test_silent_connection_is_dropped_but_a_pinging_client_stays(
    make_server: ServerFactory, make_client: ClientFactory, make_raw: RawFactory
) -> None:
    server = await make_server(heartbeat_interval=0.1)
    pinging = await make_client(server, "1001", heartbeat=True)
    silent = await make_raw(server)
    await silent.hello("1002")
    await silent.ws.wait_closed()
    assert (silent.ws.close_code, silent.ws.close_reason) == (4002, "heartbeat timeout")
    assert server.stats.heartbeat_timeouts == 1
    await asyncio.sleep(0.4)  # more than 3 intervals
    assert pinging.connected and pinging.rtt is not None
    assert server.stats.heartbeat_timeouts == 1


@pytest.mark.asyncio
async def test_stop_closes_every_client_cleanly_and_fails_pending_requests(
    make_server: ServerFactory, make_client: ClientFactory
) -> None:
    gate = asyncio.Event()
    router = make_router(without=[CallHold])

    @router.handles(CallHold)
    async def never(ctx: object, msg: CallHold) -> None:
        await gate.wait()

    server = await make_server(router=router)
    desk = await make_client(server, "1001")
    other = await make_client(server, "1002")
    pending = asyncio.create_task(desk.request(CallHold(id=0, call_id="c1")))
    await asyncio.sleep(0.05)
    await server.stop()
    for client in (desk, other):
        await client.wait_disconnected()
        assert (client.close_code, client.close_reason) == (1001, "server shutting down")
    with pytest.raises(ConnectionLost):
        await pending
    assert server.stats.connections_open == 0 and len(server.sessions) == 0
    with pytest.raises(ConnectionRefusedError):
        await CtiClient.connect(desk.url, desk._credentials, desk.kind)
