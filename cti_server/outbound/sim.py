"""Discrete-event simulation of an outbound campaign driving the real :class:`Dialer`.

A simulated day: ``agents`` agents log in at the start and stay until the horizon;
the dialer places calls; each dial draws its outcome (a person, an answering machine,
busy, failed, or nobody before the ring timeout) and its ring time from the scenario;
connected calls draw talk and wrap times (the distributions of :mod:`cti_server.sim`).
The dialer is ticked every ``tick`` seconds and at its abandon deadlines.

Per replication the day gives agent utilisation ((talk + wrap) / logged-in time),
abandon rate (abandoned / answered by a person) and contacts per agent-hour;
:func:`compare` runs replications per dial mode and summarises them with Student-t
confidence intervals (:func:`cti_server.sim.stats.estimate`).
"""

from __future__ import annotations

import datetime as dt
import heapq
import itertools
import random
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from cti_server.outbound.dialer import Dialer
from cti_server.outbound.model import (
    AbandonCall,
    Action,
    CallingWindow,
    Connect,
    Dial,
    DialMode,
    InMemoryDialGuard,
    OutboundConfigError,
    Outcome,
    Strategy,
    TargetRecord,
)
from cti_server.outbound.pacing import PacingConfig
from cti_server.sim.distributions import Distribution, LogNormal, Uniform
from cti_server.sim.stats import Estimate, estimate

_TICK, _RING_END, _TALK_END, _WRAP_END, _HORIZON = range(5)


def _default_start() -> float:
    # 09:00 on a Monday in Shanghai: the calling window opens as the day starts.
    return dt.datetime(2026, 6, 1, 1, 0, tzinfo=dt.UTC).timestamp()


@dataclass(frozen=True, kw_only=True)
class OutboundScenario:
    """A simulated campaign day. Outcome probabilities are per dial; the rest of
    ``1 - person - machine - busy - failed`` rings out (no answer)."""

    agents: int = 50
    day_seconds: float = 8 * 3600.0
    start_epoch: float = field(default_factory=_default_start)
    records: int = 40_000
    zones: tuple[str, ...] = ("Asia/Shanghai",)
    window: CallingWindow = field(default_factory=lambda: CallingWindow.daily("09:00", "21:00"))
    p_person: float = 0.30
    #: Optional P(person answers) per hour of the day (cycled), overriding ``p_person``.
    p_person_by_hour: tuple[float, ...] = ()
    p_machine: float = 0.15
    p_busy: float = 0.10
    p_failed: float = 0.03
    person_answer: Distribution = field(default_factory=lambda: LogNormal(10.0, 6.0))
    machine_answer: Distribution = field(default_factory=lambda: LogNormal(12.0, 6.0))
    amd_seconds: float = 2.5
    busy_ring: Distribution = field(default_factory=lambda: Uniform(2.0, 5.0))
    failed_ring: Distribution = field(default_factory=lambda: Uniform(1.0, 3.0))
    talk: Distribution = field(default_factory=lambda: LogNormal(150.0, 90.0))
    wrap: Distribution = field(default_factory=lambda: LogNormal(30.0, 10.0))
    tick: float = 1.0
    pacing: PacingConfig = field(default_factory=PacingConfig)
    max_attempts: int = 3

    def __post_init__(self) -> None:
        total = self.p_person + self.p_machine + self.p_busy + self.p_failed
        if not 0.0 <= total <= 1.0 or min(self.p_person, self.p_machine, self.p_busy) < 0:
            raise OutboundConfigError("p_person", "outcome probabilities must sum to <= 1")
        for p in self.p_person_by_hour:
            if not 0.0 <= p <= 1.0 - (total - self.p_person):
                raise OutboundConfigError("p_person_by_hour", f"{p} leaves no room for others")
        if self.agents < 1 or self.day_seconds <= 0 or self.tick <= 0:
            raise OutboundConfigError("agents", "agents >= 1, day_seconds > 0, tick > 0")


@dataclass(frozen=True, slots=True)
class DayResult:
    mode: DialMode
    utilisation: float
    abandon_rate: float
    contacts_per_agent_hour: float
    dials: int
    answered: int
    abandoned: int
    connected: int
    fallback_share: float  # share of pacing decisions that fell back to progressive
    wall_seconds: float


