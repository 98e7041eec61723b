"""Discrete-event simulation of a contact centre driving the real routing engine.

The calendar is a ``heapq`` of ``(time, seq, kind, payload)`` tuples; ``seq`` breaks
ties so that events at the same instant run in the order they were scheduled.
Every engine event receives the simulation clock as ``now`` and the returned actions
are executed at once:

* ``Offer`` reserves the agent; after the ring delay (default 0) the simulator calls
  ``offer_accepted`` and schedules the end of service; ``call_ended`` puts the agent
  into after-call work, which the engine runs (``tick``) for the queue's ``acw_seconds``.
* A caller whose patience expires while still waiting in queue abandons
  (``call_abandoned``); once offered (the agent's phone rings), or once a callback was
  requested, the caller no longer abandons.
* ``next_deadline()`` is polled after every event; when the engine's next timer is
  due before the next simulation event, a ``tick`` is scheduled at that instant
  (otherwise the next event's own engine call processes the timer at the right time).
* Agents log in (and become ready) at their shift start and log out at its end. An
  agent whose shift ends while ringing or talking finishes the call and its ACW first:
  the simulator asks the engine for ``agent_not_ready(reason="shift-end")``, which the
  engine keeps pending until ACW is over, and logs the agent out when that happens.

Arrivals are Poisson per stream (queue, tier) with piecewise-constant hourly rates:
inter-arrival times are drawn at the current interval's rate and, when one crosses an
interval boundary, the draw restarts at the boundary with the next rate (exact by
memorylessness). Each stream has its own ``random.Random`` for arrivals, service
times and patience, seeded from (seed, replication, stream, purpose), so results are
reproducible and adding a stream does not change the others' draws.

Statistics count calls that *arrive* in ``[warmup, horizon)``; after the horizon no
new calls arrive and the run continues until every counted call was answered or
abandoned. Occupancy is measured over ``[warmup, horizon)``.
"""

from __future__ import annotations

import heapq
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cti_server.routing import (
    AgentGroupSpec,
    AgentSpec,
    CallSpec,
    EngineConfig,
    OverflowRule,
    QueueSpec,
    RoutingEngine,
    TierSpec,
)
from cti_server.routing.actions import (
    Action,
    AgentStateChanged,
    CallbackRequested,
    LeftQueue,
    Offer,
    Overflowed,
    Queued,
)
from cti_server.sim.scenario import STRATEGIES, Scenario, ScenarioError

# Event kinds (small ints compare fast and keep tuples small).
_ARRIVAL = 0
_END = 1
_ANSWER = 2
_ABANDON = 3
_TICK = 4
_SHIFT_START = 5
_SHIFT_END = 6

#: Not-ready reason the simulator uses to end a shift once the agent's call is over.
SHIFT_END_REASON = "shift-end"

# Call states.
_WAITING = 0
_OFFERED = 1
_CALLBACK = 2  # caller accepted a callback: waits off-line, no longer abandons
_DONE = 3  # answered, abandoned or left the queue

EngineFactory = Callable[[Scenario, str], RoutingEngine]


@dataclass(slots=True)
class StreamCounts:
    """Outcome counters of one arrival stream for calls arriving inside the window."""

    offered: int = 0
    answered: int = 0
    abandoned: int = 0
    left: int = 0  # left the queue by the max-wait "flow" action
    answered_in_sl: int = 0
    waited: int = 0  # wait > 0 (answered after queueing, or abandoned/left)
    wait_answered: float = 0.0  # sum of waits of answered calls
    callbacks: int = 0
    overflowed: int = 0
    unresolved: int = 0  # still waiting when the simulation ran out of events


@dataclass(slots=True)
class ReplicationResult:
    """Raw counters of one replication."""

    replication: int
    streams: list[StreamCounts]
    pool_busy: list[float]  # agent-seconds reserved/talking/ACW inside the window
    pool_logged: list[float]  # agent-seconds logged in inside the window
    calls_simulated: int  # every arrival, warm-up and drain included
    events: int
    end_time: float


