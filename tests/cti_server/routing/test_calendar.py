"""Business hours and holidays per queue (R-ROUTE-5 time of day)."""

from __future__ import annotations

import datetime as dt

import pytest

from cti_server.routing import Calendar, ConfigError, EngineConfig, QueueSpec, RoutingEngine


def _epoch(text: str, tz: str) -> float:
    from zoneinfo import ZoneInfo

    return dt.datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(tz)).timestamp()


SHANGHAI = Calendar(
    tz="Asia/Shanghai",
    weekly={d: (("08:30", "12:00"), ("13:00", "18:00")) for d in range(5)}
    | {"sat": (("09:00", "12:00"),)},
    holidays=frozenset({dt.date(2026, 10, 1)}),
)


@pytest.mark.parametrize(
    ("local", "is_open"),
    [
        ("2026-09-28 08:29", False),  # Monday before opening
        ("2026-09-28 08:30", True),
        ("2026-09-28 12:30", False),  # lunch break
        ("2026-09-28 17:59", True),
        ("2026-09-28 18:00", False),  # end is exclusive
        ("2026-10-03 10:00", True),  # Saturday morning
        ("2026-10-04 10:00", False),  # Sunday: no hours
        ("2026-10-01 10:00", False),  # holiday on a Thursday
    ],
)
def test_weekly_hours_and_holidays(local: str, is_open: bool) -> None:
    assert SHANGHAI.is_open(_epoch(local, "Asia/Shanghai")) is is_open


def test_time_zone_is_applied_to_the_wall_clock() -> None:
    # 01:00 UTC on Monday is 09:00 in Shanghai (open) but 03:00 in Paris (closed)
    instant = dt.datetime(2026, 9, 28, 1, 0, tzinfo=dt.UTC).timestamp()
    paris = Calendar(tz="Europe/Paris", weekly=SHANGHAI.weekly)
    assert SHANGHAI.is_open(instant)
    assert not paris.is_open(instant)


def test_daylight_saving_is_followed() -> None:
    ny = Calendar(tz="America/New_York", weekly={d: (("09:00", "17:00"),) for d in range(7)})
    # 13:30 UTC is 09:30 EDT in July (open) but 08:30 EST in January (closed)
    assert ny.is_open(dt.datetime(2026, 7, 6, 13, 30, tzinfo=dt.UTC).timestamp())
    assert not ny.is_open(dt.datetime(2026, 1, 5, 13, 30, tzinfo=dt.UTC).timestamp())


def test_open_day_overrides_weekly_hours() -> None:
    cal = Calendar(tz="UTC", weekly={}, open_days=frozenset({dt.date(2026, 9, 27)}))
    assert cal.is_open(_epoch("2026-09-27 03:00", "UTC"))
    assert not cal.is_open(_epoch("2026-09-28 03:00", "UTC"))
    assert Calendar.always_open().is_open(0)


def test_engine_reports_queue_open_by_its_calendar() -> None:
    engine = RoutingEngine(EngineConfig())
    engine.add_queue(QueueSpec(queue_id="day", skill="s", calendar=SHANGHAI))
    engine.add_queue(QueueSpec(queue_id="always", skill="s"))
    night = _epoch("2026-09-28 23:00", "Asia/Shanghai")
    assert engine.queue_open("day", night) is False
    assert engine.queue_open("always", night) is True
    assert engine.queue_open("day", _epoch("2026-09-28 09:00", "Asia/Shanghai")) is True


@pytest.mark.parametrize(
    "kwargs",
    [
        {"tz": "Mars/Olympus"},
        {"weekly": {7: (("09:00", "10:00"),)}},
        {"weekly": {"funday": (("09:00", "10:00"),)}},
        {"weekly": {0: (("10:00", "09:00"),)}},
        {"weekly": {0: (("25:00", "26:00"),)}},
        {"weekly": {0: (("9h", "10h"),)}},
        {
            "holidays": frozenset({dt.date(2026, 1, 1)}),
            "open_days": frozenset({dt.date(2026, 1, 1)}),
        },
    ],
)
def test_invalid_calendars_are_rejected(kwargs: dict[str, object]) -> None:
    with pytest.raises(ConfigError) as info:
        Calendar(**kwargs)  # type: ignore[arg-type]
    assert info.value.code == "invalid_calendar"
