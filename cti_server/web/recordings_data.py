"""Call recordings on the server (R-SUP-3): receiving them from the switch, finding
calls, and reading the audio for playback.

**Storage** (:mod:`cti_server.store.recordings`): the switch uploads each finished
recording over the CTI link (``switch.recording_put``); the bytes live in the database
in chunks, so a WAV is read back range by range without touching the switch's disks.

**Who hears what.** Team leads and administrators; a team lead with a region only calls
of that region (the customer's region, or the handling agent's when the caller is not a
customer). Every audio request is audited (``recording_play``: who, which recording,
which bytes); refusals are audited by the page like every other refusal.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session, aliased, sessionmaker

from cti_server.store import audit
from cti_server.store.models import (
    Agent,
    Call,
    CallRecording,
    CallRecordingChunk,
    Customer,
    QaEvaluation,
    Queue,
    Role,
    Tier,
)
from cti_server.store.recordings import CHUNK_BYTES

from .data import Invalid, Refused, WebUser

PAGE_SIZE = 20
MAX_RANGE_BYTES = 1024 * 1024
"""An open-ended range (``bytes=N-``) is answered with at most this many bytes."""
LEADS = frozenset({Role.TEAM_LEAD, Role.ADMIN})


# --- who may hear a call --------------------------------------------------------------------


def _call_region(session: Session, call: Call) -> str | None:
    if call.customer_id is not None:
        region = session.scalar(sa.select(Customer.region).where(Customer.id == call.customer_id))
        if region is not None:
            return region
    if call.agent_id is not None:
        return session.scalar(sa.select(Agent.region).where(Agent.id == call.agent_id))
    return None


def check_call(session: Session, user: WebUser, call_id: str) -> Call:
    """The call, if ``user`` may hear and score it (else :class:`Refused`)."""
    if user.role not in LEADS:
        raise Refused("role", role=user.role.value)
    call = session.get(Call, call_id)
    if call is None:
        raise LookupError(call_id)
    region = _call_region(session, call)
    if not user.sees_region(region):
        raise Refused("region", call=call_id, region=region or "", user_region=user.region)
    return call


def _region_clause(user: WebUser) -> sa.ColumnElement[bool]:
    """SQL twin of :func:`_call_region` + ``sees_region``."""
    if user.region is None:
        return sa.true()
    cust, agent = aliased(Customer), aliased(Agent)
    customer_region = (
        sa.select(cust.region).where(cust.id == Call.customer_id).correlate(Call).scalar_subquery()
    )
    agent_region = (
        sa.select(agent.region).where(agent.id == Call.agent_id).correlate(Call).scalar_subquery()
    )
    region = sa.func.coalesce(customer_region, agent_region)
    return sa.or_(region.is_(None), region == user.region)


# --- search ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CallFilter:
    agent: str = ""
    customer: str = ""
    """Customer id or a caller number (prefix)."""
    tier: str = ""
    queue: str = ""
    date_from: dt.date | None = None
    date_to: dt.date | None = None
    """UTC days, inclusive."""
    disposition: str = ""
    recorded: str = ""
    """``yes``, ``no`` or empty (both)."""

    def __post_init__(self) -> None:
        if self.recorded not in ("", "yes", "no"):
            raise Invalid("error_choice")
        if self.date_from and self.date_to and self.date_from > self.date_to:
            raise Invalid("rec_error_date_order")


@dataclass(frozen=True, slots=True)
class RecordingInfo:
    recording_id: str
    seconds: float | None
    size: int


@dataclass(frozen=True, slots=True)
class CallRow:
    call_id: str
    arrived_at: dt.datetime
    agent_id: str | None
    agent_name: str
    customer_id: str | None
    customer_name: str
    caller_number: str
    tier_id: str | None
    queue_id: str | None
    disposition: str | None
    talk_seconds: float | None
    recordings: tuple[RecordingInfo, ...]
    evaluations: int


@dataclass(frozen=True, slots=True)
class CallPage:
    rows: list[CallRow]
    page: int
    pages: int
    total: int


def _day_start(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)


def search_calls(
    sessions: sessionmaker[Session], user: WebUser, flt: CallFilter, *, page: int = 1
) -> CallPage:
    """Calls matching ``flt`` that ``user`` may see, newest first, :data:`PAGE_SIZE` a page."""
    if user.role not in LEADS:
        raise Refused("role", role=user.role.value)
    has_recording = sa.exists().where(
        CallRecording.call_id == Call.id, CallRecording.state == "complete"
    )
    where: list[sa.ColumnElement[bool]] = [_region_clause(user)]
    if flt.agent:
        where.append(Call.agent_id == flt.agent)
    if flt.customer:
        where.append(
            sa.or_(Call.customer_id == flt.customer, Call.caller_number.startswith(flt.customer))
        )
    if flt.tier:
        where.append(Call.tier_id == flt.tier)
    if flt.queue:
        where.append(Call.queue_id == flt.queue)
    if flt.disposition:
        where.append(Call.disposition == flt.disposition)
    if flt.date_from:
        where.append(Call.arrived_at >= _day_start(flt.date_from))
    if flt.date_to:
        where.append(Call.arrived_at < _day_start(flt.date_to + dt.timedelta(days=1)))
    if flt.recorded == "yes":
        where.append(has_recording)
    elif flt.recorded == "no":
        where.append(~has_recording)
    with sessions() as session:
        total = session.scalar(sa.select(sa.func.count()).select_from(Call).where(*where)) or 0
        pages = max(1, math.ceil(total / PAGE_SIZE))
        page = min(max(1, page), pages)
        query = (
            sa.select(Call, Agent.name, Customer.name)
            .outerjoin(Agent, Agent.id == Call.agent_id)
            .outerjoin(Customer, Customer.id == Call.customer_id)
            .where(*where)
            .order_by(Call.arrived_at.desc(), Call.id)
            .limit(PAGE_SIZE)
            .offset((page - 1) * PAGE_SIZE)
        )
        found = session.execute(query).all()
        ids = [call.id for call, _a, _c in found]
        recs: dict[str, list[RecordingInfo]] = {}
        for rec in session.scalars(
            sa.select(CallRecording)
            .where(CallRecording.call_id.in_(ids), CallRecording.state == "complete")
            .order_by(CallRecording.created_at, CallRecording.id)
        ):
            recs.setdefault(rec.call_id, []).append(RecordingInfo(rec.id, rec.seconds, rec.size))
        scored = dict(
            session.execute(
                sa.select(QaEvaluation.call_id, sa.func.count())
                .where(QaEvaluation.call_id.in_(ids))
                .group_by(QaEvaluation.call_id)
            ).all()
        )
        rows = [
            CallRow(
                call_id=call.id,
                arrived_at=call.arrived_at,
                agent_id=call.agent_id,
                agent_name=agent_name or "",
                customer_id=call.customer_id,
                customer_name=customer_name or "",
                caller_number=call.caller_number,
                tier_id=call.tier_id,
                queue_id=call.queue_id,
                disposition=call.disposition,
                talk_seconds=_talk(call),
                recordings=tuple(recs.get(call.id, ())),
                evaluations=int(scored.get(call.id, 0)),
            )
            for call, agent_name, customer_name in found
        ]
    return CallPage(rows, page, pages, total)


def _talk(call: Call) -> float | None:
    if call.answered_at is None or call.released_at is None:
        return None
    return max(0.0, (call.released_at - call.answered_at).total_seconds())


@dataclass(frozen=True, slots=True)
class SearchChoices:
    agents: list[tuple[str, str]]
    tiers: list[tuple[str, str]]
    queues: list[tuple[str, str]]
    dispositions: list[str]


def search_choices(sessions: sessionmaker[Session]) -> SearchChoices:
    with sessions() as session:
        agents = [
            (a, n)
            for a, n in session.execute(
                sa.select(Agent.id, Agent.name)
                .where(Agent.role.in_([Role.AGENT.value, Role.TEAM_LEAD.value]))
                .order_by(Agent.id)
            )
        ]
        tiers = [
            (t, n) for t, n in session.execute(sa.select(Tier.id, Tier.name).order_by(Tier.id))
        ]
        queues = [
            (q, n) for q, n in session.execute(sa.select(Queue.id, Queue.name).order_by(Queue.id))
        ]
        dispositions = [
            d
            for d in session.scalars(
                sa.select(Call.disposition)
                .where(Call.disposition.is_not(None))
                .distinct()
                .order_by(Call.disposition)
            )
            if d
        ]
    return SearchChoices(agents, tiers, queues, dispositions)


# --- playback -------------------------------------------------------------------------------


class RangeNotSatisfiable(Exception):
    def __init__(self, size: int) -> None:
        super().__init__(size)
        self.size = size


@dataclass(frozen=True, slots=True)
class AudioPart:
    recording_id: str
    call_id: str
    size: int
    start: int
    end: int
    """Inclusive."""
    data: bytes
    partial: bool


def parse_range(header: str | None, size: int) -> tuple[int, int, bool] | None:
    """``(start, end inclusive, partial)`` for a ``Range`` header over ``size`` bytes;
    ``None`` when the header is absent or not a single byte range (the whole file)."""
    if not header:
        return None
    match = re.fullmatch(r"\s*bytes=(\d*)-(\d*)\s*", header)
    if match is None or (not match.group(1) and not match.group(2)):
        return None
    first, last = match.group(1), match.group(2)
    if not first:  # suffix: the last N bytes
        length = int(last)
        if length == 0:
            raise RangeNotSatisfiable(size)
        return max(0, size - length), size - 1, True
    start = int(first)
    if start >= size:
        raise RangeNotSatisfiable(size)
    if last:
        end = min(int(last), size - 1)
        if end < start:
            return None
    else:
        end = min(size - 1, start + MAX_RANGE_BYTES - 1)
    return start, end, True


def read_audio(
    sessions: sessionmaker[Session],
    user: WebUser,
    recording_id: str,
    range_header: str | None,
) -> AudioPart:
    """The bytes a playback request asks for, after the access check; audited."""
    with sessions.begin() as session:
        rec = session.get(CallRecording, recording_id)
        if rec is None or rec.state != "complete":
            raise LookupError(recording_id)
        check_call(session, user, rec.call_id)
        wanted = parse_range(range_header, rec.size)
        start, end, partial = wanted if wanted is not None else (0, rec.size - 1, False)
        pieces = session.execute(
            sa.select(CallRecordingChunk.offset, CallRecordingChunk.data)
            .where(
                CallRecordingChunk.recording_id == rec.id,
                CallRecordingChunk.offset <= end,
                CallRecordingChunk.offset > start - CHUNK_BYTES,
            )
            .order_by(CallRecordingChunk.offset)
        ).all()
        buf = bytearray()
        for offset, piece in pieces:
            lo = max(start, offset)
            hi = min(end + 1, offset + len(piece))
            if lo < hi:
                buf += piece[lo - offset : hi - offset]
        if len(buf) != end - start + 1:
            raise LookupError(recording_id)  # chunk rows missing: treat as gone
        audit.record(
            session,
            actor=user.agent_id,
            action="recording_play",
            entity="call_recording",
            entity_id=rec.id,
            after={"call_id": rec.call_id, "range": f"{start}-{end}", "bytes": len(buf)},
        )
        return AudioPart(rec.id, rec.call_id, rec.size, start, end, bytes(buf), partial)


@dataclass(frozen=True, slots=True)
class CallHeader:
    call_id: str
    arrived_at: dt.datetime
    agent_id: str | None
    agent_name: str
    customer_id: str | None
    caller_number: str
    tier_id: str | None
    queue_id: str | None
    disposition: str | None
    recordings: tuple[RecordingInfo, ...]


def call_header(sessions: sessionmaker[Session], user: WebUser, call_id: str) -> CallHeader:
    with sessions() as session:
        call = check_call(session, user, call_id)
        agent_name = (
            session.scalar(sa.select(Agent.name).where(Agent.id == call.agent_id))
            if call.agent_id
            else None
        )
        recs: Sequence[CallRecording] = session.scalars(
            sa.select(CallRecording)
            .where(CallRecording.call_id == call.id, CallRecording.state == "complete")
            .order_by(CallRecording.created_at, CallRecording.id)
        ).all()
        return CallHeader(
            call_id=call.id,
            arrived_at=call.arrived_at,
            agent_id=call.agent_id,
            agent_name=agent_name or "",
            customer_id=call.customer_id,
            caller_number=call.caller_number,
            tier_id=call.tier_id,
            queue_id=call.queue_id,
            disposition=call.disposition,
            recordings=tuple(RecordingInfo(r.id, r.seconds, r.size) for r in recs),
        )
