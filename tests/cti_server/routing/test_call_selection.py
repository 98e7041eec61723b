"""Agent becomes idle while calls wait: which call (R-ROUTE-2, R-ROUTE-3, R-TIER-3)."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from cti_server.routing import (
    Action,
    AgentSpec,
    CallSpec,
    EngineConfig,
    Offer,
    QueueSpec,
    RoutingEngine,
    TierSpec,
)

SL = 20.0


class Site:
    """A small site: tiers A/B/C (target 80 % in 20 s), queues sales/billing and a
    history queue whose own agent produces met or missed outcomes on demand."""

    def __init__(self, selection: str = "sl_gap", **config: float) -> None:
        self.engine = RoutingEngine(EngineConfig(call_selection=selection, **config))  # type: ignore[arg-type]
        self.now = 0.0
        self.seq = 0
        for tier, weight in (("A", 1.0), ("B", 3.0), ("C", 1.0), ("D", 1.0)):
            self.engine.add_tier(
                TierSpec(tier_id=tier, sl_seconds=SL, sl_target=0.8, priority_weight=weight)
            )
        for queue in ("sales", "billing", "hist"):
            self.engine.add_queue(QueueSpec(queue_id=queue, skill=queue))
        self.engine.add_agent(AgentSpec(agent_id="historian", skills={"hist": 1}))
        self.engine.agent_login("historian", 0)
        self.engine.agent_ready("historian", 0)

    def outcome(self, tier: str, *, met: bool) -> None:
        self.seq += 1
        call_id = f"h{self.seq}"
        self.engine.call_arrived(CallSpec(call_id=call_id, queue_id="hist", tier_id=tier), self.now)
        self.now += 1 if met else SL + 5
        self.engine.offer_accepted(call_id, "historian", self.now)
        self.engine.call_ended(call_id, self.now)

    def arrive(self, call_id: str, tier: str, queue: str = "sales", priority: int = 0) -> None:
        spec = CallSpec(call_id=call_id, queue_id=queue, tier_id=tier, priority=priority)
        self.engine.call_arrived(spec, self.now)
        self.now += 1

    def agent(self, agent_id: str, skills: dict[str, int]) -> None:
        self.engine.add_agent(AgentSpec(agent_id=agent_id, skills=skills))
        self.engine.agent_login(agent_id, self.now)

    def ready(self, agent_id: str) -> Offer:
        return _offer(self.engine.agent_ready(agent_id, self.now))


def _offer(actions: Sequence[Action]) -> Offer:
    offers = [a for a in actions if isinstance(a, Offer)]
    assert len(offers) == 1, actions
    return offers[0]


def _three_way(selection: str) -> Offer:
    """Oldest call in neutral tier A, a call in heavy tier B (surplus), a call in tier C
    (deficit). fifo, static_priority and sl_gap each pick a different one."""
    site = Site(selection)
    site.outcome("B", met=True)
    site.outcome("C", met=False)
    site.agent("x", {"sales": 1})
    site.arrive("a_oldest", "A")
    site.arrive("b_heavy", "B")
    site.arrive("c_deficit", "C")
    return site.ready("x")


def test_sl_gap_serves_the_tier_with_the_largest_deficit() -> None:
    """R-ROUTE-2: on agent idle, the head of the tier with the largest SL deficit goes first."""
    offer = _three_way("sl_gap")
    assert offer.call_id == "c_deficit"
    explanation = offer.explanation
    assert explanation.rule == "agent_idle:sl_gap"
    figures = {c.tier_id: c for c in explanation.call_candidates}
    assert figures["C"].sl_achieved == 0.0
    assert figures["C"].gap == pytest.approx(0.8)
    assert figures["A"].sl_achieved is None  # no outcome yet: neutral, gap 0
    assert figures["A"].gap == 0.0
    assert figures["B"].sl_achieved == 1.0
    assert figures["B"].gap == pytest.approx(-0.2)
    assert figures["B"].score == pytest.approx(-0.2 / 3)  # surplus divided by the weight
    assert explanation.call_candidates[0].call_id == "c_deficit"  # chosen first, then the rest


def test_fifo_serves_the_oldest_call() -> None:
    offer = _three_way("fifo")
    assert offer.call_id == "a_oldest"
    assert offer.explanation.rule == "agent_idle:fifo"


def test_static_priority_serves_the_heaviest_tier() -> None:
    offer = _three_way("static_priority")
    assert offer.call_id == "b_heavy"
    assert offer.explanation.rule == "agent_idle:static_priority"


def test_sl_gap_compares_queues_the_agent_serves_at_any_level() -> None:
    """R-ROUTE-3: the deficit call in the agent's second skill beats an older call in
    its first skill."""
    site = Site()
    site.outcome("C", met=False)
    site.agent("x", {"sales": 1, "billing": 2})
    site.arrive("sales_neutral", "A", queue="sales")
    site.arrive("billing_deficit", "C", queue="billing")
    offer = site.ready("x")
    assert offer.call_id == "billing_deficit"
    assert {c.queue_id for c in offer.explanation.call_candidates} == {"sales", "billing"}


def test_equal_gaps_go_to_the_longest_wait() -> None:
    site = Site()
    site.agent("x", {"sales": 1, "billing": 1})
    site.arrive("first", "A", queue="billing")
    site.arrive("second", "D", queue="sales")
    assert site.ready("x").call_id == "first"


def test_weight_scales_a_deficit() -> None:
    """R-TIER-3 'how strongly it is prioritised': same deficit, heavier tier first."""
    site = Site()
    site.outcome("A", met=False)
    site.outcome("B", met=False)
    site.agent("x", {"sales": 1})
    site.arrive("light", "A")
    site.arrive("heavy", "B")
    offer = site.ready("x")
    assert offer.call_id == "heavy"
    scores = {c.tier_id: c.score for c in offer.explanation.call_candidates}
    assert scores == {"A": pytest.approx(0.8), "B": pytest.approx(2.4)}


def test_weight_does_not_let_a_surplus_tier_beat_a_deficit() -> None:
    site = Site()
    for _ in range(4):
        site.outcome("A", met=True)
    site.outcome("A", met=False)
    site.outcome("A", met=False)  # A: 4/6 = 66.7 %, a small deficit
    site.outcome("B", met=True)  # heavy tier B at 100 %: surplus
    site.agent("x", {"sales": 1})
    site.arrive("heavy_surplus", "B")
    site.arrive("light_deficit", "A")
    assert site.ready("x").call_id == "light_deficit"


def test_call_priority_dominates_within_a_tier() -> None:
    """A flow-raised priority is served before older calls of the same tier and queue."""
    site = Site()
    site.agent("x", {"sales": 1})
    site.arrive("old", "A")
    site.arrive("urgent", "A", priority=5)
    assert site.ready("x").call_id == "urgent"


def test_call_priority_dominates_across_queues_of_the_same_tier() -> None:
    site = Site()
    site.agent("x", {"sales": 1, "billing": 1})
    site.arrive("old", "A", queue="sales")
    site.arrive("urgent", "A", queue="billing", priority=1)
    assert site.ready("x").call_id == "urgent"


def _overdue_scenario(ready_at: float) -> Offer:
    site = Site()
    site.outcome("D", met=True)  # D: 1/1 = 100 %, surplus -0.2
    site.agent("x", {"sales": 1})
    start = site.now
    site.arrive("d_older", "D")
    site.now = start + 15
    site.arrive("a_newer", "A")  # A: no outcome, gap 0
    site.now = start + ready_at
    return site.ready("x")


def test_a_call_past_its_sl_counts_as_a_miss_already() -> None:
    """Projected SL: a waiting call past n seconds is a certain miss and raises its tier's
    deficit at once, so a tier's late callers are not starved by its good history."""
    early = _overdue_scenario(16)
    assert early.call_id == "a_newer"  # gap 0 beats the surplus tier although D waited longer
    late = _overdue_scenario(SL + 1)  # d_older is past 20 s, a_newer is not
    figures = {c.tier_id: c for c in late.explanation.call_candidates}
    assert figures["D"].sl_achieved == 1.0
    assert figures["D"].sl_projected == pytest.approx(0.5)
    assert figures["D"].gap == pytest.approx(0.3)
    assert figures["A"].gap == 0.0
    assert late.call_id == "d_older"


def test_abandoned_calls_count_as_misses() -> None:
    site = Site()
    site.outcome("A", met=True)
    site.arrive("gone", "A")
    site.engine.call_abandoned("gone", site.now + 3)
    assert site.engine.tier_service_level("A", site.now + 3) == 0.5


def test_short_abandons_are_not_counted() -> None:
    site = Site(short_abandon_seconds=5.0)
    site.outcome("A", met=True)
    site.arrive("quick", "A")
    site.engine.call_abandoned("quick", site.now + 1)
    assert site.engine.tier_service_level("A", site.now + 1) == 1.0


def test_service_level_window_slides() -> None:
    site = Site(sl_window=100.0)
    site.outcome("A", met=False)
    site.now = 50.0
    site.outcome("A", met=True)
    assert site.engine.tier_service_level("A", 60) == 0.5
    assert site.engine.tier_service_level("A", 130) == 1.0  # the miss left the window
    assert site.engine.tier_service_level("A", 200) is None