class _Call:
    __slots__ = ("agent", "arrival", "call_id", "measured", "queue", "service", "state", "stream")

    def __init__(
        self, call_id: str, stream: int, arrival: float, service: float, measured: bool
    ) -> None:
        self.call_id = call_id
        self.stream = stream
        self.arrival = arrival
        self.service = service
        self.measured = measured
        self.state = _WAITING
        self.agent: _Agent | None = None
        self.queue = ""  # queue the call was offered from (its ACW applies)


class _Agent:
    __slots__ = (
        "agent_id",
        "busy_since",
        "call",
        "leaving",
        "logged_in_at",
        "pool",
        "shift_end",
        "working",
    )

    def __init__(self, agent_id: str, pool: int, shift_end: float) -> None:
        self.agent_id = agent_id
        self.pool = pool
        self.shift_end = shift_end
        self.logged_in_at = -1.0  # < 0: logged out
        self.busy_since = 0.0
        self.working = False  # reserved, talking or in ACW
        self.leaving = False  # shift ended while working
        self.call: _Call | None = None


def build_engine(scenario: Scenario, strategy: str, *, explain: bool = False) -> RoutingEngine:
    """A routing engine configured from the scenario (tiers, groups, queues, agents).

    ``explain=False`` (the default here) skips building the explanation of each decision,
    which the simulator never reads; the decisions are the same either way."""
    engine = RoutingEngine(
        EngineConfig(
            call_selection=strategy,
            agent_order=scenario.agent_order,
            sl_window=scenario.sl_window,
            explain=explain,
        )
    )
    for t in scenario.tiers:
        engine.add_tier(
            TierSpec(
                tier_id=t.tier_id,
                sl_seconds=t.sl_seconds,
                sl_target=t.sl_target,
                priority_weight=t.priority_weight,
            )
        )
    for g in scenario.agent_groups:
        engine.add_agent_group(AgentGroupSpec(group_id=g.group_id, tiers=g.tiers))
    for q in scenario.queues:
        engine.add_queue(
            QueueSpec(
                queue_id=q.queue_id,
                skill=q.skill,
                max_level=q.max_level,
                overflow=tuple(
                    OverflowRule(
                        after=o.after,
                        widen_to_level=o.widen_to_level,
                        add_groups=o.add_groups,
                        add_queues=o.add_queues,
                    )
                    for o in q.overflow
                ),
                max_wait=q.max_wait,
                max_wait_action=q.max_wait_action,
                acw_seconds=q.acw_seconds,
            )
        )
    for pool in scenario.agents:
        for i in range(1, pool.count + 1):
            engine.add_agent(
                AgentSpec(
                    agent_id=f"{pool.name}-{i}",
                    skills=pool.skills,
                    groups=pool.groups,
                    order_key=pool.order_key,
                )
            )
    return engine


def stream_rng(seed: int, replication: int, stream: int, purpose: str) -> random.Random:
    """An independent, reproducible random stream (string seeds are hashed with SHA-512)."""
    return random.Random(f"opencc-sim:{seed}:{replication}:{stream}:{purpose}")


def _overlap(start: float, end: float, lo: float, hi: float) -> float:
    """Length of [start, end] ∩ [lo, hi]."""
    d = min(end, hi) - max(start, lo)
    return d if d > 0.0 else 0.0


