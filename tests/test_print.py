"""The report prints as the committee's approval pack: ``netplan report --pdf`` in headless
Chromium, offline.

Checks the PDF (pypdf): the pack before the first appendix fits in 12 A4 landscape pages,
the map images are in it; and the page in Chromium's print media at the printable width
of A4 landscape (Playwright): no table is wider than the page, the map images load.

Needs Debian's ``chromium`` at /usr/bin/chromium (``.ci/run`` installs it): skipped
without it, failed under CI (``CI`` set). Playwright only drives that browser.
"""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import pytest
from conftest_browser import need_chromium
from conftest_maps import tiny_plan, tiny_study
from typer.testing import CliRunner

from netplan.cli import app

pytestmark = [pytest.mark.browser, pytest.mark.slow]

#: A4 landscape (297 mm) less the report's page margins (2 × 11 mm), in CSS pixels.
PRINT_WIDTH_PX = round((297 - 22) / 25.4 * 96)
PACK_PAGES = 12


@pytest.fixture(scope="module")
def printed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A tiny plan folder, its report and the report's PDF, made by the real command."""
    need_chromium()
    folder = tmp_path_factory.mktemp("print")
    study = tiny_study(folder)
    gpkg = next(Path(p) for p in study.layer_sources.values())
    plan_dir = tiny_plan().write(folder / "plan-tiny")
    pdf = folder / "pack.pdf"
    res = CliRunner().invoke(app, ["report", str(plan_dir), "--pdf", str(pdf), "--data",
                                   str(gpkg)])
    assert res.exit_code == 0, res.output
    assert res.output.split() == [str(plan_dir / "report.html"), str(pdf)]
    return {"html": plan_dir / "report.html", "pdf": pdf}


def _page_images(page: Any) -> int:
    """Image XObjects drawn on one PDF page (nested form XObjects included)."""
    def count(resources: Any) -> int:
        xobjects = (resources or {}).get("/XObject") or {}
        n = 0
        for ref in xobjects.values():
            obj = ref.get_object()
            if obj.get("/Subtype") == "/Image":
                n += 1
            elif obj.get("/Subtype") == "/Form":
                n += count(obj.get("/Resources"))
        return n

    return count(page.get("/Resources"))


def test_pdf_pack_fits_twelve_pages_with_the_map(printed: dict[str, Path]) -> None:
    from pypdf import PdfReader

    data = printed["pdf"].read_bytes()
    assert data.startswith(b"%PDF-")
    reader = PdfReader(io.BytesIO(data))
    texts = [re.sub(r"\s+", " ", p.extract_text()) for p in reader.pages]
    # A4 landscape: 297 × 210 mm = 842 × 595 pt
    box = reader.pages[0].mediabox
    assert (round(float(box.width)), round(float(box.height))) == (842, 595)
    first_appendix = next(i for i, t in enumerate(texts) if "Appendix A. Maps" in t)
    assert 1 <= first_appendix <= PACK_PAGES
    pack = " ".join(texts[:first_appendix])
    for heading in ("Executive summary", "Limits, capacity and whether the plan holds",
                    "Trade-offs", "Map of the decisions", "Actions and spend per district",
                    "Methodology", "Assumptions and caveats", "The scenario in words"):
        assert heading in pack, heading
    assert "an illustration of the method, not advice about a real bank" in pack
    assert "Interactive map" not in pack  # the frame is for the screen only
    # the city map in the pack, a map per district with actions in the appendix
    assert sum(_page_images(p) for p in reader.pages[:first_appendix]) >= 1
    assert sum(_page_images(p) for p in reader.pages[first_appendix:]) >= 2
    # the actions appendix lists every change with its reason in full
    rest = " ".join(texts[first_appendix:])
    assert "Appendix B. Actions by district" in rest
    assert "relocated 2.7 km to Metro A (c1) as a light outlet" in rest
    assert "opened as full (cluster site): takes 30/h" in rest


def test_no_table_wider_than_the_printed_page(printed: dict[str, Path], browser: Any) -> None:
    page = browser.new_page(viewport={"width": PRINT_WIDTH_PX, "height": 800})
    requests: list[str] = []
    page.route(re.compile(r"^https?://"), lambda route: (requests.append(route.request.url),
                                                          route.abort()))
    page.emulate_media(media="print")
    page.goto(printed["html"].resolve().as_uri())
    page.wait_for_load_state("load")
    tables = page.evaluate("""() => Array.from(document.querySelectorAll('table')).map(t => ({
        id: t.id || t.className, shown: t.offsetParent !== null, width: t.scrollWidth,
        box: t.parentElement.clientWidth,
        right: Math.max(...Array.from(t.querySelectorAll('th, td')).filter(
            c => c.offsetParent !== null).map(c => c.getBoundingClientRect().right), 0)}))""")
    shown = [t for t in tables if t["shown"]]
    assert len(shown) >= 8
    page_right = page.evaluate("document.querySelector('main').getBoundingClientRect().right")
    too_wide = [t for t in shown if t["width"] > t["box"] + 1 or t["right"] > page_right + 1]
    assert too_wide == []
    images = page.evaluate("""() => Array.from(document.querySelectorAll('figure img')).map(
        i => [i.complete && i.naturalWidth > 0, i.getBoundingClientRect().width])""")
    assert len(images) == 3 and all(ok and w > 100 for ok, w in images)
    # the screen-only parts do not print; the district headings of the actions do
    assert page.locator("iframe.map").is_hidden() and page.locator("nav").is_hidden()
    assert page.locator("#actions tr.grp").first.is_visible()
    assert page.locator('#actions tr[data-action="keep"]').first.is_hidden()
    assert requests == []
    page.close()


def test_city_sized_pack_fits_twelve_pages(tmp_path: Path) -> None:
    """A plan of 16 districts and 400 sites, every one over capacity: the pack (summary to
    scenario) still fits in 12 pages; the rest goes to the appendices."""
    need_chromium()
    from conftest_maps import big_plan
    from pypdf import PdfReader

    from netplan.present.pdf import html_to_pdf
    from netplan.present.report import plan_report_html

    plan = big_plan(n_zones=800, n_sites=400)
    codes = [f"1101{k:02d}" for k in range(1, 17)]
    for layer in (plan.actions, plan.sites_after, plan.zones_kpi):
        layer["adcode"] = [codes[k % 16] for k in range(len(layer))]
    for side in ("before", "after"):
        one = plan.kpis[side]["districts"]["110105"]
        plan.kpis[side]["districts"] = {c: dict(one) for c in codes}
    plan.kpis["scenario"]["districts"] = {c: {"policy": "expand", "min_outlets": None,
                                              "max_outlets": None, "max_open": 5,
                                              "max_close": None} for c in codes}
    plan.kpis["behaviour"] = {
        "rule": "choice", "parameters": {"patience_min": 140.0}, "before": {}, "after": {},
        "change_pct": {}, "holds": False, "note": "",
        "over_capacity": [{"site_id": str(s), "load_per_h": 70.0, "capacity_per_h": 60.0,
                           "reason": "max_convert reached; time limit reached"}
                          for s in plan.sites_after["site_id"]]}
    reader = PdfReader(io.BytesIO(html_to_pdf(plan_report_html(plan))))
    first_appendix = next(i for i, p in enumerate(reader.pages)
                          if "Appendix A. Maps" in re.sub(r"\s+", " ", p.extract_text()))
    assert first_appendix <= PACK_PAGES, first_appendix
    assert len(reader.pages) > first_appendix + 10  # 400 actions and outlets over capacity
