"""Discrete-event contact-centre simulator driving the real routing engine.

Load a scenario (TOML), run replications, summarise with Student-t confidence
intervals::

    from cti_server.sim import load_scenario, simulate, summarize, format_summary
    run = simulate(load_scenario("bench/scenarios/three_tiers_overload.toml"))
    print(format_summary(summarize(run)))
"""

from cti_server.sim.distributions import (
    Deterministic,
    Distribution,
    Exponential,
    Gamma,
    LogNormal,
    Never,
    Uniform,
    parse_distribution,
)
from cti_server.sim.report import (
    GroupSummary,
    PoolSummary,
    Summary,
    format_summary,
    summarize,
    write_csv,
)
from cti_server.sim.scenario import (
    AgentGroupDef,
    AgentPool,
    ArrivalStream,
    OverflowDef,
    QueueDef,
    Scenario,
    ScenarioError,
    TierDef,
    load_scenario,
    loads_scenario,
    parse_scenario,
)
from cti_server.sim.simulator import (
    ReplicationResult,
    RunResult,
    StreamCounts,
    build_engine,
    run_replication,
    simulate,
)
from cti_server.sim.stats import Estimate, estimate, t_cdf, t_quantile

__all__ = [
    "AgentGroupDef",
    "AgentPool",
    "ArrivalStream",
    "Deterministic",
    "Distribution",
    "Estimate",
    "Exponential",
    "Gamma",
    "GroupSummary",
    "LogNormal",
    "Never",
    "OverflowDef",
    "PoolSummary",
    "QueueDef",
    "ReplicationResult",
    "RunResult",
    "Scenario",
    "ScenarioError",
    "StreamCounts",
    "Summary",
    "TierDef",
    "Uniform",
    "build_engine",
    "estimate",
    "format_summary",
    "load_scenario",
    "loads_scenario",
    "parse_distribution",
    "parse_scenario",
    "run_replication",
    "simulate",
    "summarize",
    "t_cdf",
    "t_quantile",
    "write_csv",
]
