"""Audit log: every configuration change leaves a row written in the same transaction.

Use :func:`record` inside the transaction that makes the change (the
:class:`~cti_server.store.directory.ConfigStore` methods all do); if the
transaction rolls back, the audit row goes with it, and a committed change
always has its audit row.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from .models import AuditEntry, utcnow


@dataclass(frozen=True, slots=True)
class AuditRecord:
    id: int
    at: dt.datetime
    actor: str
    action: str
    entity: str
    entity_id: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None


def record(
    session: Session,
    *,
    actor: str,
    action: str,
    entity: str,
    entity_id: str,
    before: Mapping[str, Any] | None = None,
    after: Mapping[str, Any] | None = None,
) -> AuditEntry:
    """Add an audit row to ``session``'s current transaction (flushed, not committed)."""
    if not actor:
        raise ValueError("an audited change needs an actor")
    entry = AuditEntry(
        at=utcnow(),
        actor=actor,
        action=action,
        entity=entity,
        entity_id=str(entity_id),
        before=dict(before) if before is not None else None,
        after=dict(after) if after is not None else None,
    )
    session.add(entry)
    session.flush()
    return entry


@contextmanager
def audited(
    sessions: sessionmaker[Session],
    *,
    actor: str,
    action: str,
    entity: str,
    entity_id: str,
    before: Mapping[str, Any] | None = None,
) -> Iterator[tuple[Session, dict[str, Any]]]:
    """Run a change and its audit row in one transaction.

    Yields ``(session, after)``; fill ``after`` with the new state. On normal
    exit the audit row is added and everything commits; on an exception
    nothing is written::

        with audited(sessions, actor="9901", action="update", entity="tier",
                     entity_id="vip", before=old) as (session, after):
            ...change rows through session...
            after.update(new_state)
    """
    after: dict[str, Any] = {}
    with sessions.begin() as session:
        yield session, after
        record(
            session,
            actor=actor,
            action=action,
            entity=entity,
            entity_id=entity_id,
            before=before,
            after=after or None,
        )


def entries(
    session: Session,
    *,
    entity: str | None = None,
    entity_id: str | None = None,
    actor: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[AuditRecord]:
    """Audit rows, newest first."""
    query = sa.select(AuditEntry).order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
    if entity is not None:
        query = query.where(AuditEntry.entity == entity)
    if entity_id is not None:
        query = query.where(AuditEntry.entity_id == entity_id)
    if actor is not None:
        query = query.where(AuditEntry.actor == actor)
    rows = session.scalars(query.limit(limit).offset(offset))
    return [
        AuditRecord(
            id=row.id,
            at=row.at,
            actor=row.actor,
            action=row.action,
            entity=row.entity,
            entity_id=row.entity_id,
            before=row.before,
            after=row.after,
        )
        for row in rows
    ]
