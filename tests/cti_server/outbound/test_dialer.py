"""Dial-mode decisions, the 2 s abandon window and the abandon-ceiling fallback."""

from __future__ import annotations

import pytest

from cti_server.outbound import (
    AbandonCall,
    Action,
    BusyAgent,
    Connect,
    Dial,
    Dialer,
    DialMode,
    InvalidState,
    LogNormalTime,
    NoRecord,
    Outcome,
    PacingConfig,
    PacingInputs,
    PreviewOffer,
    RecordStatus,
    Strategy,
    TargetRecord,
    UnknownObject,
    decide,
    ringing_odds,
)

T0 = 1_780_000_000.0  # any instant: the default window is always open


def records(n: int) -> list[TargetRecord]:
    return [TargetRecord(f"r{i}", f"+8613{i:09d}") for i in range(n)]


def dials(actions: list[Action]) -> list[Dial]:
    return [a for a in actions if isinstance(a, Dial)]


def dialer(mode: DialMode, agents: int, n_records: int = 100, **pacing: float) -> Dialer:
    d = Dialer("c1", mode=mode, pacing=PacingConfig(**pacing))  # type: ignore[arg-type]
    d.add_records(records(n_records))
    d.pause()
    for i in range(agents):
        d.agent_login(f"a{i}", T0)
    return d


def test_preview_dials_nothing_until_the_agent_accepts() -> None:
    d = Dialer("c1", mode=DialMode.PREVIEW)
    d.add_records(records(2))
    assert d.agent_login("a1", T0) == []
    assert d.tick(T0 + 5) == []
    offer = d.preview_next("a1", T0 + 5)
    assert offer == [PreviewOffer("a1", records(2)[0])]
    assert d.stats.dials == 0
    # Skipping puts the record back (behind the others) without using an attempt.
    d.preview_skip("a1", T0 + 6)
    assert d.records.state("r0").attempts == 0
    assert d.preview_next("a1", T0 + 7) == [PreviewOffer("a1", records(2)[1])]
    [dial] = dials(d.preview_accept("a1", T0 + 8))
    assert dial.agent_id == "a1" and dial.record.record_id == "r1"
    assert d.records.state("r1").attempts == 1
    [connect] = d.call_answered(dial.call_id, T0 + 15)
    assert connect == Connect(dial.call_id, "a1", dial.record)


def test_preview_with_nothing_callable_says_when_the_next_record_is_due() -> None:
    d = Dialer("c1", mode=DialMode.PREVIEW)
    d.add_records(records(1), due=T0 + 600)
    assert d.agent_login("a1", T0) == []
    assert d.preview_next("a1", T0) == [NoRecord("a1", T0 + 600)]
    with pytest.raises(InvalidState):
        d.preview_accept("a1", T0)


def test_progressive_dials_one_reserved_line_per_idle_agent() -> None:
    d = dialer(DialMode.PROGRESSIVE, agents=3)
    placed = dials(d.resume(T0))
    assert sorted(x.agent_id or "" for x in placed) == ["a0", "a1", "a2"]
    assert dials(d.tick(T0 + 1)) == []  # every agent has its call ringing
    # A busy signal frees that agent, which gets the next record at once.
    again = dials(d.call_result(placed[0].call_id, Outcome.BUSY, T0 + 4))
    assert [x.agent_id for x in again] == [placed[0].agent_id]
    # The answered call goes to its reserved agent, never abandoned.
    [connect] = [a for a in d.call_answered(placed[1].call_id, T0 + 9) if isinstance(a, Connect)]
    assert connect.agent_id == placed[1].agent_id
    assert d.last_decision is not None and "one line per idle agent" in d.last_decision.reason


def test_power_dials_a_fixed_ratio_of_unreserved_lines_per_idle_agent() -> None:
    d = dialer(DialMode.POWER, agents=3, power_ratio=2.5)
    placed = dials(d.resume(T0))
    assert len(placed) == 7  # floor(2.5 * 3)
    assert all(x.agent_id is None for x in placed)
    assert dials(d.tick(T0 + 1)) == []
    d.call_result(placed[0].call_id, Outcome.NO_ANSWER, T0 + 25)  # one slot frees
    assert d.calls_in_flight() == 7


def _inputs(**kw: object) -> PacingInputs:
    base: dict[str, object] = {
        "mode": DialMode.PREDICTIVE,
        "logged_in": 20,
        "idle": 5,
        "busy": [],
        "in_flight": 0,
        "waiting": 0,
        "answer_rate": 0.3,
        "horizon": 12.0,
        "running_abandon": 0.0,
        "answered_in_window": 100,
    }
    base.update(kw)
    return PacingInputs(**base)  # type: ignore[arg-type]


