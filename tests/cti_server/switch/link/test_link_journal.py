"""The fallback journal on disk (R-IN-3): folded into one FallbackCall per call, parts
of at most 500 calls, durable acknowledgements (a part is never sent twice, even across
a crash), compaction keeping only live calls, a restart turning unfinished calls into
failed ones, torn last lines tolerated."""

from __future__ import annotations

from pathlib import Path

import pytest

from cti_server.switch.journal import Journal, JournalError, Step
from shared.clock import ManualClock
from shared.protocol.call import TrajectoryKind
from shared.protocol.switch import FallbackOutcome


def journal(path: Path, clock: ManualClock | None = None, **options: object) -> Journal:
    return Journal(path, clock=clock or ManualClock(), fsync="none", **options)  # type: ignore[arg-type]


def answered_call(j: Journal, call_id: str, at: float) -> None:
    j.append(Step.ARRIVED, call_id, caller="13800138000", called="95555", at=at)
    j.append(Step.QUEUED, call_id, queue_id="q_billing", at=at + 1)
    j.append(Step.OFFERED, call_id, agent_id="1001", at=at + 2)
    j.append(Step.ANSWERED, call_id, agent_id="1001", at=at + 5)
    j.append(Step.RELEASED, call_id, at=at + 60)


def test_a_call_folds_into_one_fallback_call(tmp_path: Path) -> None:
    j = journal(tmp_path / "j.jsonl")
    j.mark_link_down(at=999.0)
    answered_call(j, "A", 1000.0)
    j.append(Step.ARRIVED, "B", caller="13700137000", at=1010.0)
    j.append(Step.QUEUED, "B", queue_id="q_tv", at=1011.0)
    j.append(Step.OFFERED, "B", agent_id="1002", at=1012.0)
    j.append(Step.NO_ANSWER, "B", agent_id="1002", at=1032.0)
    j.append(Step.RELEASED, "B", at=1040.0)
    pending = j.pending()
    assert pending is not None and pending.link_down_at == 999.0
    a, b = pending.parts[0].calls
    assert (a.outcome, a.agent_id, a.queue_id) == (FallbackOutcome.ANSWERED, "1001", "q_billing")
    assert (a.arrived_at, a.offered_at, a.answered_at, a.released_at) == (
        1000.0,
        1002.0,
        1005.0,
        1060.0,
    )
    assert [s.kind for s in a.trajectory] == [
        TrajectoryKind.QUEUE_ENTER,
        TrajectoryKind.OFFER,
        TrajectoryKind.ANSWER,
        TrajectoryKind.RELEASE,
    ]
    # Rang without an answer, then the caller hung up: abandoned, no agent.
    assert (b.outcome, b.agent_id, b.answered_at) == (FallbackOutcome.ABANDONED, None, None)
    j.close()


def test_parts_hold_at_most_500_calls(tmp_path: Path) -> None:
    j = journal(tmp_path / "j.jsonl")
    for n in range(1203):
        j.append(Step.ARRIVED, f"C{n:05d}", at=1000.0 + n)
        j.append(Step.RELEASED, f"C{n:05d}", at=1000.5 + n)
    pending = j.pending()
    assert pending is not None
    assert [len(p.calls) for p in pending.parts] == [500, 500, 203]
    assert [(p.part, p.last_part) for p in pending.parts] == [(1, False), (2, False), (3, True)]
    assert pending.parts[0].calls[0].call_id == "C00000"
    with pytest.raises(ValueError, match="max_calls"):
        j.pending(max_calls=501)
    j.close()


def test_acknowledged_parts_are_never_sent_again_even_after_a_crash(tmp_path: Path) -> None:
    """Exactly once: the acknowledgement of part 1 is durable; a switch that dies before
    part 2 is acknowledged sends only part 2 after its restart."""
    path = tmp_path / "j.jsonl"
    j = journal(path)
    for n in range(700):
        answered_call(j, f"C{n:04d}", 1000.0 + n)
    pending = j.pending()
    assert pending is not None and len(pending.parts) == 2
    j.acknowledge(pending.parts[0].calls)
    j.close()  # crash before part 2's acknowledgement

    j = journal(path)
    again = j.pending()
    assert again is not None
    assert [c.call_id for c in again.parts[0].calls] == [f"C{n:04d}" for n in range(500, 700)]
    j.acknowledge(again.parts[0].calls)
    assert j.pending() is None
    assert j.compact() == 0
    assert path.read_bytes() == b""
    j.close()
    with journal(path) as reopened:
        assert reopened.pending() is None


