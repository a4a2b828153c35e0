"""Data never become code: hostile names through plan → map → report, diagnosis map, terminal.

Every name field a user controls (branch id and name, zone id, candidate id and name,
district names, ring road names; the scenario's name, description and district policy
keys) carries a payload: Jinja2 expressions and comments (one of them calls
``os.system`` to touch a file), ``${…}``, HTML and ``</script>`` breakers, U+2028 and
terminal escape sequences. The pages must show each one as text (escaped, or as JSON
inside the data block), run nothing, and the terminal tables must hold no raw ESC or BEL.
"""

from __future__ import annotations

import html
import io
import json
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
from conftest_reliability import TINY_SCENARIO, Layers, write_study
from rich.console import Console

from netplan.model.scenario import scenario_from_dict
from netplan.planning.diagnose import diagnose
from netplan.planning.plan import Plan, make_plan
from netplan.present import maps, report
from netplan.present.terminal import render_diagnosis, render_plan
from netplan.study.layers import Study, load_study

SIX_BY_SEVEN = "{{ 6*7 }}"
HASH_COMMENT = "Wangfujing {#12}"
CLOSE_SCRIPT = "</script><script>"
CSI = "\x1b[31mred"
OSC = "\x1b]0;x\x07"
LINE_SEP = "a\u2028b\u2029c"
PAYLOADS = (SIX_BY_SEVEN, "{# x", "{% if %}", "${7*7}", "<script>alert(1)</script>",
            CLOSE_SCRIPT, LINE_SEP, CSI, OSC, HASH_COMMENT)


#: Makes the folder ``netplanpwned`` in the working directory if compiled as a Jinja2
#: template. It needs no quote, ``<``, ``>`` or ``&``, so HTML-escaping does not stop it:
#: on the pre-refactor code (names compiled by branca/Jinja2) it runs.
MKDIR = "{{ cycler.__init__.__globals__.os.mkdir(dict(netplanpwned=1)|first) }}"


def rce(flag: Path) -> str:
    """A Jinja2 expression that runs a shell command if it is ever compiled as a template."""
    return "{{ cycler.__init__.__globals__.os.system('touch " + str(flag) + "') }}"


def hostile(flag: Path) -> list[str]:
    return [rce(flag), *PAYLOADS, MKDIR]


def pick(values: list[str], n: int, start: int = 0) -> list[str]:
    """``n`` distinct strings from the payloads (suffixed to stay unique)."""
    return [f"{values[(start + k) % len(values)]}{'' if k < len(values) else k}"
            for k in range(n)]


def mutate(flag: Path) -> Any:
    vals = hostile(flag)

    def apply(layers: Layers) -> None:
        b = layers["branches"]
        b["name"] = pick(vals, len(b))
        b["branch_id"] = pick(vals, len(b), start=4)
        c = layers["candidates"]
        c["name"] = pick(vals, len(c), start=5)
        c["candidate_id"] = pick(vals, len(c), start=1)
        z = layers["zones"]
        z["zone_id"] = pick(vals, len(z), start=2)
        d = layers["districts"]
        d["name_zh"] = [rce(flag), HASH_COMMENT]
        d["name_pinyin"] = [SIX_BY_SEVEN, CSI]
        d["name_en"] = [OSC, CLOSE_SCRIPT]
        r = layers["ring_roads"]
        r["name_en"] = pick(vals, len(r), start=4)
        r["name_zh"] = pick(vals, len(r), start=7)

    return apply


@pytest.fixture(scope="module")
def flag(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("flag") / "pwned"


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory, flag: Path) -> Study:
    path = write_study(tmp_path_factory.mktemp("study") / "study.gpkg", mutate(flag))
    return load_study(path)


@pytest.fixture(scope="module")
def plan(study: Study, flag: Path) -> Plan:
    data = tomllib.loads(TINY_SCENARIO)
    data["name"] = rce(flag) + " " + MKDIR
    data["description"] = " ".join(PAYLOADS)
    # district policies keyed by the districts' (hostile) Chinese names
    data["districts"] = {rce(flag): {"policy": "free"}, HASH_COMMENT: {"policy": "free"}}
    p = make_plan(study, scenario_from_dict(data), year=2020)
    return p


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cwd")


