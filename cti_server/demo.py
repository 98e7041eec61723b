"""The demo launcher: ``cti-demo`` (what ``scripts/demo.sh`` runs).

It runs everything that exists, locally:

1. the routing engine in the simulator: one busy day of a three-tier contact
   centre routed FIFO, by static priority and by service-level gap, with each
   tier's service level against its target (R-ROUTE-2, R-TIER-3);
2. the staffing calculator for the peak hour (Erlang C and Erlang A);
3. the CTI server (WebSocket CTI protocol, REST admin API, health, metrics) on
   embedded SQLite with demo agents and customers, and beside it the switch
   (``cti-switch --demo`` as its own process: rtpengine, SIP registrar for the demo
   softphones, IVR, queues) linked to it, until Ctrl-C (``--no-serve`` skips both,
   ``--no-switch`` the switch).
"""

from __future__ import annotations

import argparse
import asyncio
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
from shared.config import Settings

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
        "--no-switch", action="store_true", help="start the CTI server without the switch"
    )
    parser.add_argument(
        "--no-desktop",
        action="store_true",
        help="do not open the agent desktop (it opens only where there is a display)",
    )
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
    return serve_demo(
        args.overrides, with_switch=not args.no_switch, with_desktop=not args.no_desktop
    )


def has_display() -> bool:
    """A screen the desktop can open on (Windows, or X11 / Wayland on Linux)."""
    import os

    return sys.platform == "win32" or bool(
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    )


def desktop_command(settings: Settings) -> list[str]:
    """The agent desktop pointed at the demo server and switch (agent 1001 / demo)."""
    server, switch = settings.server, settings.switch
    host = "127.0.0.1" if server.host in ("0.0.0.0", "") else server.host
    sip_host = "127.0.0.1" if switch.sip_host in ("0.0.0.0", "") else switch.sip_host
    return [
        sys.executable,
        "-m",
        "agent_desktop",
        "--set",
        f"desktop.server_url=ws://{host}:{server.ws_port}",
        "--set",
        f"desktop.web_url=http://{host}:{server.http_port}",
        "--set",
        f"desktop.sip_registrar={sip_host}:{switch.sip_port}",
    ]


def serve_demo(
    overrides: Sequence[str], *, with_switch: bool = True, with_desktop: bool = True
) -> int:
    """Run the CTI server on embedded SQLite with the demo contact centre, and beside it
    the switch (``cti-switch --demo``, its own process, as in production), until Ctrl-C."""
    import asyncio
    import contextlib

    from shared.config import ConfigError, load_settings
    from shared.log import setup_logging

    try:
        settings = load_settings(overrides=overrides).settings
    except ConfigError as exc:
        print(f"cti-demo: configuration error: {exc}", file=sys.stderr)
        return 2
    server = settings.server
    host = "127.0.0.1" if server.host in ("0.0.0.0", "") else server.host
    switch = settings.switch
    sip_host = "127.0.0.1" if switch.sip_host in ("0.0.0.0", "") else switch.sip_host
    switch_lines = (
        f"  switch (SIP)   sip:{sip_host}:{switch.sip_port} (UDP/TCP), softphones 1001-1010 /"
        " password 'demo'; call any number to reach the IVR\n"
        if with_switch
        else "  switch         not started (--no-switch)\n"
    )
    open_desktop = with_desktop and with_switch and has_display()
    desktop_line = (
        "  agent desktop  opening (log in as 1001 / demo; team lead 9001 sees the wallboard)\n"
        if open_desktop
        else "  agent desktop  "
        + " ".join(["python", "-m", "agent_desktop", *desktop_command(settings)[3:]])
        + "\n                 (no display here: run it where there is one; 1001 / demo)\n"
    )
    print(
        "\n3. The CTI server with the demo contact centre (SQLite: "
        f"{settings.database.url}):\n"
        f"  CTI WebSocket  ws://{host}:{server.ws_port}\n"
        f"  REST admin     http://{host}:{server.http_port}/api/v1/docs  (admin 9901 / demo)\n"
        f"  health         http://{host}:{server.http_port}/health\n"
        f"  metrics        http://{host}:{server.http_port}/metrics\n"
        f"  web panels     http://{host}:{server.http_port}/ui/  (agent 1001, back office 8001)\n"
        "  agents 1001-1010, team lead 9001, admin 9901; password 'demo'\n"
        f"{switch_lines}"
        f"{desktop_line}"
        "  Ctrl-C stops everything.\n",
        flush=True,
    )
    setup_logging("cti-server", level=settings.log.level, json_lines=settings.log.json)
    ws_url = f"ws://{host}:{server.ws_port}"
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(
            _serve(settings, overrides, ws_url if with_switch else None, desktop=open_desktop)
        )
    return 0


