"""Group commit of call writes: acknowledgements follow commits, one bad write fails alone."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest
import sqlalchemy as sa

from cti_server.app import CtiApp
from cti_server.domain import Persistence
from cti_server.store import CallEventKind, CallStore, InvalidData
from shared.protocol.switch import LegRole, RouteStage, SwitchCallEventKind
from tests.cti_server.domain.domain_support import (
    Clients,
    connected_call,
    ready_agent,
    report,
    route,
)

pytestmark = pytest.mark.asyncio


async def test_switch_requests_are_acknowledged_only_after_their_rows_commit(
    app: CtiApp, clients: Clients, db: sa.Engine
) -> None:
    """R-IN-4: the moment a switch request's result arrives, what it caused is readable
    from a fresh connection (writes queued under the batch lock are committed first)."""
    store = CallStore(db)
    switch = await clients.switch()
    await switch.register("1001")
    await route(switch, "GC-1", RouteStage.ARRIVAL)
    arrived = store.call_with_events("GC-1")
    assert arrived is not None and arrived.events[0].kind == "arrived"
    desk = await ready_agent(clients, "1001")
    await connected_call(switch, desk, "1001", "GC-1")
    answered = store.get_call("GC-1")
    assert answered.agent_id == "1001" and answered.answered_at is not None
    assert answered.offered_at is not None  # written by the offer action, inside run()
    await report(switch, "GC-1", SwitchCallEventKind.RELEASED, leg=LegRole.CALLER)
    released = store.get_call("GC-1")
    assert released.released_at is not None and released.disposition == "answered"
    assert [c.call_id for c in store.contacts_for_number(released.caller_number)].count("GC-1") == 1


async def test_a_failing_write_fails_only_itself_and_a_batch_commits_once(
    db: sa.Engine,
) -> None:
    """Writes queued together commit in one transaction; when one of them fails, the
    others are still committed (in order) and only its own future raises."""
    persistence = Persistence(db)
    commits: list[float] = []

    def on_commit(_conn: Any) -> None:
        commits.append(time.monotonic())

    gate = threading.Event()
    sa.event.listen(db, "commit", on_commit)
    try:
        blocker = persistence.writer.submit(lambda _c, _s: gate.wait(5.0))
        now = time.time()
        good = [
            persistence.submit_event("GC-W1", CallEventKind.ARRIVED, now, {"caller_number": "1"}),
            persistence.submit_event("GC-W2", CallEventKind.ARRIVED, now),
            persistence.submit_event("GC-W1", CallEventKind.QUEUED, now, {"queue_id": "q_tv"}),
        ]
        together = [
            persistence.submit_event(f"GC-B{i}", CallEventKind.ARRIVED, now) for i in (1, 2)
        ]
        gate.set()
        await blocker
        await asyncio.gather(*together)
        assert len(commits) == 1  # five writes, one commit (the blocker wrote nothing)

        gate.clear()
        blocker = persistence.writer.submit(lambda _c, _s: gate.wait(5.0))
        before = persistence.submit_event("GC-F1", CallEventKind.ARRIVED, now)
        bad = persistence.submit_event("", CallEventKind.ARRIVED, now)  # empty call id
        after = persistence.submit_event("GC-F1", CallEventKind.QUEUED, now, {"queue_id": "q_tv"})
        gate.set()
        await blocker
        await before
        await after
        with pytest.raises(InvalidData):
            await bad
    finally:
        gate.set()
        sa.event.remove(db, "commit", on_commit)
        await persistence.flush()
    store = CallStore(db)
    grouped = store.call_with_events("GC-W1")
    assert grouped is not None and [e.kind for e in grouped.events] == ["arrived", "queued"]
    assert all(f.done() and f.exception() is None for f in good)
    failed_batch = store.call_with_events("GC-F1")
    assert failed_batch is not None
    assert [e.kind for e in failed_batch.events] == ["arrived", "queued"]
    assert failed_batch.queue_id == "q_tv"
