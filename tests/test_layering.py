"""The package's layering contract, read from the source with ``ast``: no import cycles,
nothing imports upward, config stands alone, only backends touch Dask, and small modules."""

from __future__ import annotations

import ast
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cache
from itertools import pairwise
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
ROOTS = ("evo", "envs")

# The layers of DESIGN.md ("Shape"), top first; a module may import its own layer and the
# layers below it, never one above. Each entry is a module-name prefix: it matches the module
# of that name and every module under it, and the longest matching prefix decides. The bare
# name "evo" (the public API, evo/__init__.py) matches that file alone, so that a new module
# is never placed by accident: a module no prefix matches fails until it is given a layer.
LAYERS: list[list[str]] = [
    ["evo", "evo.__main__", "evo.cli"],
    ["evo.analysis", "evo.sweep", "evo.bench", "evo.serve", "evo.lineage", "evo.loggers"],
    ["evo.experiment", "evo.search", "evo.loop", "evo.session", "evo.checkpoints"],
    ["evo.methods"],
    ["evo.strategies", "evo.problems", "evo.backends"],
    [
        "evo.config",
        "evo.policies",
        "evo.population",
        "evo.datasets",
        "evo.optim",
        "evo.callbacks",
        "evo.reporting",
        "evo.runlog",
        "evo.runformat",
        "evo.files",
        "evo.records",
    ],
    [
        "evo.seeding",
        "evo.noise",
        "evo.noise_sums",
        "evo.errors",
        "evo.messages",
        "evo.interrupts",
        "evo.kernels",
        "evo.forward",
        "evo.numba_setup",
    ],
    ["envs"],  # the project's own gymnasium envs: nothing of evo
]
FACADE = "evo"

# evo.config is read by everything, so it may lean on nothing but these (and itself).
CONFIG = "evo.config"
CONFIG_MAY_IMPORT = ("evo.config", "evo.errors", "evo.messages")

# Dask is confined to one package: the one owner of Client and LocalCluster.
DASK_PACKAGES = ("dask", "distributed")
DASK_OWNER = "evo.backends"

MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 80


@dataclass(frozen=True)
class Import:
    """One import statement's edge: who imports what, and where it is written."""

    source: str
    target: str  # a project module, or the top-level name of an outside package
    internal: bool
    file: str
    line: int

    def where(self) -> str:
        """``file:line`` of the statement."""
        return f"{self.file}:{self.line}"


@dataclass(frozen=True)
class Project:
    """The parsed source: module name -> file, syntax tree, line count; and every import."""

    files: dict[str, str]
    trees: dict[str, ast.Module]
    lines: dict[str, int]
    imports: list[Import]

    def graph(self) -> dict[str, dict[str, Import]]:
        """Module -> imported project module -> the first statement that imports it."""
        graph: dict[str, dict[str, Import]] = {name: {} for name in self.files}
        for edge in self.imports:
            if edge.internal and edge.target != edge.source:
                graph[edge.source].setdefault(edge.target, edge)
        return graph


