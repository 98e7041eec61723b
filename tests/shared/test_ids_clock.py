"""Time-ordered ids and injectable clocks."""

from __future__ import annotations

import pytest

from shared.clock import ManualClock, SystemClock
from shared.ids import id_time_ms, is_id, new_id


def test_ids_are_unique_sortable_and_carry_their_time() -> None:
    ids = [new_id() for _ in range(5000)]
    assert len(set(ids)) == len(ids)
    assert ids == sorted(ids)
    assert all(is_id(i) for i in ids)
    assert id_time_ms(new_id(now_ms=1_767_225_600_123)) >= 1_767_225_600_123


def test_ids_stay_ordered_when_the_clock_steps_back() -> None:
    a = new_id(now_ms=2_000_000_000_000)
    b = new_id(now_ms=1_000_000_000_000)
    assert b > a


def test_is_id_rejects_other_text() -> None:
    assert not is_id("")
    assert not is_id("not-an-id")
    assert not is_id("01ARZ3NDEKTSV4RRFFQ69G5FAU")  # 'U' is not in the alphabet
    with pytest.raises(ValueError, match="not an id"):
        id_time_ms("x")


def test_manual_clock_moves_only_forward() -> None:
    clock = ManualClock(start=10.0)
    assert clock.monotonic() == 10.0
    clock.advance(2.5)
    assert clock.monotonic() == 12.5
    assert clock.wall() - clock.monotonic() == pytest.approx(1_767_225_600.0)
    with pytest.raises(ValueError, match="cannot go back"):
        clock.advance(-1)
    with pytest.raises(ValueError, match="cannot go back"):
        clock.set(1.0)


def test_system_clock_is_monotonic() -> None:
    clock = SystemClock()
    a = clock.monotonic()
    assert clock.monotonic() >= a
    assert clock.wall() > 1_700_000_000
