"""Value types of the outbound dialer core: outcomes, modes, records, strategy, actions.

Everything here is pure data; no I/O. Times are wall-clock UTC epoch seconds passed
in by the driver (the injected clock), so calling windows can be checked in the
target's own time zone.
"""

from __future__ import annotations

import datetime as dt
import enum
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


class OutboundConfigError(ValueError):
    """Invalid campaign configuration; ``field`` names the offending setting."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class UnknownObject(KeyError):
    """An event names an agent, call or record the dialer does not know."""


class InvalidState(RuntimeError):
    """An event is not valid in the object's current state (e.g. accept without a preview)."""


class DialMode(enum.StrEnum):
    PREVIEW = "preview"
    PROGRESSIVE = "progressive"
    POWER = "power"
    PREDICTIVE = "predictive"


class Outcome(enum.StrEnum):
    """Result of one dial attempt as reported by the switch (AMD result included)."""

    BUSY = "busy"
    NO_ANSWER = "no_answer"  # ring timeout
    MACHINE = "machine"  # answering-machine detection said machine
    FAILED = "failed"
    ABANDONED = "abandoned"  # answered by a person, no agent within the abandon window
    ANSWERED = "answered"  # answered by a person and connected to an agent


#: Outcomes after which a record is retried (subject to max attempts).
RETRYABLE = frozenset(
    {Outcome.BUSY, Outcome.NO_ANSWER, Outcome.MACHINE, Outcome.FAILED, Outcome.ABANDONED}
)


class RecordStatus(enum.StrEnum):
    READY = "ready"  # waiting for its due time / calling window
    DIALLING = "dialling"  # picked for a dial (or offered to a preview agent)
    DONE = "done"  # contacted; finished by the agent
    EXHAUSTED = "exhausted"  # max attempts reached and no recycling left
    DNC = "dnc"  # blocked for good by the do-not-call check


@lru_cache(maxsize=512)
def zone(tz: str) -> ZoneInfo:
    """The ``ZoneInfo`` of an IANA name (cached); typed error when unknown."""
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise OutboundConfigError("tz", f"unknown time zone {tz!r}") from None


WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _minutes(text: str) -> int:
    try:
        hh, mm = text.split(":")
        hours, minutes = int(hh), int(mm)
    except ValueError:
        raise OutboundConfigError("window", f"time must be HH:MM, got {text!r}") from None
    if not (0 <= minutes < 60 and 0 <= hours <= 24) or (hours == 24 and minutes != 0):
        raise OutboundConfigError("window", f"time out of range: {text!r}")
    return hours * 60 + minutes


