"""Committee maps: layers, legends, escaping, offline, determinism, size, GCJ-02."""

from __future__ import annotations

import html as html_mod
import json
import re
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest_maps import XSS_NAME, XSS_REASON, XSS_ZONE, big_plan, tiny_plan, tiny_study
from typer.testing import CliRunner

from netplan._errors import NetplanError
from netplan.cli import app
from netplan.planning import actions
from netplan.present import maps, zones
from netplan.study.coords import wgs84_to_gcj02

PLAN_BASE_LAYERS = (
    "Population 2035 per ~1 km zone (modelled from census)",
    "Population inflow 2010 → 2020 per zone (modelled from census)",
    "Unserved customers at peak after the plan (modelled)",
    "Distance to the serving outlet before the plan (modelled)",
    "Distance to the serving outlet after the plan (modelled)",
    "Catchments after the plan: zones by serving outlet (modelled)",
    "No zone colouring",
)
PLAN_OVERLAYS = (
    "Outlets: planned action",
    "Relocations: arrow from the old to the new site",
    "Network before the plan: outlets by expected wait",
    "Network after the plan: outlets by expected wait (modelled)",
    "Districts: boundaries and names",
    "Ring roads 2nd–6th (synthetic)",
    "Ring zones: areas between the ring roads",
)


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return tiny_study(tmp_path_factory.mktemp("study"))


@pytest.fixture(scope="module")
def html(study: Any) -> str:
    return maps.plan_map_html(tiny_plan(), study=study, tiles="none")


def payload(text: str) -> dict[str, Any]:
    m = re.search(r'<script type="application/json" id="netplan-data">(.*?)</script>', text,
                  re.S)
    assert m, "no data payload in the page"
    data: dict[str, Any] = json.loads(m.group(1))
    return data


def control_layers(text: str) -> tuple[list[str], list[str]]:
    """Titles of the base layers and overlays of the layer list (HTML-unescaped)."""
    frame = payload(text)["frame"]
    over = [html_mod.unescape(o[1]) for o in frame["overlays"]]
    if frame["tiles"]:
        over.append(html_mod.unescape(frame["tiles"]["title"]))
    return [html_mod.unescape(b[1]) for b in frame["base"]], over


def test_layer_control_lists_every_measure_and_overlay(html: str) -> None:
    base, over = control_layers(html)
    assert base == list(PLAN_BASE_LAYERS)
    for title in PLAN_OVERLAYS:
        assert any(o.startswith(title) for o in over), (title, over)
    assert not any("Background map" in o for o in over)  # tiles="none"


def test_legends_and_kpi_panel_present(html: str) -> None:
    for el in ('id="netplan-legend"', 'id="netplan-legend-actions"', 'id="netplan-legend-wait"',
               'id="netplan-kpi-panel"', 'id="netplan-title"'):
        assert el in html
    keys = re.findall(r'class="netplan-legend-block netplan-measure-legend" data-measure="(\w+)"',
                      html)
    assert keys == ["population", "inflow", "unserved", "dist_before", "dist_after",
                    "catchment", "none"]
    for label in ("keep (4)", "open (1)", "close (1)", "upgrade (1)", "convert (1)",
                  "relocate: old site (1)", "relocate: new site (1)"):
        assert label in html
    # the KPI panel shows overall before → after figures from plan.kpis
    assert "9.5 min" in html and "5.0 min" in html
    assert "Mean expected wait at peak" in html


