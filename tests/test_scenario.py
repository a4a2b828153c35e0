"""Scenario loading: the default file, partial files, every kind of bad file, properties."""

from __future__ import annotations

import dataclasses
import json
import math
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from netplan._errors import DataNotFoundError, ScenarioError
from netplan.model.scenario import (
    DEFAULT_DISTRICTS,
    DEFAULT_FORMATS,
    DEFAULTS,
    DistrictPolicy,
    Format,
    Scenario,
    load_scenario,
    scenario_from_dict,
    scenario_to_dict,
)

REPO_DEFAULT = (Path(__file__).resolve().parent.parent / "netplan" / "data" / "scenarios"
                / "beijing-2035.toml")


def write(tmp_path: Path, text: str, name: str = "s.toml") -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


# --- the default scenario ------------------------------------------------------------------


def test_default_file_loads_with_the_brief_values() -> None:
    s = load_scenario()
    assert s.name == "beijing-2035"
    assert Path(s.source) == REPO_DEFAULT
    assert (s.base_year, s.horizon_year) == (2020, 2035)
    assert s.horizon_total_population == 23_000_000
    assert s.horizon_central_population == 10_850_000
    assert s.smart_share == 0.6
    assert s.target_wait_min == 11.0
    assert s.counter_service_min > s.terminal_service_min
    assert set(s.formats) >= {"full", "light", "smart"}
    assert s.districts["东城区"].policy == "consolidate"
    assert s.districts["东城区"].max_open == 0
    assert s.districts["通州区"].max_close == 0
    assert s.budget_cny == 600_000_000


def test_default_file_equals_code_defaults() -> None:
    """The defaults live in code once; the commented default file repeats them exactly."""
    from_file = load_scenario()
    from_code = scenario_from_dict({})
    # central_districts: the file names Beijing's six; the code default () takes them from
    # the districts layer's zone column, which gives the same six for the embedded data
    assert from_code.central_districts == ()
    for f in dataclasses.fields(Scenario):
        if f.name in ("name", "description", "source", "source_sha256", "central_districts"):
            continue
        assert getattr(from_file, f.name) == getattr(from_code, f.name), f.name
    assert dict(from_file.formats) == dict(DEFAULT_FORMATS)
    assert dict(from_file.districts) == dict(DEFAULT_DISTRICTS)
    for field, value in DEFAULTS.items():
        assert field == "central_districts" or getattr(from_file, field) == value


def test_partial_file_fills_defaults(tmp_path: Path) -> None:
    p = write(tmp_path, '[demand]\nsmart_share = 0.7\n[formats.full]\ncounters = 6\n',
              name="more-smart.toml")
    s = load_scenario(p)
    assert s.name == "more-smart"
    assert s.smart_share == 0.7
    assert s.customer_share == DEFAULTS["customer_share"]
    assert s.formats["full"].counters == 6
    assert s.formats["full"].terminals == DEFAULT_FORMATS["full"].terminals
    assert s.formats["light"] == DEFAULT_FORMATS["light"]
    assert dict(s.districts) == dict(DEFAULT_DISTRICTS)


def test_new_format_and_replaced_districts(tmp_path: Path) -> None:
    text = """
[formats.flagship]
counters = 10
terminals = 12
opex_cny_per_year = 6e6
open_cny = 12e6
convert_cny = 4e6
close_cny = 1e6
relocate_cny = 5e6

[districts.110105]
policy = "renovate"
min_outlets = 3
max_outlets = "none"
"""
    s = load_scenario(write(tmp_path, text))
    assert list(s.formats) == ["full", "light", "smart", "flagship"]
    assert s.formats["flagship"].counters == 10
    assert s.formats["flagship"].description == ""
    assert dict(s.districts) == {"110105": DistrictPolicy("renovate", min_outlets=3)}


def test_empty_districts_table_means_no_policies(tmp_path: Path) -> None:
    assert dict(load_scenario(write(tmp_path, "[districts]\n")).districts) == {}


def test_none_means_no_limit(tmp_path: Path) -> None:
    text = ('[planning]\nbudget_cny = "none"\nmax_open = "unlimited"\nmax_close = "None"\n'
            'min_share_outside_ring = "none"\ntime_limit_s = "none"\n')
    s = load_scenario(write(tmp_path, text))
    assert s.budget_cny is None and s.max_open is None and s.max_close is None
    assert s.min_share_outside_ring is None and s.time_limit_s is None


