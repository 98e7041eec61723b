"""Record selection at dial time: priority, windows per zone, DNC, cooling, recycling."""

from __future__ import annotations

import datetime as dt

import pytest

from cti_server.outbound import (
    Block,
    CallingWindow,
    Dial,
    Dialer,
    DialMode,
    InMemoryDialGuard,
    OutboundConfigError,
    Outcome,
    RecordBook,
    RecordClosed,
    RecordStatus,
    Strategy,
    TargetRecord,
)

# Monday 2026-06-01 10:00 in Shanghai (02:00 UTC) = Sunday 22:00 in New York.
NOW = dt.datetime(2026, 6, 1, 2, 0, tzinfo=dt.UTC).timestamp()
DAYTIME = Strategy(window=CallingWindow.daily("09:00", "21:00"))


def picked(book: RecordBook, now: float) -> list[str]:
    out: list[str] = []
    while True:
        record, _ = book.pick(now)
        if record is None:
            return out
        out.append(record.record_id)


def test_higher_priority_first_then_oldest_due() -> None:
    book = RecordBook(Strategy())
    book.add(TargetRecord("low", "1", priority=0), due=NOW - 100)
    book.add(TargetRecord("high-late", "2", priority=5), due=NOW - 10)
    book.add(TargetRecord("high-early", "3", priority=5), due=NOW - 50)
    book.add(TargetRecord("future", "4", priority=9), due=NOW + 10)
    assert picked(book, NOW) == ["high-early", "high-late", "low"]
    assert book.next_due() == NOW + 10


def test_target_outside_its_local_window_waits_for_its_local_opening() -> None:
    book = RecordBook(DAYTIME)
    book.add(TargetRecord("sh", "1", tz="Asia/Shanghai"))
    book.add(TargetRecord("ny", "2", tz="America/New_York"))
    assert picked(book, NOW) == ["sh"]
    ny_opens = dt.datetime(2026, 6, 1, 13, 0, tzinfo=dt.UTC).timestamp()  # 09:00 EDT
    assert book.state("ny").due == ny_opens
    assert picked(book, ny_opens - 1) == []
    assert picked(book, ny_opens) == ["ny"]


def test_region_window_overrides_the_campaign_window() -> None:
    strategy = Strategy(
        window=CallingWindow.daily("09:00", "21:00"),
        region_windows={"north": CallingWindow.daily("11:00", "12:00")},
    )
    book = RecordBook(strategy)
    book.add(TargetRecord("n", "1", tz="Asia/Shanghai", region="north"))
    book.add(TargetRecord("s", "2", tz="Asia/Shanghai", region="south"))
    assert picked(book, NOW) == ["s"]
    assert picked(book, NOW + 3600) == ["n"]


def test_dnc_number_is_never_dialled_and_its_record_closes() -> None:
    guard = InMemoryDialGuard(dnc={"+861"})
    d = Dialer("c", mode=DialMode.PROGRESSIVE, guard=guard)
    d.add_records([TargetRecord("blocked", "+861"), TargetRecord("ok", "+862")])
    actions = d.agent_login("a1", NOW)
    assert RecordClosed("blocked", RecordStatus.DNC) in actions
    assert [a.record.record_id for a in actions if isinstance(a, Dial)] == ["ok"]
    assert d.records.state("blocked").block_reason == "dnc"


def test_cooling_period_defers_the_number_until_it_ends() -> None:
    guard = InMemoryDialGuard(cooling_seconds=3600)
    guard.note_dialled("+861", NOW - 600)  # dialled 10 min ago by another campaign
    book = RecordBook(Strategy(), guard)
    book.add(TargetRecord("r", "+861"))
    assert picked(book, NOW) == []
    assert book.state("r").due == NOW + 3000
    assert book.state("r").block_reason == "cooling"
    assert picked(book, NOW + 3000) == ["r"]


def test_guard_is_asked_at_dial_time_not_at_import() -> None:
    asked: list[tuple[str, float]] = []

    def guard(phone: str, now: float) -> Block | None:
        asked.append((phone, now))
        return None

    book = RecordBook(Strategy(), guard)
    book.add(TargetRecord("r", "+861"))
    assert asked == []
    picked(book, NOW)
    assert asked == [("+861", NOW)]


def test_retry_interval_per_outcome_then_exhausted_then_recycled() -> None:
    strategy = Strategy(
        max_attempts=2,
        retry_after={
            Outcome.BUSY: 60,
            Outcome.NO_ANSWER: 600,
            Outcome.MACHINE: 3600,
            Outcome.FAILED: 300,
            Outcome.ABANDONED: 1800,
        },
        recycle_after=86_400,
        max_recycles=1,
    )
    book = RecordBook(strategy)
    book.add(TargetRecord("r", "1"))
    assert picked(book, NOW) == ["r"]
    book.dialled("r")
    book.result("r", Outcome.BUSY, NOW)
    assert book.state("r").due == NOW + 60  # the busy interval
    assert picked(book, NOW + 59) == []
    assert picked(book, NOW + 60) == ["r"]
    book.dialled("r")
    assert book.result("r", Outcome.NO_ANSWER, NOW + 90) is None
    # Second attempt used up: recycled a day later with a fresh attempt count.
    state = book.state("r")
    assert state.status is RecordStatus.READY and state.due == NOW + 90 + 86_400
    assert state.attempts == 0 and state.recycles == 1 and state.total_attempts == 2
    for _ in range(2):
        book.pick(NOW + 86_400 * 2)
        book.dialled("r")
        closed = book.result("r", Outcome.MACHINE, NOW + 86_400 * 2)
    assert closed == RecordClosed("r", RecordStatus.EXHAUSTED)
    assert picked(book, NOW + 86_400 * 30) == []


@pytest.mark.parametrize(
    ("record", "field"),
    [
        (TargetRecord("x", ""), "phone"),
        (TargetRecord("x", "1", tz="Nowhere/Land"), "tz"),
    ],
)
def test_bad_record_is_rejected_with_a_typed_error(record: TargetRecord, field: str) -> None:
    book = RecordBook(Strategy())
    with pytest.raises(OutboundConfigError) as err:
        book.add(record)
    assert err.value.field == field
    assert len(book) == 0


def test_bad_strategy_is_a_typed_error() -> None:
    with pytest.raises(OutboundConfigError):
        Strategy(max_attempts=0)
    with pytest.raises(OutboundConfigError):
        Strategy(retry_after={Outcome.BUSY: 60})


@pytest.mark.parametrize(
    "outcome", [Outcome.BUSY, Outcome.NO_ANSWER, Outcome.MACHINE, Outcome.FAILED]
)
def test_each_outcome_uses_its_own_retry_interval(outcome: Outcome) -> None:
    strategy = Strategy()
    book = RecordBook(strategy)
    book.add(TargetRecord("r", "1"))
    book.pick(NOW)
    book.dialled("r")
    book.result("r", outcome, NOW)
    assert book.state("r").due == NOW + strategy.retry_after[outcome]
    assert book.state("r").last_outcome is outcome
