"""The statement guard: what client SQL may do on a replica's state connection.

Theory of operation. The analyzer is the first line of defence; the guard is the last,
enforced by SQLite itself, so nothing unanalysable reaches the state unnoticed. It
installs three per-connection hooks and switches behaviour with `mode`:

- INTERNAL (the engine's own bookkeeping): everything allowed.
- REPLICATED (client statements of a replicated transaction): the authorizer, run while
  SQLite prepares a statement (including trigger bodies and view expansions), denies
  what would make replicas diverge or break the engine's transaction: transaction
  control and savepoints, ATTACH/DETACH, TEMP objects (connection-local), PRAGMAs other
  than schema introspection and `user_version`/`application_id`, functions that expose
  connection or file state (`total_changes`, `sqlite_offset`), the physical-layout
  tables `dbstat`/`sqlite_dbpage`, and any access to the engine's internal tables.
- REPLICATED_READ (a replicated transaction the analysis found read-only, which stores
  no result for retries): the same as REPLICATED, and every statement must be read-only.
- LOCAL_READ (`query_local`): the same, and the statement must be read-only.

Prepared statements are cached by SQL text, and SQLite runs the authorizer only when it
prepares. A client statement whose text equals one of the engine's internal statements
would reuse the internally prepared (unchecked) statement, so the exec tracer — called
before every execution, cached or not — refuses those texts outright; the engine's other
statements (settings at open, state-hash queries) are never cached. Either way, whether
a client statement is allowed never depends on the cache's history. The tracer also
enforces one statement per entry (a second statement in the same SQL string is
refused before it runs) and read-only-ness for local reads (`sqlite3_stmt_readonly`).

The update hook watches for rowid 2**63-1. When a table holds that rowid, SQLite picks
new rowids *at random* from its internal PRNG, which no seed controls; AUTOINCREMENT
tables fail with SQLITE_FULL instead, indistinguishable from a full disk. Refusing to
store that one rowid (deterministically, as `reserved_rowid`) keeps both out of reach.
"""

from __future__ import annotations

import enum

import apsw

MAX_ROWID = 2**63 - 1

INTERNAL_TABLES = frozenset({"_epaxdb_applied", "_epaxdb_markers", "_epaxdb_position"})

_ALLOWED_PRAGMAS = frozenset(
    {
        "table_info",
        "table_xinfo",
        "table_list",
        "index_list",
        "index_info",
        "index_xinfo",
        "foreign_key_list",
        "foreign_key_check",
        "user_version",
        "application_id",
    }
)
_DENIED_FUNCTIONS = frozenset({"total_changes", "sqlite_offset"})
_PHYSICAL_TABLES = frozenset({"dbstat", "sqlite_dbpage"})
_DENIED_ACTIONS = {
    apsw.SQLITE_TRANSACTION: "transaction control is done by the replica",
    apsw.SQLITE_SAVEPOINT: "savepoints are managed by the replica",
    apsw.SQLITE_ATTACH: "ATTACH cannot be replicated",
    apsw.SQLITE_DETACH: "DETACH cannot be replicated",
    apsw.SQLITE_CREATE_TEMP_TABLE: "TEMP objects are connection-local",
    apsw.SQLITE_CREATE_TEMP_INDEX: "TEMP objects are connection-local",
    apsw.SQLITE_CREATE_TEMP_TRIGGER: "TEMP objects are connection-local",
    apsw.SQLITE_CREATE_TEMP_VIEW: "TEMP objects are connection-local",
}
# Actions whose first argument is a table name, and those whose second one is.
_TABLE_FIRST = frozenset(
    {
        apsw.SQLITE_READ,
        apsw.SQLITE_INSERT,
        apsw.SQLITE_UPDATE,
        apsw.SQLITE_DELETE,
        apsw.SQLITE_CREATE_TABLE,
        apsw.SQLITE_DROP_TABLE,
        apsw.SQLITE_CREATE_VIEW,
        apsw.SQLITE_DROP_VIEW,
        apsw.SQLITE_ANALYZE,
    }
)
_TABLE_SECOND = frozenset(
    {
        apsw.SQLITE_CREATE_INDEX,
        apsw.SQLITE_DROP_INDEX,
        apsw.SQLITE_CREATE_TRIGGER,
        apsw.SQLITE_DROP_TRIGGER,
        apsw.SQLITE_ALTER_TABLE,
    }
)


