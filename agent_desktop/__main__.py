"""The agent desktop: ``python -m agent_desktop`` / ``agent-desktop``.

Shows the login dialog (server address, agent id, password, language, softphone
devices), then the main window: the fixed customer pane, the call and state bars, the
web windows (BS area) and, for team leads, the wallboard. ``--self-test`` opens the
main window offscreen, loads a web panel through the bridge, starts the softphone's
SIP library and exits 0 when all of it worked (installers run it after installing).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path

from shared.entry import parser_for, start


def prepare_qt_environment(*, offscreen: bool) -> None:
    """What must be set before Qt starts: offscreen rendering for the self-test on a
    machine without a display, and Chromium's sandbox off when running as root (it
    refuses to start otherwise; ``os.geteuid`` does not exist on Windows)."""
    if offscreen:
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        flags = os.environ.get("QTWEBENGINE_CHROMIUM_FLAGS", "")
        if "--no-sandbox" not in flags:
            os.environ["QTWEBENGINE_CHROMIUM_FLAGS"] = f"{flags} --no-sandbox".strip()


def main(argv: Sequence[str] | None = None) -> int:
    parser = parser_for("agent-desktop", "The agent desktop.")
    parser.add_argument(
        "--self-test",
        action="store_true",
        help="open the main window offscreen, load a web panel, start the softphone library, "
        "print the result and exit (0 = everything worked)",
    )
    parser.add_argument(
        "--prefs",
        type=Path,
        default=None,
        help="preferences file (default: desktop.json in the per-user configuration folder)",
    )
    parser.add_argument("--lang", choices=["en", "zh_CN"], default=None, help="UI language")
    started = start("desktop", parser, argv, sections=["log", "paths", "desktop"])
    if isinstance(started, int):
        return started
    args, loaded = started
    prepare_qt_environment(offscreen=args.self_test)
    if args.self_test:
        from agent_desktop.selftest import run_self_test

        return run_self_test(loaded.settings.desktop, language=args.lang or "en")
    from agent_desktop.ui.app import run_desktop

    return run_desktop(loaded.settings.desktop, prefs_path=args.prefs, language=args.lang)


if __name__ == "__main__":
    sys.exit(main())
