"""Async facade over the store: every database call runs in a worker thread.

Call writes (events, closes, contact records) go through :class:`CallWriter`: one
thread takes every write queued so far and commits them in one transaction (group
commit), in submission order, then resolves each write's future. A write's future is
done only once it has committed, so the domain acknowledges a switch request only after
what it reports is durable (R-IN-4). Nothing here holds a transaction across an
``await``: a desktop or switch dying mid-request can never leave a lock behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import queue
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from cti_server.store import (
    CallEventKind,
    CallStore,
    CustomerTier,
    RoutingConfig,
    TierDirectory,
    load_routing_config,
    session_factory,
)
from cti_server.store import audit as store_audit
from cti_server.store.models import ContactRecord, IvrFlow

log = logging.getLogger(__name__)

# Most writes committed in one transaction.
MAX_BATCH = 512

type Sessions = sessionmaker[Session]
# One write: run with a CallStore and a session factory (the batch's or a fresh one).
type WriteOp = Callable[[CallStore, Sessions], Any]


class _BatchSessions:
    """Looks like a ``sessionmaker`` to :class:`CallStore`: every ``begin()`` (and plain
    session) is the batch's one session, so the store's own write code runs unchanged and
    the batch commits once."""

    def __init__(self, session: Session) -> None:
        self._session = session

    @contextlib.contextmanager
    def begin(self) -> Iterator[Session]:
        yield self._session

    @contextlib.contextmanager
    def __call__(self) -> Iterator[Session]:
        yield self._session


@dataclass(slots=True)
class _Write:
    op: WriteOp
    future: asyncio.Future[Any]
    loop: asyncio.AbstractEventLoop


def _settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.done():  # the waiter was cancelled
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


class CallWriter:
    """Group commit of call writes: one worker thread, a FIFO, one transaction per batch.

    Writes commit in submission order (so one call's events keep their order). If a
    batch's transaction fails, each of its writes is retried in its own transaction, so a
    bad write fails only its own future.
    """

    def __init__(self, sessions: Sessions, calls: CallStore) -> None:
        self._sessions = sessions
        self._calls = calls
        self._queue: queue.SimpleQueue[_Write | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._guard = threading.Lock()

    def submit(self, op: WriteOp) -> asyncio.Future[Any]:
        """Queue ``op``; the future is done once it has committed (or failed)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        with self._guard:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._work, name="cti-call-writer", daemon=True
                )
                self._thread.start()
            self._queue.put(_Write(op, future, loop))
        return future

    async def flush(self) -> None:
        """Wait until every write submitted before this call has committed or failed."""
        await self.submit(lambda _calls, _sessions: None)

    async def close(self) -> None:
        """Flush, then stop the worker thread (a later write starts a new one)."""
        with self._guard:
            thread, self._thread = self._thread, None
            if thread is None:
                return
            self._queue.put(None)
        await asyncio.to_thread(thread.join)

    def _work(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            stop = False
            while len(batch) < MAX_BATCH:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stop = True
                    break
                batch.append(item)
            self._commit(batch)
            if stop:
                return

    def _commit(self, batch: list[_Write]) -> None:
        try:
            with self._sessions.begin() as session:
                shared = cast(Sessions, _BatchSessions(session))
                store = CallStore(shared)
                results = [w.op(store, shared) for w in batch]
        except Exception:
            if len(batch) > 1:
                log.warning("a batch of %d call writes failed: retrying one by one", len(batch))
            for write in batch:
                self._one(write)
            return
        for write, result in zip(batch, results, strict=True):
            self._resolve(write, result, None)

    def _one(self, write: _Write) -> None:
        try:
            result = write.op(self._calls, self._sessions)
        except Exception as exc:
            log.error("call write failed", exc_info=exc)
            self._resolve(write, None, exc)
        else:
            self._resolve(write, result, None)

    @staticmethod
    def _resolve(write: _Write, result: Any, error: BaseException | None) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody is waiting
            write.loop.call_soon_threadsafe(_settle, write.future, result, error)


class Persistence:
    """Calls, tier look-ups, flows, audit and configuration, awaited off the event loop."""

    def __init__(self, engine: sa.Engine, *, tier_directory: TierDirectory | None = None) -> None:
        self.engine = engine
        self.sessions = session_factory(engine)
        self.calls = CallStore(self.sessions)
        self.directory = tier_directory if tier_directory is not None else TierDirectory(engine)
        self.writer = CallWriter(self.sessions, self.calls)

    def submit_event(
        self,
        call_id: str,
        kind: CallEventKind,
        at: float,
        data: Mapping[str, Any] | None = None,
        *,
        event_key: str | None = None,
    ) -> asyncio.Future[Any]:
        """Queue one call event; the future is done once it has committed."""
        payload = dict(data or {})
        return self.writer.submit(
            lambda calls, _s: calls.record_event(call_id, kind, at, payload, event_key=event_key)
        )

    def submit_close(self, call_id: str, disposition: str, at: float) -> asyncio.Future[Any]:
        """Queue a ``closed`` event (see ``CallStore.close_call``)."""
        return self.writer.submit(lambda calls, _s: calls.close_call(call_id, disposition, at))

    def submit_contact(self, **fields: Any) -> asyncio.Future[Any]:
        """Queue a contact record (see ``CallStore.add_contact_record``)."""
        return self.writer.submit(lambda calls, _s: calls.add_contact_record(**fields))

    async def flush(self) -> None:
        """Wait for every queued call write (call before disposing of the engine)."""
        await self.writer.close()

    async def routing_config(self) -> RoutingConfig:
        def load() -> RoutingConfig:
            with self.sessions() as session:
                return load_routing_config(session)

        return await asyncio.to_thread(load)

    async def lookup(self, number: str | None) -> CustomerTier | None:
        """The customer behind a caller number (R-TIER-2), ``None`` for unknown/anonymous."""
        if not number:
            return None
        return await asyncio.to_thread(self.directory.lookup, number)

    async def record(
        self,
        call_id: str,
        kind: CallEventKind,
        at: float,
        data: Mapping[str, Any] | None = None,
        *,
        event_key: str | None = None,
    ) -> None:
        """Append one call event (committed when this returns)."""
        await self.submit_event(call_id, kind, at, data, event_key=event_key)

    async def close_call(self, call_id: str, disposition: str, at: float) -> None:
        await self.submit_close(call_id, disposition, at)

    async def add_contact(self, **fields: Any) -> None:
        """A contact record (接触记录); see ``CallStore.add_contact_record``."""
        await self.submit_contact(**fields)

    async def add_contact_once(self, **fields: Any) -> bool:
        """A contact record unless one with the same ``call_id`` and ``disposition`` exists
        (reports the switch may send twice); returns whether it was added."""

        def write(calls: CallStore, sessions: Sessions) -> bool:
            with sessions() as session:
                exists = session.scalar(
                    sa.select(ContactRecord.id)
                    .where(
                        ContactRecord.call_id == fields["call_id"],
                        ContactRecord.disposition == fields["disposition"],
                    )
                    .limit(1)
                )
            if exists is not None:
                return False
            calls.add_contact_record(**fields)
            return True

        return bool(await self.writer.submit(write))

    async def published_flow(self, flow_ids: tuple[str, ...]) -> tuple[str, int] | None:
        """The first of ``flow_ids`` that has a published version: ``(flow_id, version)``."""

        def find() -> tuple[str, int] | None:
            with self.sessions() as session:
                for flow_id in flow_ids:
                    version = session.scalar(
                        sa.select(IvrFlow.version).where(IvrFlow.id == flow_id, IvrFlow.published)
                    )
                    if version is not None:
                        return flow_id, int(version)
            return None

        return await asyncio.to_thread(find)

    async def audit(
        self,
        *,
        actor: str,
        action: str,
        entity: str,
        entity_id: str,
        before: Mapping[str, Any] | None = None,
        after: Mapping[str, Any] | None = None,
    ) -> None:
        """One audit row in its own transaction (committed when this returns)."""

        def write() -> None:
            with self.sessions.begin() as session:
                store_audit.record(
                    session,
                    actor=actor,
                    action=action,
                    entity=entity,
                    entity_id=entity_id,
                    before=before,
                    after=after,
                )

        await asyncio.to_thread(write)


def utc(at: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(at, dt.UTC)
