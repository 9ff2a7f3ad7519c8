"""Charts drawn on the server as inline SVG: no JavaScript, no files from elsewhere, nothing a strict CSP blocks.

Colours and fonts are SVG presentation attributes (fill="…", font-size="…"), never style="…",
which a Content-Security-Policy without 'unsafe-inline' refuses. Every chart names itself with a
<title> and <desc> for screen readers, and every bar and point has a <title> tooltip; the page
shows a table of the same numbers next to it. Numbers are formatted by the caller's function so
that they follow the reader's locale.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

WIDTH = 720
PLOT_HEIGHT = 220
LEFT, RIGHT, BOTTOM = 64, 16, 56
LEGEND_ROW = 20
CHAR_WIDTH = 7  # a rough width of one character at font-size 12, to lay out the legend
# Okabe and Ito's palette: told apart by people with the common colour-vision deficiencies.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#999999")
INK, GRID, AXIS = "#1b1b1b", "#dddddd", "#666666"

Number = Callable[[float], str]


@dataclass(frozen=True)
class Series:
    label: str
    values: Sequence[float | None]
    colour: str | None = None


def nice_ticks(top: float, count: int = 5, *, integer: bool = False) -> list[float]:
    """0 and round steps (1, 2 or 5 times a power of ten) reaching at least `top`."""
    top = top if top > 0 else 1
    raw = top / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    if integer:
        step = max(1, round(step))
    steps = math.ceil(top / step - 1e-9)
    return [round(i * step, 10) for i in range(steps + 1)]


@dataclass(frozen=True)
class _Frame:
    """Where the plot sits inside the picture, and how values map to it."""

    top: int
    categories: int
    y_max: float

    @property
    def height(self) -> int:
        return self.top + PLOT_HEIGHT + BOTTOM

    @property
    def band(self) -> float:
        return (WIDTH - LEFT - RIGHT) / max(self.categories, 1)

    def x(self, index: int) -> float:
        """The centre of category `index`."""
        return LEFT + self.band * (index + 0.5)

    def y(self, value: float) -> float:
        return self.top + PLOT_HEIGHT - PLOT_HEIGHT * value / self.y_max


def _id(chart_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "-", chart_id) or "chart"


def _f(value: float) -> str:
    return f"{value:.1f}".removesuffix(".0")


def _legend(series: Sequence[Series]) -> tuple[list[str], int]:
    """The legend along the top, wrapping onto more rows when the labels do not fit."""
    parts: list[str] = []
    x, row = LEFT, 0
    for index, item in enumerate(series):
        width = 18 + CHAR_WIDTH * len(item.label) + 16
        if x + width > WIDTH - RIGHT and x > LEFT:
            x, row = LEFT, row + 1
        y = 8 + row * LEGEND_ROW
        parts.append(f'<g class="legend-item"><rect x="{x}" y="{y}" width="12" height="12" '
                     f'fill="{_colour(item, index)}"/><text x="{x + 18}" y="{y + 11}">{escape(item.label)}</text></g>')
        x += width
    rows = row + 1 if series else 0
    return parts, 8 + rows * LEGEND_ROW + 8


def _colour(series: Series, index: int) -> str:
    return series.colour or PALETTE[index % len(PALETTE)]


def _axes(frame: _Frame, ticks: list[float], categories: Sequence[str], x_label: str, y_label: str,
          number: Number) -> list[str]:
    right = WIDTH - RIGHT
    parts = ['<g class="axes">']
    for tick in ticks:
        y = _f(frame.y(tick))
        parts.append(f'<line x1="{LEFT}" x2="{right}" y1="{y}" y2="{y}" stroke="{GRID}"/>'
                     f'<text x="{LEFT - 6}" y="{_f(frame.y(tick) + 4)}" text-anchor="end">{escape(number(tick))}</text>')
    base = _f(frame.y(0))
    parts.append(f'<line x1="{LEFT}" x2="{right}" y1="{base}" y2="{base}" stroke="{AXIS}"/>')
    # Every label when they fit, else every n-th, so that a year of days stays legible.
    every = max(1, math.ceil(len(categories) / max(1, int((right - LEFT) // 48))))
    label_y = frame.top + PLOT_HEIGHT + 16
    for index, category in enumerate(categories):
        if index % every == 0:
            parts.append(f'<text x="{_f(frame.x(index))}" y="{label_y}" text-anchor="middle">{escape(category)}</text>')
    middle = frame.top + PLOT_HEIGHT / 2
    parts.append(f'<text x="{_f((LEFT + right) / 2)}" y="{frame.height - 10}" text-anchor="middle" '
                 f'class="axis-label">{escape(x_label)}</text>')
    parts.append(f'<text transform="rotate(-90)" x="{_f(-middle)}" y="14" text-anchor="middle" '
                 f'class="axis-label">{escape(y_label)}</text>')
    parts.append("</g>")
    return parts


def _picture(chart_id: str, title: str, desc: str, height: int, body: list[str]) -> Markup:
    cid = _id(chart_id)
    return Markup(
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" id="{cid}" viewBox="0 0 {WIDTH} {height}" '
        f'role="img" aria-labelledby="{cid}-title {cid}-desc" font-family="system-ui, sans-serif" '
        f'font-size="12" fill="{INK}"><title id="{cid}-title">{escape(title)}</title>'
        f'<desc id="{cid}-desc">{escape(desc)}</desc>' + "".join(body) + "</svg>")


def _empty_note(frame: _Frame, text: str) -> str:
    return (f'<text x="{_f((LEFT + WIDTH - RIGHT) / 2)}" y="{_f(frame.top + PLOT_HEIGHT / 2)}" '
            f'text-anchor="middle" fill="{AXIS}" class="empty">{escape(text)}</text>')


def stacked_bars(*, chart_id: str, title: str, desc: str, categories: Sequence[str], series: Sequence[Series],
                 x_label: str, y_label: str, number: Number = str, empty_text: str = "") -> Markup:
    """One bar per category, each series stacked on the previous ones (counts: integer ticks)."""
    totals = [sum(s.values[i] or 0 for s in series) for i in range(len(categories))]
    legend, top = _legend(series)
    ticks = nice_ticks(max(totals, default=0), integer=True)
    frame = _Frame(top, len(categories), ticks[-1])
    body = legend + _axes(frame, ticks, categories, x_label, y_label, number)
    width = max(1.0, frame.band * 0.7)
    body.append('<g class="bars">')
    for index, category in enumerate(categories):
        stacked = 0.0
        left = frame.x(index) - width / 2
        for n, item in enumerate(series):
            value = item.values[index] or 0
            if value <= 0:
                continue
            y_top, y_bottom = frame.y(stacked + value), frame.y(stacked)
            body.append(f'<rect x="{_f(left)}" y="{_f(y_top)}" width="{_f(width)}" height="{_f(y_bottom - y_top)}" '
                        f'fill="{_colour(item, n)}" class="series-{n}"><title>{escape(item.label)}, '
                        f'{escape(category)}: {escape(number(value))}</title></rect>')
            stacked += value
    body.append("</g>")
    if empty_text and not any(totals):
        body.append(_empty_note(frame, empty_text))
    return _picture(chart_id, title, desc, frame.height, body)


def lines(*, chart_id: str, title: str, desc: str, categories: Sequence[str], series: Sequence[Series],
          x_label: str, y_label: str, number: Number = str, axis_number: Number | None = None,
          at_least: float = 0.0, empty_text: str = "") -> Markup:
    """A line per series; a missing value (None) breaks the line instead of dropping it to zero.

    `at_least` keeps the scale from shrinking below a meaningful top, e.g. 100 % for a rate;
    `axis_number` formats the round tick values when they need fewer digits than the points.
    """
    values = [v for s in series for v in s.values if v is not None]
    legend, top = _legend(series)
    ticks = nice_ticks(max([*values, at_least]))
    frame = _Frame(top, len(categories), ticks[-1])
    body = legend + _axes(frame, ticks, categories, x_label, y_label, axis_number or number)
    for n, item in enumerate(series):
        colour = _colour(item, n)
        body.append(f'<g class="series-{n}">')
        run: list[str] = []
        for index, value in enumerate([*item.values, None]):
            if value is None:
                if len(run) > 1:
                    body.append(f'<polyline points="{" ".join(run)}" fill="none" stroke="{colour}" stroke-width="2"/>')
                run = []
                continue
            x, y = _f(frame.x(index)), _f(frame.y(value))
            run.append(f"{x},{y}")
            body.append(f'<circle cx="{x}" cy="{y}" r="3" fill="{colour}"><title>{escape(item.label)}, '
                        f'{escape(categories[index])}: {escape(number(value))}</title></circle>')
        body.append("</g>")
    if empty_text and not values:
        body.append(_empty_note(frame, empty_text))
    return _picture(chart_id, title, desc, frame.height, body)
