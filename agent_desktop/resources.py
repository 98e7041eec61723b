"""Where the desktop's data files are, from a source tree, an installed package or a
PyInstaller bundle (``sys._MEIPASS``) alike. Windows-clean: pathlib only."""

from __future__ import annotations

import sys
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent


def package_dir() -> Path:
    """The ``agent_desktop`` folder (inside the bundle when frozen)."""
    bundle = getattr(sys, "_MEIPASS", None)
    if bundle is not None:
        return Path(bundle) / "agent_desktop"
    return PACKAGE_DIR


def resource(*parts: str) -> Path:
    """A file under ``agent_desktop/resources``."""
    return package_dir().joinpath("resources", *parts)


def translation(language: str) -> Path:
    """The compiled translation of ``language`` (may not exist: English needs none)."""
    return package_dir() / "i18n" / f"opencc_desktop_{language}.qm"
