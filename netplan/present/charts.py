"""Bar charts as inline SVG for the report (no JavaScript, no external library).

Every label is escaped here; the same data give the same bytes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from netplan.present import texts as pr
from netplan.present.texts import esc

__all__ = ["grouped_bar_svg", "hbar_svg"]


def _nice_max(x: float) -> float:
    if not math.isfinite(x) or x <= 0:
        return 1.0
    p = 10.0 ** math.floor(math.log10(x))
    for m in (1.0, 1.2, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0):
        if m * p >= x:
            return m * p
    return 10.0 * p


def _ticks(vmax: float, n: int = 5) -> list[float]:
    step = vmax / n
    return [step * k for k in range(n + 1)]


def _tick_text(v: float) -> str:
    if v >= 1e6:
        return f"{v / 1e6:g} M"
    if v >= 1e4:
        return f"{v / 1e3:g} k"
    return f"{v:,.0f}" if v >= 10 or v == 0 else f"{v:g}"


def _svg_open(w: int, h: int, label: str) -> str:
    return (f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" '
            f'width="{w}" height="{h}" role="img" aria-label="{esc(label)}">'
            f"<title>{esc(label)}</title>")


def _legend_svg(x: float, y: float, series: Sequence[tuple[str, str]]) -> str:
    out = []
    for k, (name, color) in enumerate(series):
        xx = x + 150 * k
        out.append(f'<rect x="{xx:.1f}" y="{y - 9:.1f}" width="12" height="12" fill="{color}"/>'
                   f'<text x="{xx + 16:.1f}" y="{y + 1:.1f}">{esc(name)}</text>')
    return "".join(out)


def grouped_bar_svg(
    categories: Sequence[str],
    series: Sequence[tuple[str, str, Sequence[float]]],
    *,
    title: str,
    y_label: str,
    marker_after: int | None = None,
    marker_label: str = "",
    width: int = 550,
    height: int = 320,
) -> str:
    """Vertical grouped bars (one group per category, one bar per series) as inline SVG.

    ``marker_after`` draws a dashed vertical line after that category index (e.g. the
    waiting-time target).
    """
    left, right, top, bottom = 64, 16, 34, 62
    pw, ph = width - left - right, height - top - bottom
    vals = [float(v) for _, _, vs in series for v in vs if pr.finite(v) is not None]
    vmax = _nice_max(max(vals, default=0.0))
    n_cat, n_ser = max(len(categories), 1), max(len(series), 1)
    gw = pw / n_cat
    bw = gw * 0.8 / n_ser
    parts = [_svg_open(width, height, title),
             f'<text class="ct" x="{left}" y="16">{esc(title)}</text>']
    for t in _ticks(vmax):
        y = top + ph - ph * t / vmax
        parts.append(f'<line x1="{left}" x2="{left + pw}" y1="{y:.1f}" y2="{y:.1f}" '
                     f'class="grid"/><text class="tick" x="{left - 6}" y="{y + 4:.1f}" '
                     f'text-anchor="end">{esc(_tick_text(t))}</text>')
    for i, cat in enumerate(categories):
        gx = left + gw * i + gw * 0.1
        for s, (name, color, vs) in enumerate(series):
            v = pr.finite(vs[i]) if i < len(vs) else None
            hgt = 0.0 if v is None else ph * v / vmax
            x = gx + bw * s
            parts.append(f'<rect x="{x:.1f}" y="{top + ph - hgt:.1f}" width="{bw - 1:.1f}" '
                         f'height="{hgt:.1f}" fill="{color}"><title>{esc(name)}, {esc(cat)}: '
                         f"{esc(pr.num(v, 1))}</title></rect>")
        parts.append(f'<text class="tick" x="{left + gw * i + gw / 2:.1f}" '
                     f'y="{top + ph + 16}" text-anchor="middle">{esc(cat)}</text>')
    if marker_after is not None and 0 <= marker_after < n_cat:
        x = left + gw * (marker_after + 1)
        parts.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{top - 4}" y2="{top + ph}" '
                     f'class="marker"/><text class="tick" x="{x + 4:.1f}" y="{top + 8}">'
                     f"{esc(marker_label)}</text>")
    parts.append(f'<line x1="{left}" x2="{left + pw}" y1="{top + ph}" y2="{top + ph}" '
                 'class="axis"/>')
    parts.append(f'<text class="tick" transform="translate(14 {top + ph / 2:.1f}) rotate(-90)" '
                 f'text-anchor="middle">{esc(y_label)}</text>')
    parts.append(_legend_svg(left, height - 12, [(nm, c) for nm, c, _ in series]))
    parts.append("</svg>")
    return "".join(parts)


def hbar_svg(
    categories: Sequence[str],
    series: Sequence[tuple[str, str, Sequence[float]]],
    *,
    title: str,
    x_label: str,
    width: int = 760,
    label_width: int = 250,
) -> str:
    """Horizontal grouped bars (one row per category) with value labels, as inline SVG."""
    bar_h, gap = 9, 8
    top, bottom, right = 34, 56, 60
    n_ser = max(len(series), 1)
    row_h = n_ser * bar_h + gap
    height = top + row_h * max(len(categories), 1) + bottom
    left = label_width
    pw = width - left - right
    vals = [float(v) for _, _, vs in series for v in vs if pr.finite(v) is not None]
    vmax = _nice_max(max(vals, default=0.0))
    parts = [_svg_open(width, height, title),
             f'<text class="ct" x="8" y="16">{esc(title)}</text>']
    ph = row_h * len(categories)
    for t in _ticks(vmax, 4):
        x = left + pw * t / vmax
        parts.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{top}" y2="{top + ph}" class="grid"/>'
                     f'<text class="tick" x="{x:.1f}" y="{top + ph + 14}" '
                     f'text-anchor="middle">{esc(f"{t:g}")}</text>')
    for i, cat in enumerate(categories):
        y0 = top + row_h * i + gap / 2
        parts.append(f'<text class="tick" x="{left - 6}" y="{y0 + n_ser * bar_h / 2 + 4:.1f}" '
                     f'text-anchor="end">{esc(cat)}</text>')
        for k, (name, color, vs) in enumerate(series):
            v = pr.finite(vs[i]) if i < len(vs) else None
            w = 0.0 if v is None else pw * v / vmax
            y = y0 + k * bar_h
            parts.append(f'<rect x="{left}" y="{y:.1f}" width="{w:.1f}" height="{bar_h - 1}" '
                         f'fill="{color}"><title>{esc(name)}, {esc(cat)}: {esc(pr.num(v, 1))}'
                         f'</title></rect><text class="lbl" x="{left + w + 3:.1f}" '
                         f'y="{y + bar_h - 1.5:.1f}">{esc(pr.num(v, 1))}</text>')
    parts.append(f'<line x1="{left}" x2="{left}" y1="{top}" y2="{top + ph}" class="axis"/>')
    parts.append(f'<text class="tick" x="{left + pw / 2:.1f}" y="{top + ph + 30}" '
                 f'text-anchor="middle">{esc(x_label)}</text>')
    parts.append(_legend_svg(left, height - 8, [(nm, c) for nm, c, _ in series]))
    parts.append("</svg>")
    return "".join(parts)
