"""Load generator and server runner for ``bench/bench_cti.py`` (Linux only).

Three parts:

- :func:`seed_database` - a SQLite database with the demo centre plus ``N`` bench
  agents (skill ``bench``, queue ``q_bench``, group ``bench_team`` serving every tier).
  Passwords use :data:`BENCH_HASHER`, an argon2id hasher with minimal cost: a
  bench-only choice so that thousands of logins do not measure argon2 (the production
  default costs tens of ms of CPU per login; the bench reports that figure separately).
- ``python -m bench.cti_load serve --db URL`` - the CTI server (:class:`CtiApp`, the
  bench hasher, no HTTP side) in its own process; prints ``listening on HOST:PORT``.
  :class:`ServerProcess` starts it and reads its RSS and CPU time from ``/proc``.
- :class:`LoadRun` - desktops (one :class:`CtiClient` each, heartbeats on, as the real
  desktop) and simulated switches in this process. The switches keep a backlog of
  waiting calls; each agent cycles ready → offered → answered → released → after-call
  work → ``agent.end_after_call_work`` (ready again). Every idle request (``set_ready``
  / ``end_after_call_work``) is timed until the switch receives its
  ``switch.command offer_to_agent`` and until the desktop receives ``call.delivered``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from argon2 import PasswordHasher

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cti_server.store import ConfigStore, make_engine, seed_demo, session_factory, upgrade
from cti_server.store.models import Agent, AgentGroupMember, AgentSkill
from cti_server.store.seed import demo_customers
from shared.cti_client import ClientEvent, ConnectionLost, CtiClient
from shared.protocol.agent import (
    AgentEndAfterCallWork,
    AgentLoggedOff,
    AgentLogin,
    AgentNotReady,
    AgentSetReady,
    AgentWorkNotReady,
)
from shared.protocol.base import Request, ResultBody
from shared.protocol.call import CallDelivered
from shared.protocol.errors import ProtocolError
from shared.protocol.handshake import ClientKind, PasswordCredentials, TokenCredentials
from shared.protocol.switch import (
    LegRole,
    OfferToAgent,
    RouteResponse,
    RouteStage,
    SwitchCallEvent,
    SwitchCallEventKind,
    SwitchCommand,
    SwitchCommandResult,
    SwitchRegistration,
    SwitchRouteRequest,
)

log = logging.getLogger("bench.cti_load")

BENCH_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
"""Minimal-cost argon2id for the bench agents (and the bench server's authenticator, so
logins neither cost real argon2 time nor trigger a rehash)."""
BENCH_PASSWORD = "bench"
SWITCH_TOKEN = "demo-switch-token"
QUEUE_ID, SKILL_ID, GROUP_ID = "q_bench", "bench", "bench_team"
FIRST_AGENT = 20001
CUSTOMERS = 2000
ACTOR = "9901"  # the demo administrator: author of the bench configuration in the audit log
SWITCH_INFLIGHT = 48
"""Requests one simulated switch keeps in flight (the server allows 64 per connection)."""


def agent_ids(count: int) -> list[str]:
    return [str(FIRST_AGENT + i) for i in range(count)]


def seed_database(url: str, agents: int, *, schema: str | None = None) -> list[str]:
    """Migrate and seed ``url``: the demo centre (2,000 customers) plus ``agents`` bench
    agents with skill ``bench`` level 1 in a group serving the VIP, gold and normal tiers;
    queue ``q_bench`` has no calendar, no overflow and a 1-hour ACW (ended by the desktop).
    On PostgreSQL, ``schema`` (created here) holds the tables."""
    if schema is not None:
        admin = make_engine(url)
        with admin.begin() as conn:
            conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
        admin.dispose()
    engine = make_engine(url, schema=schema)
    try:
        upgrade(engine)
        seed_demo(engine, customers=CUSTOMERS, hasher=BENCH_HASHER)
        store = ConfigStore(engine, hasher=BENCH_HASHER)
        store.create(ACTOR, "skill", SKILL_ID, {"name": "bench skill"})
        store.create(
            ACTOR,
            "queue",
            QUEUE_ID,
            {
                "name": "bench queue",
                "skill_id": SKILL_ID,
                "agent_order": "longest_idle",
                "max_level": None,
                "overflow": [],
                "max_wait": None,
                "max_wait_action": "callback",
                "acw_seconds": 3600.0,
                "calendar_id": None,
            },
        )
        store.create(ACTOR, "agent_group", GROUP_ID, {"name": "bench team"})
        store.set_group_tiers(ACTOR, GROUP_ID, ["vip", "gold", "normal"])
        ids = agent_ids(agents)
        password_hash = BENCH_HASHER.hash(BENCH_PASSWORD)  # one hash: same password for all
        with session_factory(engine).begin() as session:
            session.execute(
                sa.insert(Agent),
                [
                    {
                        "id": a,
                        "name": f"Bench agent {a}",
                        "password_hash": password_hash,
                        "role": "agent",
                        "active": True,
                        "order_key": int(a),
                    }
                    for a in ids
                ],
            )
            session.execute(
                sa.insert(AgentSkill),
                [{"agent_id": a, "skill_id": SKILL_ID, "level": 1} for a in ids],
            )
            session.execute(
                sa.insert(AgentGroupMember), [{"group_id": GROUP_ID, "agent_id": a} for a in ids]
            )
        return ids
    finally:
        engine.dispose()


def drop_schema(url: str, schema: str) -> None:
    admin = make_engine(url)
    try:
        with admin.begin() as conn:
            conn.exec_driver_sql(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
    finally:
        admin.dispose()


def caller_numbers() -> list[str]:
    """Caller numbers of the seeded customers (about 5 % VIP, 20 % gold, the rest normal),
    blacklisted ones left out, plus as many unknown numbers (normal tier)."""
    known = [numbers[0] for row, numbers in demo_customers(CUSTOMERS) if not row["blacklisted"]]
    rng = random.Random(7)
    unknown = [f"0{rng.randrange(10**9, 10**10)}" for _ in known]
    return known + unknown


# ============================================================================ server side


def _serve(argv: Sequence[str]) -> int:
    """``python -m bench.cti_load serve --db URL [--log FILE]``: run the CTI server."""
    parser = argparse.ArgumentParser(prog="bench.cti_load serve")
    parser.add_argument("--db", required=True)
    parser.add_argument("--schema", default=None, help="PostgreSQL schema of the tables")
    parser.add_argument("--log", default=None, help="log file (INFO); default stderr")
    args = parser.parse_args(argv)
    from cti_server.app import CtiApp
    from shared.config import Settings
    from shared.log import setup_logging

    stream = open(args.log, "a", encoding="utf-8") if args.log else None  # noqa: SIM115
    setup_logging("cti-server", level="INFO", stream=stream)

    async def main() -> None:
        db = make_engine(args.db, schema=args.schema)
        app = CtiApp(Settings(), db=db, hasher=BENCH_HASHER)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await app.start(host="127.0.0.1", port=0)
        print(f"listening on 127.0.0.1:{app.port}", flush=True)
        try:
            await stop.wait()
        finally:
            await app.stop()
            db.dispose()

    asyncio.run(main())
    return 0


def _proc_status_kib(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{key} not in /proc/{pid}/status")


def _stat_cpu(path: Path) -> float:
    fields = path.read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


class ServerProcess:
    """The bench CTI server in a child process; RSS and CPU time from ``/proc``."""

    def __init__(self, db_url: str, log_path: Path, *, schema: str | None = None) -> None:
        self.db_url = db_url
        self.schema = schema
        self.log_path = log_path
        self.proc: subprocess.Popen[str] | None = None
        self.port = 0

    async def start(self, timeout: float = 60.0) -> None:
        root = Path(__file__).resolve().parent.parent
        command = [sys.executable, "-m", "bench.cti_load", "serve", "--db", self.db_url]
        if self.schema is not None:
            command += ["--schema", self.schema]
        self.proc = subprocess.Popen(
            command,
            cwd=root,
            stdout=subprocess.PIPE,
            stderr=open(self.log_path, "w", encoding="utf-8"),  # noqa: SIM115
            text=True,
        )
        assert self.proc.stdout is not None
        line = await asyncio.wait_for(asyncio.to_thread(self.proc.stdout.readline), timeout)
        if not line.startswith("listening on "):
            raise RuntimeError(f"the CTI server did not start (see {self.log_path}): {line!r}")
        self.port = int(line.rsplit(":", 1)[1])

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def rss_kib(self) -> int:
        return _proc_status_kib(self.pid, "VmRSS")

    def hwm_kib(self) -> int:
        return _proc_status_kib(self.pid, "VmHWM")

    def cpu_seconds(self) -> float:
        """User + system CPU time of the whole process."""
        return _stat_cpu(Path(f"/proc/{self.pid}/stat"))

    def loop_cpu_seconds(self) -> float:
        """CPU time of the main thread (the event loop; the rest is worker threads)."""
        return _stat_cpu(Path(f"/proc/{self.pid}/task/{self.pid}/stat"))

    async def stop(self, timeout: float = 60.0) -> int | None:
        if self.proc is None or self.proc.poll() is not None:
            return None if self.proc is None else self.proc.returncode
        self.proc.send_signal(signal.SIGTERM)
        try:
            return await asyncio.wait_for(asyncio.to_thread(self.proc.wait), timeout)
        except TimeoutError:
            self.proc.kill()
            return await asyncio.to_thread(self.proc.wait)


# ============================================================================ load side


@dataclass(slots=True)
class Pending:
    """An idle request waiting for its offer."""

    trigger: str
    sent: float  # perf_counter
    sent_wall: float
    call_id: str | None = None
    at_arrival: bool = False
    """Routed when a new call arrived (no call was waiting when the agent went idle)."""
    to_offer: float | None = None
    to_push: float | None = None
    to_delivered: float | None = None


@dataclass(frozen=True, slots=True)
class Sample:
    trigger: str
    sent: float
    to_offer: float
    to_push: float
    to_delivered: float | None


@dataclass(slots=True)
class LoadConfig:
    agents: int
    switches: int = 2
    backlog: int = 200
    aht: float = 30.0
    """Mean handle time per call (ring + talk + wrap-up), seconds."""
    ring: float = 0.3
    wrap: float = 1.0
    seed: int = 1


@dataclass(slots=True)
class LoadStats:
    samples: list[Sample] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    calls_created: int = 0
    offers_by_command: int = 0
    offers_at_arrival: int = 0
    """Calls routed at arrival: an agent was idle with no call waiting (backlog ran dry)."""
    released: int = 0
    unexpected_not_ready: Counter[str] = field(default_factory=Counter)
    logged_off: int = 0
    min_waiting: int | None = None
    loop_lag: list[float] = field(default_factory=list)


class Desk:
    """One simulated desktop: goes ready, takes the call it is offered, ends its ACW."""

    __slots__ = ("agent_id", "client", "pending", "run")

    def __init__(self, run: LoadRun, agent_id: str) -> None:
        self.run = run
        self.agent_id = agent_id
        self.pending: Pending | None = None
        self.client = CtiClient(
            run.url,
            PasswordCredentials(user_id=agent_id, password=BENCH_PASSWORD),
            ClientKind.DESKTOP,
            client_name=f"PC-{agent_id}",
            heartbeat=True,
            request_timeout=60.0,
            on_event=self.on_event,
        )

    async def login(self) -> None:
        await self.client.open()
        await self.client.request(AgentLogin(id=0, extension=self.agent_id))

    def go_idle(self, trigger: str) -> None:
        if not self.run.active:
            return
        self.pending = pending = Pending(trigger, time.perf_counter(), time.time())
        self.run.requests.append(pending)
        message: Request = (
            AgentSetReady(id=0) if trigger == "set_ready" else AgentEndAfterCallWork(id=0)
        )
        self.run.spawn(self.run.send(self.client, message, trigger))

    def on_event(self, item: ClientEvent) -> None:
        if isinstance(item, CallDelivered):
            pending = self.pending
            if pending is not None and pending.to_delivered is None:
                pending.to_delivered = time.perf_counter() - pending.sent
                self.run.complete(self)
        elif isinstance(item, AgentWorkNotReady) and item.call_id is not None:
            self.run.later(self.run.wrap_delay(), self.go_idle, "end_acw")
        elif isinstance(item, AgentNotReady) and item.reason_code != "login":
            self.run.stats.unexpected_not_ready[item.reason_code] += 1
            self.run.later(self.run.wrap_delay(), self.go_idle, "set_ready")
        elif isinstance(item, AgentLoggedOff):
            self.run.stats.logged_off += 1


class SimSwitch:
    """One simulated switch connection: creates calls, answers commands, plays the calls."""

    def __init__(self, run: LoadRun, name: str) -> None:
        self.run = run
        self.name = name
        self.inflight = asyncio.Semaphore(SWITCH_INFLIGHT)
        self.client = CtiClient(
            run.url,
            TokenCredentials(token=SWITCH_TOKEN),
            ClientKind.SWITCH,
            client_name=name,
            heartbeat=True,
            request_timeout=60.0,
            on_event=self.on_event,
        )

    async def request(self, message: Request) -> ResultBody | None:
        async with self.inflight:
            return await self.client.request(message)

    def on_event(self, item: ClientEvent) -> None:
        if not isinstance(item, SwitchCommand):
            return
        now = time.perf_counter()
        run = self.run
        run.spawn(self.ack(item.command_id))
        action = item.action
        if isinstance(action, OfferToAgent):
            run.stats.offers_by_command += 1
            run.waiting.discard(item.call_id)
            run.offered_calls.add(item.call_id)
            run.offered(action.agent_id, item.call_id, now, item.ts)
            run.spawn(self.conversation(item.call_id, action.agent_id))
            run.spawn(self.new_call())

    async def ack(self, command_id: str) -> None:
        await self.run.guard(
            self.request(SwitchCommandResult(id=0, command_id=command_id, ok=True)), "ack"
        )

    async def new_call(self) -> None:
        run = self.run
        if not run.active:
            return
        run.stats.calls_created += 1
        call_id = f"BENCH-{run.stats.calls_created:07d}"
        caller = run.rng.choice(run.callers)
        ok = await run.guard(
            self.request(
                SwitchRouteRequest(
                    id=0, call_id=call_id, stage=RouteStage.ARRIVAL, caller=caller, called="95555"
                )
            ),
            "arrival",
        )
        if not ok:
            return
        try:
            body = await self.request(
                SwitchRouteRequest(
                    id=0,
                    call_id=call_id,
                    stage=RouteStage.AGENT_NEEDED,
                    caller=caller,
                    business_selection=SKILL_ID,
                )
            )
        except (ProtocolError, ConnectionLost, TimeoutError) as exc:
            run.error("agent_needed", exc)
            return
        if isinstance(body, RouteResponse) and body.agent is not None:
            run.stats.offers_at_arrival += 1
            run.spawn(self.new_call())  # keep the number of calls in circulation
            desk = run.desks.get(body.agent.agent_id)
            if desk is not None and desk.pending is not None:
                desk.pending.at_arrival = True
            await self.conversation(call_id, body.agent.agent_id)
        elif call_id not in run.offered_calls:
            run.waiting.add(call_id)

    async def conversation(self, call_id: str, agent_id: str) -> None:
        run = self.run
        await asyncio.sleep(run.cfg.ring)
        answered = SwitchCallEvent(
            id=0,
            call_id=call_id,
            kind=SwitchCallEventKind.ANSWERED,
            leg=LegRole.AGENT,
            at=time.time(),
            agent_id=agent_id,
        )
        if not await run.guard(self.request(answered), "answered"):
            return
        await asyncio.sleep(run.talk_time())
        released = SwitchCallEvent(
            id=0, call_id=call_id, kind=SwitchCallEventKind.RELEASED, at=time.time()
        )
        if await run.guard(self.request(released), "released"):
            run.stats.released += 1


class LoadRun:
    """N desktops and a few switches against one server URL."""

    def __init__(self, url: str, cfg: LoadConfig) -> None:
        self.url = url
        self.cfg = cfg
        self.rng = random.Random(cfg.seed)
        self.callers = caller_numbers()
        self.stats = LoadStats()
        self.active = False
        self.waiting: set[str] = set()
        self.offered_calls: set[str] = set()
        self.requests: list[Pending] = []
        """Every idle request sent, in order (measured or not)."""
        self.desks = {a: Desk(self, a) for a in agent_ids(cfg.agents)}
        self.switches = [SimSwitch(self, f"bench-sw{i + 1}") for i in range(cfg.switches)]
        self._tasks: set[asyncio.Task[object]] = set()
        self._next_switch = 0
        self._lag_task: asyncio.Task[None] | None = None

    # -- plumbing ------------------------------------------------------------------------

    def spawn(self, coro: Coroutine[Any, Any, object]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def later(self, delay: float, fn: Callable[[str], None], arg: str) -> None:
        asyncio.get_running_loop().call_later(delay, fn, arg)

    def error(self, what: str, exc: BaseException) -> None:
        code = exc.code.value if isinstance(exc, ProtocolError) else type(exc).__name__
        self.stats.errors[f"{what}:{code}"] += 1

    async def guard(self, coro: Awaitable[object], what: str) -> bool:
        try:
            await coro
        except (ProtocolError, ConnectionLost, TimeoutError) as exc:
            self.error(what, exc)
            return False
        return True

    async def send(self, client: CtiClient, message: Request, what: str) -> None:
        await self.guard(client.request(message), what)

    def switch(self) -> SimSwitch:
        self._next_switch = (self._next_switch + 1) % len(self.switches)
        return self.switches[self._next_switch]

    def talk_time(self) -> float:
        talk = max(0.1, self.cfg.aht - self.cfg.ring - self.cfg.wrap)
        return self.rng.uniform(0.5 * talk, 1.5 * talk)

    def wrap_delay(self) -> float:
        return self.rng.uniform(0.5 * self.cfg.wrap, 1.5 * self.cfg.wrap)

    # -- measurements --------------------------------------------------------------------

    def offered(self, agent_id: str, call_id: str, at: float, pushed_wall: float) -> None:
        waiting = len(self.waiting)
        if self.stats.min_waiting is None or waiting < self.stats.min_waiting:
            self.stats.min_waiting = waiting
        desk = self.desks.get(agent_id)
        pending = desk.pending if desk is not None else None
        if desk is None or pending is None or pending.to_offer is not None:
            self.stats.errors["offer_without_idle_request"] += 1
            return
        pending.call_id = call_id
        pending.to_offer = at - pending.sent
        pending.to_push = pushed_wall - pending.sent_wall
        self.complete(desk)

    def complete(self, desk: Desk) -> None:
        p = desk.pending
        if p is None or p.to_offer is None or p.to_push is None or p.to_delivered is None:
            return
        self.stats.samples.append(Sample(p.trigger, p.sent, p.to_offer, p.to_push, p.to_delivered))
        desk.pending = None

    async def _watch_loop(self, period: float = 0.05) -> None:
        loop = asyncio.get_running_loop()
        while True:
            start = loop.time()
            await asyncio.sleep(period)
            self.stats.loop_lag.append(loop.time() - start - period)

    # -- phases --------------------------------------------------------------------------

    @staticmethod
    def quiet_lost_futures(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        """Drop "Future exception was never retrieved" for ConnectionLost: CtiClient's
        ping future is failed by the reader just before close() cancels the pinger."""
        if isinstance(context.get("exception"), ConnectionLost):
            return
        loop.default_exception_handler(context)

    async def connect_switches(self) -> None:
        asyncio.get_running_loop().set_exception_handler(self.quiet_lost_futures)
        for sw in self.switches:
            await sw.client.open()
        for i, agent_id in enumerate(self.desks):
            contact = f"sip:{agent_id}@10.20.{i // 250}.{i % 250 + 1}:5060"
            reg = SwitchRegistration(
                id=0, sip_user=agent_id, registered=True, contact=contact, expires_seconds=86_400
            )
            self.spawn(self.guard(self.switch().request(reg), "registration"))
        await self.drain()

    async def login_all(self, concurrency: int = 100) -> None:
        """Open every desktop and log its agent on (not ready)."""
        gate = asyncio.Semaphore(concurrency)

        async def one(desk: Desk) -> None:
            async with gate:
                try:
                    await desk.login()
                except (ProtocolError, ConnectionLost, TimeoutError, OSError) as exc:
                    self.error("login", exc)

        await asyncio.gather(*(one(d) for d in self.desks.values()))

    async def prefill(self) -> None:
        """Queue ``backlog`` calls while every agent is still not ready."""
        self.active = True
        for _ in range(self.cfg.backlog):
            self.spawn(self.switch().new_call())
        await self.drain()

    async def storm(self, duration: float) -> tuple[float, float]:
        """Agents go ready spread over one handle time, then cycle for ``duration`` seconds;
        returns (start, end) on the perf_counter clock."""
        self._lag_task = asyncio.get_running_loop().create_task(self._watch_loop())
        start = time.perf_counter()
        spread = min(self.cfg.aht, duration)
        for desk in self.desks.values():
            self.later(self.rng.uniform(0, spread), desk.go_idle, "set_ready")
        await asyncio.sleep(duration)
        self.active = False
        end = time.perf_counter()
        self._lag_task.cancel()
        return start, end

    async def drain(self, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while self._tasks and time.monotonic() < deadline:
            await asyncio.wait(set(self._tasks), timeout=max(0.01, deadline - time.monotonic()))

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        clients = [d.client for d in self.desks.values()] + [s.client for s in self.switches]
        for chunk in range(0, len(clients), 500):
            await asyncio.gather(
                *(c.close() for c in clients[chunk : chunk + 500]), return_exceptions=True
            )


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["serve"]:
        return _serve(args[1:])
    print("usage: python -m bench.cti_load serve --db URL [--log FILE]", file=sys.stderr)
    return 2


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
