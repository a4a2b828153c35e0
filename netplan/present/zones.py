"""The zone choropleth: one measure per colouring (population, inflow, unserved customers,
distance, catchments), with its classes, colours and legend.

Zone geometry is stored once in the page and restyled when the measure changes, so each
measure costs only one small integer per zone.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from netplan.present.texts import esc

__all__ = [
    "CATCHMENT_COLORS",
    "DIST_BREAKS_M",
    "Measure",
    "catchment_classes",
    "catchment_measure",
    "classify",
    "distance_measure",
    "inflow_measure",
    "nice",
    "none_measure",
    "population_measure",
    "seq_breaks",
    "unserved_measure",
]

CATCHMENT_COLORS: tuple[str, ...] = (
    "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f",
    "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#86bcb6",
)


def nice(x: float) -> float:
    """Round to two significant digits (legend breaks); 0 for non-positive or non-finite."""
    if not math.isfinite(x) or x <= 0:
        return 0.0
    p = 10.0 ** (math.floor(math.log10(x)) - 1)
    return float(round(x / p) * p)


def seq_breaks(values: NDArray[np.float64], qs: Sequence[float]) -> list[float]:
    """Increasing, rounded class breaks at quantiles ``qs`` of the positive values."""
    v = values[np.isfinite(values) & (values > 0)]
    if len(v) == 0:
        return [1.0]
    out: list[float] = []
    for q in qs:
        b = nice(float(np.quantile(v, q)))
        if b > 0 and (not out or b > out[-1]):
            out.append(b)
    return out or [nice(float(v.max()))]


def classify(values: Any, breaks: Sequence[float]) -> list[int]:
    """Upper-inclusive classes: ``v <= b[0]`` → 0, ``b[0] < v <= b[1]`` → 1, …; NaN → -1."""
    v = np.asarray(values, dtype=np.float64)
    cls = np.searchsorted(np.asarray(breaks, dtype=np.float64), v, side="left")
    cls = np.where(np.isfinite(v), cls, -1)
    out: list[int] = cls.astype(np.int64).tolist()
    return out


def _range_labels(breaks: Sequence[float], fmt: Callable[[float], str],
                  unit: str = "") -> list[str]:
    u = f" {unit}" if unit else ""
    labels = [f"up to {fmt(breaks[0])}{u}"]
    labels += [f"{fmt(a)} – {fmt(b)}{u}" for a, b in itertools.pairwise(breaks)]
    labels.append(f"over {fmt(breaks[-1])}{u}")
    return labels


def _palette(name: str, n: int) -> list[str]:
    ramps = {
        "pop": ["#ffffcc", "#ffeda0", "#fed976", "#feb24c", "#fd8d3c", "#f03b20", "#bd0026"],
        "dist": ["#f7fcb9", "#addd8e", "#41b6c4", "#2c7fb8", "#253494", "#081d58"],
        "unserved": ["#f7f7f7", "#fcbba1", "#fb6a4a", "#cb181d", "#67000d"],
        "gain": ["#fee0d2", "#fcbba1", "#fc9272", "#fb6a4a", "#de2d26", "#a50f15", "#67000d"],
    }
    ramp = ramps[name]
    if n <= len(ramp):
        idx = np.round(np.linspace(0, len(ramp) - 1, n)).astype(int)
        return [ramp[i] for i in idx]
    return [ramp[i % len(ramp)] for i in range(n)]


@dataclass
class Measure:
    """One zone colouring: classes per zone, colours and the legend's rows."""

    key: str
    title: str
    legend_title: str
    classes: list[int]
    colors: list[str]
    labels: list[str]
    nodata_label: str = ""
    nodata: str = "#bdbdbd"
    nodata_opacity: float = 0.35
    opacity: float = 0.68
    opacities: list[float] | None = None
    note: str = ""

    def payload(self) -> dict[str, Any]:
        """How the page's script colours the zones by this measure."""
        out: dict[str, Any] = {"key": self.key, "colors": self.colors, "nodata": self.nodata,
                               "nodata_opacity": self.nodata_opacity, "opacity": self.opacity}
        if self.opacities is not None:
            out["opacities"] = self.opacities
        return out

    def legend_html(self) -> str:
        """The legend block of this measure (shown while the measure is chosen)."""
        rows = [
            f'<div class="netplan-legend-row"><span class="netplan-swatch" '
            f'style="background:{c}"></span>{esc(lab)}</div>'
            for c, lab in zip(self.colors, self.labels, strict=False)
        ]
        if self.nodata_label:
            rows.append(f'<div class="netplan-legend-row"><span class="netplan-swatch" '
                        f'style="background:{self.nodata}"></span>{esc(self.nodata_label)}</div>')
        note = f'<div class="netplan-note">{esc(self.note)}</div>' if self.note else ""
        return (f'<div class="netplan-legend-block netplan-measure-legend" '
                f'data-measure="{esc(self.key)}"><div class="netplan-legend-title">'
                f'{esc(self.legend_title)}</div>{"".join(rows)}{note}</div>')


def population_measure(pop: NDArray[np.float64], year: int | str, *, title: str) -> Measure:
    """Residents per zone, in quantile classes."""
    breaks = seq_breaks(pop, (0.2, 0.4, 0.6, 0.8, 0.95))
    n = len(breaks) + 1
    return Measure("population", title, f"Residents per zone, {year}",
                   classify(pop, breaks), _palette("pop", n),
                   _range_labels(breaks, lambda x: f"{x:,.0f}"),
                   note="Zones are ~1 km grid cells; population modelled from census totals.")


