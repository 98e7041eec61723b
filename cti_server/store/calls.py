"""Call records, call events and contact records (R-IN-4, R-IN-5).

Every call event is one appended ``call_events`` row; the ``calls`` row holds
the summary timestamps and the trajectory (呼叫轨迹) the desktop shows. Each
:meth:`CallStore.record_event` is one short transaction that commits before it
returns, so the server acknowledges an event only once it is durable; a
client or server crash can lose at most an event that was never acknowledged,
never half of one (the event row and the summary change commit together).

Events for one call are serialised on its ``calls`` row (the first statement
of the transaction is an UPDATE of that row, which takes the row lock on
PostgreSQL and the write lock on SQLite), so ``seq`` numbers are gap-free and
concurrent writers never lose summary updates. An optional ``event_key``
makes re-sent events (e.g. a switch replaying what it did while the CTI link
was down, R-IN-3) idempotent.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from shared.ids import new_id

from .db import dialect_insert, session_factory
from .errors import InvalidData, NotFound
from .models import Call, CallEvent, ContactRecord, CustomerNumber, utcnow
from .numbers import try_normalise


class CallEventKind(StrEnum):
    ARRIVED = "arrived"
    IVR_NODE = "ivr_node"
    TIER_IDENTIFIED = "tier_identified"
    QUEUED = "queued"
    OVERFLOWED = "overflowed"
    ROUTED = "routed"
    OFFERED = "offered"
    RONA = "rona"  # ring, no answer
    ANSWERED = "answered"
    HELD = "held"
    RETRIEVED = "retrieved"
    TRANSFERRED = "transferred"
    CONFERENCED = "conferenced"
    RELEASED = "released"
    ACW_ENDED = "acw_ended"
    SURVEY = "survey"
    CLOSED = "closed"


# Kinds shown in the trajectory, with the data keys copied into each entry.
_TRAJECTORY_KEYS: dict[CallEventKind, tuple[str, ...]] = {
    CallEventKind.ARRIVED: ("caller_number", "called_number"),
    CallEventKind.IVR_NODE: ("flow_id", "node", "label", "digits"),
    CallEventKind.TIER_IDENTIFIED: ("tier_id", "customer_id"),
    CallEventKind.QUEUED: ("queue_id", "business_selection"),
    CallEventKind.OVERFLOWED: ("queue_id", "to_queue", "rule"),
    CallEventKind.OFFERED: ("agent_id",),
    CallEventKind.RONA: ("agent_id",),
    CallEventKind.ANSWERED: ("agent_id",),
    CallEventKind.TRANSFERRED: ("from_agent", "to_agent", "to_queue", "mode"),
    CallEventKind.CONFERENCED: ("agent_id", "with_agent"),
    CallEventKind.RELEASED: ("by",),
    CallEventKind.SURVEY: ("survey_id",),
}


@dataclass(frozen=True, slots=True)
class CallEventView:
    seq: int
    kind: str
    at: dt.datetime
    data: dict[str, Any]
    event_key: str | None = None


@dataclass(frozen=True, slots=True)
class CallView:
    """A call's summary columns and, from :meth:`CallStore.call_with_events`, its events."""

    call_id: str
    switch_id: str
    caller_number: str
    called_number: str
    customer_id: str | None
    tier_id: str | None
    business_selection: str
    queue_id: str | None
    agent_id: str | None
    arrived_at: dt.datetime
    ivr_started_at: dt.datetime | None
    queued_at: dt.datetime | None
    offered_at: dt.datetime | None
    answered_at: dt.datetime | None
    hold_count: int
    hold_seconds: float
    transferred_at: dt.datetime | None
    transfer_count: int
    released_at: dt.datetime | None
    released_by: str
    acw_ended_at: dt.datetime | None
    disposition: str | None
    routing_explanation: dict[str, Any] | None
    trajectory: list[dict[str, Any]]
    events: tuple[CallEventView, ...] = field(default=())