TALK = LogNormalTime(180.0, 120.0)
WRAP = LogNormalTime(30.0, 15.0)


def lines(**kw: object) -> int:
    return decide(_inputs(**kw), PacingConfig(), TALK, WRAP).lines


def test_predictive_overdials_for_the_answer_rate_and_explains_why() -> None:
    decision = decide(_inputs(), PacingConfig(), TALK, WRAP)
    assert decision.effective_mode is DialMode.PREDICTIVE
    assert 5 < decision.lines <= 5 / 0.3  # more than progressive, at most idle / p
    assert decision.predicted_abandon <= decision.target_abandon <= 0.03
    assert "answer rate 30.0%" in decision.explain()
    assert "5 idle" in decision.explain()


def test_predictive_follows_answer_rate_idle_agents_and_calls_in_flight() -> None:
    assert lines(answer_rate=0.15) > lines(answer_rate=0.3) > lines(answer_rate=0.6)
    assert lines(idle=10) > lines(idle=5) > lines(idle=1)
    assert lines(in_flight=6) < lines()
    assert lines(waiting=2) < lines()


def test_calls_that_rang_long_count_less_toward_expected_connects() -> None:
    answer, other = LogNormalTime(10.0, 6.0), LogNormalTime(15.0, 10.0)
    odds = [ringing_odds(e, 0.3, answer, other, ring_timeout=25.0) for e in (0, 8, 16, 24, 25)]
    assert odds[0] == pytest.approx(0.3)
    assert odds == sorted(odds, reverse=True) and odds[-1] == 0.0
    fresh = lines(in_flight=6, ringing=[0.0] * 6, ringing_odds=[0.3] * 6)
    stale = lines(in_flight=6, ringing=[24.0] * 6, ringing_odds=[odds[3]] * 6)
    assert stale > fresh


def test_predictive_counts_agents_about_to_become_free() -> None:
    nearly_done = [BusyAgent(wrapping=True, elapsed=28.0)] * 10
    just_started = [BusyAgent(wrapping=False, elapsed=1.0)] * 10
    assert lines(idle=0, busy=just_started) == 0
    assert lines(idle=0, busy=nearly_done) > 0
    soon = decide(_inputs(idle=0, busy=nearly_done), PacingConfig(), TALK, WRAP)
    assert soon.soon_free > 5


def test_predictive_becomes_more_careful_as_the_measured_rate_rises() -> None:
    calm = decide(_inputs(running_abandon=0.0), PacingConfig(), TALK, WRAP)
    tense = decide(_inputs(running_abandon=0.025), PacingConfig(), TALK, WRAP)
    assert tense.target_abandon < calm.target_abandon
    assert tense.lines <= calm.lines


def test_at_the_ceiling_predictive_and_power_fall_back_to_progressive() -> None:
    for mode in (DialMode.PREDICTIVE, DialMode.POWER):
        at = decide(
            _inputs(mode=mode, running_abandon=0.03, in_flight=2), PacingConfig(), TALK, WRAP
        )
        assert at.effective_mode is DialMode.PROGRESSIVE
        assert at.lines == 3  # 5 idle minus the 2 unreserved calls still ringing
        assert "ceiling" in at.reason
    # Too few answered calls in the window to judge: no fallback yet.
    early = decide(_inputs(running_abandon=0.5, answered_in_window=3), PacingConfig(), TALK, WRAP)
    assert early.effective_mode is DialMode.PREDICTIVE


def test_answered_call_without_agent_is_abandoned_after_two_seconds() -> None:
    d = dialer(DialMode.POWER, agents=1, power_ratio=3)
    first, second, third = dials(d.resume(T0))
    assert isinstance(d.call_answered(first.call_id, T0 + 10)[0], Connect)
    assert not any(isinstance(a, Connect) for a in d.call_answered(second.call_id, T0 + 11))
    assert d.next_deadline() == T0 + 13
    assert not any(isinstance(a, AbandonCall) for a in d.tick(T0 + 12.9))
    abandoned = [a for a in d.tick(T0 + 13) if isinstance(a, AbandonCall)]
    assert abandoned == [AbandonCall(second.call_id, second.record, "outbound-abandon")]
    assert d.stats.abandoned == 1 and d.stats.abandon_rate == 0.5
    state = d.records.state(second.record.record_id)
    assert state.last_outcome is Outcome.ABANDONED
    assert state.due == T0 + 13 + Strategy().retry_after[Outcome.ABANDONED]
    # An agent freed inside the window takes the waiting call instead.
    d.call_answered(third.call_id, T0 + 20)
    d.call_ended(first.call_id, T0 + 20.5)
    connects = [a for a in d.wrap_ended("a0", T0 + 21.5) if isinstance(a, Connect)]
    assert [c.call_id for c in connects] == [third.call_id]
    with pytest.raises(UnknownObject):
        d.call_answered(second.call_id, T0 + 22)


