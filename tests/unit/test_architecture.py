"""The import rules of docs/architecture.md, checked over the source of every module.

Dependencies point one way: ``events`` (the pure domain) ← ``projections`` (the read side,
PostgreSQL) ← ``services``. Inside ``services``, the shared rooms (adapters, settings, tokens,
integrity, infra, progress, logs) import no process; a process (decider, projector, gateway, query)
imports no other process; the tools (demo, bench) import no command line; only the command
line may import inside a function. The departments' client (``client``) imports the contract
(``events``) and HTTP, nothing else of CaseTrail; only the tools and the command line import it.
No import cycles anywhere.

Each rule is a function over {module name: source}, so that the tests below can show each rule
failing on a small tree that breaks it, as well as passing on the real one.
"""

import ast
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("events", "projections", "services", "client")

PURE_LIBRARIES = frozenset({"pydantic", "pydantic_core", "chinese_calendar", "holidays", "orjson"})
"""What ``events`` may import besides the standard library: small pure libraries."""
PURE_STDLIB = frozenset(
    {
        "__future__",
        "abc",
        "base64",
        "collections",
        "copy",
        "dataclasses",
        "datetime",
        "decimal",
        "enum",
        "functools",
        "hashlib",
        "itertools",
        "json",
        "math",
        "operator",
        "re",
        "string",
        "types",
        "typing",
        "uuid",
    }
)  # fmt: skip  (a set of names reads better on a few lines than one a line)
"""The standard modules ``events`` may use: none of them does I/O."""
PROJECTION_LIBRARIES = PURE_LIBRARIES | {"asyncpg"}
"""What ``projections`` may import besides the standard library and ``events``."""
CLIENT_LIBRARIES = PURE_LIBRARIES | {"httpx"}
"""What ``client`` may import besides the standard library and ``events``: a department
installs it beside its own code, so it brings no Kafka, no PostgreSQL, no web server."""

PROCESSES = frozenset({"decider", "projector", "gateway", "query"})
SHARED = frozenset(
    {"adapters", "settings", "tokens", "integrity", "infra", "privacy", "progress", "logs"}
)
TOOLS = frozenset({"demo", "bench"})
RANK = {**dict.fromkeys(SHARED, 0), **dict.fromkeys(PROCESSES, 1), **dict.fromkeys(TOOLS, 2)}
RANK["cli"] = 3


def tree() -> dict[str, str]:
    """Every module of the packages: dotted name → source."""
    modules = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            modules[".".join(parts)] = path.read_text("utf-8")
    return modules


def imports(module: str, source: str, modules: Mapping[str, str]) -> Iterator[tuple[str, bool]]:
    """(imported module, outside any function?) for every import of ``module``, including the
    dynamic ones (``importlib.import_module``, ``__import__``) as far as their names are
    literal; a dynamic import whose name is not literal is reported as ``<dynamic>``."""
    is_package = any(other.startswith(module + ".") for other in modules)
    package = module.split(".") if is_package else module.split(".")[:-1]

    def visit(node: ast.AST, in_function: bool) -> Iterator[tuple[str, bool]]:
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, not in_function
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolve against the importing package
                parts = package[: len(package) - node.level + 1]
                base = ".".join([*parts, base] if base else parts)
            for alias in node.names:
                # `from package import submodule` imports the submodule
                submodule = f"{base}.{alias.name}"
                yield (submodule if submodule in modules else base), not in_function
        elif isinstance(node, ast.Call) and _dynamic_import(node.func):
            argument = node.args[0] if node.args else None
            literal = isinstance(argument, ast.Constant) and isinstance(argument.value, str)
            yield (str(argument.value) if literal else "<dynamic>"), False  # type: ignore[union-attr]
        nested = in_function or isinstance(
            node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda
        )
        for child in ast.iter_child_nodes(node):
            yield from visit(child, nested)

    yield from visit(ast.parse(source), False)


def _dynamic_import(function: ast.expr) -> bool:
    if isinstance(function, ast.Name):
        return function.id == "__import__"
    return isinstance(function, ast.Attribute) and function.attr == "import_module"


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
            if top == "events" and other not in PURE_LIBRARIES | PURE_STDLIB | {"events"}:
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
            if top == "client" and (
                other in {"projections", "services", "tests"}
                or (
                    other not in CLIENT_LIBRARIES | {"events", "client"}
                    and other not in sys.stdlib_module_names
                )
            ):
                found.append(f"{module} imports {imported}: client/ knows the contract and HTTP")
            if (
                other == "client"
                and top != "client"
                and _room(module) not in {"demo", "bench", "cli"}
            ):
                found.append(f"{module} imports {imported}: only the tools and the CLI use client/")
            if not at_top and _room(module) != "cli":
                found.append(
                    f"{module} imports {imported} inside a function or dynamically: only the CLI"
                    " may"
                )
    return found + [f"import cycle: {' -> '.join(c)}" for c in cycles(modules)]


def _services_rule(module: str, imported: str) -> list[str]:
    mine, theirs = _room(module), _room(imported)
    unknown = [room for room in (mine, theirs) if room is not None and room not in RANK]
    if unknown:
        return [f"{module} imports {imported}: room {unknown[0]} is in no layer of the rules"]
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
    assert {
        "events.decide",
        "projections.apply",
        "services.cli.main",
        "client.flows",
    } <= modules.keys()
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
            {"client.x": "from services.integrity.signing import Signer"},
            "client/ knows the contract and HTTP",
            id="client-imports-services",
        ),
        pytest.param(
            {"client.x": "import aiokafka"},
            "client/ knows the contract and HTTP",
            id="client-imports-kafka",
        ),
        pytest.param(
            {"services.gateway.app": "from client import CaseTrailClient", "client": ""},
            "only the tools and the CLI use client/",
            id="a-service-imports-the-client",
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
            {"events.x": "from pathlib import Path"},
            "events/ is pure, no I/O",
            id="events-reads-files",
        ),
        pytest.param(
            {
                "services.decider.x": "import importlib\n"
                "importlib.import_module('services.query.app')"
            },
            "a service never imports another service",
            id="a-dynamic-import-is-an-import",
        ),
        pytest.param(
            {"services.decider.x": "import importlib\nimportlib.import_module(name)"},
            "imports <dynamic> inside a function or dynamically",
            id="a-dynamic-import-outside-the-cli",
        ),
        pytest.param(
            {"services.newroom.x": "", "services.decider.x": "from services.newroom import x"},
            "room newroom is in no layer",
            id="a-room-the-rules-do-not-know",
        ),
        pytest.param(
            {
                "services.query.routers": "from . import cases",
                "services.query.routers.cases": "from services.decider import runtime",
                "services.decider.runtime": "",
            },
            "a service never imports another service",
            id="relative-import-in-a-package",
        ),
        pytest.param(
            {
                "services.query.routers": "from . import cases",
                "services.query.routers.cases": "from services.query import routers",
            },
            "import cycle: services.query.routers -> services.query.routers.cases",
            id="cycle-through-a-relative-import",
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


def test_imports_under_a_module_level_if_or_try_are_not_lazy() -> None:
    source = "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import json\n"
    assert (
        violations(
            {"services.decider.x": source + "try:\n    import re\nexcept ImportError:\n    pass\n"}
        )
        == []
    )
