"""Calling windows in the target's own time zone, across DST changes (R-OUT-5)."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from cti_server.outbound import CallingWindow, OutboundConfigError


def at(tz: str, *ymdhm: int) -> float:
    year, month, day, hour, minute = ymdhm
    return dt.datetime(year, month, day, hour, minute, tzinfo=ZoneInfo(tz)).timestamp()


def utc(*ymdhm: int) -> float:
    return at("UTC", *ymdhm)


DAILY_9_TO_21 = CallingWindow.daily("09:00", "21:00")


def test_same_instant_is_open_in_one_zone_and_closed_in_another() -> None:
    instant = utc(2026, 6, 1, 2, 0)  # 10:00 in Shanghai, 22:00 (previous day) in New York
    assert DAILY_9_TO_21.is_open(instant, "Asia/Shanghai")
    assert not DAILY_9_TO_21.is_open(instant, "America/New_York")


def test_local_opening_hour_follows_spring_forward() -> None:
    tz = "America/New_York"  # DST starts Sunday 2026-03-08
    # Friday before: 09:00 EST is 14:00 UTC; Monday after: 09:00 EDT is 13:00 UTC.
    assert not DAILY_9_TO_21.is_open(utc(2026, 3, 6, 13, 30), tz)
    assert DAILY_9_TO_21.is_open(utc(2026, 3, 6, 14, 0), tz)
    assert DAILY_9_TO_21.is_open(utc(2026, 3, 9, 13, 30), tz)
    # Closed Saturday 22:00 EST -> opens Sunday (the change day) at 09:00 EDT.
    assert DAILY_9_TO_21.next_open(at(tz, 2026, 3, 7, 22, 0), tz) == utc(2026, 3, 8, 13, 0)


def test_local_opening_hour_follows_fall_back() -> None:
    tz = "Europe/London"  # DST ends Sunday 2026-10-25
    start = at(tz, 2026, 10, 24, 21, 30)  # Saturday 21:30 BST, closed
    assert DAILY_9_TO_21.next_open(start, tz) == utc(2026, 10, 25, 9, 0)  # 09:00 GMT
    # Monday before the change, 09:00 BST = 08:00 UTC.
    assert DAILY_9_TO_21.next_open(at(tz, 2026, 10, 19, 6, 0), tz) == utc(2026, 10, 19, 8, 0)


def test_window_starting_in_the_skipped_hour_opens_right_after_the_gap() -> None:
    tz = "America/New_York"
    window = CallingWindow.daily("02:30", "05:00")
    # 02:30 does not exist on 2026-03-08; the window is open from 03:00 EDT (07:00 UTC).
    opens = window.next_open(at(tz, 2026, 3, 8, 0, 0), tz)
    assert opens is not None
    assert window.is_open(opens, tz)
    assert utc(2026, 3, 8, 7, 0) <= opens <= utc(2026, 3, 8, 7, 30)


def test_weekdays_holidays_and_never_open() -> None:
    tz = "Asia/Shanghai"
    window = CallingWindow(
        weekly={"mon": [("09:00", "12:00")], "fri": [("14:00", "18:00")]},
        holidays=frozenset({dt.date(2026, 6, 1)}),
    )
    # Monday 2026-06-01 is a holiday -> the next opening is Friday 14:00.
    assert window.next_open(at(tz, 2026, 6, 1, 8, 0), tz) == at(tz, 2026, 6, 5, 14, 0)
    assert CallingWindow(weekly={}).next_open(at(tz, 2026, 6, 1, 8, 0), tz) is None


@pytest.mark.parametrize(
    "weekly",
    [{"mon": [("09:00", "08:00")]}, {"xyz": [("09:00", "10:00")]}, {0: [("9h", "10:00")]}],
)
def test_bad_window_is_a_typed_error(weekly: dict[int | str, list[tuple[str, str]]]) -> None:
    with pytest.raises(OutboundConfigError):
        CallingWindow(weekly=weekly)


def test_unknown_zone_is_a_typed_error() -> None:
    with pytest.raises(OutboundConfigError, match="time zone"):
        DAILY_9_TO_21.is_open(0.0, "Mars/Olympus_Mons")
