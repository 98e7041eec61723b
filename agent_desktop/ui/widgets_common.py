"""Small helpers shared by the desktop widgets (formatting, colours, the clock)."""

from __future__ import annotations

import time
from collections.abc import Callable

from PySide6.QtGui import QColor

Clock = Callable[[], float]
"""Returns the current epoch seconds; widgets take one so tests can move time."""

wall_clock: Clock = time.time

TIER_COLOURS: dict[str, str] = {
    "vip": "#8e24aa",
    "gold": "#c79100",
    "normal": "#607d8b",
}
DEFAULT_TIER_COLOUR = "#455a64"


def tier_colour(tier: str | None) -> QColor:
    """The badge colour of a customer tier (unknown tiers get a neutral colour)."""
    return QColor(TIER_COLOURS.get((tier or "").lower(), DEFAULT_TIER_COLOUR))


def format_duration(seconds: float) -> str:
    """``m:ss`` below an hour, ``h:mm:ss`` above; negative durations count as zero."""
    total = max(0, int(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}:{minutes:02d}:{secs:02d}"
    return f"{minutes}:{secs:02d}"


def badge_style(colour: QColor) -> str:
    """Style sheet of a small rounded label on ``colour`` with white text."""
    return (
        f"background-color: {colour.name()}; color: white; border-radius: 4px;"
        " padding: 1px 6px; font-weight: bold;"
    )
