"""CTI server under load: agent idle → call offered, and memory per connection
(R-IN-1: at least 500 concurrent agents; R-ROUTE-4: idle agent gets a waiting call
within 1 s; goal p99 < 50 ms at 2,000 agents).

For each size N the bench seeds a fresh SQLite database with N agents, starts the CTI
server in its own process (``bench/cti_load.py serve``), opens N desktop sessions and a
few simulated switches from this process, and runs a switch storm: the switches keep a
backlog of waiting calls while every agent cycles ready → offered → talk → after-call
work → ``agent.end_after_call_work``. Each idle request is timed until the switch
receives ``switch.command offer_to_agent`` for that agent and until the desktop gets
``call.delivered``. The server's RSS (``/proc/<pid>/status``) is read before the
desktops connect, after they are logged on and after the storm. Linux only.

Run from the repository root::

    .venv/bin/python -m bench.bench_cti                   # 500, 2,000, 5,000 agents, ~5 min
    .venv/bin/python -m bench.bench_cti --quick           # 20 s storms, ~3 min
    .venv/bin/python -m bench.bench_cti --db-url postgresql+psycopg://postgres@127.0.0.1/test
    .venv/bin/python -m bench.bench_cti --sizes 500 --no-write
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import math
import resource
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from argon2 import PasswordHasher

from bench._report import write_section
from bench.cti_load import LoadConfig, LoadRun, Pending, ServerProcess, drop_schema, seed_database

GOAL_P99_MS = 50.0
GOAL_SIZE = 2000


@dataclass(slots=True)
class SizeResult:
    agents: int
    login_seconds: float = 0.0
    logged_on: int = 0
    rss_before_kib: int = 0
    rss_logged_kib: int = 0
    rss_after_kib: int = 0
    storm_seconds: float = 0.0
    server_cpu: float = 0.0
    generator_cpu: float = 0.0
    offer: list[tuple[float, bool]] = field(default_factory=list)
    """Idle request → offer_to_agent per idle request of the window; (seconds, censored):
    censored = no offer yet when the run ended (the value is a lower bound)."""
    delivered: list[float] = field(default_factory=list)
    push: list[float] = field(default_factory=list)
    by_trigger: dict[str, list[tuple[float, bool]]] = field(default_factory=dict)
    idle_requests: int = 0
    waited_for_call: int = 0
    server_loop_cpu: float = 0.0
    offers_by_command: int = 0
    offers_at_arrival: int = 0
    min_waiting: int | None = None
    released: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    unexpected_not_ready: dict[str, int] = field(default_factory=dict)
    loop_lag_p99: float = 0.0
    loop_lag_max: float = 0.0
    note: str = ""

    @property
    def per_conn_kib(self) -> float:
        return (self.rss_logged_kib - self.rss_before_kib) / max(1, self.logged_on)

    @property
    def per_conn_after_kib(self) -> float:
        return (self.rss_after_kib - self.rss_before_kib) / max(1, self.logged_on)

    @property
    def offers_per_second(self) -> float:
        measured = sum(1 for _v, censored in self.offer if not censored)
        return measured / self.storm_seconds if self.storm_seconds else 0.0

    @property
    def unanswered(self) -> int:
        return sum(1 for _v, censored in self.offer if censored)

    def offer_p99(self) -> float | None:
        if not self.offer:
            return None
        value, _censored = quantile(self.offer, 0.99)
        return value


def quantile[T: (float, tuple[float, bool])](values: Sequence[T], q: float) -> T:
    """Nearest-rank quantile (0 < q <= 1) of a non-empty sequence."""
    ordered = sorted(values)
    rank = math.ceil(q * len(ordered))
    return ordered[min(len(ordered), max(1, rank)) - 1]


def fmt(value: tuple[float, bool]) -> str:
    """Milliseconds; ``>`` marks a lower bound (a request still without an offer)."""
    seconds, censored = value
    return f"{'>' if censored else ''}{seconds * 1000:.1f}"


def collect(result: SizeResult, requests: Sequence[Pending], t0: float, t1: float) -> None:
    """The window's idle requests: measured ones, and censored ones still waiting."""
    now = time.perf_counter()
    for p in requests:
        if not t0 <= p.sent <= t1:
            continue
        result.idle_requests += 1
        if p.at_arrival:  # the agent was idle with no call waiting: not an idle → offer case
            result.waited_for_call += 1
            continue
        value = (p.to_offer, False) if p.to_offer is not None else (now - p.sent, True)
        result.offer.append(value)
        result.by_trigger.setdefault(p.trigger, []).append(value)
        if p.to_push is not None:
            result.push.append(p.to_push)
        if p.to_delivered is not None and p.to_offer is not None:
            result.delivered.append(p.to_delivered)


