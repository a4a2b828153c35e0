"""The house rules of the package layout, checked on the source (no import needed).

- imports never run up the data flow: study -> model -> planning -> present -> cli,
  and the optimiser (arrays in, decisions out) imports nothing of banks or maps;
- no module over ~800 lines and no function over ~80 lines, unless a ``# long:`` comment
  on the line above its ``def`` says why.
"""

from __future__ import annotations

import ast
from pathlib import Path

PKG = Path(__file__).resolve().parent.parent / "netplan"

BASE = {"_errors", "_types", "_io", "_paths"}
#: Which folders (or base modules) each folder may import from.
ALLOWED: dict[str, set[str]] = {
    "base": {"base"},
    "study": {"base", "study"},
    "model": {"base", "study", "model"},
    "optimize": {"base", "optimize"},
    "planning": {"base", "study", "model", "optimize", "planning"},
    "present": {"base", "study", "model", "optimize", "planning", "present"},
    "cli": {"base", "study", "model", "optimize", "planning", "present", "cli"},
}
MAX_MODULE_LINES = 800
MAX_FUNCTION_LINES = 80


def _room(parts: tuple[str, ...]) -> str | None:
    """The folder ("room") a module path ``netplan/<parts>`` belongs to; None for the top."""
    if len(parts) == 1:
        stem = parts[0].removesuffix(".py")
        return "base" if stem in BASE else None  # __init__, __main__: the top
    return parts[0]


def _imported_rooms(tree: ast.AST) -> list[tuple[int, str]]:
    out: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "netplan":
                names = [f"netplan.{a.name}" for a in node.names]
            else:
                names = [node.module]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        for name in names:
            parts = name.split(".")
            if parts[0] != "netplan" or len(parts) < 2 or parts[1] == "__version__":
                continue
            room = "base" if parts[1] in BASE else parts[1]
            if room in ALLOWED:
                out.append((node.lineno, room))
            else:  # an unknown top-level module
                out.append((node.lineno, "top"))
    return out


def _modules() -> list[Path]:
    return sorted(PKG.rglob("*.py"))


def test_no_import_runs_up_the_data_flow() -> None:
    bad = []
    for path in _modules():
        room = _room(path.relative_to(PKG).parts)
        if room is None:
            continue
        for line, target in _imported_rooms(ast.parse(path.read_text(encoding="utf-8"))):
            if target not in ALLOWED[room]:
                bad.append(f"{path.relative_to(PKG.parent)}:{line} ({room} imports {target})")
    assert not bad, "imports that run up the data flow:\n" + "\n".join(bad)


def test_every_module_is_in_a_known_room() -> None:
    rooms = {_room(p.relative_to(PKG).parts) for p in _modules()}
    assert rooms - {None} <= set(ALLOWED), rooms


def test_modules_and_functions_fit_on_a_few_screens() -> None:
    long_modules = []
    long_functions = []
    for path in _modules():
        text = path.read_text(encoding="utf-8")
        lines = text.splitlines()
        rel = path.relative_to(PKG.parent)
        if len(lines) > MAX_MODULE_LINES:
            long_modules.append(f"{rel} ({len(lines)} lines)")
        for node in ast.walk(ast.parse(text)):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            length = (node.end_lineno or node.lineno) - node.lineno + 1
            first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            excused = first >= 2 and lines[first - 2].strip().startswith("# long:")
            if length > MAX_FUNCTION_LINES and not excused:
                long_functions.append(f"{rel}:{node.lineno} {node.name} ({length} lines)")
    assert not long_modules, "modules over the limit: " + ", ".join(long_modules)
    assert not long_functions, "functions over the limit:\n" + "\n".join(long_functions)


def test_the_checker_sees_an_upward_import() -> None:
    tree = ast.parse("from netplan.present import maps\nimport netplan.planning.plan\n")
    assert [room for _, room in _imported_rooms(tree)] == ["present", "planning"]
    assert "present" not in ALLOWED["model"]
