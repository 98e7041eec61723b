"""The CTI server: ``python -m cti_server`` / ``cti-server``.

The composition root wires the WebSocket CTI endpoint, the routing engine, the
store and the HTTP side. Until those are assembled this entry point loads and
prints its configuration and says plainly that the server is not built yet.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence

from shared.entry import parser_for, start

EXIT_NOT_BUILT = 3


def main(argv: Sequence[str] | None = None) -> int:
    parser = parser_for("cti-server", "The CTI server: agents, calls, routing, persistence.")
    started = start("cti-server", parser, argv, sections=["log", "paths", "database", "server"])
    if isinstance(started, int):
        return started
    logging.getLogger("cti-server").error(
        "the CTI server is not assembled yet: it arrives with the CTI server issue"
    )
    return EXIT_NOT_BUILT


if __name__ == "__main__":
    sys.exit(main())
