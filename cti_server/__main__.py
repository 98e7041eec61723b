"""The CTI server: ``python -m cti_server`` / ``cti-server``.

Loads the settings, migrates the database (``database.url``; SQLite in the data
folder by default), seeds the demo contact centre with ``--demo`` (or only into an
empty database with ``--seed-if-empty``), then serves the WebSocket CTI protocol for
desktops, supervisors and switches until SIGINT/SIGTERM. See docs/cti_server.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from collections.abc import Sequence

from shared.entry import parser_for, start

EXIT_FAILED = 1


def main(argv: Sequence[str] | None = None) -> int:
    parser = parser_for("cti-server", "The CTI server: agents, calls, routing, persistence.")
    parser.add_argument(
        "--demo",
        action="store_true",
        help="seed the demo contact centre (agents 1001-1010, team lead 9001, admin 9901, "
        "password 'demo'; idempotent)",
    )
    parser.add_argument(
        "--seed-if-empty",
        action="store_true",
        help="seed the demo contact centre only when the database has no agents yet",
    )
    started = start("cti-server", parser, argv, sections=["log", "paths", "database", "server"])
    if isinstance(started, int):
        return started
    args, loaded = started
    from cti_server.app import run_server  # after logging is configured

    log = logging.getLogger("cti-server")
    try:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(
                run_server(loaded.settings, demo=args.demo, seed_if_empty=args.seed_if_empty)
            )
    except OSError as exc:
        log.error("cannot start the CTI server: %s", exc)
        return EXIT_FAILED
    except Exception:
        log.exception("the CTI server failed")
        return EXIT_FAILED
    return 0


if __name__ == "__main__":
    sys.exit(main())
