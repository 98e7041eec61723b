"""Async facade over the store: every database call runs in a worker thread.

Each write is one short transaction that has committed when the awaited call returns,
so the domain acknowledges a switch request or pushes an event only after what it
reports is durable (R-IN-4). Nothing here holds a transaction across an ``await``:
a desktop or switch dying mid-request can never leave a lock behind.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa

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


class Persistence:
    """Calls, tier look-ups, flows, audit and configuration, awaited off the event loop."""

    def __init__(self, engine: sa.Engine, *, tier_directory: TierDirectory | None = None) -> None:
        self.engine = engine
        self.sessions = session_factory(engine)
        self.calls = CallStore(self.sessions)
        self.directory = tier_directory if tier_directory is not None else TierDirectory(engine)

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
        await asyncio.to_thread(
            self.calls.record_event, call_id, kind, at, dict(data or {}), event_key=event_key
        )

    async def close_call(self, call_id: str, disposition: str, at: float) -> None:
        await asyncio.to_thread(self.calls.close_call, call_id, disposition, at)

    async def add_contact(self, **fields: Any) -> None:
        """A contact record (接触记录); see ``CallStore.add_contact_record``."""
        await asyncio.to_thread(lambda: self.calls.add_contact_record(**fields))

    async def add_contact_once(self, **fields: Any) -> bool:
        """A contact record unless one with the same ``call_id`` and ``disposition`` exists
        (reports the switch may send twice); returns whether it was added."""

        def write() -> bool:
            with self.sessions() as session:
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
            self.calls.add_contact_record(**fields)
            return True

        return await asyncio.to_thread(write)

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
