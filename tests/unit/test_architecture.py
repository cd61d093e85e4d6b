"""The import rules of docs/architecture.md, checked over the source of every module.

Dependencies point one way: ``events`` (the pure domain) ← ``projections`` (the read side,
PostgreSQL) ← ``services``. Inside ``services``, the shared rooms (adapters, settings, tokens,
integrity, infra, progress) import no process; a process (decider, projector, gateway, query)
imports no other process; the tools (demo, bench) import no command line; only the command
line may import inside a function. No import cycles anywhere.

Each rule is a function over {module name: source}, so that the tests below can show each rule
failing on a small tree that breaks it, as well as passing on the real one.
"""

import ast
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("events", "projections", "services")

PURE_LIBRARIES = frozenset({"pydantic", "pydantic_core", "chinese_calendar", "orjson"})
"""What ``events`` may import besides the standard library: small pure libraries."""
IO_STDLIB = frozenset(
    {"asyncio", "socket", "subprocess", "http", "urllib", "ssl", "sqlite3", "shutil", "os"}
)
"""Standard modules that do I/O: not in ``events``."""
PROJECTION_LIBRARIES = PURE_LIBRARIES | {"asyncpg"}
"""What ``projections`` may import besides the standard library and ``events``."""

PROCESSES = frozenset({"decider", "projector", "gateway", "query"})
SHARED = frozenset({"adapters", "settings", "tokens", "integrity", "infra", "progress"})
TOOLS = frozenset({"demo", "bench"})
RANK = {**dict.fromkeys(SHARED, 0), **dict.fromkeys(PROCESSES, 1), **dict.fromkeys(TOOLS, 2)}
RANK["cli"] = 3


def tree() -> dict[str, str]:
    """Every module of the three packages: dotted name → source."""
    modules = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            modules[".".join(parts)] = path.read_text("utf-8")
    return modules


def imports(module: str, source: str, modules: Mapping[str, str]) -> Iterator[tuple[str, bool]]:
    """(imported module, at module level?) for every import statement of ``module``."""
    tree = ast.parse(source)
    top_level = {id(node) for node in tree.body}
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolve against the importing package
                package = module.split(".")[: -node.level or None]
                base = ".".join([*package, base] if base else package)
            # `from package import submodule` imports the submodule
            names = [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base
                for alias in node.names
            ]
        for name in names:
            yield name, id(node) in top_level


def _root(name: str) -> str:
    return name.split(".")[0]


def _room(name: str) -> str | None:
    """The room of a services module: ``services.query.app`` → ``query``."""
    parts = name.split(".")
    return parts[1] if parts[0] == "services" and len(parts) > 1 else None


def violations(modules: Mapping[str, str]) -> list[str]:
    found = []
    for module, source in modules.items():
        top = _root(module)
        for imported, at_top in imports(module, source, modules):
            other = _root(imported)
            if top == "events" and (
                other in {"projections", "services", "tests"}
                or (
                    other not in PURE_LIBRARIES | {"events"}
                    and other not in sys.stdlib_module_names
                )
                or other in IO_STDLIB
            ):
                found.append(f"{module} imports {imported}: events/ is pure, no I/O")
            if top == "projections" and (
                other in {"services", "tests"}
                or (
                    other not in PROJECTION_LIBRARIES | {"events", "projections"}
                    and other not in sys.stdlib_module_names
                )
            ):
                found.append(f"{module} imports {imported}: projections/ knows PostgreSQL only")
            found += _services_rule(module, imported)
            if not at_top and _room(module) != "cli":
                found.append(f"{module} imports {imported} inside a function: only the CLI may")
    return found + [f"import cycle: {' -> '.join(c)}" for c in cycles(modules)]


def _services_rule(module: str, imported: str) -> list[str]:
    mine, theirs = _room(module), _room(imported)
    if mine is None or theirs is None or mine == theirs:
        return []
    if mine in PROCESSES and theirs in PROCESSES:
        return [f"{module} imports {imported}: a service never imports another service"]
    if RANK.get(theirs, 0) > RANK.get(mine, 0):
        return [f"{module} imports {imported}: an import may not run upward ({mine} → {theirs})"]
    return []


def cycles(modules: Mapping[str, str]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each a cycle."""
    graph = {
        module: sorted(
            {name for name, top in imports(module, source, modules) if top} & modules.keys()
        )
        for module, source in modules.items()
    }
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for successor in graph[node]:
            if successor not in index:
                visit(successor)
                low[node] = min(low[node], low[successor])
            elif successor in on_stack:
                low[node] = min(low[node], index[successor])
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

    for node in graph:
        if node not in index:
            visit(node)
    return found


def test_the_tree_keeps_every_import_rule() -> None:
    assert violations(tree()) == []


def test_the_scan_sees_every_module() -> None:
    modules = tree()
    assert {"events.decide", "projections.apply", "services.cli.main"} <= modules.keys()
    assert len(modules) > 60


@pytest.mark.parametrize(
    ("modules", "complaint"),
    [
        pytest.param(
            {"events.x": "import asyncpg"}, "events/ is pure, no I/O", id="events-imports-a-driver"
        ),
        pytest.param(
            {"events.x": "import subprocess"}, "events/ is pure, no I/O", id="events-runs-processes"
        ),
        pytest.param(
            {"events.x": "from services.settings import Settings", "services.settings": ""},
            "events/ is pure, no I/O",
            id="events-imports-services",
        ),
        pytest.param(
            {"projections.x": "from services.settings import Settings", "services.settings": ""},
            "projections/ knows PostgreSQL only",
            id="projections-imports-services",
        ),
        pytest.param(
            {"projections.x": "import aiokafka"},
            "projections/ knows PostgreSQL only",
            id="projections-imports-kafka",
        ),
        pytest.param(
            {"services.query.app": "from services.decider import runtime", "services.decider": ""},
            "a service never imports another service",
            id="service-imports-service",
        ),
        pytest.param(
            {"services.adapters.kafka": "import services.bench.write", "services.bench.write": ""},
            "may not run upward",
            id="adapter-imports-a-tool",
        ),
        pytest.param(
            {"services.bench.write": "from services.cli import infra", "services.cli.infra": ""},
            "may not run upward",
            id="tool-imports-the-cli",
        ),
        pytest.param(
            {"services.decider.x": "def f():\n    import json\n"},
            "only the CLI may",
            id="lazy-import-outside-the-cli",
        ),
        pytest.param(
            {"events.a": "import events.b", "events.b": "from events import a"},
            "import cycle: events.a -> events.b",
            id="cycle",
        ),
    ],
)
def test_each_rule_fails_when_broken(modules: dict[str, str], complaint: str) -> None:
    found = violations(modules)
    assert any(complaint in line for line in found), found


def test_a_lazy_import_in_a_command_body_is_allowed() -> None:
    assert violations({"services.cli.main": "def demo():\n    import json\n"}) == []