def test_replace_revalidates_and_round_trip() -> None:
    s = load_scenario()
    t = s.replace(smart_share=0.5, max_open=None)
    assert t.smart_share == 0.5 and t.max_open is None and s.smart_share == 0.6
    with pytest.raises(ScenarioError, match=r"demand\.smart_share must be in \[0, 1\), got 1\.4"):
        s.replace(smart_share=1.4)
    d = scenario_to_dict(s)
    json.dumps(d, ensure_ascii=False, allow_nan=False)
    assert d["demand"]["smart_share"] == 0.6
    assert d["formats"]["full"]["counters"] == 5
    assert scenario_from_dict(d) == s


def test_mappings_are_read_only() -> None:
    s = load_scenario()
    with pytest.raises(TypeError):
        s.formats["x"] = s.formats["full"]  # type: ignore[index]
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.smart_share = 0.1  # type: ignore[misc]


# --- bad files -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text,match",
    [
        ("[demand]\nsmart_share = 1.4\n", r"demand\.smart_share must be in \[0, 1\), got 1\.4"),
        ("[demand]\nsmart_sahre = 0.5\n", r"unknown key demand\.smart_sahre; did you mean "
                                          r"'smart_share'"),
        ("colour = 'red'\n", r"unknown key colour"),
        ("[travel]\nk_nearest = 8\nspeed = 3\n", r"unknown key travel\.speed"),
        ("[demand]\nvisits_per_customer_per_year = -2\n",
         r"demand\.visits_per_customer_per_year must be in \(0, 10000\], got -2"),
        ("[demand]\ncustomer_share = -0.1\n", r"demand\.customer_share must be in \(0, 1\]"),
        ("[service]\ntarget_wait_min = 0\n",
         r"service\.target_wait_min must be in \[0\.1, 1440\], got 0"),
        ("[service]\ntarget_wait_min = -5\n",
         r"service\.target_wait_min must be in \[0\.1, 1440\]"),
        ("[service]\ncounter_service_min = 'slow'\n",
         r"service\.counter_service_min must be a number"),
        ("[travel]\nk_nearest = 2.5\n", r"travel\.k_nearest must be an integer"),
        ("[travel]\ndetour_factor = 0.8\n", r"travel\.detour_factor must be in \[1, 10\]"),
        ("[planning]\nmax_open = -1\n", r"planning\.max_open must be in \[0, 1000000\]"),
        ("[planning]\nbudget_cny = true\n", r"planning\.budget_cny must be a number"),
        ("[planning]\nmip_gap = nan\n", r"planning\.mip_gap must be a finite number"),
        ("[years]\nbase = 2035\nhorizon = 2020\n", r"years\.horizon \(2020\) must be after"),
        ("[horizon]\ncentral_population = 3e7\n", r"central_population .* must not exceed"),
        ("[formats.full]\ncounters = 0\n",
         r"formats\.full\.counters must be in \[1, 1000\], got 0"),
        ("[formats.light]\ncounters = 0\nterminals = 0\n",
         r"formats\.light\.counters must be in \[1, 1000\](.|\n)*formats\.light\.terminals "
         r"must be in \[1, 1000\]"),
        ("[formats.kiosk]\nterminals = 2\n", r"formats\.kiosk is a new format and must also "
                                             r"give counters"),
        ("[formats.full]\nseats = 3\n", r"unknown key formats\.full\.seats"),
        ("[formats.full]\nopex_cny_per_year = -1\n",
         r"formats\.full\.opex_cny_per_year must be in \[0, 1e\+12\]"),
        ("[districts.x]\npolicy = 'grow'\n", r"districts\.x\.policy must be one of consolidate"),
        ("[districts.x]\nmax_close = -3\n", r"districts\.x\.max_close must be in \[0, 1000000\]"),
        ("[districts.x]\nmin_outlets = 5\nmax_outlets = 2\n", r"min_outlets \(5\) must not "
                                                              r"exceed max_outlets \(2\)"),
        ("[districts.x]\nquota = 2\n", r"unknown key districts\.x\.quota"),
        ("demand = 3\n", r"demand must be a table"),
        ("name = 5\n", r"name must be a string"),
    ],
)
def test_bad_files_name_the_key(tmp_path: Path, text: str, match: str) -> None:
    with pytest.raises(ScenarioError, match=match):
        load_scenario(write(tmp_path, text))


def test_all_problems_are_reported_at_once(tmp_path: Path) -> None:
    text = "[demand]\nsmart_share = 2\nfoo = 1\n[service]\ntarget_wait_min = 0\n"
    with pytest.raises(ScenarioError, match=r"3 problems") as info:
        load_scenario(write(tmp_path, text))
    msg = str(info.value)
    assert "demand.smart_share" in msg and "demand.foo" in msg
    assert "service.target_wait_min" in msg and str(tmp_path) in msg


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DataNotFoundError, match=r"does not exist"):
        load_scenario(tmp_path / "nope.toml")


