"""Structure guards (issue 15): no module imports another module's private names, and no import cycle.

Both read the package's source as AST (nothing is imported), so they hold for code paths no test
runs. Every import counts, including those inside functions: a function-level import that closes a
cycle only hides it. Imports under ``if TYPE_CHECKING:`` are left out: they never execute, so they
cannot take part in a run-time cycle (they exist for annotations only).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "squeeze_lab"
FOLDERS = ("feeds", "strategies", "analyzers", "pipeline", "tearsheet")


def _package_files() -> dict[str, Path]:
    """Module name -> source file for every module of the package (the root is ``squeeze_lab``)."""
    files = {PACKAGE: ROOT / "__init__.py", f"{PACKAGE}.run_backtest": ROOT / "run_backtest.py",
             f"{PACKAGE}.__main__": ROOT / "__main__.py"}
    for folder in FOLDERS:
        for path in sorted((ROOT / folder).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            files[".".join((PACKAGE, *parts))] = path
    return files


MODULES = _package_files()


def _is_package(module: str) -> bool:
    return MODULES[module].name == "__init__.py"


def _resolve(module: str, node: ast.ImportFrom) -> str:
    """The absolute module a ``from ... import`` names, seen from ``module``."""
    if not node.level:
        return node.module or ""
    base = module.split(".")
    if not _is_package(module):
        base = base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    """ids of the import nodes under ``if TYPE_CHECKING:`` (never executed)."""
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.body:
                skipped.update(id(n) for n in ast.walk(child))
    return skipped


class _ModuleImports:
    """What one module imports from the package: target modules, private names, private attributes."""

    def __init__(self, module: str):
        self.module = module
        tree = ast.parse(MODULES[module].read_text(), filename=str(MODULES[module]))
        skipped = _type_checking_nodes(tree)
        self.targets: set[str] = set()
        self.private: list[tuple[int, str]] = []  # (line, module.name)
        aliases: dict[str, str] = {}  # local name -> package module it is bound to
        for node in ast.walk(tree):
            if id(node) in skipped:
                continue
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name in MODULES:
                        self.targets.add(alias.name)
                        if alias.asname:
                            aliases[alias.asname] = alias.name
            elif isinstance(node, ast.ImportFrom):
                source = _resolve(module, node)
                if source not in MODULES:
                    continue
                for alias in node.names:
                    submodule = f"{source}.{alias.name}"
                    if submodule in MODULES:  # ``from . import x``: the module x, not a name
                        self.targets.add(submodule)
                        aliases[alias.asname or alias.name] = submodule
                        continue
                    self.targets.add(source)
                    if _private(alias.name) and source != module:
                        self.private.append((node.lineno, f"{source}.{alias.name}"))
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                    and node.value.id in aliases and _private(node.attr)):
                self.private.append((node.lineno, f"{aliases[node.value.id]}.{node.attr}"))
        self.targets.discard(module)


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


@pytest.fixture(scope="module")
def imports() -> dict[str, _ModuleImports]:
    return {module: _ModuleImports(module) for module in MODULES}


def test_the_scan_sees_the_package(imports):
    """Guard the guard: the scan finds the modules and the edges we know exist."""
    assert len(MODULES) > 40
    assert f"{PACKAGE}.strategies.execution" in imports[f"{PACKAGE}.strategies.twin"].targets
    assert f"{PACKAGE}.pipeline.sweep" in MODULES


def test_no_module_imports_another_modules_private_names(imports):
    offenders = sorted(f"{MODULES[m].relative_to(ROOT)} line {line}: {name}"
                       for m, found in imports.items() for line, name in found.private)
    assert not offenders, "private names used across modules:\n" + "\n".join(offenders)


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def _parents(module: str) -> list[str]:
    parts = module.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def _graph(imports: dict[str, _ModuleImports]) -> dict[str, set[str]]:
    """module -> modules it imports; importing ``a.b.c`` runs ``a.b``'s ``__init__`` too, except
    for the importer's own parents (already being imported when it runs)."""
    graph: dict[str, set[str]] = {}
    for module, found in imports.items():
        own = set(_parents(module))
        edges = set(found.targets)
        for target in found.targets:
            edges.update(p for p in _parents(target) if p not in own)
        graph[module] = {e for e in edges if e in MODULES and e != module}
    return graph


def test_cycle_finder_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle_between_modules(imports):
    cycles = _cycles(_graph(imports))
    assert not cycles, "import cycles:\n" + "\n".join(" <-> ".join(c) for c in cycles)
