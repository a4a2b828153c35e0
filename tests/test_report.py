"""Committee report: sections, tables, inline SVG charts, escaping, determinism, CLI."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from conftest_maps import XSS_NAME, tiny_plan, tiny_study
from rich.console import Console
from typer.testing import CliRunner

from netplan._errors import NetplanError
from netplan.cli import app
from netplan.planning import actions
from netplan.present import maps, report
from netplan.present.terminal import render_plan


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return tiny_study(tmp_path_factory.mktemp("study"))


@pytest.fixture(scope="module")
def html(study: Any) -> str:
    return report.plan_report_html(tiny_plan(), map_href="map.html", study=study)


def test_sections_present(html: str) -> None:
    for anchor in ("summary", "approval", "tradeoffs", "citymap", "districts", "kpis",
                   "charts", "method", "caveats", "scenario", "map", "district-maps",
                   "actions-list"):
        assert f'id="{anchor}"' in html, anchor
    assert 'id="over-capacity"' not in html  # no behaviour block: no list of such outlets
    assert "<title>Branch network plan: the whole city, demand of 2035</title>" in html
    assert "The scenario in words" in html
    assert "Outlet formats" in html and "District policies" in html
    # the pack comes before the appendices, in this order
    order = [html.index(f'id="{a}"') for a in ("summary", "citymap", "scenario",
                                               "district-maps", "actions-list")]
    assert order == sorted(order)


def test_scenario_in_words(html: str) -> None:
    for text in ("Demand</b> is that of 2035", "22 % of the residents are customers",
                 "stays under <b>11.0 min</b>", "60 % of the business goes through smart",
                 "one-off budget 600,000,000 CNY", "at most 60 openings and 40 closures",
                 "at least 32% of the outlets outside ring 5", "consolidate", "expand"):
        assert text in html, text


def test_kpi_tables(html: str) -> None:
    # overall: 9.5 → 5.0 min is better (green), distance 1.80 → 1.60 km better
    assert '<td>Mean expected wait at peak</td><td>9.5 min</td><td class="better">5.0 min</td>' \
        in html
    assert "<td>Outlets outside ring 5</td><td>37.5 %</td><td>50.0 %</td>" in html
    assert "One-off spend (CNY)" in html and "9.0 M (budget 600.0 M)" in html
    # per district (names from the study) and per ring zone
    assert "<td>东城区 Dongcheng</td>" in html and "<td>朝阳区 Chaoyang</td>" in html
    assert "<td>inside ring 2</td>" in html and "<td>outside ring 6</td>" in html
    assert re.search(r'12.0 min</span> → <span class="better">6.0 min', html)


def test_charts_are_inline_svg(html: str) -> None:
    charts = re.findall(r'<svg class="chart"', html)
    assert len(charts) == 3
    assert "Peak-hour customers by the expected wait at their outlet" in html
    assert "Outlets per ring zone" in html
    assert "Outlets per 100,000 residents, per district" in html
    assert "target 11 min" in html


def test_wait_histogram_known_answer() -> None:
    edges = report.wait_bins(11.0)
    assert edges == [2.0, 5.0, 8.0, 11.0, 15.0, 20.0, 30.0]
    h = report.wait_histogram([1.0, 2.0, 11.0, 11.5, float("inf"), float("nan")],
                              [10.0, 5.0, 3.0, 2.0, 7.0, 100.0], edges)
    assert h == [15.0, 0.0, 0.0, 3.0, 2.0, 0.0, 0.0, 7.0]


def test_actions_table_grouped_by_district(html: str) -> None:
    # district by district (by adcode), then the registry's priority; a move's new site
    # right after the outlet that moves there
    body = html[html.index('<table id="actions"'):]
    rows = re.findall(r'<tr data-action="([\w-]+)"><td>([^<]*)</td>', body)
    assert rows == [("open", "c2"), ("convert", "b4"), ("keep", "b1"), ("keep", "b6"),
                    ("keep", "b8"), ("relocate", "b5"), ("relocation-target", "c1"),
                    ("close", "b3"), ("upgrade", "b2"), ("keep", "b7")]
    groups = re.findall(r'<tr class="grp" data-action="group"><th colspan="11">([^<]*)</th>',
                        body)
    assert groups == ["东城区 Dongcheng: 1 open, 1 convert",
                      "朝阳区 Chaoyang: 1 relocate, 1 close, 1 upgrade"]
    assert "new site of b5" in html
    assert 'id="show-keep"' in html and 'id="filter"' in html


def test_map_is_linked_and_embedded(html: str, study: Any) -> None:
    assert '<a href="map.html">' in html
    assert '<iframe class="map" src="map.html"' in html
    plain = report.plan_report_html(tiny_plan(), study=study)
    assert "<iframe" not in plain and 'id="map"' not in plain
    with pytest.raises(NetplanError, match="scheme 'javascript'"):
        report.plan_report_html(tiny_plan(), map_href="javascript:alert(1)")


def test_every_user_string_is_escaped(html: str) -> None:
    assert XSS_NAME not in html and "<script>alert" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<img src=x" not in html and "&lt;img src=x onerror=&quot;alert(3)&quot;&gt;" in html
    assert "tiny &lt;test&gt;" in html and "synthetic &amp; small" in html
    assert len(re.findall(r"<script\b", html)) == 1  # the sort/filter script


def test_self_contained_and_deterministic(html: str, study: Any) -> None:
    assert not re.search(r"<script[^>]+\bsrc=", html)
    assert not re.search(r"<link\b", html)
    assert "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "https://" not in html
    assert report.plan_report_html(tiny_plan(), map_href="map.html", study=study) == html


def test_without_study_shows_adcodes(tmp_path: Path) -> None:
    out = report.plan_report(tiny_plan(), out=tmp_path / "r" / "report.html")
    text = out.read_text(encoding="utf-8")
    assert "<td>110101</td>" in text


def test_cli_report_links_the_plans_map(tmp_path: Path, study: Any) -> None:
    folder = tiny_plan().write(tmp_path / "plan-tiny")
    (folder / "map.html").write_text("<html></html>", encoding="utf-8")
    gpkg = next(Path(p) for p in study.layer_sources.values())
    res = CliRunner().invoke(app, ["report", str(folder), "--data", str(gpkg)])
    assert res.exit_code == 0, res.output
    assert res.output.strip() == str(folder / "report.html")
    text = (folder / "report.html").read_text(encoding="utf-8")
    assert '<iframe class="map" src="map.html"' in text
    other = tmp_path / "elsewhere" / "r.html"
    res = CliRunner().invoke(app, ["report", str(folder), "--out", str(other), "--data",
                                   str(gpkg)])
    assert res.exit_code == 0, res.output
    assert 'src="../plan-tiny/map.html"' in other.read_text(encoding="utf-8")


def test_cli_report_of_a_missing_folder(tmp_path: Path) -> None:
    res = CliRunner().invoke(app, ["report", str(tmp_path / "nope")])
    assert res.exit_code != 0
    assert isinstance(res.exception, NetplanError)
    assert "is not a plan folder" in str(res.exception)


# --- a new action type needs no change here ---------------------------------------------


@pytest.fixture
def with_merge(monkeypatch: pytest.MonkeyPatch) -> actions.ActionType:
    """The registry with a sixth kind of decision, as a model builder would add it."""
    merge = actions.ActionType(
        "merge", "merge into a neighbouring outlet", "merged: {load_before:.0f}/h moved", 5,
        (actions.Marker("merge", "merge", "#56b4e9", "square", 15, 320),))
    registry = (*actions.ACTIONS, merge)
    monkeypatch.setattr(actions, "ACTIONS", registry)
    monkeypatch.setattr(actions, "ACTION_NAMES", tuple(a.name for a in registry))
    monkeypatch.setattr(actions, "BY_NAME", {a.name: a for a in registry})
    return merge


def test_a_new_action_type_shows_everywhere(with_merge: actions.ActionType, study: Any,
                                            tmp_path: Path) -> None:
    plan = tiny_plan()
    plan.actions.loc[plan.actions["site_id"] == "b6", "action"] = "merge"
    plan.kpis["actions"] = {**plan.kpis["actions"], "keep": 3, "merge": 1}
    # the terminal: a column of its own, counted per district and in total
    buf = io.StringIO()
    render_plan(Console(file=buf, width=200, color_system=None), plan, study, folder=tmp_path)
    head = next(line for line in buf.getvalue().splitlines() if "keep" in line)
    assert head.split("┃")[-2].strip() == "merge"
    # the map: its marker in the payload, the site drawn with it, a legend row
    page = maps.plan_map_html(plan, study=study, tiles="none")
    data = json.loads(re.search(r'id="netplan-data">(.*?)</script>', page, re.S).group(1))
    assert "merge" in data["icons"]
    ids = data["outlets"]["id"]
    assert [ids[i] for i, key in data["outlet_layers"]["actions"] if key == "merge"] == ["b6"]
    assert "merge (1)</span>" in page
    assert "merge into a neighbouring outlet" in data["outlets"]["popup"][ids.index("b6")]
    assert "1 merge" in page  # the KPI panel's count of actions
    # the report: its rows, in the registry's order (after convert, before keep), coloured
    text = report.plan_report_html(plan, study=study)
    rows = re.findall(r'<tr data-action="([\w-]+)">', text)
    assert rows.index("merge") == rows.index("keep") - 1
    assert ".act-merge { color:" in text and "1 merge" in text


# --- the approval pack ------------------------------------------------------------------


def _with_behaviour(*, holds: bool = False) -> Any:
    """The tiny plan with a ``behaviour`` block: b2 (the XSS name) stays over capacity."""
    plan = tiny_plan()
    service = {"rule": "choice", "outlets": 8, "mean_wait_min": 6.0,
               "counter_mean_wait_min": 12.5, "terminal_mean_wait_min": 1.0,
               "share_customers_wait_over_target": 0.2, "counter_share_wait_over_target": 0.3,
               "overloaded_outlets": 2, "unserved_arrivals_per_h": 12.5,
               "served_per_h": 200.0, "abandoned_per_h": 4.0}
    after = {**service, "counter_mean_wait_min": 4.5, "unserved_arrivals_per_h": 3.0,
             "overloaded_outlets": 0 if holds else 1}
    plan.kpis["behaviour"] = {
        "rule": "choice", "parameters": {"patience_min": 140.0, "wait_weight": 1.5},
        "before": service, "after": after, "change_pct": {}, "holds": holds,
        "over_capacity": [] if holds else [
            {"site_id": "b2", "load_per_h": 50.0, "capacity_per_h": 40.0,
             "reason": "max_convert reached; time limit reached"}],
        "loop": {"iterations": 2, "overloaded_per_iteration": [3, 1], "kept_iteration": 1,
                 "stop": "time limit"},
        "note": "the gap is proven for the model of the kept solve",
    }
    plan.kpis["costs"]["travel_after_cny_per_year"] = 350_000
    return plan


def test_summary_counts_existing_outlets_apart_from_new_ones(html: str) -> None:
    facts = report.pack.approval_facts(tiny_plan(), {})
    # b2 upgrade, b3 close, b4 convert, b5 relocate of the 8 existing; c2 is new; c1 (the
    # new site of a move) is neither
    assert (facts.existing, facts.changed_existing, facts.new_outlets, facts.kept) == (
        8, 4, 1, 4)
    assert ("the plan changes 4 of the 8 existing outlets (1 relocate, 1 close, 1 upgrade, "
            "1 convert), opens 1 new outlet(s) and keeps 4 as they are") in html


def test_spend_per_site_from_the_format_costs() -> None:
    formats = {"full": {"open_cny": 6e6, "convert_cny": 1.5e6, "close_cny": 8e5,
                        "relocate_cny": 2.5e6},
               "light": {"open_cny": 2.5e6, "convert_cny": 8e5, "close_cny": 3e5,
                         "relocate_cny": 8e5}}
    a = pd.DataFrame({"action": ["open", "upgrade", "convert", "close", "relocate", "keep",
                                 ""],
                      "format_before": ["", "light", "full", "light", "full", "full", ""],
                      "format_after": ["light", "full", "light", "", "", "full", "full"]})
    assert report.pack.site_spend(a, formats).tolist() == [2.5e6, 1.5e6, 8e5, 3e5, 2.5e6,
                                                           0.0, 0.0]


def test_spend_and_headroom_per_district(study: Any) -> None:
    plan = tiny_plan()
    names = report.pr.district_names(study)
    facts = report.pack.approval_facts(plan, names)
    fmts = plan.kpis["scenario"]["formats"]
    by = {d.adcode: d for d in facts.districts}
    # 东城: open c2 (full) + convert b4 into light; 朝阳: upgrade b2 into full, close b3
    # (full), move b5 (full)
    assert by["110101"].spend_cny == fmts["full"]["open_cny"] + fmts["light"]["convert_cny"]
    assert by["110105"].spend_cny == (fmts["full"]["convert_cny"] + fmts["full"]["close_cny"]
                                      + fmts["full"]["relocate_cny"])
    assert facts.spend_unattributed_cny == pytest.approx(
        9e6 - by["110101"].spend_cny - by["110105"].spend_cny)
    # headroom: only c1 (22/h on 20/h) is at >= 99 % of capacity; x9 is outside the plan
    assert (facts.at_capacity, facts.outlets_after) == (1, 8)
    assert (by["110105"].at_capacity, by["110101"].at_capacity) == (1, 0)
    assert (by["110101"].outlets_before, by["110101"].outlets_after) == (4, 5)  # + c2
    text = report.pack.districts_html(facts, names)
    assert "<td>东城区 Dongcheng</td>" in text and "is not attributed to a district" in text


def test_limits_reached_are_computed_from_the_scenario() -> None:
    plan = tiny_plan()
    planning = plan.kpis["scenario"]["planning"]
    planning.update(max_open=1, max_close=3, max_convert=1, budget_cny=9.3e6)
    facts = report.pack.approval_facts(plan, {})
    status = {x.what: (x.used, x.limit, x.status) for x in facts.limits}
    assert status["openings"] == (1.0, 1.0, "reached")
    assert status["closures"] == (1.0, 3.0, "within")
    assert status["conversions"] == (1.0, 1.0, "reached")
    assert status["upgrades"][2] == "no limit"
    assert status["one-off budget"] == (9e6, 9.3e6, "nearly reached")  # 96.8 %
    text = report.plan_report_html(plan)
    assert "limits reached: openings 1 of 1; conversions 1 of 1; one-off budget 9.0 M CNY of " \
        "9.3 M CNY" in text
    assert "<td>planning.max_open</td>" in text


def test_holds_over_capacity_and_tradeoffs(study: Any) -> None:
    text = report.plan_report_html(_with_behaviour(), study=study)
    assert 'id="over-capacity"' in text
    assert "the plan does not hold everywhere: 1 outlet(s) get more customers" in text
    assert "outlets over capacity after each solve: 3, 1; stopped: time limit" in text
    assert "<td>max_convert reached</td><td>1</td>" in text
    # appendix C: the outlet, escaped, with its load and reason
    assert ("<td>b2</td><td>&lt;script&gt;alert(1)&lt;/script&gt;</td><td>朝阳区 Chaoyang</td>"
            "<td>50.0</td><td>40.0</td><td>125 %</td>") in text
    # every service figure names its rule
    assert text.count("(rule “choice”)") >= 3
    assert "counter mean wait at peak goes from 12.5 min to 4.5 min" in text
    # the travel cost rises (100,000 → 350,000 CNY a year): explained
    assert "Customers&#x27; travel cost rises by 0.2 M CNY a year" in text
    assert "an illustration of the method, not advice about a real bank" in text
    assert "8 of the study&#x27;s 8 outlets are modelled" in text
    held = report.plan_report_html(_with_behaviour(holds=True), study=study)
    assert "the plan holds: no outlet gets more customers" in held
    assert 'id="over-capacity"' not in held


def test_static_maps_of_the_city_and_each_district_with_actions(html: str, study: Any
                                                                 ) -> None:
    import base64

    images = report.staticmap.plan_map_images(tiny_plan(), study)
    assert sorted(images.districts) == ["110101", "110105"]
    for uri in [images.city, *images.districts.values()]:
        assert uri.startswith("data:image/png;base64,")
        assert base64.b64decode(uri.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"
    assert report.staticmap.plan_map_images(tiny_plan(), study) == images  # same bytes
    assert html.count('<img src="data:image/png;base64,') == 3
    # without a study the outlines come from the zones
    assert sorted(report.staticmap.plan_map_images(tiny_plan()).districts) == [
        "110101", "110105"]
    legend = report.staticmap.legend_html(report.staticmap.site_markers(tiny_plan()).counts(),
                                          images.classes, rings=True)
    assert "keep (4)" in legend and "relocate: new site (1)" in legend
    assert "residents per zone" in legend and "ring roads" in legend
    assert "residents per zone" not in report.staticmap.legend_html({"keep": 1})


def test_population_classes_known_answer() -> None:
    assert report.staticmap.population_classes(list(range(1, 101)), n=4) == (26.0, 50.0, 75.0)
    assert report.staticmap.population_classes([0, 0]) == ()


def test_print_style_is_a4_landscape(html: str) -> None:
    assert "@page { size: A4 landscape;" in html
    assert "section.page { break-before: page; }" in html


def test_cli_report_map_option_and_pdf_errors(tmp_path: Path, study: Any,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tiny_plan().write(tmp_path / "plan-tiny")
    gpkg = next(Path(p) for p in study.layer_sources.values())
    shared = tmp_path / "maps" / "plan-tiny"
    shared.mkdir(parents=True)
    (shared / "map.html").write_text("<html></html>", encoding="utf-8")
    res = CliRunner().invoke(app, ["report", str(folder), "--out", str(shared / "report.html"),
                                   "--map", str(shared / "map.html"), "--data", str(gpkg)])
    assert res.exit_code == 0, res.output
    assert '<iframe class="map" src="map.html"' in (shared / "report.html").read_text(
        encoding="utf-8")
    before = sorted(p.name for p in folder.iterdir())
    res = CliRunner().invoke(app, ["report", str(folder), "--map", str(tmp_path / "nope.html")])
    assert res.exit_code == 2 and "Invalid value for --map" in res.output
    res = CliRunner().invoke(app, ["report", str(folder), "--out", str(tmp_path / "r.html"),
                                   "--pdf", str(tmp_path / "r.html")])
    assert res.exit_code == 2 and "Invalid value for --pdf" in res.output
    monkeypatch.setenv("NETPLAN_CHROMIUM", str(tmp_path / "no-chromium"))
    res = CliRunner().invoke(app, ["report", str(folder), "--pdf", str(tmp_path / "r.pdf"),
                                   "--data", str(gpkg)])
    assert isinstance(res.exception, NetplanError)
    assert "--pdf needs headless Chromium" in str(res.exception)
    assert "NETPLAN_CHROMIUM" in str(res.exception)
    assert sorted(p.name for p in folder.iterdir()) == before
    assert not (tmp_path / "r.pdf").exists() and not (tmp_path / "r.html").exists()
    with pytest.raises(NetplanError, match="needs headless Chromium"):
        report.plan_report(tiny_plan(), out=tmp_path / "x.html", pdf=tmp_path / "x.pdf")
    assert not (tmp_path / "x.html").exists()


def test_committed_example_reports_link_files_that_exist() -> None:
    """Every relative link and frame of the reports under maps/ opens a file next to it."""
    root = Path(__file__).resolve().parents[1] / "maps"
    reports = sorted(root.rglob("*report*.html"))
    assert reports, "no example report under maps/"
    for page in reports:
        text = page.read_text(encoding="utf-8")
        links = re.findall(r'<(?:a|iframe)\b[^>]*\b(?:href|src)="([^"#][^"]*)"', text)
        local = [u for u in links if not re.match(r"^[a-z][a-z0-9+.-]*:", u, re.I)]
        assert local, f"{page} links no map"
        missing = [u for u in local if not (page.parent / u).is_file()]
        assert missing == [], f"{page}: {missing}"
