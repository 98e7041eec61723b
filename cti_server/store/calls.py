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
from .errors import Conflict, InvalidData, NotFound
from .models import Call, CallEvent, ContactRecord, CustomerNumber, Voicemail, utcnow
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
    WRAPPED_UP = "wrapped_up"
    """The agent's after-call notes and category (``call.wrap_up``, protocol 1.3)."""


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


class WrapUpRefusal(StrEnum):
    """Why :meth:`CallStore.wrap_up` wrote nothing."""

    UNKNOWN_CALL = "unknown_call"
    NOT_HANDLED = "not_handled"
    """The agent never answered the call."""
    IN_PROGRESS = "in_progress"
    """The agent's part of the call is not over (no release or transfer after the answer)."""
    TOO_LATE = "too_late"
    """The agent's part ended longer ago than the allowed age."""


@dataclass(frozen=True, slots=True)
class WrapUpView:
    """The outcome of :meth:`CallStore.wrap_up`: stored, or ``refused`` (nothing written)."""

    call_id: str
    agent_id: str
    refused: WrapUpRefusal | None = None
    ended_at: dt.datetime | None = None
    """When the agent's part of the call ended (release or transfer)."""
    event_seq: int | None = None
    contact_id: str | None = None
    """The contact record that now carries the notes (``None``: the agent has none)."""


MAX_WRAP_UP_AGE = dt.timedelta(hours=24)

_PART_ENDS = frozenset(
    {CallEventKind.RELEASED.value, CallEventKind.CLOSED.value, CallEventKind.TRANSFERRED.value}
)


