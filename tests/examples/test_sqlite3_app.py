"""An app written for the standard `sqlite3` module runs on epaxdb with one changed
line, its import, and prints exactly what it prints on SQLite."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

APP = Path(__file__).resolve().parents[2] / "examples" / "sqlite3_app" / "inventory.py"
IMPORT_LINE = "import sqlite3\n"


def load_app(import_line: str, name: str) -> ModuleType:
    """The app's module, with its `import sqlite3` line replaced by `import_line`."""
    source = APP.read_text()
    assert source.count(IMPORT_LINE) == 1
    spec = importlib.util.spec_from_loader(name, loader=None)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    code = compile(source.replace(IMPORT_LINE, import_line), str(APP), "exec")
    exec(code, module.__dict__)  # noqa: S102 - the app's own source, one line changed
    return module


@pytest.mark.cluster
@pytest.mark.timeout(180)
def test_inventory_app_prints_the_same_on_sqlite_and_on_epaxdb(
    tmp_path: Path, urls: list[str]
) -> None:
    on_sqlite = load_app(IMPORT_LINE, "inventory_on_sqlite").run(str(tmp_path / "inventory.db"))
    on_epaxdb = load_app("import epaxdb.dbapi as sqlite3\n", "inventory_on_epaxdb").run(
        ",".join(urls)
    )
    assert len(on_sqlite) > 10
    assert on_epaxdb == on_sqlite
