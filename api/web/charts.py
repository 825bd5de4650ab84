"""Server-side SVG chart of a customer's usage: blocks per day, stacked by zone.

The chart is plain SVG markup placed inline in the page, so it needs no
script and no charting library. Colours come from CSS classes (``zone-1``,
``zone-2``, ``zone-none``) shared with the week grid of the rates page.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from markupsafe import Markup, escape

from api.web.queries import DayUsage

WIDTH: Final = 720
HEIGHT: Final = 240
LEFT: Final = 36
RIGHT: Final = 8
TOP: Final = 12
BOTTOM: Final = 28
# Bottom to top: the order in which a day's blocks are stacked.
STACK_ORDER: Final[tuple[int | None, ...]] = (1, 2, None)


def _zone_class(zone: int | None) -> str:
    return "zone-none" if zone is None else f"zone-{zone}"


def _nice_maximum(value: int) -> int:
    """Round the tallest bar up to a value that gives whole-number grid lines."""
    for step in (4, 8, 12, 20, 40, 60, 100, 200, 400):
        if value <= step:
            return step
    return -(-value // 100) * 100


def usage_svg(days: Sequence[DayUsage], title: str, day_labels: Sequence[str]) -> Markup:
    """Draw the stacked bar chart; day_labels gives the x-axis text for each day."""
    assert len(day_labels) == len(days)
    maximum = _nice_maximum(max((day.total_blocks for day in days), default=0))
    plot_width = WIDTH - LEFT - RIGHT
    plot_height = HEIGHT - TOP - BOTTOM
    slot = plot_width / max(1, len(days))
    bar_width = max(2.0, slot * 0.7)

    parts: list[str] = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-labelledby="usage-title" '
        f'xmlns="http://www.w3.org/2000/svg"><title id="usage-title">{escape(title)}</title>'
    ]

    for fraction in (0, 0.25, 0.5, 0.75, 1):
        value = maximum * fraction
        y = TOP + plot_height * (1 - fraction)
        parts.append(f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}"/>')
        label = f"{value:g}"
        parts.append(f'<text class="axis" x="{LEFT - 4}" y="{y + 4:.1f}" text-anchor="end">{label}</text>')

    for index, day in enumerate(days):
        x = LEFT + slot * index + (slot - bar_width) / 2
        bottom = float(TOP + plot_height)
        for zone in STACK_ORDER:
            count = day.blocks.get(zone, 0)
            if not count:
                continue
            height = plot_height * count / maximum
            bottom -= height
            parts.append(
                f'<rect class="{_zone_class(zone)}" x="{x:.1f}" y="{bottom:.1f}" '
                f'width="{bar_width:.1f}" height="{height:.1f}"><title>{escape(day_labels[index])}: '
                f"{count}</title></rect>"
            )
        # Every fifth day gets a label, so the axis stays readable on a phone.
        if index % 5 == 0 or index == len(days) - 1:
            centre = LEFT + slot * index + slot / 2
            parts.append(
                f'<text class="axis" x="{centre:.1f}" y="{HEIGHT - 8}" text-anchor="middle">'
                f"{escape(day.day.strftime('%d-%m'))}</text>"
            )

    parts.append("</svg>")
    # Every text placed in the markup above went through escape(); the rest are numbers.
    return Markup("".join(parts))  # noqa: S704