def _part_end(events: list[CallEvent], agent_id: str) -> tuple[bool, dt.datetime | None]:
    """Whether ``agent_id`` answered the call, and when their (last) part of it ended."""
    answered = False
    ended: dt.datetime | None = None
    for row in events:
        data = row.data or {}
        if row.kind == CallEventKind.ANSWERED.value and data.get("agent_id") == agent_id:
            answered, ended = True, None
        elif (
            answered
            and ended is None
            and row.kind in _PART_ENDS
            and (row.kind != CallEventKind.TRANSFERRED.value or data.get("from_agent") == agent_id)
        ):
            ended = row.at
    return answered, ended


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
            return _event_view(
                self._append(session, call, kind, when, payload, event_key=event_key)
            )

    def _append(
        self,
        session: Session,
        call: Call,
        kind: CallEventKind,
        when: dt.datetime,
        payload: dict[str, Any],
        *,
        event_key: str | None = None,
    ) -> CallEvent:
        """Add the next event of a locked call and fold it into the summary."""
        last = session.scalar(
            sa.select(sa.func.max(CallEvent.seq)).where(CallEvent.call_id == call.id)
        )
        self._apply(call, kind, when, payload)
        row = CallEvent(
            call_id=call.id,
            seq=(last or 0) + 1,
            kind=kind.value,
            at=when,
            data=payload,
            event_key=event_key,
        )
        session.add(row)
        session.flush()
        return row

    def wrap_up(
        self,
        call_id: str,
        agent_id: str,
        *,
        notes: str,
        category: str | None,
        at: dt.datetime | float,
        max_age: dt.timedelta = MAX_WRAP_UP_AGE,
    ) -> WrapUpView:
        """The agent's after-call notes (``call.wrap_up``): a ``wrapped_up`` event and, on
        the agent's contact record of the call, ``summary`` = ``notes`` and (when given)
        ``business_selection`` = ``category``; the latest wrap-up wins.

        Only an agent who answered the call, once their part of it ended (release or
        transfer) and at most ``max_age`` later; otherwise nothing is written and the
        view says why (``refused``). One transaction."""
        when = as_utc(at)
        with self._sessions.begin() as session:
            exists = session.scalar(sa.select(Call.id).where(Call.id == call_id))
            if exists is None:
                return WrapUpView(call_id, agent_id, WrapUpRefusal.UNKNOWN_CALL)
            call = self._lock_call(session, call_id, when)
            events = list(
                session.scalars(
                    sa.select(CallEvent).where(CallEvent.call_id == call_id).order_by(CallEvent.seq)
                )
            )
            answered, ended = _part_end(events, agent_id)
            if not answered:
                return WrapUpView(call_id, agent_id, WrapUpRefusal.NOT_HANDLED)
            if ended is None:
                return WrapUpView(call_id, agent_id, WrapUpRefusal.IN_PROGRESS)
            if when - ended > max_age:
                return WrapUpView(call_id, agent_id, WrapUpRefusal.TOO_LATE, ended)
            payload: dict[str, Any] = {"agent_id": agent_id, "notes": notes}
            if category:
                payload["category"] = category
            event = self._append(session, call, CallEventKind.WRAPPED_UP, when, payload)
            contact = session.scalar(
                sa.select(ContactRecord)
                .where(ContactRecord.call_id == call_id, ContactRecord.agent_id == agent_id)
                .order_by(ContactRecord.started_at.desc(), ContactRecord.id.desc())
                .limit(1)
            )
            if contact is not None:
                contact.summary = notes
                if category:
                    contact.business_selection = category
                session.flush()
            return WrapUpView(
                call_id,
                agent_id,
                None,
                ended,
                event.seq,
                None if contact is None else contact.id,
            )

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
            case (
                CallEventKind.RONA
                | CallEventKind.CONFERENCED
                | CallEventKind.SURVEY
                | CallEventKind.WRAPPED_UP
            ):
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

    def find_call(self, call_id: str) -> CallView | None:
        """The call summary, or ``None`` for an unknown call."""
        with self._sessions() as session:
            call = session.get(Call, call_id)
            return None if call is None else _view(call)

    def close_unfinished(
        self,
        call_id: str,
        *,
        at: dt.datetime | float,
        released_by: str,
        disposition: str,
        summary: str = "",
        data: Mapping[str, Any] | None = None,
    ) -> bool:
        """Release and close a call whose row is still open (no disposition) and add its
        contact record: a call that ended while the server did not hold it in memory
        (reports queued by the switch during a CTI outage, R-IN-3).

        Idempotent: returns ``False`` (nothing written) when the call is unknown or
        already closed. The released and closed events carry ``reconciled:*`` keys; the
        contact record names the agent only when the call was answered."""
        with self._sessions() as session:
            call = session.get(Call, call_id, populate_existing=True)
            if call is None or call.disposition is not None:
                return False
            started, number = call.arrived_at, call.caller_number
            customer_id, business = call.customer_id, call.business_selection
            agent_id = call.agent_id if call.answered_at is not None else None
            has_contact = (
                session.scalar(
                    sa.select(ContactRecord.id).where(ContactRecord.call_id == call_id).limit(1)
                )
                is not None
            )
        released = {**(data or {}), "by": released_by}
        self.record_event(
            call_id, CallEventKind.RELEASED, at, released, event_key="reconciled:released"
        )
        self.close_call(call_id, disposition, at, event_key="reconciled:closed")
        if not has_contact:
            self.add_contact_record(
                started_at=started,
                ended_at=at,
                call_id=call_id,
                customer_id=customer_id,
                number=number,
                agent_id=agent_id,
                disposition=disposition,
                business_selection=business,
                summary=summary,
            )
        return True

    def recent_handle_seconds(
        self, queue_id: str, *, since: dt.datetime | float, limit: int = 50
    ) -> list[float]:
        """Talk times (answer to release, seconds) of the queue's latest answered calls
        released after ``since``, newest first (at most ``limit``)."""
        with self._sessions() as session:
            rows = session.execute(
                sa.select(Call.answered_at, Call.released_at)
                .where(
                    Call.queue_id == queue_id,
                    Call.answered_at.is_not(None),
                    Call.released_at >= as_utc(since),
                )
                .order_by(Call.released_at.desc())
                .limit(limit)
            ).all()
        return [
            max(0.0, (released - answered).total_seconds())
            for answered, released in rows
            if answered is not None and released is not None
        ]


# --- voicemails (R-IVR-4) -----------------------------------------------------------------


class VoicemailState(StrEnum):
    NEW = "new"
    HEARD = "heard"
    HANDLED = "handled"


@dataclass(frozen=True, slots=True)
class VoicemailView:
    voicemail_id: str
    call_id: str
    switch_id: str
    caller_number: str
    mailbox: str
    file_name: str
    seconds: float | None
    state: str
    handled_by: str | None
    handled_at: dt.datetime | None
    created_at: dt.datetime


def _voicemail_view(row: Voicemail) -> VoicemailView:
    return VoicemailView(
        voicemail_id=row.id,
        call_id=row.call_id,
        switch_id=row.switch_id,
        caller_number=row.caller_number,
        mailbox=row.mailbox,
        file_name=row.file_name,
        seconds=row.seconds,
        state=row.state,
        handled_by=row.handled_by,
        handled_at=row.handled_at,
        created_at=row.created_at,
    )


