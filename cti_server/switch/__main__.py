"""The switch (排队机): ``python -m cti_server.switch`` / ``cti-switch``.

Owns every SIP dialog and all media. Its SIP front, rtpengine adapter, IVR,
queueing and survivable fallback ACD are not built yet; until they are, this
entry point loads and prints its configuration and says so plainly.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence

from shared.entry import parser_for, start

EXIT_NOT_BUILT = 3


def main(argv: Sequence[str] | None = None) -> int:
    parser = parser_for("cti-switch", "The switch: SIP trunk and registrar, IVR, queues, media.")
    started = start("switch", parser, argv, sections=["log", "paths", "switch"])
    if isinstance(started, int):
        return started
    logging.getLogger("switch").error(
        "the switch is not built yet: SIP, media and fallback ACD arrive with the switch issue"
    )
    return EXIT_NOT_BUILT


if __name__ == "__main__":
    sys.exit(main())
