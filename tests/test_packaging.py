"""netplan as a user gets it: a wheel that plans from any folder, outputs that do not depend
on where the files live, a public API in ``netplan``, and every imported package declared.
"""

from __future__ import annotations

import ast
import hashlib
import importlib.metadata
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

import netplan
from netplan.model.scenario import load_scenario, scenario_from_dict, scenario_to_dict

REPO = Path(__file__).resolve().parent.parent
PACKAGE = REPO / "netplan"
DATA = PACKAGE / "data"
PACKAGED = ("netplan/data/beijing.gpkg", "netplan/data/scenarios/beijing-2035.toml",
            "netplan/data/samples/queue_log_sample.parquet", "netplan/data/samples/README.md")
DISTRICT = ["--district", "东城"]


def _run(cmd: list[str], cwd: Path, env: dict[str, str] | None = None,
         timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout, check=False)


def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("NETPLAN_DATA", "PYTHONPATH")}
    env.update(extra)
    return env


# --- the wheel -------------------------------------------------------------------------


def _build_wheel(tmp: Path) -> Path:
    """Build the wheel from a copy of the sources (no build/ folder left in the work tree)."""
    src = tmp / "src"
    src.mkdir()
    shutil.copytree(PACKAGE, src / "netplan",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, src / name)
    cmd = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--disable-pip-version-check",
           "-q", "-w", str(tmp / "dist"), str(src)]
    try:
        import wheel  # noqa: F401  # the build backend's wheel support: no isolated build
    except ImportError:
        pass
    else:
        cmd.insert(4, "--no-build-isolation")
    done = _run(cmd, cwd=tmp)
    assert done.returncode == 0, done.stdout + done.stderr
    (whl,) = (tmp / "dist").glob("netplan_branches-*.whl")
    return whl