def test_running_abandon_over_ceiling_switches_the_dialer_to_progressive_and_back() -> None:
    d = dialer(
        DialMode.POWER,
        agents=1,
        power_ratio=5,
        min_answered_for_ceiling=5,
        abandon_window_seconds=600.0,
    )
    placed = dials(d.resume(T0))
    assert len(placed) == 5
    for call in placed:  # everybody answers: one connects, four are abandoned
        d.call_answered(call.call_id, T0 + 10)
    d.tick(T0 + 12)
    assert d.stats.abandoned == 4 and d.abandons.rate(T0 + 12) == 0.8
    decision = d.last_decision
    assert decision is not None and decision.effective_mode is DialMode.PROGRESSIVE
    assert "at/over the ceiling" in decision.explain()
    d.call_ended(placed[0].call_id, T0 + 100)
    # Progressive while over the ceiling: one line, reserved for the freed agent.
    [reserved] = dials(d.wrap_ended("a0", T0 + 130))
    assert reserved.agent_id == "a0"
    # While over the ceiling, a freed agent gets a reserved line again.
    [again] = dials(d.call_result(reserved.call_id, Outcome.NO_ANSWER, T0 + 155))
    assert again.agent_id == "a0"
    # Once the window has moved past the abandons, power dialling resumes.
    assert d.decide(T0 + 12 + 600).effective_mode is DialMode.POWER
    resumed = dials(d.call_result(again.call_id, Outcome.NO_ANSWER, T0 + 700))
    assert d.last_decision is not None
    assert d.last_decision.effective_mode is DialMode.POWER
    assert len(resumed) == 5 and all(x.agent_id is None for x in resumed)


def test_outcomes_drive_retries_attempts_and_record_closure() -> None:
    strategy = Strategy(max_attempts=2)
    d = Dialer("c1", mode=DialMode.PROGRESSIVE, strategy=strategy)
    d.add_records(records(1))
    [first] = dials(d.agent_login("a1", T0))
    assert dials(d.call_result(first.call_id, Outcome.BUSY, T0 + 3)) == []
    state = d.records.state("r0")
    assert state.due == T0 + 3 + strategy.retry_after[Outcome.BUSY]
    [second] = dials(d.tick(state.due))
    closed = d.call_result(second.call_id, Outcome.MACHINE, state.due + 20)
    assert d.records.state("r0").status is RecordStatus.EXHAUSTED
    assert any(getattr(a, "status", None) is RecordStatus.EXHAUSTED for a in closed)
    assert dials(d.tick(T0 + 86_400)) == []  # never dialled again


def test_contact_closes_the_record_unless_a_callback_is_booked() -> None:
    d = Dialer("c1", mode=DialMode.PROGRESSIVE)
    d.add_records(records(2))
    placed = dials(d.agent_login("a1", T0))
    d.call_answered(placed[0].call_id, T0 + 5)
    out = d.call_ended(placed[0].call_id, T0 + 100, callback_at=T0 + 7200)
    assert not out  # agent in wrap: nothing to dial for it
    assert d.records.state("r0").status is RecordStatus.READY
    assert d.records.state("r0").due == T0 + 7200
    assert d.agent_phase("a1").value == "wrap"
    [nxt] = dials(d.wrap_ended("a1", T0 + 130))
    d.call_answered(nxt.call_id, T0 + 140)
    d.call_ended(nxt.call_id, T0 + 200)
    assert d.records.state("r1").status is RecordStatus.DONE
    assert d.stats.connected == 2
    busy, logged = d.utilisation(T0 + 230)
    assert busy == pytest.approx(95 + 30 + 60 + 30) and logged == pytest.approx(230)


def test_bad_events_are_typed_errors_and_change_nothing() -> None:
    d = dialer(DialMode.PROGRESSIVE, agents=1)
    [dial] = dials(d.resume(T0))
    with pytest.raises(UnknownObject):
        d.call_answered("nope", T0)
    with pytest.raises(InvalidState):
        d.call_result(dial.call_id, Outcome.ANSWERED, T0)
    with pytest.raises(InvalidState):
        d.wrap_ended("a0", T0)
    with pytest.raises(InvalidState):
        d.agent_login("a0", T0)
    assert d.agent_phase("a0").value == "reserved" and d.calls_in_flight() == 1
