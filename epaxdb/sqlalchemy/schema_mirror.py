"""SQLite's schema PRAGMAs, answered by a local copy of the cluster's schema.

The cluster refuses every PRAGMA (docs/analyzer.md), yet SQLAlchemy's SQLite dialect
reflects tables with `PRAGMA table_xinfo`, `foreign_key_list`, `index_list` and
`index_info`. Those read nothing but the schema, and the schema is the text of the
CREATE statements in `sqlite_master`, which the cluster serves like any table. So the
dialect reads those statements (one query, in the caller's transaction), replays them
into an in-memory database of the standard library's SQLite and runs the PRAGMA
there: SQLite's own parser answers, on the DDL the replicas run.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterable
from typing import Any, Self

from sqlalchemy.exc import UnreflectableTableError

from epaxdb.client.sqltext import NOT_EPAXDB_INTERNAL, NOT_SQLITE_INTERNAL

# The application's tables, views and indexes with their tables, in creation order.
SCHEMA_SQL = (
    "SELECT type, name, tbl_name, sql FROM sqlite_master WHERE sql IS NOT NULL"
    f" AND type IN ('table', 'view', 'index') AND {NOT_SQLITE_INTERNAL}"
    f" AND {NOT_EPAXDB_INTERNAL} ORDER BY rowid"
)
PRAGMAS = frozenset(
    {"table_info", "table_xinfo", "foreign_key_list", "index_list", "index_info", "index_xinfo"}
)
# Replayed tables first: views and indexes refer to them.
_REPLAY_ORDER = {"table": 0, "view": 1, "index": 2}
_NO_SUCH_FUNCTION = re.compile(r"no such function: (\w+)")
# More unknown functions than this in one statement: give up on it.
_MAX_STAND_INS = 32


def _fold(name: str) -> bytes:
    """A name as SQLite compares names: ASCII letters case-insensitively, nothing else."""
    return name.encode("utf-8").lower()


class SchemaMirror:
    """An in-memory SQLite database holding the cluster's schema (no rows)."""

    def __init__(self, objects: Iterable[tuple[str, str, str, str]]) -> None:
        """`objects`: `(type, name, tbl_name, sql)` rows of `SCHEMA_SQL`."""
        self._db = sqlite3.connect(":memory:")
        # Tables whose own CREATE, or one of whose indexes, the local SQLite could not
        # replay (a virtual-table module it lacks, syntax newer than it): reflecting
        # them would be incomplete, so it is refused with the reason.
        self._unreplayed: dict[bytes, str] = {}
        ordered = sorted(objects, key=lambda row: _REPLAY_ORDER[row[0]])
        for kind, name, table, sql in ordered:
            if self._exists(name):
                continue  # a virtual table created it (its shadow tables)
            try:
                self._run(sql)
            except sqlite3.Error as error:
                self._unreplayed.setdefault(_fold(table), f"{kind} {name}: {error}")

    def pragma(self, pragma: str, name: str) -> list[tuple[Any, ...]]:
        """The rows `PRAGMA main.<pragma>("<name>")` answers on the cluster's schema."""
        if pragma not in PRAGMAS:
            raise ValueError(f"PRAGMA {pragma} reads more than the schema")
        reason = self._unreplayed.get(_fold(name))
        if reason is not None:
            raise UnreflectableTableError(
                f"{name} cannot be reflected: the local SQLite {sqlite3.sqlite_version} "
                f"cannot read its schema ({reason})"
            )
        quoted = '"' + name.replace('"', '""') + '"'
        return self._run(f"PRAGMA main.{pragma}({quoted})").fetchall()

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _exists(self, name: str) -> bool:
        found = self._db.execute(
            "SELECT 1 FROM sqlite_master WHERE name = ? COLLATE NOCASE", (name,)
        ).fetchone()
        return found is not None

    def _run(self, sql: str) -> sqlite3.Cursor:
        """Run `sql`, standing in for functions the local SQLite lacks (the replicas'
        may be newer, or built with the math functions): CHECK constraints, generated
        columns, index expressions and views must name known functions to be created
        or described, though no PRAGMA here ever calls them."""
        for _ in range(_MAX_STAND_INS):
            try:
                return self._db.execute(sql)
            except sqlite3.OperationalError as error:
                missing = _NO_SUCH_FUNCTION.fullmatch(str(error))
                if missing is None:
                    raise
                self._db.create_function(missing.group(1), -1, _stand_in, deterministic=True)
        return self._db.execute(sql)


def _stand_in(*_args: Any) -> None:
    return None
