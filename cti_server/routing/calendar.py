"""Business hours and holidays of a queue (R-ROUTE-5 time-of-day routing).

The engine's ``now`` is monotonic; a calendar is always asked with an explicit
wall-clock epoch, converted to local time in the calendar's time zone
(``zoneinfo``), so daylight-saving changes are handled by the tz database.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .errors import ConfigError

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_DAY_MINUTES = 24 * 60


def _parse_hhmm(text: str) -> int:
    """``"HH:MM"`` to minutes after midnight; ``"24:00"`` is allowed as an end."""
    try:
        hh, mm = text.split(":")
        hours, minutes = int(hh), int(mm)
    except ValueError:
        raise ConfigError(f"time must be HH:MM, got {text!r}", code="invalid_calendar") from None
    if not (0 <= minutes < 60 and 0 <= hours <= 24) or (hours == 24 and minutes != 0):
        raise ConfigError(f"time out of range: {text!r}", code="invalid_calendar")
    return hours * 60 + minutes


def _weekday_index(day: int | str) -> int:
    if isinstance(day, str):
        key = day.strip().lower()[:3]
        if key not in WEEKDAYS:
            raise ConfigError(f"unknown weekday {day!r}", code="invalid_calendar")
        return WEEKDAYS.index(key)
    if not 0 <= day <= 6:
        raise ConfigError(
            f"weekday must be 0 (Monday) .. 6 (Sunday), got {day}", code="invalid_calendar"
        )
    return day


@dataclass(frozen=True, kw_only=True)
class Calendar:
    """Weekly opening hours plus holiday dates, in one time zone.

    ``weekly`` maps a weekday (``0``/``"mon"`` .. ``6``/``"sun"``) to intervals
    ``("HH:MM", "HH:MM")``, start inclusive, end exclusive; ``"24:00"`` ends at
    midnight. A weekday that is absent is closed all day. An interval may not
    cross midnight: split it into two days. ``holidays`` are local dates on
    which the queue is closed all day; ``open_days`` are local dates open all
    day whatever the weekly hours say (e.g. a working Saturday). Both apply to
    the calendar's own time zone.
    """

    tz: str = "UTC"
    weekly: Mapping[int | str, Iterable[tuple[str, str]]] = field(default_factory=dict)
    holidays: frozenset[dt.date] = frozenset()
    open_days: frozenset[dt.date] = frozenset()
    _zone: ZoneInfo = field(init=False, repr=False, compare=False)
    _minutes: tuple[tuple[tuple[int, int], ...], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        try:
            zone = ZoneInfo(self.tz)
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigError(f"unknown time zone {self.tz!r}", code="invalid_calendar") from None
        per_day: list[list[tuple[int, int]]] = [[] for _ in range(7)]
        for day, intervals in self.weekly.items():
            index = _weekday_index(day)
            for start_text, end_text in intervals:
                start, end = _parse_hhmm(start_text), _parse_hhmm(end_text)
                if start >= end or start >= _DAY_MINUTES:
                    raise ConfigError(
                        f"interval {start_text}-{end_text} is empty or crosses midnight",
                        code="invalid_calendar",
                    )
                per_day[index].append((start, end))
        for day_intervals in per_day:
            day_intervals.sort()
        if self.holidays & self.open_days:
            raise ConfigError("a date is both a holiday and an open day", code="invalid_calendar")
        object.__setattr__(self, "_zone", zone)
        object.__setattr__(self, "_minutes", tuple(tuple(d) for d in per_day))

    @classmethod
    def always_open(cls, tz: str = "UTC") -> Calendar:
        return cls(tz=tz, weekly={d: (("00:00", "24:00"),) for d in range(7)})

    def local(self, epoch_seconds: float) -> dt.datetime:
        """The wall-clock epoch as an aware local datetime in this calendar's zone."""
        return dt.datetime.fromtimestamp(epoch_seconds, tz=self._zone)

    def is_open(self, epoch_seconds: float) -> bool:
        """Is the queue open at this wall-clock instant (UTC epoch seconds)?"""
        local = self.local(epoch_seconds)
        day = local.date()
        if day in self.holidays:
            return False
        if day in self.open_days:
            return True
        minute = local.hour * 60 + local.minute
        return any(start <= minute < end for start, end in self._minutes[local.weekday()])
