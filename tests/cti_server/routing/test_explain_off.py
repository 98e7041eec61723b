"""``EngineConfig(explain=False)``: the same decisions as ``explain=True`` without building
explanations, plus the timer and SL-deadline behaviour the fast paths rely on.

The randomized test drives two engines, one explaining and one not, with the same event
sequence (agents with random skills, levels and groups; three tiers, agent groups,
overflow stages to other levels, groups and queues, max wait with callback, overflow and
flow, ACW, ring-no-answer, abandons, withdrawals, profile updates) and requires every
result, error and query to be identical apart from the explanation (R-ROUTE-1..5,
R-SKILL-2/3).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cti_server.routing import (
    NOT_EXPLAINED,
    Action,
    AgentGroupSpec,
    AgentSpec,
    AgentStateChanged,
    CallSpec,
    EngineConfig,
    Offer,
    OverflowRule,
    Queued,
    QueueSpec,
    RoutingEngine,
    RoutingError,
    TierSpec,
    Widened,
)
from cti_server.routing.actions import new_offer, new_queued, new_state_changed

TIERS = ("open", "gold", "std")
QUEUES = ("q1", "q2", "q3", "q4")
SKILLS = ("s1", "s2", "s3")


def _engine(selection: str, order: str, rona: bool, explain: bool) -> RoutingEngine:
    engine = RoutingEngine(
        EngineConfig(
            call_selection=selection,
            agent_order=order,
            rona_to_not_ready=rona,
            sl_window=300,
            explain=explain,
        )
    )
    engine.add_tier(TierSpec(tier_id="open", sl_seconds=20, sl_target=0.8))
    engine.add_tier(TierSpec(tier_id="gold", sl_seconds=10, sl_target=0.9, priority_weight=2))
    engine.add_tier(TierSpec(tier_id="std", sl_seconds=30, sl_target=0.7))
    engine.add_agent_group(AgentGroupSpec(group_id="g1", tiers=frozenset({"gold", "std"})))
    engine.add_agent_group(AgentGroupSpec(group_id="g2", tiers=frozenset({"std"})))
    engine.add_queue(
        QueueSpec(
            queue_id="q1",
            skill="s1",
            max_level=1,
            overflow=(
                OverflowRule(after=15.1, widen_to_level=2),
                OverflowRule(after=25.3, add_groups=frozenset({"g2"})),
            ),
            acw_seconds=3.05,
        )
    )
    engine.add_queue(
        QueueSpec(
            queue_id="q2",
            skill="s2",
            overflow=(OverflowRule(after=10.7, add_queues=("q3",)),),
            max_wait=60.9,
            max_wait_action="overflow:q1",
        )
    )
    engine.add_queue(QueueSpec(queue_id="q3", skill="s3", max_wait=40.2, acw_seconds=7.45))
    engine.add_queue(QueueSpec(queue_id="q4", skill="s1", max_wait=33.3, max_wait_action="flow"))
    return engine


def _decisions(actions: list[Action]) -> list[tuple[str, dict[str, Any]]]:
    """Each action without its explanation."""
    return [
        (
            type(a).__name__,
            {f.name: getattr(a, f.name) for f in dataclasses.fields(a) if f.name != "explanation"},
        )
        for a in actions
    ]


def _outcome(method: Callable[..., list[Action]], args: tuple[object, ...]) -> object:
    try:
        return method(*args)
    except RoutingError as exc:
        return type(exc).__name__, exc.code


skill_maps = st.dictionaries(st.sampled_from(SKILLS), st.integers(1, 3), min_size=1)
agent_specs = st.lists(
    st.tuples(skill_maps, st.frozensets(st.sampled_from(("g1", "g2")))), min_size=1, max_size=7
)
OPS = (
    *("arrive",) * 5,
    *("accept",) * 4,
    *("end",) * 4,
    *("ready",) * 2,
    "fail",
    "abandon",
    "withdraw",
    "not_ready",
    "logout",
    "acw_done",
    "tick",
    "update",
)
CALL_OPS = {
    "end": "call_ended",
    "abandon": "call_abandoned",
    "withdraw": "call_withdrawn",
}
AGENT_OPS = {"logout": "agent_logout", "acw_done": "acw_done"}
operations = st.lists(
    st.tuples(
        st.sampled_from(OPS),
        st.integers(0, 60),  # picks an agent / call / queue / tier
        st.integers(0, 60),
        st.sampled_from((1.0, 2.0, 3.0, 5.0, 8.0, 12.0, 0.5)),  # seconds since the last op
        skill_maps,
    ),
    min_size=40,
    max_size=120,
)


@settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    selection=st.sampled_from(("sl_gap", "fifo", "static_priority")),
    order=st.sampled_from(
        ("longest_idle", "round_robin", "fewest_calls", "least_talk_time", "fixed")
    ),
    rona=st.booleans(),
    agents=agent_specs,
    ops=operations,
)
def test_explain_false_takes_exactly_the_same_decisions(
    selection: str,
    order: str,
    rona: bool,
    agents: list[tuple[dict[str, int], frozenset[str]]],
    ops: list[tuple[str, int, int, float, dict[str, int]]],
) -> None:
    explained = _engine(selection, order, rona, explain=True)
    silent = _engine(selection, order, rona, explain=False)
    pair = (explained, silent)
    ids = [f"a{i}" for i in range(len(agents))]
    for agent_id, (skills, groups) in zip(ids, agents, strict=True):
        for engine in pair:
            engine.add_agent(AgentSpec(agent_id=agent_id, skills=skills, groups=groups))

    def both(method: str, *args: object) -> None:
        a, b = (_outcome(getattr(engine, method), args) for engine in pair)
        if isinstance(a, list) and isinstance(b, list):
            assert _decisions(a) == _decisions(b)
            assert all(
                x.explanation is not NOT_EXPLAINED
                for x in a
                if not isinstance(x, AgentStateChanged)
            )
            assert all(
                x.explanation is NOT_EXPLAINED for x in b if not isinstance(x, AgentStateChanged)
            )
        else:
            assert a == b
        assert explained.next_deadline() == silent.next_deadline()
        assert explained.next_action_deadline() == silent.next_action_deadline()
        assert sorted(explained.waiting_calls()) == sorted(silent.waiting_calls())
        assert sorted(explained.idle_agents()) == sorted(silent.idle_agents())

    for agent_id in ids:
        both("agent_login", agent_id, 0.0)
        both("agent_ready", agent_id, 0.0)
    now = 0.0
    counter = 0
    for op, x, y, dt, skills in ops:
        now += dt
        agent_id = ids[x % len(ids)]
        calls = sorted(silent.waiting_calls()) + sorted(
            c for c in (silent.agent_call(a) for a in ids) if c is not None
        )
        call_id = calls[y % len(calls)] if calls else "none"
        owner = (silent.call_agent(call_id) if calls else None) or agent_id
        if op == "arrive":
            counter += 1
            spec = CallSpec(
                call_id=f"c{counter}",
                queue_id=QUEUES[x % len(QUEUES)],
                tier_id=TIERS[y % len(TIERS)],
                priority=1 if y % 7 == 0 else 0,
            )
            both("call_arrived", spec, now)
        elif op in ("accept", "fail"):
            both("offer_accepted" if op == "accept" else "offer_failed", call_id, owner, now)
        elif op in CALL_OPS:
            both(CALL_OPS[op], call_id, now)
        elif op == "ready":
            if silent.agent_state(agent_id) == "logged_out":
                both("agent_login", agent_id, now)
            both("agent_ready", agent_id, now)
        elif op == "not_ready":
            both("agent_not_ready", agent_id, "break", now)
        elif op in AGENT_OPS:
            both(AGENT_OPS[op], agent_id, now)
        elif op == "tick":
            both("tick", now)
        else:
            both("update_agent", AgentSpec(agent_id=agent_id, skills=skills), now)
        for tier in TIERS:
            assert explained.tier_figures(tier, now) == silent.tier_figures(tier, now)


def _one_queue(explain: bool, **queue: Any) -> RoutingEngine:
    engine = RoutingEngine(EngineConfig(explain=explain))
    engine.add_tier(TierSpec(tier_id="t", sl_seconds=20, sl_target=0.8))
    engine.add_queue(QueueSpec(queue_id="q", skill="s", **queue))
    engine.add_agent(AgentSpec(agent_id="a", skills={"s": 1}))
    engine.agent_login("a", 0)
    return engine


@pytest.mark.parametrize("explain", [True, False])
def test_explanations_are_built_only_when_asked(explain: bool) -> None:
    engine = _one_queue(explain)
    engine.agent_ready("a", 0)
    actions = engine.call_arrived(CallSpec(call_id="c1", queue_id="q", tier_id="t"), 1)
    offer = actions[-1]
    assert isinstance(offer, Offer) and offer.agent_id == "a"
    if explain:
        assert offer.explanation.rule == "call_arrival:level_first+longest_idle"
        assert offer.explanation.agent_candidates[0].agent_id == "a"
    else:
        assert offer.explanation is NOT_EXPLAINED
        assert offer.explanation.to_dict()["rule"] == "not_explained"


def test_sl_deadlines_count_as_overdue_without_a_tick() -> None:
    """The overdue count follows the clock: no tick is needed at the SL deadline, and
    next_action_deadline() ignores SL deadlines while next_deadline() reports them."""
    engine = _one_queue(explain=False, overflow=(OverflowRule(after=45, widen_to_level=2),))
    engine.call_arrived(CallSpec(call_id="c1", queue_id="q", tier_id="t"), 10)
    assert engine.next_deadline() == 30  # the SL deadline
    assert engine.next_action_deadline() == 55  # the overflow stage
    assert engine.tier_figures("t", 29.9).overdue_pending == 0
    figures = engine.tier_figures("t", 30.5)
    assert figures.overdue_pending == 1 and figures.projected == 0.0  # a certain miss
    engine.agent_ready("a", 31)
    engine.offer_accepted("c1", "a", 32)
    figures = engine.tier_figures("t", 33)
    assert figures.overdue_pending == 0 and figures.outcomes == 1 and figures.met == 0


def test_a_reused_call_id_does_not_inherit_the_old_calls_timers() -> None:
    """A timer belongs to the call object it was set for, not to its id."""
    engine = _one_queue(explain=True, overflow=(OverflowRule(after=30, widen_to_level=2),))
    engine.call_arrived(CallSpec(call_id="c1", queue_id="q", tier_id="t"), 0)
    engine.call_abandoned("c1", 5)
    engine.call_arrived(CallSpec(call_id="c1", queue_id="q", tier_id="t"), 10)
    assert not [a for a in engine.tick(30) if isinstance(a, Widened)]  # the old call's stage
    (widened,) = [a for a in engine.tick(40) if isinstance(a, Widened)]
    assert widened.call_id == "c1" and widened.explanation.now == 40


def test_failed_offer_after_max_wait_overflow_is_placed_once() -> None:
    """R-ROUTE-5: max wait passed while ringing; when the offer then fails the call
    overflows and is placed exactly once (never offered to two agents)."""
    engine = RoutingEngine(EngineConfig(rona_to_not_ready=True))
    engine.add_tier(TierSpec(tier_id="t", sl_seconds=20, sl_target=0.8))
    engine.add_queue(QueueSpec(queue_id="a", skill="sa", max_wait=10, max_wait_action="overflow:b"))
    engine.add_queue(QueueSpec(queue_id="b", skill="sb"))  # its own max wait action: callback
    for agent_id, skill in (("x", "sa"), ("y", "sb"), ("z", "sb")):
        engine.add_agent(AgentSpec(agent_id=agent_id, skills={skill: 1}))
        engine.agent_login(agent_id, 0)
        engine.agent_ready(agent_id, 0)
    engine.call_arrived(CallSpec(call_id="c1", queue_id="a", tier_id="t"), 1)
    assert engine.call_agent("c1") == "x"
    actions = engine.offer_failed("c1", "x", 15)
    offers = [a for a in actions if isinstance(a, Offer)]
    assert len(offers) == 1 and offers[0].queue_id == "b"
    assert not [a for a in actions if isinstance(a, Queued)]
    assert sorted(engine.idle_agents()) == [a for a in ("y", "z") if a != offers[0].agent_id]


def test_fast_action_constructors_build_ordinary_frozen_actions() -> None:
    from cti_server.routing.actions import Explanation

    e = Explanation(rule="r", now=1.0)
    offer = new_offer("c", "a", "q", e, True)
    assert offer == Offer(call_id="c", agent_id="a", queue_id="q", explanation=e, callback=True)
    assert hash(offer) == hash(
        Offer(call_id="c", agent_id="a", queue_id="q", explanation=e, callback=True)
    )
    assert new_queued("c", "q", 3, e) == Queued(
        call_id="c", queue_id="q", position=3, explanation=e
    )
    state = new_state_changed("a", "ready", None)
    assert state == AgentStateChanged(agent_id="a", state="ready")
    with pytest.raises(dataclasses.FrozenInstanceError):
        offer.call_id = "x"  # type: ignore[misc]
