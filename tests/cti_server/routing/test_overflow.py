"""Overflow/escalation after waits and max-wait actions (R-ROUTE-5)."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from cti_server.routing import (
    Action,
    AgentGroupSpec,
    AgentSpec,
    CallbackRequested,
    CallSpec,
    ConfigError,
    EngineConfig,
    LeftQueue,
    Offer,
    Overflowed,
    OverflowRule,
    Queued,
    QueueSpec,
    RoutingEngine,
    TierSpec,
    UnknownQueue,
    Widened,
)


def _engine(*queues: QueueSpec, selection: str = "fifo") -> RoutingEngine:
    engine = RoutingEngine(EngineConfig(call_selection=selection))
    engine.add_tier(TierSpec(tier_id="std", sl_seconds=20, sl_target=0.8))
    engine.add_tier(TierSpec(tier_id="vip", sl_seconds=10, sl_target=0.9))
    engine.add_agent_group(AgentGroupSpec(group_id="seniors", tiers=frozenset({"vip", "std"})))
    engine.add_agent_group(AgentGroupSpec(group_id="juniors", tiers=frozenset({"std"})))
    for queue in queues:
        engine.add_queue(queue)
    return engine


def _agent(
    engine: RoutingEngine,
    agent_id: str,
    now: float,
    *,
    ready: bool = True,
    groups: frozenset[str] = frozenset({"seniors"}),
    **skills: int,
) -> None:
    engine.add_agent(AgentSpec(agent_id=agent_id, skills=skills, groups=groups))
    engine.agent_login(agent_id, now)
    if ready:
        engine.agent_ready(agent_id, now)


def _arrive(
    engine: RoutingEngine, call_id: str, queue: str, now: float, tier: str = "std"
) -> list[Action]:
    return engine.call_arrived(CallSpec(call_id=call_id, queue_id=queue, tier_id=tier), now)


def _only[T](actions: Sequence[Action], kind: type[T]) -> list[T]:
    return [a for a in actions if isinstance(a, kind)]


def test_call_widens_to_second_level_agents_after_a_wait() -> None:
    """R-SKILL-2 + R-ROUTE-5: level 1 only at first, level 2 joins after 30 s."""
    engine = _engine(
        QueueSpec(
            queue_id="sales",
            skill="sales",
            max_level=1,
            overflow=(OverflowRule(after=30, widen_to_level=2),),
        )
    )
    _agent(engine, "second", 0, sales=2)
    assert isinstance(_arrive(engine, "c1", "sales", 10)[-1], Queued)
    assert engine.agent_state("second") == "ready"
    assert engine.next_deadline() == 30  # the SL deadline; overflow is due at 40
    assert engine.tick(39) == []
    actions = engine.tick(40)
    (widened,) = _only(actions, Widened)
    assert widened.explanation.eligible_levels == 2
    (offer,) = _only(actions, Offer)
    assert offer.agent_id == "second"
    assert offer.explanation.rule == "call_widened:level_first+longest_idle"


def test_agent_becoming_idle_takes_only_calls_widened_to_its_level() -> None:
    engine = _engine(
        QueueSpec(
            queue_id="sales",
            skill="sales",
            max_level=1,
            overflow=(OverflowRule(after=30, widen_to_level=2),),
        )
    )
    _agent(engine, "second", 0, ready=False, sales=2)
    _arrive(engine, "c1", "sales", 0)
    assert _only(engine.agent_ready("second", 5), Offer) == []
    engine.agent_not_ready("second", "break", 6)
    engine.tick(31)
    (offer,) = _only(engine.agent_ready("second", 31), Offer)
    assert offer.call_id == "c1"


def test_call_widens_to_another_agent_group() -> None:
    """R-SKILL-3 overflow: a VIP call may go to juniors after 20 s."""
    engine = _engine(
        QueueSpec(
            queue_id="sales",
            skill="sales",
            overflow=(OverflowRule(after=20, add_groups=frozenset({"juniors"})),),
        )
    )
    _agent(engine, "junior", 0, groups=frozenset({"juniors"}), sales=1)
    assert isinstance(_arrive(engine, "v1", "sales", 0, tier="vip")[-1], Queued)
    (offer,) = _only(engine.tick(20), Offer)
    assert (offer.call_id, offer.agent_id) == ("v1", "junior")


def test_call_widens_to_another_queue_in_both_directions() -> None:
    """After 10 s, agents of the support queue may take sales calls: an idle one at once,
    and one becoming idle later picks it from its own queue's point of view."""
    sales = QueueSpec(
        queue_id="sales", skill="sales", overflow=(OverflowRule(after=10, add_queues=("support",)),)
    )
    engine = _engine(sales, QueueSpec(queue_id="support", skill="support"))
    _agent(engine, "helper", 0, support=1)
    _arrive(engine, "c1", "sales", 0)
    (offer,) = _only(engine.tick(10), Offer)
    assert offer.agent_id == "helper"
    assert offer.queue_id == "sales"

    _agent(engine, "helper2", 10, ready=False, support=1)
    _arrive(engine, "c2", "sales", 11)
    engine.tick(21)
    offer = _only(engine.agent_ready("helper2", 22), Offer)[0]
    assert isinstance(offer, Offer)
    assert offer.call_id == "c2"
    (candidate,) = offer.explanation.call_candidates
    assert (candidate.queue_id, candidate.home_queue) == ("support", "sales")