def test_every_action_has_its_own_colour_and_shape(html: str) -> None:
    data = payload(html)
    used = {key for _, key in data["outlet_layers"]["actions"]}
    assert used == {"keep", "open", "close", "upgrade", "convert", "relocate_old",
                    "relocate_new", "context"}
    styles = actions.markers()
    six = [styles[k] for k in ("keep", "open", "close", "upgrade", "convert", "relocate_old")]
    assert len({s.shape for s in six}) == 6
    assert len({s.color for s in six}) == 6
    ids = data["outlets"]["id"]
    act = {ids[i]: key for i, key in data["outlet_layers"]["actions"]}
    assert act["b2"] == "upgrade" and act["b5"] == "relocate_old" and act["c1"] == "relocate_new"
    assert act["x9"] == "context"
    # before: the 8 existing outlets (+ the context one), after: the 9 open ones
    assert len(data["outlet_layers"]["before"]) == 9
    assert sorted(ids[i] for i, _ in data["outlet_layers"]["after"]) == sorted(
        ["b1", "b2", "b4", "b6", "b7", "b8", "c1", "c2", "x9"])
    waits = {ids[i]: key for i, key in data["outlet_layers"]["before"]}
    assert waits["b7"] == "w4"  # infinite wait before: saturated
    assert waits["b2"] == "w3"  # 25 min > 2 × 11


def test_relocation_arrow_goes_from_old_to_new_site(html: str) -> None:
    data = payload(html)
    o = data["outlets"]
    i, j = o["id"].index("b5"), o["id"].index("c1")
    (arrow,) = data["arrows"]
    assert arrow[:4] == [o["lat"][i], o["lon"][i], o["lat"][j], o["lon"][j]]
    assert -90 < arrow[4] < 0  # north-east, drawn with SVG's y axis pointing down
    assert "Branch b5 (b5) → Metro A (c1)" in arrow[5]


def test_outlet_popup_has_before_and_after(html: str) -> None:
    data = payload(html)
    o = data["outlets"]
    pop = o["popup"][o["id"].index("b2")]
    for text in ("Planned action: upgrade (light → full)", "before", "after", "30.0 /h",
                 "50.0 /h", "25.0 min", "6.0 min", "Catchment population", "Why:",
                 "Load vs capacity at the target", "1 + 2", "5 + 4"):
        assert text in pop, text
    pop_new = o["popup"][o["id"].index("c1")]
    assert "new site of the outlet relocated from Branch b5 (b5)" in pop_new


def test_zone_payload(html: str) -> None:
    z = payload(html)["zones"]
    assert len(z["id"]) == 8  # the empty zone z9 is dropped
    assert "z9" not in z["id"]
    k = z["id"].index("z1")
    assert z["cls"]["dist_after"][k] == 0  # 900 m: up to 1 km
    assert z["cls"]["dist_before"][k] == 1  # 1500 m
    x = z["id"].index("z8&lt;b&gt;bold&lt;/b&gt;")
    assert z["cls"]["dist_after"][x] == -1  # not served after
    assert z["val"]["da"][x] is None
    assert z["val"]["ua"][x] == 100.0
    assert z["cls"]["unserved"][x] == 4  # 900 × 0.0555 ≈ 50 customers/h unserved
    assert all(len(g) == 1 and len(g[0][0]) == 8 for g in z["geom"])  # 4 corners, not closed
    assert set(z["cls"]) == {"population", "inflow", "unserved", "dist_before", "dist_after",
                             "catchment"}


def test_every_user_string_is_escaped(html: str) -> None:
    assert XSS_NAME not in html
    assert "<script>alert" not in html
    assert XSS_REASON not in html and "<img src=x" not in html
    assert XSS_ZONE not in html and "<b>bold</b>" not in html
    assert "<test>" not in html
    data = payload(html)
    o = data["outlets"]
    k = o["id"].index("b2")
    assert o["name"][k] == "&lt;script&gt;alert(1)&lt;/script&gt;"
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in o["popup"][k]
    assert "&lt;img src=x onerror=&quot;alert(3)&quot;&gt;" in o["popup"][o["id"].index("b3")]
    assert "Branch b3 &amp; Co" in o["popup"][o["id"].index("b3")]
    assert "tiny &lt;test&gt;" in html  # the scenario name in the title panel
    # the only <script> tags are ours: Leaflet, map.js, the payload, the call that draws it
    assert len(re.findall(r"<script\b", html)) == 4


