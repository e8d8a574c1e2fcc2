"""A server-side SVG line plot for the status page: log growth (tree size at each checkpoint)
and anchoring cost (satoshis spent, cumulative) over time, on one time axis with a y axis each.

No JavaScript and no plotting library: a few polylines and labels in an inline <svg>. Every
label is escaped; numbers are formatted here.
"""

from __future__ import annotations

import datetime
from html import escape

WIDTH, HEIGHT = 720, 260
# Margins leave room for the axis labels: left and right axes, the time axis below.
LEFT, RIGHT, TOP, BOTTOM = 64, 72, 28, 36
GROWTH_COLOUR = "#1f6feb"
COST_COLOUR = "#d1242f"
# Points drawn per series: a long-lived log has millions of checkpoints; a plot 600 px wide
# shows no more than this many anyway.
MAX_POINTS = 600


def _thin(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    if len(points) <= MAX_POINTS:
        return points
    step = len(points) / MAX_POINTS
    kept = [points[int(i * step)] for i in range(MAX_POINTS)]
    return kept + [points[-1]]


def _when(ts: float) -> str:
    return datetime.datetime.fromtimestamp(ts, datetime.timezone.utc).strftime("%m-%d %H:%M:%S")


def _scale(value: float, lo: float, hi: float, a: float, b: float) -> float:
    return a if hi <= lo else a + (value - lo) * (b - a) / (hi - lo)


def _polyline(points, t0, t1, ymax, colour, label) -> str:
    if not points:
        return ""
    xs = [(_scale(t, t0, t1, LEFT, WIDTH - RIGHT), _scale(v, 0, ymax, HEIGHT - BOTTOM, TOP))
          for t, v in _thin(points)]
    # A step line: each value holds until the next one.
    path, prev = [], None
    for x, y in xs:
        if prev is not None:
            path.append(f"{x:.1f},{prev:.1f}")
        path.append(f"{x:.1f},{y:.1f}")
        prev = y
    return (f'<polyline class="series" data-series="{escape(label)}" fill="none" '
            f'stroke="{colour}" stroke-width="2" points="{" ".join(path)}"/>')


def _axes(t0, t1, growth_max, cost_max) -> list[str]:
    base, right = HEIGHT - BOTTOM, WIDTH - RIGHT
    out = [f'<line x1="{LEFT}" y1="{base}" x2="{right}" y2="{base}" stroke="#888"/>',
           f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{base}" stroke="{GROWTH_COLOUR}"/>',
           f'<line x1="{right}" y1="{TOP}" x2="{right}" y2="{base}" stroke="{COST_COLOUR}"/>']
    for frac in (0.0, 0.5, 1.0):
        y = _scale(frac, 0, 1, base, TOP)
        out.append(f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" '
                   f'fill="{GROWTH_COLOUR}">{int(growth_max * frac):,}</text>')
        out.append(f'<text x="{right + 6}" y="{y + 4:.1f}" fill="{COST_COLOUR}">'
                   f'{int(cost_max * frac):,}</text>')
    for frac, anchor in ((0.0, "start"), (1.0, "end")):
        t = t0 + (t1 - t0) * frac
        x = _scale(frac, 0, 1, LEFT, right)
        out.append(f'<text x="{x:.1f}" y="{base + 18}" text-anchor="{anchor}" fill="#555">'
                   f'{escape(_when(t))} UTC</text>')
    return out


def growth_and_cost(growth: list[tuple[float, float]], cost: list[tuple[float, float]]) -> str:
    """``growth``: (time, tree size) per checkpoint; ``cost``: (time, cumulative sat) per anchor
    in a block. Both sorted by time. Returns an <svg> element."""
    times = [t for t, _ in growth] + [t for t, _ in cost]
    if not times:
        return ('<svg class="plot" role="img" width="%d" height="60"><text x="10" y="30">'
                'No checkpoints or anchors yet.</text></svg>' % WIDTH)
    t0, t1 = min(times), max(times)
    if t1 <= t0:
        t1 = t0 + 1.0
    growth_max = max([v for _, v in growth] + [1])
    cost_max = max([v for _, v in cost] + [1])
    parts = [f'<svg class="plot" role="img" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" '
             f'height="{HEIGHT}" xmlns="http://www.w3.org/2000/svg" font-family="sans-serif" '
             'font-size="11"><title>Log growth and anchoring cost over time</title>']
    parts += _axes(t0, t1, growth_max, cost_max)
    parts.append(_polyline(growth, t0, t1, growth_max, GROWTH_COLOUR, "log entries"))
    parts.append(_polyline(cost, t0, t1, cost_max, COST_COLOUR, "anchoring cost (sat)"))
    parts.append(f'<text x="{LEFT}" y="16" fill="{GROWTH_COLOUR}">log entries (tree size)'
                 f'</text><text x="{WIDTH - RIGHT}" y="16" text-anchor="end" '
                 f'fill="{COST_COLOUR}">anchoring cost, sat (cumulative)</text></svg>')
    return "".join(parts)


__all__ = ["growth_and_cost"]
