"""Configuration changes while calls are routed (issue 8, live administration): a queue's
definition replaced, the tiers an agent group serves changed, tiers / queues / groups
removed — waiting calls keep their place and SL clock, agents who may now take a call
are offered it at once, and removals that would strand calls are refused with a typed
reason."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from cti_server.routing import (
    Action,
    AgentGroupSpec,
    AgentSpec,
    CallbackRequested,
    CallSpec,
    EngineConfig,
    InUse,
    LeftQueue,
    Offer,
    Overflowed,
    OverflowRule,
    QueueSpec,
    RoutingEngine,
    TierSpec,
    UnknownGroup,
    UnknownQueue,
)


def _engine(*queues: QueueSpec, explain: bool = True) -> RoutingEngine:
    engine = RoutingEngine(EngineConfig(call_selection="fifo", explain=explain))
    engine.add_tier(TierSpec(tier_id="std", sl_seconds=20, sl_target=0.8))
    engine.add_tier(TierSpec(tier_id="vip", sl_seconds=10, sl_target=0.9))
    engine.add_agent_group(AgentGroupSpec(group_id="seniors", tiers=frozenset({"vip", "std"})))
    engine.add_agent_group(AgentGroupSpec(group_id="juniors", tiers=frozenset({"std"})))
    for queue in queues or (QueueSpec(queue_id="q", skill="s", max_level=1),):
        engine.add_queue(queue)
    return engine


def _agent(
    engine: RoutingEngine,
    agent_id: str,
    now: float,
    *,
    groups: frozenset[str] = frozenset({"seniors"}),
    ready: bool = True,
    **skills: int,
) -> list[Action]:
    engine.add_agent(AgentSpec(agent_id=agent_id, skills=skills, groups=groups))
    engine.agent_login(agent_id, now)
    return engine.agent_ready(agent_id, now) if ready else []


def _arrive(
    engine: RoutingEngine, call_id: str, now: float, queue: str = "q", tier: str = "std"
) -> list[Action]:
    return engine.call_arrived(CallSpec(call_id=call_id, queue_id=queue, tier_id=tier), now)


def _offers(actions: Sequence[Action]) -> list[tuple[str, str]]:
    return [(a.call_id, a.agent_id) for a in actions if isinstance(a, Offer)]


# --- replacing a queue's definition ------------------------------------------------------


def test_widening_the_level_offers_the_oldest_waiting_call_to_the_now_eligible_agent() -> None:
    engine = _engine()
    _agent(engine, "a2", 0.0, s=2)  # level 2: not eligible under max_level 1
    for i, t in enumerate((1.0, 2.0, 3.0)):
        _arrive(engine, f"c{i}", t)
    assert engine.waiting("q") == 3

    out = engine.update_queue(QueueSpec(queue_id="q", skill="s", max_level=2), 10.0)

    assert _offers(out) == [("c0", "a2")]
    offer = next(a for a in out if isinstance(a, Offer))
    assert offer.explanation.rule.startswith("queue_changed:")
    assert [engine.position(c) for c in ("c1", "c2")] == [1, 2]  # order kept
    # the SL clock still runs from arrival: answered at 25 s, c0 waited 24 s > 20 s
    engine.offer_accepted("c0", "a2", 25.0)
    figures = engine.tier_figures("std", 25.0)
    assert (figures.outcomes, figures.met) == (1, 0)


def test_waiting_calls_keep_their_order_and_positions_through_a_change() -> None:
    engine = _engine()
    for i in range(5):
        _arrive(engine, f"c{i}", float(i))
    engine.update_queue(QueueSpec(queue_id="q", skill="s", max_level=3, acw_seconds=5), 6.0)
    assert [engine.position(f"c{i}") for i in range(5)] == [1, 2, 3, 4, 5]
    _agent(engine, "a1", 7.0, s=1)
    assert engine.call_agent("c0") == "a1"


def test_a_new_skill_moves_the_waiting_calls_to_the_agents_of_that_skill() -> None:
    engine = _engine()
    _arrive(engine, "c1", 1.0)
    _agent(engine, "b1", 2.0, billing=1)
    out = engine.update_queue(QueueSpec(queue_id="q", skill="billing"), 3.0)
    assert _offers(out) == [("c1", "b1")]
    engine.offer_accepted("c1", "b1", 4.0)
    engine.call_ended("c1", 5.0)
    # the next call of the old skill's agents does not go to this queue any more
    _agent(engine, "s1", 6.0, s=1)
    _arrive(engine, "c2", 7.0)
    assert engine.call_state("c2") == "offered" and engine.call_agent("c2") == "b1"


def test_a_shorter_max_wait_already_passed_acts_now_and_keeps_the_arrival_order() -> None:
    other = QueueSpec(queue_id="backup", skill="b")
    engine = _engine(QueueSpec(queue_id="q", skill="s", max_level=1), other)
    _arrive(engine, "c1", 0.0)
    _arrive(engine, "c2", 50.0)
    out = engine.update_queue(
        QueueSpec(queue_id="q", skill="s", max_wait=30, max_wait_action="overflow:backup"),
        60.0,
    )
    moved = [a for a in out if isinstance(a, Overflowed)]
    assert [(a.call_id, a.to_queue) for a in moved] == [("c1", "backup")]
    assert engine.call_queue("c1") == "backup" and engine.call_queue("c2") == "q"
    # c2 entered at 50 s: its new max wait fires at 80 s, not at once
    assert engine.tick(79.0) == []
    later = engine.tick(80.0)
    assert [(a.call_id, a.to_queue) for a in later if isinstance(a, Overflowed)] == [
        ("c2", "backup")
    ]


def test_removing_the_max_wait_cancels_the_pending_timer() -> None:
    engine = _engine(QueueSpec(queue_id="q", skill="s", max_wait=30))
    _arrive(engine, "c1", 0.0)
    engine.update_queue(QueueSpec(queue_id="q", skill="s"), 10.0)
    assert not [a for a in engine.tick(100.0) if isinstance(a, CallbackRequested)]
    assert engine.call_state("c1") == "waiting"


def test_overflow_rules_are_recomputed_from_the_time_the_call_entered() -> None:
    engine = _engine()
    _agent(engine, "a3", 0.0, s=3)
    _arrive(engine, "c1", 0.0)
    # widen to level 3 after 40 s: at 30 s it is not due yet
    rules = (OverflowRule(after=40, widen_to_level=3),)
    assert (
        _offers(
            engine.update_queue(
                QueueSpec(queue_id="q", skill="s", max_level=1, overflow=rules), 30.0
            )
        )
        == []
    )
    assert _offers(engine.tick(40.0)) == [("c1", "a3")]


def test_a_ringing_call_falls_back_under_the_new_rules() -> None:
    engine = _engine()
    _agent(engine, "a1", 0.0, s=1)
    _arrive(engine, "c1", 1.0)
    assert engine.call_state("c1") == "offered"
    engine.update_queue(QueueSpec(queue_id="q", skill="s", max_wait=5, max_wait_action="flow"), 2.0)
    out = engine.offer_failed("c1", "a1", 10.0)  # max wait passed while ringing
    assert [a.call_id for a in out if isinstance(a, LeftQueue)] == ["c1"]


def test_the_new_acw_applies_to_a_call_that_ends_after_the_change() -> None:
    engine = _engine()
    _agent(engine, "a1", 0.0, s=1)
    _arrive(engine, "c1", 1.0)
    engine.offer_accepted("c1", "a1", 2.0)
    engine.update_queue(QueueSpec(queue_id="q", skill="s", acw_seconds=30), 3.0)
    engine.call_ended("c1", 4.0)
    assert engine.agent_state("a1") == "acw"
    assert engine.next_action_deadline() == pytest.approx(34.0)


def test_calls_listed_through_another_queues_overflow_follow_its_new_level() -> None:
    main = QueueSpec(
        queue_id="main", skill="m", overflow=(OverflowRule(after=0, add_queues=("help",)),)
    )
    engine = _engine(main, QueueSpec(queue_id="help", skill="h", max_level=1))
    _agent(engine, "h2", 0.0, h=2)
    _arrive(engine, "c1", 1.0, queue="main")
    assert engine.call_state("c1") == "waiting"
    out = engine.update_queue(QueueSpec(queue_id="help", skill="h", max_level=2), 2.0)
    assert _offers(out) == [("c1", "h2")]


def test_a_bad_reference_changes_nothing() -> None:
    engine = _engine()
    _arrive(engine, "c1", 1.0)
    with pytest.raises(UnknownQueue):
        engine.update_queue(
            QueueSpec(queue_id="q", skill="s", max_wait=5, max_wait_action="overflow:nowhere"),
            2.0,
        )
    with pytest.raises(UnknownGroup):
        engine.update_queue(
            QueueSpec(
                queue_id="q",
                skill="s",
                overflow=(OverflowRule(after=5, add_groups=frozenset({"nobody"})),),
            ),
            2.0,
        )
    assert engine.queue_spec("q").max_level == 1 and engine.position("c1") == 1
    assert engine.tick(100.0) == []  # no timer of the refused definition


def test_without_explanations_the_same_decisions_are_made() -> None:
    for explain in (True, False):
        engine = _engine(explain=explain)
        _agent(engine, "a2", 0.0, s=2)
        _arrive(engine, "c1", 1.0)
        out = engine.update_queue(QueueSpec(queue_id="q", skill="s", max_level=2), 2.0)
        assert _offers(out) == [("c1", "a2")]


# --- agent groups and tiers served ---------------------------------------------------------


def test_a_group_that_now_serves_a_tier_gets_its_waiting_calls() -> None:
    engine = _engine(QueueSpec(queue_id="q", skill="s"))
    _agent(engine, "j1", 0.0, groups=frozenset({"juniors"}), s=1)
    _arrive(engine, "v1", 1.0, tier="vip")
    _arrive(engine, "v2", 2.0, tier="vip")
    assert engine.waiting("q") == 2  # vip is served by seniors only

    out = engine.update_agent_group(
        AgentGroupSpec(group_id="juniors", tiers=frozenset({"std", "vip"})), 3.0
    )
    assert _offers(out) == [("v1", "j1")]
    assert engine.group_tiers("juniors") == frozenset({"std", "vip"})
    # and back: a group no longer serving the tier does not get the next one
    engine.update_agent_group(AgentGroupSpec(group_id="juniors", tiers=frozenset({"std"})), 4.0)
    engine.offer_accepted("v1", "j1", 5.0)
    engine.call_ended("v1", 6.0)
    assert engine.agent_state("j1") == "ready" and engine.call_state("v2") == "waiting"


def test_a_tier_no_group_serves_any_more_is_open_to_every_agent() -> None:
    engine = _engine(QueueSpec(queue_id="q", skill="s"))
    _agent(engine, "x1", 0.0, groups=frozenset(), s=1)  # in no group
    _arrive(engine, "v1", 1.0, tier="vip")
    assert engine.call_state("v1") == "waiting"
    out = engine.update_agent_group(
        AgentGroupSpec(group_id="seniors", tiers=frozenset({"std"})), 2.0
    )
    assert _offers(out) == [("v1", "x1")]


# --- removals ---------------------------------------------------------------------------------


def test_a_queue_with_waiting_or_ringing_calls_is_not_removed() -> None:
    engine = _engine()
    _arrive(engine, "c1", 1.0)
    with pytest.raises(InUse) as refused:
        engine.remove_queue("q")
    assert refused.value.code == "queue_has_calls"
    _agent(engine, "a1", 2.0, s=1)  # c1 rings now
    with pytest.raises(InUse):
        engine.remove_queue("q")
    engine.offer_accepted("c1", "a1", 3.0)
    engine.remove_queue("q")  # a connected call does not hold the queue
    engine.call_ended("c1", 4.0)
    assert engine.agent_state("a1") == "ready"
    with pytest.raises(UnknownQueue):
        _arrive(engine, "c2", 5.0)


def test_an_overflow_target_is_not_removed_until_nothing_points_to_it() -> None:
    main = QueueSpec(queue_id="main", skill="m", max_wait=10, max_wait_action="overflow:q")
    engine = _engine(main, QueueSpec(queue_id="q", skill="s"))
    with pytest.raises(InUse) as refused:
        engine.remove_queue("q")
    assert (refused.value.code, refused.value.blockers) == ("queue_referenced", ("main",))
    engine.update_queue(QueueSpec(queue_id="main", skill="m"), 1.0)
    engine.remove_queue("q")


def test_a_tier_is_removed_only_without_calls_and_serving_groups() -> None:
    engine = _engine()
    _arrive(engine, "v1", 1.0, tier="vip")
    with pytest.raises(InUse) as refused:
        engine.remove_tier("vip")
    assert refused.value.code == "tier_has_calls"
    engine.call_abandoned("v1", 2.0)
    with pytest.raises(InUse) as served:
        engine.remove_tier("vip")
    assert (served.value.code, served.value.blockers) == ("tier_served", ("seniors",))
    engine.update_agent_group(AgentGroupSpec(group_id="seniors", tiers=frozenset({"std"})), 3.0)
    engine.remove_tier("vip")
    with pytest.raises(Exception, match="unknown tier"):
        _arrive(engine, "v2", 4.0, tier="vip")
    _agent(engine, "a1", 5.0, s=1)
    _arrive(engine, "s1", 6.0)
    assert engine.call_agent("s1") == "a1"


def test_a_group_is_removed_only_without_members_and_overflow_references() -> None:
    rules = (OverflowRule(after=30, add_groups=frozenset({"juniors"})),)
    engine = _engine(QueueSpec(queue_id="q", skill="s", overflow=rules))
    _agent(engine, "j1", 0.0, groups=frozenset({"juniors"}), ready=False, s=1)
    with pytest.raises(InUse) as members:
        engine.remove_agent_group("juniors", 1.0)
    assert members.value.code == "group_has_members"
    engine.update_agent(AgentSpec(agent_id="j1", skills={"s": 1}), 2.0)
    with pytest.raises(InUse) as referenced:
        engine.remove_agent_group("juniors", 3.0)
    assert (referenced.value.code, referenced.value.blockers) == ("group_referenced", ("q",))
    engine.update_queue(QueueSpec(queue_id="q", skill="s"), 4.0)
    assert engine.remove_agent_group("juniors", 5.0) == []
    with pytest.raises(UnknownGroup):
        engine.group_tiers("juniors")


def test_removing_the_only_group_of_a_tier_opens_it_and_offers_waiting_calls() -> None:
    engine = _engine(QueueSpec(queue_id="q", skill="s"))
    _agent(engine, "x1", 0.0, groups=frozenset(), s=1)
    _arrive(engine, "s1", 1.0)  # std is served by seniors and juniors
    engine.update_agent_group(AgentGroupSpec(group_id="seniors", tiers=frozenset({"vip"})), 2.0)
    assert engine.call_state("s1") == "waiting"
    out = engine.remove_agent_group("juniors", 3.0)
    assert _offers(out) == [("s1", "x1")]