@dataclass(frozen=True, kw_only=True)
class CallingWindow:
    """Local hours during which a target may be called, evaluated in the target's zone.

    ``weekly`` maps a weekday (``0``/``"mon"`` .. ``6``/``"sun"``) to intervals
    ``("HH:MM", "HH:MM")`` of *local* wall-clock time (start inclusive, end exclusive,
    ``"24:00"`` allowed as an end); absent weekdays are closed. ``holidays`` are local
    dates closed all day. DST is handled by the tz database: 09:00 local is 09:00 local
    on both sides of a change.
    """

    weekly: Mapping[int | str, Iterable[tuple[str, str]]] = field(default_factory=dict)
    holidays: frozenset[dt.date] = frozenset()
    _days: tuple[tuple[tuple[int, int], ...], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        per_day: list[list[tuple[int, int]]] = [[] for _ in range(7)]
        for day, intervals in self.weekly.items():
            if isinstance(day, str):
                key = day.strip().lower()[:3]
                if key not in WEEKDAYS:
                    raise OutboundConfigError("window", f"unknown weekday {day!r}")
                index = WEEKDAYS.index(key)
            elif 0 <= day <= 6:
                index = day
            else:
                raise OutboundConfigError("window", f"weekday must be 0..6, got {day}")
            for start_text, end_text in intervals:
                start, end = _minutes(start_text), _minutes(end_text)
                if start >= end:
                    raise OutboundConfigError(
                        "window", f"interval {start_text}-{end_text} is empty or crosses midnight"
                    )
                per_day[index].append((start, end))
        object.__setattr__(self, "_days", tuple(tuple(sorted(d)) for d in per_day))

    @classmethod
    def always(cls) -> CallingWindow:
        return cls(weekly={d: (("00:00", "24:00"),) for d in range(7)})

    @classmethod
    def daily(cls, start: str, end: str, days: Iterable[int | str] = range(7)) -> CallingWindow:
        return cls(weekly={d: ((start, end),) for d in days})

    def is_open(self, epoch: float, tz: str) -> bool:
        """May a target living in ``tz`` be called at this instant?"""
        local = dt.datetime.fromtimestamp(epoch, tz=zone(tz))
        if local.date() in self.holidays:
            return False
        minute = local.hour * 60 + local.minute
        return any(s <= minute < e for s, e in self._days[local.weekday()])

    def next_open(self, epoch: float, tz: str) -> float | None:
        """The first instant >= ``epoch`` at which the window is open (None: never)."""
        if self.is_open(epoch, tz):
            return epoch
        tzinfo = zone(tz)
        day = dt.datetime.fromtimestamp(epoch, tz=tzinfo).date()
        for offset in range(15):
            date = day + dt.timedelta(days=offset)
            if date in self.holidays:
                continue
            midnight = dt.datetime.combine(date, dt.time(), tzinfo=tzinfo)
            for start, _end in self._days[date.weekday()]:
                # Wall-clock start -> instant. A start inside a spring-forward gap maps
                # past the gap (PEP 495 fold=0), still inside the interval if it is open.
                local = midnight.replace(hour=start // 60, minute=start % 60)
                candidate = local.timestamp()
                if candidate >= epoch and self.is_open(candidate, tz):
                    return candidate
        return None


@dataclass(frozen=True, slots=True)
class TargetRecord:
    """One person to call: the campaign's target record (required fields only)."""

    record_id: str
    phone: str
    tz: str = "UTC"
    region: str = ""
    priority: int = 0  # higher is called first


def _default_retry() -> dict[Outcome, float]:
    return {
        Outcome.BUSY: 600.0,
        Outcome.NO_ANSWER: 1800.0,
        Outcome.MACHINE: 3600.0,
        Outcome.FAILED: 900.0,
        Outcome.ABANDONED: 3600.0,
    }


@dataclass(frozen=True, kw_only=True)
class Strategy:
    """Per-campaign dialling strategy (R-OUT-5).

    ``window`` applies to every target unless ``region_windows`` has its region.
    ``retry_after`` gives the delay before the next attempt after each retryable
    outcome. After ``max_attempts`` a record is exhausted; with ``recycle_after`` it is
    recycled (attempts reset) that many seconds later, at most ``max_recycles`` times.
    ``priority`` orders campaigns that share agents (higher first).
    """

    window: CallingWindow = field(default_factory=CallingWindow.always)
    region_windows: Mapping[str, CallingWindow] = field(default_factory=dict)
    max_attempts: int = 3
    retry_after: Mapping[Outcome, float] = field(default_factory=_default_retry)
    recycle_after: float | None = None
    max_recycles: int = 0
    priority: int = 0
    ring_timeout: float = 25.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise OutboundConfigError("max_attempts", "must be >= 1")
        for outcome in RETRYABLE:
            delay = self.retry_after.get(outcome)
            if delay is None or not math.isfinite(delay) or delay < 0:
                raise OutboundConfigError(
                    f"retry_after.{outcome}", "needs a finite delay >= 0 seconds"
                )
        if self.recycle_after is not None and self.recycle_after < 0:
            raise OutboundConfigError("recycle_after", "must be >= 0")
        if self.max_recycles < 0:
            raise OutboundConfigError("max_recycles", "must be >= 0")
        if not self.ring_timeout > 0:
            raise OutboundConfigError("ring_timeout", "must be > 0")

    def window_for(self, record: TargetRecord) -> CallingWindow:
        return self.region_windows.get(record.region, self.window)


@dataclass(frozen=True, slots=True)
class Block:
    """Answer of the dial guard: the number may not be dialled now.

    ``until`` is when it may be tried again (cooling period); ``None`` means never (DNC).
    """

    reason: str
    until: float | None = None


#: Injected check at dial time: ``guard(phone, now)`` -> ``None`` (allowed) or a Block.
DialGuard = Callable[[str, float], Block | None]


class InMemoryDialGuard:
    """A reference dial guard: a DNC set plus a per-number cooling period.

    The driver calls :meth:`note_dialled` for every ``Dial`` it places (the production
    guard is backed by the campaign database instead).
    """

    def __init__(self, dnc: Iterable[str] = (), cooling_seconds: float = 0.0) -> None:
        self.dnc = set(dnc)
        self.cooling_seconds = cooling_seconds
        self._last: dict[str, float] = {}

    def note_dialled(self, phone: str, now: float) -> None:
        self._last[phone] = now

    def __call__(self, phone: str, now: float) -> Block | None:
        if phone in self.dnc:
            return Block("dnc")
        last = self._last.get(phone)
        if last is not None and now < last + self.cooling_seconds:
            return Block("cooling", last + self.cooling_seconds)
        return None


# ---- actions (decisions out) -------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Dial:
    """Place a call. ``agent_id`` is set when an agent is reserved for it (preview,
    progressive); predictive/power calls are unreserved."""

    call_id: str
    record: TargetRecord
    agent_id: str | None
    ring_timeout: float


@dataclass(frozen=True, slots=True)
class Connect:
    """Bridge an answered call to an agent (and pop the target record)."""

    call_id: str
    agent_id: str
    record: TargetRecord


@dataclass(frozen=True, slots=True)
class AbandonCall:
    """No agent within the abandon window: play ``message`` and hang up."""

    call_id: str
    record: TargetRecord
    message: str


@dataclass(frozen=True, slots=True)
class PreviewOffer:
    """Show ``record`` to the agent; nothing is dialled until the agent accepts."""

    agent_id: str
    record: TargetRecord


@dataclass(frozen=True, slots=True)
class NoRecord:
    """The agent asked for a preview record but none may be called now."""

    agent_id: str
    next_due: float | None


@dataclass(frozen=True, slots=True)
class RecordClosed:
    """A record leaves the campaign (contacted, exhausted or blocked by DNC)."""

    record_id: str
    status: RecordStatus


Action = Dial | Connect | AbandonCall | PreviewOffer | NoRecord | RecordClosed