def test_toml_syntax_error_gives_the_line(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match=r"not valid TOML.*line 3"):
        load_scenario(write(tmp_path, "[demand]\nsmart_share = 0.6\ncustomer_share = = 3\n"))


def test_direct_construction_is_validated() -> None:
    with pytest.raises(ScenarioError, match=r"formats\.full\.counters must be in \[1, 1000\]"):
        Format("full", 0, 4, 1.0, 1.0, 1.0, 1.0, 1.0)
    with pytest.raises(ScenarioError, match=r"policy must be one of"):
        DistrictPolicy("grow")
    s = load_scenario()
    with pytest.raises(ScenarioError, match=r"formats must define full, light, smart"):
        s.replace(formats={"full": s.formats["full"]})


# --- properties ----------------------------------------------------------------------------

SECTION_KEYS = {
    "years": ["base", "horizon"],
    "horizon": ["total_population", "central_population"],
    "demand": ["customer_share", "visits_per_customer_per_year", "business_days_per_year",
               "peak_hour_share", "smart_share"],
    "service": ["counter_service_min", "terminal_service_min", "target_wait_min"],
    "travel": ["max_dist_km", "k_nearest", "detour_factor", "cost_cny_per_km",
               "relocation_radius_km"],
    "planning": ["budget_cny", "max_open", "max_close", "outside_ring",
                 "min_share_outside_ring", "amortisation_years",
                 "unserved_penalty_cny_per_visit", "balance_weight", "balance_threshold",
                 "time_limit_s", "mip_gap"],
}
FORMAT_KEYS = ["counters", "terminals", "opex_cny_per_year", "open_cny", "convert_cny",
               "close_cny", "relocate_cny", "description"]
DISTRICT_KEYS = ["policy", "min_outlets", "max_outlets", "max_open", "max_close"]

scalars = st.one_of(
    st.integers(-10, 10**8),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(0, 1),
    st.booleans(),
    st.sampled_from(["none", "free", "expand", "x", ""]),
    st.text(max_size=4),
)


def table(keys: list[str]) -> st.SearchStrategy[dict[str, Any]]:
    return st.dictionaries(st.one_of(st.sampled_from(keys), st.text(max_size=5)), scalars,
                           max_size=6)


scenario_dicts = st.fixed_dictionaries(
    {},
    optional={
        **{sec: table(keys) for sec, keys in SECTION_KEYS.items()},
        "name": scalars,
        "formats": st.dictionaries(st.sampled_from(["full", "light", "smart", "new"]),
                                   table(FORMAT_KEYS), max_size=3),
        "districts": st.dictionaries(st.sampled_from(["东城区", "110105", "x"]),
                                     table(DISTRICT_KEYS), max_size=3),
        "junk": scalars,
    },
)


@settings(max_examples=300, deadline=None)
@given(data=scenario_dicts)
def test_random_dicts_give_a_scenario_or_scenario_error(data: dict[str, Any]) -> None:
    try:
        s = scenario_from_dict(data)
    except ScenarioError:
        return
    assert 0 <= s.smart_share < 1
    assert s.target_wait_min > 0
    assert all(f.counters >= 1 and f.terminals >= 1 for f in s.formats.values())


def to_toml(data: dict[str, Any]) -> str:
    """A tiny TOML writer for dicts of scalars and (nested) tables."""

    def val(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, float):
            if math.isnan(v):
                return "nan"
            if math.isinf(v):
                return "inf" if v > 0 else "-inf"
            return repr(v)
        if isinstance(v, int):
            return str(v)
        return json.dumps(str(v), ensure_ascii=False)

    def key(k: str) -> str:
        return json.dumps(k, ensure_ascii=False)

    lines: list[str] = []
    for k, v in data.items():
        if not isinstance(v, dict):
            lines.append(f"{key(k)} = {val(v)}")
    for k, v in data.items():
        if isinstance(v, dict):
            scalars_ = {a: b for a, b in v.items() if not isinstance(b, dict)}
            lines.append(f"[{key(k)}]")
            lines += [f"{key(a)} = {val(b)}" for a, b in scalars_.items()]
            for a, b in v.items():
                if isinstance(b, dict):
                    lines.append(f"[{key(k)}.{key(a)}]")
                    lines += [f"{key(x)} = {val(y)}" for x, y in b.items()]
    return "\n".join(lines) + "\n"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=scenario_dicts)
def test_random_toml_files_give_a_scenario_or_scenario_error(data: dict[str, Any]) -> None:
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "random.toml"
        p.write_text(to_toml(data), encoding="utf-8")
        try:
            s = load_scenario(p)
        except ScenarioError:
            return
        assert s.source == str(p)
        assert s.horizon_central_population <= s.horizon_total_population
