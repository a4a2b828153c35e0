"""The zone choropleth: one measure per colouring, on fixed, documented class scales.

Every scale below is a constant: the city map, a district's map and the diagnosis map
colour the same value the same way, whatever the data (no quantiles). Classes are
upper-inclusive (``v <= break``), as :class:`mapclassify.UserDefined` assigns them (one
:func:`numpy.searchsorted`: importing mapclassify pulls in matplotlib.pyplot and
scikit-learn, over a second at every start); a zone with no figure is left unpainted.

=========================  ======================================================  =========
measure                    breaks                                                  unit
=========================  ======================================================  =========
population density         50, 200, 1,000, 3,000, 10,000, 20,000                   per km²
inflow (two censuses)      −1,000, −100, −10, 10, 100, 1,000                       per km²
unserved customers         0.01, 0.1, 0.3, 1, 3                                    per hour
change in unserved         −1, −0.1, −0.01, 0.01, 0.1, 1                           per hour
distance                   1, 2, 3, 5                                              km
change in distance         −2, −0.5, −0.1, 0.1, 0.5, 2                             km
not served (distance maps) 0.1, 1 (unserved customers of a zone nobody serves)     per hour
=========================  ======================================================  =========

Zone geometry is stored once in the page and restyled when the measure changes, so each
measure costs only one small integer per zone.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from netplan.present.texts import esc

__all__ = [
    "CATCHMENT_COLORS",
    "DIST_BREAKS_M",
    "SCALES",
    "Measure",
    "Scale",
    "catchment_classes",
    "catchment_measure",
    "classify",
    "density_measure",
    "distance_change_measure",
    "distance_measure",
    "inflow_measure",
    "none_measure",
    "unserved_change_measure",
    "unserved_measure",
]

CATCHMENT_COLORS: tuple[str, ...] = (
    "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f",
    "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#86bcb6",
)


@dataclass(frozen=True)
class Scale:
    """A fixed class scale: ``len(breaks) + 1`` classes, their colours and labels."""

    breaks: tuple[float, ...]
    colors: tuple[str, ...]
    labels: tuple[str, ...]

    def __post_init__(self) -> None:
        if not len(self.colors) == len(self.labels) == len(self.breaks) + 1:
            raise ValueError("a scale needs one colour and one label per class")


def _ranges(breaks: Sequence[float], fmt: Callable[[float], str], unit: str) -> tuple[str, ...]:
    u = f" {unit}" if unit else ""
    labels = [f"up to {fmt(breaks[0])}{u}"]
    labels += [f"{fmt(a)} – {fmt(b)}{u}" for a, b in itertools.pairwise(breaks)]
    labels.append(f"over {fmt(breaks[-1])}{u}")
    return tuple(labels)


def _diverging(breaks: Sequence[float], fmt: Callable[[float], str], unit: str,
               words: tuple[str, str]) -> tuple[str, ...]:
    """Labels of a symmetric diverging scale: less …, about the same, more …."""
    less, more = words
    half = len(breaks) // 2
    neg = [abs(b) for b in breaks[:half]]
    pos = list(breaks[half:])
    labels = [f"{less} by over {fmt(neg[0])} {unit}"]
    labels += [f"{less} by {fmt(b)} – {fmt(a)} {unit}" for a, b in itertools.pairwise(neg)]
    labels.append(f"about the same (± {fmt(pos[0])} {unit})")
    labels += [f"{more} by {fmt(a)} – {fmt(b)} {unit}" for a, b in itertools.pairwise(pos)]
    labels.append(f"{more} by over {fmt(pos[-1])} {unit}")
    return tuple(labels)


def _g(x: float) -> str:
    return f"{x:,.0f}" if abs(x) >= 100 else f"{x:g}"


_BETTER_WORSE = ("#2166ac", "#67a9cf", "#d1e5f0", "#f7f7f7", "#fddbc7", "#ef8a62", "#b2182b")
"""Diverging colours: blue = less (better for distance and unserved), red = more."""

_POP_BREAKS = (50.0, 200.0, 1000.0, 3000.0, 10000.0, 20000.0)
_INFLOW_BREAKS = (-1000.0, -100.0, -10.0, 10.0, 100.0, 1000.0)
_UNSERVED_BREAKS = (0.01, 0.1, 0.3, 1.0, 3.0)
_UNSERVED_CHANGE_BREAKS = (-1.0, -0.1, -0.01, 0.01, 0.1, 1.0)
DIST_BREAKS_M: tuple[float, ...] = (1000.0, 2000.0, 3000.0, 5000.0)
_DIST_CHANGE_BREAKS_M = (-2000.0, -500.0, -100.0, 100.0, 500.0, 2000.0)
_NOT_SERVED_BREAKS = (0.1, 1.0)

SCALES: dict[str, Scale] = {
    "population": Scale(
        _POP_BREAKS,
        ("#ffffcc", "#ffeda0", "#fed976", "#feb24c", "#fd8d3c", "#f03b20", "#bd0026"),
        _ranges(_POP_BREAKS, _g, "per km²")),
    "inflow": Scale(
        _INFLOW_BREAKS, _BETTER_WORSE,
        _diverging(_INFLOW_BREAKS, _g, "per km²", ("fewer residents", "more residents"))),
    "unserved": Scale(
        _UNSERVED_BREAKS, ("#f7f7f7", "#fee0d2", "#fcbba1", "#fb6a4a", "#cb181d", "#67000d"),
        ("none (under 0.01 per hour)",
         *_ranges(_UNSERVED_BREAKS, _g, "per hour")[1:])),
    "unserved_change": Scale(
        _UNSERVED_CHANGE_BREAKS, _BETTER_WORSE,
        _diverging(_UNSERVED_CHANGE_BREAKS, _g, "per hour", ("fewer", "more"))),
    "distance": Scale(
        DIST_BREAKS_M, ("#f7fcb9", "#addd8e", "#41b6c4", "#2c7fb8", "#253494"),
        _ranges([b / 1000 for b in DIST_BREAKS_M], _g, "km")),
    "distance_change": Scale(
        _DIST_CHANGE_BREAKS_M, _BETTER_WORSE,
        _diverging([b / 1000 for b in _DIST_CHANGE_BREAKS_M], _g, "km",
                   ("shorter", "longer"))),
    "not_served": Scale(
        _NOT_SERVED_BREAKS, ("#d9d9d9", "#969696", "#525252"),
        tuple(f"not served: {lab}" for lab in _ranges(_NOT_SERVED_BREAKS, _g,
                                                        "customer(s) per hour"))),
}
"""The fixed scales of every map, by name (see the module docstring)."""


def classify(values: Any, breaks: Sequence[float]) -> list[int]:
    """Upper-inclusive classes: ``v <= b[0]`` → 0, ``b[0] < v <= b[1]`` → 1, …; NaN → -1.

    Parameters
    ----------
    values : array-like
        Numbers (NaN and missing values get ``-1``).
    breaks : sequence of float
        Increasing class bounds; values above the last are in class ``len(breaks)``.

    Returns
    -------
    list of int
    """
    v = np.asarray(values, dtype=np.float64)
    out = np.full(len(v), -1, dtype=np.int64)
    ok = np.isfinite(v)
    if ok.any():  # the number of breaks below v: mapclassify.UserDefined(v, breaks).yb
        out[ok] = np.searchsorted(np.asarray(breaks, dtype=np.float64), v[ok], side="left")
    result: list[int] = out.tolist()
    return result


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
    nodata_opacity: float = 0.0
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
        """The legend block of this measure (shown while the measure is chosen).

        Each class row gives the number of zones in it, so a colour that covers much of
        the map but few zones (or the reverse) is plain to see.
        """
        counts: list[int] = (np.bincount([c for c in self.classes if c >= 0],
                                         minlength=len(self.colors)).tolist()
                             if self.labels else [])
        rows = [
            f'<div class="netplan-legend-row"><span class="netplan-swatch" '
            f'style="background:{c}"></span>{esc(lab)} <span class="netplan-count">'
            f"({int(n):,})</span></div>"
            for c, lab, n in zip(self.colors, self.labels, counts, strict=False)
        ]
        n_nodata = sum(1 for c in self.classes if c < 0)
        if self.nodata_label and n_nodata:
            rows.append(f'<div class="netplan-legend-row"><span class="netplan-swatch" '
                        f'style="background:{self.nodata}"></span>{esc(self.nodata_label)} '
                        f'<span class="netplan-count">({n_nodata:,})</span></div>')
        note = f'<div class="netplan-note">{esc(self.note)}</div>' if self.note else ""
        return (f'<div class="netplan-legend-block netplan-measure-legend" '
                f'data-measure="{esc(self.key)}"><div class="netplan-legend-title">'
                f'{esc(self.legend_title)}</div>{"".join(rows)}{note}</div>')


_FIXED = "Fixed classes, the same on every netplan map; (n) = zones in the class."


def _scale_measure(key: str, values: Any, scale: Scale, *, title: str, legend_title: str,
                   note: str, opacities: list[float] | None = None) -> Measure:
    return Measure(key, title, legend_title, classify(values, scale.breaks),
                   list(scale.colors), list(scale.labels), opacities=opacities,
                   note=f"{note} {_FIXED}".strip())


def density_measure(pop: NDArray[np.float64], area_km2: NDArray[np.float64],
                    year: int | str, *, title: str) -> Measure:
    """Residents per km² of each zone (fixed classes: :data:`SCALES` ``population``)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        dens = np.where(area_km2 > 0, pop / area_km2, np.nan)
    return _scale_measure("population", dens, SCALES["population"], title=title,
                          legend_title=f"Residents per km², {year}",
                          note="Population modelled from census totals.")


