"""What every process does first: parse options, load settings, set up logging.

Each process has one composition root (its ``__main__``) that calls
:func:`start` and then wires its own objects by hand.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from shared.config import ConfigError, LoadedSettings, add_arguments, from_arguments, render
from shared.log import setup_logging

EXIT_CONFIG = 2


def parser_for(prog: str, description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description=description)
    add_arguments(parser)
    return parser


def start(
    component: str,
    parser: argparse.ArgumentParser,
    argv: Sequence[str] | None,
    sections: Sequence[str] | None = None,
) -> tuple[argparse.Namespace, LoadedSettings] | int:
    """Parse, load and log the configuration.

    Returns the parsed options and settings, or an exit code when the process
    should stop now (bad configuration, or ``--print-config``).
    """
    args = parser.parse_args(argv)
    try:
        loaded = from_arguments(args)
    except ConfigError as exc:
        print(f"{parser.prog}: configuration error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    if args.print_config:
        print(render(loaded, sections))
        return 0
    setup_logging(component, level=loaded.settings.log.level, json_lines=loaded.settings.log.json)
    logging.getLogger(component).info("configuration\n%s", render(loaded, sections))
    return args, loaded
