"""Validation of the simulator against exact queueing results (Erlang C and Erlang A).

Builds single-skill M/M/c(+M) scenarios and the 6-type pooling experiment, runs them
through the simulator (and so through the real routing engine), and compares every
measured figure with the exact value from :mod:`cti_server.staffing`. Used by the
tests (small sizes) and by ``bench/bench_sim.py`` (full size).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from cti_server.sim.distributions import Exponential, Never
from cti_server.sim.report import Summary, summarize
from cti_server.sim.scenario import AgentPool, ArrivalStream, QueueDef, Scenario, TierDef
from cti_server.sim.simulator import simulate
from cti_server.sim.stats import Estimate
from cti_server.staffing import ErlangAResult, erlang_a_metrics


@dataclass(frozen=True, slots=True)
class Check:
    """One simulated figure next to its exact value."""

    case: str
    metric: str  # "P(wait)", "SL", "ASA", "abandoned", "occupancy"
    exact: float
    simulated: Estimate

    @property
    def inside(self) -> bool:
        return self.simulated.contains(self.exact)


def mmc_scenario(
    *,
    agents: int,
    load: float,
    aht: float = 180.0,
    mean_patience: float = math.inf,
    sl_seconds: float = 20.0,
    calls_per_replication: int = 10_000,
    warmup_ahts: float = 20.0,
    replications: int = 10,
    seed: int = 1,
) -> Scenario:
    """One queue, one tier, ``agents`` identical agents, offered ``load`` erlangs.

    The horizon is sized so each replication counts about ``calls_per_replication``
    calls after a warm-up of ``warmup_ahts`` handle times.
    """
    rate = load / aht  # calls per second
    warmup = warmup_ahts * aht
    return Scenario(
        name=f"M/M/{agents}" + ("" if math.isinf(mean_patience) else "+M"),
        horizon=warmup + calls_per_replication / rate,
        warmup=warmup,
        replications=replications,
        seed=seed,
        strategy="fifo",
        tiers=(TierDef(tier_id="t", sl_seconds=sl_seconds, sl_target=0.8),),
        queues=(QueueDef(queue_id="q", skill="q"),),
        arrivals=(
            ArrivalStream(
                queue_id="q",
                tier_id="t",
                rates_per_hour=(rate * 3600.0,),
                service=Exponential(aht),
                patience=Never() if math.isinf(mean_patience) else Exponential(mean_patience),
            ),
        ),
        agents=(AgentPool(name="a", count=agents, skills={"q": 1}),),
    )


def exact_for(sc: Scenario) -> ErlangAResult:
    """Erlang A (Erlang C when patience is infinite) for a scenario from mmc_scenario."""
    stream = sc.arrivals[0]
    return erlang_a_metrics(
        arrival_rate=stream.rates_per_hour[0] / 3600.0,
        aht=stream.service.mean,
        mean_patience=stream.patience.mean,
        agents=sc.agents[0].count,
        answer_time=sc.tiers[0].sl_seconds,
    )


def compare_mmc(sc: Scenario, summary: Summary) -> list[Check]:
    """Simulated vs exact P(wait), SL, ASA, abandonment and occupancy."""
    exact = exact_for(sc)
    tier = summary.tiers[0]
    checks = [
        Check(sc.name, "P(wait)", exact.p_wait, tier.p_wait),
        Check(sc.name, "SL", exact.service_level, tier.sl),
        Check(sc.name, "ASA", exact.asa, tier.asa),
        Check(sc.name, "occupancy", exact.occupancy, summary.occupancy),
    ]
    if not math.isinf(exact.mean_patience):
        checks.insert(3, Check(sc.name, "abandoned", exact.p_abandon, tier.abandon))
    return checks


def run_mmc(sc: Scenario, confidence: float = 0.95) -> tuple[Summary, list[Check]]:
    summary = summarize(simulate(sc), confidence)
    return summary, compare_mmc(sc, summary)


def pooling_scenario(
    *,
    pooled: bool,
    types: int = 6,
    agents_per_type: int = 15,
    load_per_type: float = 12.0,
    aht: float = 180.0,
    sl_seconds: float = 20.0,
    calls_per_replication: int = 30_000,
    warmup_ahts: float = 20.0,
    replications: int = 10,
    seed: int = 1,
) -> Scenario:
    """``types`` call types with equal rates and handle times.

    Specialist case: ``agents_per_type`` agents per type, each with only its own skill
    (``types`` independent M/M/c queues). Pooled case: ``types * agents_per_type``
    agents with every skill at level 1 (one M/M/(types*c) queue under FIFO).
    """
    rate = load_per_type / aht
    warmup = warmup_ahts * aht
    skills = [f"type{k + 1}" for k in range(types)]
    if pooled:
        pools: tuple[AgentPool, ...] = (
            AgentPool(
                name="pooled", count=types * agents_per_type, skills=dict.fromkeys(skills, 1)
            ),
        )
    else:
        pools = tuple(AgentPool(name=s, count=agents_per_type, skills={s: 1}) for s in skills)
    return Scenario(
        name=f"{types}x{agents_per_type} " + ("pooled" if pooled else "specialists"),
        horizon=warmup + calls_per_replication / (rate * types),
        warmup=warmup,
        replications=replications,
        seed=seed,
        strategy="fifo",
        tiers=(TierDef(tier_id="t", sl_seconds=sl_seconds, sl_target=0.8),),
        queues=tuple(QueueDef(queue_id=s, skill=s) for s in skills),
        arrivals=tuple(
            ArrivalStream(
                queue_id=s, tier_id="t", rates_per_hour=(rate * 3600.0,), service=Exponential(aht)
            )
            for s in skills
        ),
        agents=pools,
    )


def compare_pooling(sc: Scenario, summary: Summary) -> list[Check]:
    """Total P(wait), SL and ASA vs M/M/(n·c) (pooled) or M/M/c (specialists)."""
    types = len(sc.queues)
    agents = sum(p.count for p in sc.agents)
    stream = sc.arrivals[0]
    rate = stream.rates_per_hour[0] / 3600.0
    if any(len(p.skills) > 1 for p in sc.agents):
        exact = erlang_a_metrics(rate * types, stream.service.mean, math.inf, agents, 20.0)
    else:
        exact = erlang_a_metrics(rate, stream.service.mean, math.inf, agents // types, 20.0)
    exact_sl = exact.service_level_at(sc.tiers[0].sl_seconds)
    total = summary.total
    return [
        Check(sc.name, "P(wait)", exact.p_wait, total.p_wait),
        Check(sc.name, "SL", exact_sl, total.sl),
        Check(sc.name, "ASA", exact.asa, total.asa),
        Check(sc.name, "occupancy", exact.occupancy, summary.occupancy),
    ]


def format_checks(checks: list[Check], *, markdown: bool = True) -> str:
    """A table: case, metric, exact, simulated ± half-width, inside CI."""

    def fmt(metric: str, x: float) -> str:
        return f"{x:.2f} s" if metric == "ASA" else f"{100 * x:.2f}%"

    rows = []
    for c in checks:
        e = c.simulated
        half = f"{e.half_width:.2f} s" if c.metric == "ASA" else f"{100 * e.half_width:.2f}"
        rows.append(
            [
                c.case,
                c.metric,
                fmt(c.metric, c.exact),
                f"{fmt(c.metric, e.mean)} ±{half}",
                "yes" if c.inside else "NO",
            ]
        )
    headers = [
        "case",
        "metric",
        "exact",
        f"simulated ({100 * checks[0].simulated.confidence:.0f}% CI)",
        "inside CI",
    ]
    if markdown:
        lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
        lines += ["| " + " | ".join(r) + " |" for r in rows]
        return "\n".join(lines)
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    out = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))]
    out += ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(out)
