"""``cti-sim`` / ``python -m cti_server.sim``: run a scenario file and print per-tier tables."""

from __future__ import annotations

import argparse
import sys

from cti_server.routing.errors import RoutingError
from cti_server.sim.report import format_summary, summarize, write_csv
from cti_server.sim.scenario import STRATEGIES, ScenarioError, load_scenario
from cti_server.sim.simulator import simulate


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="cti-sim",
        description=(
            "Discrete-event contact-centre simulation driving the real routing engine. "
            "Prints service level, ASA, abandonment and occupancy per tier and per queue "
            "with confidence intervals over replications."
        ),
    )
    p.add_argument("scenario", help="scenario file (TOML, see docs/simulator.md)")
    p.add_argument("--replications", "-n", type=int, help="number of replications (>= 1)")
    p.add_argument("--seed", type=int, help="base random seed (default: the scenario's)")
    p.add_argument("--strategy", choices=STRATEGIES, help="call selection strategy override")
    p.add_argument("--csv", metavar="PATH", help="also write the summary to this CSV file")
    p.add_argument(
        "--confidence", type=float, default=0.95, help="confidence level of the CIs (default 0.95)"
    )
    p.add_argument("--markdown", action="store_true", help="print Markdown tables")
    p.add_argument(
        "--explain",
        action="store_true",
        help=(
            "let the engine build the explanation of every decision, as the live server "
            "does (same results, about 2x slower; the simulator does not print them)"
        ),
    )
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the process exit code (2 for bad input)."""
    args = _parser().parse_args(argv)
    if args.replications is not None and args.replications < 1:
        print(
            f"cti-sim: error: --replications must be >= 1, got {args.replications}", file=sys.stderr
        )
        return 2
    if not 0.0 < args.confidence < 1.0:
        print(
            f"cti-sim: error: --confidence must be in (0, 1), got {args.confidence}",
            file=sys.stderr,
        )
        return 2
    try:
        scenario = load_scenario(args.scenario)
        run = simulate(
            scenario,
            replications=args.replications,
            seed=args.seed,
            strategy=args.strategy,
            explain=args.explain,
        )
    except ScenarioError as exc:
        print(f"cti-sim: error: {exc}", file=sys.stderr)
        return 2
    except RoutingError as exc:
        print(
            f"cti-sim: error: {args.scenario}: the routing engine rejected the scenario: {exc}",
            file=sys.stderr,
        )
        return 2
    summary = summarize(run, args.confidence)
    print(format_summary(summary, markdown=args.markdown))
    if args.csv:
        try:
            write_csv(summary, args.csv)
        except OSError as exc:
            print(
                f"cti-sim: error: cannot write {args.csv}: {exc.strerror or exc}", file=sys.stderr
            )
            return 1
        print(f"\nCSV written to {args.csv}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
