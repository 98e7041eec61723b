"""Server-rendered SVG charts for the report pages.

The pages' CSP forbids inline scripts and ``style`` attributes, so charts are plain SVG
markup with presentation attributes (``fill``, ``x``, ``height`` …) and a ``<title>`` per
bar or cell as its tooltip. Colours come from CSS classes in ``static/reports.css`` where
possible. Every text is escaped.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from markupsafe import Markup

WIDTH = 880
HEIGHT = 260
_LEFT, _RIGHT, _TOP, _BOTTOM = 48, 12, 16, 64


def _num(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def bar_chart(
    points: Sequence[tuple[str, float | None]],
    *,
    title: str,
    unit: str = "",
    maximum: float | None = None,
    target: float | None = None,
    target_label: str = "",
    css_id: str = "",
) -> Markup:
    """Vertical bars, one per ``(label, value)``; ``None`` draws no bar (no data).

    ``maximum`` fixes the scale (100 for percentages); ``target`` draws a dashed line."""
    values = [v for _l, v in points if v is not None]
    top: float = maximum if maximum is not None else max([*values, target or 0.0, 1.0])
    plot_w = WIDTH - _LEFT - _RIGHT
    plot_h = HEIGHT - _TOP - _BOTTOM
    n = max(1, len(points))
    slot = plot_w / n
    bar_w = max(1.0, slot * 0.75)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="rpt-chart" role="img" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" width="100%" preserveAspectRatio="xMidYMid meet"'
        + (f' id="{escape(css_id)}"' if css_id else "")
        + f' aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
    ]
    for i in range(5):  # grid lines and axis labels
        tick = top * i / 4
        y = _TOP + plot_h - plot_h * i / 4
        parts.append(
            f'<line class="rpt-grid" x1="{_LEFT}" x2="{WIDTH - _RIGHT}" y1="{y:.1f}" '
            f'y2="{y:.1f}" stroke="#ddd" stroke-width="1"/>'
            f'<text class="rpt-axis" x="{_LEFT - 4}" y="{y + 4:.1f}" text-anchor="end" '
            f'font-size="11">{escape(_num(tick))}{escape(unit)}</text>'
        )
    every = max(1, n // 24)
    for i, (label, value) in enumerate(points):
        x = _LEFT + i * slot + (slot - bar_w) / 2
        if value is not None:
            h = 0.0 if top <= 0 else plot_h * min(value, top) / top
            h = max(h, 1.5)  # a zero still shows as a sliver: the interval had calls
            y = _TOP + plot_h - h
            parts.append(
                f'<rect class="rpt-bar" x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" '
                f'height="{h:.1f}" fill="#2f6db5" data-label="{escape(label)}" '
                f'data-value="{escape(_num(value))}">'
                f"<title>{escape(label)}: {escape(_num(value))}{escape(unit)}</title></rect>"
            )
        if i % every == 0:
            tx = x + bar_w / 2
            ty = HEIGHT - _BOTTOM + 12
            parts.append(
                f'<text class="rpt-axis" x="{tx:.1f}" y="{ty}" font-size="10" '
                f'text-anchor="end" transform="rotate(-45 {tx:.1f} {ty})">'
                f"{escape(label[-11:] if len(label) > 11 else label)}</text>"
            )
    if target is not None and top > 0:
        y = _TOP + plot_h - plot_h * min(target, top) / top
        parts.append(
            f'<line class="rpt-target" x1="{_LEFT}" x2="{WIDTH - _RIGHT}" y1="{y:.1f}" '
            f'y2="{y:.1f}" stroke="#c0392b" stroke-width="2" stroke-dasharray="6 4">'
            f"<title>{escape(target_label)}: {escape(_num(target))}{escape(unit)}</title></line>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def heat_chart(grid: Sequence[Sequence[int]], row_labels: Sequence[str], *, title: str) -> Markup:
    """A weekday × hour heat map: darker cells had more calls."""
    cell, left, top = 30, 64, 20
    rows, cols = len(grid), len(grid[0]) if grid else 0
    width, height = left + cols * cell + 8, top + rows * cell + 8
    peak = max((max(r) for r in grid if r), default=0) or 1
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="rpt-heat" role="img" '
        f'viewBox="0 0 {width} {height}" width="100%" aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
    ]
    for c in range(cols):
        parts.append(
            f'<text x="{left + c * cell + cell / 2}" y="{top - 6}" font-size="10" '
            f'text-anchor="middle">{c:02d}</text>'
        )
    for r, row in enumerate(grid):
        y = top + r * cell
        parts.append(
            f'<text x="{left - 6}" y="{y + cell / 2 + 4}" font-size="11" '
            f'text-anchor="end">{escape(row_labels[r])}</text>'
        )
        for c, count in enumerate(row):
            share = count / peak
            # white → blue, by share of the busiest cell
            red = int(255 - 208 * share)
            green = int(255 - 146 * share)
            blue = int(255 - 74 * share)
            parts.append(
                f'<rect class="rpt-cell" x="{left + c * cell}" y="{y}" width="{cell - 2}" '
                f'height="{cell - 2}" fill="rgb({red},{green},{blue})" '
                f'data-count="{count}"><title>{escape(row_labels[r])} {c:02d}:00 — '
                f"{count}</title></rect>"
            )
    parts.append("</svg>")
    return Markup("".join(parts))
