"""The demo launcher: ``cti-demo`` (what ``scripts/demo.sh`` runs).

It runs everything that exists, locally:

1. the routing engine in the simulator: one busy day of a three-tier contact
   centre routed FIFO, by static priority and by service-level gap, with each
   tier's service level against its target (R-ROUTE-2, R-TIER-3);
2. the staffing calculator for the peak hour (Erlang C and Erlang A);
3. the CTI server (WebSocket CTI protocol, REST admin API, health, metrics) on
   embedded SQLite with demo agents and customers, until Ctrl-C (``--no-serve``
   skips it).
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Sequence
from pathlib import Path

from cti_server.sim import Summary, load_scenario, simulate, summarize
from cti_server.staffing import (
    agents_for_service_level,
    agents_for_service_level_with_abandonment,
    erlang_a_metrics,
    erlang_c_metrics,
)

SCENARIO = Path(__file__).with_name("demo_day.toml")
STRATEGIES = (("fifo", "FIFO"), ("static_priority", "static priority"), ("sl_gap", "SL gap"))


def _pct(value: float) -> str:
    return "  n/a" if math.isnan(value) else f"{100 * value:5.1f}%"


def routing_comparison(replications: int, seed: int) -> str:
    """The per-tier service level of the demo day under each call-selection strategy."""
    scenario = load_scenario(SCENARIO)
    summaries: dict[str, Summary] = {
        name: summarize(simulate(scenario, replications=replications, seed=seed, strategy=name))
        for name, _ in STRATEGIES
    }
    header = f"{'tier':<8} {'target':>12}" + "".join(f" {label:>17}" for _, label in STRATEGIES)
    lines = [header, "-" * len(header)]
    for tier in scenario.tiers:
        target = f"{100 * tier.sl_target:.0f}% in {tier.sl_seconds:g}s"
        row = f"{tier.tier_id:<8} {target:>12}"
        for name, _ in STRATEGIES:
            sl = summaries[name].tier(tier.tier_id).metrics["sl"].mean
            mark = "met" if sl >= tier.sl_target else "MISSED"
            row += f" {_pct(sl):>8} {mark:>8}"
        lines.append(row)
    calls = sum(s.calls_simulated for s in summaries.values())
    wall = sum(s.wall_seconds for s in summaries.values())
    lines.append(
        f"({replications} replication(s) per strategy, seed {seed}; {calls:,} calls simulated "
        f"through the real routing engine in {wall:.1f} s)"
    )
    return "\n".join(lines)


def staffing_example() -> str:
    """Agents needed for the demo day's peak hour (1,070 calls, AHT 180 s)."""
    rate = 1070 / 3600
    aht = 180.0
    n_c = agents_for_service_level(rate, aht, 0.8, 20)
    c = erlang_c_metrics(rate, aht, n_c, 20)
    n_a = agents_for_service_level_with_abandonment(rate, aht, 300.0, 0.8, 20)
    a = erlang_a_metrics(rate, aht, 300.0, n_a, 20)
    return (
        f"Peak hour: 1,070 calls, 180 s handle time = {rate * aht:.1f} erlangs.\n"
        f"  Erlang C: {n_c} agents for 80% in 20 s "
        f"(SL {_pct(c.service_level)}, ASA {c.asa:.1f} s, occupancy {_pct(c.occupancy)})\n"
        f"  Erlang A (callers wait 5 min on average): {n_a} agents "
        f"(SL {_pct(a.service_level)}, abandoned {_pct(a.p_abandon)})"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="cti-demo", description=__doc__.split("\n\n")[0])
    parser.add_argument("--replications", type=int, default=4, help="per strategy (default 4)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--no-serve", action="store_true", help="do not start the CTI server")
    parser.add_argument(
        "--set",
        dest="overrides",
        metavar="SECTION.KEY=VALUE",
        action="append",
        default=[],
        help="override a setting of the demo server (repeatable), e.g. server.ws_port=9000",
    )
    args = parser.parse_args(argv)
    if args.replications < 1:
        parser.error("--replications must be at least 1")

    print("OpenCC demo — everything that exists, on this machine.\n")
    print("1. Routing a busy day of three customer tiers (simulated, real routing engine):\n")
    print(routing_comparison(args.replications, args.seed))
    print("\n2. Staffing help for team leads:\n")
    print(staffing_example())
    if args.no_serve:
        return 0
    return serve_demo(args.overrides)


def serve_demo(overrides: Sequence[str]) -> int:
    """Run the CTI server on embedded SQLite with the demo contact centre until Ctrl-C."""
    import asyncio
    import contextlib

    from cti_server.app import run_server
    from shared.config import ConfigError, load_settings
    from shared.log import setup_logging

    try:
        settings = load_settings(overrides=overrides).settings
    except ConfigError as exc:
        print(f"cti-demo: configuration error: {exc}", file=sys.stderr)
        return 2
    server = settings.server
    host = "127.0.0.1" if server.host in ("0.0.0.0", "") else server.host
    print(
        "\n3. The CTI server with the demo contact centre (SQLite: "
        f"{settings.database.url}):\n"
        f"  CTI WebSocket  ws://{host}:{server.ws_port}\n"
        f"  REST admin     http://{host}:{server.http_port}/api/v1/docs  (admin 9901 / demo)\n"
        f"  health         http://{host}:{server.http_port}/health\n"
        f"  metrics        http://{host}:{server.http_port}/metrics\n"
        "  agents 1001-1010, team lead 9001, admin 9901; password 'demo'\n"
        "  Not there yet: the SIP switch and the agent desktop. Ctrl-C stops the server.\n",
        flush=True,
    )
    setup_logging("cti-server", level=settings.log.level, json_lines=settings.log.json)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run_server(settings, demo=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