def test_a_restart_reports_unfinished_calls_as_failed(tmp_path: Path) -> None:
    """Calls still running when the switch process died ended with it."""
    path = tmp_path / "j.jsonl"
    j = journal(path)
    j.append(Step.ARRIVED, "IVR", at=1000.0)
    j.append(Step.IVR, "IVR", node="menu", at=1003.0)
    j.append(Step.ARRIVED, "TALK", at=1001.0)
    j.append(Step.OFFERED, "TALK", agent_id="1001", at=1002.0)
    j.append(Step.ANSWERED, "TALK", agent_id="1001", at=1004.0)
    assert j.live_calls() == ["IVR", "TALK"]
    j.close()
    with path.open("ab") as f:
        f.write(b'{"seq":99,"at":1005.0,"step":"relea')  # torn by the crash
    j = journal(path)
    pending = j.pending()
    assert pending is not None
    by_id = {c.call_id: c for c in pending.parts[0].calls}
    assert by_id["IVR"].outcome is FallbackOutcome.FAILED
    assert by_id["IVR"].released_at == 1003.0
    assert by_id["TALK"].outcome is FallbackOutcome.ANSWERED  # it was answered, then cut
    assert j.live_calls() == []
    j.close()


def test_a_corrupt_journal_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    path.write_bytes(b'{"seq":1,"at":1.0,"step":"arrived","call_id":"A"}\nnot json\n{}\n')
    with pytest.raises(JournalError, match=r"j\.jsonl:2"):
        journal(path)
    path.write_bytes(b'{"seq":1,"at":1.0,"step":"exploded"}\n')
    with pytest.raises(JournalError, match="not a journal record"):
        journal(path)


def test_compaction_keeps_live_calls_reported_in_progress(tmp_path: Path) -> None:
    """A live call reported in progress is not reported again unless something new
    happens to it; its lines survive compaction so its final report is complete."""
    path = tmp_path / "j.jsonl"
    j = journal(path)
    answered_call(j, "DONE", 1000.0)
    j.append(Step.ARRIVED, "LIVE", caller="13900139000", at=1100.0)
    j.append(Step.OFFERED, "LIVE", agent_id="1002", at=1101.0)
    j.append(Step.ANSWERED, "LIVE", agent_id="1002", at=1102.0)
    pending = j.pending()
    assert pending is not None
    outcomes = {c.call_id: c.outcome for c in pending.parts[0].calls}
    assert outcomes == {"DONE": FallbackOutcome.ANSWERED, "LIVE": FallbackOutcome.IN_PROGRESS}
    j.acknowledge(pending.parts[0].calls)
    assert j.compact() == 4  # LIVE's three lines and the in-progress marker
    assert j.handed_over("LIVE") and j.pending() is None
    j.close()

    j = journal(path)  # a restart in between keeps the knowledge
    assert j.live_calls() == []  # ...and LIVE died with the old process
    j.append(Step.RELEASED, "LIVE", at=1200.0)
    final = j.pending()
    assert final is not None
    (call,) = final.parts[0].calls
    assert (call.call_id, call.caller, call.answered_at, call.released_at) == (
        "LIVE",
        "13900139000",
        1102.0,
        1200.0,
    )
    j.append(Step.DELIVERED, "LIVE")
    assert j.pending() is None
    j.close()


def test_fsync_policies(tmp_path: Path) -> None:
    """Every line is flushed; fsync per record or per batch as configured."""
    clock = ManualClock()
    per_record = Journal(tmp_path / "r.jsonl", clock=clock, fsync="record")
    batched = Journal(tmp_path / "b.jsonl", clock=clock, fsync="batch", batch_records=8)
    for n in range(32):
        per_record.append(Step.ARRIVED, f"C{n}", at=1.0)
        batched.append(Step.ARRIVED, f"C{n}", at=1.0)
    assert (per_record.fsyncs, batched.fsyncs) == (32, 4)
    batched.append(Step.ARRIVED, "late", at=1.0)
    clock.advance(1.0)
    batched.sync()  # the owner's timer
    assert batched.fsyncs == 5
    assert len((tmp_path / "b.jsonl").read_bytes().splitlines()) == 33
    per_record.close()
    batched.close()
    with pytest.raises(ValueError, match="fsync"):
        Journal(tmp_path / "x.jsonl", clock=clock, fsync="sometimes")  # type: ignore[arg-type]
