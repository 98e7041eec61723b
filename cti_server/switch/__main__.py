"""The switch (排队机): ``python -m cti_server.switch`` / ``cti-switch``.

Runs a :class:`~cti_server.switch.core.SwitchApp`: its own rtpengine, SIP on
``switch.sip_host:switch.sip_port`` (UDP and TCP) with a registrar for the agents'
softphones, the IVR, queues with music on hold and bridging. Agents' SIP
passwords come from ``--sip-users FILE`` (TOML, ``user = "password"``) and/or
``--demo`` (agents 1001-1010, password ``demo``).

Decisions are taken in **standalone (no-CTI) mode** for now
(:class:`~cti_server.switch.core.StandaloneDecider`: default flow, one FIFO over
the registered agents); the CTI link's failover decider replaces it once wired
into this composition root. SIGINT/SIGTERM hang up every call and stop cleanly.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
import tomllib
from collections.abc import Sequence
from pathlib import Path

from cti_server.switch.core import StandaloneDecider, SwitchApp, SwitchAppConfig
from cti_server.switch.media.process import RtpEngineConfig, RtpEngineError
from cti_server.switch.sip import Ha1
from shared.config import Settings
from shared.entry import parser_for, start

log = logging.getLogger("switch")

EXIT_START_FAILED = 1
EXIT_BAD_USERS = 2
DEMO_AGENTS = {str(n): "demo" for n in range(1001, 1011)}
ROOT = Path(__file__).resolve().parents[2]


class SipUsersError(ValueError):
    """The ``--sip-users`` file is unreadable or not ``user = "password"`` lines."""


def load_sip_users(path: Path) -> dict[str, str]:
    """Read a TOML file of ``user = "password"`` pairs."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise SipUsersError(f"cannot read SIP users from {path}: {exc}") from exc
    users: dict[str, str] = {}
    for user, password in data.items():
        if not isinstance(password, str) or not password:
            raise SipUsersError(f"{path}: {user!r} needs a non-empty password string")
        users[str(user)] = password
    return users


def app_config(settings: Settings) -> SwitchAppConfig:
    switch = settings.switch
    data_dir = Path(settings.paths.data_dir)
    ng_host, _, ng_port = switch.rtpengine_ng.rpartition(":")
    return SwitchAppConfig(
        prompts_dir=ROOT / "resources" / "prompts",
        moh_file=data_dir / "moh" / "default.wav",
        sip_host=switch.sip_host,
        sip_port=switch.sip_port,
        bindings_file=data_dir / "switch" / "bindings.json",
        rtpengine=RtpEngineConfig(
            interface=switch.sip_host if switch.sip_host != "0.0.0.0" else "127.0.0.1",
            ng_host=ng_host or "127.0.0.1",
            ng_port=int(ng_port) if ng_port.isdigit() else 0,
        ),
        recordings_dir=Path(switch.recordings_dir),
    )


async def run_switch(settings: Settings, users: dict[str, str]) -> int:
    async def credentials(user: str) -> str | Ha1 | None:
        return users.get(user)

    decider = StandaloneDecider()
    config = app_config(settings)
    (Path(settings.paths.data_dir) / "switch").mkdir(parents=True, exist_ok=True)
    app = SwitchApp(config, decider, credentials, attach=decider.attach)
    try:
        await app.start()
    except (RtpEngineError, OSError) as exc:
        log.error("the switch could not start: %s", exc)
        return EXIT_START_FAILED
    host, port = app.sip_address
    log.warning(
        "switch ready on sip:%s:%d in standalone (no-CTI) mode: %d SIP user(s)",
        host,
        port,
        len(users),
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        log.info("stopping the switch")
        await app.stop()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = parser_for("cti-switch", "The switch: SIP trunk and registrar, IVR, queues, media.")
    parser.add_argument(
        "--sip-users",
        type=Path,
        metavar="FILE",
        help='TOML file of agent SIP users: user = "password" per line',
    )
    parser.add_argument(
        "--demo",
        action="store_true",
        help="let the demo agents 1001-1010 register with password 'demo'",
    )
    started = start("switch", parser, argv, sections=["log", "paths", "switch"])
    if isinstance(started, int):
        return started
    args, loaded = started
    users: dict[str, str] = dict(DEMO_AGENTS) if args.demo else {}
    if args.sip_users is not None:
        try:
            users.update(load_sip_users(args.sip_users))
        except SipUsersError as exc:
            print(f"cti-switch: {exc}", file=sys.stderr)
            return EXIT_BAD_USERS
    if not users:
        log.warning("no SIP users (--sip-users FILE or --demo): no agent can register")
    return asyncio.run(run_switch(loaded.settings, users))


if __name__ == "__main__":
    sys.exit(main())
