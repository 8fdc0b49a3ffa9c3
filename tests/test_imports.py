"""Data flows one way through jaxdl: no import cycle between its modules, and no
function-local import of jaxdl's own modules (which is how a cycle hides). Read from the
source with ``ast``, so a cycle that only a rarely taken path would run is found too.
Optional third-party packages may still be imported inside functions."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "jaxdl"

def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def imports(module: str) -> list[tuple[str, bool, int]]:
    """``(imported jaxdl module, inside a function, line)`` for every import statement
    of ``module`` that runs (``if TYPE_CHECKING:`` blocks do not). ``from pkg import
    name`` imports the module ``pkg.name`` when there is one, else ``pkg`` itself."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: list[tuple[str, bool, int]] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                for sub in child.orelse:
                    visit(sub, in_function)
                continue
            local = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            if isinstance(child, ast.Import):
                found.extend((a.name, in_function, child.lineno) for a in child.names if a.name in MODULES)
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:  # relative: from the package, up level - 1 packages
                    anchor = package.rsplit(".", child.level - 1)[0] if child.level > 1 else package
                    base = f"{anchor}.{base}" if base else anchor
                for a in child.names:
                    target = f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base
                    if target in MODULES:
                        found.append((target, in_function, child.lineno))
            visit(child, local)

    visit(ast.parse(path.read_text()), False)
    return found


def import_graph() -> dict[str, set[str]]:
    """Each jaxdl module -> the jaxdl modules it imports (the root package ``jaxdl``, which
    imports nothing, and a module itself are left out)."""
    return {m: {t for t, _, _ in imports(m) if t not in ("jaxdl", m)} for m in MODULES}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    out: list[list[str]] = []

    def connect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph[v]):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            connect(v)
    return out


def test_the_analysis_finds_cycles_and_function_local_imports():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []
    assert ("jaxdl.data.errors", False, imports("jaxdl.data.image_folder")[0][2]) in imports("jaxdl.data.image_folder")
    assert "jaxdl.data.datasets" in import_graph()["jaxdl.data.export"]


def _in_port(component: list[str]) -> bool:
    return all(m == "jaxdl.port" or m.startswith("jaxdl.port.") for m in component)


def test_no_import_cycle_inside_jaxdl():
    assert [c for c in cycles(import_graph()) if not _in_port(c)] == []


def test_no_import_cycle_inside_jaxdl_port():
    assert [c for c in cycles(import_graph()) if _in_port(c)] == []


@pytest.mark.parametrize("module", MODULES)
def test_no_function_local_import_of_jaxdl(module):
    local = [f"line {line}: {target}" for target, in_function, line in imports(module) if in_function]
    assert local == [], f"{module} imports jaxdl modules inside functions; import them at the top"
