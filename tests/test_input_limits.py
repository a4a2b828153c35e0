"""Inputs stay local and bounded: URL-like paths, size caps, bounded messages, odd encodings.

A local folder named like a URL (``http:127.0.0.1:PORT``) is read from disk, and a tiny
HTTP server on that port proves that nothing was fetched; a path that only names a remote
resource is refused unless remote reading is allowed. Files above the caps of
:class:`~netplan.study.inputs.InputLimits` are refused before they are read whole, with the
cap and how to raise it named; messages list at most ten examples and a count.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import ClassVar

import geopandas as gpd
import pandas as pd
import pytest
import shapely
from conftest import tiny_layers
from conftest_reliability import fold, run_cli, snapshot, write_study

from netplan._errors import DataNotFoundError, LayerError, NetplanError, examples
from netplan.model.queuelog import read_queue_log
from netplan.model.scenario import load_scenario
from netplan.planning.plan import read_plan
from netplan.study.inputs import (
    InputLimits,
    check_model_size,
    input_limits,
    set_input_limits,
    source_path,
)
from netplan.study.layers import load_study, policy_adcodes, resolve_district
from netplan.study.readers import gpkg_layers, read_layer

# --- fixtures ------------------------------------------------------------------------------


class _Recorder(BaseHTTPRequestHandler):
    hits: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        self.hits.append(self.path)
        self.send_response(404)
        self.end_headers()

    do_HEAD = do_GET

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[tuple[int, list[str]]]:
    """A local HTTP server answering 404 to everything; yields its port and the paths asked."""
    hits: list[str] = []
    handler = type("Handler", (_Recorder,), {"hits": hits})
    srv = HTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    try:
        yield srv.server_address[1], hits
    finally:
        srv.shutdown()
        srv.server_close()


@pytest.fixture
def limits() -> Iterator[None]:
    """Restore the input limits after a test that changes them."""
    previous = input_limits()
    yield
    set_input_limits(previous)


def _branches_file(folder: Path, name: str = "branches.gpkg") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    tiny_layers()["branches"].to_file(path, layer="branches", driver="GPKG", engine="pyogrio")
    return path


# --- local paths stay local ----------------------------------------------------------------


def test_a_local_folder_named_like_a_url_is_read_from_disk(
    tmp_path: Path, server: tuple[int, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    port, hits = server
    name = f"http:127.0.0.1:{port}"
    _branches_file(tmp_path / name)
    monkeypatch.chdir(tmp_path)
    gdf = read_layer(f"{name}/branches.gpkg", "branches")
    assert len(gdf) == len(tiny_layers()["branches"])
    assert gpkg_layers(f"{name}/branches.gpkg") == ["branches"]
    (tmp_path / name / "s.toml").write_text('name = "local"\n', encoding="utf-8")
    assert load_scenario(f"{name}/s.toml").name == "local"
    assert hits == []


def test_the_cli_reads_a_url_like_local_folder_without_network(
    tmp_path: Path, server: tuple[int, list[str]], monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    port, hits = server
    name = f"http:127.0.0.1:{port}"
    _branches_file(tmp_path / name)
    before = snapshot(tmp_path)
    res = run_cli(["layers", "validate", f"{name}/branches.gpkg"], cwd=tmp_path,
                  monkeypatch=monkeypatch, capsys=capsys)
    assert res.code == 0, res.err
    assert f"OK {name}/branches.gpkg [branches]: 8 features" in fold(res.out)
    assert hits == []
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("url", [
    "https://example.invalid/branches.gpkg", "s3://bucket/branches.gpkg",
    "/vsicurl/http://127.0.0.1:9/branches.gpkg", "http:127.0.0.1:9/branches.gpkg",
])
def test_a_url_is_refused_by_default(url: str, tmp_path: Path,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(NetplanError, match=r"looks like a URL .* netplan reads local files "
                                           r"only; .* pass --allow-url"):
        read_layer(url, "branches")
    with pytest.raises(NetplanError, match="looks like a URL"):
        gpkg_layers(url)


def test_a_url_is_fetched_only_when_allowed(
    tmp_path: Path, server: tuple[int, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    port, hits = server
    monkeypatch.chdir(tmp_path)
    url = f"/vsicurl/http://127.0.0.1:{port}/branches.geojson"
    with pytest.raises(NetplanError, match="looks like a URL"):
        read_layer(url, "branches")
    assert hits == []
    with pytest.raises(NetplanError, match="cannot read"):
        read_layer(url, "branches", allow_remote=True)
    assert hits  # GDAL asked the server: the flag works


def test_scenarios_plans_and_queue_logs_are_never_fetched(
    tmp_path: Path, server: tuple[int, list[str]], monkeypatch: pytest.MonkeyPatch,
    limits: None,
) -> None:
    port, hits = server
    monkeypatch.chdir(tmp_path)
    set_input_limits(InputLimits(allow_remote=True))  # even so: these are local only
    url = f"http://127.0.0.1:{port}/x"
    with pytest.raises(NetplanError, match=r"scenario .* local files only") as exc:
        load_scenario(f"{url}.toml")
    assert "--allow-url" not in str(exc.value)
    with pytest.raises(NetplanError, match=r"plan folder .* local files only"):
        read_plan(Path(url))
    with pytest.raises(NetplanError, match=r"queue log .* local files only"):
        read_queue_log(f"{url}.csv")
    assert hits == []


def test_source_path_makes_local_paths_absolute(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert source_path("a/b.gpkg", what="x") == str(tmp_path.resolve() / "a" / "b.gpkg")


# --- size caps, checked before reading -----------------------------------------------------


def test_a_layer_above_the_file_size_cap_is_refused(tmp_path: Path, limits: None) -> None:
    path = _branches_file(tmp_path)
    set_input_limits(InputLimits(max_file_bytes=1000))
    with pytest.raises(NetplanError, match=r"branches layer .* is [\d.]+ KB, above netplan's "
                                           r"limit of 1,000 bytes \(max_file_bytes\); .*"
                                           r"--max-file-mb N"):
        read_layer(path, "branches")


@pytest.mark.parametrize("suffix", [".gpkg", ".parquet", ".csv", ".geojson"])
def test_a_layer_above_the_row_cap_is_refused_before_reading(
    suffix: str, tmp_path: Path, limits: None
) -> None:
    b = tiny_layers()["branches"]
    path = tmp_path / f"branches{suffix}"
    if suffix == ".parquet":
        b.to_parquet(path)
    elif suffix == ".csv":
        b.drop(columns="geometry").assign(lon=b.geometry.x, lat=b.geometry.y).to_csv(
            path, index=False)
    else:
        b.to_file(path, engine="pyogrio")
    set_input_limits(InputLimits(max_rows=5))
    with pytest.raises(NetplanError, match=r"branches layer in .* has 8 features, above "
                                           r"netplan's limit of 5 rows per layer \(max_rows\);"
                                           r" .*--max-rows N"):
        read_layer(path, "branches")


def test_the_cli_caps_rows_and_says_how_to_raise_the_cap(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
    limits: None,
) -> None:
    path = _branches_file(tmp_path)
    before = snapshot(tmp_path)
    res = run_cli(["--max-rows", "5", "layers", "validate", path], cwd=tmp_path,
                  monkeypatch=monkeypatch, capsys=capsys)
    assert res.code == 1
    assert "has 8 features, above netplan's limit of 5 rows per layer" in fold(res.out)
    res = run_cli(["--max-rows", "8", "layers", "validate", path], cwd=tmp_path,
                  monkeypatch=monkeypatch, capsys=capsys)
    assert res.code == 0, res.out + res.err
    res = run_cli(["--max-rows", "0", "layers", "validate", path], cwd=tmp_path,
                  monkeypatch=monkeypatch, capsys=capsys)
    assert res.code == 2
    assert snapshot(tmp_path) == before


def test_duplicate_ids_of_many_rows_give_a_short_message(tmp_path: Path) -> None:
    """The 3 M identical rows of the report, scaled down: the message stays short."""
    n = 200_000
    path = tmp_path / "candidates.parquet"
    gpd.GeoDataFrame(
        {"candidate_id": ["c1"] * (n - 20) + [f"d{k // 2}" for k in range(20)]},
        geometry=[shapely.Point(116.4, 39.9)] * n, crs="EPSG:4326",
    ).to_parquet(path)
    with pytest.raises(LayerError) as exc:
        read_layer(path, "candidates")
    text = str(exc.value)
    assert len(text) < 1000, text
    assert "found 11 duplicated ids: 'c1' (rows 1, 2, 3, 4, 5 and 199,975 more); 'd0' " \
           "(rows 199981, 199982)" in text
    assert text.endswith("and 1 more")


def test_examples_shows_ten_and_counts_the_rest() -> None:
    items = [str(k) for k in range(3_000_000)]
    assert examples(items) == "0, 1, 2, 3, 4, 5, 6, 7, 8, 9 and 2,999,990 more"
    assert examples(["a"], total=3, unit="row") == "a and 2 more rows"
    assert examples(["a", "b"]) == "a, b"


def test_a_scenario_above_its_cap_is_refused(tmp_path: Path, limits: None,
                                             monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    """A 3.5 MB TOML of bad keys: refused by size, and bounded when the cap is raised."""
    path = tmp_path / "huge.toml"
    path.write_text("".join(f"bad_key_{k} = {k}\n" for k in range(180_000)), encoding="utf-8")
    assert path.stat().st_size > 3_000_000
    with pytest.raises(NetplanError, match=r"scenario .* is 3\.\d MB, above netplan's limit "
                                           r"of 1\.0 MB \(max_scenario_bytes\); .*"
                                           r"--max-scenario-kb N"):
        load_scenario(path)
    study = write_study(tmp_path / "study.gpkg")
    before = snapshot(tmp_path)
    res = run_cli(["--max-scenario-kb", "8192", "plan", "--data", study, "--scenario", path,
                   "--out", "plan"], cwd=tmp_path, monkeypatch=monkeypatch, capsys=capsys)
    assert res.code == 1
    assert "Traceback" not in res.err
    assert len(res.err) < 3000, len(res.err)
    assert "has 180000 problems" in fold(res.err)
    assert "and 179,990 more problems" in fold(res.err)
    assert snapshot(tmp_path) == before


def test_long_values_in_scenario_messages_are_cut(tmp_path: Path) -> None:
    path = tmp_path / "s.toml"
    path.write_text(f'[demand]\nsmart_share = "{"x" * 100_000}"\n', encoding="utf-8")
    with pytest.raises(NetplanError) as exc:
        load_scenario(path)
    assert len(str(exc.value)) < 600
    assert "(100,002 characters)" in str(exc.value)


# --- validation gaps -----------------------------------------------------------------------


def test_two_policies_for_one_district_are_refused() -> None:
    districts = tiny_layers()["districts"]
    assert policy_adcodes(["Chaoyang", "东城"], districts) == {
        "Chaoyang": "110105", "东城": "110101"}
    with pytest.raises(NetplanError, match=r"district policies name the same district twice: "
                                           r"\[districts\.Chaoyang\] and \[districts\.110105\] "
                                           r"\(both 110105\); keep one table per district"):
        policy_adcodes(["Chaoyang", "110105"], districts)


def test_a_gbk_shapefile_without_cpg_is_refused_with_the_fix(tmp_path: Path) -> None:
    names = ["朝阳门", "海淀"] * 4
    path = tmp_path / "branches.shp"
    tiny_layers()["branches"].assign(name=names).to_file(path, encoding="GBK", engine="pyogrio")
    path.with_suffix(".cpg").unlink()
    with pytest.raises(NetplanError, match=r"column 'name' holds non-ASCII text and the "
                                           r"Shapefile does not say its encoding \(no "
                                           r"branches\.cpg\).*as GBK it reads '朝阳门'.*add "
                                           r"a branches\.cpg file .* --encoding gbk"):
        read_layer(path, "branches")
    assert read_layer(path, "branches", encoding="gbk")["name"].tolist() == names
    path.with_suffix(".cpg").write_text("GBK", encoding="ascii")
    assert read_layer(path, "branches")["name"].tolist() == names


def test_a_csv_with_an_unknown_encoding_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "candidates.csv"
    pd.DataFrame({"candidate_id": ["c1"], "lon": [116.4], "lat": [39.9]}).to_csv(path)
    with pytest.raises(NetplanError, match="unknown encoding 'klingon'"):
        read_layer(path, "candidates", encoding="klingon")


def test_empty_districts_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "districts.gpkg"
    tiny_layers()["districts"].iloc[:0].to_file(path, layer="districts", engine="pyogrio")
    with pytest.raises(LayerError, match="expected at least one feature, found none"):
        read_layer(path, "districts")


def test_a_shared_branch_and_candidate_id_names_both_layers(tmp_path: Path) -> None:
    def clash(layers: dict[str, gpd.GeoDataFrame]) -> None:
        layers["candidates"].loc[1, "candidate_id"] = layers["branches"]["branch_id"].iloc[2]

    path = write_study(tmp_path / "study.gpkg", clash)
    shared = tiny_layers()["branches"]["branch_id"].iloc[2]
    with pytest.raises(LayerError, match=r"(?s)layer 'candidates'.*column 'candidate_id': "
                                         r"expected ids that no branch uses .* found 1 id "
                                         r"also in branch_id of the branches layer .*: "
                                         rf"'{shared}'"):
        load_study(path)


def test_escape_sequences_in_layer_text_reach_the_terminal_escaped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "candidates.csv"
    pd.DataFrame({"candidate_id": ["c1"], "\x1b[2Jlon": [116.4], "lat": [39.9]}).to_csv(
        path, index=False)
    before = snapshot(tmp_path)
    res = run_cli(["layers", "validate", path], cwd=tmp_path, monkeypatch=monkeypatch,
                  capsys=capsys)
    assert res.code == 1
    assert "\x1b" not in res.out + res.err
    assert "\\x1b[2Jlon" in res.out
    assert snapshot(tmp_path) == before


def test_a_missing_layer_file_is_still_not_found(tmp_path: Path) -> None:
    with pytest.raises(DataNotFoundError, match="branches layer file not found"):
        read_layer(tmp_path / "nope.gpkg", "branches")


def test_a_planning_model_too_large_for_memory_is_refused_with_its_estimate(
    limits: None,
) -> None:
    beijing = check_model_size(n_zones=20_000, n_sites=1_200, k_nearest=8, n_formats=3)
    assert beijing < input_limits().max_model_bytes
    with pytest.raises(NetplanError, match=r"the planning model would need about [\d.]+ GB "
                                           r"of memory \(5,000,000 zones x 8 nearest sites, "
                                           r"100,000 sites x 4 options\), above netplan's "
                                           r"limit of 16\.0 GB \(max_model_bytes\); plan one "
                                           r"district at a time"):
        check_model_size(n_zones=5_000_000, n_sites=100_000, k_nearest=8, n_formats=3)
    set_input_limits(InputLimits(max_model_bytes=beijing - 1))
    with pytest.raises(NetplanError, match="max_model_bytes"):
        check_model_size(n_zones=20_000, n_sites=1_200, k_nearest=8, n_formats=3)


def test_escape_sequences_in_scenario_keys_reach_the_terminal_escaped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "s.toml"
    path.write_text('"\\u001b[2Jevil" = 1\n[districts."\\u202eX"]\npolicy = "grow"\n',
                    encoding="utf-8")
    study = write_study(tmp_path / "study.gpkg")
    before = snapshot(tmp_path)
    res = run_cli(["plan", "--data", study, "--scenario", path, "--out", "plan"],
                  cwd=tmp_path, monkeypatch=monkeypatch, capsys=capsys)
    assert res.code == 1
    assert "\x1b" not in res.err and "\u202e" not in res.err
    assert "unknown key \\x1b[2Jevil" in res.err
    assert "districts.\\u202eX.policy must be one of" in res.err
    assert snapshot(tmp_path) == before


def test_a_small_parquet_that_decodes_to_a_huge_layer_is_refused(
    tmp_path: Path, limits: None
) -> None:
    """One large polygon on every row is stored once: the file is small, its rows are not."""
    circle = shapely.Point(116.4, 39.9).buffer(0.01, quad_segs=500)  # 32 KB of WKB
    n = 2_000
    path = tmp_path / "zones.parquet"
    gpd.GeoDataFrame(
        {"zone_id": [f"z{k}" for k in range(n)], "pop_2010": 1, "pop_2020": 1},
        geometry=[circle] * n, crs="EPSG:4326",
    ).to_parquet(path)
    assert path.stat().st_size < 100_000
    set_input_limits(InputLimits(max_file_bytes=10 * 1024**2))
    with pytest.raises(NetplanError, match=r"zones layer \(decoded\) .* is 61\.\d MB, above "
                                           r"netplan's limit of 10\.0 MB \(max_file_bytes\)"):
        read_layer(path, "zones")


def test_the_cli_fetches_a_url_only_with_allow_url(
    tmp_path: Path, server: tuple[int, list[str]], monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str], limits: None,
) -> None:
    port, hits = server
    url = f"http://127.0.0.1:{port}/b.geojson"
    before = snapshot(tmp_path)
    res = run_cli(["layers", "validate", url, "--kind", "branches"], cwd=tmp_path,
                  monkeypatch=monkeypatch, capsys=capsys)
    assert res.code == 1
    assert "netplan reads local files only" in fold(res.out)
    assert "pass --allow-url" in fold(res.out)
    assert hits == []
    res = run_cli(["--allow-url", "layers", "validate", url, "--kind", "branches"],
                  cwd=tmp_path, monkeypatch=monkeypatch, capsys=capsys)
    assert res.code == 1
    assert "HTTP response code: 404" in fold(res.out)
    assert "/b.geojson" in hits
    assert snapshot(tmp_path) == before


def test_an_unknown_district_lists_ten_districts_and_a_count() -> None:
    districts = pd.DataFrame({"adcode": [f"{110100 + k}" for k in range(30)],
                              "name_zh": [f"区{k}" for k in range(30)],
                              "name_en": [f"D{k}" for k in range(30)]})
    with pytest.raises(NetplanError, match=r"'Atlantis' matches no district; .*110109 区9 "
                                           r"\(D9\) and 20 more districts$"):
        resolve_district("Atlantis", districts)
