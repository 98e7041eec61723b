"""Scenario model and TOML loader for the contact-centre simulator.

A scenario describes tiers, agent groups, queues, arrival streams per (queue, tier)
with piecewise-constant hourly rates, and pools of agents with skills and shifts.
See docs/simulator.md for the file format. Every problem in a file raises
:class:`ScenarioError` naming the file and the field (e.g. ``arrivals[2].rate_per_hour``).
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cti_server.sim.distributions import (
    Deterministic,
    Distribution,
    DistributionError,
    Never,
    parse_distribution,
)

STRATEGIES = ("sl_gap", "fifo", "static_priority")
AGENT_ORDERS = ("longest_idle", "round_robin", "fewest_calls", "least_talk_time", "fixed")


class ScenarioError(Exception):
    """A scenario is invalid. ``source`` is the file (or ``<memory>``), ``field`` the key path."""

    def __init__(self, source: str, field: str, message: str) -> None:
        super().__init__(f"{source}: {field}: {message}" if field else f"{source}: {message}")
        self.source = source
        self.field = field
        self.message = message


@dataclass(frozen=True, kw_only=True, slots=True)
class TierDef:
    """A customer tier and its service-level objective (R-TIER-3)."""

    tier_id: str
    sl_seconds: float
    sl_target: float
    priority_weight: float = 1.0


@dataclass(frozen=True, kw_only=True, slots=True)
class AgentGroupDef:
    """An agent group serving a set of tiers (R-SKILL-3)."""

    group_id: str
    tiers: frozenset[str]


@dataclass(frozen=True, kw_only=True, slots=True)
class OverflowDef:
    """Widen a waiting call's eligible agents after ``after`` seconds (R-ROUTE-5)."""

    after: float
    widen_to_level: int | None = None
    add_groups: frozenset[str] = frozenset()
    add_queues: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True, slots=True)
class QueueDef:
    """A skill queue; ACW after its calls is a fixed number of seconds run by the engine."""

    queue_id: str
    skill: str
    max_level: int | None = None
    overflow: tuple[OverflowDef, ...] = ()
    max_wait: float | None = None
    max_wait_action: str = "callback"
    acw_seconds: float = 0.0


@dataclass(frozen=True, kw_only=True, slots=True)
class ArrivalStream:
    """Poisson arrivals of one call type: (queue, tier) with hourly rates per interval."""

    queue_id: str
    tier_id: str
    rates_per_hour: tuple[float, ...]
    service: Distribution
    patience: Distribution = field(default_factory=Never)
    priority: int = 0
    business_selection: str = ""

    @property
    def name(self) -> str:
        return f"{self.queue_id}/{self.tier_id}"


@dataclass(frozen=True, kw_only=True, slots=True)
class AgentPool:
    """``count`` identical agents ``<name>-1`` .. ``<name>-<count>`` on one shift."""

    name: str
    count: int
    skills: Mapping[str, int]
    groups: frozenset[str] = frozenset()
    start: float = 0.0
    end: float = math.inf
    order_key: int = 0


@dataclass(frozen=True, kw_only=True, slots=True)
class Scenario:
    """A complete simulation scenario. Times are in seconds."""

    name: str = "scenario"
    horizon: float
    warmup: float = 0.0
    interval: float = 1800.0
    replications: int = 10
    seed: int = 1
    strategy: str = "sl_gap"
    agent_order: str = "longest_idle"
    sl_window: float = 1800.0
    ring_delay: Distribution = field(default_factory=lambda: Deterministic(0.0))
    tiers: tuple[TierDef, ...]
    agent_groups: tuple[AgentGroupDef, ...] = ()
    queues: tuple[QueueDef, ...]
    arrivals: tuple[ArrivalStream, ...]
    agents: tuple[AgentPool, ...]
    source: str = "<memory>"

    def __post_init__(self) -> None:
        validate(self)