def raise_fd_limit(needed: int) -> int:
    """Raise RLIMIT_NOFILE towards ``needed`` (capped at the hard limit); the server child
    inherits it. Returns the soft limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        soft = target
    return soft


def default_argon2_ms() -> float:
    """CPU time of one login check with the production argon2 parameters (ms)."""
    hasher = PasswordHasher()
    stored = hasher.hash("x")
    start = time.process_time()
    hasher.verify(stored, "x")
    return (time.process_time() - start) * 1000


async def run_size(agents: int, args: argparse.Namespace, folder: Path) -> SizeResult:
    result = SizeResult(agents)
    schema = f"bench_cti_{uuid.uuid4().hex[:10]}" if args.db_url else None
    url = args.db_url or f"sqlite:///{folder}/cti-{agents}.sqlite3"
    await asyncio.to_thread(seed_database, url, agents, schema=schema)
    server = ServerProcess(url, folder / f"server-{agents}.log", schema=schema)
    load: LoadRun | None = None
    try:
        await server.start()
        await asyncio.sleep(1.0)
        result.rss_before_kib = server.rss_kib()
        backlog = args.backlog if args.backlog is not None else max(100, agents // 10)
        cfg = LoadConfig(agents=agents, switches=args.switches, backlog=backlog, aht=args.aht)
        load = LoadRun(server.url, cfg)
        await load.connect_switches()
        print(f"[{agents}] server pid {server.pid} on {server.url}; logging on …", flush=True)
        start = time.perf_counter()
        await load.login_all()
        result.login_seconds = time.perf_counter() - start
        result.logged_on = sum(1 for d in load.desks.values() if d.client.connected)
        await asyncio.sleep(1.0)
        result.rss_logged_kib = server.rss_kib()
        print(
            f"[{agents}] {result.logged_on} logged on in {result.login_seconds:.1f} s; "
            f"queueing {backlog} calls, storm for {args.duration:.0f} s …",
            flush=True,
        )
        await load.prefill()
        gc.collect()
        cpu0, loop0, gen0 = server.cpu_seconds(), server.loop_cpu_seconds(), time.process_time()
        t0, t1 = await load.storm(args.duration)
        result.storm_seconds = t1 - t0
        result.server_cpu = (server.cpu_seconds() - cpu0) / result.storm_seconds
        result.server_loop_cpu = (server.loop_cpu_seconds() - loop0) / result.storm_seconds
        result.generator_cpu = (time.process_time() - gen0) / result.storm_seconds
        await load.drain(timeout=args.settle)  # offers still on their way complete here
        collect(result, load.requests, t0, t1)
        result.rss_after_kib = server.rss_kib()
        stats = load.stats
        result.offers_by_command = stats.offers_by_command
        result.offers_at_arrival = stats.offers_at_arrival
        result.min_waiting = stats.min_waiting
        result.released = stats.released
        result.errors = dict(stats.errors)
        result.unexpected_not_ready = dict(stats.unexpected_not_ready)
        if stats.loop_lag:
            result.loop_lag_p99 = quantile(stats.loop_lag, 0.99)
            result.loop_lag_max = max(stats.loop_lag)
    finally:
        if load is not None:
            await load.close()
        code = await server.stop()
        if code not in (0, None):
            result.note = f"server exit code {code} (log: {server.log_path.name})"
        if schema is not None:
            await asyncio.to_thread(drop_schema, url, schema)
    return result


def ms(value: float) -> str:
    return f"{value * 1000:.1f}"


def table(results: Sequence[SizeResult]) -> str:
    lines = [
        "| agents | idle → offer p50 / p95 / p99 / max (ms) | idle → call.delivered p99 (ms) "
        "| server push p99 (ms) | idle requests (no offer by the end) | offers/s "
        "| server CPU (event loop) | generator CPU | generator loop lag p99 (ms) |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        if not r.offer:
            lines.append(f"| {r.agents:,} | no samples | | | 0 | | | | |")
            continue
        offer = r.offer
        lines.append(
            f"| {r.agents:,} | {fmt(quantile(offer, 0.5))} / {fmt(quantile(offer, 0.95))} / "
            f"**{fmt(quantile(offer, 0.99))}** / {fmt(max(offer))} "
            f"| {ms(quantile(r.delivered, 0.99)) if r.delivered else '–'} "
            f"| {ms(quantile(r.push, 0.99)) if r.push else '–'} "
            f"| {len(offer):,} ({r.unanswered:,}) | {r.offers_per_second:.1f} "
            f"| {r.server_cpu:.0%} ({r.server_loop_cpu:.0%}) | {r.generator_cpu:.0%} "
            f"| {ms(r.loop_lag_p99)} |"
        )
    return "\n".join(lines)


def memory_table(results: Sequence[SizeResult]) -> str:
    lines = [
        "| agents | logged on | log-on time (s) | server RSS before / logged on / after storm "
        "(MiB) | KiB per connection (logged on) | KiB per connection (after storm) |",
        "|---:|---:|---:|---|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r.agents:,} | {r.logged_on:,} | {r.login_seconds:.1f} "
            f"| {r.rss_before_kib / 1024:.0f} / {r.rss_logged_kib / 1024:.0f} / "
            f"{r.rss_after_kib / 1024:.0f} | {r.per_conn_kib:.0f} | {r.per_conn_after_kib:.0f} |"
        )
    return "\n".join(lines)


def details(results: Sequence[SizeResult]) -> str:
    out = []
    for r in results:
        parts = [
            f"{r.agents:,} agents: {r.idle_requests:,} idle requests in the window, "
            f"{r.offers_by_command:,} offers by command, {r.offers_at_arrival:,} calls routed "
            f"at arrival to an agent already idle ({r.waited_for_call:,} of the window's "
            f"requests; left out), fewest calls queued at an offer {r.min_waiting}, "
            f"{r.released:,} calls released"
        ]
        for trigger, values in sorted(r.by_trigger.items()):
            parts.append(f"p99 after {trigger} {fmt(quantile(values, 0.99))} ms")
        if r.errors:
            parts.append("errors " + ", ".join(f"{k} {v}" for k, v in sorted(r.errors.items())))
        if r.unexpected_not_ready:
            parts.append(
                "unexpected not-ready "
                + ", ".join(f"{k} {v}" for k, v in sorted(r.unexpected_not_ready.items()))
            )
        parts.append(f"generator loop lag max {ms(r.loop_lag_max)} ms")
        if r.note:
            parts.append(r.note)
        out.append("- " + "; ".join(parts) + ".")
    return "\n".join(out)


def body(results: Sequence[SizeResult], args: argparse.Namespace, argon2_ms: float) -> str:
    goal = next((r for r in results if r.agents == GOAL_SIZE and r.offer), None)
    verdict = ""
    if goal is not None:
        p99 = quantile(goal.offer, 0.99)
        verdict = (
            f"Goal p99 < {GOAL_P99_MS:.0f} ms at {GOAL_SIZE:,} agents: "
            f"**{'met' if p99[0] * 1000 < GOAL_P99_MS else 'not met'}** ({fmt(p99)} ms).\n\n"
        )
    database = "PostgreSQL (`--db-url`)" if args.db_url else "SQLite (WAL, the embedded default)"
    return (
        f"{verdict}"
        "Agent idle → call offered: from the desktop sending `agent.set_ready` or "
        "`agent.end_after_call_work` until the simulated switch receives "
        "`switch.command offer_to_agent` for that agent (both ends in the load generator, "
        "one clock), with calls queued. *Server push* is the command's server timestamp "
        "minus the send time (without the generator's receive delay). An idle request "
        "still without an offer when the run ends counts with its waiting time so far "
        "(shown as `>`); requests that found no call queued (routed when a new call "
        "arrived) are left out and counted below.\n\n"
        f"Load: each agent handles a call every {args.aht:.0f} s on average (ring 0.3 s, "
        "talk, wrap-up ~1 s), so idle events arrive at N / "
        f"{args.aht:.0f} per second; the {args.switches} switches first queue max(100, N/10) "
        "calls (5 % VIP, 20 % gold, rest normal callers) and add one call per offer. "
        f"Agents go ready spread over the first {min(args.aht, args.duration):.0f} s; storm window "
        f"{args.duration:.0f} s per size. Database: {database}; every call event is "
        "written as in production.\n\n"
        f"{table(results)}\n\n"
        "Memory: server RSS before any desktop connects (N agents configured), after N "
        "desktops are connected and logged on (WebSocket with permessage-deflate, session, "
        "heartbeats), and after the storm (replay buffers, call records).\n\n"
        f"{memory_table(results)}\n\n"
        f"{details(results)}\n\n"
        "Notes: the CTI server (one process) and the load generator (one process: all "
        "desktops, switches and their heartbeats) share the machine's 2 cores. Bench "
        "agents use a minimal-cost argon2id hash (a bench-only choice); with the "
        f"production parameters one login check costs {argon2_ms:.0f} ms of CPU, i.e. "
        f"{argon2_ms * 5000 / 1000:.0f} s of CPU for 5,000 agents logging on at once.\n"
    )


async def amain(args: argparse.Namespace) -> list[SizeResult]:
    limit = raise_fd_limit(2 * max(args.sizes) + 1024)
    if limit < 2 * max(args.sizes) + 256:
        print(f"warning: file-descriptor limit {limit} may be too low", file=sys.stderr)
    results: list[SizeResult] = []
    with tempfile.TemporaryDirectory(prefix="bench-cti-") as tmp:
        for size in args.sizes:
            started = time.perf_counter()
            result = await run_size(size, args, Path(tmp))
            results.append(result)
            print(table([result]).splitlines()[-1], flush=True)
            print(memory_table([result]).splitlines()[-1], flush=True)
            print(details([result]), f"({time.perf_counter() - started:.0f} s)", flush=True)
    return results


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument(
        "--sizes",
        type=lambda s: [int(x) for x in s.split(",")],
        default=[500, 2000, 5000],
        help="agent counts, comma-separated (default 500,2000,5000)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="20 s storms instead of 60 s (agents then go ready within 20 s: a burst)",
    )
    parser.add_argument("--duration", type=float, default=None, help="storm seconds per size")
    parser.add_argument(
        "--aht", type=float, default=60.0, help="mean handle time per call, seconds (default 60)"
    )
    parser.add_argument("--backlog", type=int, default=None, help="calls queued at the start")
    parser.add_argument("--switches", type=int, default=2)
    parser.add_argument(
        "--settle", type=float, default=10.0, help="seconds to wait for late offers"
    )
    parser.add_argument(
        "--db-url",
        default=None,
        help="PostgreSQL URL (a throw-away schema is created); default: SQLite per size",
    )
    parser.add_argument("--no-write", action="store_true", help="do not update the docs")
    args = parser.parse_args(argv)
    if sys.platform != "linux":
        print("bench_cti reads /proc: Linux only", file=sys.stderr)
        return 2
    if args.duration is None:
        args.duration = 20.0 if args.quick else 60.0
    argon2_ms = default_argon2_ms()
    results = asyncio.run(amain(args))
    text = body(results, args, argon2_ms)
    print()
    print(text)
    if not args.no_write:
        path = write_section("cti", "CTI server under load", text)
        print(f"written to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