@pytest.fixture(scope="module")
def pages(plan: Plan, study: Study, workdir: Path) -> dict[str, str]:
    diag = diagnose(study, scenario_from_dict(tomllib.loads(TINY_SCENARIO) | {
        "name": SIX_BY_SEVEN, "description": MKDIR, "districts": {}}))
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(workdir)  # where MKDIR would make its folder
        return {
            "map": maps.plan_map_html(plan, study=study, tiles="none"),
            "map_gaode": maps.plan_map_html(plan, study=study, tiles="gaode"),
            "diagnosis": maps.diagnosis_map_html(study, diag, tiles="none"),
            "report": report.plan_report_html(plan, map_href="map.html", study=study),
        }


def data_block(page: str) -> tuple[str, dict[str, Any]]:
    m = re.search(r'<script type="application/json" id="netplan-data">(.*?)</script>', page,
                  re.S)
    assert m, "no data payload"
    raw = m.group(1)
    data: dict[str, Any] = json.loads(raw)
    return raw, data


def test_no_payload_ran(pages: dict[str, str], flag: Path, workdir: Path) -> None:
    assert len(pages) == 4
    assert not flag.exists(), "a name was compiled and run as a template"
    assert list(workdir.iterdir()) == [], "a name was compiled and run as a template"


@pytest.mark.parametrize("name", ["map", "map_gaode", "diagnosis"])
def test_map_shows_every_name_as_text(name: str, pages: dict[str, str], plan: Plan,
                                      study: Study, flag: Path) -> None:
    page = pages[name]
    raw, data = data_block(page)
    # the data block holds no raw <, >, & or line separators: nothing can close it
    assert not re.search("[<>&\u2028\u2029]", raw)
    assert "</script><script>" not in page and "<script>alert" not in page
    assert len(re.findall(r"<script\b", page)) == 4  # Leaflet, map.js, data, the call
    ids = set(data["outlets"]["id"])
    names = {html.unescape(n) for n in data["outlets"]["name"]}
    expected = set(study.branches["branch_id"].astype(str))
    if name != "diagnosis":
        expected |= set(plan.actions["site_id"].astype(str))
    assert expected <= ids  # raw ids, as the script sets them as attributes
    for value in hostile(flag):  # branch names and ids hold every payload between them
        assert value in names | ids, value
    assert html.escape(rce(flag)) in data["outlets"]["name"]  # escaped once, for innerHTML
    zone_ids = {html.unescape(z) for z in data["zones"]["id"]}
    assert zone_ids & set(PAYLOADS) and rce(flag) in zone_ids | names
    districts = [html.unescape(d["name"]) for d in data["districts"]]
    assert any(SIX_BY_SEVEN in d for d in districts)
    assert any(HASH_COMMENT in d for d in districts)
    rings = " ".join(html.unescape(r["name"]) for r in data["ring_roads"])
    assert "${7*7}" in rings and HASH_COMMENT in rings and MKDIR in rings
    # Jinja never saw the page: {{ 6*7 }} stays as written in the panels too
    assert "6*7" in page and ">42<" not in page and " 42 " not in html.unescape(
        re.sub(r"<[^>]+>", " ", page.split('id="netplan-data"')[0]))


def test_plan_map_title_shows_the_scenario_name_literally(pages: dict[str, str],
                                                          flag: Path) -> None:
    assert html.escape(rce(flag)) in pages["map"]
    assert "scenario “{{ 6*7 }}”" in html.unescape(pages["diagnosis"])


def test_report_shows_every_name_as_text(pages: dict[str, str], flag: Path) -> None:
    page = pages["report"]
    assert len(re.findall(r"<script\b", page)) == 1  # the table's sort/filter script
    assert "</script><script>" not in page and "<script>alert" not in page
    text = html.unescape(page)
    for value in (SIX_BY_SEVEN, HASH_COMMENT, "{# x", "{% if %}", "${7*7}", rce(flag)):
        assert value in text, value
    assert f"<td>{html.escape(HASH_COMMENT)}</td>" in page  # a policy key, as a cell
    assert html.escape(" ".join(PAYLOADS)) in page  # the description, escaped once
    assert "<td>42</td>" not in page


def test_terminal_shows_no_control_characters(plan: Plan, study: Study, tmp_path: Path) -> None:
    buf = io.StringIO()
    console = Console(file=buf, width=240, color_system=None, force_terminal=False)
    render_plan(console, plan, study, folder=tmp_path / f"out{CSI}")
    diag = diagnose(study, scenario_from_dict(tomllib.loads(TINY_SCENARIO) | {"districts": {}}))
    render_diagnosis(console, diag, study, adcode=None)
    out = buf.getvalue()
    assert "\x1b" not in out and "\x07" not in out
    assert "\\x1b[31mred" in out  # shown, made visible
    assert "{{ 6*7 }}" in out  # the district name, literally

