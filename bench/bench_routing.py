"""Routing-decision latency at contact-centre scale (R-ROUTE-4, routing p99 goal < 1 ms).

Builds 5,000 agents, 50 skills, 4 tiers and 8 agent groups, then drives a
discrete-event simulation of realistic traffic through the engine: arrivals,
ring/answer (with occasional ring-no-answer), talk, after-call work (explicit
"ACW done" or the queue's timeout), breaks, abandonment, overflow timers.
Offered load alternates between ~85 % and ~115 % of capacity so both decision
directions occur often: call arrival with idle agents, and agent idle with
calls waiting. Every engine call is timed with ``perf_counter_ns``.

Run from the repository root::

    .venv/bin/python -m bench.bench_routing            # ~25 s
    .venv/bin/python -m bench.bench_routing --minutes 5 --no-write
"""

from __future__ import annotations

import argparse
import functools
import gc
import heapq
import itertools
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._report import write_section
from cti_server.routing import (
    Action,
    AgentGroupSpec,
    AgentSpec,
    CallbackRequested,
    CallSpec,
    EngineConfig,
    Offer,
    OverflowRule,
    QueueSpec,
    RoutingEngine,
    TierSpec,
)

TIERS = (
    # tier, sl seconds, target, weight, share of calls
    ("platinum", 10.0, 0.90, 4.0, 0.05),
    ("gold", 15.0, 0.85, 2.0, 0.15),
    ("silver", 20.0, 0.80, 1.5, 0.30),
    ("standard", 30.0, 0.70, 1.0, 0.50),
)
GROUPS = {
    "elite-a": {"platinum", "gold", "silver", "standard"},
    "elite-b": {"platinum", "gold", "silver", "standard"},
    "senior-a": {"gold", "silver", "standard"},
    "senior-b": {"gold", "silver", "standard"},
    "senior-c": {"gold", "silver", "standard"},
    "general-a": {"silver", "standard"},
    "general-b": {"silver", "standard"},
    "general-c": {"silver", "standard"},
}
TALK_MEAN = 180.0
ACW_MEAN = 15.0
ACW_TIMEOUT = 60.0
PATIENCE_MEAN = 150.0
RONA_P = 0.01
BREAK_P = 0.02
PHASE = 300.0

type Sample = tuple[int, int, bool]  # wall ns, thread CPU ns, GC pass inside
LOW_LOAD = 0.9
HIGH_LOAD = 1.3


def build(
    agents: int, skills: int, selection: str, rng: random.Random
) -> tuple[RoutingEngine, list[str], list[float]]:
    engine = RoutingEngine(EngineConfig(call_selection=selection))
    for tier, sl, target, weight, _ in TIERS:
        engine.add_tier(
            TierSpec(tier_id=tier, sl_seconds=sl, sl_target=target, priority_weight=weight)
        )
    for group, tiers in GROUPS.items():
        engine.add_agent_group(AgentGroupSpec(group_id=group, tiers=frozenset(tiers)))
    for s in range(skills):
        overflow = [OverflowRule(after=20.0, widen_to_level=3)]
        if s % 5 == 0:
            overflow.append(OverflowRule(after=45.0, add_queues=(f"q{(s + 1) % skills}",)))
        if s % 7 == 0:
            overflow.append(OverflowRule(after=60.0, add_groups=frozenset({"general-a"})))
        engine.add_queue(
            QueueSpec(
                queue_id=f"q{s}",
                skill=f"s{s}",
                max_level=2,
                overflow=tuple(overflow),
                max_wait=240.0,
                max_wait_action="callback",
                acw_seconds=ACW_TIMEOUT,
            )
        )
    names = list(GROUPS)
    ids = []
    skill_capacity = [0.0] * skills
    for a in range(agents):
        count = rng.choice((1, 2, 2, 3, 3, 4))
        chosen = rng.sample(range(skills), count)
        levels = {
            f"s{s}": (1 if i == 0 else rng.choice((1, 2, 2, 3))) for i, s in enumerate(chosen)
        }
        for s in chosen:
            skill_capacity[s] += 1.0 / count
        elite = a % 10 == 0
        groups = {rng.choice(names[:2] if elite else names[2:])}
        groups |= set(rng.sample(names[2:], rng.choice((0, 1, 2))))
        agent_id = f"a{a}"
        engine.add_agent(
            AgentSpec(agent_id=agent_id, skills=levels, groups=frozenset(groups), order_key=a)
        )
        ids.append(agent_id)
    total = sum(skill_capacity)
    return engine, ids, [c / total for c in skill_capacity]