def _arrival_sampler(
    rates: tuple[float, ...], interval: float, horizon: float, rng: random.Random
) -> Callable[[float], float]:
    """Next Poisson arrival after t at piecewise-constant ``rates`` (calls per second, one
    per interval; the last applies to the rest of the horizon); inf if none before the
    horizon. A gap that crosses an interval boundary is redrawn from the boundary at the
    next rate (exact by memorylessness)."""
    uniform = rng.random
    log = math.log
    inf = math.inf
    last = len(rates) - 1
    if last == 0:
        rate = rates[0]
        if rate <= 0.0:
            return lambda t: inf

        def constant(t: float) -> float:
            t_next = t - log(1.0 - uniform()) / rate
            return t_next if t_next < horizon else inf

        return constant

    def piecewise(t: float) -> float:
        while t < horizon:
            k = int(t // interval)
            rate = rates[k if k < last else last]
            boundary = min((k + 1) * interval, horizon)
            if rate > 0.0:
                t_next = t - log(1.0 - uniform()) / rate
                if t_next < boundary:
                    return t_next
            t = boundary
        return inf

    return piecewise


def run_replication(
    scenario: Scenario,
    replication: int,
    *,
    seed: int | None = None,
    strategy: str | None = None,
    engine_factory: EngineFactory | None = None,
    explain: bool = False,
) -> ReplicationResult:
    """Simulate one replication and return its raw counters.

    ``engine_factory(scenario, strategy)`` may supply a customised engine; by default
    :func:`build_engine` with ``explain``. The loop is written for speed (local names,
    tuple events, type dispatch of the actions); see the module docstring for semantics."""
    strat = strategy or scenario.strategy
    if strat not in STRATEGIES:
        raise ScenarioError(scenario.source, "strategy", f"unknown strategy {strat!r}")
    base_seed = scenario.seed if seed is None else seed
    if engine_factory is None:
        engine = build_engine(scenario, strat, explain=explain)
    else:
        engine = engine_factory(scenario, strat)
    horizon = scenario.horizon
    warmup = scenario.warmup
    interval = scenario.interval
    inf = math.inf

    heap: list[tuple[float, int, int, Any]] = []
    push = heapq.heappush
    pop = heapq.heappop
    seq = 0

    streams = scenario.arrivals
    n_streams = len(streams)
    counts = [StreamCounts() for _ in streams]
    sl_limit = {t.tier_id: t.sl_seconds for t in scenario.tiers}
    stream_sl = [sl_limit[s.tier_id] for s in streams]
    stream_q = [s.queue_id for s in streams]
    stream_tier = [s.tier_id for s in streams]
    stream_prio = [s.priority for s in streams]
    stream_bs = [s.business_selection for s in streams]
    next_arrival = [
        _arrival_sampler(
            tuple(r / 3600.0 for r in s.rates_per_hour),
            interval,
            horizon,
            stream_rng(base_seed, replication, i, "arrivals"),
        )
        for i, s in enumerate(streams)
    ]
    service = [
        s.service.sampler(stream_rng(base_seed, replication, i, "service"))
        for i, s in enumerate(streams)
    ]
    patience = [
        None
        if math.isinf(s.patience.mean)
        else s.patience.sampler(stream_rng(base_seed, replication, i, "patience"))
        for i, s in enumerate(streams)
    ]
    ring_dist = scenario.ring_delay
    ring_zero = ring_dist.mean == 0.0
    ring = ring_dist.sampler(stream_rng(base_seed, replication, -1, "ring"))
    acw_of_queue = {q.queue_id: q.acw_seconds for q in scenario.queues}

    for i in range(n_streams):
        t0 = next_arrival[i](0.0)
        if t0 < inf:
            push(heap, (t0, seq, _ARRIVAL, i))
            seq += 1

    agents: dict[str, _Agent] = {}
    pool_busy = [0.0] * len(scenario.agents)
    pool_logged = [0.0] * len(scenario.agents)
    for p_idx, pool in enumerate(scenario.agents):
        for i in range(1, pool.count + 1):
            ag = _Agent(f"{pool.name}-{i}", p_idx, pool.end)
            agents[ag.agent_id] = ag
            push(heap, (pool.start, seq, _SHIFT_START, ag))
            seq += 1
            if pool.end < inf:
                push(heap, (pool.end, seq, _SHIFT_END, ag))
                seq += 1

    calls: dict[str, _Call] = {}
    call_arrived = engine.call_arrived
    offer_accepted = engine.offer_accepted
    call_ended = engine.call_ended
    # SL deadlines produce no action, so only timers that can act need a tick.
    next_deadline = getattr(engine, "next_action_deadline", engine.next_deadline)
    tick_at = inf
    pending_measured = 0  # counted calls not yet answered/abandoned/left
    n_calls = 0
    n_events = 0
    now = 0.0
    arrival_kind, end_kind, answer_kind, abandon_kind = _ARRIVAL, _END, _ANSWER, _ABANDON
    waiting, offered, done = _WAITING, _OFFERED, _DONE
    shift_end_reason = SHIFT_END_REASON

    def finish_shift(ag: _Agent, t: float) -> None:
        ag.leaving = False
        pool_logged[ag.pool] += _overlap(ag.logged_in_at, t, warmup, horizon)
        ag.logged_in_at = -1.0
        engine.agent_logout(ag.agent_id, t)

    def leave_after_call(ag: _Agent, t: float) -> None:
        """The agent is talking: log out once the call and its ACW are over."""
        ag.leaving = True
        engine.agent_not_ready(ag.agent_id, shift_end_reason, t)

    def execute(actions: list[Action], t: float) -> None:
        """Carry out the engine's actions at time t."""
        nonlocal seq, pending_measured
        for act in actions:  # most frequent kinds first
            if isinstance(act, AgentStateChanged):
                if act.reason is not None and act.reason == shift_end_reason:
                    finish_shift(agents[act.agent_id], t)
            elif isinstance(act, Offer):
                call = calls[act.call_id]
                ag = agents[act.agent_id]
                call.state = offered
                call.agent = ag
                call.queue = act.queue_id
                ag.call = call
                ag.working = True
                ag.busy_since = t
                if ring_zero:  # answered at once (inline copy of answer() for speed)
                    if call.measured:
                        wait = t - call.arrival
                        c = counts[call.stream]
                        c.answered += 1
                        c.wait_answered += wait
                        if wait > 0.0:
                            c.waited += 1
                        if wait <= stream_sl[call.stream]:
                            c.answered_in_sl += 1
                        pending_measured -= 1
                    call.state = done
                    push(heap, (t + call.service, seq, end_kind, call))
                    seq += 1
                    execute(offer_accepted(call.call_id, ag.agent_id, t), t)
                    if ag.leaving:
                        leave_after_call(ag, t)
                else:
                    push(heap, (t + ring(), seq, answer_kind, call))
                    seq += 1
            elif isinstance(act, Queued):
                pass
            elif isinstance(act, CallbackRequested):
                call = calls[act.call_id]
                if call.state == waiting:
                    call.state = _CALLBACK
                    if call.measured:
                        counts[call.stream].callbacks += 1
            elif isinstance(act, Overflowed):
                call = calls[act.call_id]
                if call.measured:
                    counts[call.stream].overflowed += 1
            elif isinstance(act, LeftQueue):
                call = calls.pop(act.call_id)
                call.state = done
                if call.measured:
                    c = counts[call.stream]
                    c.left += 1
                    c.waited += 1
                    pending_measured -= 1

    def answer(call: _Call, ag: _Agent, t: float) -> None:
        nonlocal seq, pending_measured
        if call.measured:
            wait = t - call.arrival
            c = counts[call.stream]
            c.answered += 1
            c.wait_answered += wait
            if wait > 0.0:
                c.waited += 1
            if wait <= stream_sl[call.stream]:
                c.answered_in_sl += 1
            pending_measured -= 1
        call.state = done
        push(heap, (t + call.service, seq, end_kind, call))
        seq += 1
        execute(offer_accepted(call.call_id, ag.agent_id, t), t)
        if ag.leaving:  # the shift ended while the phone was ringing
            leave_after_call(ag, t)

    while heap:
        now, _, kind, obj = pop(heap)
        n_events += 1
        if kind == arrival_kind:
            n_calls += 1
            cid = f"c{n_calls}"
            measured = now >= warmup
            call = _Call(cid, obj, now, service[obj](), measured)
            calls[cid] = call
            if measured:
                counts[obj].offered += 1
                pending_measured += 1
            pat = patience[obj]
            if pat is not None:
                push(heap, (now + pat(), seq, abandon_kind, call))
                seq += 1
            t_next = next_arrival[obj](now)
            if t_next < inf:
                push(heap, (t_next, seq, arrival_kind, obj))
                seq += 1
            execute(
                call_arrived(
                    CallSpec(
                        call_id=cid,
                        queue_id=stream_q[obj],
                        tier_id=stream_tier[obj],
                        business_selection=stream_bs[obj],
                        priority=stream_prio[obj],
                    ),
                    now,
                ),
                now,
            )
        elif kind == end_kind:
            call = obj
            ag = call.agent
            del calls[call.call_id]
            acw = acw_of_queue[call.queue]
            busy_end = now + acw
            if busy_end > warmup and ag.busy_since < horizon:
                d = min(busy_end, horizon) - max(ag.busy_since, warmup)
                if d > 0.0:
                    pool_busy[ag.pool] += d
            ag.working = False
            if not ag.leaving and ag.shift_end <= busy_end:
                leave_after_call(ag, now)  # the shift ends during the coming ACW
            execute(call_ended(call.call_id, now), now)
        elif kind == abandon_kind:
            call = obj
            if call.state == waiting:
                call.state = done
                del calls[call.call_id]
                if call.measured:
                    c = counts[call.stream]
                    c.abandoned += 1
                    c.waited += 1
                    pending_measured -= 1
                execute(engine.call_abandoned(call.call_id, now), now)
        elif kind == answer_kind:
            answer(obj, obj.agent, now)
        elif kind == _TICK:
            if now >= tick_at:
                tick_at = inf
            d = next_deadline()
            if d is not None and d <= now:
                execute(engine.tick(now), now)
        elif kind == _SHIFT_START:
            ag = obj
            ag.logged_in_at = now
            engine.agent_login(ag.agent_id, now)
            execute(engine.agent_ready(ag.agent_id, now), now)
        elif kind == _SHIFT_END:
            ag = obj
            if ag.logged_in_at >= 0.0 and not ag.leaving:
                if not ag.working:
                    finish_shift(ag, now)
                elif ag.call is not None and ag.call.state == done:  # talking
                    leave_after_call(ag, now)
                else:  # ringing: handled when the call is answered
                    ag.leaving = True
        d = next_deadline()
        if d is not None and d < tick_at and (not heap or d < heap[0][0]):
            tick_at = d if d > now else now
            push(heap, (tick_at, seq, _TICK, None))
            seq += 1
        if now >= horizon and pending_measured == 0:
            break

    for c_rec in calls.values():
        if c_rec.measured and c_rec.state in (_WAITING, _CALLBACK):
            counts[c_rec.stream].unresolved += 1
    for ag in agents.values():
        if ag.working:
            pool_busy[ag.pool] += _overlap(ag.busy_since, horizon, warmup, horizon)
        if ag.logged_in_at >= 0.0:
            pool_logged[ag.pool] += _overlap(ag.logged_in_at, horizon, warmup, horizon)
    return ReplicationResult(
        replication=replication,
        streams=counts,
        pool_busy=pool_busy,
        pool_logged=pool_logged,
        calls_simulated=n_calls,
        events=n_events,
        end_time=now,
    )


@dataclass(slots=True)
class RunResult:
    """All replications of one run."""

    scenario: Scenario
    strategy: str
    seed: int
    replications: list[ReplicationResult] = field(default_factory=list)
    wall_seconds: float = 0.0

    @property
    def calls_simulated(self) -> int:
        return sum(r.calls_simulated for r in self.replications)


def simulate(
    scenario: Scenario,
    *,
    replications: int | None = None,
    seed: int | None = None,
    strategy: str | None = None,
    engine_factory: EngineFactory | None = None,
    explain: bool = False,
) -> RunResult:
    """Run independent replications (0 .. n-1) and return their raw counters."""
    n = scenario.replications if replications is None else replications
    if n < 1:
        raise ScenarioError(scenario.source, "replications", f"must be >= 1, got {n}")
    strat = strategy or scenario.strategy
    base_seed = scenario.seed if seed is None else seed
    result = RunResult(scenario=scenario, strategy=strat, seed=base_seed)
    t0 = time.perf_counter()
    for r in range(n):
        result.replications.append(
            run_replication(
                scenario,
                r,
                seed=base_seed,
                strategy=strat,
                engine_factory=engine_factory,
                explain=explain,
            )
        )
    result.wall_seconds = time.perf_counter() - t0
    return result
