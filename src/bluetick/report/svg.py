"""Charts as inline SVG, drawn by hand: bars, lines, horizontal bars and a heatmap. Every text is escaped."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

WIDTH, HEIGHT = 1120, 240
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 28, 44
MAX_X_LABELS = 16


@dataclass(frozen=True, slots=True)
class Series:
    name: str
    values: Sequence[float | None]  # one per label; None draws nothing
    colour: str


def bars(labels: Sequence[str], series: Sequence[Series], unit: str = "", stacked: bool = False) -> str:
    """Bars per label: side by side, or stacked."""
    totals = [sum(s.values[i] or 0 for s in series) for i in range(len(labels))]
    top = _nice(max(totals if stacked else [v or 0 for s in series for v in s.values], default=0))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / max(len(labels), 1)
    width = slot * 0.8 / (1 if stacked else len(series))
    out = _frame(labels, top, unit, series)
    for i, label in enumerate(labels):
        base = 0.0
        for k, s in enumerate(series):
            value = s.values[i]
            if value is None:
                continue
            x = LEFT + i * slot + slot * 0.1 + (0 if stacked else k * width)
            h = plot_h * value / top
            y = TOP + plot_h - h - (plot_h * base / top if stacked else 0)
            base += value if stacked else 0
            out.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{max(width - 1, 1):.1f}" height="{h:.1f}" fill="{s.colour}">'
                f"<title>{escape(f'{label} {s.name}: {_num(value)}{unit}')}</title></rect>"
            )
    return _svg(out)


def lines(labels: Sequence[str], series: Sequence[Series], unit: str = "", top: float | None = None) -> str:
    """A line per series, a dot on each value; a missing value breaks the line."""
    top = top or _nice(max((v for s in series for v in s.values if v is not None), default=0))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / max(len(labels), 1)
    out = _frame(labels, top, unit, series)
    for s in series:
        points: list[str] = []
        for i, value in enumerate(s.values):
            if value is None:
                out.append(_polyline(points, s.colour))
                points = []
                continue
            x, y = LEFT + (i + 0.5) * slot, TOP + plot_h - plot_h * value / top
            points.append(f"{x:.1f},{y:.1f}")
            out.append(
                f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{s.colour}">'
                f"<title>{escape(f'{labels[i]} {s.name}: {_num(value)}{unit}')}</title></circle>"
            )
        out.append(_polyline(points, s.colour))
    return _svg(out)


def hbars(labels: Sequence[str], values: Sequence[float], colour: str, notes: Sequence[str]) -> str:
    """One horizontal bar per label, its note (the number) at its end."""
    row, label_w = 26, 360
    height = TOP + row * len(labels) + 8
    top = _nice(max(values, default=0))
    plot_w = WIDTH - label_w - RIGHT - 120
    out = []
    for i, (label, value, note) in enumerate(zip(labels, values, notes, strict=True)):
        y = TOP + i * row
        w = plot_w * value / top
        out.append(f'<text x="{label_w - 8}" y="{y + 17}" text-anchor="end">{escape(_clip(label, 48))}</text>')
        out.append(
            f'<rect x="{label_w}" y="{y + 4}" width="{max(w, 1):.1f}" height="{row - 8}" fill="{colour}">'
            f"<title>{escape(f'{label}: {note}')}</title></rect>"
        )
        out.append(f'<text x="{label_w + w + 6:.1f}" y="{y + 17}">{escape(note)}</text>')
    return _svg(out, height)


def heatmap(rows: Sequence[str], columns: Sequence[str], cells: Sequence[Sequence[float | None]],
            titles: Sequence[Sequence[str]]) -> str:  # fmt: skip
    """A grid of cells shaded by a percentage (0 to 100); None is a cell with nothing to measure."""
    cell_w, cell_h, left = (WIDTH - 60 - RIGHT) / len(columns), 26, 60
    height = TOP + cell_h * len(rows) + 60
    out = []
    for c, name in enumerate(columns):
        x = left + (c + 0.5) * cell_w
        out.append(f'<text x="{x:.1f}" y="{TOP - 8}" text-anchor="middle">{escape(name)}</text>')
    for r, name in enumerate(rows):
        y = TOP + r * cell_h
        out.append(f'<text x="{left - 8}" y="{y + 17}" text-anchor="end">{escape(name)}</text>')
        for c, value in enumerate(cells[r]):
            fill = "#ffffff" if value is None else _shade(value)
            out.append(
                f'<rect x="{left + c * cell_w:.1f}" y="{y}" width="{cell_w - 2:.1f}" height="{cell_h - 2}" '
                f'fill="{fill}" stroke="#d0d7de"><title>{escape(titles[r][c])}</title></rect>'
            )
    legend_y = TOP + cell_h * len(rows) + 16
    for k, pct in enumerate(range(0, 101, 20)):
        x = left + k * 90
        out.append(f'<rect x="{x}" y="{legend_y}" width="24" height="14" fill="{_shade(pct)}" stroke="#d0d7de"/>')
        out.append(f'<text x="{x + 30}" y="{legend_y + 12}">{pct}%</text>')
    out.append(
        f'<rect x="{left + 560}" y="{legend_y}" width="24" height="14" fill="#ffffff" stroke="#d0d7de"/>'
        f'<text x="{left + 590}" y="{legend_y + 12}">nothing delivered</text>'
    )
    return _svg(out, height)


def _frame(labels: Sequence[str], top: float, unit: str, series: Sequence[Series]) -> list[str]:
    """Grid lines with their values, the x labels (thinned out), and the legend."""
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    out = []
    for k in range(5):
        value = top * k / 4
        y = TOP + plot_h - plot_h * k / 4
        out.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e5e7eb"/>')
        out.append(f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{escape(_num(value) + unit)}</text>')
    slot = plot_w / max(len(labels), 1)
    step = math.ceil(len(labels) / MAX_X_LABELS) or 1
    for i in range(0, len(labels), step):
        x = LEFT + (i + 0.5) * slot
        out.append(f'<text x="{x:.1f}" y="{HEIGHT - BOTTOM + 18}" text-anchor="middle">{escape(labels[i])}</text>')
    x = LEFT
    for s in series:
        out.append(f'<rect x="{x}" y="6" width="12" height="12" fill="{s.colour}"/>')
        out.append(f'<text x="{x + 16}" y="16">{escape(s.name)}</text>')
        x += 24 + 8 * len(s.name)
    return out


def _svg(parts: list[str], height: int = HEIGHT) -> str:
    return (
        f'<svg width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" role="img">' + "".join(parts) + "</svg>"
    )


def _polyline(points: list[str], colour: str) -> str:
    if len(points) < 2:
        return ""
    return f'<polyline points="{" ".join(points)}" fill="none" stroke="{colour}" stroke-width="2"/>'


def _nice(value: float) -> float:
    """The smallest 1, 2 or 5 times a power of ten at or above `value` (1 for nothing)."""
    if value <= 0:
        return 1.0
    power = 10.0 ** math.floor(math.log10(value))
    return next(m * power for m in (1.0, 2.0, 5.0, 10.0) if m * power >= value)


def _num(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() or abs(value) >= 100 else f"{value:,.1f}"


def _shade(pct: float) -> str:
    """Light to dark blue as the percentage grows."""
    t = max(0.0, min(float(pct), 100.0)) / 100
    low, high = (239, 246, 255), (29, 78, 216)
    return "#" + "".join(f"{round(a + (b - a) * t):02x}" for a, b in zip(low, high, strict=True))


def _clip(text: str, size: int) -> str:
    return text if len(text) <= size else text[: size - 1] + "…"
