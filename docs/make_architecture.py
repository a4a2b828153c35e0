"""Write docs/architecture.md: the folders, each module's and function's length, the imports.

Run from the repository: ``python docs/make_architecture.py``. The figures are counted
from the source, so the page is regenerated, never edited by hand.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PKG = ROOT / "netplan"
OUT = ROOT / "docs" / "architecture.md"

INTRO = """\
# How netplan is built

The package follows the data: a user's layers come in (`study/`), customers and outlets
are modelled (`model/`), the optimiser solves arrays (`optimize/`), the bank's decisions
are made and split across districts (`planning/`), and people see the result
(`present/`). `cli/` only parses, calls one library function and renders. An import
never runs up this flow; `tests/test_architecture.py` checks it, and the sizes below, on
every run.

- **Base** (`_errors.py`, `_types.py`, `_io.py`, `_paths.py`): the error tree, array
  types, the one atomic file/folder writer, and where the embedded data lives.
- **study/**: reading layers in any common format and coordinate system, validating them
  once at the boundary (every problem reported at once), ring zones and district labels,
  the summary of a study.
- **model/**: the scenario (frozen, validated TOML), demand (population to peak-hour
  arrivals), Erlang C queues and outlet capacity at the wait target, travel cost, the
  KPI definitions, queue logs, and synthetic studies of any size.
- **optimize/**: arrays in, decisions out. The facility problem, its sparse matrix, the
  HiGHS and PuLP back ends, the neighbourhood search, the Lagrangian bounds (of the
  assignment rows, `lagrange.py`; of a model split into blocks, `decompose.py`), the
  infeasibility diagnosis, and the classic problems (p-median with its radius model for
  small p, facility location, covering). It knows nothing of banks or maps.
- **planning/**: the action registry (`actions.py`, the one table of action types), the
  bank problem built from a study and a scenario, the diagnosis, the typed `Plan` and its
  KPI contract, the city limits split across districts and merged back (`city.py`) with a
  city-level bound (`city_bound.py`), and the run on Dask.
- **present/**: the terminal tables, the map and the report. They read a `Plan` and the
  action registry and recompute nothing; data enters a page only as escaped text or JSON.
"""


def _rel(p: Path) -> str:
    return str(p.relative_to(ROOT))


def _imports(tree: ast.AST) -> set[str]:
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            mods = ([f"{node.module}.{a.name}" for a in node.names] if node.module == "netplan"
                    else [node.module])
        elif isinstance(node, ast.Import):
            mods = [a.name for a in node.names]
        else:
            continue
        out.update(m for m in mods if m.startswith("netplan.") and m != "netplan.__version__")
    return out


def main() -> None:
    """Count and write the page."""
    rows, graph = [], defaultdict(set)
    modules = {
        ".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__"): p
        for p in sorted(PKG.rglob("*.py"))
    }
    for name, path in modules.items():
        text = path.read_text(encoding="utf-8")
        tree = ast.parse(text)
        funcs = [(n.end_lineno or n.lineno) - n.lineno + 1 for n in ast.walk(tree)
                 if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]
        longest = max(funcs, default=0)
        rows.append(f"| `{_rel(path)}` | {len(text.splitlines())} | {len(funcs)} | {longest} |")
        for imp in _imports(tree):
            target = next((m for m in sorted(modules, key=len, reverse=True)
                           if imp == m or imp.startswith(m + ".")), None)
            if target and target != name:
                graph[name].add(target)
    lines = [INTRO, "## Modules", "",
             "| module | lines | functions | longest function (lines) |", "|---|---:|---:|---:|",
             *rows, "", "## Imports (module -> the netplan modules it imports)", ""]
    lines += [f"- `{m}` -> {', '.join(f'`{t}`' for t in sorted(graph[m]))}"
              for m in sorted(graph)]
    OUT.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {_rel(OUT)}")


if __name__ == "__main__":
    main()
