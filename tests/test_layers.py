"""The house's import rules (docs/design.md, "Layout"): each part imports only parts to its left, records is
the torch-free floor, Hydra stays at the entry points, and the report runs without torch."""
import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "alflow"
ORDER = ["data", "model", "explain", "strategies", "stopping", "loop", "analysis", "tracking", "report", "label"]
# Hydra only here (+ the bare package): the entry points, the composition root and its error vocabulary
ENTRY_POINTS = {"app", "label_app", "cli", "compose", "errors", "settings_check", "__main__", "sweep", "__init__"}


def imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def part_of(path: Path) -> str:
    rel = path.relative_to(PACKAGE)
    return rel.parts[0] if len(rel.parts) > 1 else rel.stem


def modules():
    return sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_each_part_imports_only_parts_to_its_left(path):
    part = part_of(path)
    used = {name.split(".")[1] for name in imports(path) if name.startswith("alflow.")}
    used |= {"records"} if "alflow" in imports(path) else set()  # "from alflow import records"
    if part in ENTRY_POINTS:
        return
    if part == "records":
        assert not used and not {n.split(".")[0] for n in imports(path)} & {"torch", "numpy", "mlflow"}
        return
    allowed = set(ORDER[:ORDER.index(part) + 1]) | {"records"}
    assert used <= allowed, f"{path.relative_to(PACKAGE)} imports {sorted(used - allowed)}, right of {part}"


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_module_below_the_entry_points_imports_hydra(path):
    if part_of(path) in ENTRY_POINTS:
        return
    assert not {n for n in imports(path) if n.split(".")[0] == "hydra"}, path


def test_tracking_and_report_import_nothing_from_the_loop():
    for part in ("tracking", "report"):
        for path in (PACKAGE / part).rglob("*.py"):
            assert not {n for n in imports(path) if n.startswith(("alflow.loop", "alflow.analysis"))}, path


def module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(parts)


def import_graph() -> dict[str, set[str]]:
    """alflow module -> the alflow modules it imports (anywhere in it, function bodies too); ``from alflow.x
    import y`` counts as importing ``alflow.x.y`` when that is a module, else ``alflow.x``."""
    names = {module_name(p) for p in modules()}
    graph = {}
    for path in modules():
        edges = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                edges.update(a.name for a in node.names if a.name in names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0 and node.module in names:
                subs = {f"{node.module}.{a.name}" for a in node.names} & names
                edges.update(subs or {node.module})
        graph[module_name(path)] = edges - {module_name(path)}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle of ``graph`` (a list of modules, the first repeated at the end), or None."""
    state: dict[str, int] = {}  # 1 on the current path, 2 done
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_find_cycle_finds_a_circle_and_only_one():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None


def test_no_module_imports_its_caller():
    """No import circle between two alflow modules that are not packages' ``__init__`` re-exports: the
    ``alflow`` command's dispatcher (alflow.cli) imports both entry points, neither imports the other."""
    graph = import_graph()
    packages = {module_name(p) for p in modules() if p.name == "__init__.py"}
    # a package's __init__ re-exports its modules, which import siblings through it: not a caller relation
    graph = {m: {e for e in edges if e not in packages} for m, edges in graph.items() if m not in packages}
    assert find_cycle(graph) is None, find_cycle(graph)
    assert "alflow.app" not in graph["alflow.label_app"] and "alflow.label_app" not in graph["alflow.app"]


def test_report_help_does_not_import_torch():
    probe = ("import runpy, sys\n"
             "sys.argv = ['alflow-report', '--help']\n"
             "try:\n    runpy.run_module('alflow.report', run_name='__main__', alter_sys=True)\n"
             "except SystemExit as exit:\n    assert not exit.code, exit.code\n"
             "loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'lightning', 'pytorch_lightning',"
             " 'hydra') or m.startswith('alflow.loop'))\n"
             "print('LOADED', loaded)\n")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=300,
                          cwd=PACKAGE.parent)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "--tracking-uri" in done.stdout
    assert "LOADED []" in done.stdout, done.stdout.splitlines()[-1]