def _fail(source: str, fld: str, message: str) -> ScenarioError:
    return ScenarioError(source, fld, message)


def validate(sc: Scenario) -> None:
    """Cross-field checks; raises ScenarioError."""
    src = sc.source
    if not math.isfinite(sc.horizon) or sc.horizon <= 0:
        raise _fail(src, "simulation.horizon", f"must be a finite number > 0, got {sc.horizon}")
    if not 0 <= sc.warmup < sc.horizon:
        raise _fail(src, "simulation.warmup", f"must be >= 0 and < horizon, got {sc.warmup}")
    if not math.isfinite(sc.interval) or sc.interval <= 0:
        raise _fail(src, "simulation.interval", f"must be > 0, got {sc.interval}")
    if sc.replications < 1:
        raise _fail(src, "simulation.replications", f"must be >= 1, got {sc.replications}")
    if sc.strategy not in STRATEGIES:
        raise _fail(
            src,
            "simulation.strategy",
            f"unknown strategy {sc.strategy!r}; expected one of {', '.join(STRATEGIES)}",
        )
    if sc.agent_order not in AGENT_ORDERS:
        raise _fail(
            src,
            "simulation.agent_order",
            f"unknown agent order {sc.agent_order!r}; expected one of {', '.join(AGENT_ORDERS)}",
        )
    if sc.sl_window <= 0:
        raise _fail(src, "simulation.sl_window", f"must be > 0, got {sc.sl_window}")
    if not sc.tiers:
        raise _fail(src, "tiers", "at least one tier is required")
    if not sc.queues:
        raise _fail(src, "queues", "at least one queue is required")
    if not sc.arrivals:
        raise _fail(src, "arrivals", "at least one arrival stream is required")
    if not sc.agents:
        raise _fail(src, "agents", "at least one agent pool is required")
    tier_ids = _unique(src, "tiers", [t.tier_id for t in sc.tiers])
    for i, t in enumerate(sc.tiers):
        if not t.sl_seconds > 0:
            raise _fail(src, f"tiers[{i}].sl_seconds", f"must be > 0, got {t.sl_seconds}")
        if not 0 <= t.sl_target <= 1:
            raise _fail(src, f"tiers[{i}].sl_target", f"must be in [0, 1], got {t.sl_target}")
        if not t.priority_weight > 0:
            raise _fail(src, f"tiers[{i}].priority_weight", "must be > 0")
    group_ids = _unique(src, "agent_groups", [g.group_id for g in sc.agent_groups])
    for i, g in enumerate(sc.agent_groups):
        for unknown in sorted(g.tiers - tier_ids):
            raise _fail(src, f"agent_groups[{i}].tiers", f"unknown tier {unknown!r}")
    queue_ids = _unique(src, "queues", [q.queue_id for q in sc.queues])
    for i, q in enumerate(sc.queues):
        if q.acw_seconds < 0:
            raise _fail(src, f"queues[{i}].acw_seconds", f"must be >= 0, got {q.acw_seconds}")
        if q.max_level is not None and q.max_level < 1:
            raise _fail(src, f"queues[{i}].max_level", f"must be >= 1, got {q.max_level}")
        if q.max_wait is not None and not q.max_wait > 0:
            raise _fail(src, f"queues[{i}].max_wait", f"must be > 0, got {q.max_wait}")
        action = q.max_wait_action
        if action != "callback" and not (
            action.startswith("overflow:") and action.removeprefix("overflow:") in queue_ids
        ):
            raise _fail(
                src,
                f"queues[{i}].max_wait_action",
                f"must be 'callback' or 'overflow:<known queue id>', got {action!r}",
            )
        for j, o in enumerate(q.overflow):
            where = f"queues[{i}].overflow[{j}]"
            if o.after < 0:
                raise _fail(src, f"{where}.after", f"must be >= 0, got {o.after}")
            for g_id in sorted(o.add_groups - group_ids):
                raise _fail(src, f"{where}.add_groups", f"unknown agent group {g_id!r}")
            for q_id in o.add_queues:
                if q_id not in queue_ids:
                    raise _fail(src, f"{where}.add_queues", f"unknown queue {q_id!r}")
    skills = {q.skill for q in sc.queues}
    for i, a in enumerate(sc.arrivals):
        where = f"arrivals[{i}]"
        if a.queue_id not in queue_ids:
            raise _fail(src, f"{where}.queue", f"unknown queue {a.queue_id!r}")
        if a.tier_id not in tier_ids:
            raise _fail(src, f"{where}.tier", f"unknown tier {a.tier_id!r}")
        if not a.rates_per_hour:
            raise _fail(src, f"{where}.rates_per_hour", "needs at least one rate")
        for r in a.rates_per_hour:
            if not math.isfinite(r) or r < 0:
                raise _fail(src, f"{where}.rates_per_hour", f"rates must be >= 0, got {r}")
        if len(a.rates_per_hour) > 1 and len(a.rates_per_hour) * sc.interval < sc.horizon:
            raise _fail(
                src,
                f"{where}.rates_per_hour",
                f"{len(a.rates_per_hour)} intervals of {sc.interval:g} s do not cover "
                f"the horizon of {sc.horizon:g} s",
            )
    _unique(src, "agents", [p.name for p in sc.agents])
    for i, p in enumerate(sc.agents):
        where = f"agents[{i}]"
        if p.count < 0:
            raise _fail(src, f"{where}.count", f"must be >= 0, got {p.count}")
        if not p.skills:
            raise _fail(src, f"{where}.skills", "an agent needs at least one skill")
        for s, lvl in p.skills.items():
            if s not in skills:
                raise _fail(src, f"{where}.skills.{s}", "no queue uses this skill")
            if lvl < 1:
                raise _fail(src, f"{where}.skills.{s}", f"level must be >= 1, got {lvl}")
        for g_id in sorted(p.groups - group_ids):
            raise _fail(src, f"{where}.groups", f"unknown agent group {g_id!r}")
        if p.start < 0 or not p.end > p.start:
            raise _fail(src, f"{where}.end", f"shift must satisfy 0 <= start < end, got {p}")