def inflow_measure(inflow: NDArray[np.float64], area_km2: NDArray[np.float64], *,
                   title: str) -> Measure:
    """Change in residents between censuses per km² (diverging fixed classes)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        dens = np.where(area_km2 > 0, inflow / area_km2, np.nan)
    return _scale_measure("inflow", dens, SCALES["inflow"], title=title,
                          legend_title="Change in residents between censuses per km²",
                          note="Red: the population grew; blue: it shrank.")


def unserved_measure(key: str, unserved_per_h: NDArray[np.float64], *, title: str,
                     legend_title: str) -> Measure:
    """Peak-hour customers of a zone that no outlet within reach can take (fixed classes).

    Zones with none are left unpainted, so the colour shows only where residents are
    actually unserved, and how many.
    """
    n = len(SCALES["unserved"].colors)
    return _scale_measure(key, unserved_per_h, SCALES["unserved"], title=title,
                          legend_title=legend_title, opacities=[0.0] + [0.75] * (n - 1),
                          note="Customers per peak hour that no outlet within reach can take "
                               "(modelled).")


def unserved_change_measure(before: NDArray[np.float64], after: NDArray[np.float64], *,
                            title: str) -> Measure:
    """Unserved customers after − before, per zone (blue: fewer, red: more)."""
    n = len(SCALES["unserved_change"].colors)
    return _scale_measure("unserved_change", after - before, SCALES["unserved_change"],
                          title=title, legend_title="Change in unserved customers per peak "
                                                    "hour (after − before)",
                          opacities=[0.75] * (n // 2) + [0.0] + [0.75] * (n // 2),
                          note="Blue: fewer customers left unserved after the plan; red: "
                               "more.")


def distance_measure(key: str, dist_m: NDArray[np.float64], unserved_per_h: NDArray[np.float64],
                     *, title: str, legend_title: str) -> Measure:
    """Travel distance to the serving outlets (fixed km classes).

    A zone nobody serves is grey only when it has unserved customers, shaded by how many
    (:data:`SCALES` ``not_served``); a zone without customers is left unpainted.
    """
    dist, ns = SCALES["distance"], SCALES["not_served"]
    cls = np.asarray(classify(dist_m, dist.breaks), dtype=np.int64)
    grey = np.asarray(classify(unserved_per_h, ns.breaks), dtype=np.int64)
    unserved = (cls < 0) & (np.nan_to_num(unserved_per_h) > 0)
    cls = np.where(unserved, len(dist.colors) + grey, cls)
    opac = [0.68] * len(dist.colors) + [0.35, 0.55, 0.75]
    return Measure(key, title, legend_title, cls.tolist(), [*dist.colors, *ns.colors],
                   [*dist.labels, *ns.labels], opacities=opac,
                   note="Travel distance (straight line × detour factor), averaged over the "
                        "outlets the zone's customers use under the behaviour rule. Grey: "
                        "no outlet within reach takes the zone's customers, shaded by how "
                        f"many. {_FIXED}")


def distance_change_measure(before_m: NDArray[np.float64], after_m: NDArray[np.float64], *,
                            title: str) -> Measure:
    """Distance after − before (blue: shorter), and zones newly served or no longer served."""
    sc = SCALES["distance_change"]
    cls = np.asarray(classify(after_m - before_m, sc.breaks), dtype=np.int64)
    b_ok, a_ok = np.isfinite(before_m), np.isfinite(after_m)
    n = len(sc.colors)
    cls = np.where(a_ok & ~b_ok, n, np.where(b_ok & ~a_ok, n + 1, cls))
    return Measure("dist_change", title, "Change in travel distance (after − before)",
                   cls.tolist(), [*sc.colors, "#1b7837", "#000000"],
                   [*sc.labels, "newly served", "no longer served"],
                   opacities=[0.75] * (n // 2) + [0.0] + [0.75] * (n // 2) + [0.75, 0.75],
                   note=f"Blue: customers travel less after the plan; red: more. {_FIXED}")


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
                   list(CATCHMENT_COLORS), [],
                   nodata_label="no serving outlet (left unpainted)", nodata="#ffffff",
                   opacity=0.55,
                   note="Each colour patch is the area one outlet mainly serves; neighbouring "
                        "catchments get different colours. Click a zone to see its outlet.")


def none_measure() -> Measure:
    """No colouring: the zones are hidden."""
    return Measure("none", "No zone colouring", "Zones hidden", [], [], [],
                   note="Choose a measure in the list to colour the zones.")