@dataclass(frozen=True, slots=True)
class ContactView:
    contact_id: str
    call_id: str | None
    customer_id: str | None
    number: str
    agent_id: str | None
    channel: str
    direction: str
    started_at: dt.datetime
    ended_at: dt.datetime | None
    disposition: str
    business_selection: str
    summary: str


def as_utc(at: dt.datetime | float) -> dt.datetime:
    """An aware UTC datetime from an aware datetime or UTC epoch seconds."""
    if isinstance(at, dt.datetime):
        if at.tzinfo is None:
            raise InvalidData("call_event", "at", "naive datetime: pass an aware (UTC) datetime")
        return at.astimezone(dt.UTC)
    if isinstance(at, bool) or not isinstance(at, int | float):
        raise InvalidData("call_event", "at", f"expected datetime or epoch seconds, got {at!r}")
    return dt.datetime.fromtimestamp(at, dt.UTC)


def _str(data: Mapping[str, Any], key: str) -> str | None:
    value = data.get(key)
    return None if value is None else str(value)


def _view(call: Call, events: tuple[CallEventView, ...] = ()) -> CallView:
    return CallView(
        call_id=call.id,
        switch_id=call.switch_id,
        caller_number=call.caller_number,
        called_number=call.called_number,
        customer_id=call.customer_id,
        tier_id=call.tier_id,
        business_selection=call.business_selection,
        queue_id=call.queue_id,
        agent_id=call.agent_id,
        arrived_at=call.arrived_at,
        ivr_started_at=call.ivr_started_at,
        queued_at=call.queued_at,
        offered_at=call.offered_at,
        answered_at=call.answered_at,
        hold_count=call.hold_count,
        hold_seconds=call.hold_seconds,
        transferred_at=call.transferred_at,
        transfer_count=call.transfer_count,
        released_at=call.released_at,
        released_by=call.released_by,
        acw_ended_at=call.acw_ended_at,
        disposition=call.disposition,
        routing_explanation=call.routing_explanation,
        trajectory=list(call.trajectory or []),
        events=events,
    )


def _event_view(row: CallEvent) -> CallEventView:
    return CallEventView(
        seq=row.seq, kind=row.kind, at=row.at, data=dict(row.data or {}), event_key=row.event_key
    )


def _contact_view(row: ContactRecord) -> ContactView:
    return ContactView(
        contact_id=row.id,
        call_id=row.call_id,
        customer_id=row.customer_id,
        number=row.number,
        agent_id=row.agent_id,
        channel=row.channel,
        direction=row.direction,
        started_at=row.started_at,
        ended_at=row.ended_at,
        disposition=row.disposition,
        business_selection=row.business_selection,
        summary=row.summary,
    )


