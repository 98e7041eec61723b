"""Call arrives while agents are idle: best level first, then the agent order (R-SKILL-2,
R-ROUTE-1, R-ROUTE-5), restricted by agent groups per tier (R-SKILL-3)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence

import pytest

from cti_server.routing import (
    Action,
    AgentGroupSpec,
    AgentSpec,
    CallSpec,
    EngineConfig,
    Offer,
    Queued,
    QueueSpec,
    RoutingEngine,
    TierSpec,
)


def _engine(order: str = "longest_idle", acw: float = 0.0) -> RoutingEngine:
    engine = RoutingEngine(EngineConfig(agent_order=order))
    engine.add_tier(TierSpec(tier_id="std", sl_seconds=20, sl_target=0.8))
    engine.add_queue(QueueSpec(queue_id="sales", skill="sales", acw_seconds=acw))
    return engine


def _ready(engine: RoutingEngine, agent_ids: Iterable[str], now: float) -> None:
    for agent_id in agent_ids:
        engine.agent_login(agent_id, now)
        engine.agent_ready(agent_id, now)


def _offer(actions: Sequence[Action]) -> Offer:
    offers = [a for a in actions if isinstance(a, Offer)]
    assert len(offers) == 1, actions
    return offers[0]


def _arrive(engine: RoutingEngine, call_id: str, now: float, tier: str = "std") -> list[Action]:
    return engine.call_arrived(CallSpec(call_id=call_id, queue_id="sales", tier_id=tier), now)


def _handle(engine: RoutingEngine, call_id: str, agent_id: str, start: float, end: float) -> None:
    engine.offer_accepted(call_id, agent_id, start)
    engine.call_ended(call_id, end)


def test_first_level_agent_takes_the_call_even_if_second_level_idled_longer() -> None:
    """R-SKILL-2: first-level agents take the call first."""
    engine = _engine()
    engine.add_agent(AgentSpec(agent_id="second", skills={"sales": 2}))
    engine.add_agent(AgentSpec(agent_id="first", skills={"sales": 1}))
    _ready(engine, ["second"], 0)
    _ready(engine, ["first"], 50)
    offer = _offer(_arrive(engine, "c1", 60))
    assert offer.agent_id == "first"
    assert offer.explanation.agent_candidates[0].level == 1
    # only when every first-level agent is busy does a second-level agent get one
    assert _offer(_arrive(engine, "c2", 61)).agent_id == "second"


def test_agent_without_the_skill_is_never_offered() -> None:
    engine = _engine()
    engine.add_agent(AgentSpec(agent_id="other", skills={"billing": 1}))
    _ready(engine, ["other"], 0)
    actions = _arrive(engine, "c1", 1)
    assert isinstance(actions[-1], Queued)
    assert engine.agent_state("other") == "ready"


def test_longest_idle_is_the_default_order() -> None:
    engine = _engine()
    for agent_id in ("a", "b", "c"):
        engine.add_agent(AgentSpec(agent_id=agent_id, skills={"sales": 1}))
    _ready(engine, ["b"], 0)
    _ready(engine, ["c"], 5)
    _ready(engine, ["a"], 10)
    assert [_offer(_arrive(engine, f"c{i}", 20 + i)).agent_id for i in range(3)] == ["b", "c", "a"]


def test_longest_idle_counts_from_the_end_of_the_last_call() -> None:
    engine = _engine()
    for agent_id in ("a", "b"):
        engine.add_agent(AgentSpec(agent_id=agent_id, skills={"sales": 1}))
    _ready(engine, ["a", "b"], 0)
    assert _offer(_arrive(engine, "c1", 1)).agent_id == "a"
    _handle(engine, "c1", "a", 2, 3)  # a is idle again from t=3, b since t=0
    assert _offer(_arrive(engine, "c2", 4)).agent_id == "b"


def test_round_robin_rotates_through_agents() -> None:
    """R-ROUTE-5: round robin — the agent offered least recently goes next."""
    engine = _engine("round_robin")
    for agent_id in ("a", "b", "c"):
        engine.add_agent(AgentSpec(agent_id=agent_id, skills={"sales": 1}))
    _ready(engine, ["a", "b", "c"], 0)
    chosen = []
    for i in range(6):
        offer = _offer(_arrive(engine, f"c{i}", 10 * i + 1))
        chosen.append(offer.agent_id)
        _handle(engine, f"c{i}", offer.agent_id, 10 * i + 2, 10 * i + 3)
    assert chosen == ["a", "b", "c", "a", "b", "c"]


def test_fewest_calls_prefers_the_agent_who_handled_fewer() -> None:
    engine = _engine("fewest_calls")
    for agent_id in ("busy", "fresh"):
        engine.add_agent(AgentSpec(agent_id=agent_id, skills={"sales": 1}))
    _ready(engine, ["busy"], 0)
    for i in range(2):
        _arrive(engine, f"w{i}", 1 + 10 * i)
        _handle(engine, f"w{i}", "busy", 2 + 10 * i, 3 + 10 * i)
    _ready(engine, ["fresh"], 100)  # idle for less time, but no calls yet
    assert _offer(_arrive(engine, "c", 101)).agent_id == "fresh"


def test_least_talk_time_prefers_the_agent_who_talked_less() -> None:
    engine = _engine("least_talk_time")
    for agent_id in ("long", "short"):
        engine.add_agent(AgentSpec(agent_id=agent_id, skills={"sales": 1}))
    _ready(engine, ["long"], 0)
    _arrive(engine, "c1", 1)
    _handle(engine, "c1", "long", 1, 301)  # 300 s of talk
    _ready(engine, ["short"], 302)
    _arrive(engine, "c2", 303)
    _handle(engine, "c2", "short", 303, 313)  # 10 s of talk, idle since 313
    offer = _offer(_arrive(engine, "c3", 400))
    assert offer.agent_id == "short"
    assert offer.explanation.agent_candidates[0].order_value[0] == pytest.approx(10)


def test_fixed_order_uses_order_key() -> None:
    engine = _engine("fixed")
    engine.add_agent(AgentSpec(agent_id="z", skills={"sales": 1}, order_key=1))
    engine.add_agent(AgentSpec(agent_id="y", skills={"sales": 1}, order_key=2))
    engine.add_agent(AgentSpec(agent_id="x", skills={"sales": 1}, order_key=3))
    _ready(engine, ["x", "y", "z"], 0)
    for i in range(3):
        offer = _offer(_arrive(engine, f"c{i}", 1 + 10 * i))
        assert offer.agent_id == "z"
        _handle(engine, f"c{i}", "z", 2 + 10 * i, 3 + 10 * i)


def _tiered_engine() -> RoutingEngine:
    engine = _engine()
    engine.add_tier(TierSpec(tier_id="vip", sl_seconds=10, sl_target=0.9, priority_weight=3))
    engine.add_agent_group(AgentGroupSpec(group_id="seniors", tiers=frozenset({"vip", "std"})))
    engine.add_agent_group(AgentGroupSpec(group_id="juniors", tiers=frozenset({"std"})))
    engine.add_agent(
        AgentSpec(agent_id="junior", skills={"sales": 1}, groups=frozenset({"juniors"}))
    )
    engine.add_agent(
        AgentSpec(agent_id="senior", skills={"sales": 1}, groups=frozenset({"seniors"}))
    )
    return engine


def test_tier_is_served_only_by_its_agent_groups() -> None:
    """R-SKILL-3: a VIP call goes to a VIP-serving group even if a junior idled longer."""
    engine = _tiered_engine()
    _ready(engine, ["junior"], 0)
    _ready(engine, ["senior"], 30)
    offer = _offer(_arrive(engine, "vip1", 40, tier="vip"))
    assert offer.agent_id == "senior"
    assert {c.group for c in offer.explanation.agent_candidates} == {"seniors"}
    # no eligible agent left for VIP: it waits although the junior is idle
    assert isinstance(_arrive(engine, "vip2", 41, tier="vip")[-1], Queued)
    assert engine.agent_state("junior") == "ready"


def test_one_agent_serves_several_tiers_without_dedicated_seats() -> None:
    """R-SKILL-3: the senior (in a group serving VIP and std) also takes std calls."""
    engine = _tiered_engine()
    _ready(engine, ["senior"], 0)
    assert _offer(_arrive(engine, "s1", 1, tier="std")).agent_id == "senior"


def test_tier_without_any_group_is_open_to_every_agent() -> None:
    engine = _tiered_engine()
    engine.add_tier(TierSpec(tier_id="open", sl_seconds=30, sl_target=0.5))
    engine.add_agent(AgentSpec(agent_id="nogroup", skills={"sales": 1}))
    _ready(engine, ["nogroup"], 0)
    assert _offer(_arrive(engine, "o1", 1, tier="open")).agent_id == "nogroup"
    assert isinstance(_arrive(engine, "s1", 2, tier="std")[-1], Queued)


def test_arrival_explanation_lists_candidates_and_sl_figures() -> None:
    """Every decision is explainable: rule, candidates considered, SL figures of the call."""
    engine = _tiered_engine()
    engine.add_agent(
        AgentSpec(agent_id="both", skills={"sales": 1}, groups=frozenset({"seniors", "juniors"}))
    )
    _ready(engine, ["junior", "both"], 0)
    offer = _offer(_arrive(engine, "s1", 5, tier="std"))
    explanation = offer.explanation
    assert explanation.rule == "call_arrival:level_first+longest_idle"
    assert explanation.call_id == "s1"
    assert explanation.agent_id == "junior"
    assert {(c.agent_id, c.group) for c in explanation.agent_candidates} == {
        ("junior", "juniors"),
        ("both", "seniors"),
    }
    (call,) = explanation.call_candidates
    assert (call.tier_id, call.sl_target, call.sl_achieved) == ("std", 0.8, None)
    data = json.loads(json.dumps(explanation.to_dict()))
    assert data["rule"] == explanation.rule
    assert data["agent_candidates"][0]["order_value"] == list(
        explanation.agent_candidates[0].order_value
    )
    assert data["call_candidates"][0]["tier_id"] == "std"


def test_queued_position_is_arrival_order() -> None:
    engine = _engine()
    positions = []
    for i in range(3):
        queued = _arrive(engine, f"c{i}", i)[-1]
        assert isinstance(queued, Queued)
        positions.append(queued.position)
    assert positions == [1, 2, 3]
    assert engine.waiting("sales") == 3
    assert engine.position("c2") == 3