class Bench:
    def __init__(self, engine: RoutingEngine, rng: random.Random) -> None:
        self.engine = engine
        self.rng = rng
        self.samples: dict[str, list[Sample]] = {
            "arrival_offer": [],
            "arrival_queued": [],
            "idle_offer": [],
            "idle_no_call": [],
            "timer": [],
            "other": [],
        }
        self.events: list[tuple[float, int, str, str, int]] = []
        self.seq = itertools.count()
        self.acw_gen: dict[str, int] = {}
        self.callbacks: set[str] = set()
        self.offers = 0
        self.freeze = True
        self.gc_runs = 0
        self.gc_hit = 0
        gc.callbacks.append(self._on_gc)

    def at(self, t: float, kind: str, obj: str, gen: int = 0) -> None:
        heapq.heappush(self.events, (t, next(self.seq), kind, obj, gen))

    def timed(self, fn: Callable[[], list[Action]]) -> tuple[list[Action], Sample]:
        """Run one engine call: (wall ns, thread CPU ns, did a cyclic-GC pass run inside)."""
        collections = self.gc_runs
        cpu = time.thread_time_ns()
        start = time.perf_counter_ns()
        actions = fn()
        wall = time.perf_counter_ns() - start
        cpu = time.thread_time_ns() - cpu
        hit = self.gc_runs != collections
        self.gc_hit += hit
        return actions, (wall, cpu, hit)

    def _on_gc(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self.gc_runs += 1

    def handle(self, actions: list[Action], now: float) -> bool:
        offered = False
        rng = self.rng
        for action in actions:
            if isinstance(action, Offer):
                offered = True
                self.offers += 1
                if rng.random() < RONA_P:
                    self.at(now + 15.0, "rona", action.call_id)
                else:
                    self.at(now + rng.uniform(2.0, 5.0), "answer", action.call_id)
            elif isinstance(action, CallbackRequested):
                self.callbacks.add(action.call_id)
        return offered

    def run(self, seconds: float, ids: list[str], weights: list[float], capacity: float) -> float:
        engine = self.engine
        for agent_id in ids:
            engine.agent_login(agent_id, 0.0)
            engine.agent_ready(agent_id, 0.0)
        self.tiers = [t[0] for t in TIERS]
        self.tier_weights = [t[4] for t in TIERS]
        self.queues = [f"q{s}" for s in range(len(weights))]
        self.weights = weights
        self.capacity = capacity
        self.horizon = seconds
        self.call_no = 0
        self.next_arrival(0.0)
        gc.collect()
        if self.freeze:
            gc.freeze()  # what a long-running server does after loading its configuration
        wall = time.perf_counter()
        events = self.events
        while events:
            nxt = events[0][0]
            deadline = engine.next_deadline()
            if deadline is not None and deadline <= nxt:
                actions, ns = self.timed(functools.partial(engine.tick, deadline))
                self.samples["timer"].append(ns)
                self.handle(actions, deadline)
                continue
            now, _, kind, obj, gen = heapq.heappop(events)
            self.dispatch(now, kind, obj, gen)
        return time.perf_counter() - wall

    def next_arrival(self, now: float) -> None:
        """Schedule the next arrival; the load alternates every PHASE seconds."""
        rate = self.capacity * (LOW_LOAD if int(now // PHASE) % 2 == 0 else HIGH_LOAD)
        t = now + self.rng.expovariate(rate)
        if t < self.horizon:
            self.call_no += 1
            self.at(t, "arrive", f"c{self.call_no}")

    def dispatch(self, now: float, kind: str, obj: str, gen: int) -> None:
        engine, rng, samples = self.engine, self.rng, self.samples
        if kind == "arrive":
            self.next_arrival(now)
            spec = CallSpec(
                call_id=obj,
                queue_id=rng.choices(self.queues, self.weights)[0],
                tier_id=rng.choices(self.tiers, self.tier_weights)[0],
            )
            actions, ns = self.timed(lambda: engine.call_arrived(spec, now))
            offered = self.handle(actions, now)
            samples["arrival_offer" if offered else "arrival_queued"].append(ns)
            if not offered:
                self.at(now + rng.expovariate(1 / PATIENCE_MEAN), "patience", obj)
            return
        if kind == "patience":
            if obj in self.callbacks:
                return
            try:
                if engine.call_state(obj) != "waiting":
                    return
            except Exception:  # already finished
                return
            actions, ns = self.timed(lambda: engine.call_abandoned(obj, now))
            self.handle(actions, now)
            samples["other"].append(ns)
            return
        if kind in ("answer", "rona"):
            owner = engine.call_agent(obj)
            assert owner is not None
            agent_id: str = owner
            if kind == "answer":
                actions, ns = self.timed(lambda: engine.offer_accepted(obj, agent_id, now))
                self.at(now + rng.expovariate(1 / TALK_MEAN), "end", obj)
                samples["other"].append(ns)
            else:
                actions, ns = self.timed(lambda: engine.offer_failed(obj, agent_id, now))
                samples["other"].append(ns)
                self.at(now + 30.0, "ready", agent_id)
            self.handle(actions, now)
            return
        if kind == "end":
            ender = engine.call_agent(obj)
            assert ender is not None
            actions, ns = self.timed(lambda: engine.call_ended(obj, now))
            samples["other"].append(ns)
            self.handle(actions, now)
            self.callbacks.discard(obj)
            g = self.acw_gen[ender] = self.acw_gen.get(ender, 0) + 1
            if rng.random() < BREAK_P:
                self.at(now + 1.0, "break", ender, g)
            else:
                self.at(now + rng.expovariate(1 / ACW_MEAN), "acw_done", ender, g)
            return
        if kind == "acw_done":
            if self.acw_gen.get(obj) != gen or engine.agent_state(obj) != "acw":
                return
            actions, ns = self.timed(lambda: engine.acw_done(obj, now))
            offered = self.handle(actions, now)
            samples["idle_offer" if offered else "idle_no_call"].append(ns)
            return
        if kind == "break":
            if self.acw_gen.get(obj) != gen or engine.agent_state(obj) != "acw":
                return
            actions, ns = self.timed(lambda: engine.agent_not_ready(obj, "break", now))
            samples["other"].append(ns)
            self.at(now + rng.uniform(120.0, 600.0), "ready", obj)
            return
        if kind == "ready":
            if engine.agent_state(obj) != "not_ready":
                return
            actions, ns = self.timed(lambda: engine.agent_ready(obj, now))
            offered = self.handle(actions, now)
            samples["idle_offer" if offered else "idle_no_call"].append(ns)
            return
        raise AssertionError(kind)


def pct(values: list[Sample], q: float) -> float:
    ordered = sorted(v[0] for v in values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] / 1000.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=5000)
    parser.add_argument("--skills", type=int, default=50)
    parser.add_argument("--minutes", type=float, default=40.0, help="simulated minutes")
    parser.add_argument(
        "--selection", default="sl_gap", choices=("sl_gap", "fifo", "static_priority")
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--no-gc-freeze", action="store_true", help="leave set-up objects in the GC's young sets"
    )
    parser.add_argument("--no-write", action="store_true", help="do not update docs/benchmarks.md")
    args = parser.parse_args()

    rng = random.Random(args.seed)
    t0 = time.perf_counter()
    engine, ids, weights = build(args.agents, args.skills, args.selection, rng)
    build_s = time.perf_counter() - t0
    capacity = args.agents / (TALK_MEAN + ACW_MEAN + 3.5)  # calls/s the agents can absorb
    bench = Bench(engine, rng)
    bench.freeze = not args.no_gc_freeze
    wall = bench.run(args.minutes * 60.0, ids, weights, capacity)

    labels = {
        "arrival_offer": "call arrival, idle agent found (offer)",
        "arrival_queued": "call arrival, no eligible idle agent (queued)",
        "idle_offer": "agent idle, calls waiting (offer)",
        "idle_no_call": "agent idle, nothing it can take",
        "timer": "tick (ACW timeout, overflow, max wait)",
        "other": "answer / RONA / end / abandon / break",
    }
    rows = [
        "| event | count | p50 µs | p99 µs | max µs | max CPU µs, no GC pass |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    total_ns = 0
    total_n = 0
    for key, label in labels.items():
        values = bench.samples[key]
        total_ns += sum(v[0] for v in values)
        total_n += len(values)
        if values:
            clean = max((v[1] for v in values if not v[2]), default=0)
            rows.append(
                f"| {label} | {len(values):,} | {pct(values, 0.5):.1f} | "
                f"{pct(values, 0.99):.1f} | {max(v[0] for v in values) / 1000:.1f} | "
                f"{clean / 1000:.0f} |"
            )
    sl_rows = ["| tier | SL target | achieved (last 30 min window) |", "|---|---:|---:|"]
    end = args.minutes * 60.0
    for tier, sl, target, _, _ in TIERS:
        achieved = engine.tier_service_level(tier, end)
        shown = "—" if achieved is None else f"{achieved:.1%}"
        sl_rows.append(f"| {tier} ({sl:.0f} s) | {target:.0%} | {shown} |")
    body = "\n".join(
        [
            f"{args.agents:,} agents, {args.skills} skills/queues, {len(TIERS)} tiers, "
            f"{len(GROUPS)} agent groups; call selection `{args.selection}`, agent order "
            f"`longest_idle`; {args.minutes:g} simulated minutes, offered load alternating "
            f"{LOW_LOAD:.0%} / {HIGH_LOAD:.0%} of capacity every {PHASE / 60:g} min "
            f"(seed {args.seed}).",
            "",
            *rows,
            "",
            f"Engine calls: {total_n:,} in {total_ns / 1e9:.2f} s of engine time = "
            f"**{total_n / (total_ns / 1e9):,.0f} events/s** "
            f"({total_n / wall:,.0f} events/s including the simulator, {wall:.1f} s wall); "
            f"{bench.offers:,} offers; set-up of {args.agents:,} agents {build_s:.2f} s.",
            "",
            "p50/p99/max are wall-clock times of each engine call, including everything: "
            f"{bench.gc_hit:,} calls contained a pass of Python's cyclic GC, and this 2-core "
            "machine is shared, so wall-clock maxima include preemption. The last column is "
            "the largest thread CPU time of a call without a GC pass — the engine's own "
            "worst case (CPU clock granularity applies).",
            "",
            "Service level per tier at the end of the run (a sanity check, not a target: half "
            f"the run is at {HIGH_LOAD:.0%} load, so every tier misses):",
            "",
            *sl_rows,
        ]
    )
    print(body)
    if not args.no_write:
        path = write_section(
            "routing",
            "Routing decisions at 5,000 agents",
            body,
            command=" ".join(["python -m bench.bench_routing", *sys.argv[1:]]),
        )
        print(f"\nwritten to {path}")


if __name__ == "__main__":
    main()