def run_day(scenario: OutboundScenario, mode: DialMode, seed: int) -> DayResult:
    """Simulate one campaign day in ``mode``; deterministic for a given seed."""
    started = time.perf_counter()
    rng = random.Random(f"outbound-{seed}")
    outcome_rng = random.Random(f"outbound-{seed}-outcome")
    talk = scenario.talk.sampler(random.Random(f"outbound-{seed}-talk"))
    wrap = scenario.wrap.sampler(random.Random(f"outbound-{seed}-wrap"))
    person_answer = scenario.person_answer.sampler(rng)
    machine_answer = scenario.machine_answer.sampler(rng)
    busy_ring = scenario.busy_ring.sampler(rng)
    failed_ring = scenario.failed_ring.sampler(rng)
    guard = InMemoryDialGuard(cooling_seconds=0.0)
    strategy = Strategy(window=scenario.window, max_attempts=scenario.max_attempts)
    dialer = Dialer("sim", mode=mode, strategy=strategy, pacing=scenario.pacing, guard=guard)
    start = scenario.start_epoch
    horizon = start + scenario.day_seconds
    zones = scenario.zones
    dialer.add_records(
        (
            TargetRecord(f"r{i}", f"+86{10_000_000 + i}", tz=zones[i % len(zones)])
            for i in range(scenario.records)
        ),
        due=start,
    )
    ring_timeout = strategy.ring_timeout
    by_hour = scenario.p_person_by_hour
    others = (scenario.p_machine, scenario.p_busy, scenario.p_failed)

    def thresholds(now: float) -> tuple[float, float, float, float]:
        person = (
            by_hour[int((now - start) // 3600) % len(by_hour)] if by_hour else scenario.p_person
        )
        machine = person + others[0]
        busy = machine + others[1]
        return person, machine, busy, busy + others[2]

    calendar: list[tuple[float, int, int, str, Outcome | None]] = []
    seq = itertools.count()
    agent_of: dict[str, str] = {}
    deadlines: set[float] = set()
    decisions = fallbacks = 0

    def push(at: float, kind: int, key: str = "", outcome: Outcome | None = None) -> None:
        heapq.heappush(calendar, (at, next(seq), kind, key, outcome))

    def execute(actions: Iterable[Action], now: float) -> None:
        for action in actions:
            if isinstance(action, Dial):
                guard.note_dialled(action.record.phone, now)
                p_person, p_machine, p_busy, p_failed = thresholds(now)
                u = outcome_rng.random()
                if u < p_person:
                    delay = person_answer()
                    push(*_answer_or_timeout(now, delay, ring_timeout, _RING_END, action))
                elif u < p_machine:
                    delay = machine_answer() + scenario.amd_seconds
                    outcome = Outcome.MACHINE if delay < ring_timeout else Outcome.NO_ANSWER
                    push(now + min(delay, ring_timeout), _RING_END, action.call_id, outcome)
                elif u < p_busy:
                    push(now + busy_ring(), _RING_END, action.call_id, Outcome.BUSY)
                elif u < p_failed:
                    push(now + failed_ring(), _RING_END, action.call_id, Outcome.FAILED)
                else:
                    push(now + ring_timeout, _RING_END, action.call_id, Outcome.NO_ANSWER)
            elif isinstance(action, Connect):
                agent_of[action.call_id] = action.agent_id
                push(now + talk(), _TALK_END, action.call_id)
            elif isinstance(action, AbandonCall):
                pass  # the switch plays the message; counted by the dialer

    for index in range(scenario.agents):
        execute(dialer.agent_login(f"a{index + 1}", start), start)
    t = start + scenario.tick
    while t < horizon:
        push(t, _TICK)
        t += scenario.tick
    push(horizon, _HORIZON)
    busy = logged = 0.0
    while calendar:
        now, _, kind, key, outcome = heapq.heappop(calendar)
        if kind == _TICK:
            deadlines.discard(now)
            actions = dialer.tick(now)
        elif kind == _RING_END:
            if outcome is None:
                actions = dialer.call_answered(key, now)
            else:
                actions = dialer.call_result(key, outcome, now)
        elif kind == _TALK_END:
            agent_id = agent_of.pop(key)
            actions = dialer.call_ended(key, now)
            push(now + wrap(), _WRAP_END, agent_id)
        elif kind == _WRAP_END:
            actions = dialer.wrap_ended(key, now)
        else:
            busy, logged = dialer.utilisation(now)
            break
        execute(actions, now)
        decision = dialer.last_decision
        if decision is not None:
            decisions += 1
            fallbacks += decision.effective_mode is not decision.mode
        deadline = dialer.next_deadline()
        if deadline is not None and deadline not in deadlines:
            deadlines.add(deadline)
            push(deadline, _TICK)
    stats = dialer.stats
    hours = scenario.day_seconds / 3600.0
    return DayResult(
        mode=mode,
        utilisation=busy / logged if logged else 0.0,
        abandon_rate=stats.abandon_rate,
        contacts_per_agent_hour=stats.connected / (scenario.agents * hours),
        dials=stats.dials,
        answered=stats.answered,
        abandoned=stats.abandoned,
        connected=stats.connected,
        fallback_share=fallbacks / decisions if decisions else 0.0,
        wall_seconds=time.perf_counter() - started,
    )


def _answer_or_timeout(
    now: float, delay: float, ring_timeout: float, kind: int, dial: Dial
) -> tuple[float, int, str, Outcome | None]:
    if delay < ring_timeout:
        return now + delay, kind, dial.call_id, None
    return now + ring_timeout, kind, dial.call_id, Outcome.NO_ANSWER


@dataclass(frozen=True, slots=True)
class ModeSummary:
    mode: DialMode
    utilisation: Estimate
    abandon_rate: Estimate
    contacts_per_agent_hour: Estimate
    max_abandon_rate: float  # worst replication
    days: tuple[DayResult, ...]


def summarize_mode(days: Sequence[DayResult], confidence: float = 0.95) -> ModeSummary:
    return ModeSummary(
        mode=days[0].mode,
        utilisation=estimate([d.utilisation for d in days], confidence),
        abandon_rate=estimate([d.abandon_rate for d in days], confidence),
        contacts_per_agent_hour=estimate([d.contacts_per_agent_hour for d in days], confidence),
        max_abandon_rate=max(d.abandon_rate for d in days),
        days=tuple(days),
    )


def compare(
    scenario: OutboundScenario,
    modes: Sequence[DialMode] = (DialMode.PROGRESSIVE, DialMode.POWER, DialMode.PREDICTIVE),
    replications: int = 5,
    seed: int = 1,
) -> dict[DialMode, ModeSummary]:
    """Replications per mode with common seeds (replication i uses seed ``seed + i``)."""
    return {
        mode: summarize_mode([run_day(scenario, mode, seed + i) for i in range(replications)])
        for mode in modes
    }


def format_table(summaries: dict[DialMode, ModeSummary]) -> str:
    """A Markdown table: mean ± 95 % CI half-width per mode."""

    def pm(e: Estimate, scale: float = 1.0, digits: int = 1) -> str:
        return f"{e.mean * scale:.{digits}f} ± {e.half_width * scale:.{digits}f}"

    lines = [
        "| mode | agent utilisation % | abandon rate % (worst day) | contacts / agent-hour "
        "| dials / day | decisions in fallback % | replications |",
        "|---|---|---|---|---|---|---|",
    ]
    for mode, s in summaries.items():
        dials = sum(d.dials for d in s.days) / len(s.days)
        fallback = sum(d.fallback_share for d in s.days) / len(s.days)
        lines.append(
            f"| {mode} | {pm(s.utilisation, 100)} | {pm(s.abandon_rate, 100, 2)} "
            f"({s.max_abandon_rate * 100:.2f}) | {pm(s.contacts_per_agent_hour, 1, 2)} "
            f"| {dials:.0f} | {fallback * 100:.1f} | {len(s.days)} |"
        )
    return "\n".join(lines)


#: P(a person answers) per hour of the benchmark day: lower mid-morning, higher at lunch.
BENCH_ANSWER_PROFILE = (0.30, 0.22, 0.15, 0.22, 0.35, 0.42, 0.35, 0.28)


def benchmark_scenario(day_seconds: float = 8 * 3600.0, agents: int = 50) -> OutboundScenario:
    """The campaign of the pacing proof (docs/benchmarks.md, section outbound).

    50 agents, 30 % machines/busy/failed, a person answering 15-42 % of dials depending
    on the hour, talk lognormal(150 s, sd 90 s), wrap lognormal(30 s, sd 10 s), ring
    timeout 25 s, 3 attempts per record, power mode at 3 lines per idle agent.
    """
    return OutboundScenario(
        agents=agents,
        day_seconds=day_seconds,
        p_person_by_hour=BENCH_ANSWER_PROFILE,
        pacing=PacingConfig(power_ratio=3.0),
    )
