"""The walls of the house, checked from the import graph (see docs/ARCHITECTURE.md).

- every module is under 400 lines;
- no import cycle between modules;
- rooms import only downwards: records < messages, signatures < sources < synth, correlation
  < results < outputs, scanning < nightly, authoring, dask < cli (the package root, the
  version and the deprecated re-exports stand outside the order).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "evtxscan"
MAX_LINES = 400

#: Rank of each room (first part below ``evtxscan.``); a room imports ranks at or below its
#: own, and within one rank only itself, unless the pair is in ``SIDEWAYS``.
RANKS: dict[str, int] = {
    "_version": 0,
    "data": 0,  # packaged data files (message catalogs, error tables)
    "memory": 0,  # freed memory given back between phases (any room may ask)
    "records": 1,
    "messages": 2,
    "signatures": 2,
    "sources": 3,
    "synth": 4,
    "correlation": 4,
    "results": 5,
    "outputs": 6,
    "scanning": 6,
    "nightly": 7,
    "authoring": 7,
    "dask": 7,
    "cli": 8,
    "__main__": 9,
    "reader": 9,  # deprecated re-export of sources.stream / scanning.api
    "testing": 9,  # deprecated re-export of synth
}
#: Same-rank imports that are allowed (importer room, imported room).
SIDEWAYS: set[tuple[str, str]] = {("signatures", "messages")}
#: The package root (``evtxscan/__init__.py``) is the public façade: it may import any room,
#: and nothing inside the package imports it.
ROOT = "evtxscan"


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in PACKAGE.rglob("*.py")}


def _imports(path: Path, modules: set[str]) -> Iterator[str]:
    """Modules of the package that ``path`` imports, run-time imports only (imports under
    ``if TYPE_CHECKING:`` are annotations, not dependencies). ``from a import b`` imports
    the module ``a.b`` where there is one, else the module ``a``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped.update(id(n) for child in node.body for n in ast.walk(child))
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == ROOT or node.module.startswith(ROOT + "."):
                for alias in node.names:
                    submodule = f"{node.module}.{alias.name}"
                    yield submodule if submodule in modules else node.module
        elif isinstance(node, ast.Import):
            yield from (a.name for a in node.names if a.name.startswith(ROOT))


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        targets = set()
        for target in _imports(path, set(modules)):
            targets.add(target if target in modules else target.rsplit(".", 1)[0])
        graph[name] = targets & set(modules)
    return graph


def _room(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ROOT


def test_modules_are_under_the_line_limit() -> None:
    long = {
        name: n
        for name, path in _modules().items()
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert not long, f"modules over {MAX_LINES} lines: {long}"


def test_no_import_cycles() -> None:
    graph = _graph()
    state: dict[str, int] = {}  # 1 visiting, 2 done
    cycles: list[list[str]] = []

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                cycles.append([*trail[trail.index(target) :], target])
            elif target not in state:
                visit(target, [*trail, target])
        state[node] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)


def test_every_room_has_a_rank() -> None:
    rooms = {_room(m) for m in _modules()} - {ROOT}
    assert rooms <= set(RANKS), f"rooms without a rank: {sorted(rooms - set(RANKS))}"


def test_rooms_import_only_downwards() -> None:
    wrong = []
    for module, targets in sorted(_graph().items()):
        room = _room(module)
        if room == ROOT:
            continue
        for target in sorted(targets):
            other = _room(target)
            if other == room:
                continue
            if other == ROOT:
                wrong.append(f"{module} imports the package façade ({target})")
                continue
            up = RANKS.get(other, 99) > RANKS.get(room, 99)
            sideways = RANKS.get(other) == RANKS.get(room) and (room, other) not in SIDEWAYS
            if up or sideways:
                wrong.append(f"{module} ({room}) -> {target} ({other})")
    assert not wrong, "imports against the layer order:\n" + "\n".join(wrong)


@pytest.mark.parametrize("room", ["sources"])
def test_sources_import_only_records_and_messages(room: str) -> None:
    allowed = {"records", "messages", "sources", "_version"}
    bad = [
        f"{m} -> {t}"
        for m, targets in _graph().items()
        if _room(m) == room
        for t in targets
        if _room(t) not in allowed
    ]
    assert not bad, bad
