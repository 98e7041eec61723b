"""Historical reports (R-SUP-4): figures computed from the stored call records.

Two halves: plain queries that load what a period needs (calls, their agent events,
contact records, survey results, work orders) and pure functions that turn those rows
into the report tables. Every figure is defined here once and the page explains it:

* A call belongs to the interval of its **arrival**, in the report's IANA time zone
  (intervals follow the local wall clock, so a DST day has 23 or 25 hourly rows).
* **Offered** = calls that entered a queue (or were answered), minus short abandons.
  Calls still waiting when the report runs and calls that ended in the IVR are left out.
* **Wait** runs from queue entry (arrival for a call answered without a queue) to the
  answer, or to the hang-up for an abandoned call.
* **Short abandon**: hung up before answer within ``short_abandon`` seconds of queue
  entry (default 5 s); excluded from offered and from the abandonment rate.
* **Service level** = answered within the tier's ``sl_seconds`` / offered. Abandoned calls
  (after the short-abandon threshold) stay in offered and count as misses.
* **ASA** = mean wait of answered calls. **Abandonment rate** = abandoned / offered.
* **Talk** = answer to release (or transfer away) minus hold; **hold** from the hold and
  retrieve events; **ACW** = release to ``acw_ended`` of that agent; **AHT** = talk +
  hold + ACW per handled segment. A transferred call gives each agent their own segment.
* **Occupancy** (estimate): agent state events are not stored, so the logged-on time is
  approximated per agent and local day by the span from their first answer to their last
  release / ACW end; occupancy = handle time / that span.
* **First-contact resolution**: an answered call with a caller number is resolved at
  first contact when no other call from that number arrived within ``fcr_hours`` after it.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from cti_server.store.calls import CallEventKind
from cti_server.store.models import (
    Agent,
    Call,
    CallEvent,
    ContactRecord,
    Customer,
    Queue,
    SurveyResult,
    Tier,
    WorkOrder,
)

from .data import Invalid, WebUser
from .workorders_data import sla_clock

INTERVALS = ("15", "30", "60", "day", "week")
FCR_CHOICES = (24, 48)
DEFAULT_SHORT_ABANDON = 5.0
DEFAULT_SL_SECONDS = 20.0
"""Threshold for calls without a known tier."""
MAX_DAYS = 366
MAX_DAYS_FINE = 62
"""Longest period for 15/30/60-minute intervals (keeps the tables readable)."""
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

_AGENT_EVENTS = (
    CallEventKind.ANSWERED.value,
    CallEventKind.HELD.value,
    CallEventKind.RETRIEVED.value,
    CallEventKind.TRANSFERRED.value,
    CallEventKind.RELEASED.value,
    CallEventKind.CLOSED.value,
    CallEventKind.ACW_ENDED.value,
)


# --- the filter -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReportFilter:
    date_from: dt.date
    date_to: dt.date
    """Inclusive local days."""
    zone: str = "UTC"
    interval: str = "60"
    tier: str = ""
    queue: str = ""
    agent: str = ""
    short_abandon: float = DEFAULT_SHORT_ABANDON
    fcr_hours: int = 24

    @property
    def tz(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.zone)

    def bounds(self) -> tuple[dt.datetime, dt.datetime]:
        """UTC start (inclusive) and end (exclusive): local midnights of the period."""
        tz = self.tz
        start = dt.datetime.combine(self.date_from, dt.time(), tz)
        end = dt.datetime.combine(self.date_to + dt.timedelta(days=1), dt.time(), tz)
        return start.astimezone(dt.UTC), end.astimezone(dt.UTC)


def parse_filter(values: dict[str, str], *, default_zone: str, today: dt.date) -> ReportFilter:
    """The report filter from the form's text fields; bad input raises :class:`Invalid`."""
    zone = values.get("tz", "").strip() or default_zone
    try:
        zoneinfo.ZoneInfo(zone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise Invalid("rpt_error_tz") from None
    try:
        date_to = dt.date.fromisoformat(values["to"]) if values.get("to") else today
        date_from = (
            dt.date.fromisoformat(values["from"])
            if values.get("from")
            else date_to - dt.timedelta(days=6)
        )
    except ValueError:
        raise Invalid("error_date") from None
    if date_to < date_from:
        raise Invalid("rpt_error_range")
    interval = values.get("interval") or "60"
    if interval not in INTERVALS:
        raise Invalid("error_choice")
    days = (date_to - date_from).days + 1
    if days > MAX_DAYS or (interval in ("15", "30", "60") and days > MAX_DAYS_FINE):
        raise Invalid("rpt_error_long")
    try:
        short = float(values.get("short") or DEFAULT_SHORT_ABANDON)
        fcr = int(values.get("fcr") or 24)
    except ValueError:
        raise Invalid("rpt_error_number") from None
    if not 0 <= short <= 600 or fcr not in FCR_CHOICES:
        raise Invalid("rpt_error_number")
    return ReportFilter(
        date_from=date_from,
        date_to=date_to,
        zone=zone,
        interval=interval,
        tier=values.get("tier", "").strip(),
        queue=values.get("queue", "").strip(),
        agent=values.get("agent", "").strip(),
        short_abandon=short,
        fcr_hours=fcr,
    )


# --- intervals ------------------------------------------------------------------------------


def bucket_of(at: dt.datetime, interval: str, tz: dt.tzinfo) -> dt.datetime:
    """The UTC start of the interval holding ``at`` (local wall-clock intervals)."""
    local = at.astimezone(tz)
    if interval in ("15", "30", "60"):
        size = int(interval)
        start = local.replace(minute=local.minute // size * size, second=0, microsecond=0)
        return start.astimezone(dt.UTC)  # keeps ``fold``: a repeated hour stays separate
    day = local.date()
    if interval == "week":
        day -= dt.timedelta(days=day.weekday())
    return dt.datetime.combine(day, dt.time(), tz).astimezone(dt.UTC)


def buckets(flt: ReportFilter) -> list[dt.datetime]:
    """Every interval start (UTC) of the period, empty ones included."""
    tz = flt.tz
    start, end = flt.bounds()
    found: list[dt.datetime] = []
    if flt.interval in ("15", "30", "60"):
        at, step = start, dt.timedelta(minutes=15)
        while at < end:
            b = bucket_of(at, flt.interval, tz)
            if not found or found[-1] != b:
                found.append(b)
            at += step
        return found
    day = flt.date_from
    while day <= flt.date_to:
        b = bucket_of(dt.datetime.combine(day, dt.time(12), tz), flt.interval, tz)
        if not found or found[-1] != b:
            found.append(b)
        day += dt.timedelta(days=1)
    return found


def bucket_labels(starts: Sequence[dt.datetime], interval: str, tz: dt.tzinfo) -> list[str]:
    """Local labels; a wall time that occurs twice (DST fall-back) gets its UTC offset."""
    labels = []
    for start in starts:
        local = start.astimezone(tz)
        if interval == "day":
            labels.append(local.strftime("%Y-%m-%d"))
        elif interval == "week":
            labels.append(local.strftime("%Y-%m-%d") + " W" + local.strftime("%V"))
        else:
            labels.append(local.strftime("%Y-%m-%d %H:%M"))
    seen: dict[str, int] = defaultdict(int)
    for label in labels:
        seen[label] += 1
    return [
        f"{label} ({start.astimezone(tz).strftime('%z')[:3]}:"
        f"{start.astimezone(tz).strftime('%z')[3:]})"
        if seen[label] > 1
        else label
        for label, start in zip(labels, starts, strict=True)
    ]


# --- per-call facts (pure) -------------------------------------------------------------------


@dataclass(slots=True)
class Segment:
    """One agent's part of a call."""

    agent_id: str
    start: dt.datetime
    end: dt.datetime | None = None
    hold: float = 0.0
    held_at: dt.datetime | None = None
    acw: float = 0.0
    acw_end: dt.datetime | None = None
    transferred: bool = False

    @property
    def talk(self) -> float:
        if self.end is None:
            return 0.0
        return max(0.0, (self.end - self.start).total_seconds() - self.hold)

    @property
    def handle(self) -> float:
        return self.talk + self.hold + self.acw


@dataclass(frozen=True, slots=True)
class CallRow:
    """The summary columns a report needs (a ``calls`` row)."""

    call_id: str
    arrived_at: dt.datetime
    caller_number: str
    tier_id: str | None
    queue_id: str | None
    agent_id: str | None
    queued_at: dt.datetime | None
    answered_at: dt.datetime | None
    released_at: dt.datetime | None
    transfer_count: int


@dataclass(frozen=True, slots=True)
class EventRow:
    call_id: str
    seq: int
    kind: str
    at: dt.datetime
    data: dict[str, Any]


@dataclass(slots=True)
class CallFacts:
    call: CallRow
    outcome: str
    """``answered``, ``abandoned``, ``short_abandon``, ``not_queued`` or ``open``."""
    wait: float | None
    segments: list[Segment] = field(default_factory=list)

    @property
    def offered(self) -> bool:
        return self.outcome in ("answered", "abandoned")


def call_facts(call: CallRow, events: Iterable[EventRow], short_abandon: float) -> CallFacts:
    """Outcome, wait and the agents' segments of one call."""
    entered = call.queued_at
    if call.answered_at is not None:
        start = entered or call.arrived_at
        outcome, wait = "answered", max(0.0, (call.answered_at - start).total_seconds())
    elif entered is None:
        outcome, wait = "not_queued", None
    elif call.released_at is None:
        outcome, wait = "open", None
    else:
        wait = max(0.0, (call.released_at - entered).total_seconds())
        outcome = "short_abandon" if wait < short_abandon else "abandoned"
    facts = CallFacts(call, outcome, wait)
    open_segments: dict[str, Segment] = {}
    for ev in sorted(events, key=lambda e: e.seq):
        agent = ev.data.get("agent_id")
        if ev.kind == CallEventKind.ANSWERED.value and agent:
            seg = Segment(str(agent), ev.at)
            open_segments[seg.agent_id] = seg
            facts.segments.append(seg)
        elif ev.kind == CallEventKind.HELD.value:
            for seg in _targets(open_segments, agent):
                if seg.held_at is None:
                    seg.held_at = ev.at
        elif ev.kind == CallEventKind.RETRIEVED.value:
            for seg in _targets(open_segments, agent):
                _unhold(seg, ev.at)
        elif ev.kind == CallEventKind.TRANSFERRED.value:
            source = ev.data.get("from_agent")
            for seg in _targets(open_segments, source):
                _close(seg, ev.at)
                seg.transferred = True
                open_segments.pop(seg.agent_id, None)
        elif ev.kind in (CallEventKind.RELEASED.value, CallEventKind.CLOSED.value):
            for seg in list(open_segments.values()):
                _close(seg, ev.at)
            open_segments.clear()
        elif ev.kind == CallEventKind.ACW_ENDED.value:
            for seg in reversed(facts.segments):
                if seg.end is not None and (agent is None or seg.agent_id == agent):
                    seg.acw = max(0.0, (ev.at - seg.end).total_seconds())
                    seg.acw_end = ev.at
                    break
    return facts


def _targets(open_segments: dict[str, Segment], agent: Any) -> list[Segment]:
    if agent and str(agent) in open_segments:
        return [open_segments[str(agent)]]
    return list(open_segments.values())


def _unhold(seg: Segment, at: dt.datetime) -> None:
    if seg.held_at is not None:
        seg.hold += max(0.0, (at - seg.held_at).total_seconds())
        seg.held_at = None


def _close(seg: Segment, at: dt.datetime) -> None:
    _unhold(seg, at)
    if seg.end is None:
        seg.end = at


# --- tables ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Table:
    """One report table: column message keys and rows of plain values."""

    key: str
    columns: tuple[str, ...]
    rows: list[list[Any]]


@dataclass(slots=True)
class SlCounts:
    offered: int = 0
    answered: int = 0
    in_sl: int = 0
    abandoned: int = 0
    short_abandons: int = 0
    wait_total: float = 0.0

    def add(self, facts: CallFacts, threshold: float) -> None:
        if facts.outcome == "short_abandon":
            self.short_abandons += 1
        if not facts.offered:
            return
        self.offered += 1
        if facts.outcome == "answered":
            assert facts.wait is not None
            self.answered += 1
            self.wait_total += facts.wait
            if facts.wait <= threshold:
                self.in_sl += 1
        else:
            self.abandoned += 1

    @property
    def service_level(self) -> float | None:
        return None if not self.offered else self.in_sl / self.offered

    @property
    def asa(self) -> float | None:
        return None if not self.answered else self.wait_total / self.answered

    @property
    def abandon_rate(self) -> float | None:
        return None if not self.offered else self.abandoned / self.offered

    def cells(self) -> list[Any]:
        return [
            self.offered,
            self.answered,
            self.in_sl,
            self.abandoned,
            self.short_abandons,
            _pct(self.service_level),
            _secs(self.asa),
            _pct(self.abandon_rate),
        ]


SL_COLUMNS = (
    "rpt_offered",
    "rpt_answered",
    "rpt_in_sl",
    "rpt_abandoned",
    "rpt_short_abandons",
    "rpt_sl",
    "rpt_asa",
    "rpt_abandon_rate",
)


def _pct(value: float | None) -> float | None:
    return None if value is None else round(100.0 * value, 1)


def _secs(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


@dataclass(frozen=True, slots=True)
class ReportData:
    """Everything a report page needs, loaded for one filter."""

    calls: list[CallFacts]
    thresholds: dict[str, float]
    agent_names: dict[str, str]
    fcr_followers: dict[str, list[dt.datetime]]
    """Caller number → arrival times of calls up to ``fcr_hours`` after the period."""
    contacts: list[tuple[dt.datetime, str]]
    """(started_at, direction) of contact records in the period."""
    surveys: list[tuple[str | None, int]]
    orders: list[WorkOrder]
    now: dt.datetime


def sl_by_interval(
    data: ReportData, flt: ReportFilter, group: str | None = None
) -> tuple[list[dt.datetime], list[str], dict[tuple[dt.datetime, str], SlCounts]]:
    """Service-level counts per (interval, tier / queue / "" for all)."""
    tz = flt.tz
    starts = buckets(flt)
    labels = bucket_labels(starts, flt.interval, tz)
    counts: dict[tuple[dt.datetime, str], SlCounts] = defaultdict(SlCounts)
    for facts in data.calls:
        key = ""
        if group == "tier":
            key = facts.call.tier_id or ""
        elif group == "queue":
            key = facts.call.queue_id or ""
        b = bucket_of(facts.call.arrived_at, flt.interval, tz)
        counts[(b, key)].add(facts, _threshold(data, facts))
    return starts, labels, counts


def _threshold(data: ReportData, facts: CallFacts) -> float:
    return data.thresholds.get(facts.call.tier_id or "", DEFAULT_SL_SECONDS)


def sl_tables(data: ReportData, flt: ReportFilter) -> list[Table]:
    starts, labels, overall = sl_by_interval(data, flt)
    total = SlCounts()
    rows = []
    for start, label in zip(starts, labels, strict=True):
        c = overall.get((start, ""), SlCounts())
        rows.append([label, *c.cells()])
    for facts in data.calls:
        total.add(facts, _threshold(data, facts))
    rows.append(["total", *total.cells()])
    tables = [Table("sl_interval", ("rpt_interval", *SL_COLUMNS), rows)]
    for group in ("tier", "queue"):
        _s, _l, counts = sl_by_interval(data, flt, group)
        label_of = dict(zip(starts, labels, strict=True))
        grouped_rows: list[list[Any]] = []
        for (start, key), c in sorted(counts.items(), key=lambda kv: (kv[0][0], kv[0][1])):
            row: list[Any] = [label_of.get(start, ""), key or "—"]
            if group == "tier":
                row.append(data.thresholds.get(key, DEFAULT_SL_SECONDS))
            grouped_rows.append([*row, *c.cells()])
        columns: tuple[str, ...] = ("rpt_interval", f"rpt_{group}")
        if group == "tier":
            columns = (*columns, "rpt_threshold")
        tables.append(Table(f"sl_{group}", (*columns, *SL_COLUMNS), grouped_rows))
    return tables


@dataclass(slots=True)
class AgentFigures:
    handled: int = 0
    talk: float = 0.0
    hold: float = 0.0
    acw: float = 0.0
    transfers: int = 0
    days: dict[dt.date, tuple[dt.datetime, dt.datetime]] = field(default_factory=dict)
    extra_span: float = 0.0
    """Logged-on estimate added from other agents (the total row)."""

    @property
    def handle(self) -> float:
        return self.talk + self.hold + self.acw

    @property
    def span(self) -> float:
        return self.extra_span + sum((b - a).total_seconds() for a, b in self.days.values())

    @property
    def occupancy(self) -> float | None:
        span = self.span
        return None if span <= 0 else min(1.0, self.handle / span)

    def add(self, seg: Segment, tz: dt.tzinfo) -> None:
        if seg.end is None:
            return
        self.handled += 1
        self.talk += seg.talk
        self.hold += seg.hold
        self.acw += seg.acw
        self.transfers += int(seg.transferred)
        finish = seg.acw_end or seg.end
        day = seg.start.astimezone(tz).date()
        first, last = self.days.get(day, (seg.start, finish))
        self.days[day] = (min(first, seg.start), max(last, finish))

    def cells(self) -> list[Any]:
        n = self.handled or 1
        return [
            self.handled,
            _secs(self.talk / n),
            _secs(self.hold / n),
            _secs(self.acw / n),
            _secs(self.handle / n) if self.handled else None,
            _secs(self.talk),
            self.transfers,
            _pct(self.occupancy),
        ]


AGENT_COLUMNS = (
    "rpt_handled",
    "rpt_avg_talk",
    "rpt_avg_hold",
    "rpt_avg_acw",
    "rpt_aht",
    "rpt_talk_total",
    "rpt_transfers",
    "rpt_occupancy",
)


def agent_figures(data: ReportData, flt: ReportFilter) -> dict[str, AgentFigures]:
    figures: dict[str, AgentFigures] = defaultdict(AgentFigures)
    for facts in data.calls:
        for seg in facts.segments:
            if not flt.agent or seg.agent_id == flt.agent:
                figures[seg.agent_id].add(seg, flt.tz)
    return dict(figures)


def agent_table(data: ReportData, flt: ReportFilter) -> Table:
    figures = agent_figures(data, flt)
    total = AgentFigures()
    rows = []
    for agent_id in sorted(figures):
        f = figures[agent_id]
        rows.append([agent_id, data.agent_names.get(agent_id, ""), *f.cells()])
        total.handled += f.handled
        total.talk += f.talk
        total.hold += f.hold
        total.acw += f.acw
        total.transfers += f.transfers
        total.extra_span += f.span
    rows.append(["total", "", *total.cells()])
    return Table("agents", ("rpt_agent", "rpt_name", *AGENT_COLUMNS), rows)


def fcr(data: ReportData, flt: ReportFilter) -> tuple[int, int]:
    """(answered calls with a caller number, of those resolved at first contact)."""
    window = dt.timedelta(hours=flt.fcr_hours)
    eligible = resolved = 0
    for facts in data.calls:
        call = facts.call
        if facts.outcome != "answered" or not call.caller_number:
            continue
        eligible += 1
        later = data.fcr_followers.get(call.caller_number, [])
        if not any(call.arrived_at < at <= call.arrived_at + window for at in later):
            resolved += 1
    return eligible, resolved


def summary_table(data: ReportData, flt: ReportFilter) -> Table:
    total = SlCounts()
    transferred = 0
    for facts in data.calls:
        total.add(facts, _threshold(data, facts))
        transferred += int(facts.call.transfer_count > 0 and facts.outcome == "answered")
    eligible, resolved = fcr(data, flt)
    figures = agent_figures(data, flt)
    handled = sum(f.handled for f in figures.values())
    handle = sum(f.handle for f in figures.values())
    inbound = sum(1 for _at, d in data.contacts if d == "inbound")
    outbound = sum(1 for _at, d in data.contacts if d == "outbound")
    scores = [s for _a, s in data.surveys]
    rows: list[list[Any]] = [
        ["rpt_calls", len(data.calls)],
        ["rpt_offered", total.offered],
        ["rpt_answered", total.answered],
        ["rpt_abandoned", total.abandoned],
        ["rpt_short_abandons", total.short_abandons],
        ["rpt_sl", _pct(total.service_level)],
        ["rpt_asa", _secs(total.asa)],
        ["rpt_abandon_rate", _pct(total.abandon_rate)],
        ["rpt_aht", _secs(handle / handled) if handled else None],
        ["rpt_transferred_calls", transferred],
        ["rpt_fcr", _pct(resolved / eligible) if eligible else None],
        ["rpt_inbound", inbound],
        ["rpt_outbound", outbound],
        ["rpt_csat", round(sum(scores) / len(scores), 2) if scores else None],
    ]
    return Table("summary", ("rpt_figure", "rpt_value"), rows)


def direction_table(data: ReportData, flt: ReportFilter) -> Table:
    tz = flt.tz
    starts = buckets(flt)
    labels = bucket_labels(starts, flt.interval, tz)
    counts: dict[tuple[dt.datetime, str], int] = defaultdict(int)
    for at, direction in data.contacts:
        counts[(bucket_of(at, flt.interval, tz), direction)] += 1
    rows = [
        [label, counts[(s, "inbound")], counts[(s, "outbound")]]
        for s, label in zip(starts, labels, strict=True)
        if counts[(s, "inbound")] or counts[(s, "outbound")]
    ]
    return Table("direction", ("rpt_interval", "rpt_inbound", "rpt_outbound"), rows)


def heat_map(data: ReportData, flt: ReportFilter) -> list[list[int]]:
    """Calls by local weekday (rows, Monday first) and hour (columns)."""
    grid = [[0] * 24 for _ in range(7)]
    tz = flt.tz
    for facts in data.calls:
        local = facts.call.arrived_at.astimezone(tz)
        grid[local.weekday()][local.hour] += 1
    return grid


def heat_table(grid: list[list[int]]) -> Table:
    rows = [[f"rpt_day_{WEEKDAYS[d]}", *grid[d], sum(grid[d])] for d in range(7)]
    return Table("heat", ("rpt_weekday", *(f"{h:02d}" for h in range(24)), "total"), rows)


def busiest_days(data: ReportData, flt: ReportFilter, top: int = 7) -> Table:
    tz = flt.tz
    days: dict[dt.date, int] = defaultdict(int)
    for facts in data.calls:
        days[facts.call.arrived_at.astimezone(tz).date()] += 1
    ranked = sorted(days.items(), key=lambda kv: (-kv[1], kv[0]))[:top]
    rows = [[d.isoformat(), f"rpt_day_{WEEKDAYS[d.weekday()]}", n] for d, n in ranked]
    return Table("busiest", ("rpt_date", "rpt_weekday", "rpt_calls"), rows)


def csat_table(data: ReportData) -> Table:
    per: dict[str, list[int]] = defaultdict(list)
    for agent, score in data.surveys:
        per[agent or "—"].append(score)
    rows = []
    for agent in sorted(per):
        scores = per[agent]
        rows.append(
            [
                agent,
                data.agent_names.get(agent, ""),
                len(scores),
                round(sum(scores) / len(scores), 2),
                _pct(sum(1 for s in scores if s >= 4) / len(scores)),
            ]
        )
    everything = [s for _a, s in data.surveys]
    if everything:
        rows.append(
            [
                "total",
                "",
                len(everything),
                round(sum(everything) / len(everything), 2),
                _pct(sum(1 for s in everything if s >= 4) / len(everything)),
            ]
        )
    return Table(
        "csat", ("rpt_agent", "rpt_name", "rpt_responses", "rpt_avg_score", "rpt_satisfied"), rows
    )


def workorder_table(data: ReportData) -> Table:
    """Per SLA clock of the orders created in the period: met, late, overdue, running."""
    rows = []
    for clock in ("respond", "on_site", "resolve"):
        states: dict[str, int] = defaultdict(int)
        for row in data.orders:
            closed = row.closed_at
            due, stopped = {
                "respond": (row.respond_by, row.accepted_at or closed),
                "on_site": (row.on_site_by, row.on_site_at or row.resolved_at or closed),
                "resolve": (row.resolve_by, row.resolved_at or closed),
            }[clock]
            states[sla_clock(clock, due, stopped, data.now).state] += 1
        judged = states["met"] + states["late"] + states["overdue"]
        rows.append(
            [
                f"rpt_clock_{clock}",
                states["met"],
                states["late"],
                states["overdue"],
                states["running"],
                _pct(states["met"] / judged) if judged else None,
            ]
        )
    return Table(
        "workorders",
        ("rpt_clock", "rpt_met", "rpt_late", "rpt_overdue", "rpt_running", "rpt_compliance"),
        rows,
    )


@dataclass(frozen=True, slots=True)
class Report:
    filter: ReportFilter
    tables: dict[str, Table]
    sl_chart: list[tuple[str, float | None]]
    volume_chart: list[tuple[str, float | None]]
    heat: list[list[int]]
    target: float | None
    """The chosen tier's SL target (percent), drawn on the SL chart."""
    threshold: float | None = None
    """The chosen tier's SL threshold (seconds)."""


def build_report(
    data: ReportData,
    flt: ReportFilter,
    target: float | None = None,
    threshold: float | None = None,
) -> Report:
    """Every table of the report page (pure)."""
    tables = [summary_table(data, flt), *sl_tables(data, flt), agent_table(data, flt)]
    grid = heat_map(data, flt)
    tables += [
        direction_table(data, flt),
        busiest_days(data, flt),
        heat_table(grid),
        csat_table(data),
        workorder_table(data),
    ]
    starts, labels, overall = sl_by_interval(data, flt)
    sl_chart = [
        (lb, _pct(overall[(s, "")].service_level)) for s, lb in zip(starts, labels, strict=True)
    ]
    volume_chart: list[tuple[str, float | None]] = [
        (lb, float(overall[(s, "")].offered) or None) for s, lb in zip(starts, labels, strict=True)
    ]
    return Report(flt, {t.key: t for t in tables}, sl_chart, volume_chart, grid, target, threshold)


# --- queries --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Choices:
    tiers: list[tuple[str, str]]
    queues: list[tuple[str, str]]
    agents: list[tuple[str, str]]


def report_choices(sessions: sessionmaker[Session]) -> Choices:
    with sessions() as session:
        return Choices(
            tiers=[(t.id, t.name) for t in session.scalars(sa.select(Tier).order_by(Tier.id))],
            queues=[(q.id, q.name) for q in session.scalars(sa.select(Queue).order_by(Queue.id))],
            agents=[
                (a.id, a.name)
                for a in session.scalars(
                    sa.select(Agent)
                    .where(Agent.role.in_(("agent", "team_lead")))
                    .order_by(Agent.order_key, Agent.id)
                )
            ],
        )


def _call_filter(user: WebUser, flt: ReportFilter, start: dt.datetime, end: dt.datetime) -> Any:
    where: list[Any] = [Call.arrived_at >= start, Call.arrived_at < end]
    if flt.tier:
        where.append(Call.tier_id == flt.tier)
    if flt.queue:
        where.append(Call.queue_id == flt.queue)
    if flt.agent:
        answered_by = sa.select(CallEvent.call_id).where(
            CallEvent.kind == CallEventKind.ANSWERED.value,
            CallEvent.data["agent_id"].as_string() == flt.agent,
        )
        where.append(Call.id.in_(answered_by))
    if user.region is not None:  # R-BIZ-4: other regions' customers are left out
        other = sa.select(Customer.id).where(Customer.region != user.region)
        where.append(sa.or_(Call.customer_id.is_(None), Call.customer_id.not_in(other)))
    return sa.and_(*where)


def load_report_data(
    sessions: sessionmaker[Session],
    user: WebUser,
    flt: ReportFilter,
    *,
    now: dt.datetime | None = None,
) -> ReportData:
    """Load the period's rows (one read transaction) and derive the per-call facts."""
    start, end = flt.bounds()
    with sessions() as session:
        where = _call_filter(user, flt, start, end)
        calls = [
            CallRow(
                r.id,
                r.arrived_at,
                r.caller_number,
                r.tier_id,
                r.queue_id,
                r.agent_id,
                r.queued_at,
                r.answered_at,
                r.released_at,
                r.transfer_count,
            )
            for r in session.scalars(sa.select(Call).where(where).order_by(Call.arrived_at))
        ]
        events: dict[str, list[EventRow]] = defaultdict(list)
        ids = sa.select(Call.id).where(where)
        for e in session.scalars(
            sa.select(CallEvent)
            .where(CallEvent.call_id.in_(ids), CallEvent.kind.in_(_AGENT_EVENTS))
            .order_by(CallEvent.call_id, CallEvent.seq)
        ):
            events[e.call_id].append(EventRow(e.call_id, e.seq, e.kind, e.at, dict(e.data or {})))
        thresholds = {t.id: t.sl_seconds for t in session.scalars(sa.select(Tier))}
        names = {a.id: a.name for a in session.scalars(sa.select(Agent))}
        followers: dict[str, list[dt.datetime]] = defaultdict(list)
        numbers = {c.caller_number for c in calls if c.caller_number}
        if numbers:
            horizon = end + dt.timedelta(hours=flt.fcr_hours)
            for number, at in session.execute(
                sa.select(Call.caller_number, Call.arrived_at).where(
                    Call.arrived_at >= start, Call.arrived_at < horizon, Call.caller_number != ""
                )
            ):
                if number in numbers:
                    followers[number].append(at)
        contact_where: list[Any] = [
            ContactRecord.started_at >= start,
            ContactRecord.started_at < end,
        ]
        survey_where: list[Any] = [SurveyResult.at >= start, SurveyResult.at < end]
        if flt.agent:
            contact_where.append(ContactRecord.agent_id == flt.agent)
            survey_where.append(SurveyResult.agent_id == flt.agent)
        contacts = [
            (at, direction)
            for at, direction in session.execute(
                sa.select(ContactRecord.started_at, ContactRecord.direction).where(*contact_where)
            )
        ]
        surveys = [
            (agent, int(score))
            for agent, score in session.execute(
                sa.select(SurveyResult.agent_id, SurveyResult.score).where(*survey_where)
            )
        ]
        orders = list(
            session.scalars(
                sa.select(WorkOrder).where(
                    WorkOrder.created_at >= start, WorkOrder.created_at < end
                )
            )
        )
        session.expunge_all()
    return ReportData(
        calls=[call_facts(c, events.get(c.call_id, ()), flt.short_abandon) for c in calls],
        thresholds=thresholds,
        agent_names=names,
        fcr_followers=dict(followers),
        contacts=contacts,
        surveys=surveys,
        orders=orders,
        now=now or dt.datetime.now(dt.UTC),
    )


def tier_target(sessions: sessionmaker[Session], tier_id: str) -> float | None:
    if not tier_id:
        return None
    with sessions() as session:
        tier = session.get(Tier, tier_id)
        return None if tier is None else round(100.0 * tier.sl_target, 1)


def run_report(
    sessions: sessionmaker[Session],
    user: WebUser,
    flt: ReportFilter,
    *,
    now: dt.datetime | None = None,
) -> Report:
    data = load_report_data(sessions, user, flt, now=now)
    threshold = data.thresholds.get(flt.tier) if flt.tier else None
    return build_report(data, flt, tier_target(sessions, flt.tier), threshold)
