"""Randomized: configuration changes mixed into random traffic keep the routing invariants
(issue 8, live administration).

Between arrivals, answers, ring-no-answers, abandons and agent state changes, queues get
new definitions (level limits, overflow rules, max wait and its action, skill) and agent
groups new tiers. After every engine call:

1. no idle agent is eligible for a waiting call (a change that makes an agent eligible
   offers the call at once);
2. an offer goes to an eligible, free agent, never skipping an older eligible call of the
   same queue and tier;
3. waiting calls of a queue are in arrival order (positions 1..n by arrival);
4. no call is lost or duplicated: every call is waiting, ringing, talking or reported
   gone (flow took it back, abandoned, ended) exactly once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cti_server.routing import (
    Action,
    AgentGroupSpec,
    AgentSpec,
    CallSpec,
    EngineConfig,
    InvalidTransition,
    LeftQueue,
    Offer,
    OverflowRule,
    QueueSpec,
    RoutingEngine,
    TierSpec,
)

TIERS = ("gold", "std")
QUEUES = ("q1", "q2")


def _variants(queue_id: str, skill: str, other: str) -> list[QueueSpec]:
    return [
        QueueSpec(queue_id=queue_id, skill=skill, max_level=1),
        QueueSpec(queue_id=queue_id, skill=skill, max_level=2, acw_seconds=2.05),
        QueueSpec(
            queue_id=queue_id,
            skill=skill,
            max_level=1,
            overflow=(OverflowRule(after=6.1, widen_to_level=3),),
        ),
        QueueSpec(
            queue_id=queue_id,
            skill=skill,
            overflow=(OverflowRule(after=4.3, add_queues=(other,)),),
        ),
        QueueSpec(
            queue_id=queue_id,
            skill=skill,
            max_level=1,
            overflow=(OverflowRule(after=3.7, add_groups=frozenset({"g2"})),),
            max_wait=9.9,
            max_wait_action=f"overflow:{other}",
        ),
        QueueSpec(queue_id=queue_id, skill=skill, max_level=1, max_wait=7.7),
        QueueSpec(queue_id=queue_id, skill=skill, max_wait=5.3, max_wait_action="flow"),
        QueueSpec(queue_id=queue_id, skill="s3"),  # another skill altogether
    ]


VARIANTS = {"q1": _variants("q1", "s1", "q2"), "q2": _variants("q2", "s2", "q1")}
TIER_SETS: tuple[frozenset[str], ...] = (
    frozenset(),
    frozenset({"gold"}),
    frozenset({"std"}),
    frozenset(TIERS),
)
OPS = (
    *("arrive",) * 5,
    *("accept",) * 3,
    *("end",) * 3,
    *("queue",) * 2,
    *("group",) * 2,
    "ready",
    "fail",
    "abandon",
    "not_ready",
)


@dataclass
class Model:
    engine: RoutingEngine
    arrival: dict[str, int] = field(default_factory=dict)  # calls not yet gone
    specs: dict[str, CallSpec] = field(default_factory=dict)
    offered: dict[str, str] = field(default_factory=dict)  # call -> agent
    connected: set[str] = field(default_factory=set)

    def apply(self, actions: Sequence[Action]) -> None:
        engine = self.engine
        for action in actions:
            if isinstance(action, Offer):
                call_id, agent_id = action.call_id, action.agent_id
                assert call_id in self.arrival and call_id not in self.offered
                assert call_id not in self.connected
                assert agent_id not in self.offered.values()
                assert engine.eligible(agent_id, call_id)
                queue, tier = engine.call_queue(call_id), self.specs[call_id].tier_id
                for other in engine.waiting_calls():
                    if engine.call_queue(other) == queue and self.specs[other].tier_id == tier:
                        older = self.key(other) < self.key(call_id)
                        assert not (older and engine.eligible(agent_id, other)), (call_id, other)
                self.offered[call_id] = agent_id
            elif isinstance(action, LeftQueue):
                del self.arrival[action.call_id]
        self.check()

    def key(self, call_id: str) -> tuple[int, int]:
        return (-self.specs[call_id].priority, self.arrival[call_id])

    def check(self) -> None:
        engine = self.engine
        waiting = set(engine.waiting_calls())
        for agent_id in engine.idle_agents():
            for call_id in waiting:
                assert not engine.eligible(agent_id, call_id), (agent_id, call_id)
        assert waiting | set(self.offered) | self.connected == set(self.arrival)
        for queue in QUEUES:
            mine = sorted(
                (self.arrival[c] for c in waiting if engine.call_queue(c) == queue),
            )
            positions = sorted(
                (engine.position(c), self.arrival[c])
                for c in waiting
                if engine.call_queue(c) == queue
            )
            assert [p for p, _ in positions] == list(range(1, len(mine) + 1))
            assert [a for _, a in positions] == mine

    def gone(self, call_id: str) -> None:
        self.offered.pop(call_id, None)
        self.connected.discard(call_id)
        del self.arrival[call_id]


def _build(selection: str) -> RoutingEngine:
    engine = RoutingEngine(EngineConfig(call_selection=selection, sl_window=300))
    engine.add_tier(TierSpec(tier_id="gold", sl_seconds=10, sl_target=0.9, priority_weight=2))
    engine.add_tier(TierSpec(tier_id="std", sl_seconds=30, sl_target=0.7))
    engine.add_agent_group(AgentGroupSpec(group_id="g1", tiers=frozenset({"gold", "std"})))
    engine.add_agent_group(AgentGroupSpec(group_id="g2", tiers=frozenset({"std"})))
    engine.add_queue(VARIANTS["q1"][0])
    engine.add_queue(VARIANTS["q2"][0])
    return engine


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    selection=st.sampled_from(("sl_gap", "fifo", "static_priority")),
    agents=st.lists(
        st.tuples(
            st.dictionaries(st.sampled_from(("s1", "s2", "s3")), st.integers(1, 3), min_size=1),
            st.frozensets(st.sampled_from(("g1", "g2"))),
        ),
        min_size=1,
        max_size=5,
    ),
    ops=st.lists(
        st.tuples(st.sampled_from(OPS), st.integers(0, 50), st.integers(0, 50), st.integers(1, 6)),
        min_size=20,
        max_size=70,
    ),
)
def test_config_changes_among_random_traffic_keep_the_invariants(
    selection: str,
    agents: list[tuple[dict[str, int], frozenset[str]]],
    ops: list[tuple[str, int, int, int]],
) -> None:
    engine = _build(selection)
    model = Model(engine)
    ids = []
    for i, (skills, groups) in enumerate(agents):
        agent_id = f"a{i}"
        engine.add_agent(AgentSpec(agent_id=agent_id, skills=skills, groups=groups))
        engine.agent_login(agent_id, 0.0)
        model.apply(engine.agent_ready(agent_id, 0.0))
        ids.append(agent_id)
    now, counter = 0.0, 0
    for op, x, y, step in ops:
        now += step
        while (deadline := engine.next_deadline()) is not None and deadline <= now:
            model.apply(engine.tick(deadline))
        agent_id = ids[x % len(ids)]
        if op == "arrive":
            counter += 1
            call = CallSpec(
                call_id=f"c{counter}",
                queue_id=QUEUES[x % 2],
                tier_id=TIERS[y % 2],
                priority=1 if y % 5 == 0 else 0,
            )
            model.specs[call.call_id] = call
            model.arrival[call.call_id] = counter
            model.apply(engine.call_arrived(call, now))
        elif op == "queue":
            queue_id = QUEUES[x % 2]
            model.apply(engine.update_queue(VARIANTS[queue_id][y % 8], now))
        elif op == "group":
            group_id = ("g1", "g2")[x % 2]
            spec = AgentGroupSpec(group_id=group_id, tiers=TIER_SETS[y % 4])
            model.apply(engine.update_agent_group(spec, now))
        elif op in ("accept", "fail"):
            if not model.offered:
                continue
            call_id = sorted(model.offered)[x % len(model.offered)]
            owner = model.offered.pop(call_id)
            if op == "accept":
                model.connected.add(call_id)
                model.apply(engine.offer_accepted(call_id, owner, now))
            else:
                model.apply(engine.offer_failed(call_id, owner, now))
        elif op == "abandon":
            pending = sorted(set(model.arrival) - model.connected)
            if not pending:
                continue
            call_id = pending[x % len(pending)]
            model.gone(call_id)
            model.apply(engine.call_abandoned(call_id, now))
        elif op == "end":
            if not model.connected:
                continue
            call_id = sorted(model.connected)[x % len(model.connected)]
            model.gone(call_id)
            model.apply(engine.call_ended(call_id, now))
        else:
            state = engine.agent_state(agent_id)
            try:
                if op == "ready":
                    if state == "acw":
                        model.apply(engine.acw_done(agent_id, now))
                    else:
                        model.apply(engine.agent_ready(agent_id, now))
                else:
                    model.apply(engine.agent_not_ready(agent_id, "break", now))
            except InvalidTransition:
                assert engine.agent_state(agent_id) == state
    for call_id, agent_id in model.offered.items():
        assert engine.call_state(call_id) == "offered"
        assert engine.call_agent(call_id) == agent_id
    for call_id in model.connected:
        assert engine.call_state(call_id) == "connected"
