"""Simulator speed against ciw on the same M/M/c scenario, and full-size validation.

Run from the repository root::

    .venv/bin/python -m bench.bench_sim            # full size (a few minutes)
    .venv/bin/python -m bench.bench_sim --quick    # smaller, for a smoke run

Part 1 simulates the same M/M/20 queue (AHT 180 s, 90 % load, no warm-up) for the
same horizon with ciw and with cti_server.sim (which drives the real routing
engine for every call) and prints calls simulated per second. As a diagnostic it
also runs the simulator's event loop with a minimal FIFO stand-in for the engine,
which shows how much of the time is the loop and how much is the engine.

Part 2 is the full-size validation: M/M/20 vs Erlang C, M/M/20+M vs Erlang A, and
6 call types with 15 specialists each vs 90 cross-trained agents vs the exact
M/M/15 and M/M/90 values, each with 95 % Student-t CIs over replications.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from collections import deque
from typing import cast

import ciw  # type: ignore[import-untyped]

from bench._report import write_section
from cti_server.routing import RoutingEngine
from cti_server.routing.actions import Action, AgentStateChanged, Explanation, Offer, Queued
from cti_server.routing.model import CallSpec
from cti_server.sim import run_replication
from cti_server.sim.report import summarize
from cti_server.sim.simulator import simulate
from cti_server.sim.validation import (
    Check,
    compare_pooling,
    format_checks,
    mmc_scenario,
    pooling_scenario,
    run_mmc,
)

AGENTS = 20
AHT = 180.0
LOAD = 18.0  # erlangs: 90 % occupancy


def run_ciw(horizon: float, seed: int) -> tuple[int, float]:
    """Completed calls and wall seconds for ciw on M/M/20 up to ``horizon``."""
    network = ciw.create_network(
        arrival_distributions=[ciw.dists.Exponential(rate=LOAD / AHT)],
        service_distributions=[ciw.dists.Exponential(rate=1.0 / AHT)],
        number_of_servers=[AGENTS],
    )
    ciw.seed(seed)
    sim = ciw.Simulation(network)
    t0 = time.perf_counter()
    sim.simulate_until_max_time(horizon)
    wall = time.perf_counter() - t0
    return len(sim.get_all_records()), wall


class _FifoStandIn:
    """Diagnostic only: the smallest router the simulator can drive (one FIFO queue,
    longest-idle agents, no explanations, no SL window). Not the product engine."""

    _EXPLANATION = Explanation(rule="diagnostic", now=0.0)

    def __init__(self) -> None:
        self.idle: deque[str] = deque()
        self.waiting: deque[str] = deque()
        self.agent_of: dict[str, str] = {}

    def agent_login(self, agent_id: str, now: float) -> list[Action]:
        return []

    def agent_ready(self, agent_id: str, now: float) -> list[Action]:
        return self._free(agent_id)

    def agent_logout(self, agent_id: str, now: float) -> list[Action]:
        self.idle.remove(agent_id)
        return []

    def agent_not_ready(self, agent_id: str, reason: str, now: float) -> list[Action]:
        return []

    def call_arrived(self, call: CallSpec, now: float) -> list[Action]:
        if self.idle:
            agent = self.idle.popleft()
            self.agent_of[call.call_id] = agent
            return [Offer(call_id=call.call_id, agent_id=agent, queue_id=call.queue_id,
                          explanation=self._EXPLANATION)]  # fmt: skip
        self.waiting.append(call.call_id)
        return [Queued(call_id=call.call_id, queue_id=call.queue_id, position=len(self.waiting),
                       explanation=self._EXPLANATION)]  # fmt: skip

    def offer_accepted(self, call_id: str, agent_id: str, now: float) -> list[Action]:
        return [AgentStateChanged(agent_id=agent_id, state="busy")]

    def call_ended(self, call_id: str, now: float) -> list[Action]:
        return self._free(self.agent_of.pop(call_id))

    def call_abandoned(self, call_id: str, now: float) -> list[Action]:
        self.waiting.remove(call_id)
        return []

    def tick(self, now: float) -> list[Action]:
        return []

    def next_deadline(self) -> float | None:
        return None

    def _free(self, agent_id: str) -> list[Action]:
        if self.waiting:
            call_id = self.waiting.popleft()
            self.agent_of[call_id] = agent_id
            return [Offer(call_id=call_id, agent_id=agent_id, queue_id="q",
                          explanation=self._EXPLANATION)]  # fmt: skip
        self.idle.append(agent_id)
        return []


def speed(calls: int, seed: int) -> tuple[str, dict[str, float]]:
    horizon = calls / (LOAD / AHT)
    sc = mmc_scenario(agents=AGENTS, load=LOAD, aht=AHT, calls_per_replication=calls)
    sc = dataclasses.replace(sc, horizon=horizon, warmup=0.0, replications=1)
    ciw_calls, ciw_wall = run_ciw(horizon, seed)
    t0 = time.perf_counter()
    rep = run_replication(sc, 0, seed=seed)
    sim_wall = time.perf_counter() - t0
    t0 = time.perf_counter()
    stub = run_replication(
        sc, 0, seed=seed, engine_factory=lambda _s, _t: cast(RoutingEngine, _FifoStandIn())
    )
    stub_wall = time.perf_counter() - t0
    ciw_rate = ciw_calls / ciw_wall
    sim_rate = rep.calls_simulated / sim_wall
    stub_rate = stub.calls_simulated / stub_wall
    rows = [
        ("ciw 3 (M/M/20)", ciw_calls, ciw_wall, ciw_rate, 1.0),
        ("cti_server.sim + real routing engine", rep.calls_simulated, sim_wall, sim_rate,
         sim_rate / ciw_rate),
        ("cti_server.sim loop + minimal FIFO stand-in (diagnostic)", stub.calls_simulated,
         stub_wall, stub_rate, stub_rate / ciw_rate),
    ]  # fmt: skip
    lines = [
        f"M/M/{AGENTS}, AHT {AHT:.0f} s, load {LOAD:g} erlangs (90 %), horizon "
        f"{horizon:,.0f} s simulated time, seed {seed}.",
        "",
        "| simulator | calls | wall s | calls/s | vs ciw |",
        "|---|---|---|---|---|",
    ]
    lines += [f"| {n} | {c:,} | {w:.2f} | {r:,.0f} | {x:.2f}× |" for n, c, w, r, x in rows]
    per_call_engine = (sim_wall - stub_wall) / rep.calls_simulated * 1e6
    lines += [
        "",
        f"Engine share: about {per_call_engine:.1f} µs per call inside the routing engine "
        f"(real-engine run minus stand-in run), {stub_wall / rep.calls_simulated * 1e6:.1f} µs "
        "per call in the simulator's own loop.",
    ]
    return "\n".join(lines), {"ciw": ciw_rate, "sim": sim_rate, "stub": stub_rate}


def validation(quick: bool) -> tuple[str, list[Check]]:
    scale = 5 if quick else 1
    checks: list[Check] = []
    t0 = time.perf_counter()
    sc = mmc_scenario(agents=20, load=18.0, calls_per_replication=40_000 // scale,
                      replications=20)  # fmt: skip
    checks += run_mmc(sc)[1]
    sc = mmc_scenario(agents=20, load=19.0, mean_patience=300.0,
                      calls_per_replication=40_000 // scale, replications=20)  # fmt: skip
    checks += run_mmc(sc)[1]
    for pooled in (False, True):
        sc = pooling_scenario(pooled=pooled, calls_per_replication=60_000 // scale,
                              replications=20)  # fmt: skip
        checks += compare_pooling(sc, summarize(simulate(sc)))
    wall = time.perf_counter() - t0
    inside = sum(c.inside for c in checks)
    text = (
        "Validation against exact results (95 % Student-t CIs over 20 replications, "
        f"warm-up of 20 handle times excluded; {wall:.0f} s):\n\n"
        + format_checks(checks)
        + f"\n\n{inside} of {len(checks)} exact values inside their 95 % CI "
        f"(about {0.95 * len(checks):.0f} expected if the simulator is exact)."
    )
    return text, checks


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller runs (smoke test)")
    parser.add_argument("--calls", type=int, default=300_000, help="calls for the speed run")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    calls = args.calls // 10 if args.quick else args.calls
    speed_text, rates = speed(calls, args.seed)
    print(speed_text)
    print()
    val_text, _ = validation(args.quick)
    print(val_text)
    ratio = rates["sim"] / rates["ciw"]
    verdict = (
        f"Goal ≥ 3× ciw: {'met' if ratio >= 3 else 'NOT met'} ({ratio:.2f}×). "
        "The routing engine runs for every arrival, answer and hang-up; the loop itself "
        f"(diagnostic row) runs at {rates['stub'] / rates['ciw']:.1f}× ciw."
    )
    print()
    print(verdict)
    if not args.quick:
        write_section(
            "sim",
            "Simulator: speed vs ciw and validation against Erlang C / Erlang A",
            speed_text + "\n\n" + verdict + "\n\n" + val_text,
            command="python -m bench.bench_sim",
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