class VoicemailStore:
    """Voicemails callers left: saved from the switch's reports, listed and marked
    ``heard`` / ``handled`` by team leads (REST API). Thread-safe like :class:`CallStore`."""

    def __init__(self, engine_or_sessions: sa.Engine | sessionmaker[Session]) -> None:
        self._sessions = (
            session_factory(engine_or_sessions)
            if isinstance(engine_or_sessions, sa.Engine)
            else engine_or_sessions
        )

    def save(
        self,
        call_id: str,
        file_name: str,
        *,
        at: dt.datetime | float,
        switch_id: str = "",
        caller_number: str = "",
        mailbox: str = "",
        seconds: float | None = None,
    ) -> VoicemailView:
        """Store a voicemail (state ``new``); the same call and file again returns the
        stored one unchanged (a report the switch re-sends)."""
        if not call_id:
            raise InvalidData("voicemail", "call_id", "empty")
        if not file_name or len(file_name) > 255:
            raise InvalidData("voicemail", "file_name", "empty or longer than 255 characters")
        if seconds is not None and not seconds >= 0:
            raise InvalidData("voicemail", "seconds", f"must be >= 0, got {seconds!r}")
        with self._sessions.begin() as session:
            existing = session.scalar(
                sa.select(Voicemail).where(
                    Voicemail.call_id == call_id, Voicemail.file_name == file_name
                )
            )
            if existing is not None:
                return _voicemail_view(existing)
            row = Voicemail(
                id=new_id(),
                call_id=call_id,
                switch_id=switch_id[:64],
                caller_number=(try_normalise(caller_number) or caller_number)[:64],
                mailbox=mailbox[:64],
                file_name=file_name,
                seconds=None if seconds is None else round(seconds, 2),
                state=VoicemailState.NEW.value,
                created_at=as_utc(at),
            )
            session.add(row)
            session.flush()
            return _voicemail_view(row)

    def get(self, voicemail_id: str) -> VoicemailView:
        with self._sessions() as session:
            row = session.get(Voicemail, voicemail_id)
            if row is None:
                raise NotFound("voicemail", voicemail_id)
            return _voicemail_view(row)

    def page(
        self,
        *,
        state: str | None = None,
        mailbox: str | None = None,
        caller_number: str | None = None,
        call_id: str | None = None,
        since: dt.datetime | None = None,
        until: dt.datetime | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> tuple[list[VoicemailView], int]:
        """Voicemails newest first with the total matching; filters combine (``until`` is
        exclusive)."""
        where: list[Any] = []
        if state is not None:
            try:
                where.append(Voicemail.state == VoicemailState(state).value)
            except ValueError:
                raise InvalidData("voicemail", "state", f"unknown state {state!r}") from None
        if mailbox is not None:
            where.append(Voicemail.mailbox == mailbox)
        if caller_number is not None:
            where.append(Voicemail.caller_number == (try_normalise(caller_number) or caller_number))
        if call_id is not None:
            where.append(Voicemail.call_id == call_id)
        if since is not None:
            where.append(Voicemail.created_at >= as_utc(since))
        if until is not None:
            where.append(Voicemail.created_at < as_utc(until))
        with self._sessions() as session:
            total = session.scalar(sa.select(sa.func.count()).select_from(Voicemail).where(*where))
            rows = session.scalars(
                sa.select(Voicemail)
                .where(*where)
                .order_by(Voicemail.created_at.desc(), Voicemail.id.desc())
                .limit(limit)
                .offset(offset)
            )
            return [_voicemail_view(r) for r in rows], int(total or 0)

    def mark(self, voicemail_id: str, state: str, *, actor: str) -> VoicemailView:
        """``heard`` (from ``new``; again is a no-op) or ``handled`` (by ``actor``; from
        ``new`` or ``heard``; again by anyone is a no-op). A handled voicemail cannot
        become unheard: :class:`Conflict`."""
        try:
            target = VoicemailState(state)
        except ValueError:
            raise InvalidData("voicemail", "state", f"unknown state {state!r}") from None
        if target is VoicemailState.NEW:
            raise InvalidData("voicemail", "state", "a voicemail cannot be marked new again")
        with self._sessions.begin() as session:
            row = session.get(Voicemail, voicemail_id, with_for_update=True)
            if row is None:
                raise NotFound("voicemail", voicemail_id)
            current = VoicemailState(row.state)
            if current is target:
                return _voicemail_view(row)
            if current is VoicemailState.HANDLED:
                raise Conflict(f"voicemail {voicemail_id} is handled already")
            row.state = target.value
            if target is VoicemailState.HANDLED:
                row.handled_by = actor
                row.handled_at = utcnow()
            session.flush()
            return _voicemail_view(row)
