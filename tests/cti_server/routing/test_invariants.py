"""Randomized consistency: random event sequences never break the routing invariants.

Invariants checked after every engine call (R-SKILL-2/3, R-ROUTE-1..3):

1. an agent never has two calls (offered or connected);
2. a call is never offered while already offered or connected;
3. an offer never skips a waiting call of the same queue and tier that the agent could
   take and that is ahead of it (higher priority, or same priority and earlier arrival);
4. after each event no idle agent is eligible for any waiting call.

Times are chosen so that timers of different kinds never fall on the same instant
(arrivals and operations on whole seconds, each timer kind on its own fraction), so
each check sees one decision instant at a time.
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

TIERS = ("open", "gold", "std")
QUEUES = ("q1", "q2", "q3")
SKILL = {"q1": "s1", "q2": "s2", "q3": "s3"}
# weighted by repetition: mostly traffic, some agent state churn
OPS = (
    *("arrive",) * 5,
    *("accept",) * 4,
    *("end",) * 4,
    *("ready",) * 2,
    "fail",
    "abandon",
    "not_ready",
    "logout",
    "acw_done",
)


def _build(selection: str, order: str, rona: bool) -> RoutingEngine:
    engine = RoutingEngine(
        EngineConfig(
            call_selection=selection, agent_order=order, rona_to_not_ready=rona, sl_window=300
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
    engine.add_queue(QueueSpec(queue_id="q3", skill="s3", max_wait=40, acw_seconds=7.45))
    return engine


agent_specs = st.lists(
    st.tuples(
        st.dictionaries(st.sampled_from(("s1", "s2", "s3")), st.integers(1, 3), min_size=1),
        st.frozensets(st.sampled_from(("g1", "g2"))),
    ),
    min_size=1,
    max_size=6,
)
operations = st.lists(
    st.tuples(
        st.sampled_from(OPS),
        st.integers(0, 50),  # picks an agent / call / queue / tier
        st.integers(0, 50),
        st.integers(1, 12),  # seconds since the previous operation
    ),
    min_size=30,
    max_size=80,
)


@dataclass
class Model:
    engine: RoutingEngine
    agents: list[str]
    arrival: dict[str, int] = field(default_factory=dict)
    specs: dict[str, CallSpec] = field(default_factory=dict)
    agent_call: dict[str, str] = field(default_factory=dict)
    offered: set[str] = field(default_factory=set)
    connected: set[str] = field(default_factory=set)

    def key(self, call_id: str) -> tuple[int, int]:
        return (-self.specs[call_id].priority, self.arrival[call_id])

    def apply(self, actions: Sequence[Action]) -> None:
        for action in actions:
            if isinstance(action, Offer):
                self.check_offer(action)
            elif isinstance(action, LeftQueue):
                self.arrival.pop(action.call_id)
        self.check_no_idle_agent_for_waiting_call()

    def check_offer(self, offer: Offer) -> None:
        engine, call_id, agent_id = self.engine, offer.call_id, offer.agent_id
        assert agent_id not in self.agent_call, f"{agent_id} already has {self.agent_call}"
        assert call_id not in self.offered and call_id not in self.connected
        assert engine.eligible(agent_id, call_id)
        queue, tier = engine.call_queue(call_id), self.specs[call_id].tier_id
        for other in engine.waiting_calls():
            if engine.call_queue(other) == queue and self.specs[other].tier_id == tier:
                assert not (
                    engine.eligible(agent_id, other) and self.key(other) < self.key(call_id)
                ), f"{call_id} offered to {agent_id} ahead of {other}"
        self.agent_call[agent_id] = call_id
        self.offered.add(call_id)

    def check_no_idle_agent_for_waiting_call(self) -> None:
        waiting = list(self.engine.waiting_calls())
        for agent_id in self.engine.idle_agents():
            for call_id in waiting:
                assert not self.engine.eligible(agent_id, call_id), (agent_id, call_id)

    def release(self, call_id: str) -> None:
        self.offered.discard(call_id)
        self.connected.discard(call_id)
        self.agent_call = {a: c for a, c in self.agent_call.items() if c != call_id}


AGENT_OPS = ("ready", "not_ready", "logout", "acw_done")


def _agent_op(engine: RoutingEngine, op: str, agent_id: str, now: float) -> list[Action]:
    if op == "ready":
        return engine.agent_ready(agent_id, now)
    if op == "not_ready":
        return engine.agent_not_ready(agent_id, "break", now)
    if op == "logout":
        return engine.agent_logout(agent_id, now)
    return engine.acw_done(agent_id, now)


def _pick(items: Sequence[str], index: int) -> str | None:
    return sorted(items)[index % len(items)] if items else None


@settings(
    max_examples=120,
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
def test_random_event_sequences_keep_the_invariants(
    selection: str,
    order: str,
    rona: bool,
    agents: list[tuple[dict[str, int], frozenset[str]]],
    ops: list[tuple[str, int, int, int]],
) -> None:
    engine = _build(selection, order, rona)
    ids = []
    for i, (skills, groups) in enumerate(agents):
        agent_id = f"a{i}"
        engine.add_agent(AgentSpec(agent_id=agent_id, skills=skills, groups=groups, order_key=-i))
        ids.append(agent_id)
    model = Model(engine, ids)
    for agent_id in ids:
        engine.agent_login(agent_id, 0.0)
        model.apply(engine.agent_ready(agent_id, 0.0))
    now = 0.0
    counter = 0
    for op, x, y, dt in ops:
        now += dt
        while (deadline := engine.next_deadline()) is not None and deadline <= now:
            model.apply(engine.tick(deadline))
        agent_id = ids[x % len(ids)]
        state_before = engine.agent_state(agent_id)
        if op in AGENT_OPS:
            if state_before == "logged_out" and op == "ready":
                model.apply(engine.agent_login(agent_id, now))
            try:
                model.apply(_agent_op(engine, op, agent_id, now))
            except InvalidTransition:
                assert engine.agent_state(agent_id) in (state_before, "not_ready")
            continue
        if op == "arrive":
            counter += 1
            call = CallSpec(
                call_id=f"c{counter}",
                queue_id=QUEUES[x % 3],
                tier_id=TIERS[y % 3],
                priority=1 if y % 7 == 0 else 0,
            )
            model.specs[call.call_id] = call
            model.arrival[call.call_id] = counter
            model.apply(engine.call_arrived(call, now))
        elif op in ("accept", "fail"):
            call_id = _pick(sorted(model.offered), x)
            if call_id is None:
                continue
            owner = engine.call_agent(call_id)
            assert owner is not None and model.agent_call[owner] == call_id
            if op == "accept":
                model.apply(engine.offer_accepted(call_id, owner, now))
                model.offered.discard(call_id)
                model.connected.add(call_id)
            else:
                model.release(call_id)
                model.apply(engine.offer_failed(call_id, owner, now))
        elif op == "abandon":
            call_id = _pick([*engine.waiting_calls(), *model.offered], x)
            if call_id is None:
                continue
            model.release(call_id)
            model.arrival.pop(call_id)
            model.apply(engine.call_abandoned(call_id, now))
        elif op == "end":
            call_id = _pick(sorted(model.connected), x)
            if call_id is None:
                continue
            model.release(call_id)
            model.arrival.pop(call_id)
            model.apply(engine.call_ended(call_id, now))
    # every call the model still tracks is known to the engine in the matching state
    for call_id in model.offered:
        assert engine.call_state(call_id) == "offered"
    for call_id in model.connected:
        assert engine.call_state(call_id) == "connected"
    assert set(engine.waiting_calls()) <= set(model.arrival)
