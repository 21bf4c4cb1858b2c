"""The dependency arrows of docs/architecture.md, enforced on the import graph.

The protocol core is pure: it imports no I/O, clock or threading module, no
third-party library, and none of the outer layers. The analyzer imports only sqlglot
and the standard library. Nothing in epaxdb's core or the analyzer imports `server`.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

CORE_MODULES = [
    "ids",
    "errors",
    "command",
    "messages",
    "records",
    "config",
    "conflict_index",
    "instance",
    "execution",
    "recovery",
    "replica",
    "replica_recovery",
    "replica_gc",
    "tokens",
]
FORBIDDEN_IN_CORE = {
    "asyncio",
    "socket",
    "selectors",
    "threading",
    "multiprocessing",
    "subprocess",
    "time",
    "datetime",
    "os",
    "io",
    "sqlite3",
    "apsw",
    "msgpack",
    "sqlglot",
    "aiohttp",
    "analyzer",
    "server",
}
FORBIDDEN_CORE_SIBLINGS = {"runtime", "storage", "sim", "wire", "cli", "commands", "dbapi"}


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


@pytest.mark.parametrize("module", CORE_MODULES)
def test_core_module_imports_nothing_impure(module: str) -> None:
    names = imported_modules(ROOT / "epaxdb" / f"{module}.py")
    for name in names:
        top = name.split(".")[0]
        assert top not in FORBIDDEN_IN_CORE, f"epaxdb/{module}.py imports {name}"
        if top == "epaxdb":
            assert name.split(".")[1] in CORE_MODULES, f"epaxdb/{module}.py imports {name}"
            assert name.split(".")[1] not in FORBIDDEN_CORE_SIBLINGS


def test_core_draws_no_module_level_randomness() -> None:
    source = (ROOT / "epaxdb" / "replica.py").read_text()
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            assert not (node.value.id == "random" and node.attr != "Random"), (
                "the core must use its injected random.Random, never module-level random"
            )


def test_analyzer_depends_only_on_sqlglot_and_the_standard_library() -> None:
    for path in sorted((ROOT / "analyzer").rglob("*.py")):
        for name in imported_modules(path):
            top = name.split(".")[0]
            assert top not in {"epaxdb", "server", "apsw", "aiohttp", "msgpack"}, (
                f"{path.relative_to(ROOT)} imports {name}"
            )


def test_nothing_below_the_server_imports_it() -> None:
    for package in ("epaxdb", "analyzer"):
        for path in sorted((ROOT / package).rglob("*.py")):
            if path.parent.name == "commands":
                continue  # CLI commands are composition roots, like the server
            for name in imported_modules(path):
                assert name.split(".")[0] != "server", f"{path.relative_to(ROOT)} imports {name}"


def test_migration_is_used_only_by_the_commands() -> None:
    # It composes the analyzer and the storage engine for the CLI; the replica's own
    # layers (core, storage, runtime, server) must not come to depend on it.
    for package in ("epaxdb", "server"):
        for path in sorted((ROOT / package).rglob("*.py")):
            inside = path.relative_to(ROOT).parts
            if inside[:2] in (
                ("epaxdb", "commands"),
                ("epaxdb", "migration"),
                ("epaxdb", "benchmarks"),
            ):
                continue
            for name in imported_modules(path):
                assert not name.startswith("epaxdb.migration"), (
                    f"{path.relative_to(ROOT)} imports {name}"
                )


def test_the_python_clients_speak_http_only() -> None:
    """A client app installs epaxdb for its clients: they must not drag in the server,
    the analyzer, the runtime or the storage engine (nor sqlglot and apsw). The
    SQLAlchemy dialect is a client too."""
    forbidden = {"server", "analyzer", "apsw", "sqlglot"}
    for package in ("client", "dbapi", "aio", "sqlalchemy"):
        for path in sorted((ROOT / "epaxdb" / package).rglob("*.py")):
            for name in imported_modules(path):
                parts = name.split(".")
                assert parts[0] not in forbidden, f"{path.relative_to(ROOT)} imports {name}"
                if parts[0] == "epaxdb" and len(parts) > 1:
                    # errors and tokens (commit-token text) are pure, shared with the server
                    allowed = {"client", "dbapi", "aio", "sqlalchemy", "errors", "tokens"}
                    assert parts[1] in allowed, f"{path.relative_to(ROOT)} imports {name}"


def test_only_the_dialect_imports_the_optional_sqlalchemy() -> None:
    # SQLAlchemy is an extra (`epaxdb[sqlalchemy]`): nothing else may need it.
    for package in ("epaxdb", "analyzer", "server"):
        for path in sorted((ROOT / package).rglob("*.py")):
            if path.relative_to(ROOT).parts[:2] == ("epaxdb", "sqlalchemy"):
                continue
            for name in imported_modules(path):
                assert name.split(".")[0] != "sqlalchemy", (
                    f"{path.relative_to(ROOT)} imports {name}"
                )
