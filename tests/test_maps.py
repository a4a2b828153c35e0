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

PLAN_MEASURES = (
    "Residents per km², 2035",
    "Change in residents between censuses",
    "Unserved customers, before",
    "Unserved customers, after",
    "Change in unserved customers",
    "Distance to the outlets used, before",
    "Distance to the outlets used, after",
    "Change in distance",
    "Catchments after the plan",
    "No zone colouring",
)
PLAN_MEASURE_KEYS = ["population", "inflow", "unserved_before", "unserved", "unserved_change",
                     "dist_before", "dist_after", "dist_change", "catchment", "none"]
PLAN_OVERLAYS = (
    "Outlets by planned action",
    "Relocations: old site → new site",
    "Network before the plan, by expected wait",
    "Network after the plan, by expected wait (modelled)",
    "Districts: boundaries and names",
    "Ring roads 2nd–6th (synthetic)",
    "Ring zones: areas between the ring roads",
    "Metro stations",
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


def data_ids(text: str, key: str) -> list[str]:
    return [html_mod.unescape(i) for i in payload(text)[key]["id"]]


def control_layers(text: str) -> tuple[list[str], list[str]]:
    """Titles of the zone colourings and of the layers of the side panel (unescaped)."""
    measures = re.findall(r'name="netplan-measure" value="\w+"(?: checked)?><span>([^<]*)</span>',
                          text)
    frame = payload(text)["frame"]
    over = [html_mod.unescape(o[1]) for o in frame["overlays"]]
    if frame["tiles"]:
        over.append(html_mod.unescape(frame["tiles"]["title"]))
    return [html_mod.unescape(m) for m in measures], over


def test_panel_lists_every_measure_and_layer(html: str) -> None:
    base, over = control_layers(html)
    assert base == list(PLAN_MEASURES)
    for title in PLAN_OVERLAYS:
        assert any(o.startswith(title) for o in over), (title, over)
    assert not any("Background map" in o for o in over)  # tiles="none"
    # one check box per layer in the panel, checked as the frame shows it at start
    boxes = re.findall(r'data-overlay="(\w+)"( checked)?>', html)
    assert [(k, bool(c)) for k, c in boxes] == [(o[0], o[2]) for o in
                                                payload(html)["frame"]["overlays"]]


def test_legends_and_kpi_panel_present(html: str) -> None:
    for el in ('id="netplan-legend"', 'id="netplan-legend-actions"', 'id="netplan-legend-after"',
               'id="netplan-kpi-panel"', 'id="netplan-title"', 'id="netplan-search"',
               'id="netplan-district"', 'id="netplan-table"', 'id="netplan-side-toggle"'):
        assert el in html
    keys = re.findall(r'class="netplan-legend-block netplan-measure-legend" data-measure="(\w+)"',
                      html)
    assert keys == PLAN_MEASURE_KEYS
    for label in ("keep (4)", "open (1)", "close (1)", "upgrade (1)", "convert (1)",
                  "relocate: old site (1)", "relocate: new site (1)"):
        assert label in html
    # the legend of the actions is the filter: one check box per marker kind shown
    assert re.findall(r'data-filter="(\w+)" checked>', html) == [
        "open", "relocate_old", "relocate_new", "close", "upgrade", "convert", "staff", "keep",
        "context"]
    # every layer of the panel has a legend
    for key in ("actions", "relocations", "before", "after", "districts", "ring_roads",
                "ring_zones", "metro"):
        assert f'id="netplan-legend-{key}"' in html, key
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
    # kept outlets are small, and the sites that lose their outlet are drawn over the rest
    icons = data["icons"]
    assert icons["keep"]["size"] < icons["close"]["size"]
    assert icons["close"]["z"] > max(icons[k]["z"] for k in ("open", "relocate_new", "upgrade"))
    assert icons["relocate_old"]["z"] > icons["relocate_new"]["z"]
    assert sorted(ids[i] for i, _ in data["outlet_layers"]["actions"][-2:]) == ["b3", "b5"]
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
    assert arrow[6] == i  # the old site, whose filter and district hide the arrow


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
    assert z["cls"]["dist_change"][k] == 1  # 900 - 1500 = -600 m: shorter by 0.5 - 2 km
    x = z["id"].index("z8&lt;b&gt;bold&lt;/b&gt;")
    assert z["val"]["da"][x] is None
    assert z["val"]["ua"][x] == 100.0
    assert z["cls"]["unserved"][x] == 5  # 900 × 0.0555 ≈ 50 customers/h unserved: over 3
    assert z["cls"]["unserved_change"][x] == 6  # 25 → 50 /h: more by over 1
    # not served after: grey, the darkest of the three "not served" classes (over 1 /h)
    assert z["cls"]["dist_after"][x] == len(zones.DIST_BREAKS_M) + 1 + 2
    assert z["cls"]["dist_change"][x] == 8  # served before, not after
    k3 = z["id"].index("z3")
    assert z["cls"]["unserved_change"][k3] == 0  # 330 × 0.0555 × 0.2 ≈ 3.7 /h fewer
    assert all(len(g) == 1 and len(g[0][0]) == 8 for g in z["geom"])  # 4 corners, not closed
    assert set(z["cls"]) == set(PLAN_MEASURE_KEYS) - {"none"}


def test_catchments_come_from_the_plans_assignment(html: str) -> None:
    data = payload(html)
    z, o = data["zones"], data["outlets"]
    catch = {o["id"][i]: c for i, c in enumerate(z["catch"]) if c}
    zi = {name: k for k, name in enumerate(z["id"])}
    assert catch["b4"] == [zi["z2"], 20, zi["z3"], 80, zi["z4"], 100]
    assert catch["b2"] == [zi["z5"], 80, zi["z7"], 100]
    assert "b1" not in catch  # 3 % of z5 is under the 5 % threshold
    assert "b3" not in catch  # closed: the page falls back to the zones it served before
    assert z["catch_keys"] == ["sa", "sb"]
    assert z["val"]["sb"][zi["z5"]] == o["id"].index("b3")
    assert "at least 5%" in z["catch_notes"]["catch"]


def test_fixed_classes_are_the_same_on_every_map() -> None:
    # the same density gets the same class and colour whatever the other zones hold
    a = zones.density_measure(np.array([60.0, 0.0]), np.array([1.0, 1.0]), 2035, title="a")
    b = zones.density_measure(np.array([60.0, 50_000.0, 30.0]), np.array([1.0, 1.0, 0.5]),
                              2035, title="b")
    assert a.classes[0] == b.classes[0] == 1  # 50 < 60 ≤ 200 per km²
    assert b.classes[2] == 1  # 30 residents on 0.5 km²: 60 per km²
    assert a.colors == b.colors and a.labels == b.labels
    assert a.labels[1] == "50 – 200 per km²"
    # a zone nobody serves is grey only when it has unserved customers, by how many
    d = zones.distance_measure("d", np.array([500.0, np.nan, np.nan, np.nan]),
                               np.array([0.0, 0.0, 0.05, 2.0]), title="d", legend_title="d")
    assert d.classes == [0, -1, 5, 7]
    assert d.opacities is not None and d.nodata_opacity == 0.0
    assert d.labels[5] == "not served: up to 0.1 customer(s) per hour"
    # change maps: blue = less, the middle class ("about the same") unpainted
    c = zones.distance_change_measure(np.array([3000.0, 1000.0, np.nan, 800.0]),
                                      np.array([500.0, 1050.0, 900.0, np.nan]), title="c")
    assert c.classes == [0, 3, 7, 8]
    assert c.colors[0] == "#2166ac" and c.opacities is not None and c.opacities[3] == 0.0
    assert c.labels[0] == "shorter by over 2 km" and c.labels[7] == "newly served"
    # the legend counts the zones of each class
    assert "(2)" in zones.unserved_measure("u", np.array([0.0, 0.0, 5.0]), title="u",
                                           legend_title="u").legend_html()


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
    assert "https://webrd01.is.autonavi.com/" in shifted
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


def test_classify_known_answers() -> None:
    assert zones.classify([0.0, 1000.0, 1000.1, 6000.0, np.nan], zones.DIST_BREAKS_M) == [
        0, 0, 1, 4, -1]
    assert zones.classify([np.nan, np.nan], (1.0,)) == [-1, -1]
    assert zones.classify([], (1.0,)) == []
    for scale in zones.SCALES.values():
        assert list(scale.breaks) == sorted(scale.breaks)


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
    assert base[0] == "Unserved customers"
    assert "Distance to the outlets used" in base
    assert over[0].startswith("Outlets by load at peak vs capacity at the 11-min target")
    assert 'id="netplan-legend-outlets"' in text and 'id="netplan-kpi-panel"' in text
    assert re.findall(r'data-filter="(\w+)"', text) == ["u0", "u1", "u2", "u3", "u4", "un"]
    # the candidate sites: none is in the network, so all are listed (c1 is also a station)
    assert any(o.startswith("Candidate sites") for o in over)
    assert data_ids(text, "candidates") == ["c1", "c2"] and data_ids(text, "metro") == ["c1"]
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
    # framed on the district, outlined, the rest of the city dimmed
    assert html_mod.unescape(data["focus"]["name"]) == "朝阳区 Chaoyang"
    ring = np.array(data["focus"]["geom"][0][0]).reshape(-1, 2)
    assert data["frame"]["bounds"] == [[ring[:, 0].min(), ring[:, 1].min()],
                                       [ring[:, 0].max(), ring[:, 1].max()]]
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


def test_default_background_is_the_studys_own_layers(study: Any, tmp_path: Path) -> None:
    text = maps.plan_map(tiny_plan(), study=study, out=tmp_path / "map.html").read_text(
        encoding="utf-8")
    data = payload(text)
    assert data["frame"]["tiles"] is None  # no tile server unless asked for
    assert {"districts", "ring_roads", "metro"} <= {o[0] for o in data["frame"]["overlays"]
                                                   if o[2]}
    assert "https://" not in text.split("</script>", 2)[2]


def test_a_district_plan_is_framed_on_its_district(study: Any) -> None:
    plan = tiny_plan()
    plan.kpis["scope"] = "110101"
    data = payload(maps.plan_map_html(plan, study=study))
    assert html_mod.unescape(data["focus"]["name"]) == "东城区 Dongcheng"
    ring = np.array(data["focus"]["geom"][0][0]).reshape(-1, 2)
    assert data["frame"]["bounds"] == [[ring[:, 0].min(), ring[:, 1].min()],
                                       [ring[:, 0].max(), ring[:, 1].max()]]
    assert "focus" not in payload(maps.plan_map_html(tiny_plan(), study=study))


def test_cli_screenshot_without_chromium_fails_before_writing(
        plan_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NETPLAN_CHROMIUM", str(tmp_path / "no-chromium"))
    out, png = tmp_path / "m.html", tmp_path / "m.png"
    res = CliRunner().invoke(app, ["map", str(plan_dir), "--out", str(out),
                                   "--screenshot", str(png)])
    assert res.exit_code == 1, res.output  # main() prints a NetplanError as "error: ..."
    assert isinstance(res.exception, NetplanError)
    assert "--screenshot needs headless Chromium" in str(res.exception)
    assert "apt-get install chromium" in str(res.exception)
    assert not out.exists() and not png.exists()
