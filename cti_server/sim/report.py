"""Summaries over replications: per tier, per queue, overall and per agent pool.

Each replication yields one value per metric (a ratio of that replication's counts);
the summary is the mean over replications with a Student-t confidence interval.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from cti_server.sim.simulator import RunResult, StreamCounts
from cti_server.sim.stats import Estimate, estimate

#: Metric names in table/CSV order.
METRICS = ("offered", "sl", "asa", "abandon", "p_wait", "callbacks", "unresolved")


@dataclass(frozen=True, slots=True)
class GroupSummary:
    """Metrics of one tier, queue or the whole centre."""

    scope: str  # "tier" | "queue" | "total"
    name: str
    sl_seconds: float | None  # tier threshold (tiers only)
    sl_target: float | None
    metrics: dict[str, Estimate]

    @property
    def sl(self) -> Estimate:
        return self.metrics["sl"]

    @property
    def asa(self) -> Estimate:
        return self.metrics["asa"]

    @property
    def abandon(self) -> Estimate:
        return self.metrics["abandon"]

    @property
    def p_wait(self) -> Estimate:
        return self.metrics["p_wait"]


@dataclass(frozen=True, slots=True)
class PoolSummary:
    name: str
    agents: int
    occupancy: Estimate


@dataclass(frozen=True, slots=True)
class Summary:
    """What a run measured, ready to print or export."""

    scenario: str
    strategy: str
    seed: int
    replications: int
    confidence: float
    tiers: tuple[GroupSummary, ...]
    queues: tuple[GroupSummary, ...]
    total: GroupSummary
    pools: tuple[PoolSummary, ...]
    occupancy: Estimate
    calls_simulated: int
    wall_seconds: float

    def tier(self, tier_id: str) -> GroupSummary:
        for t in self.tiers:
            if t.name == tier_id:
                return t
        raise KeyError(tier_id)

    def queue(self, queue_id: str) -> GroupSummary:
        for q in self.queues:
            if q.name == queue_id:
                return q
        raise KeyError(queue_id)


def _ratio(num: float, den: float) -> float:
    return num / den if den > 0 else math.nan


def _replication_metrics(parts: Iterable[StreamCounts]) -> dict[str, float]:
    c = StreamCounts()
    for p in parts:
        c.offered += p.offered
        c.answered += p.answered
        c.abandoned += p.abandoned
        c.left += p.left
        c.answered_in_sl += p.answered_in_sl
        c.waited += p.waited
        c.wait_answered += p.wait_answered
        c.callbacks += p.callbacks
        c.unresolved += p.unresolved
    return {
        "offered": float(c.offered),
        "sl": _ratio(c.answered_in_sl, c.offered),
        "asa": _ratio(c.wait_answered, c.answered),
        "abandon": _ratio(c.abandoned, c.offered),
        "p_wait": _ratio(c.waited, c.offered),
        "callbacks": _ratio(c.callbacks, c.offered),
        "unresolved": float(c.unresolved),
    }


def _group(
    run: RunResult,
    scope: str,
    name: str,
    select: Callable[[int], bool],
    confidence: float,
    *,
    sl_seconds: float | None = None,
    sl_target: float | None = None,
) -> GroupSummary:
    per_rep = [
        _replication_metrics(s for i, s in enumerate(rep.streams) if select(i))
        for rep in run.replications
    ]
    metrics = {m: estimate([r[m] for r in per_rep], confidence) for m in METRICS}
    return GroupSummary(scope, name, sl_seconds, sl_target, metrics)


def summarize(run: RunResult, confidence: float = 0.95) -> Summary:
    """Per-tier, per-queue, total and per-pool estimates with CIs over replications."""
    sc = run.scenario
    arrivals = sc.arrivals

    def by_tier(tier_id: str) -> Callable[[int], bool]:
        return lambda i: arrivals[i].tier_id == tier_id

    def by_queue(queue_id: str) -> Callable[[int], bool]:
        return lambda i: arrivals[i].queue_id == queue_id

    tiers = tuple(
        _group(
            run,
            "tier",
            t.tier_id,
            by_tier(t.tier_id),
            confidence,
            sl_seconds=t.sl_seconds,
            sl_target=t.sl_target,
        )
        for t in sc.tiers
    )
    queues = tuple(
        _group(run, "queue", q.queue_id, by_queue(q.queue_id), confidence) for q in sc.queues
    )
    total = _group(run, "total", "all", lambda i: True, confidence)
    pools = tuple(
        PoolSummary(
            p.name,
            p.count,
            estimate(
                [_ratio(r.pool_busy[k], r.pool_logged[k]) for r in run.replications], confidence
            ),
        )
        for k, p in enumerate(sc.agents)
    )
    occupancy = estimate(
        [_ratio(sum(r.pool_busy), sum(r.pool_logged)) for r in run.replications], confidence
    )
    return Summary(
        scenario=sc.name,
        strategy=run.strategy,
        seed=run.seed,
        replications=len(run.replications),
        confidence=confidence,
        tiers=tiers,
        queues=queues,
        total=total,
        pools=pools,
        occupancy=occupancy,
        calls_simulated=run.calls_simulated,
        wall_seconds=run.wall_seconds,
    )


# ----------------------------------------------------------------------------- formatting


def fmt_pct(e: Estimate) -> str:
    """``81.2% ±1.3`` (percentage points)."""
    if math.isnan(e.mean):
        return "—"
    if math.isnan(e.half_width):
        return f"{100 * e.mean:.1f}%"
    return f"{100 * e.mean:.1f}% ±{100 * e.half_width:.1f}"


def fmt_sec(e: Estimate) -> str:
    """``12.3 s ±0.8``."""
    if math.isnan(e.mean):
        return "—"
    if math.isnan(e.half_width):
        return f"{e.mean:.1f} s"
    return f"{e.mean:.1f} s ±{e.half_width:.1f}"


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]], markdown: bool) -> str:
    if markdown:
        lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
        lines += ["| " + " | ".join(r) + " |" for r in rows]
        return "\n".join(lines)
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    out = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    out.append("  ".join("-" * w for w in widths))
    out += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    return "\n".join(out)


def _group_row(g: GroupSummary, with_target: bool) -> list[str]:
    m = g.metrics
    row = [g.name]
    if with_target:
        if g.sl_seconds is not None and g.sl_target is not None:
            row.append(f"{100 * g.sl_target:.0f}% in {g.sl_seconds:g} s")
        else:
            row.append("")
    row += [
        f"{m['offered'].mean:.0f}",
        fmt_pct(g.sl),
        fmt_sec(g.asa),
        fmt_pct(g.abandon),
        fmt_pct(g.p_wait),
    ]
    return row


def format_summary(s: Summary, *, markdown: bool = False) -> str:
    """Human-readable tables: tiers, queues (with the total) and agent pools."""
    conf = f"{100 * s.confidence:.0f}% CI"
    head = (
        f"Scenario {s.scenario}: strategy {s.strategy}, {s.replications} replication(s), "
        f"seed {s.seed}, ± = {conf} half-width; {s.calls_simulated} calls simulated "
        f"in {s.wall_seconds:.2f} s"
    )
    cols = ["offered/rep", "SL", "ASA", "abandoned", "P(wait)"]
    tiers = _table(["tier", "target", *cols], [_group_row(t, True) for t in s.tiers], markdown)
    queues = _table(
        ["queue", *cols],
        [_group_row(q, False) for q in (*s.queues, s.total)],
        markdown,
    )
    pools = _table(
        ["agent pool", "agents", "occupancy"],
        [[p.name, str(p.agents), fmt_pct(p.occupancy)] for p in s.pools]
        + [["all", str(sum(p.agents for p in s.pools)), fmt_pct(s.occupancy)]],
        markdown,
    )
    notes = []
    unresolved = s.total.metrics["unresolved"].mean
    if unresolved > 0:
        notes.append(
            f"\nNote: {unresolved:.1f} calls per replication were still waiting when the "
            "simulation ran out of events (no agent left to answer them); they count as "
            "not answered within the service level."
        )
    return "\n".join(
        [head, "", "Per tier:", tiers, "", "Per queue:", queues, "", "Agents:", pools, *notes]
    )


def write_csv(s: Summary, path: str | Path) -> None:
    """One row per (scope, name, metric): mean, CI half-width and bounds."""
    with Path(path).open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(
            ["scope", "name", "metric", "mean", "half_width", "ci_low", "ci_high", "replications"]
        )

        def row(scope: str, name: str, metric: str, e: Estimate) -> None:
            w.writerow(
                [
                    scope,
                    name,
                    metric,
                    _num(e.mean),
                    _num(e.half_width),
                    _num(e.low),
                    _num(e.high),
                    e.n,
                ]
            )

        for g in (*s.tiers, *s.queues, s.total):
            for metric in METRICS:
                row(g.scope, g.name, metric, g.metrics[metric])
        for p in s.pools:
            row("pool", p.name, "occupancy", p.occupancy)
        row("total", "all", "occupancy", s.occupancy)


def _num(x: float) -> str:
    return "" if math.isnan(x) else f"{x:.6g}"
