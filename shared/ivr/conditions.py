"""Evaluating branch conditions (tier, time of day, variables, numbers)."""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from shared.ivr.model import (
    Blacklisted,
    CalledPrefix,
    CallerPrefix,
    Condition,
    Language,
    LanguageIs,
    Schedule,
    TierIs,
    VariableIs,
)

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_HHMM = re.compile(r"^([01][0-9]|2[0-3]):([0-5][0-9])\Z|^24:00\Z")
_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}\Z")


@dataclass(frozen=True, slots=True)
class Facts:
    """What conditions are evaluated against."""

    now: float
    tier: str | None
    caller: str | None
    called: str | None
    blacklisted: bool
    language: Language
    variables: Mapping[str, str]


def minutes(hhmm: str) -> int | None:
    """``"08:30"`` → 510; ``"24:00"`` → 1440; None when malformed."""
    if not _HHMM.match(hhmm):
        return None
    hours, mins = hhmm.split(":")
    return int(hours) * 60 + int(mins)


def schedule_problems(schedule: Schedule) -> list[tuple[str, str]]:
    """(field, message) for every malformed part of a schedule."""
    problems: list[tuple[str, str]] = []
    try:
        zoneinfo.ZoneInfo(schedule.tz)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        problems.append(("tz", f"unknown time zone {schedule.tz!r}"))
    for day, ranges in schedule.weekly.items():
        if day not in WEEKDAYS:
            problems.append((f"weekly.{day}", f"unknown day {day!r}; use {', '.join(WEEKDAYS)}"))
        for start, end in ranges:
            lo, hi = minutes(start), minutes(end)
            if lo is None or hi is None:
                problems.append((f"weekly.{day}", f"times must be HH:MM, got {start!r}-{end!r}"))
            elif lo >= hi:
                problems.append((f"weekly.{day}", f"range {start}-{end} is empty"))
    for date in schedule.holidays:
        try:
            if not _DATE.match(date):
                raise ValueError(date)
            dt.date.fromisoformat(date)
        except ValueError:
            problems.append(("holidays", f"not a YYYY-MM-DD date: {date!r}"))
    return problems


def is_open(schedule: Schedule, now: float) -> bool:
    """Whether ``now`` (UTC epoch seconds) falls inside the schedule's opening hours."""
    try:
        zone = zoneinfo.ZoneInfo(schedule.tz)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return False
    local = dt.datetime.fromtimestamp(now, tz=zone)
    if local.date().isoformat() in schedule.holidays:
        return False
    minute = local.hour * 60 + local.minute
    for start, end in schedule.weekly.get(WEEKDAYS[local.weekday()], ()):
        lo, hi = minutes(start), minutes(end)
        if lo is not None and hi is not None and lo <= minute < hi:
            return True
    return False


def _number(text: str) -> Decimal | None:
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        return None
    return value if value.is_finite() else None


def _compare(cond: VariableIs, variables: Mapping[str, str]) -> bool:
    value = variables.get(cond.name, "")
    op = cond.op
    if op == "set":
        return value != ""
    if op == "unset":
        return value == ""
    if op == "eq":
        return value == cond.value
    if op == "ne":
        return value != cond.value
    if op == "in":
        return value in cond.values
    if op == "prefix":
        return value.startswith(cond.value)
    left, right = _number(value), _number(cond.value)
    if left is None or right is None:
        return False
    if op == "lt":
        return left < right
    if op == "le":
        return left <= right
    if op == "gt":
        return left > right
    return left >= right


def holds(cond: Condition, facts: Facts) -> bool:
    """Evaluate one condition."""
    if isinstance(cond, TierIs):
        return facts.tier is not None and facts.tier in cond.tiers
    if isinstance(cond, Schedule):
        return is_open(cond, facts.now) == cond.open
    if isinstance(cond, VariableIs):
        return _compare(cond, facts.variables)
    if isinstance(cond, CallerPrefix):
        caller = facts.caller or ""
        return bool(caller) and any(caller.startswith(p) for p in cond.prefixes)
    if isinstance(cond, CalledPrefix):
        called = facts.called or ""
        return bool(called) and any(called.startswith(p) for p in cond.prefixes)
    if isinstance(cond, Blacklisted):
        return facts.blacklisted
    if isinstance(cond, LanguageIs):
        return facts.language == cond.language
    return False


def describe(cond: Condition) -> str:
    """Short human text for trajectories and simulation (``tier in vip,gold``)."""
    if isinstance(cond, TierIs):
        return f"tier in {','.join(cond.tiers)}"
    if isinstance(cond, Schedule):
        return f"{'open' if cond.open else 'closed'} ({cond.tz})"
    if isinstance(cond, VariableIs):
        rhs = ",".join(cond.values) if cond.op == "in" else cond.value
        return f"{cond.name} {cond.op} {rhs}".rstrip()
    if isinstance(cond, CallerPrefix):
        return f"caller starts {','.join(cond.prefixes)}"
    if isinstance(cond, CalledPrefix):
        return f"called starts {','.join(cond.prefixes)}"
    if isinstance(cond, Blacklisted):
        return "blacklisted"
    return f"language {cond.language}"
