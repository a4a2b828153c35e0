"""The one table of a scenario's scalar keys: TOML table, key, attribute, kind, default, range.

:class:`netplan.model.scenario.Scenario` reads its fields, defaults and checks from
:data:`SPECS`; a new scalar setting is one row here and one field there. The checks
(:func:`check_value`) coerce a TOML value to its kind and say what range it must be in.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from netplan._errors import quoted

NONE_WORDS = frozenset({"none", "unlimited"})


# --- field specifications: the single home of the defaults -------------------------------


@dataclass(frozen=True)
class Spec:
    """One scalar scenario setting: where it sits in the file and what it may hold."""

    section: str  # TOML table, "" for top level
    key: str  # key inside the table
    field: str  # Scenario attribute
    kind: str  # "float" | "int" | "bool" | "str" | "strs" (a list of strings)
    default: Any
    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False
    hi_open: bool = False
    optional: bool = False  # None ("none" in TOML) allowed = no limit

    @property
    def path(self) -> str:
        return f"{self.section}.{self.key}" if self.section else self.key


# Sane maxima of the numeric settings: far above any real network, far below overflow.
_MAX_PEOPLE = 2e9  # more than China's population
_MAX_MINUTES = 1_440.0  # a day
_MAX_CNY = 1e13  # ten trillion yuan
MAX_COUNT = 1_000_000  # outlets opened, closed ... in one plan or district

SPECS: tuple[Spec, ...] = (
    Spec("years", "base", "base_year", "int", 2020, 1900, 2200),
    Spec("years", "horizon", "horizon_year", "int", 2035, 1900, 2200),
    Spec("horizon", "total_population", "horizon_total_population", "float", 23_000_000.0,
          0, _MAX_PEOPLE, lo_open=True),
    Spec("horizon", "central_population", "horizon_central_population", "float",
          10_850_000.0, 0, _MAX_PEOPLE),
    # () = the districts whose `zone` column says core or central
    Spec("horizon", "central_districts", "central_districts", "strs", ()),
    Spec("demand", "customer_share", "customer_share", "float", 0.22, 0, 1, lo_open=True),
    Spec("demand", "visits_per_customer_per_year", "visits_per_customer_per_year", "float",
          6.0, 0, 10_000, lo_open=True),
    Spec("demand", "business_days_per_year", "business_days_per_year", "float", 250.0,
          0, 366, lo_open=True),
    Spec("demand", "peak_hour_share", "peak_hour_share", "float", 0.18, 0, 1, lo_open=True),
    Spec("demand", "smart_share", "smart_share", "float", 0.6, 0, 1, hi_open=True),
    Spec("demand", "booking_share", "booking_share", "float", 0.0, 0, 1),
    Spec("demand", "booking_cap", "booking_cap", "float", 1.0, 0, 10, lo_open=True),
    Spec("service", "counter_service_min", "counter_service_min", "float", 12.0, 0.1,
          _MAX_MINUTES),
    Spec("service", "terminal_service_min", "terminal_service_min", "float", 4.0, 0.1,
          _MAX_MINUTES),
    Spec("service", "target_wait_min", "target_wait_min", "float", 11.0, 0.1, _MAX_MINUTES),
    Spec("service", "max_share_over_target", "max_share_over_target", "float", None, 0, 1,
          lo_open=True, hi_open=True, optional=True),  # None: capacity at the mean wait
    Spec("travel", "max_dist_km", "max_dist_km", "float", 10.0, 0, 1_000, lo_open=True),
    Spec("travel", "k_nearest", "k_nearest", "int", 8, 1, 100),
    Spec("travel", "detour_factor", "detour_factor", "float", 1.3, 1, 10),
    Spec("travel", "cost_cny_per_km", "travel_cost_cny_per_km", "float", 15.0, 0, 1e6),
    Spec("travel", "relocation_radius_km", "relocation_radius_km", "float", 3.0, 0, 1_000),
    Spec("planning", "budget_cny", "budget_cny", "float", 600_000_000.0, 0, _MAX_CNY,
          optional=True),
    Spec("planning", "max_open", "max_open", "int", 60, 0, MAX_COUNT, optional=True),
    Spec("planning", "max_close", "max_close", "int", 40, 0, MAX_COUNT, optional=True),
    Spec("planning", "max_upgrade", "max_upgrade", "int", None, 0, MAX_COUNT, optional=True),
    Spec("planning", "max_convert", "max_convert", "int", 40, 0, MAX_COUNT, optional=True),
    Spec("planning", "outside_ring", "outside_ring", "int", 5, 1, 1_000),
    Spec("planning", "min_share_outside_ring", "min_share_outside_ring", "float", 0.32,
          0, 1, optional=True),
    Spec("planning", "amortisation_years", "amortisation_years", "float", 10.0, 0.1, 1_000),
    Spec("planning", "unserved_penalty_cny_per_visit", "unserved_penalty_cny_per_visit",
          "float", 200.0, 0, 1e9),
    Spec("planning", "balance_weight", "balance_weight", "float", 0.0, 0, 1e9),
    Spec("planning", "balance_threshold", "balance_threshold", "float", 0.85, 0, 1,
          lo_open=True),
    Spec("planning", "time_limit_s", "time_limit_s", "float", 120.0, 0, 31_536_000,
          lo_open=True, optional=True),
    Spec("planning", "mip_gap", "mip_gap", "float", 0.01, 0, 1, hi_open=True),
    # staffing as an option against upgrading (netplan.planning.problem: staffed options)
    Spec("planning", "staffing", "staffing", "bool", False),
    Spec("planning", "staff_extra_counters", "staff_extra_counters", "int", 2, 1, 50),
    Spec("planning", "staff_hours_per_day", "staff_hours_per_day", "float", 3.0, 0, 24,
          lo_open=True),
    Spec("planning", "staff_hour_cny", "staff_hour_cny", "float", 150.0, 0, 1e6),
    Spec("behaviour", "rule", "behaviour_rule", "str", "choice"),  # one of BEHAVIOUR_RULES
    Spec("behaviour", "patience_min", "patience_min", "float", 140.0, 0, 10_080, lo_open=True),
    Spec("behaviour", "speed_kmh", "speed_kmh", "float", 15.0, 0.5, 200),
    Spec("behaviour", "wait_weight", "wait_weight", "float", 1.5, 0, 20),
    Spec("behaviour", "scale_per_min", "scale_per_min", "float", 0.2, 0.001, 10),
    Spec("behaviour", "spill_utilisation", "spill_utilisation", "float", 0.95, 0.05, 1),
)

#: Customer behaviour rules of ``[behaviour] rule`` (see :mod:`netplan.model.behaviour`).
BEHAVIOUR_RULES: tuple[str, ...] = ("choice", "nearest")

SECTIONS: dict[str, dict[str, Spec]] = {}
for _s in SPECS:
    SECTIONS.setdefault(_s.section, {})[_s.key] = _s

#: Default of every scalar setting, by :class:`Scenario` attribute name.
DEFAULTS: Mapping[str, Any] = MappingProxyType({s.field: s.default for s in SPECS})

# Format fields: key -> (kind, lo, hi); counters/terminals are ints in [1, 1000], costs
# in [0, 1e12] CNY.
FORMAT_FIELDS: dict[str, tuple[str, float, float]] = {
    "counters": ("int", 1, 1_000),
    "terminals": ("int", 1, 1_000),
    "opex_cny_per_year": ("float", 0, 1e12),
    "open_cny": ("float", 0, 1e12),
    "convert_cny": ("float", 0, 1e12),
    "close_cny": ("float", 0, 1e12),
    "relocate_cny": ("float", 0, 1e12),
}
POLICY_LIMITS: tuple[str, ...] = ("min_outlets", "max_outlets", "max_open", "max_close")


# --- the dataclasses ---------------------------------------------------------------------


def _range_text(lo: float | None, hi: float | None, lo_open: bool, hi_open: bool) -> str:
    if hi is None:
        return f"> {_num(lo)}" if lo_open else f">= {_num(lo)}"
    left = "(" if lo_open else "["
    right = ")" if hi_open else "]"
    return f"in {left}{_num(lo)}, {_num(hi)}{right}"


def _num(x: float | None) -> str:
    if x is None:
        return "?"
    if abs(x) >= 1e7:
        return f"{x:g}"
    return str(int(x)) if float(x).is_integer() else repr(x)


def _check_text(path: str, value: Any, kind: str) -> tuple[Any, str | None]:
    """A string; or (``strs``) a list of names or codes (TOML strings or integers) as a tuple."""
    if kind == "str":
        if not isinstance(value, str):
            return None, f"{path} must be a string, got {quoted(value)}"
        return value, None
    if not isinstance(value, list | tuple) or not all(
            isinstance(v, str | int) and not isinstance(v, bool) for v in value):
        return None, f"{path} must be a list of names or codes, got {quoted(value)}"
    return tuple(str(v).strip() for v in value), None


_BOOL_WORDS = {"true": True, "false": False}


def _check_bool(path: str, value: Any) -> tuple[Any, str | None]:
    """``true``/``false`` (a TOML boolean, or the word, as ``--vary`` passes it)."""
    if isinstance(value, str) and value.strip().lower() in _BOOL_WORDS:
        return _BOOL_WORDS[value.strip().lower()], None
    if not isinstance(value, bool):
        return None, f"{path} must be true or false, got {quoted(value)}"
    return value, None


def check_value(
    path: str,
    value: Any,
    kind: str,
    *,
    lo: float | None = None,
    hi: float | None = None,
    lo_open: bool = False,
    hi_open: bool = False,
    optional: bool = False,
) -> tuple[Any, str | None]:
    """Coerce one value to its kind and check its range; return ``(value, problem)``."""
    if value is None:
        if optional:
            return None, None
        return None, f"{path} is required (no limit is not allowed here)"
    if optional and isinstance(value, str) and value.strip().lower() in NONE_WORDS:
        return None, None
    if kind in ("str", "strs"):
        return _check_text(path, value, kind)
    if kind == "bool":
        return _check_bool(path, value)
    hint = ' or "none" for no limit' if optional else ""
    if isinstance(value, bool) or not isinstance(value, int | float):
        what = "an integer" if kind == "int" else "a number"
        return None, f"{path} must be {what}{hint}, got {quoted(value)}"
    if kind == "int":
        if isinstance(value, float):
            if not (math.isfinite(value) and value.is_integer()):
                return None, f"{path} must be an integer{hint}, got {quoted(value)}"
            value = int(value)
    else:
        try:
            value = float(value)
        except OverflowError:
            return None, f"{path} must be a finite number{hint}, got {quoted(value)}"
        if not math.isfinite(value):
            return None, f"{path} must be a finite number{hint}, got {quoted(value)}"
    ok = True
    if lo is not None:
        ok = ok and (value > lo if lo_open else value >= lo)
    if hi is not None:
        ok = ok and (value < hi if hi_open else value <= hi)
    if not ok:
        return None, f"{path} must be {_range_text(lo, hi, lo_open, hi_open)}, got {quoted(value)}"
    return value, None




# --- tables of named cases (what-if: netplan stress, phased plans) ------------------------

#: Keys of an ``[uncertainty.<name>]`` table, one demand case of ``netplan stress``:
#: key -> (kind, lo, hi). ``channel_shift`` is added to ``demand.smart_share``, ``growth``
#: multiplies ``demand.customer_share`` (the bank's customers), ``visit_frequency``
#: multiplies ``demand.visits_per_customer_per_year``; a missing key changes nothing.
UNCERTAINTY_FIELDS: dict[str, tuple[str, float, float]] = {
    "channel_shift": ("float", -1.0, 1.0),
    "growth": ("float", 0.01, 100.0),
    "visit_frequency": ("float", 0.01, 100.0),
}
#: The ``[planning]`` keys a ``[phases.<year>]`` table may set for its phase.
PHASE_KEYS: tuple[str, ...] = ("budget_cny", "max_open", "max_close", "max_upgrade",
                               "max_convert")
