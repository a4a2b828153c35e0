"""Committee report: sections, tables, inline SVG charts, escaping, determinism, CLI."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import Any

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
    for anchor in ("summary", "scenario", "kpis", "charts", "map", "actions-list"):
        assert f'id="{anchor}"' in html
    assert "<title>Branch network plan: the whole city, demand of 2035</title>" in html
    assert "The scenario in words" in html
    assert "Outlet formats" in html and "District policies" in html


def test_scenario_in_words(html: str) -> None:
    for text in ("Demand</b> is that of 2035", "22 % of the residents are customers",
                 "stays under <b>11.0 min</b>", "60 % of the business goes through smart",
                 "one-off budget 600,000,000 CNY", "at most 60 openings and 40 closures",
                 "at least 32% of the outlets outside the 5th ring", "consolidate", "expand"):
        assert text in html, text


def test_kpi_tables(html: str) -> None:
    # overall: 9.5 → 5.0 min is better (green), distance 1.80 → 1.60 km better
    assert '<td>Mean expected wait at peak</td><td>9.5 min</td><td class="better">5.0 min</td>' \
        in html
    assert "<td>Outlets outside the 5th ring</td><td>37.5 %</td><td>50.0 %</td>" in html
    assert "One-off spend (CNY)" in html and "9.0 M (budget 600.0 M)" in html
    # per district (names from the study) and per ring zone
    assert "<td>东城区 Dongcheng</td>" in html and "<td>朝阳区 Chaoyang</td>" in html
    assert "<td>inside the 2nd ring</td>" in html and "<td>outside the 6th ring</td>" in html
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


def test_actions_table(html: str) -> None:
    rows = re.findall(r'<tr data-action="([\w-]+)">', html)
    assert rows[0] == "open"
    assert sorted(rows) == sorted(["keep"] * 4 + ["open", "close", "upgrade", "convert",
                                                  "relocate", "relocation-target"])
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