def inflow_measure(inflow: NDArray[np.float64], *, title: str) -> Measure:
    """Change in residents 2010 → 2020 (diverging when some zones lost people)."""
    v = np.asarray(inflow, dtype=np.float64)
    fmt = (lambda x: f"{x:+,.0f}")  # noqa: E731
    if np.nanmin(v, initial=0.0) < 0:
        a = seq_breaks(np.abs(v), (0.5, 0.9))
        a1 = a[0]
        a2 = a[1] if len(a) > 1 else 2 * a1
        breaks = [-a2, -a1, 0.0, a1, a2]
        colors = ["#2166ac", "#67a9cf", "#d1e5f0", "#fddbc7", "#ef8a62", "#b2182b"]
        labels = [f"loss of more than {a2:,.0f}", f"loss of {a1:,.0f} – {a2:,.0f}",
                  f"loss up to {a1:,.0f} (or none)", f"gain up to {a1:,.0f}",
                  f"gain of {a1:,.0f} – {a2:,.0f}", f"gain of more than {a2:,.0f}"]
    else:
        breaks = seq_breaks(v, (0.2, 0.4, 0.6, 0.8, 0.95))
        colors = _palette("gain", len(breaks) + 1)
        labels = _range_labels(breaks, fmt)
    return Measure("inflow", title, "Change in residents 2010 → 2020", classify(v, breaks),
                   colors, labels, note="Red: the population grew (inflow); blue: it shrank.")


def unserved_measure(unserved_per_h: NDArray[np.float64], *, title: str,
                     legend_title: str) -> Measure:
    """Peak-hour customers no outlet within reach can take."""
    breaks = [0.0, 1.0, 3.0, 10.0]
    return Measure("unserved", title, legend_title, classify(unserved_per_h, breaks),
                   _palette("unserved", 5),
                   ["none", "up to 1 per hour", "1 – 3 per hour", "3 – 10 per hour",
                    "over 10 per hour"],
                   opacities=[0.12, 0.7, 0.75, 0.8, 0.85],
                   note="Peak-hour customers that no outlet within reach can take.")


DIST_BREAKS_M: tuple[float, ...] = (1000.0, 2000.0, 3000.0, 5000.0)


def distance_measure(key: str, dist_m: NDArray[np.float64], *, title: str,
                     legend_title: str) -> Measure:
    """Travel distance to the serving outlet, in fixed kilometre classes."""
    return Measure(key, title, legend_title, classify(dist_m, DIST_BREAKS_M),
                   _palette("dist", len(DIST_BREAKS_M) + 1),
                   _range_labels([b / 1000 for b in DIST_BREAKS_M], lambda x: f"{x:g}", "km"),
                   nodata_label="not served (no outlet within reach has room)",
                   nodata="#5a5a5a", nodata_opacity=0.55,
                   note="Travel distance (straight line × detour factor), population-"
                        "weighted over the outlets serving the zone.")


def catchment_classes(zone_xy: NDArray[np.float64], serving: NDArray[np.int64],
                      cell_m: float) -> list[int]:
    """Colour index per zone so that neighbouring catchments differ (greedy colouring).

    Zones are neighbours when their centres are within 1.5 cells; outlets whose
    catchments touch are coloured in order of their index with the smallest colour no
    neighbour has (deterministic).
    """
    from scipy.spatial import cKDTree

    n_col = len(CATCHMENT_COLORS)
    served = serving >= 0
    if not served.any():
        return [-1] * len(serving)
    pairs = cKDTree(zone_xy).query_pairs(r=1.5 * cell_m, output_type="ndarray")
    a, b = serving[pairs[:, 0]], serving[pairs[:, 1]]
    keep = (a >= 0) & (b >= 0) & (a != b)
    edges = np.unique(np.sort(np.column_stack([a[keep], b[keep]]), axis=1), axis=0)
    outlets = np.unique(serving[served])
    nbrs: dict[int, set[int]] = {int(o): set() for o in outlets}
    for u, v in edges.tolist():
        nbrs[u].add(v)
        nbrs[v].add(u)
    colour: dict[int, int] = {}
    for o in sorted(nbrs):
        used = {colour[v] for v in nbrs[o] if v in colour}
        free = [c for c in range(n_col) if c not in used]
        colour[o] = free[0] if free else o % n_col
    return [colour[int(s)] if s >= 0 else -1 for s in serving.tolist()]


def catchment_measure(key: str, classes: list[int], *, title: str) -> Measure:
    """Zones coloured by their main serving outlet (see :func:`catchment_classes`)."""
    return Measure(key, title, "Catchments (zone → main serving outlet)", classes,
                   list(CATCHMENT_COLORS), [], nodata_label="no serving outlet",
                   nodata="#5a5a5a", nodata_opacity=0.5, opacity=0.55,
                   note="Each colour patch is the area one outlet mainly serves; neighbouring "
                        "catchments get different colours. Click a zone to see its outlet.")


def none_measure() -> Measure:
    """No colouring: the zones are hidden."""
    return Measure("none", "No zone colouring", "Zones hidden", [], [], [],
                   note="Choose a measure in the layer list to colour the zones.")
