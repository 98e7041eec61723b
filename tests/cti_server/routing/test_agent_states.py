"""Agent state machine, ring-no-answer, after-call work and typed errors."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from cti_server.routing import (
    Action,
    AgentSpec,
    AgentStateChanged,
    CallSpec,
    ClockWentBackwards,
    ConfigError,
    DuplicateId,
    EngineConfig,
    InvalidTransition,
    Offer,
    Queued,
    QueueSpec,
    RoutingEngine,
    RoutingError,
    TierSpec,
    UnknownAgent,
    UnknownCall,
    UnknownGroup,
    UnknownQueue,
    UnknownTier,
)


def _engine(acw: float = 0.0, **config: object) -> RoutingEngine:
    engine = RoutingEngine(EngineConfig(**config))  # type: ignore[arg-type]
    engine.add_tier(TierSpec(tier_id="std", sl_seconds=20, sl_target=0.8))
    engine.add_queue(QueueSpec(queue_id="q", skill="s", acw_seconds=acw))
    for agent_id in ("a", "b"):
        engine.add_agent(AgentSpec(agent_id=agent_id, skills={"s": 1}))
    return engine


def _arrive(engine: RoutingEngine, call_id: str, now: float) -> list[Action]:
    return engine.call_arrived(CallSpec(call_id=call_id, queue_id="q", tier_id="std"), now)


def _states(actions: Sequence[Action]) -> list[tuple[str, str, str | None]]:
    return [(a.agent_id, a.state, a.reason) for a in actions if isinstance(a, AgentStateChanged)]


def _offers(actions: Sequence[Action]) -> list[tuple[str, str]]:
    return [(a.call_id, a.agent_id) for a in actions if isinstance(a, Offer)]


def test_full_agent_lifecycle() -> None:
    engine = _engine(acw=30)
    assert engine.agent_state("a") == "logged_out"
    assert _states(engine.agent_login("a", 0)) == [("a", "not_ready", "login")]
    assert _states(engine.agent_not_ready("a", "lunch", 1)) == [("a", "not_ready", "lunch")]
    assert engine.agent_reason("a") == "lunch"
    assert _states(engine.agent_ready("a", 2)) == [("a", "ready", None)]
    actions = _arrive(engine, "c1", 3)
    assert _states(actions) == [("a", "reserved", None)]
    assert _offers(actions) == [("c1", "a")]
    assert _states(engine.offer_accepted("c1", "a", 5)) == [("a", "busy", None)]
    assert engine.call_state("c1") == "connected"
    assert _states(engine.call_ended("c1", 65)) == [("a", "acw", None)]
    assert _states(engine.acw_done("a", 70)) == [("a", "ready", None)]
    assert _states(engine.agent_not_ready("a", "break", 71)) == [("a", "not_ready", "break")]
    assert _states(engine.agent_logout("a", 72)) == [("a", "logged_out", None)]


@pytest.mark.parametrize(
    ("setup", "event"),
    [
        ("logged_out", "ready"),
        ("logged_out", "not_ready"),
        ("logged_out", "logout"),
        ("logged_out", "acw_done"),
        ("not_ready", "login"),
        ("not_ready", "acw_done"),
        ("ready", "acw_done"),
        ("reserved", "ready"),
        ("reserved", "not_ready"),
        ("reserved", "logout"),
        ("busy", "ready"),
        ("busy", "logout"),
        ("busy", "acw_done"),
    ],
)
def test_invalid_agent_transitions_raise_typed_errors(setup: str, event: str) -> None:
    engine = _engine()
    if setup != "logged_out":
        engine.agent_login("a", 0)
    if setup in ("ready", "reserved", "busy"):
        engine.agent_ready("a", 0)
    if setup in ("reserved", "busy"):
        _arrive(engine, "c1", 1)
    if setup == "busy":
        engine.offer_accepted("c1", "a", 2)
    calls = {
        "login": lambda: engine.agent_login("a", 3),
        "ready": lambda: engine.agent_ready("a", 3),
        "not_ready": lambda: engine.agent_not_ready("a", "x", 3),
        "logout": lambda: engine.agent_logout("a", 3),
        "acw_done": lambda: engine.acw_done("a", 3),
    }
    with pytest.raises(InvalidTransition) as info:
        calls[event]()
    assert info.value.code == "invalid_transition"
    assert isinstance(info.value, RoutingError)
    assert engine.agent_state("a") == setup


def test_ready_while_ready_is_a_no_op() -> None:
    engine = _engine()
    engine.agent_login("a", 0)
    engine.agent_ready("a", 0)
    assert engine.agent_ready("a", 1) == []
    assert engine.agent_state("a") == "ready"


def test_not_ready_requested_while_busy_applies_after_the_call() -> None:
    engine = _engine(acw=10)
    engine.agent_login("a", 0)
    engine.agent_ready("a", 0)
    _arrive(engine, "c1", 1)
    engine.offer_accepted("c1", "a", 2)
    assert engine.agent_not_ready("a", "meeting", 3) == []
    assert engine.agent_state("a") == "busy"
    engine.call_ended("c1", 4)
    _arrive(engine, "c2", 5)
    assert _states(engine.tick(14)) == [("a", "not_ready", "meeting")]
    assert engine.call_state("c2") == "waiting"  # not offered to the leaving agent


def test_ring_no_answer_puts_agent_not_ready_and_requeues_at_original_position() -> None:
    """RONA: the call goes back ahead of calls that arrived after it."""
    engine = _engine()
    engine.agent_login("a", 0)
    engine.agent_ready("a", 0)
    _arrive(engine, "first", 1)  # offered to a
    _arrive(engine, "second", 2)
    _arrive(engine, "third", 3)
    actions = engine.offer_failed("first", "a", 20)
    assert _states(actions) == [("a", "not_ready", "ring-no-answer")]
    (queued,) = [x for x in actions if isinstance(x, Queued)]
    assert queued.position == 1
    assert "failed: no_answer" in queued.explanation.detail
    assert engine.position("first") == 1
    engine.agent_login("b", 21)
    assert _offers(engine.agent_ready("b", 21)) == [("first", "b")]


def test_ring_no_answer_offers_the_call_to_another_idle_agent() -> None:
    engine = _engine()
    for agent_id in ("a", "b"):
        engine.agent_login(agent_id, 0)
        engine.agent_ready(agent_id, 0)
    _arrive(engine, "c1", 1)
    actions = engine.offer_failed("c1", "a", 10)
    assert _offers(actions) == [("c1", "b")]
    assert engine.agent_state("a") == "not_ready"


def test_ring_no_answer_can_leave_the_agent_ready() -> None:
    engine = _engine(rona_to_not_ready=False)
    engine.agent_login("a", 0)
    engine.agent_ready("a", 0)
    _arrive(engine, "c1", 1)
    actions = engine.offer_failed("c1", "a", 10, reason="rejected")
    assert _offers(actions) == [("c1", "a")]  # only agent: offered again


def test_acw_times_out_via_tick_and_next_deadline() -> None:
    engine = _engine(acw=30)
    engine.agent_login("a", 0)
    engine.agent_ready("a", 0)
    _arrive(engine, "c1", 1)
    engine.offer_accepted("c1", "a", 2)
    engine.call_ended("c1", 50)
    _arrive(engine, "c2", 60)
    assert engine.next_deadline() == 80  # c2's SL deadline at 80 and ACW end at 80
    assert engine.tick(79.9) == []
    actions = engine.tick(80)
    assert _states(actions) == [("a", "ready", None), ("a", "reserved", None)]
    assert _offers(actions) == [("c2", "a")]
    assert actions[-1].explanation.rule == "agent_idle:sl_gap"  # type: ignore[union-attr]


def test_due_timers_run_before_any_event() -> None:
    engine = _engine(acw=30)
    engine.agent_login("a", 0)
    engine.agent_ready("a", 0)
    _arrive(engine, "c1", 1)
    engine.offer_accepted("c1", "a", 2)
    engine.call_ended("c1", 10)
    actions = _arrive(engine, "c2", 45)  # no tick at 40: the ACW end is processed first
    assert _offers(actions) == [("c2", "a")]


def test_acw_done_racing_the_timeout_is_harmless() -> None:
    engine = _engine(acw=30)
    engine.agent_login("a", 0)
    engine.agent_ready("a", 0)
    _arrive(engine, "c1", 1)
    engine.offer_accepted("c1", "a", 2)
    engine.call_ended("c1", 10)
    assert _states(engine.acw_done("a", 41)) == [("a", "ready", None)]  # from the timer
    assert engine.agent_state("a") == "ready"


def test_zero_acw_makes_the_agent_ready_and_takes_the_next_call() -> None:
    engine = _engine()
    engine.agent_login("a", 0)
    engine.agent_ready("a", 0)
    _arrive(engine, "c1", 1)
    _arrive(engine, "c2", 2)
    engine.offer_accepted("c1", "a", 3)
    actions = engine.call_ended("c1", 10)
    assert _offers(actions) == [("c2", "a")]


def test_abandon_while_ringing_frees_the_agent() -> None:
    engine = _engine()
    engine.agent_login("a", 0)
    engine.agent_ready("a", 0)
    _arrive(engine, "c1", 1)
    _arrive(engine, "c2", 2)
    actions = engine.call_abandoned("c1", 5)
    assert _offers(actions) == [("c2", "a")]
    with pytest.raises(UnknownCall):
        engine.call_state("c1")


def test_call_errors_are_typed() -> None:
    engine = _engine()
    engine.agent_login("a", 0)
    engine.agent_ready("a", 0)
    _arrive(engine, "c1", 1)
    with pytest.raises(DuplicateId) as dup:
        _arrive(engine, "c1", 2)
    assert dup.value.code == "duplicate_call"
    with pytest.raises(InvalidTransition) as info:
        engine.offer_accepted("c1", "b", 2)
    assert info.value.code == "not_offered"
    with pytest.raises(InvalidTransition):
        engine.call_ended("c1", 2)  # not connected yet
    engine.offer_accepted("c1", "a", 3)
    with pytest.raises(InvalidTransition):
        engine.call_abandoned("c1", 4)
    with pytest.raises(InvalidTransition):
        engine.offer_failed("c1", "a", 4)
    with pytest.raises(UnknownCall) as unknown:
        engine.call_ended("nope", 5)
    assert unknown.value.code == "unknown_call"
    with pytest.raises(UnknownAgent) as agent:
        engine.agent_ready("nobody", 5)
    assert agent.value.code == "unknown_agent"
    with pytest.raises(UnknownQueue):
        engine.call_arrived(CallSpec(call_id="x", queue_id="none", tier_id="std"), 5)
    with pytest.raises(UnknownTier):
        engine.call_arrived(CallSpec(call_id="x", queue_id="q", tier_id="none"), 5)
    with pytest.raises(ClockWentBackwards) as clock:
        engine.tick(1)
    assert clock.value.code == "clock_went_backwards"


def test_configuration_errors_are_typed() -> None:
    engine = _engine()
    with pytest.raises(UnknownGroup):
        engine.add_agent(AgentSpec(agent_id="z", skills={"s": 1}, groups=frozenset({"ghost"})))
    with pytest.raises(DuplicateId):
        engine.add_agent(AgentSpec(agent_id="a", skills={"s": 1}))
    with pytest.raises(ConfigError) as info:
        AgentSpec(agent_id="z", skills={"s": 0})
    assert info.value.code == "invalid_config"
    with pytest.raises(ConfigError):
        TierSpec(tier_id="t", sl_seconds=20, sl_target=80)
    with pytest.raises(ConfigError):
        EngineConfig(call_selection="random")
    with pytest.raises(ConfigError):
        EngineConfig(agent_order="tallest")


def test_update_agent_changes_skills_and_rechecks_waiting_calls() -> None:
    engine = _engine()
    engine.add_agent(AgentSpec(agent_id="c", skills={"other": 1}))
    engine.agent_login("c", 0)
    engine.agent_ready("c", 0)
    _arrive(engine, "c1", 1)
    actions = engine.update_agent(AgentSpec(agent_id="c", skills={"other": 1, "s": 2}), 2)
    assert _offers(actions) == [("c1", "c")]
    with pytest.raises(InvalidTransition) as info:
        engine.update_agent(AgentSpec(agent_id="c", skills={"s": 1}), 3)
    assert info.value.code == "agent_busy"


def test_logged_out_agent_can_be_removed() -> None:
    engine = _engine()
    engine.agent_login("a", 0)
    with pytest.raises(InvalidTransition):
        engine.remove_agent("a")
    engine.agent_logout("a", 1)
    engine.remove_agent("a")
    with pytest.raises(UnknownAgent):
        engine.agent_state("a")
