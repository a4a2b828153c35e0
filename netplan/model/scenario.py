"""Planning scenarios: a frozen, validated :class:`Scenario` read from a TOML file.

A scenario holds every assumption of a plan: demand (customer share, visits, peak hour,
smart-channel share), service (service times, the waiting-time target), travel, the
planning limits (budget, openings, closures, ring share), the outlet formats and the
per-district policies ("一区一策"). Nothing of that lives anywhere else in code.

File layout (all tables optional; see ``netplan/data/scenarios/beijing-2035.toml`` for the
documented default)::

    name = "..."            description = "..."
    [years]     base, horizon
    [horizon]   total_population, central_population, central_districts
    [demand]    customer_share, visits_per_customer_per_year, business_days_per_year,
                peak_hour_share, smart_share
    [service]   counter_service_min, terminal_service_min, target_wait_min
    [travel]    max_dist_km, k_nearest, detour_factor, cost_cny_per_km, relocation_radius_km
    [planning]  budget_cny, max_open, max_close, max_upgrade, max_convert, outside_ring,
                min_share_outside_ring, amortisation_years, unserved_penalty_cny_per_visit,
                balance_weight, balance_threshold, time_limit_s, mip_gap, staffing,
                staff_extra_counters, staff_hours_per_day, staff_hour_cny
    [behaviour] rule, patience_min, speed_kmh, wait_weight, scale_per_min, spill_utilisation
    [formats.<name>]    counters, terminals, opex_cny_per_year, open_cny, convert_cny,
                        close_cny, relocate_cny, description
    [districts.<key>]   policy, min_outlets, max_outlets, max_open, max_close
    [phases.<year>]     budget_cny, max_open, max_close, max_upgrade, max_convert of a
                        phase (netplan.planning.phases)
    [uncertainty.<name>] channel_shift, growth, visit_frequency of a demand case
                        (netplan.planning.stress)

Defaults and merging
--------------------
* Scalar keys missing from a file take the defaults of :data:`DEFAULTS` (the one place they
  live; the default TOML repeats them with comments and a test checks both agree).
* ``name`` defaults to the file's stem, ``description`` to ``""``.
* ``[formats.*]`` merge with :data:`DEFAULT_FORMATS` by name: a file may change one field
  of ``full`` and keep the rest, or add a new format (which must then give every field but
  ``description``). ``full``, ``light`` and ``smart`` always exist.
* ``[districts]``, when present at all, *replaces* :data:`DEFAULT_DISTRICTS` entirely (the
  policies are one decision; write ``[districts]`` with nothing under it for none).
* TOML has no null: the optional limits (``budget_cny``, ``max_open``, ``max_close``,
  ``min_share_outside_ring``, ``time_limit_s`` and the district limits) accept the
  string ``"none"`` (or ``"unlimited"``) for "no limit".
* The old key ``planning.min_share_outside_ring5`` is still read, as ``outside_ring = 5``
  and ``min_share_outside_ring``, with a note naming the keys that replace it.

Every problem of a file is reported at once in one :class:`~netplan._errors.ScenarioError`,
each naming its key path (``demand.smart_share must be in [0, 1), got 1.4``).
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import logging
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, TypedDict

from netplan._errors import MAX_EXAMPLES, DataNotFoundError, ScenarioError, printable, quoted
from netplan._paths import default_scenario
from netplan.model.scenario_keys import (
    BEHAVIOUR_RULES,
    DEFAULTS,
    FORMAT_FIELDS,
    MAX_COUNT,
    PHASE_KEYS,
    POLICY_LIMITS,
    SECTIONS,
    SPECS,
    UNCERTAINTY_FIELDS,
    check_value,
)
from netplan.study.inputs import check_file_size, source_path

log = logging.getLogger(__name__)

__all__ = [
    "BEHAVIOUR_RULES",
    "DEFAULTS",
    "DEFAULT_DISTRICTS",
    "DEFAULT_FORMATS",
    "POLICIES",
    "REQUIRED_FORMATS",
    "DistrictPolicy",
    "Format",
    "Scenario",
    "ScenarioSource",
    "load_scenario",
    "scenario_from_dict",
    "scenario_to_dict",
]

#: Allowed district policies: ``consolidate`` (thin out a dense area: merge, close,
#: relocate out), ``expand`` (grow with the population), ``renovate`` (convert and
#: upgrade in place), ``hold`` (leave as is), ``free`` (the optimizer decides).
POLICIES: tuple[str, ...] = ("consolidate", "expand", "renovate", "hold", "free")

#: Formats every scenario defines.
REQUIRED_FORMATS: tuple[str, ...] = ("full", "light", "smart")

@dataclass(frozen=True)
class Format:
    """An outlet format: its servers and its costs (CNY).

    Attributes
    ----------
    name
        Format name (the key of ``[formats.<name>]``).
    counters, terminals
        Staffed counters and smart terminals (integers >= 1).
    opex_cny_per_year
        Annual operating cost.
    open_cny
        One-off cost to open a new outlet of this format.
    convert_cny
        One-off cost to convert an existing outlet of another format *into* this one.
    close_cny
        One-off cost to close an outlet of this format.
    relocate_cny
        One-off cost to move an outlet of this format to a nearby site (instead of a
        close plus an open).
    description
        Free text for reports.
    """

    name: str
    counters: int
    terminals: int
    opex_cny_per_year: float
    open_cny: float
    convert_cny: float
    close_cny: float
    relocate_cny: float
    description: str = ""

    def __post_init__(self) -> None:
        problems = _format_problems(self.name, dataclasses.asdict(self))
        if problems:
            raise ScenarioError(_join(problems, f"format {self.name!r}"))
        for key, (kind, _, _) in FORMAT_FIELDS.items():
            v = getattr(self, key)
            object.__setattr__(self, key, int(v) if kind == "int" else float(v))


def _format_problems(name: str, values: Mapping[str, Any]) -> list[str]:
    problems: list[str] = []
    if not isinstance(name, str) or not name.strip():
        problems.append(f"formats: a format name must be a non-empty string, got {quoted(name)}")
    for key, (kind, lo, hi) in FORMAT_FIELDS.items():
        _, p = check_value(f"formats.{name}.{key}", values.get(key), kind, lo=lo, hi=hi)
        if p:
            problems.append(p)
    desc = values.get("description", "")
    if not isinstance(desc, str):
        problems.append(f"formats.{name}.description must be a string, got {quoted(desc)}")
    return problems


@dataclass(frozen=True)
class DistrictPolicy:
    """One district's policy ("一区一策"); every limit ``None`` = no limit.

    Attributes
    ----------
    policy
        One of :data:`POLICIES`.
    min_outlets, max_outlets
        Bounds on the number of outlets in the district after the plan.
    max_open, max_close
        Bounds on openings and closures in the district (relocations count as neither).
    """

    policy: str = "free"
    min_outlets: int | None = None
    max_outlets: int | None = None
    max_open: int | None = None
    max_close: int | None = None

    def __post_init__(self) -> None:
        problems = _policy_problems("<district>", dataclasses.asdict(self))
        if problems:
            raise ScenarioError(_join(problems, "district policy"))


def _policy_problems(key: str, values: Mapping[str, Any]) -> list[str]:
    problems: list[str] = []
    pol = values.get("policy", "free")
    if pol not in POLICIES:
        problems.append(
            f"districts.{key}.policy must be one of {', '.join(POLICIES)}, got {quoted(pol)}"
        )
    checked: dict[str, Any] = {}
    for lim in POLICY_LIMITS:
        v, p = check_value(f"districts.{key}.{lim}", values.get(lim), "int", lo=0,
                            hi=MAX_COUNT, optional=True)
        if p:
            problems.append(p)
        checked[lim] = v
    lo, hi = checked["min_outlets"], checked["max_outlets"]
    if lo is not None and hi is not None and lo > hi:
        problems.append(
            f"districts.{key}: min_outlets ({lo}) must not exceed max_outlets ({hi})"
        )
    return problems


def _join(problems: list[str], where: str) -> str:
    """One message for every problem: the first ten, then a count of the rest."""
    problems = [printable(p if len(p) <= 400 else f"{p[:400]}...") for p in problems]
    if len(problems) == 1:
        return f"{where}: {problems[0]}"
    lines = [f"  - {p}" for p in problems[:MAX_EXAMPLES]]
    if len(problems) > MAX_EXAMPLES:
        lines.append(f"  - and {len(problems) - MAX_EXAMPLES:,} more problems")
    return f"{where} has {len(problems)} problems:\n" + "\n".join(lines)


#: The default formats (equal to ``[formats.*]`` of the default TOML).
DEFAULT_FORMATS: Mapping[str, Format] = MappingProxyType(
    {
        "full": Format(
            "full", counters=5, terminals=4, opex_cny_per_year=3_000_000.0,
            open_cny=6_000_000.0, convert_cny=1_500_000.0, close_cny=800_000.0,
            relocate_cny=2_500_000.0,
            description="full-service branch: counters for every transaction, some terminals",
        ),
        "light": Format(
            "light", counters=2, terminals=4, opex_cny_per_year=1_500_000.0,
            open_cny=2_500_000.0, convert_cny=800_000.0, close_cny=300_000.0,
            relocate_cny=800_000.0,
            description="light 'wealth + self-service' outlet: two counters, terminals",
        ),
        "smart": Format(
            "smart", counters=6, terminals=10, opex_cny_per_year=3_200_000.0,
            open_cny=7_000_000.0, convert_cny=2_000_000.0, close_cny=800_000.0,
            relocate_cny=2_500_000.0,
            description="smart branch: many terminals, counters kept for complex business",
        ),
    }
)

#: The default district policies (equal to ``[districts.*]`` of the default TOML).
DEFAULT_DISTRICTS: Mapping[str, DistrictPolicy] = MappingProxyType(
    {
        "东城区": DistrictPolicy("consolidate", max_open=0),
        "西城区": DistrictPolicy("consolidate", max_open=0),
        "通州区": DistrictPolicy("expand", max_close=0),
        "大兴区": DistrictPolicy("expand", max_close=0),
        "昌平区": DistrictPolicy("expand", max_close=0),
        "顺义区": DistrictPolicy("expand", max_close=0),
        "房山区": DistrictPolicy("expand", max_close=0),
    }
)


@dataclass(frozen=True)
class Scenario:
    """Every assumption of a plan; frozen and validated on construction.

    Build one with :func:`load_scenario` (from TOML) or :func:`scenario_from_dict`; change
    one with :meth:`replace` (re-validated). The attributes, with their TOML key and unit,
    are documented in ``netplan/data/scenarios/beijing-2035.toml``; defaults are
    :data:`DEFAULTS`.

    ``source`` (the file as given, or a label) and ``source_sha256`` (of the file's bytes)
    say where the settings came from; they do not take part in ``==``, so a scenario read
    back from a plan's ``kpis.json`` equals the one that made the plan.

    Notes
    -----
    ``formats`` and ``districts`` are read-only mappings. District keys are as written in
    the file (a district name or adcode); resolving them to adcodes is the caller's job.
    """

    name: str
    description: str
    base_year: int
    horizon_year: int
    horizon_total_population: float
    horizon_central_population: float
    central_districts: tuple[str, ...]
    customer_share: float
    visits_per_customer_per_year: float
    business_days_per_year: float
    peak_hour_share: float
    smart_share: float
    booking_share: float
    booking_cap: float
    counter_service_min: float
    terminal_service_min: float
    target_wait_min: float
    max_dist_km: float
    k_nearest: int
    detour_factor: float
    travel_cost_cny_per_km: float
    relocation_radius_km: float
    budget_cny: float | None
    max_open: int | None
    max_close: int | None
    max_upgrade: int | None
    max_convert: int | None
    outside_ring: int
    min_share_outside_ring: float | None
    amortisation_years: float
    unserved_penalty_cny_per_visit: float
    balance_weight: float
    balance_threshold: float
    time_limit_s: float | None
    mip_gap: float
    staffing: bool
    staff_extra_counters: int
    staff_hours_per_day: float
    staff_hour_cny: float
    behaviour_rule: str
    patience_min: float
    speed_kmh: float
    wait_weight: float
    scale_per_min: float
    spill_utilisation: float
    formats: Mapping[str, Format]
    districts: Mapping[str, DistrictPolicy]
    max_share_over_target: float | None = None
    # what-if tables ([phases.<year>], [uncertainty.<name>]): name -> key -> value
    phases: Mapping[str, Mapping[str, Any]] = dataclasses.field(default_factory=dict)
    uncertainty: Mapping[str, Mapping[str, Any]] = dataclasses.field(default_factory=dict)
    source: str = dataclasses.field(default="<defaults>", compare=False)
    source_sha256: str | None = dataclasses.field(default=None, compare=False)

    def __post_init__(self) -> None:
        problems: list[str] = []
        for attr in ("name", "description", "source"):
            if not isinstance(getattr(self, attr), str):
                problems.append(f"{attr} must be a string, got {getattr(self, attr)!r}")
        if self.source_sha256 is not None and not _is_sha256(self.source_sha256):
            problems.append(f"source sha256 must be 64 hex digits, got {self.source_sha256!r}")
        for spec in SPECS:
            value, p = check_value(
                spec.path, getattr(self, spec.field), spec.kind, lo=spec.lo, hi=spec.hi,
                lo_open=spec.lo_open, hi_open=spec.hi_open, optional=spec.optional,
            )
            if p:
                problems.append(p)
            else:
                object.__setattr__(self, spec.field, value)
        problems += _cross_problems(self.base_year, self.horizon_year,
                                    self.horizon_total_population,
                                    self.horizon_central_population)
        if isinstance(self.behaviour_rule, str) and self.behaviour_rule not in BEHAVIOUR_RULES:
            problems.append(f"behaviour.rule must be one of {', '.join(BEHAVIOUR_RULES)}, "
                            f"got {quoted(self.behaviour_rule)}")
        if not isinstance(self.formats, Mapping) or not all(
            isinstance(v, Format) for v in self.formats.values()
        ):
            problems.append("formats must be a mapping of format name to Format")
        else:
            for key, fmt in self.formats.items():
                if key != fmt.name:
                    problems.append(f"formats.{key} holds a Format named {fmt.name!r}")
            missing = [f for f in REQUIRED_FORMATS if f not in self.formats]
            if missing:
                problems.append(f"formats must define {', '.join(REQUIRED_FORMATS)}; "
                                f"missing {', '.join(missing)}")
        if not isinstance(self.districts, Mapping) or not all(
            isinstance(v, DistrictPolicy) for v in self.districts.values()
        ):
            problems.append("districts must be a mapping of district key to DistrictPolicy")
        if problems:
            raise ScenarioError(_join(problems, f"scenario {self.name!r} ({self.source})"))
        object.__setattr__(self, "formats", MappingProxyType(dict(self.formats)))
        object.__setattr__(self, "districts", MappingProxyType(dict(self.districts)))
        for attr in _NAMED_TABLES:
            object.__setattr__(self, attr, MappingProxyType(
                {k: MappingProxyType(dict(v)) for k, v in getattr(self, attr).items()}))

    def replace(self, **changes: Any) -> Scenario:
        """Return a copy with ``changes`` applied (attribute names), validated again."""
        return dataclasses.replace(self, **changes)

    def format_names(self) -> tuple[str, ...]:
        """The format names in file order (defaults first)."""
        return tuple(self.formats)


def _cross_problems(base: Any, horizon: Any, total: Any, central: Any) -> list[str]:
    problems: list[str] = []
    if isinstance(base, int) and isinstance(horizon, int) and horizon <= base:
        problems.append(f"years.horizon ({horizon}) must be after years.base ({base})")
    if (isinstance(total, int | float) and isinstance(central, int | float)
            and central > total):
        problems.append(
            f"horizon.central_population ({central:g}) must not exceed "
            f"horizon.total_population ({total:g})"
        )
    return problems


# --- reading ---------------------------------------------------------------------------


def _unknown(path: str, key: str, known: list[str]) -> str:
    close = difflib.get_close_matches(key, known, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else f"; known keys: {', '.join(known)}"
    where = f"{path}.{key}" if path else key
    return f"unknown key {where}{hint}"


class ScenarioSource(TypedDict):
    """Where a scenario came from, as a plan records it (``kpis.json`` ``scenario.source``)."""

    file: str
    """The file's name without its folder, or a label (``<defaults>``, ``<dict>``)."""
    sha256: str | None
    """SHA-256 of the file's bytes; ``None`` when the scenario was not read from a file."""


def _is_sha256(value: object) -> bool:
    return (isinstance(value, str) and len(value) == 64
            and all(c in "0123456789abcdef" for c in value))


def _source_from_dict(val: object, problems: list[str]) -> tuple[str, str | None] | None:
    """``source`` of a dict: a label, or ``{file, sha256}`` as :func:`scenario_to_dict` writes."""
    if isinstance(val, str):
        return val, None
    if (isinstance(val, Mapping) and set(val) == {"file", "sha256"}
            and isinstance(val["file"], str)
            and (val["sha256"] is None or _is_sha256(val["sha256"]))):
        return val["file"], val["sha256"]
    problems.append("source must be a string or a table {file, sha256 (64 hex digits or "
                    f"null)}}, got {quoted(val)}")
    return None


def _parse(
    raw: Mapping[str, Any], *, default_name: str, source: str, allow_source: bool,
    source_sha256: str | None = None,
) -> Scenario:
    problems: list[str] = []
    values: dict[str, Any] = dict(DEFAULTS)
    values["name"] = default_name
    values["description"] = ""
    top_known = ["name", "description", *[s for s in SECTIONS if s], "formats", "districts",
                 *_NAMED_TABLES]
    if allow_source:
        top_known.append("source")
    raw = _renamed_keys(raw, source, problems)
    for key, val in raw.items():
        if key in ("name", "description"):
            if not isinstance(val, str):
                problems.append(f"{key} must be a string, got {quoted(val)}")
            else:
                values[key] = val
        elif key == "source" and allow_source:
            given = _source_from_dict(val, problems)
            if given is not None:
                source, source_sha256 = given
        elif key in ("formats", "districts", *_NAMED_TABLES):
            continue
        elif key in SECTIONS and key:
            if not isinstance(val, Mapping):
                problems.append(f"{key} must be a table ([{key}]), got {quoted(val)}")
                continue
            specs = SECTIONS[key]
            for sub, sval in val.items():
                spec = specs.get(sub)
                if spec is None:
                    problems.append(_unknown(key, str(sub), list(specs)))
                    continue
                v, p = check_value(spec.path, sval, spec.kind, lo=spec.lo, hi=spec.hi,
                                    lo_open=spec.lo_open, hi_open=spec.hi_open,
                                    optional=spec.optional)
                if p:
                    problems.append(p)
                    values[spec.field] = _INVALID
                else:
                    values[spec.field] = v
        else:
            problems.append(_unknown("", str(key), top_known))

    if not any(values[f] is _INVALID for f in ("base_year", "horizon_year",
                                               "horizon_total_population",
                                               "horizon_central_population")):
        problems += _cross_problems(values["base_year"], values["horizon_year"],
                                    values["horizon_total_population"],
                                    values["horizon_central_population"])

    formats = _parse_formats(raw.get("formats", {}), problems)
    districts = _parse_districts(raw.get("districts"), problems)
    phases = _parse_named(raw.get("phases"), "phases", problems)
    uncertainty = _parse_named(raw.get("uncertainty"), "uncertainty", problems)
    if problems:
        raise ScenarioError(_join(problems, f"scenario {source}") + "\nFix the value(s) in "
                            "the file; netplan/data/scenarios/beijing-2035.toml documents "
                            "every key.")
    return Scenario(formats=formats, districts=districts, phases=phases,
                    uncertainty=uncertainty, source=source,
                    source_sha256=source_sha256, **values)


_OLD_RING_KEY = "min_share_outside_ring5"


def _renamed_keys(raw: Mapping[str, Any], source: str, problems: list[str]) -> Mapping[str, Any]:
    """The old ``planning.min_share_outside_ring5`` read as ``outside_ring = 5`` and
    ``min_share_outside_ring`` (a note names the new keys)."""
    planning = raw.get("planning")
    if not isinstance(planning, Mapping) or _OLD_RING_KEY not in planning:
        return raw
    new = dict(planning)
    value = new.pop(_OLD_RING_KEY)
    if "min_share_outside_ring" in new or new.get("outside_ring", 5) != 5:
        problems.append(f"planning.{_OLD_RING_KEY} is the old name of outside_ring = 5 and "
                        "min_share_outside_ring; give only the new keys")
        return raw
    new["outside_ring"], new["min_share_outside_ring"] = 5, value
    log.warning("scenario %s: planning.%s is an old key; write outside_ring = 5 and "
                "min_share_outside_ring = %s instead", source, _OLD_RING_KEY,
                value if not isinstance(value, str) else f'"{value}"')
    return {**raw, "planning": new}


class _Invalid:
    """Marker for a value that failed validation (already reported)."""


_INVALID = _Invalid()


def _parse_formats(raw: Any, problems: list[str]) -> dict[str, Format]:
    formats: dict[str, Format] = dict(DEFAULT_FORMATS)
    if not isinstance(raw, Mapping):
        problems.append(f"formats must be tables [formats.<name>], got {quoted(raw)}")
        return formats
    known = [*FORMAT_FIELDS, "description"]
    for name, table in raw.items():
        name = str(name)
        if not isinstance(table, Mapping):
            problems.append(f"formats.{name} must be a table [formats.{name}], got {quoted(table)}")
            continue
        base = dataclasses.asdict(formats[name]) if name in formats else {"description": ""}
        own: list[str] = []
        for key in table:
            if key not in known:
                own.append(_unknown(f"formats.{name}", str(key), known))
        merged = {**base, **{k: v for k, v in table.items() if k in known}}
        merged.pop("name", None)
        missing = [k for k in FORMAT_FIELDS if k not in merged]
        if missing:
            own.append(f"formats.{name} is a new format and must also give "
                       f"{', '.join(missing)}")
        own += [p for p in _format_problems(name, merged)
                if not any(p.startswith(f"formats.{name}.{k} ") for k in missing)]
        if own:
            problems += own
            continue
        formats[name] = Format(name=name, **merged)
    return formats


def _parse_districts(raw: Any, problems: list[str]) -> dict[str, DistrictPolicy]:
    if raw is None:
        return dict(DEFAULT_DISTRICTS)
    if not isinstance(raw, Mapping):
        problems.append(f"districts must be tables [districts.<name>], got {quoted(raw)}")
        return {}
    known = ["policy", *POLICY_LIMITS]
    out: dict[str, DistrictPolicy] = {}
    for key, table in raw.items():
        key = str(key)
        if not isinstance(table, Mapping):
            problems.append(
                f"districts.{key} must be a table [districts.{key}], got {quoted(table)}")
            continue
        own = [_unknown(f"districts.{key}", str(k), known) for k in table if k not in known]
        own += _policy_problems(key, table)
        if own:
            problems += own
            continue
        kw: dict[str, Any] = {"policy": table.get("policy", "free")}
        for lim in POLICY_LIMITS:
            kw[lim], _ = check_value("", table.get(lim), "int", lo=0, optional=True)
        out[key] = DistrictPolicy(**kw)
    return out


_NAMED_TABLES: tuple[str, ...] = ("phases", "uncertainty")
_PLANNING_SPECS = {s.key: s for s in SPECS if s.section == "planning" and s.key in PHASE_KEYS}


def _parse_named(raw: Any, section: str, problems: list[str]) -> dict[str, dict[str, Any]]:
    """``[phases.<year>]`` (planning limits of a phase) or ``[uncertainty.<name>]`` tables."""
    if raw is None:
        return {}
    if not isinstance(raw, Mapping) or not all(isinstance(v, Mapping) for v in raw.values()):
        problems.append(f"{section} must be tables [{section}.<name>], got {quoted(raw)}")
        return {}
    out: dict[str, dict[str, Any]] = {}
    for name, table in raw.items():
        name = str(name)
        if section == "phases" and not (name.isdigit() and 1900 <= int(name) <= 2200):
            problems.append(f"phases.{name}: a phase is named by its year (e.g. [phases.2030])")
            continue
        known = list(_PLANNING_SPECS) if section == "phases" else list(UNCERTAINTY_FIELDS)
        row: dict[str, Any] = {}
        for key, val in table.items():
            path = f"{section}.{name}.{key}"
            if key not in known:
                problems.append(_unknown(f"{section}.{name}", str(key), known))
            elif section == "phases":
                s = _PLANNING_SPECS[key]
                row[key], p = check_value(path, val, s.kind, lo=s.lo, hi=s.hi,
                                          optional=s.optional)
                problems += [p] if p else []
            else:
                kind, lo, hi = UNCERTAINTY_FIELDS[key]
                row[key], p = check_value(path, val, kind, lo=lo, hi=hi)
                problems += [p] if p else []
        out[name] = row
    return dict(sorted(out.items())) if section == "phases" else out


def scenario_from_dict(
    data: Mapping[str, Any], *, source: str = "<dict>", default_name: str = "scenario"
) -> Scenario:
    """Build a :class:`Scenario` from a nested mapping laid out like the TOML file.

    ``None`` is accepted wherever the file accepts ``"none"``; missing keys take the
    defaults (see the module docstring). A top-level ``source`` key (a label, or the
    ``{file, sha256}`` table that :func:`scenario_to_dict` writes) overrides ``source``.

    Raises
    ------
    ScenarioError
        Unknown keys, wrong types or out-of-range values, all listed with their key path.
    """
    if not isinstance(data, Mapping):
        raise ScenarioError(f"scenario {source}: expected a table of settings, got {quoted(data)}")
    return _parse(data, default_name=default_name, source=source, allow_source=True)


def load_scenario(path: str | Path | None = None) -> Scenario:
    """Read and validate a scenario TOML file (``None``: the default Beijing 2035 scenario).

    Parameters
    ----------
    path
        A TOML file; ``None`` reads the embedded ``beijing-2035.toml``.

    Returns
    -------
    Scenario
        Frozen and validated; ``source`` is the file path, ``source_sha256`` the SHA-256
        of its bytes.

    Raises
    ------
    DataNotFoundError
        The file does not exist.
    NetplanError
        The path is a URL (scenarios are read from local files only), or the file is
        larger than ``max_scenario_bytes`` of :func:`netplan.study.inputs.input_limits`.
    ScenarioError
        The file is not valid TOML (the message gives the line and column), or has unknown
        keys or out-of-range values (all listed, each with its key path).
    """
    p = default_scenario() if path is None else Path(path)
    local = Path(source_path(p, what="scenario", allow_remote=False))
    if not local.is_file():
        raise DataNotFoundError(
            f"scenario file {p} does not exist; pass an existing TOML file, or omit the "
            "path to use the default beijing-2035.toml"
        )
    check_file_size(p, what="scenario", size=local.stat().st_size, cap="max_scenario_bytes")
    data = local.read_bytes()
    try:
        # Universal newlines, as reading the file as text would give.
        text = data.decode("utf-8").replace("\r\n", "\n").replace("\r", "\n")
        raw = tomllib.loads(text)
    except UnicodeDecodeError as exc:
        raise ScenarioError(f"scenario {p} is not UTF-8 text ({exc}); save it as UTF-8") from None
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(
            f"scenario {p} is not valid TOML: {exc}. Fix the syntax at that line "
            "(strings need quotes, tables are written [section])"
        ) from None
    return _parse(raw, default_name=p.stem, source=str(p), allow_source=False,
                  source_sha256=hashlib.sha256(data).hexdigest())


def scenario_to_dict(scenario: Scenario) -> dict[str, Any]:
    """The scenario as a nested, JSON-serialisable dict in the TOML layout (for plans).

    ``None`` stands for "no limit". :func:`scenario_from_dict` reads it back to an equal
    scenario. ``source`` is ``{"file": ..., "sha256": ...}``: for a scenario read from a
    file, the file's name (never its folder, so a plan's bytes do not depend on where the
    file lives) and the SHA-256 of its bytes; otherwise the label and ``None``.
    """
    out: dict[str, Any] = {"name": scenario.name, "description": scenario.description}
    for spec in SPECS:
        out.setdefault(spec.section, {})[spec.key] = getattr(scenario, spec.field)
    out["formats"] = {
        name: {k: v for k, v in dataclasses.asdict(f).items() if k != "name"}
        for name, f in scenario.formats.items()
    }
    out["districts"] = {k: dataclasses.asdict(p) for k, p in scenario.districts.items()}
    for attr in _NAMED_TABLES:  # only when given: older plans' echo stays as it was
        if getattr(scenario, attr):
            out[attr] = {k: dict(v) for k, v in getattr(scenario, attr).items()}
    label = scenario.source
    if scenario.source_sha256 is not None:
        label = Path(label).name
    source: ScenarioSource = {"file": label, "sha256": scenario.source_sha256}
    out["source"] = source
    return out