class CallStore:
    """Durable call history. Thread-safe: every method uses its own session."""

    def __init__(self, engine_or_sessions: sa.Engine | sessionmaker[Session]) -> None:
        self._sessions = (
            session_factory(engine_or_sessions)
            if isinstance(engine_or_sessions, sa.Engine)
            else engine_or_sessions
        )

    # --- writes ---------------------------------------------------------------------------

    def _lock_call(self, session: Session, call_id: str, at: dt.datetime) -> Call:
        """Create the calls row if needed and hold its lock until the transaction ends."""
        now = utcnow()
        touch = sa.update(Call).where(Call.id == call_id).values(updated_at=now)
        if session.execute(touch).rowcount == 0:  # type: ignore[attr-defined]
            session.execute(
                dialect_insert(session.get_bind().dialect.name, Call)
                .values(
                    id=call_id,
                    arrived_at=at,
                    switch_id="",
                    caller_number="",
                    called_number="",
                    business_selection="",
                    hold_count=0,
                    hold_seconds=0.0,
                    transfer_count=0,
                    released_by="",
                    trajectory=[],
                    updated_at=now,
                )
                .on_conflict_do_nothing(index_elements=["id"])
            )
            session.execute(touch)
        call = session.get(Call, call_id, populate_existing=True)
        assert call is not None
        return call

    def record_event(
        self,
        call_id: str,
        kind: CallEventKind | str,
        at: dt.datetime | float,
        data: Mapping[str, Any] | None = None,
        *,
        event_key: str | None = None,
    ) -> CallEventView:
        """Append an event and update the call summary; committed when this returns.

        The first event of an unknown ``call_id`` creates the call (its
        ``arrived_at`` is that event's time unless the event is ``arrived``
        with an earlier time). With ``event_key``, an event already stored
        under that key is returned unchanged instead of being added twice.
        """
        if not call_id:
            raise InvalidData("call_event", "call_id", "empty")
        try:
            kind = CallEventKind(kind)
        except ValueError:
            raise InvalidData("call_event", "kind", f"unknown event kind {kind!r}") from None
        when = as_utc(at)
        payload = dict(data or {})
        with self._sessions.begin() as session:
            call = self._lock_call(session, call_id, when)
            if event_key is not None:
                existing = session.scalar(
                    sa.select(CallEvent).where(
                        CallEvent.call_id == call_id, CallEvent.event_key == event_key
                    )
                )
                if existing is not None:
                    return _event_view(existing)
            last = session.scalar(
                sa.select(sa.func.max(CallEvent.seq)).where(CallEvent.call_id == call_id)
            )
            seq = (last or 0) + 1
            self._apply(call, kind, when, payload)
            row = CallEvent(
                call_id=call_id,
                seq=seq,
                kind=kind.value,
                at=when,
                data=payload,
                event_key=event_key,
            )
            session.add(row)
            session.flush()
            return _event_view(row)

    @staticmethod
    def _apply(call: Call, kind: CallEventKind, at: dt.datetime, data: dict[str, Any]) -> None:
        """Fold one event into the summary columns."""
        match kind:
            case CallEventKind.ARRIVED:
                call.arrived_at = min(call.arrived_at, at)
                call.caller_number = _str(data, "caller_number") or call.caller_number
                call.called_number = _str(data, "called_number") or call.called_number
                call.switch_id = _str(data, "switch_id") or call.switch_id
            case CallEventKind.IVR_NODE:
                if call.ivr_started_at is None:
                    call.ivr_started_at = at
            case CallEventKind.TIER_IDENTIFIED:
                call.tier_id = _str(data, "tier_id") or call.tier_id
                call.customer_id = _str(data, "customer_id") or call.customer_id
            case CallEventKind.QUEUED | CallEventKind.OVERFLOWED:
                if call.queued_at is None:
                    call.queued_at = at
                call.queue_id = _str(data, "to_queue") or _str(data, "queue_id") or call.queue_id
                call.business_selection = (
                    _str(data, "business_selection") or call.business_selection
                )
            case CallEventKind.ROUTED:
                explanation = data.get("explanation", data)
                call.routing_explanation = dict(explanation) if explanation else None
            case CallEventKind.OFFERED:
                if call.offered_at is None:
                    call.offered_at = at
                call.agent_id = _str(data, "agent_id") or call.agent_id
            case CallEventKind.ANSWERED:
                if call.answered_at is None:
                    call.answered_at = at
                call.agent_id = _str(data, "agent_id") or call.agent_id
            case CallEventKind.HELD:
                if call.last_held_at is None:
                    call.hold_count += 1
                    call.last_held_at = at
            case CallEventKind.RETRIEVED:
                if call.last_held_at is not None:
                    call.hold_seconds += max(0.0, (at - call.last_held_at).total_seconds())
                    call.last_held_at = None
            case CallEventKind.TRANSFERRED:
                call.transferred_at = at
                call.transfer_count += 1
                call.agent_id = _str(data, "to_agent") or call.agent_id
                call.queue_id = _str(data, "to_queue") or call.queue_id
            case CallEventKind.RELEASED:
                if call.released_at is None:
                    call.released_at = at
                    call.released_by = _str(data, "by") or ""
                if call.last_held_at is not None:  # released while on hold
                    call.hold_seconds += max(0.0, (at - call.last_held_at).total_seconds())
                    call.last_held_at = None
            case CallEventKind.ACW_ENDED:
                call.acw_ended_at = at
            case CallEventKind.CLOSED:
                call.disposition = _str(data, "disposition") or call.disposition
                if call.released_at is None:
                    call.released_at = at
                    call.released_by = "system"
            case CallEventKind.RONA | CallEventKind.CONFERENCED | CallEventKind.SURVEY:
                pass
        keys = _TRAJECTORY_KEYS.get(kind)
        if keys is not None:
            entry: dict[str, Any] = {"at": at.isoformat(), "kind": kind.value}
            entry.update({k: data[k] for k in keys if data.get(k) is not None})
            # A new list so the JSON column is seen as changed.
            call.trajectory = [*(call.trajectory or []), entry]

    def close_call(
        self,
        call_id: str,
        disposition: str,
        at: dt.datetime | float,
        *,
        data: Mapping[str, Any] | None = None,
        event_key: str | None = None,
    ) -> CallEventView:
        """Set the disposition (a ``closed`` event); a call never released is released now."""
        if not disposition:
            raise InvalidData("call", "disposition", "empty")
        payload = {**(data or {}), "disposition": disposition}
        return self.record_event(call_id, CallEventKind.CLOSED, at, payload, event_key=event_key)

    def add_contact_record(
        self,
        *,
        started_at: dt.datetime | float,
        call_id: str | None = None,
        customer_id: str | None = None,
        number: str = "",
        agent_id: str | None = None,
        channel: str = "voice",
        direction: str = "inbound",
        ended_at: dt.datetime | float | None = None,
        disposition: str = "",
        business_selection: str = "",
        summary: str = "",
        contact_id: str | None = None,
    ) -> ContactView:
        """Append a contact record (接触记录); the customer is found by number when not given."""
        normalised = try_normalise(number) if number else None
        stored_number = normalised or number
        with self._sessions.begin() as session:
            if customer_id is None and normalised is not None:
                customer_id = session.scalar(
                    sa.select(CustomerNumber.customer_id).where(CustomerNumber.number == normalised)
                )
            row = ContactRecord(
                id=contact_id or new_id(),
                call_id=call_id,
                customer_id=customer_id,
                number=stored_number,
                agent_id=agent_id,
                channel=channel,
                direction=direction,
                started_at=as_utc(started_at),
                ended_at=None if ended_at is None else as_utc(ended_at),
                disposition=disposition,
                business_selection=business_selection,
                summary=summary,
            )
            session.add(row)
            session.flush()
            return _contact_view(row)

    # --- reads ----------------------------------------------------------------------------

    def get_call(self, call_id: str) -> CallView:
        with self._sessions() as session:
            call = session.get(Call, call_id)
            if call is None:
                raise NotFound("call", call_id)
            return _view(call)

    def call_with_events(self, call_id: str) -> CallView | None:
        """The call summary with every event in order, or ``None`` for an unknown call."""
        with self._sessions() as session:
            call = session.get(Call, call_id)
            if call is None:
                return None
            events = session.scalars(
                sa.select(CallEvent).where(CallEvent.call_id == call_id).order_by(CallEvent.seq)
            )
            return _view(call, tuple(_event_view(e) for e in events))

    def contacts_for_customer(
        self, customer_id: str, limit: int = 20, offset: int = 0
    ) -> list[ContactView]:
        """Contact history of a customer, newest first (the desktop's 接触记录 page)."""
        with self._sessions() as session:
            rows = session.scalars(
                sa.select(ContactRecord)
                .where(ContactRecord.customer_id == customer_id)
                .order_by(ContactRecord.started_at.desc(), ContactRecord.id.desc())
                .limit(limit)
                .offset(offset)
            )
            return [_contact_view(r) for r in rows]

    def contacts_for_number(
        self, number: str, limit: int = 20, offset: int = 0
    ) -> list[ContactView]:
        """Contact history of a caller number (for callers who are not customers)."""
        key = try_normalise(number) or number
        with self._sessions() as session:
            rows = session.scalars(
                sa.select(ContactRecord)
                .where(ContactRecord.number == key)
                .order_by(ContactRecord.started_at.desc(), ContactRecord.id.desc())
                .limit(limit)
                .offset(offset)
            )
            return [_contact_view(r) for r in rows]
