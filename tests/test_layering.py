"""The import direction of the house, checked on the source (ast, nothing imported).

Layers, lowest first; a module may import its own layer and the layers below it, never above:

1. **translation core** — ``recorder.{ir,sse,errors,context}``, ``recorder.wire``,
   ``recorder.codecs``: nothing but the standard library and pydantic;
2. **library** — the rest of ``recorder`` (translation entry point, the registry, exchanges,
   routing, ...);
3. **store** — ``recorder.store``;
4. **readers of recordings** — ``recorder.{show,observe,report}``;
5. **replay** — ``replay``;
6. **front ends** — ``cli`` and ``addons``, which never import each other;
7. **tools** — ``fakes``, ``bench``, ``scripts``;
8. **tests**.

Nothing outside ``tests`` imports ``tests``, and no import cycle exists between modules
(imports under ``if TYPE_CHECKING:`` do not run, so they do not count as cycles).
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("recorder", "replay", "addons", "cli", "fakes", "bench", "scripts", "tests")
SKIP_DIRS = {".venv-litellm", "node_modules", "__snapshots__"}

CORE = ("recorder.ir", "recorder.sse", "recorder.errors", "recorder.context")
CORE += ("recorder.wire", "recorder.codecs")
# (layer, prefixes), lowest first; the longest matching prefix decides a module's layer.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("translation core", CORE),
    ("library", ("recorder",)),
    ("store", ("recorder.store",)),
    ("readers", ("recorder.show", "recorder.observe", "recorder.report")),
    ("replay", ("replay",)),
    ("front end: cli", ("cli",)),
    ("front end: addons", ("addons",)),
    ("tools", ("fakes", "bench", "scripts")),
    ("tests", ("tests",)),
]
# Layers that are peers: same rank, and neither may import the other.
RANK = {name: i for i, (name, _) in enumerate(LAYERS)}
RANK["front end: addons"] = RANK["front end: cli"]
CORE_THIRD_PARTY = {"pydantic", "pydantic_core"}


@dataclass(slots=True)
class Module:
    name: str
    path: Path
    imports: set[str] = field(default_factory=set)  # every import (internal: resolved module)
    runtime: set[str] = field(default_factory=set)  # internal imports that run (for cycles)
    external: set[str] = field(default_factory=set)  # top-level names of other imports


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _sources() -> dict[str, Path]:
    out: dict[str, Path] = {}
    for pkg in PACKAGES:
        for path in (REPO / pkg).rglob("*.py"):
            if not SKIP_DIRS.intersection(path.relative_to(REPO).parts):
                out[_module_name(path)] = path
    return out


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _walk(
    node: ast.AST, guarded: bool = False
) -> Iterator[tuple[ast.Import | ast.ImportFrom, bool]]:
    """(import node, under ``if TYPE_CHECKING``) for every import in ``node``."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.Import | ast.ImportFrom):
            yield child, guarded
        elif isinstance(child, ast.If) and _is_type_checking(child.test):
            for stmt in child.body:
                yield from _walk(ast.Module([stmt], []), True)
            for stmt in child.orelse:
                yield from _walk(ast.Module([stmt], []), guarded)
        else:
            yield from _walk(child, guarded)


def _resolve(name: str, known: set[str]) -> str | None:
    """The innermost known module ``name`` is in (``a.b.func`` -> ``a.b``)."""
    while name:
        if name in known:
            return name
        name = name.rpartition(".")[0]
    return None


def _parse(name: str, path: Path, known: set[str]) -> Module:
    mod = Module(name, path)
    is_pkg = path.name == "__init__.py"
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    for node, guarded in _walk(tree):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        else:
            base = node.module or ""
            if node.level:
                anchor = name.split(".")
                anchor = anchor[: len(anchor) - node.level + (1 if is_pkg else 0)]
                base = ".".join(anchor + ([base] if base else []))
            # ``from pkg import sub`` imports the submodule when there is one
            targets = [f"{base}.{a.name}" for a in node.names] or [base]
        for target in targets:
            top = target.partition(".")[0]
            if top not in PACKAGES:
                mod.external.add(top)
                continue
            resolved = _resolve(target, known)
            if resolved is None or resolved == name:
                continue
            mod.imports.add(resolved)
            if not guarded:
                mod.runtime.add(resolved)
    return mod


@pytest.fixture(scope="module")
def modules() -> dict[str, Module]:
    sources = _sources()
    known = set(sources)
    return {name: _parse(name, path, known) for name, path in sources.items()}


def layer_of(module: str) -> str:
    best, length = "", -1
    for name, prefixes in LAYERS:
        for p in prefixes:
            if (module == p or module.startswith(p + ".")) and len(p) > length:
                best, length = name, len(p)
    return best


def test_every_module_has_a_layer(modules: dict[str, Module]) -> None:
    assert all(layer_of(m) for m in modules)
    assert layer_of("recorder.codecs.anthropic") == "translation core"
    assert layer_of("recorder.translate") == "library"
    assert layer_of("recorder.store.writer") == "store"


def test_imports_point_down(modules: dict[str, Module]) -> None:
    wrong = []
    for mod in modules.values():
        here = layer_of(mod.name)
        for target in sorted(mod.imports):
            there = layer_of(target)
            if there != here and RANK[there] >= RANK[here]:
                wrong.append(f"{mod.name} ({here}) imports {target} ({there})")
    assert wrong == []


def test_the_translation_core_needs_only_pydantic(modules: dict[str, Module]) -> None:
    allowed = CORE_THIRD_PARTY | set(sys.stdlib_module_names) | {"__future__"}
    wrong = [
        f"{m.name} imports {name}"
        for m in modules.values()
        if layer_of(m.name) == "translation core"
        for name in sorted(m.external - allowed)
    ]
    assert wrong == []


def test_nothing_outside_tests_imports_tests(modules: dict[str, Module]) -> None:
    wrong = [
        f"{m.name} imports {t}"
        for m in modules.values()
        if not m.name.startswith("tests")
        for t in sorted(m.imports)
        if t == "tests" or t.startswith("tests.")
    ]
    assert wrong == []


def test_no_import_cycles(modules: dict[str, Module]) -> None:
    graph = {name: sorted(m.runtime) for name, m in modules.items()}
    assert _cycles(graph) == []


def _cycles(graph: dict[str, list[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in graph:
        if root in index:
            continue
        work = [(root, 0)]
        while work:
            node, i = work.pop()
            if i == 0:
                index[node] = low[node] = len(index)
                stack.append(node)
                on_stack.add(node)
            edges = graph.get(node, [])
            if i < len(edges):
                work.append((node, i + 1))
                nxt = edges[i]
                if nxt not in index:
                    work.append((nxt, 0))
                elif nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
                continue
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    top = stack.pop()
                    on_stack.discard(top)
                    component.append(top)
                    if top == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_the_cycle_finder_finds_cycles() -> None:
    graph = {"a": ["b"], "b": ["c"], "c": ["a"], "d": ["a"], "e": ["e"]}
    assert _cycles(graph) == [["a", "b", "c"]]
