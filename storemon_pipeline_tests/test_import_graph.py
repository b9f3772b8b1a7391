"""Imports point one way: no module of storemon_pipeline reaches itself again through its imports.

Two modules that import each other (once, core/inputs.py and core/plain_pings.py) can only
be read, tested and changed together, and one of them must hide its import inside a
function. The graph is read from the source with ast, every import counted wherever it
stands (in a function, under TYPE_CHECKING): a cycle is a design knot even where Python
happens to load it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import storemon_pipeline

PACKAGE_DIR = Path(storemon_pipeline.__file__).parent
PACKAGE = PACKAGE_DIR.name


def _module_files() -> dict[str, Path]:
    files = {}
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        files[".".join(parts)] = path
    return files


def import_graph() -> dict[str, set[str]]:
    """Module -> the modules of the package it imports (`from a import b` means a.b when that is a module)."""
    files = _module_files()
    graph: dict[str, set[str]] = {}
    for module, path in files.items():
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        imported: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
            if isinstance(node, ast.Import):
                imported |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(anchor + ([base] if base else []))
                imported |= {f"{base}.{a.name}" if f"{base}.{a.name}" in files else base for a in node.names}
        graph[module] = {name for name in imported if name in files and name != module}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of `graph` as [a, b, ..., a], or None."""
    state: dict[str, str] = {}  # "open" while on the path being walked, then "done"
    path: list[str] = []

    def walk(node: str) -> list[str] | None:
        state[node] = "open"
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (cycle := walk(nxt)):
                return cycle
        path.pop()
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state and (cycle := walk(node)):
            return cycle
    return None


def test_the_graph_is_read():
    graph = import_graph()
    assert f"{PACKAGE}.core.csv_general" in graph[f"{PACKAGE}.core.inputs"]
    assert f"{PACKAGE}.core.values" in graph[f"{PACKAGE}.core.clock"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_no_import_cycle_in_the_package():
    assert find_cycle(import_graph()) is None


def test_file_readers_stand_on_formats_and_values_only():
    """The two readers share their rules through core/formats.py and core/values.py, never each other or the dispatcher."""
    graph = import_graph()
    below = {f"{PACKAGE}.core.formats", f"{PACKAGE}.core.values"}
    for reader in ("csv_general", "csv_plain_pings"):
        assert graph[f"{PACKAGE}.core.{reader}"] <= below, reader
    assert graph[f"{PACKAGE}.core.formats"] == set()
    assert graph[f"{PACKAGE}.core.values"] == set()


def test_every_module_of_the_package_imports():
    """A name moved between modules leaves no import behind that only a rarely run path would hit."""
    import importlib
    import pkgutil

    import storemon_pipeline

    failures = {}
    for module in pkgutil.walk_packages(storemon_pipeline.__path__, "storemon_pipeline."):
        if module.name.endswith("__main__"):
            continue
        try:
            importlib.import_module(module.name)
        except Exception as error:  # noqa: BLE001 - each failure is reported by name
            failures[module.name] = repr(error)
    assert failures == {}