def module_name(relative: Path) -> str:
    """``evo/config/__init__.py`` -> ``evo.config``; ``evo/loop.py`` -> ``evo.loop``."""
    parts = list(relative.with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def scan(root: Path, packages: Iterable[str] = ROOTS) -> Project:
    """Parse every ``.py`` under ``root/<package>`` and resolve its imports."""
    files: dict[str, str] = {}
    trees: dict[str, ast.Module] = {}
    lines: dict[str, int] = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            relative = path.relative_to(root)
            name = module_name(relative)
            text = path.read_text(encoding="utf-8")
            files[name] = relative.as_posix()
            trees[name] = ast.parse(text, filename=str(relative))
            lines[name] = len(text.splitlines())
    imports = [
        edge
        for name, tree in trees.items()
        for edge in imports_of(name, files[name], tree, set(files))
    ]
    return Project(files, trees, lines, imports)


@cache
def project() -> Project:
    """The repository's own ``evo`` and ``envs``, parsed once per session."""
    return scan(REPO)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def runtime_nodes(nodes: Iterable[ast.AST]) -> Iterator[ast.AST]:
    """Every node below ``nodes`` at any depth, except the bodies of ``if TYPE_CHECKING:``."""
    for node in nodes:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            yield from runtime_nodes(node.orelse)
            continue
        yield node
        yield from runtime_nodes(ast.iter_child_nodes(node))


def _known(dotted: str, modules: set[str]) -> str | None:
    """The longest prefix of ``dotted`` that is a project module."""
    parts = dotted.split(".")
    for end in range(len(parts), 0, -1):
        candidate = ".".join(parts[:end])
        if candidate in modules:
            return candidate
    return None


def _base(name: str, file: str, level: int) -> str | None:
    """The package a relative import of ``level`` dots in module ``name`` starts from."""
    package = name.split(".") if file.endswith("__init__.py") else name.split(".")[:-1]
    if level > len(package):
        return None
    return ".".join(package[: len(package) - (level - 1)])


def _targets(node: ast.AST, name: str, file: str, modules: set[str]) -> Iterator[str]:
    """The dotted names an import node (or ``import_module("...")`` call) brings in."""
    if isinstance(node, ast.Import):
        yield from (alias.name for alias in node.names)
    elif isinstance(node, ast.ImportFrom):
        base = node.module or ""
        if node.level:
            package = _base(name, file, node.level)
            if package is None:
                return
            base = f"{package}.{base}" if base else package
        for alias in node.names:
            submodule = f"{base}.{alias.name}"
            yield submodule if alias.name != "*" and submodule in modules else base
    elif isinstance(node, ast.Call) and node.args:
        function = node.func
        called = function.attr if isinstance(function, ast.Attribute) else None
        called = function.id if isinstance(function, ast.Name) else called
        first = node.args[0]
        if (
            called in ("import_module", "__import__")
            and isinstance(first, ast.Constant)
            and isinstance(first.value, str)
            and not first.value.startswith(".")
        ):
            yield first.value


def imports_of(name: str, file: str, tree: ast.Module, modules: set[str]) -> list[Import]:
    """Every runtime import in one module, module-level and inside functions alike."""
    edges: dict[tuple[str, int], Import] = {}  # one edge per target and line
    for node in runtime_nodes(tree.body):
        for dotted in _targets(node, name, file, modules):
            target = _known(dotted, modules)
            internal = target is not None
            edge = Import(name, target or dotted.split(".")[0], internal, file, node.lineno)
            edges.setdefault((edge.target, edge.line), edge)
    return list(edges.values())


def strongly_connected(graph: dict[str, Iterable[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components (iterative), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(node: str) -> Iterator[str]:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        return iter(sorted(graph.get(node, ())))

    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, visit(root))]
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    work.append((child, visit(child)))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    component = []
                    while not component or component[-1] != node:
                        component.append(stack.pop())
                        on_stack.discard(component[-1])
                    components.append(sorted(component))
    return components


def shortest_cycle(start: str, graph: dict[str, Iterable[str]], within: set[str]) -> list[str]:
    """The shortest chain ``start -> ... -> start`` through ``within`` (breadth first)."""
    previous: dict[str, str] = {}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for child in sorted(graph.get(node, ())):
            if child == start:
                chain = [node]
                while chain[-1] != start:
                    chain.append(previous[chain[-1]])
                return [*reversed(chain), start]
            if child in within and child not in previous:
                previous[child] = node
                queue.append(child)
    return []


def cycles(graph: dict[str, dict[str, Import]]) -> list[str]:
    """One line per group of modules importing each other: its shortest cycle as a chain."""
    found = []
    for component in strongly_connected(graph):
        if len(component) < 2:
            continue
        chain = shortest_cycle(component[0], graph, set(component))
        where = ", ".join(graph[a][b].where() for a, b in pairwise(chain))
        group = ""
        if len(component) > len(chain) - 1:
            group = f"; {len(component)} modules in one loop: {', '.join(component)}"
        found.append(f"{' -> '.join(chain)}  ({where}{group})")
    return found


def layer_of(module: str) -> int | None:
    """The index in LAYERS (0 = top) of the longest prefix matching ``module``."""
    best, best_length = None, -1
    for depth, layer in enumerate(LAYERS):
        for prefix in layer:
            below = prefix != FACADE and module.startswith(prefix + ".")
            if (module == prefix or below) and len(prefix) > best_length:
                best, best_length = depth, len(prefix)
    return best


def _legend() -> str:
    return "layers, top first: " + "; ".join(
        f"{depth} {' '.join(p.removeprefix('evo.') for p in layer)}"
        for depth, layer in enumerate(LAYERS)
    )


def check(title: str, violations: list[str], note: str = "") -> None:
    """Fail with every violation on a line of its own (no traceback, nothing truncated)."""
    if violations:
        lines = [f"{len(violations)} {title}:", *(f"  {v}" for v in violations)]
        pytest.fail("\n".join([*lines, note] if note else lines), pytrace=False)


def under(module: str, prefixes: Iterable[str]) -> bool:
    """``module`` is one of ``prefixes`` or inside one of them."""
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def functions(tree: ast.Module, module: str) -> Iterator[tuple[str, ast.AST]]:
    """Every function and method at any depth, with its qualified name."""

    def walk(node: ast.AST, prefix: str) -> Iterator[tuple[str, ast.AST]]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                yield f"{prefix}.{child.name}", child
                yield from walk(child, f"{prefix}.{child.name}.<locals>")
            elif isinstance(child, ast.ClassDef):
                yield from walk(child, f"{prefix}.{child.name}")
            else:
                yield from walk(child, prefix)

    yield from walk(tree, module)


# --- the contract, on this repository ---------------------------------------------------------


def test_the_scan_sees_the_package() -> None:
    """Guards the tests below against passing on nothing: the known modules and edges are seen."""
    found = project()
    assert {"evo.errors", "evo.cli", "envs"} <= set(found.files)
    assert len(found.files) >= 30
    assert any(edge.internal for edge in found.imports)
    assert any(edge.target == "numpy" for edge in found.imports)


def test_no_import_cycles() -> None:
    """No chain of imports, at module level or inside functions, leads back to where it began."""
    found = cycles(project().graph())
    check("import cycles (each a shortest chain; break one link)", found)


def test_layers_are_disjoint() -> None:
    """A prefix names one layer only."""
    prefixes = [prefix for layer in LAYERS for prefix in layer]
    repeated = sorted({p for p in prefixes if prefixes.count(p) > 1})
    assert not repeated, f"prefixes in more than one layer of LAYERS: {', '.join(repeated)}"


def test_every_module_has_a_layer() -> None:
    """A module no prefix of LAYERS matches has no place in the architecture yet."""
    found = project()
    missing = [
        f"{found.files[name]}: {name} is in no layer (add it to a layer of LAYERS)"
        for name in sorted(found.files)
        if layer_of(name) is None
    ]
    check("modules in no layer", missing)


def test_nothing_imports_upward() -> None:
    """A module imports its own layer or those below it (layers of DESIGN.md, top to bottom)."""
    violations = []
    for edge in project().imports:
        if not edge.internal:
            continue
        source, target = layer_of(edge.source), layer_of(edge.target)
        if source is not None and target is not None and target < source:
            violations.append(
                f"{edge.where()}: {edge.source} (layer {source}) imports "
                f"{edge.target} (layer {target}), a layer above it"
            )
    check("upward imports", violations, _legend())


def test_config_imports_only_errors_and_messages() -> None:
    """evo.config (and everything under it) leans on nothing of evo but errors and messages."""
    violations = [
        f"{edge.where()}: {edge.source} imports {edge.target} "
        f"(evo.config may import only {', '.join(CONFIG_MAY_IMPORT)})"
        for edge in project().imports
        if edge.internal
        and under(edge.source, [CONFIG])
        and under(edge.target, ["evo"])
        and not under(edge.target, CONFIG_MAY_IMPORT)
    ]
    check("imports out of evo.config", violations)


def test_only_backends_touch_dask() -> None:
    """``dask`` and ``distributed`` are imported under evo.backends and nowhere else."""
    violations = [
        f"{edge.where()}: {edge.source} imports {edge.target} (only {DASK_OWNER} may)"
        for edge in project().imports
        if not edge.internal
        and edge.target in DASK_PACKAGES
        and not under(edge.source, [DASK_OWNER])
    ]
    check("Dask imports outside the backends", violations)


def test_modules_are_small() -> None:
    """No module over MAX_MODULE_LINES lines: one concept a module."""
    found = project()
    violations = [
        f"{found.files[name]}: {name} is {count} lines (at most {MAX_MODULE_LINES})"
        for name, count in sorted(found.lines.items(), key=lambda item: -item[1])
        if count > MAX_MODULE_LINES
    ]
    check("modules too long", violations)


def test_functions_are_short() -> None:
    """No function or method over MAX_FUNCTION_LINES lines, docstring included."""
    found = project()
    violations = []
    for name, tree in found.trees.items():
        for qualified, node in functions(tree, name):
            length = node.end_lineno - node.lineno + 1
            if length > MAX_FUNCTION_LINES:
                violations.append(
                    f"{found.files[name]}:{node.lineno}: {qualified} is {length} lines "
                    f"(at most {MAX_FUNCTION_LINES})"
                )
    check("functions too long", violations)


# --- the reader itself, on a small made-up package ---------------------------------------------


@pytest.fixture
def toy(tmp_path: Path) -> Project:
    """A package exercising every import form the contract reads."""
    files = {
        "evo/__init__.py": "from evo.a import run\n",
        "evo/a.py": (
            "from __future__ import annotations\n"
            "from typing import TYPE_CHECKING\n"
            "import numpy as np\n"
            "from . import b\n"
            "from .pkg import inner\n"
            "if TYPE_CHECKING:\n"
            "    from evo import c\n"
            "else:\n"
            "    import dask.array\n"
            "def run():\n"
            "    from evo.pkg import thing\n"
            "    return importlib.import_module('distributed')\n"
        ),
        "evo/b.py": "import evo.pkg.inner\n",
        "evo/c.py": "",
        "evo/pkg/__init__.py": "from .. import c\nthing = 1\n",
        "evo/pkg/inner.py": "from ..a import run\nfrom . import thing\n",
    }
    for relative, text in files.items():
        path = tmp_path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return scan(tmp_path, ["evo"])


def test_imports_are_resolved_to_modules(toy: Project) -> None:
    """Relative, submodule, package and function-level imports; TYPE_CHECKING left out."""
    edges = {(e.source, e.target, e.line) for e in toy.imports if e.internal}
    assert edges == {
        ("evo", "evo.a", 1),
        ("evo.a", "evo.b", 4),
        ("evo.a", "evo.pkg.inner", 5),
        ("evo.a", "evo.pkg", 11),
        ("evo.b", "evo.pkg.inner", 1),
        ("evo.pkg", "evo.c", 1),
        ("evo.pkg.inner", "evo.a", 1),
        ("evo.pkg.inner", "evo.pkg", 2),
    }
    outside = {(e.source, e.target) for e in toy.imports if not e.internal}
    assert outside == {
        ("evo.a", "__future__"),
        ("evo.a", "typing"),
        ("evo.a", "numpy"),
        ("evo.a", "dask"),
        ("evo.a", "distributed"),
    }


def test_cycles_are_found_and_printed_as_chains(toy: Project) -> None:
    """evo.a -> evo.pkg.inner -> evo.a is a cycle; the longer loop through evo.b joins its group."""
    found = cycles(toy.graph())
    assert len(found) == 1
    assert found[0].startswith("evo.a -> evo.pkg.inner -> evo.a  (evo/a.py:5, evo/pkg/inner.py:1")
    assert "3 modules in one loop: evo.a, evo.b, evo.pkg.inner" in found[0]
    assert strongly_connected({"x": ["y"], "y": ["z"], "z": []}) == [["z"], ["y"], ["x"]]


def test_layer_of_takes_the_longest_prefix() -> None:
    """Prefixes match whole dotted names; the bare facade name matches only itself."""
    assert layer_of("evo.cli") == 0
    assert layer_of("evo") == 0
    assert layer_of("evo.config.schema") == layer_of("evo.config")
    assert layer_of("evo.configuration") is None
    assert layer_of("evo.something_new") is None
    assert layer_of("envs.racetrack.sim") == len(LAYERS) - 1