def test_wheel_installs_and_plans_from_any_folder(tmp_path: Path) -> None:
    whl = _build_wheel(tmp_path)
    names = set(zipfile.ZipFile(whl).namelist())
    assert set(PACKAGED) <= names
    assert not [n for n in names if n.startswith(("data/", "tests/"))]

    venv = tmp_path / "venv"
    done = _run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip",
                 str(venv)], cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    python, netplan_cmd = venv / "bin" / "python", venv / "bin" / "netplan"
    done = _run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps",
                 "--no-index", "--disable-pip-version-check", "-q", str(whl)], cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr

    work = tmp_path / "work"
    work.mkdir()
    env = _clean_env()
    # The repository is installed editable too: the venv's own copy must come first.
    done = _run([str(python), "-c", "import netplan, netplan._paths as p; "
                 "print(netplan.__file__); print(p.default_gpkg())"], cwd=work, env=env)
    assert done.returncode == 0, done.stderr
    module_file, gpkg = (Path(line) for line in done.stdout.splitlines())
    assert module_file.is_relative_to(venv), module_file
    assert gpkg.is_relative_to(venv) and gpkg.is_file(), gpkg

    done = _run([str(netplan_cmd), "plan", *DISTRICT], cwd=work, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    folder = work / "out" / "plan-110101"
    assert (folder / "kpis.json").is_file() and (folder / "plan.gpkg").is_file()


# --- outputs do not depend on where the files are --------------------------------------


def test_plan_bytes_do_not_depend_on_folders(tmp_path: Path) -> None:
    """Two working folders, the data reached through two paths: the same kpis.json bytes."""
    data_copy = tmp_path / "copy-of-data"
    shutil.copytree(DATA, data_copy)
    kpis: list[bytes] = []
    for i, (env, scenario) in enumerate([  # other folder, other data path, other scenario path
        (_clean_env(), []),
        (_clean_env(NETPLAN_DATA=str(data_copy)), ["--scenario", "beijing-2035.toml"]),
    ]):
        work = tmp_path / f"work{i}"
        work.mkdir()
        shutil.copy2(DATA / "scenarios" / "beijing-2035.toml", work)
        done = _run([sys.executable, "-m", "netplan", "plan", *DISTRICT, *scenario],
                    cwd=work, env=env)
        assert done.returncode == 0, done.stdout + done.stderr
        folder = work / "out" / "plan-110101"
        kpis.append((folder / "kpis.json").read_bytes())
        for f in folder.iterdir():
            raw = f.read_bytes()
            for place in (str(tmp_path), str(REPO), str(Path.home())):
                assert place.encode() not in raw, f"{f.name} names {place}"
    assert kpis[0] == kpis[1]
    source = json.loads(kpis[0])["scenario"]["source"]
    toml = (DATA / "scenarios" / "beijing-2035.toml").read_bytes()
    assert source == {"file": "beijing-2035.toml", "sha256": hashlib.sha256(toml).hexdigest()}


def test_scenario_source_is_the_file_name_and_hash(tmp_path: Path) -> None:
    copy = tmp_path / "deep" / "folder" / "mine.toml"
    copy.parent.mkdir(parents=True)
    shutil.copy2(DATA / "scenarios" / "beijing-2035.toml", copy)
    s = load_scenario(copy)
    assert s.source == str(copy)
    d = scenario_to_dict(s)
    assert d["source"]["file"] == "mine.toml"
    assert d["source"]["sha256"] == hashlib.sha256(copy.read_bytes()).hexdigest()
    back = scenario_from_dict(d)
    assert back == s and back.source == "mine.toml" and back.source_sha256 == s.source_sha256
    assert scenario_to_dict(scenario_from_dict({}))["source"] == {"file": "<dict>",
                                                                   "sha256": None}


# --- the public API --------------------------------------------------------------------


def test_every_public_name_resolves() -> None:
    for name in netplan.__all__:
        assert getattr(netplan, name) is not None, name
    assert set(netplan.__all__) == {"__version__", *netplan._API}
    # The imports type checkers see name the same modules as the lazy table.
    tree = ast.parse((PACKAGE / "__init__.py").read_text(encoding="utf-8"))
    typed = {
        alias.name: node.module
        for block in tree.body if isinstance(block, ast.If)
        for node in block.body if isinstance(node, ast.ImportFrom)
        for alias in node.names
    }
    assert typed == netplan._API
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        _ = netplan.nope  # type: ignore[attr-defined]


def test_import_netplan_stays_cheap() -> None:
    code = ("import sys, netplan; heavy = [m for m in ('geopandas', 'pandas', 'numpy', "
            "'highspy', 'folium', 'netplan.planning') if m in sys.modules]; print(heavy)")
    done = _run([sys.executable, "-c", code], cwd=REPO)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


# --- every imported package is declared ------------------------------------------------


def _top_level_imports(root: Path) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top != "netplan" and top not in sys.stdlib_module_names:
                    found.setdefault(top, set()).add(str(path.relative_to(root.parent)))
    return found


def _normalise(dist: str) -> str:
    return re.sub(r"[-_.]+", "-", dist).lower()


def _declared() -> set[str]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    declared: set[str] = set()
    for req in project["dependencies"]:
        m = re.match(r"\s*([A-Za-z0-9_.-]+)\s*(?:\[([^\]]*)\])?", req)
        assert m, req
        declared.add(_normalise(m.group(1)))
        # dask[distributed]: the extra installs the distribution of the same name.
        declared.update(_normalise(e) for e in (m.group(2) or "").split(",") if e.strip())
    return declared


def test_every_imported_package_is_declared() -> None:
    dists = importlib.metadata.packages_distributions()
    declared = _declared()
    missing = {}
    for module, files in _top_level_imports(PACKAGE).items():
        names = {_normalise(d) for d in dists.get(module, [module])}
        if not names & declared:
            missing[module] = sorted(files)
    assert not missing, f"imported but not in [project].dependencies: {missing}"
