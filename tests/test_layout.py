"""The package's layout: imports go down the pipeline (data -> model -> inference -> insights ->
optimize -> report/CLI), never back up, and no module reaches into another's private names.

The import graph counts every import, at module level or inside a function. The only upward
imports allowed are the few methods of the classes users touch that start a later stage of the
pipeline (``MMM.fit``, ``Fit.review``, ...: :data:`SHELL_METHODS`); they import inside the
method, so nothing below depends on them at import time.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "mmmjax"

#: ``(module, class, method)`` allowed to import a later stage: the user-facing shell.
SHELL_METHODS = {
    ("mmmjax.model", "MMM", "fit"),
    ("mmmjax.model", "MMM", "sample_prior_predictive"),
    ("mmmjax.model.geo", "GeoMMM", "fit"),
    ("mmmjax.inference.fit", "Fit", "review"),
    ("mmmjax.inference.fit", "Fit", "refresh"),
    ("mmmjax.inference.geo_fit", "GeoFit", "review"),
    ("mmmjax.inference.geo_fit", "GeoFit", "refresh"),
}


def _modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


def _imports(name: str, path: Path, modules: dict[str, Path]):
    """``(target module, imported name, line)`` of every import in ``path``, skipping those
    inside :data:`SHELL_METHODS`."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    skip: set[int] = set()
    for cls in (n for n in tree.body if isinstance(n, ast.ClassDef)):
        for fn in cls.body:
            if isinstance(fn, ast.FunctionDef) and (name, cls.name, fn.name) in SHELL_METHODS:
                skip.update(id(n) for n in ast.walk(fn))
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("mmmjax"):
                    yield alias.name, None, node.lineno
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*up, base] if base else up)
            if not base.startswith("mmmjax"):
                continue
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                yield (sub, None, node.lineno) if sub in modules else (base, alias.name,
                                                                       node.lineno)  # fmt: skip


def _graph():
    modules = _modules()
    edges: dict[str, set[str]] = {m: set() for m in modules}
    private = []
    for name, path in modules.items():
        for target, what, line in _imports(name, path, modules):
            if target in modules and target != name:
                edges[name].add(target)
            if what and what.startswith("_") and not what.startswith("__") and target != name:
                private.append(f"{name}:{line} imports {target}.{what}")
    return edges, private


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(edges[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def test_no_import_cycles():
    edges, _ = _graph()
    assert _cycles(edges) == []


def test_no_module_imports_a_private_name_of_another():
    _, private = _graph()
    assert private == []


def test_shell_methods_exist():
    """Each allowed upward import names a method that exists (a rename must update the list)."""
    modules = _modules()
    for module, cls, method in SHELL_METHODS:
        tree = ast.parse(modules[module].read_text(encoding="utf-8"))
        classes = {n.name: n for n in tree.body if isinstance(n, ast.ClassDef)}
        assert cls in classes, (module, cls)
        assert method in {n.name for n in classes[cls].body if isinstance(n, ast.FunctionDef)}


@pytest.mark.parametrize(
    "edges, expected",
    [
        ({"a": {"b"}, "b": {"a"}, "c": set()}, [["a", "b"]]),
        ({"a": {"b"}, "b": {"c"}, "c": set()}, []),
        ({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}, [["a", "b", "c"]]),
    ],
)
def test_the_cycle_finder_finds_cycles(edges, expected):
    assert _cycles(edges) == expected
