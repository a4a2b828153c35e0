"""The layer kinds netplan reads: each kind's id column, attribute columns and geometry types.

:data:`SCHEMAS` is the one table of what a layer of each kind (districts, ring roads, ring
zones, population zones, branches, candidate sites) must hold; the readers, the writers, the
synthetic study and the ``netplan layers`` command look it up.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Final

import numpy as np

from netplan._errors import NetplanError

__all__ = [
    "CENSUS_COLUMN", "KINDS", "MAX_POPULATION", "MAX_SERVERS", "SCHEMAS", "STUDY_KINDS",
    "WGS84", "Column", "LayerSchema", "census_column", "schema",
]

WGS84: Final = "EPSG:4326"
"""The CRS layers are read into and written in (longitude/latitude)."""

# --- the schema table: kind → id column, columns with dtypes, geometry types -----------


@dataclass(frozen=True)
class Column:
    """One attribute column of a layer.

    ``dtype`` is ``"str"``, ``"int"``, ``"float"`` or ``"adcode"`` (6-digit text). An
    optional column that is absent is filled with ``default`` (``None`` means it is
    derived, see :func:`~netplan.study.readers.read_layer`, or left out). A ``complete``
    column may be absent, but where it is present every row must have a value.
    """

    name: str
    dtype: str
    required: bool = True
    min_value: float | None = None
    max_value: float | None = None
    default: Any = None
    complete: bool = False


def census_column(name: str) -> Column:
    """A ``pop_<year>`` column: optional (the scenario's ``[years]`` say which it needs),
    whole people in every row where present."""
    return Column(name, "int", required=False, min_value=0, max_value=MAX_POPULATION,
                  complete=True)


#: Census columns of zones and districts: ``pop_<year>``.
CENSUS_COLUMN = re.compile(r"^pop_(\d{4})$")


@dataclass(frozen=True)
class LayerSchema:
    """What a layer kind must hold."""

    kind: str
    id: Column
    columns: tuple[Column, ...]
    geometry: tuple[str, ...]
    unique_ids: bool = True

    @property
    def points(self) -> bool:
        return self.geometry == ("Point",)

    def describe(self) -> str:
        cols = ", ".join(
            f"{c.name} ({c.dtype}{_need(c)})"
            for c in (self.id, *self.columns)
        )
        return f"{self.kind}: {cols}; geometry {' or '.join(self.geometry)}"


def _need(c: Column) -> str:
    if c.required:
        return ""
    return ", a census: the years the scenario uses" if c.complete else ", optional"


_POLY: Final = ("Polygon", "MultiPolygon")

MAX_POPULATION: Final = 2_000_000_000
"""Largest population of one district or zone (more than China's): a sanity bound."""
MAX_SERVERS: Final = 1_000
"""Most counters (or terminals) of one outlet: a sanity bound."""

SCHEMAS: Final[dict[str, LayerSchema]] = {
    s.kind: s
    for s in (
        LayerSchema(
            "districts",
            Column("adcode", "adcode"),
            (
                Column("name_zh", "str"),
                Column("name_pinyin", "str", required=False, default=""),
                Column("name_en", "str", required=False, default=""),
                Column("zone", "str", required=False, default=""),
                census_column("pop_2010"),
                census_column("pop_2020"),
            ),
            _POLY,
        ),
        LayerSchema(
            "ring_roads",
            Column("ring", "int", min_value=1, max_value=1_000),  # innermost ring smallest
            (
                Column("name_zh", "str", required=False, default=""),
                Column("name_en", "str", required=False, default=""),
                Column("length_km_published", "float", required=False, default=np.nan),
                Column("length_km", "float", required=False),  # derived from the line
                Column("source", "str", required=False, default="user"),
            ),
            ("LineString", "MultiLineString"),
            unique_ids=False,  # a ring may come in several pieces (an OpenStreetMap extract)
        ),
        LayerSchema("ring_zones", Column("ring_zone", "str"), (), _POLY),
        LayerSchema(
            "zones",
            Column("zone_id", "str"),
            (
                Column("adcode", "adcode", required=False),  # derived by load_study
                # any other pop_<year> column is checked the same way; the scenario's
                # [years] base needs its own (see netplan.model.demand.zone_population)
                census_column("pop_2010"),
                census_column("pop_2020"),
                # derived: the change between the two latest census columns
                Column("inflow", "int", required=False),
            ),
            _POLY,
        ),
        LayerSchema(
            "branches",
            Column("branch_id", "str"),
            (
                Column("name", "str", required=False, default=""),
                Column("format", "str"),
                Column("counters", "int", min_value=1, max_value=MAX_SERVERS),
                Column("terminals", "int", min_value=1, max_value=MAX_SERVERS),
                Column("source", "str", required=False, default="user"),
            ),
            ("Point",),
        ),
        LayerSchema(
            "candidates",
            Column("candidate_id", "str"),
            (
                Column("name", "str", required=False, default=""),
                Column("kind", "str", required=False, default="user"),
            ),
            ("Point",),
        ),
    )
}
"""Every layer kind netplan reads, in one place."""

KINDS: Final[tuple[str, ...]] = tuple(SCHEMAS)

STUDY_KINDS: Final[tuple[str, ...]] = (
    "districts", "ring_roads", "ring_zones", "zones", "branches", "candidates",
)


def schema(kind: str) -> LayerSchema:
    """The :class:`LayerSchema` of ``kind``; unknown kinds raise NetplanError."""
    try:
        return SCHEMAS[kind]
    except KeyError:
        raise NetplanError(
            f"unknown layer kind {kind!r}; expected one of {', '.join(KINDS)}"
        ) from None