def test_max_wait_callback_keeps_the_callers_position() -> None:
    """R-ROUTE-5 callback instead of waiting: the request keeps its place in line."""
    engine = _engine(QueueSpec(queue_id="sales", skill="sales", max_wait=60))
    for i in range(3):
        _arrive(engine, f"c{i}", "sales", i)
    (callback,) = _only(engine.tick(60), CallbackRequested)
    assert callback.call_id == "c0"
    assert "position 1" in callback.explanation.detail
    assert engine.position("c0") == 1
    assert engine.waiting("sales") == 3
    engine.add_agent(AgentSpec(agent_id="a", skills={"sales": 1}, groups=frozenset({"juniors"})))
    engine.agent_login("a", 61)
    (offer,) = _only(engine.agent_ready("a", 61), Offer)
    assert isinstance(offer, Offer)
    assert offer.call_id == "c0"


def test_callback_offer_is_flagged() -> None:
    engine = _engine(QueueSpec(queue_id="sales", skill="sales", max_wait=60))
    _arrive(engine, "c0", "sales", 0)
    engine.tick(60)
    engine.add_agent(AgentSpec(agent_id="a", skills={"sales": 1}, groups=frozenset({"seniors"})))
    engine.agent_login("a", 61)
    (offer,) = _only(engine.agent_ready("a", 61), Offer)
    assert isinstance(offer, Offer)
    assert offer.callback is True


def test_max_wait_overflows_to_another_queue_keeping_arrival_order() -> None:
    engine = _engine(
        QueueSpec(queue_id="sales", skill="sales", max_wait=30, max_wait_action="overflow:backup"),
        QueueSpec(queue_id="backup", skill="backup"),
    )
    _agent(engine, "b", 0, ready=False, backup=1)
    _arrive(engine, "c1", "sales", 0)
    _arrive(engine, "b1", "backup", 5)
    actions = engine.tick(30)
    (moved,) = _only(actions, Overflowed)
    assert (moved.from_queue, moved.to_queue) == ("sales", "backup")
    (queued,) = _only(actions, Queued)
    assert queued.position == 1  # ahead of b1, which arrived later
    assert engine.waiting("sales") == 0
    assert engine.waiting("backup") == 2
    (offer,) = _only(engine.agent_ready("b", 31), Offer)
    assert isinstance(offer, Offer)
    assert offer.call_id == "c1"


def test_max_wait_overflow_offers_at_once_when_the_target_has_an_idle_agent() -> None:
    engine = _engine(
        QueueSpec(queue_id="sales", skill="sales", max_wait=30, max_wait_action="overflow:backup"),
        QueueSpec(queue_id="backup", skill="backup"),
    )
    _agent(engine, "b", 0, backup=1)
    _arrive(engine, "c1", "sales", 0)
    actions = engine.tick(30)
    assert [type(a) for a in actions] == [Overflowed, type(actions[1]), Offer]
    assert engine.call_queue("c1") == "backup"


def test_max_wait_flow_action_hands_the_call_back() -> None:
    engine = _engine(
        QueueSpec(queue_id="sales", skill="sales", max_wait=30, max_wait_action="flow")
    )
    _arrive(engine, "c1", "sales", 0)
    (left,) = _only(engine.tick(30), LeftQueue)
    assert left.call_id == "c1"
    assert engine.waiting("sales") == 0
    assert list(engine.waiting_calls()) == []


def test_max_wait_reached_while_ringing_applies_when_the_offer_fails() -> None:
    engine = _engine(QueueSpec(queue_id="sales", skill="sales", max_wait=30))
    _agent(engine, "a", 0, sales=1)
    assert len(_only(_arrive(engine, "c1", "sales", 0), Offer)) == 1
    assert _only(engine.tick(40), CallbackRequested) == []  # ringing: nothing yet
    actions = engine.offer_failed("c1", "a", 41)
    assert len(_only(actions, CallbackRequested)) == 1
    assert engine.call_state("c1") == "waiting"


def test_overflow_configuration_errors() -> None:
    with pytest.raises(ConfigError):
        QueueSpec(queue_id="q", skill="s", max_wait=10, max_wait_action="overflow:q")
    with pytest.raises(ConfigError):
        QueueSpec(queue_id="q", skill="s", max_wait_action="elsewhere")
    engine = _engine(
        QueueSpec(queue_id="sales", skill="sales", max_wait=5, max_wait_action="overflow:nowhere")
    )
    with pytest.raises(UnknownQueue) as info:
        _arrive(engine, "c1", "sales", 0)
    assert info.value.code == "unknown_queue"
    with pytest.raises(ConfigError):
        engine.add_queue(QueueSpec(queue_id="x", skill="x", max_wait_action="overflow:sales"))