async def _serve(
    settings: Settings,
    overrides: Sequence[str],
    switch_cti_url: str | None,
    *,
    desktop: bool = False,
) -> None:
    import asyncio
    import contextlib

    from cti_server.app import run_server

    ready = asyncio.Event()
    server = asyncio.create_task(run_server(settings, demo=True, ready=ready))
    switch: asyncio.subprocess.Process | None = None
    window: asyncio.subprocess.Process | None = None
    try:
        done, _ = await asyncio.wait(
            {server, asyncio.create_task(ready.wait())}, return_when=asyncio.FIRST_COMPLETED
        )
        if server in done:
            await server  # start-up failed: let its error surface
            return
        if switch_cti_url is not None:
            switch = await start_demo_switch(overrides, switch_cti_url)
        if desktop and switch is not None:
            try:
                window = await asyncio.create_subprocess_exec(*desktop_command(settings))
            except OSError as exc:
                print(f"cti-demo: the agent desktop did not start: {exc}", file=sys.stderr)
        await server
    finally:
        if window is not None:
            await stop_process(window)
        if switch is not None:
            await stop_process(switch)
        if not server.done():
            server.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await server


def switch_command(overrides: Sequence[str], cti_url: str) -> list[str]:
    """The demo switch's command line: the demo SIP users, linked to the demo server.

    Only the ``switch.``, ``paths.`` and ``log.`` overrides of the demo are passed on."""
    command = [sys.executable, "-m", "cti_server.switch", "--demo"]
    command += ["--set", f"switch.cti_url={cti_url}"]
    for item in overrides:
        if item.startswith(("switch.", "log.", "paths.")) and not item.startswith(
            "switch.cti_url="
        ):
            command += ["--set", item]
    return command


async def start_demo_switch(
    overrides: Sequence[str], cti_url: str
) -> asyncio.subprocess.Process | None:
    """Start the switch as its own process (its output goes to this terminal).

    A switch that cannot start (rtpengine missing, SIP port taken) leaves the CTI
    server running and says why."""
    import asyncio

    command = switch_command(overrides, cti_url)
    try:
        proc = await asyncio.create_subprocess_exec(*command)
    except OSError as exc:
        print(f"cti-demo: the switch did not start: {exc}", file=sys.stderr, flush=True)
        return None
    try:
        code = await asyncio.wait_for(proc.wait(), timeout=3.0)
    except TimeoutError:
        return proc
    print(
        f"cti-demo: the switch stopped at start-up (exit {code}); see its messages above. "
        "The CTI server goes on without it.",
        file=sys.stderr,
        flush=True,
    )
    return None


async def stop_process(proc: asyncio.subprocess.Process, timeout: float = 15.0) -> None:
    """SIGTERM (the switch hangs up its calls and stops), then kill after ``timeout``."""
    import asyncio
    import contextlib

    if proc.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        proc.terminate()
    try:
        await asyncio.wait_for(proc.wait(), timeout)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()


if __name__ == "__main__":
    sys.exit(main())
