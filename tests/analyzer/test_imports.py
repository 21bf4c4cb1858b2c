"""The analyzer imports only sqlglot, the standard library and itself."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ANALYZER = Path(__file__).resolve().parents[2] / "analyzer"


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_analyzer_imports_only_sqlglot_and_the_standard_library() -> None:
    allowed = set(sys.stdlib_module_names) | {"sqlglot", "analyzer", "__future__"}
    modules = sorted(ANALYZER.rglob("*.py"))
    assert modules
    for path in modules:
        foreign = _imports(path) - allowed
        assert not foreign, f"{path.name} imports {sorted(foreign)}"