def test_page_is_self_contained(html: str) -> None:
    assert not re.search(r"<script[^>]+\bsrc=", html)
    assert not re.search(r"<link\b", html)
    assert "cdn." not in html and "jsdelivr" not in html and "bootstrap" not in html
    assert 't.version="1.9.4"' in html  # Leaflet inlined
    assert "sourceMappingURL" not in html
    assert "url(images/" not in html  # Leaflet's CSS images inlined as data URIs
    assert "data:image/png;base64," in html
    assert payload(html)["frame"]["tiles"] is None  # tiles="none": no tile layer at all
    assert "https://" not in html.split("</script>", 1)[1]


def test_tiles_are_optional_and_switchable(study: Any) -> None:
    plan = tiny_plan()
    text = maps.plan_map_html(plan, study=study, tiles="cartodb")
    assert "basemaps.cartocdn.com" in text
    _, over = control_layers(text)
    assert over[-1].startswith("Background map: CARTO Positron")
    assert not re.search(r"<script[^>]+\bsrc=", text)
    osm = maps.plan_map_html(plan, study=study, tiles="osm")
    assert "tile.openstreetmap.org" in osm
    with pytest.raises(NetplanError, match="unknown tile provider 'google'"):
        maps.plan_map_html(plan, study=study, tiles="google")


def test_output_is_deterministic(study: Any, html: str) -> None:
    again = maps.plan_map_html(tiny_plan(), study=study, tiles="none")
    assert again == html
    assert not re.search(r"[0-9a-f]{32}", html)  # no uuid-based element ids left


def test_gaode_tiles_shift_every_coordinate_to_gcj02(study: Any, html: str) -> None:
    shifted = maps.plan_map_html(tiny_plan(), study=study, tiles="gaode")
    assert "webrd0{s}.is.autonavi.com" in shifted
    a, b = payload(html), payload(shifted)
    lon, lat = np.array(a["outlets"]["lon"]), np.array(a["outlets"]["lat"])
    glon, glat = wgs84_to_gcj02(lon, lat)
    assert np.allclose(b["outlets"]["lon"], glon, atol=2e-5)
    assert np.allclose(b["outlets"]["lat"], glat, atol=2e-5)
    assert np.abs(np.array(b["outlets"]["lon"]) - lon).min() > 1e-3  # ~500 m in Beijing
    ring = np.array(a["zones"]["geom"][0][0][0]).reshape(-1, 2)
    gring = np.array(b["zones"]["geom"][0][0][0]).reshape(-1, 2)
    glon, glat = wgs84_to_gcj02(ring[:, 1], ring[:, 0])
    assert np.allclose(gring[:, 1], glon, atol=2e-5) and np.allclose(gring[:, 0], glat, atol=2e-5)
    for layer in ("districts", "ring_zones"):
        assert a[layer][0]["geom"] != b[layer][0]["geom"]
    assert a["arrows"][0][:4] != b["arrows"][0][:4]


def test_plan_map_without_study_and_writes_file(tmp_path: Path) -> None:
    out = maps.plan_map(tiny_plan(), out=tmp_path / "deep" / "map.html", tiles=None)
    assert out == tmp_path / "deep" / "map.html"
    text = out.read_text(encoding="utf-8")
    _, over = control_layers(text)
    assert not any(o.startswith("Districts") for o in over)
    assert "before" in payload(text)["outlet_layers"]


def test_classify_and_breaks_known_answers() -> None:
    assert zones.classify([0.0, 1000.0, 1000.1, 6000.0, np.nan], zones.DIST_BREAKS_M) == [
        0, 0, 1, 4, -1]
    assert zones.nice(1234.0) == 1200.0
    assert zones.nice(0.0) == 0.0
    b = zones.seq_breaks(np.arange(1.0, 101.0), (0.2, 0.5, 0.9))
    assert b == sorted(b) and len(b) == 3