def _unique(source: str, fld: str, ids: Sequence[str]) -> frozenset[str]:
    seen: set[str] = set()
    for i, x in enumerate(ids):
        if x in seen:
            raise _fail(source, f"{fld}[{i}]", f"duplicate id {x!r}")
        seen.add(x)
    return frozenset(seen)


# ----------------------------------------------------------------------------- TOML parsing


class _Reader:
    """Typed accessors over one TOML table that raise ScenarioError with the field path."""

    def __init__(self, source: str, path: str, table: object) -> None:
        if not isinstance(table, Mapping):
            raise ScenarioError(source, path, "expected a table")
        self.source, self.path, self.table = source, path, table
        self.used: set[str] = set()

    def _where(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def has(self, key: str) -> bool:
        return key in self.table

    def raw(self, key: str) -> object:
        self.used.add(key)
        return self.table[key]

    def _get(self, key: str, required: bool) -> object:
        self.used.add(key)
        if key not in self.table:
            if required:
                raise ScenarioError(self.source, self._where(key), "missing required field")
            return None
        return self.table[key]

    def string(self, key: str, default: str | None = None) -> str:
        v = self._get(key, default is None)
        if v is None:
            assert default is not None
            return default
        if not isinstance(v, str) or not v:
            raise ScenarioError(self.source, self._where(key), f"must be a non-empty string: {v!r}")
        return v

    def number(
        self, key: str, default: float | None = None, *, minimum: float | None = None
    ) -> float:
        v = self._get(key, default is None)
        if v is None:
            assert default is not None
            return default
        if isinstance(v, bool) or not isinstance(v, int | float) or math.isnan(v):
            raise ScenarioError(self.source, self._where(key), f"must be a number, got {v!r}")
        if minimum is not None and v < minimum:
            raise ScenarioError(self.source, self._where(key), f"must be >= {minimum:g}, got {v}")
        return float(v)

    def opt_number(self, key: str, *, minimum: float | None = None) -> float | None:
        self.used.add(key)
        return self.number(key, minimum=minimum) if self.has(key) else None

    def integer(self, key: str, default: int | None = None, *, minimum: int | None = None) -> int:
        v = self._get(key, default is None)
        if v is None:
            assert default is not None
            return default
        if isinstance(v, bool) or not isinstance(v, int):
            raise ScenarioError(self.source, self._where(key), f"must be an integer, got {v!r}")
        if minimum is not None and v < minimum:
            raise ScenarioError(self.source, self._where(key), f"must be >= {minimum}, got {v}")
        return v

    def opt_integer(self, key: str, *, minimum: int | None = None) -> int | None:
        self.used.add(key)
        return self.integer(key, minimum=minimum) if self.has(key) else None

    def strings(self, key: str) -> tuple[str, ...]:
        v = self._get(key, False)
        if v is None:
            return ()
        if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
            raise ScenarioError(self.source, self._where(key), "must be a list of strings")
        return tuple(v)

    def tables(self, key: str, *, required: bool) -> list[_Reader]:
        v = self._get(key, required)
        if v is None:
            return []
        if not isinstance(v, list):
            raise ScenarioError(
                self.source, self._where(key), f"must be an array of tables ([[{key}]])"
            )
        return [_Reader(self.source, f"{self._where(key)}[{i}]", t) for i, t in enumerate(v)]

    def distribution(self, key: str, default: Distribution, *, allow_none: bool) -> Distribution:
        v = self._get(key, False)
        if v is None:
            return default
        try:
            return parse_distribution(v, self._where(key), allow_none=allow_none)
        except DistributionError as exc:
            raise ScenarioError(self.source, exc.field, exc.message) from None

    def check_unknown(self) -> None:
        for key in self.table:
            if key not in self.used:
                raise ScenarioError(self.source, self._where(key), "unknown field")


def parse_scenario(data: Mapping[str, object], source: str = "<memory>") -> Scenario:
    """Build a Scenario from an already-parsed TOML document."""
    root = _Reader(source, "", data)
    sim = _Reader(source, "simulation", root.raw("simulation") if root.has("simulation") else {})
    root.used.add("simulation")
    name = sim.string("name", Path(source).stem if source != "<memory>" else "scenario")
    horizon = sim.number("horizon", minimum=0)
    warmup = sim.number("warmup", 0.0, minimum=0)
    interval = sim.number("interval", 1800.0)
    replications = sim.integer("replications", 10, minimum=1)
    seed = sim.integer("seed", 1)
    strategy = sim.string("strategy", "sl_gap")
    agent_order = sim.string("agent_order", "longest_idle")
    sl_window = sim.number("sl_window", 1800.0)
    ring_delay = sim.distribution("ring_delay", Deterministic(0.0), allow_none=False)
    sim.check_unknown()

    tiers = []
    for t in root.tables("tiers", required=True):
        tiers.append(
            TierDef(
                tier_id=t.string("id"),
                sl_seconds=t.number("sl_seconds"),
                sl_target=t.number("sl_target"),
                priority_weight=t.number("priority_weight", 1.0),
            )
        )
        t.check_unknown()
    groups = []
    for g in root.tables("agent_groups", required=False):
        groups.append(AgentGroupDef(group_id=g.string("id"), tiers=frozenset(g.strings("tiers"))))
        g.check_unknown()
    queues = []
    for q in root.tables("queues", required=True):
        qid = q.string("id")
        overflow = []
        for o in q.tables("overflow", required=False):
            overflow.append(
                OverflowDef(
                    after=o.number("after"),
                    widen_to_level=o.opt_integer("widen_to_level", minimum=1),
                    add_groups=frozenset(o.strings("add_groups")),
                    add_queues=o.strings("add_queues"),
                )
            )
            o.check_unknown()
        queues.append(
            QueueDef(
                queue_id=qid,
                skill=q.string("skill", qid),
                max_level=q.opt_integer("max_level", minimum=1),
                overflow=tuple(overflow),
                max_wait=q.opt_number("max_wait"),
                max_wait_action=q.string("max_wait_action", "callback"),
                acw_seconds=q.number("acw_seconds", 0.0),
            )
        )
        q.check_unknown()
    arrivals = []
    for a in root.tables("arrivals", required=True):
        if a.has("rate_per_hour") == a.has("rates_per_hour"):
            raise ScenarioError(
                source,
                f"{a.path}.rate_per_hour",
                "give exactly one of rate_per_hour, rates_per_hour",
            )
        if a.has("rate_per_hour"):
            rates: tuple[float, ...] = (a.number("rate_per_hour"),)
        else:
            raw = a.raw("rates_per_hour")
            if (
                not isinstance(raw, list)
                or not raw
                or not all(isinstance(x, int | float) and not isinstance(x, bool) for x in raw)
            ):
                raise ScenarioError(
                    source, f"{a.path}.rates_per_hour", "must be a non-empty list of numbers"
                )
            rates = tuple(float(x) for x in raw)
        for r in rates:
            if r < 0 or not math.isfinite(r):
                key = "rate_per_hour" if a.has("rate_per_hour") else "rates_per_hour"
                raise ScenarioError(
                    source, f"{a.path}.{key}", f"rates must be finite and >= 0, got {r:g}"
                )
        if not a.has("service"):
            raise ScenarioError(source, f"{a.path}.service", "missing required field")
        arrivals.append(
            ArrivalStream(
                queue_id=a.string("queue"),
                tier_id=a.string("tier"),
                rates_per_hour=rates,
                service=a.distribution("service", Never(), allow_none=False),
                patience=a.distribution("patience", Never(), allow_none=True),
                priority=a.integer("priority", 0),
                business_selection=a.string("business_selection")
                if a.has("business_selection")
                else "",
            )
        )
        a.check_unknown()
    agents = []
    for p in root.tables("agents", required=True):
        skills_raw = p.raw("skills") if p.has("skills") else None
        if not isinstance(skills_raw, Mapping) or not all(
            isinstance(v, int) and not isinstance(v, bool) for v in skills_raw.values()
        ):
            raise ScenarioError(
                source, f"{p.path}.skills", "must be a table of skill = level (integer)"
            )
        agents.append(
            AgentPool(
                name=p.string("name"),
                count=p.integer("count", minimum=0),
                skills=dict(skills_raw),
                groups=frozenset(p.strings("groups")),
                start=p.number("start", 0.0, minimum=0),
                end=p.number("end", math.inf),
                order_key=p.integer("order_key", 0),
            )
        )
        p.check_unknown()
    root.check_unknown()
    return Scenario(
        name=name,
        horizon=horizon,
        warmup=warmup,
        interval=interval,
        replications=replications,
        seed=seed,
        strategy=strategy,
        agent_order=agent_order,
        sl_window=sl_window,
        ring_delay=ring_delay,
        tiers=tuple(tiers),
        agent_groups=tuple(groups),
        queues=tuple(queues),
        arrivals=tuple(arrivals),
        agents=tuple(agents),
        source=source,
    )


def loads_scenario(text: str, source: str = "<memory>") -> Scenario:
    """Parse scenario TOML text."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(source, "", f"invalid TOML: {exc}") from None
    return parse_scenario(data, source)


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario file."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ScenarioError(str(p), "", f"cannot read file: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ScenarioError(str(p), "", "file is not UTF-8 text") from None
    return loads_scenario(text, str(p))
