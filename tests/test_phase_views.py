"""The map and the report of a phased plan: the phase slider, the timeline, the spend per phase.

One tiny phased plan (two phases on the tiny study, as in ``test_phases.py``): 2025 closes
b2 and b6 with a budget of 1 M CNY, 2030 closes b1 and b3 with 2 M CNY. Known answers come
from the phases' own files (``phases/<year>/kpis.json``, ``spend.csv``).
"""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from conftest_browser import browser  # noqa: F401 - the module's Chromium
from conftest_maps import tiny_plan
from conftest_reliability import run_cli
from conftest_whatif import tiny_gpkg, tiny_study
from test_phases import toy

from netplan._io import PLAN_FOLDER
from netplan.planning.phases import (
    PHASE_FILES,
    PhasedPlan,
    is_phased,
    plan_phases,
    read_phased,
    write_phase_files,
)
from netplan.planning.plan import write_plan_files
from netplan.present.folder import write_phase_views, write_phased_folder
from netplan.present.maps import plan_map_html
from netplan.present.phase_layers import earlier_key

YEARS = [2025, 2030]
CLOSED = {2025: {"b2", "b6"}, 2030: {"b1", "b3"}}


@functools.cache
def phased() -> PhasedPlan:
    sc = toy(phases={"2030": {"budget_cny": 2e6, "max_open": 1},
                     "2025": {"budget_cny": 1e6}})
    return plan_phases(tiny_study(), sc)


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The phased plan folder as `netplan phases` writes it, less each phase's own map and
    report (drawn as any plan's; ``test_the_whole_folder`` writes them)."""
    out = tmp_path_factory.mktemp("ph") / "phased"
    out.mkdir()
    write_phase_files(phased(), out)
    for ph in phased().phases:
        (out / PHASE_FILES["phases"] / str(ph.year)).mkdir(parents=True)
        write_plan_files(ph.plan, out / PHASE_FILES["phases"] / str(ph.year))
    write_phase_views(out, tiny_study())
    return out


def payload(html: str) -> dict[str, Any]:
    m = re.search(r'<script type="application/json" id="netplan-data">(.*?)</script>', html,
                  re.S)
    assert m is not None
    data: dict[str, Any] = json.loads(m.group(1))
    return data


def kpis_json(folder: Path, year: int) -> dict[str, Any]:
    path = folder / PHASE_FILES["phases"] / str(year) / PLAN_FOLDER.kpis
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def test_the_folder_is_read_typed(folder: Path) -> None:
    assert is_phased(folder) and not is_phased(folder / PHASE_FILES["phases"] / "2025")
    ph = read_phased(folder)
    assert ph.years == (2025, 2030) and [p.kpis["year"] for p in ph.plans] == YEARS
    spend = pd.read_csv(folder / PHASE_FILES["spend"])
    assert [s.budget_cny for s in ph.spend] == spend["budget_cny"].tolist() == [1e6, 2e6]
    assert [s.oneoff_spend_cny for s in ph.spend] == spend["oneoff_spend_cny"].tolist()
    assert [s.actions["close"] for s in ph.spend] == [2, 2]
    assert all(s.actions["open"] == 0 for s in ph.spend)


def test_map_has_the_slider_and_one_kpi_block_per_phase(folder: Path) -> None:
    html = (folder / PLAN_FOLDER.map).read_text(encoding="utf-8")
    assert re.search(r'<input type="range" id="netplan-phase" min="0" max="1" step="1" '
                     r'value="1"[^>]*aria-valuetext="2030"[^>]*data-years="2025 2030"', html)
    assert re.findall(r'<button type="button" data-phase="(\d)"[^>]*>(\d{4})</button>',
                      html) == [("0", "2025"), ("1", "2030")]
    data = payload(html)
    assert [e["year"] for e in data["phases"]] == YEARS and data["phase_default"] == 1
    for entry, year in zip(data["phases"], YEARS, strict=True):
        assert entry["behaviour"] == kpis_json(folder, year)["behaviour"]
        outlets = entry["behaviour"]["after"]["outlets"]
        assert f"<td>{outlets}</td>" in entry["kpi_html"].replace(" ", "")
    # the panel opens on the last phase, as drawn from its own kpis.json
    assert f'<div id="netplan-kpi-body">{data["phases"][1]["kpi_html"]}</div>' in html


def test_markers_show_this_phase_and_earlier_phases(folder: Path) -> None:
    data = payload((folder / PLAN_FOLDER.map).read_text(encoding="utf-8"))
    ids = data["outlets"]["id"]

    def keys(layers: dict[str, Any]) -> dict[str, str]:
        return {ids[i]: k for i, k in layers["actions"]}

    first, last = keys(data["phases"][0]["layers"]), keys(data["outlet_layers"])
    assert {s for s, k in first.items() if k == "close"} == CLOSED[2025]
    assert {s for s, k in last.items() if k == "close"} == CLOSED[2030]
    assert {s for s, k in last.items() if k == earlier_key("close")} == CLOSED[2025]
    assert data["phases"][1]["counts"] == {"close": 2, earlier_key("close"): 2, "keep": 4}
    assert data["icons"][earlier_key("close")]["html"].startswith('<span class="netplan-earlier">')
    # a site closed in 2025 has no figures in 2030, and its popup says when it closed
    b2 = ids.index("b2")
    assert data["outlets"]["arr"][b2] is None
    assert "Phase 2025: close; no outlet here in 2030." in data["outlets"]["popup"][b2]
    # the table lists what exists up to the phase: the after layer has the open outlets
    after = {ids[i] for i, _ in data["outlet_layers"]["after"]}
    assert after == {"b4", "b5", "b7", "b8"}


def test_report_has_the_timeline_and_the_spend_per_phase(folder: Path) -> None:
    html = (folder / PLAN_FOLDER.report).read_text(encoding="utf-8")
    assert html.index('id="phases"') < html.index('id="summary"')
    for year in YEARS:
        after = kpis_json(folder, year)["behaviour"]["after"]
        item = re.search(rf'<li data-year="{year}">(.*?)</li>', html, re.S)
        assert item is not None
        text = re.sub(r"<[^>]+>", " ", item.group(1))
        assert "2 close" in text
        assert f"{after['counter_mean_wait_min']:,.1f} min" in text
        assert f"{100 * after['share_customers_wait_over_target']:,.1f} %" in text
        assert f"Overloaded outlets {after['overloaded_outlets']}" in re.sub(r"\s+", " ", text)
    rows = _spend_rows(html)
    assert rows[0][:4] == ["Phase", "Budget", "Spent (one-off)",
                           "Operating cost after, per year"]
    col = {h: k for k, h in enumerate(rows[0])}
    body = rows[1:]
    assert [r[0] for r in body] == ["2025", "2030", "All phases"]
    assert [r[col["Budget"]] for r in body] == ["1.0 M", "2.0 M", "3.0 M"]
    assert [r[col["Spent (one-off)"]] for r in body] == ["0.6 M", "1.6 M", "2.2 M"]
    assert [r[col["close"]] for r in body] == ["2", "2", "4"]
    assert [r[col["open"]] for r in body] == ["0", "0", "0"]
    assert [r[col["Solver gap"]] for r in body][:2] == ["0.00 %", "0.00 %"]


def _spend_rows(html: str) -> list[list[str]]:
    """The cells of the spend table, heads first."""
    start = html.index('<table class="spend plain" id="phase-spend">')
    table = html[start:html.index("</table>", start)]
    return [re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", tr)
            for tr in re.findall(r"<tr>(.*?)</tr>", table, re.S)]


def test_single_plan_map_has_no_slider(tmp_path: Path) -> None:
    html = plan_map_html(tiny_plan())
    assert 'id="netplan-phase"' not in html and "phases" not in payload(html)


def test_cli_map_and_report_of_a_phased_folder(folder: Path, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    gpkg = tiny_gpkg()
    res = run_cli(["map", folder, "--out", tmp_path / "m.html", "--study", gpkg],
                  cwd=tmp_path, monkeypatch=monkeypatch, capsys=capsys)
    assert res.code == 0, res.err
    assert [e["year"] for e in payload((tmp_path / "m.html").read_text("utf-8"))["phases"]] \
        == YEARS
    res = run_cli(["report", folder, "--out", tmp_path / "r.html", "--study", gpkg],
                  cwd=tmp_path, monkeypatch=monkeypatch, capsys=capsys)
    assert res.code == 0, res.err
    assert 'id="phase-spend"' in (tmp_path / "r.html").read_text("utf-8")
    res = run_cli(["map", folder, "--phase", "2030", "--out", tmp_path / "m30.html", "--study",
                   gpkg], cwd=tmp_path, monkeypatch=monkeypatch, capsys=capsys)
    assert res.code == 0, res.err
    m30 = (tmp_path / "m30.html").read_text("utf-8")
    assert payload(m30)["phase_default"] == 1 and 'value="1"' in m30


def test_cli_phase_refused(folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                           capsys: pytest.CaptureFixture[str]) -> None:
    res = run_cli(["map", folder, "--phase", "2040", "--out", tmp_path / "m.html"],
                  cwd=tmp_path, monkeypatch=monkeypatch, capsys=capsys)
    assert res.code == 2 and "2040 is not a phase of" in res.err
    assert "use one of 2025, 2030" in res.err
    one = folder / PHASE_FILES["phases"] / "2025"
    res = run_cli(["map", one, "--phase", "2025", "--out", tmp_path / "m.html"],
                  cwd=tmp_path, monkeypatch=monkeypatch, capsys=capsys)
    assert res.code == 2 and "is not a phased plan folder" in res.err
    assert not (tmp_path / "m.html").exists()


@pytest.mark.slow
def test_the_whole_folder(tmp_path: Path) -> None:
    """write_phased_folder (what `netplan phases` calls): every file at once, in a manifest."""
    from netplan._io import read_manifest

    out = write_phased_folder(phased(), tiny_study(), tmp_path / "phased")
    files = set(read_manifest(out) or {})
    for name in (PHASE_FILES["actions"], PHASE_FILES["spend"], PHASE_FILES["summary"],
                 PLAN_FOLDER.map, PLAN_FOLDER.report):
        assert name in files
    for year in YEARS:
        for name in (PLAN_FOLDER.kpis, PLAN_FOLDER.map, PLAN_FOLDER.report):
            assert f"{PHASE_FILES['phases']}/{year}/{name}" in files
    assert [e["year"] for e in payload((out / PLAN_FOLDER.map).read_text("utf-8"))["phases"]] \
        == YEARS


@pytest.mark.browser
@pytest.mark.slow
def test_slider_changes_the_figures_offline(folder: Path, browser: Any) -> None:  # noqa: F811
    data = payload((folder / PLAN_FOLDER.map).read_text(encoding="utf-8"))
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    requests: list[str] = []
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.route(re.compile(r"^(?!file:)"), lambda route: (requests.append(route.request.url),
                                                          route.abort()))
    page.goto((folder / PLAN_FOLDER.map).resolve().as_uri())
    page.wait_for_selector("body.netplan-ready", state="attached")

    def shown() -> tuple[str, str, str]:
        return page.evaluate("""() => [document.getElementById('netplan-kpi-body').textContent,
            document.getElementById('netplan-phase-status').textContent,
            document.getElementById('netplan-table-count').textContent]""")

    def drawn(k: int) -> str:  # the phase's own KPI panel (kpis.json, drawn in Python) as text
        return page.evaluate("""k => { const d = document.createElement('div');
            d.innerHTML = JSON.parse(document.getElementById('netplan-data').textContent)
              .phases[k].kpi_html; return d.textContent; }""", k)

    kpi_last, status_last, count_last = shown()
    assert kpi_last == drawn(1) and "After phase 2030 (2 of 2)" in status_last
    page.focus("#netplan-phase")
    page.keyboard.press("Home")  # the keyboard moves the slider to the first phase
    kpi_first, status_first, count_first = shown()
    assert kpi_first == drawn(0) != kpi_last
    outlets = [e["behaviour"]["after"]["outlets"] for e in data["phases"]]
    assert outlets == [6, 4]  # the figure that differs, as each phase's kpis.json says
    assert "After phase 2025 (1 of 2)" in status_first
    assert page.get_attribute("#netplan-phase", "aria-valuetext") == "2025"
    assert (count_first, count_last) == ("8 of 8 shown", "8 of 8 shown")
    page.keyboard.press("ArrowRight")
    assert shown()[0] == kpi_last
    page.click('#netplan-phases button[data-phase="0"]')
    assert shown()[0] == kpi_first
    assert requests == [] and errors == []
    page.close()
