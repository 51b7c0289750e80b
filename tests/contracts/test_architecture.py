"""The package's house rules (ARCHITECTURE.md), checked on the source.

Every import counts: module level, under ``TYPE_CHECKING`` and inside functions.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "gladia_async"

# Lower layers first; a module may import only from its own layer group or below.
LAYERS: list[set[str]] = [
    {"_version", "_core"},
    {"_schema"},
    {"_http"},
    {"_api"},
    {"_batch", "_live", "_callbacks"},  # the wings: never each other
    {"_session"},
    {"__init__", "models", "live"},  # the public faces
    {"_cli", "__main__"},
]
WINGS = {"_batch", "_live", "_callbacks"}
# Function-level imports allowed: optional dependencies, and capabilities the CLI and the
# package face load on first use so that `import gladia_async` and `--help` stay cheap.
LAZY_ALLOWED = {
    "gladia_async.testing",
}
# The session loads each wing the first time a call needs it (issue 26: `from gladia_async
# import GladiaSession` must not pay for batches, callbacks and live sessions).
SESSION_LAZY = {"gladia_async._batch", "gladia_async._callbacks", "gladia_async._live"}
# The CLI's `live` command loads the live stack when it runs, not with the parser: `--help`,
# `--version` and every other command must not pay for the live session and its messages
# (tests/contracts/test_import_cost.py).
CLI_LAZY = {"gladia_async._live", "gladia_async._schema.live_messages"}
OPTIONAL = {
    "rich",
    "opentelemetry",
    "mutagen",
    "fastapi",
    "starlette",
    "msvcrt",
    "fcntl",
}
# Violations left to fix, one entry per finding ("rule: what"); the test fails on a new one
# and on one fixed but still listed, so this list only shrinks. It is empty at the bar.
KNOWN: set[str] = set()


def _modules() -> Iterator[tuple[str, Path]]:
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        yield ".".join(parts), path


def _imports(module: str, path: Path) -> Iterator[tuple[str, int, bool]]:
    """(imported module, line, inside a function) for every import of the file."""
    tree = ast.parse(path.read_text())
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]

    def visit(node: ast.AST, in_function: bool) -> Iterator[tuple[str, int, bool]]:
        for child in ast.iter_child_nodes(node):
            nested = in_function or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef)
            if isinstance(child, ast.Import):
                for alias in child.names:
                    yield alias.name, child.lineno, in_function
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    base = package[: len(package) - child.level + 1]
                    target = ".".join(base + ([child.module] if child.module else []))
                else:
                    target = child.module or ""
                yield target, child.lineno, in_function
                for alias in child.names:  # `from . import module`
                    yield f"{target}.{alias.name}", child.lineno, in_function
            yield from visit(child, nested)

    yield from visit(tree, False)


MODULES = dict(_modules())


def _internal(target: str) -> str | None:
    """The gladia_async module a dotted import names (longest known prefix), if any."""
    parts = target.split(".")
    while parts:
        name = ".".join(parts)
        if name in MODULES:
            return name
        parts.pop()
    return None


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {m: set() for m in MODULES}
    for module, path in MODULES.items():
        for target, _, _ in _imports(module, path):
            internal = _internal(target)
            if internal and internal != module and not module.startswith(internal + "."):
                graph[module].add(internal)
    return graph


def _group(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _layer(group: str) -> int:
    for rank, layer in enumerate(LAYERS):
        if group in layer:
            return rank
    raise AssertionError(f"{group} is in no layer of ARCHITECTURE.md")


def _check(rule: str, findings: list[str]) -> None:
    found = {f"{rule}: {f}" for f in findings}
    known = {k for k in KNOWN if k.startswith(rule + ": ")}
    assert sorted(found - known) == [], "new violations of ARCHITECTURE.md"
    assert sorted(known - found) == [], "fixed: remove these from KNOWN"


def test_no_import_cycle() -> None:
    graph = _graph()
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def strongconnect(v: str) -> None:  # Tarjan
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                strongconnect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in graph:
        if v not in index:
            strongconnect(v)
    _check("cycle", [" <-> ".join(c) for c in cycles])


def test_imports_only_go_down() -> None:
    wrong = []
    for module, targets in _graph().items():
        group = _group(module)
        if group == "testing":
            continue
        for target in targets:
            other = _group(target)
            if other == "testing":
                continue  # checked by the lazy-import rule: the CLI's `emulator` command
            if other == group:
                continue
            if _layer(other) > _layer(group) or (group in WINGS and other in WINGS):
                wrong.append(f"{module} -> {target}")
    _check("upward", wrong)


def test_the_emulator_imports_only_the_schema_from_the_client_side() -> None:
    wrong = []
    for module, targets in _graph().items():
        if _group(module) != "testing":
            continue
        for target in targets:
            if _group(target) not in {"testing", "_schema", "_core", "_version"}:
                wrong.append(f"{module} -> {target}")
    _check("emulator", wrong)


def test_no_function_level_imports_but_optional_and_lazy_ones() -> None:
    wrong = set()
    for module, path in MODULES.items():
        for target, _, in_function in _imports(module, path):
            if not in_function:
                continue
            if target.split(".")[0] in OPTIONAL:
                continue
            if any(target == lazy or target.startswith(lazy + ".") for lazy in LAZY_ALLOWED):
                continue
            if module == "gladia_async._session" and any(
                target.startswith(wing + ".") for wing in SESSION_LAZY
            ):
                continue
            if module.startswith("gladia_async._cli.") and any(
                target == lazy or target.startswith(lazy + ".") for lazy in CLI_LAZY
            ):
                continue
            wrong.add(f"{module} imports {_internal(target) or target.split('.')[0]}")
    _check("function-level", sorted(wrong))


@pytest.mark.parametrize(
    ("library", "allowed"),
    [
        ("aiohttp", {"_http", "_callbacks", "testing"}),
        ("sqlite3", {"_batch"}),
    ],
)
def test_libraries_stay_in_their_layer(library: str, allowed: set[str]) -> None:
    wrong = set()
    for module, path in MODULES.items():
        for target, _, _ in _imports(module, path):
            if target.split(".")[0] == library and _group(module) not in allowed:
                wrong.add(f"{module} uses {library}")
    _check(library, sorted(wrong))


def test_no_hand_written_module_over_600_lines() -> None:
    generated = {"gladia_async._schema.models"}
    long = {
        module: n
        for module, path in MODULES.items()
        if module not in generated and (n := len(path.read_text().splitlines())) > 600
    }
    _check("long", [f"{module} {n}" for module, n in long.items()])
