"""The map and the report in headless Chromium, offline (every http(s) request is blocked).

Needs Debian's ``chromium`` at /usr/bin/chromium (``.ci/run`` installs it); the test is
skipped without it, except under CI (``CI`` set), where it fails instead. Playwright only
drives that browser: never ``playwright install``.

Screenshots go to the test's tmp folder, and also to ``$NETPLAN_SCREENSHOTS`` when set.

Console errors: with ``tiles="none"`` the page must log none at all. With tile layers the
blocked tile requests log ``Failed to load resource`` errors (Chromium reports every failed
resource); those, and only those, are ignored when their URL is a tile URL.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest_maps import XSS_NAME, tiny_plan, tiny_study

from netplan.present import maps, report

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
TILE_HOSTS = re.compile(r"^https://([abcd]\.basemaps\.cartocdn\.com|tile\.openstreetmap\.org|"
                        r"webrd0[1-4]\.is\.autonavi\.com)/")
BASE_LAYERS = ["Population 2035 per ~1 km zone (modelled from census)",
               "Population inflow 2010 → 2020 per zone (modelled from census)",
               "Unserved customers at peak after the plan (modelled)",
               "Distance to the serving outlet before the plan (modelled)",
               "Distance to the serving outlet after the plan (modelled)",
               "Catchments after the plan: zones by serving outlet (modelled)",
               "No zone colouring"]


def _need_chromium() -> None:
    if CHROMIUM.exists():
        return
    if os.environ.get("CI"):
        pytest.fail("CI is set but /usr/bin/chromium is missing: .ci/run must install "
                    "Debian's chromium for the browser tests")
    pytest.skip("headless Chromium not installed (apt-get install chromium)")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    _need_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


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
            self.blocked.append(route.request.url)
            route.abort()

        self.page.route(re.compile(r"^https?://"), block)

    def open(self, path: Path) -> Any:
        self.page.goto(path.resolve().as_uri())
        self.page.wait_for_load_state("load")
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
    _need_chromium()
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
    assert pg.blocked == []  # tiles="none": the page asks the network for nothing
    base = page.locator(".leaflet-control-layers-base label").all_inner_texts()
    assert [b.strip() for b in base] == BASE_LAYERS
    over = [o.strip() for o in
            page.locator(".leaflet-control-layers-overlays label").all_inner_texts()]
    assert over[0].startswith("Outlets: planned action") and len(over) == 7
    assert page.locator("#netplan-legend-actions").is_visible()
    assert page.locator('[data-measure="population"]').is_visible()
    assert page.locator('[data-measure="dist_after"]').is_hidden()
    assert page.locator("#netplan-kpi-panel").is_visible()
    # 10 sites and one context outlet in the actions layer
    assert page.locator('.netplan-outlet[data-layer="actions"]').count() == 11
    pg.shot(tmp_path, "map-actions.png")

    page.locator('[data-site="b2"][data-layer="actions"]').click()
    popup = page.locator(".leaflet-popup-content")
    popup.wait_for()
    text = popup.inner_text()
    assert XSS_NAME in text  # shown as text ...
    assert "Planned action: upgrade (light → full)" in text
    assert "25.0 min" in text and "6.0 min" in text
    assert page.locator(".leaflet-popup-content script").count() == 0  # ... not as a tag
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
    page.get_by_text("Distance to the serving outlet after the plan (modelled)").click()
    assert page.locator('[data-measure="dist_after"]').is_visible()
    assert page.locator('[data-measure="population"]').is_hidden()
    page.locator('button[data-view="after"]').click()
    page.wait_for_selector('.netplan-outlet[data-layer="after"]')
    assert page.locator('.netplan-outlet[data-layer="after"]').count() == 9
    assert page.locator('.netplan-outlet[data-layer="actions"]').count() == 0
    assert page.locator("#netplan-legend-wait").is_visible()
    assert page.locator("#netplan-legend-actions").is_hidden()
    pg.shot(tmp_path, "map-after.png")
    page.locator('button[data-view="before"]').click()
    assert page.locator('.netplan-outlet[data-layer="before"]').count() == 9
    checked = page.locator(".leaflet-control-layers-base input:checked + span").inner_text()
    assert checked.strip() == "Distance to the serving outlet before the plan (modelled)"
    # a zone's popup (zones are drawn on a canvas: click where zone z4 is)
    xy = page.evaluate("""() => { const z = netplan.zonePolys[netplan.data.zones.id.indexOf('z4')];
        const p = netplan.map.latLngToContainerPoint(z.getBounds().getCenter());
        const r = netplan.map.getContainer().getBoundingClientRect();
        return [p.x + r.left, p.y + r.top]; }""")
    page.locator('button[data-view="actions"]').click()
    page.mouse.click(xy[0], xy[1] + 25)
    popup = page.locator(".leaflet-popup-content")
    popup.wait_for()
    assert "Zone z4" in popup.inner_text()
    assert "Main serving outlet" in popup.inner_text()
    assert pg.errors() == [] and pg.dialogs == []


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
        assert page.locator(".leaflet-control-layers-overlays label").last.inner_text().strip(
        ).startswith("Background map:")
        pg.shot(tmp_path, f"{key}.png")


def test_diagnosis_map_in_browser(browser: Any, files: dict[str, Path], tmp_path: Path) -> None:
    pg = Page(browser)
    page = pg.open(files["diag"])
    page.wait_for_selector(".netplan-outlet")
    assert page.locator('.netplan-outlet[data-layer="outlets"]').count() == 8
    assert page.locator("#netplan-legend-load").is_visible()
    assert page.locator('[data-measure="unserved"]').is_visible()
    page.locator('[data-site="b1"]').click()
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
    monkeypatch.setattr(f"{__name__}.CHROMIUM", tmp_path / "no-chromium")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI is set but /usr/bin/chromium"):
        _need_chromium()
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception, match="headless Chromium not installed"):
        _need_chromium()