class Mode(enum.Enum):
    INTERNAL = "internal"
    REPLICATED = "replicated"
    REPLICATED_READ = "replicated_read"
    LOCAL_READ = "local_read"


_READ_ONLY_REFUSALS = {
    Mode.LOCAL_READ: "a local query must be read-only",
    # The analysis said it reads only, so no result is stored and a retry runs it again.
    Mode.REPLICATED_READ: "a read-only transaction may not write",
}


class StatementGuard:
    def __init__(self, db: apsw.Connection, internal_statements: frozenset[str]) -> None:
        self.mode = Mode.INTERNAL
        self._internal_statements = internal_statements
        self._statements_seen = 0
        # Why the last refusal happened; the authorizer and tracer can only say "no".
        self.refusal: str | None = None
        self.saw_max_rowid = False
        self.touched_sequence = False
        # Result column names of the client statement, captured before it runs: once a
        # statement has completed (zero rows) apsw no longer describes it.
        self.columns: tuple[str, ...] | None = None
        db.authorizer = self._authorize
        db.exec_trace = self._trace
        db.set_update_hook(self._on_row_change)

    def begin_statement(self, mode: Mode) -> None:
        """Arm the guard for one client statement (one SQL string)."""
        self.mode = mode
        self._statements_seen = 0
        self.refusal = None
        self.saw_max_rowid = False
        self.touched_sequence = False
        self.columns = None

    def end_statement(self) -> None:
        self.mode = Mode.INTERNAL

    def _authorize(
        self, action: int, arg1: str | None, arg2: str | None, _db: str | None, _src: str | None
    ) -> int:
        if self.mode is Mode.INTERNAL:
            return apsw.SQLITE_OK
        reason = self._denial(action, arg1, arg2)
        if reason is None:
            return apsw.SQLITE_OK
        self.refusal = reason
        return apsw.SQLITE_DENY

    def _denial(self, action: int, arg1: str | None, arg2: str | None) -> str | None:
        if action in _DENIED_ACTIONS:
            return _DENIED_ACTIONS[action]
        if action == apsw.SQLITE_PRAGMA:
            name = (arg1 or "").lower()
            if name in _ALLOWED_PRAGMAS:
                return None
            return f"PRAGMA {name} is not allowed (cluster settings are fixed)"
        if action == apsw.SQLITE_CREATE_VTABLE and (arg2 or "").lower() in _PHYSICAL_TABLES:
            return f"virtual tables using {arg2} expose the physical file layout"
        if action == apsw.SQLITE_FUNCTION and (arg2 or "").lower() in _DENIED_FUNCTIONS:
            return f"{arg2}() depends on the connection or the file layout"
        table = arg1 if action in _TABLE_FIRST else arg2 if action in _TABLE_SECOND else None
        if table is not None:
            lowered = table.lower()
            if lowered in INTERNAL_TABLES:
                return f"{table} is internal to the replica"
            if lowered in _PHYSICAL_TABLES:
                return f"{table} exposes the physical file layout"
        return None

    def _trace(self, cursor: apsw.Cursor, sql: str, _bindings: object) -> bool:
        if self.mode is Mode.INTERNAL:
            return True
        self._statements_seen += 1
        if self._statements_seen > 1:
            self.refusal = "one SQL statement per entry"
            return False
        if sql.strip() in self._internal_statements:
            self.refusal = "this statement text is reserved by the replica"
            return False
        if self.mode in _READ_ONLY_REFUSALS and not cursor.is_readonly:
            self.refusal = _READ_ONLY_REFUSALS[self.mode]
            return False
        self.columns = tuple(column[0] for column in cursor.description)
        return True

    def _on_row_change(self, _op: int, _db: str, table: str, rowid: int) -> None:
        if self.mode is Mode.INTERNAL:
            return
        if rowid == MAX_ROWID:
            self.saw_max_rowid = True
        if table == "sqlite_sequence":
            self.touched_sequence = True