def test_neighbouring_catchments_get_different_colours() -> None:
    # a row of 1 km cells served by A A B C A
    xy = np.array([[0.0, 0.0], [1000.0, 0.0], [2000.0, 0.0], [3000.0, 0.0], [4000.0, 0.0]])
    cls = zones.catchment_classes(xy, np.array([0, 0, 1, 2, 0]), 1000.0)
    assert cls[0] == cls[1] == cls[4]
    assert len({cls[1], cls[2], cls[3]}) == 3
    assert zones.catchment_classes(xy, np.full(5, -1), 1000.0) == [-1] * 5


def test_city_sized_map_stays_under_15_mb() -> None:
    plan = big_plan(12_000, 1_200)
    t0 = time.perf_counter()
    text = maps.plan_map_html(plan, tiles="cartodb")
    seconds = time.perf_counter() - t0
    size_mb = len(text.encode("utf-8")) / 1e6
    assert size_mb < 15.0, f"{size_mb:.1f} MB"
    assert seconds < 20.0, f"{seconds:.1f} s"
    data = payload(text)
    assert len(data["zones"]["id"]) == int((plan.zones_kpi["population"] > 0).sum() + (
        (plan.zones_kpi["population"] == 0) & (plan.zones_kpi["inflow"] != 0)).sum())
    assert len(data["outlets"]["id"]) == 1_200


# --- diagnosis map ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def diagnosis(study: Any) -> Any:
    from netplan.model.scenario import scenario_from_dict
    from netplan.planning.diagnose import diagnose

    return diagnose(study, scenario_from_dict({"name": "tiny"}))


def test_diagnosis_map(study: Any, diagnosis: Any, tmp_path: Path) -> None:
    out = maps.diagnosis_map(study, diagnosis, out=tmp_path / "diag.html")
    text = out.read_text(encoding="utf-8")
    base, over = control_layers(text)
    assert base[0] == "Unserved customers at peak (modelled)"
    assert "Distance to the serving outlet (modelled)" in base
    assert over[0].startswith("Outlets by load at peak vs capacity at the 11-min target")
    assert 'id="netplan-legend-load"' in text and 'id="netplan-kpi-panel"' in text
    data = payload(text)
    assert len(data["outlets"]["id"]) == 8
    assert data["default_measure"] == "unserved"
    pop = data["outlets"]["popup"][0]
    assert "Expected wait" in pop and "Load vs capacity at the target" in pop
    assert not re.search(r"<script[^>]+\bsrc=", text)


def test_diagnosis_map_of_one_district(study: Any, diagnosis: Any) -> None:
    text = maps.diagnosis_map_html(study, diagnosis, adcode="110105", tiles="none")
    data = payload(text)
    assert len(data["outlets"]["id"]) == 4
    assert "朝阳区 Chaoyang" in text
    with pytest.raises(NetplanError, match="district '999999' is not in the diagnosis"):
        maps.diagnosis_map(study, diagnosis, out=Path("unused.html"), adcode="999999")


# --- CLI -------------------------------------------------------------------------------


@pytest.fixture
def plan_dir(tmp_path: Path) -> Path:
    return tiny_plan().write(tmp_path / "plan-tiny")


def test_cli_map_default_output(plan_dir: Path, study: Any, tmp_path: Path,
                                monkeypatch: pytest.MonkeyPatch) -> None:
    gpkg = next(Path(p) for p in study.layer_sources.values())
    monkeypatch.chdir(tmp_path)
    res = CliRunner().invoke(app, ["map", str(plan_dir), "--tiles", "none", "--data", str(gpkg)])
    assert res.exit_code == 0, res.output
    out = tmp_path / "maps" / "plan-tiny.html"
    assert res.output.strip() == str(Path("maps") / "plan-tiny.html")
    text = out.read_text(encoding="utf-8")
    assert "Districts: boundaries and names" in text
    assert XSS_NAME not in text


def test_cli_map_rejects_unknown_tiles(plan_dir: Path) -> None:
    res = CliRunner().invoke(app, ["map", str(plan_dir), "--tiles", "bing"])
    assert res.exit_code == 2
    assert "unknown tiles 'bing'" in res.output
