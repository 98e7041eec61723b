"""The agent desktop: ``python -m agent_desktop`` / ``agent-desktop``.

The Qt window, softphone and web windows are not built yet; the Qt-free state
model they will observe lives in :mod:`agent_desktop.model`. Until the window
exists this entry point loads and prints its configuration and says so.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence

from shared.entry import parser_for, start

EXIT_NOT_BUILT = 3


def main(argv: Sequence[str] | None = None) -> int:
    parser = parser_for("agent-desktop", "The agent desktop.")
    started = start("desktop", parser, argv, sections=["log", "paths", "desktop"])
    if isinstance(started, int):
        return started
    logging.getLogger("desktop").error(
        "the desktop window is not built yet: it arrives with the agent desktop issue"
    )
    return EXIT_NOT_BUILT


if __name__ == "__main__":
    sys.exit(main())
