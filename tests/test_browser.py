"""The map and the report in headless Chromium, offline (every request that is not for a
local file is blocked and recorded).

Needs Debian's ``chromium`` at /usr/bin/chromium (``.ci/run`` installs it); the test is
skipped without it, except under CI (``CI`` set), where it fails instead. Playwright only
drives that browser: never ``playwright install``.

Screenshots go to the test's tmp folder, and also to ``$NETPLAN_SCREENSHOTS`` when set.

Console errors: with ``tiles="none"`` (the default) the page must log none at all and ask
the network for nothing. With tile layers the blocked tile requests log ``Failed to load
resource`` errors (Chromium reports every failed resource); those, and only those, are
ignored when their URL is a tile URL.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from typing import Any

import conftest_browser
import pytest
from conftest_browser import need_chromium
from conftest_maps import CHINESE_NAME, XSS_NAME, tiny_plan, tiny_study

from netplan.present import maps, report

pytestmark = pytest.mark.browser

TILE_HOSTS = re.compile(r"^https://([abcd]\.basemaps\.cartocdn\.com|tile\.openstreetmap\.org|"
                        r"webrd01\.is\.autonavi\.com)/")
MEASURES = ["Residents per km², 2035", "Change in residents between censuses",
            "Unserved customers, before", "Unserved customers, after",
            "Change in unserved customers", "Distance to the outlets used, before",
            "Distance to the outlets used, after", "Change in distance",
            "Catchments after the plan", "No zone colouring"]
VIEWPORTS = [(1920, 1080), (1366, 768), (1024, 768), (390, 844)]


class Page:
    """A page that records console messages, page errors, dialogs and blocked requests."""

    def __init__(self, browser: Any, width: int = 1400, height: int = 900) -> None:
        self.page = browser.new_page(viewport={"width": width, "height": height})
        self.page.set_default_timeout(10_000)
        self.console: list[tuple[str, str, str]] = []
        self.dialogs: list[str] = []
        self.blocked: list[str] = []
        self.page.on("console", lambda m: self.console.append(
            (m.type, m.text, (m.location or {}).get("url", ""))))
        self.page.on("pageerror", lambda e: self.console.append(("pageerror", str(e), "")))

        def on_dialog(d: Any) -> None:
            self.dialogs.append(d.message)
            d.dismiss()

        self.page.on("dialog", on_dialog)

        def block(route: Any) -> None:
            if route.request.url.startswith("file://"):
                route.continue_()
                return
            self.blocked.append(route.request.url)
            route.abort()

        self.page.route("**/*", block)

    def open(self, path: Path) -> Any:
        self.page.goto(path.resolve().as_uri())
        self.page.wait_for_load_state("load")
        if self.page.locator("#netplan-map").count():  # a map: wait until its table is filled
            self.page.wait_for_selector("body.netplan-ready", state="attached")
        return self.page

    def errors(self) -> list[tuple[str, str, str]]:
        """Console errors, except failed loads of blocked tile images."""
        return [m for m in self.console if m[0] in ("error", "pageerror") and not (
            m[1].startswith("Failed to load resource") and TILE_HOSTS.match(m[2]))]

    def shot(self, folder: Path, name: str) -> Path:
        path = folder / name
        self.page.screenshot(path=str(path))
        keep = os.environ.get("NETPLAN_SCREENSHOTS")
        if keep:
            Path(keep).mkdir(parents=True, exist_ok=True)
            shutil.copy(path, Path(keep) / name)
        return path


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    need_chromium()
    folder = tmp_path_factory.mktemp("pages")
    study = tiny_study(folder)
    plan = tiny_plan()
    from netplan.model.scenario import scenario_from_dict
    from netplan.planning.diagnose import diagnose

    diag = diagnose(study, scenario_from_dict({"name": "tiny"}))
    return {
        "map": maps.plan_map(plan, study=study, out=folder / "map.html", tiles="none"),
        "map_tiles": maps.plan_map(plan, study=study, out=folder / "map-tiles.html",
                                   tiles="cartodb"),
        "map_gaode": maps.plan_map(plan, study=study, out=folder / "map-gaode.html",
                                   tiles="gaode"),
        "diag": maps.diagnosis_map(study, diag, out=folder / "diag.html", tiles="none"),
        "report": report.plan_report(plan, out=folder / "report.html", map_href="map.html",
                                     study=study),
    }


def test_map_offline_layers_legend_popup_and_escaping(browser: Any, files: dict[str, Path],
                                                      tmp_path: Path) -> None:
    pg = Page(browser)
    page = pg.open(files["map"])
    page.wait_for_selector(".netplan-outlet")
    assert pg.errors() == []
    assert pg.blocked == []  # the default background: the page asks the network for nothing
    radios = page.locator("#netplan-zones .netplan-choice").all_inner_texts()
    assert [r.strip() for r in radios] == MEASURES
    layers = [t.strip() for t in page.locator("#netplan-layers .netplan-choice").all_inner_texts()]
    assert layers[0].startswith("Outlets by planned action") and len(layers) == 8
    assert page.locator("#netplan-legend-actions").is_visible()
    assert page.locator('[data-measure="population"]').is_visible()
    assert page.locator('[data-measure="dist_after"]').is_hidden()
    assert page.locator("#netplan-kpi-panel").is_visible()
    assert page.locator("noscript").count() == 1  # the JS notice never shows with JS on
    # 10 sites and one context outlet in the actions layer; a table row for each site
    assert page.locator('.netplan-outlet[data-layer="actions"]').count() == 11
    assert page.locator("#netplan-table tbody tr").count() == 10
    pg.shot(tmp_path, "map-actions.png")

    page.locator('[data-site="b2"][data-layer="actions"]').click()
    popup = page.locator(".leaflet-popup-content")
    popup.wait_for()
    text = popup.inner_text()
    assert XSS_NAME in text  # shown as text ...
    assert "Planned action: upgrade (light → full)" in text
    assert "25.0 min" in text and "6.0 min" in text
    assert page.locator(".leaflet-popup-content script").count() == 0  # ... not as a tag
    assert XSS_NAME in page.locator("#netplan-table tr.netplan-selected").inner_text()
    pg.shot(tmp_path, "map-popup-xss.png")

    page.locator(".leaflet-popup-close-button").click()
    page.locator('[data-site="b3"][data-layer="actions"]').click()
    # the old popup is closed and the new one may not exist yet: wait null-safely
    page.wait_for_function("(document.querySelector('.leaflet-popup-content')"
                           " || {innerText: ''}).innerText.includes('onerror')")
    assert page.locator(".leaflet-popup-content img").count() == 0
    assert pg.dialogs == []


def test_map_switches_measure_and_view(browser: Any, files: dict[str, Path],
                                       tmp_path: Path) -> None:
    pg = Page(browser)
    page = pg.open(files["map"])
    page.wait_for_selector(".netplan-outlet")
    page.get_by_text("Distance to the outlets used, after", exact=True).click()
    assert page.locator('[data-measure="dist_after"]').is_visible()
    assert page.locator('[data-measure="population"]').is_hidden()
    page.locator('button[data-view="after"]').click()
    page.wait_for_selector('.netplan-outlet[data-layer="after"]')
    assert page.locator('.netplan-outlet[data-layer="after"]').count() == 9
    assert page.locator('.netplan-outlet[data-layer="actions"]').count() == 0
    assert page.locator("#netplan-legend-after").is_visible()
    assert page.locator("#netplan-legend-actions").is_hidden()
    assert not page.locator('input[data-overlay="actions"]').is_checked()
    pg.shot(tmp_path, "map-after.png")
    page.locator('button[data-view="before"]').click()
    assert page.locator('.netplan-outlet[data-layer="before"]').count() == 9
    checked = page.locator("input[name=netplan-measure]:checked").get_attribute("value")
    assert checked == "dist_before"
    page.locator('button[data-view="changes"]').click()  # the changes, without the keeps
    assert page.locator('.netplan-outlet[data-layer="actions"]').count() == 6
    assert page.locator("input[name=netplan-measure]:checked").get_attribute("value") == (
        "dist_change")
    # a zone's popup (zones are drawn on a canvas: click where zone z4 is)
    xy = page.evaluate("""() => { const z = netplan.zonePolys[netplan.data.zones.id.indexOf('z4')];
        const p = netplan.map.latLngToContainerPoint(z.getBounds().getCenter());
        const r = netplan.map.getContainer().getBoundingClientRect();
        return [p.x + r.left, p.y + r.top]; }""")
    page.mouse.click(xy[0], xy[1] + 25)
    popup = page.locator(".leaflet-popup-content")
    popup.wait_for()
    assert "Zone z4" in popup.inner_text()
    assert "Main serving outlet" in popup.inner_text()
    assert pg.errors() == [] and pg.dialogs == []


# every control of the page: its centre, once scrolled into view, must be the control itself
# (or its label), not a panel or another control drawn over it
_CONTROLS = """() => Array.from(document.querySelectorAll(
    '#netplan-side button, #netplan-side input, #netplan-side select, #netplan-side summary,'
    + ' #netplan-table tbody tr, .leaflet-control-zoom a'))
  .filter(el => !el.closest('[hidden], .netplan-hidden'))
  .map(el => { el.scrollIntoView({block: 'center', inline: 'center'});
    const r = el.getBoundingClientRect();
    const x = r.left + r.width / 2, y = r.top + r.height / 2;
    const hit = document.elementFromPoint(x, y);
    const label = el.closest('label');
    const ok = r.width > 0 && r.height > 0 && x >= 0 && y >= 0 && x <= innerWidth
      && y <= innerHeight && hit !== null && (hit === el || el.contains(hit)
      || (label !== null && label.contains(hit)));
    return ok ? null : (el.outerHTML.slice(0, 80) + ' hit ' + (hit ? hit.outerHTML.slice(0, 60)
      : 'nothing')); })
  .filter(x => x !== null)"""


@pytest.mark.parametrize(("width", "height"), VIEWPORTS)
def test_every_control_is_clickable(browser: Any, files: dict[str, Path], tmp_path: Path,
                                    width: int, height: int) -> None:
    pg = Page(browser, width, height)
    page = pg.open(files["map"])
    page.wait_for_selector(".netplan-outlet")
    page.evaluate("() => document.querySelectorAll('#netplan-side details')"
                  ".forEach(d => { d.open = true; })")
    assert page.evaluate(_CONTROLS) == []
    assert page.evaluate("() => document.querySelectorAll('#netplan-side input, "
                         "#netplan-side button').length") > 30
    # the panel never covers the map: the map keeps most of the window
    box = page.locator("#netplan-map").bounding_box()
    assert box is not None and box["width"] * box["height"] >= 0.5 * width * height
    pg.shot(tmp_path, f"map-{width}x{height}.png")
    # the panel folds away and comes back; the map takes the room
    page.locator("#netplan-side-toggle").click()
    folded = page.locator("#netplan-map").bounding_box()
    assert folded is not None and folded["width"] * folded["height"] > box["width"] * box[
        "height"]
    assert page.locator("#netplan-search").is_hidden()
    page.locator("#netplan-side-toggle").click()
    assert page.locator("#netplan-search").is_visible()
    assert pg.errors() == [] and pg.blocked == []


def test_page_is_styled_before_its_script_runs(browser: Any, files: dict[str, Path]) -> None:
    # no flash of unstyled content: without JavaScript the panel is already laid out
    # beside the map, and only then does the "needs JavaScript" notice show
    ctx = browser.new_context(java_script_enabled=False, viewport={"width": 1366,
                                                                   "height": 768})
    page = ctx.new_page()
    page.goto(files["map"].resolve().as_uri())
    side = page.locator("#netplan-side").bounding_box()
    assert side is not None and side["x"] == 0 and side["width"] == 360
    assert page.locator(".netplan-noscript").is_visible()
    assert page.locator("#netplan-kpi-panel").is_visible()
    ctx.close()
    pg = Page(browser, 1366, 768)
    page = pg.open(files["map"])
    page.wait_for_selector(".netplan-outlet")
    assert page.locator(".netplan-noscript").count() == 0 or not page.locator(
        ".netplan-noscript").is_visible()


def test_find_filter_table_and_catchment(browser: Any, files: dict[str, Path],
                                         tmp_path: Path) -> None:
    pg = Page(browser, 1366, 768)
    page = pg.open(files["map"])
    page.wait_for_selector(".netplan-outlet")
    rows = page.locator("#netplan-table tbody tr:visible")
    # search by id, then by Chinese name; Enter shows the first match
    page.locator("#netplan-search").fill("b2")
    assert rows.count() == 1 and XSS_NAME in rows.first.inner_text()
    page.locator("#netplan-search").fill("王府井")
    assert rows.count() == 1 and CHINESE_NAME in rows.first.inner_text()
    page.locator("#netplan-search").press("Enter")
    page.locator(".leaflet-popup-content").wait_for()
    assert CHINESE_NAME in page.locator(".leaflet-popup-content").inner_text()
    page.locator("#netplan-search").fill("")
    assert rows.count() == 10
    # the legend is the filter: untick every action but "close"
    for key in ("open", "relocate_old", "relocate_new", "upgrade", "convert", "keep", "context"):
        page.locator(f'input[data-filter="{key}"]').uncheck()
    assert page.locator('.netplan-outlet[data-layer="actions"]').count() == 1
    assert page.locator('.netplan-outlet[data-site="b3"]').count() == 1
    assert rows.count() == 1 and "b3" in rows.first.inner_text()
    page.locator('input[data-filter="keep"]').check()
    assert page.locator('.netplan-outlet[data-layer="actions"]').count() == 5
    # district filter
    page.locator('button[data-view="actions"]').click()  # the preset ticks every action again
    assert rows.count() == 10
    page.locator("#netplan-district").select_option(label="东城区 Dongcheng")
    assert rows.count() == 5
    assert page.locator('.netplan-outlet[data-layer="actions"]').count() == 5
    page.locator("#netplan-district").select_option(value="")
    # a table row opens its outlet's popup
    page.locator('#netplan-table tr[data-site="b4"]').click()
    # the search's popup may still be fading out: wait for b4's own
    popup = page.locator(".leaflet-popup-content", has_text="Branch b4")
    popup.wait_for()
    assert "Branch b4" in popup.inner_text() and "convert" in popup.inner_text()
    # ... and its catchment: z2, z3 and z4 send customers there after the plan
    status = page.locator("#netplan-status")
    assert "Catchment of Branch b4 (b4): 3 zones" in status.inner_text()
    assert page.evaluate("() => netplan.catchLayer.getLayers().length") == 3
    pg.shot(tmp_path, "map-catchment.png")
    # a marker click highlights its row; the table sorts by a column
    page.locator(".leaflet-popup-close-button").click()
    assert status.inner_text() == ""
    page.locator('[data-site="c2"][data-layer="actions"]').click()
    assert page.locator("#netplan-table tr.netplan-selected").get_attribute("data-site") == "c2"
    page.locator('#netplan-table th button[data-sort="1"]').click()
    names = page.locator("#netplan-table tbody tr td:nth-child(2)").all_inner_texts()
    assert names == sorted(names, key=lambda t: t.lower()) or names[0] < names[-1]
    assert pg.errors() == [] and pg.blocked == [] and pg.dialogs == []


def test_map_with_tiles_still_draws_offline(browser: Any, files: dict[str, Path],
                                            tmp_path: Path) -> None:
    for key in ("map_tiles", "map_gaode"):
        pg = Page(browser)
        page = pg.open(files[key])
        page.wait_for_selector(".netplan-outlet")
        page.wait_for_timeout(300)
        assert pg.blocked, "the tile layer should have asked for tiles"
        assert all(TILE_HOSTS.match(u) for u in pg.blocked), pg.blocked
        assert pg.errors() == []
        assert page.locator('.netplan-outlet[data-layer="actions"]').count() == 11
        assert page.locator("#netplan-layers .netplan-choice").last.inner_text().strip(
        ).startswith("Background map:")
        pg.shot(tmp_path, f"{key}.png")


def test_diagnosis_map_in_browser(browser: Any, files: dict[str, Path], tmp_path: Path) -> None:
    pg = Page(browser)
    page = pg.open(files["diag"])
    page.wait_for_selector(".netplan-outlet")
    assert page.locator('.netplan-outlet[data-layer="outlets"]').count() == 8
    assert page.locator("#netplan-legend-outlets").is_visible()
    assert page.locator('[data-measure="unserved"]').is_visible()
    page.locator('.netplan-outlet[data-site="b1"]').click()
    assert "Expected wait" in page.locator(".leaflet-popup-content").inner_text()
    assert pg.errors() == [] and pg.dialogs == []
    pg.shot(tmp_path, "diagnosis.png")


def test_report_in_browser(browser: Any, files: dict[str, Path], tmp_path: Path) -> None:
    pg = Page(browser, height=1200)
    page = pg.open(files["report"])
    assert pg.errors() == [] and pg.blocked == []
    assert XSS_NAME in page.locator("#actions").inner_text()
    visible = page.locator("#actions tbody tr:visible")
    assert visible.count() == 6  # kept outlets hidden by default
    page.locator("#show-keep").check()
    assert visible.count() == 10
    page.locator('#actions th[data-col="7"]').click()  # customers/h after, ascending
    first = page.locator("#actions tbody tr").first.locator("td").nth(7).inner_text()
    assert first == "–" or float(first) <= 11.0
    page.locator("#filter").fill("Metro A")
    assert visible.count() == 2  # the new site and the relocated outlet's reason
    assert page.locator("svg.chart").count() == 3
    page.locator("iframe.map").scroll_into_view_if_needed()
    frame = page.frame_locator("iframe.map")
    frame.locator(".netplan-outlet").first.wait_for()
    pg.shot(tmp_path, "report-top.png")
    page.screenshot(path=str(tmp_path / "report-full.png"), full_page=True)
    if os.environ.get("NETPLAN_SCREENSHOTS"):
        shutil.copy(tmp_path / "report-full.png",
                    Path(os.environ["NETPLAN_SCREENSHOTS"]) / "report-full.png")
    assert pg.errors() == [] and pg.dialogs == []


def test_missing_chromium_fails_under_ci_and_skips_elsewhere(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(conftest_browser, "CHROMIUM", tmp_path / "no-chromium")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI is set but /usr/bin/chromium"):
        need_chromium()
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception, match="headless Chromium not installed"):
        need_chromium()


@pytest.mark.slow
def test_cli_map_writes_a_screenshot(tmp_path: Path) -> None:
    import struct

    from typer.testing import CliRunner

    from netplan.cli import app

    need_chromium()
    plan_dir = tiny_plan().write(tmp_path / "plan-tiny")
    out, png = tmp_path / "maps" / "tiny.html", tmp_path / "maps" / "tiny.png"
    res = CliRunner().invoke(app, ["map", str(plan_dir), "--out", str(out),
                                   "--screenshot", str(png)])
    assert res.exit_code == 0, res.output
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", data[16:24]) == maps.SCREENSHOT_SIZE
    assert res.output.split() == [str(out), str(png)]
