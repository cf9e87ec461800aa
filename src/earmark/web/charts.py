"""Charts as inline SVG, drawn on the server: no chart library, nothing fetched by the page.

Each function returns :class:`markupsafe.Markup` a template inserts as it is; every text in it
is escaped here.
"""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import urlencode

from markupsafe import Markup, escape

#: Line colours of :func:`line_chart`'s series, in order.
SERIES_COLOURS = ("#2c6bed", "#e07b00", "#2ca02c", "#b00020")


def bar_chart(rows: Sequence[tuple[str, int]], *, link: str | None = None,
              width: int = 520) -> Markup:
    """Horizontal bars, one per ``(label, count)`` in the order given, each labelled with its
    count; with ``link`` (a query parameter name), each bar links to ``/?{link}={label}``."""
    bar_height, gap, label_width = 18, 6, 150
    height = max(1, len(rows)) * (bar_height + gap) + gap
    top = max((n for _, n in rows), default=0) or 1
    span = width - label_width - 60
    parts = [f'<svg class="bars" role="img" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}">']
    for k, (label, n) in enumerate(rows):
        y = gap + k * (bar_height + gap)
        length = max(1.0, span * n / top)
        bar = (f'<text x="{label_width - 6}" y="{y + 13}" text-anchor="end">{escape(label)}</text>'
               f'<rect x="{label_width}" y="{y}" width="{length:.1f}" height="{bar_height}" '
               f'fill="{SERIES_COLOURS[0]}"><title>{escape(label)}: {n}</title></rect>'
               f'<text x="{label_width + length + 4:.1f}" y="{y + 13}">{n}</text>')
        if link:
            href = "/?" + urlencode({link: label})
            bar = f'<a href="{escape(href)}">{bar}</a>'
        parts.append(bar)
    parts.append("</svg>")
    return Markup("".join(parts))


def line_chart(series: dict[str, Sequence[float | None]], tips: Sequence[str], *,
               width: int = 520, height: int = 220, low: float = 0.0,
               high: float = 1.0) -> Markup:
    """Lines over the points ``0 .. n-1`` (one per named series, values between ``low`` and
    ``high``; ``None`` is a gap), with a legend, grid lines at quarters of the range and
    ``tips[i]`` as the hover text of each point ``i``."""
    left, right, top, bottom = 40, 12, 30, 28
    n = max((len(values) for values in series.values()), default=0)
    plot_w, plot_h = width - left - right, height - top - bottom

    def x(i: int) -> float:
        return left + (plot_w * i / (n - 1) if n > 1 else plot_w / 2)

    def y(v: float) -> float:
        return top + plot_h * (1 - (v - low) / (high - low))

    parts = [f'<svg class="curve" role="img" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}">']
    for quarter in range(5):
        v = low + (high - low) * quarter / 4
        parts.append(f'<line x1="{left}" x2="{width - right}" y1="{y(v):.1f}" y2="{y(v):.1f}" '
                     f'stroke="#e2e2e6"/><text x="{left - 4}" y="{y(v) + 4:.1f}" '
                     f'text-anchor="end">{v:.2f}</text>')
    # The first and last retrains are labelled under their points (one retrain: under the
    # single point, in the middle), so a label never names a place without a point.
    for i, anchor in ([(0, "middle")] if n == 1 else [(0, "start"), (n - 1, "end")] if n else []):
        parts.append(f'<text class="x-label" x="{x(i):.1f}" y="{height - 8}" '
                     f'text-anchor="{anchor}">retrain {i + 1}</text>')
    for k, (name, values) in enumerate(series.items()):
        colour = SERIES_COLOURS[k % len(SERIES_COLOURS)]
        points = [(i, v) for i, v in enumerate(values) if v is not None]
        if len(points) > 1:
            path = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in points)
            parts.append(f'<polyline points="{path}" fill="none" stroke="{colour}" '
                         'stroke-width="2"/>')
        for i, v in points:
            parts.append(f'<circle cx="{x(i):.1f}" cy="{y(v):.1f}" r="3.5" fill="{colour}">'
                         f'<title>{escape(name)} {v:.3f}: {escape(tips[i])}</title></circle>')
        parts.append(f'<rect x="{left + 130 * k}" y="6" width="10" height="10" '
                     f'fill="{colour}"/><text x="{left + 14 + 130 * k}" y="15">'
                     f'{escape(name)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))
