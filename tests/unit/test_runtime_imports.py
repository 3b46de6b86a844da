"""The runtime's modules import one another without a cycle: every import statement counts,
inside functions and under TYPE_CHECKING too."""

from __future__ import annotations

import ast
import re

from helpers import TEMPLATE_PROJECT

PACKAGE = TEMPLATE_PROJECT / "backend"


def module_name(path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path) -> set[str]:
    """The runtime modules a file imports, anywhere in it."""
    here = module_name(path).split(".")
    package = here if path.name == "__init__.py" else here[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = package[: len(package) - node.level + 1]
            target = ".".join(base + ([node.module] if node.module else []))
            names = [f"{target}.{alias.name}" for alias in node.names]
            found |= {name for name in names if name in MODULES} or {target}
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.startswith("backend")}
    return {name for name in found if name in MODULES and name != module_name(path)}


MODULES = {module_name(p) for p in PACKAGE.rglob("*.py")}


def test_no_import_cycle():
    graph = {module_name(p): imports(p) for p in PACKAGE.rglob("*.py")}
    # a package's __init__ imports its submodules; importing the package means its __init__
    cycles, state = [], {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = "open"
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                cycles.append(path[path.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = "done"

    for start in sorted(graph):
        if start not in state:
            visit(start, [start])
    assert cycles == []
    assert "backend.trainer" in graph["backend.tasks"]  # the walk sees real edges


def test_only_settings_reads_the_environment():
    """(__main__ only sets the BLAS thread defaults, before numpy loads.)"""
    reads = re.compile(r"os\.environ(?!\.setdefault)|os\.getenv")  # settings takes the environ as a parameter
    readers = {module_name(p) for p in PACKAGE.rglob("*.py") if reads.search(p.read_text())}
    assert readers == {"backend.settings"}
