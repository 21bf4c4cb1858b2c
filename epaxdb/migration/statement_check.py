"""What a cluster makes of each of an application's statements: the migration report.

Theory of operation. Each statement is planned by the analyzer against the database's
schema, exactly as a replica would plan it, with its parameters left open (a `?`
stays a `?`: the report is about the statement, not one call of it):

- *outcome*: it runs unchanged, runs with a determinism fix (the analyzer's notes:
  the clock or random() fixed by the coordinator, also through defaults, views and
  triggers), or is refused (the analyzer's code and reason);
- *differences* from a default sqlite3 connection that the statement meets (LIKE is
  case-sensitive on the cluster);
- *conflict class*: `none` (touches no table), `point` (only keys of single rows),
  `whole_table` (some table as a whole: it interferes with every write to that
  table) or `global` (interferes with every transaction), with a hint how to get
  point keys where that is possible.

Transactions. `BEGIN` ... `COMMIT` (or `END`, `ROLLBACK`) in the file group
statements into one transaction, as an application using sqlite3 would; the rules
that depend on the transaction (changes()/last_insert_rowid() need an earlier write
in it; a table created earlier in it) are applied to the group. Outside such a group
every statement is its own transaction.

Schema changes in the file. DDL the analyzer accepts is also executed on an
in-memory copy of the schema (no data), so later statements are checked against the
schema they will meet.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import apsw

from analyzer import AnalyzerError, Schema, analyze, plan_statement
from analyzer.plan import KeyTemplate, StatementPlan
from analyzer.schema import ROWID, Table
from analyzer.sqltext import prepare
from epaxdb.migration.schema_check import CASE_SENSITIVE_LIKE, read_schema, uses_like
from epaxdb.migration.script import ScriptStatement
from epaxdb.storage.state_hash import USER_SCHEMA

UNCHANGED, FIXED, REFUSED, BOUNDARY = "unchanged", "fixed", "refused", "boundary"
NONE, POINT, WHOLE_TABLE, GLOBAL = "none", "point", "whole_table", "global"

_GLOBAL_NOTE = "interferes with everything: "
_BEGIN_VERBS = frozenset({"BEGIN"})
_END_VERBS = frozenset({"COMMIT", "END", "ROLLBACK"})
_INSERT_VERBS = frozenset({"INSERT", "REPLACE"})


@dataclass(frozen=True, slots=True)
class StatementVerdict:
    number: int  # 1-based position in the file
    line: int
    sql: str
    outcome: str  # UNCHANGED, FIXED, REFUSED or BOUNDARY (BEGIN/COMMIT)
    fixes: tuple[str, ...] = ()
    code: str | None = None  # the refusal's code
    reason: str | None = None  # the refusal's reason, or what a boundary does
    conflict: str | None = None  # NONE, POINT, WHOLE_TABLE, GLOBAL; None if not run
    reads: tuple[str, ...] = ()  # "users(id)" for point keys, "users" for the whole table
    writes: tuple[str, ...] = ()
    hints: tuple[str, ...] = ()
    differences: tuple[str, ...] = ()
    schema_note: str | None = None  # DDL that could not be applied to the schema copy

    def to_json(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "line": self.line,
            "sql": self.sql,
            "outcome": self.outcome,
            "fixes": list(self.fixes),
            "refusal": None if self.code is None else {"code": self.code, "reason": self.reason},
            "conflict": self.conflict,
            "reads": list(self.reads),
            "writes": list(self.writes),
            "hints": list(self.hints),
            "differences": list(self.differences),
            **({"note": self.reason} if self.outcome == BOUNDARY else {}),
            **({"schema_note": self.schema_note} if self.schema_note else {}),
        }


def check_statements(
    connection: apsw.Connection, statements: Sequence[ScriptStatement]
) -> list[StatementVerdict]:
    """The verdict on every statement, against the schema of the database behind the
    read-only `connection`."""
    schema = _EvolvingSchema(connection)
    verdicts = []
    group: list[tuple[str, list[None]]] | None = None  # the open BEGIN's statements
    for number, statement in enumerate(statements, start=1):
        verb = statement.verb
        if verb in _BEGIN_VERBS or (verb in _END_VERBS and not _is_rollback_to(statement)):
            group = [] if verb in _BEGIN_VERBS else None
            verdicts.append(_boundary(number, statement, verb))
            continue
        verdict, accepted, is_ddl = _check(number, statement, schema, group or [])
        if accepted is not None and group is not None:
            group.append(accepted)
        if accepted is not None and is_ddl:
            error = schema.apply(statement.sql)
            if error is not None:
                verdict = replace(verdict, schema_note=f"not applied to the schema copy: {error}")
        verdicts.append(verdict)
    return verdicts


def _check(
    number: int,
    statement: ScriptStatement,
    schema: _EvolvingSchema,
    context: list[tuple[str, list[None]]],
) -> tuple[StatementVerdict, tuple[str, list[None]] | None, bool]:
    """The verdict, the statement as the transaction's context holds it (None when
    refused), and whether it is DDL."""
    sql = statement.sql
    plan = plan_statement(schema.current, sql)
    if isinstance(plan, AnalyzerError):
        return _refused(number, statement, plan), None, False
    # Parameters are left open: NULL stands in for each one, which keeps the
    # transaction-wide rules (and nothing about key values) in play.
    bound = (sql, [None] * plan.params.count)
    try:
        analyze([*context, bound], schema.current)
    except AnalyzerError as error:
        return _refused(number, statement, error), None, False
    fixes = tuple(note for note in plan.notes if not note.startswith(_GLOBAL_NOTE))
    conflict, hints = _conflict(plan, schema.current, sql)
    verdict = StatementVerdict(
        number=number,
        line=statement.line,
        sql=sql,
        outcome=FIXED if fixes else UNCHANGED,
        fixes=fixes,
        conflict=conflict,
        reads=_describe(plan.reads),
        writes=_describe(plan.writes),
        hints=hints,
        differences=(CASE_SENSITIVE_LIKE,) if uses_like(sql) else (),
    )
    return verdict, bound, plan.kind == "ddl"


def _conflict(plan: StatementPlan, schema: Schema, sql: str) -> tuple[str, tuple[str, ...]]:
    if plan.is_global:
        reasons = [n[len(_GLOBAL_NOTE) :] for n in plan.notes if n.startswith(_GLOBAL_NOTE)]
        return GLOBAL, tuple(_global_hint(reason) for reason in reasons)
    whole_reads = [t.table for t in plan.reads if t.columns is None]
    whole_writes = [t.table for t in plan.writes if t.columns is None]
    if not whole_reads and not whole_writes:
        return (POINT if plan.reads or plan.writes else NONE), ()
    verb = prepare(sql).verb
    written = {t.table for t in plan.writes}
    point_reads = {t.table for t in plan.reads if t.columns is not None}
    hints = [_write_hint(verb, schema, name, name in point_reads) for name in whole_writes]
    hints += [
        _read_hint(verb, schema, name, name in written)
        for name in whole_reads
        if name not in whole_writes
    ]
    return WHOLE_TABLE, tuple(dict.fromkeys(hints))


def _write_hint(verb: str, schema: Schema, name: str, read_by_key: bool) -> str:
    table = schema.tables.get(name)
    if name == "sqlite_sequence":
        return (
            "sqlite_sequence: every INSERT into an AUTOINCREMENT table writes it, so such "
            "inserts serialize across all AUTOINCREMENT tables; a plain INTEGER PRIMARY KEY "
            "(without AUTOINCREMENT) avoids that"
        )
    if table is None or table.key is None:
        return _keyless(name, table)
    if verb in _INSERT_VERBS:
        if table.autoincrement:
            return (
                f"{name}: AUTOINCREMENT makes every insert write the whole table; drop "
                f"AUTOINCREMENT and give the key ({_key_names(table)}) explicitly"
            )
        if table.unique_sets:
            columns = ", ".join(sorted({c for u in table.unique_sets for c in u} - {ROWID}))
            return (
                f"{name}: UNIQUE constraints besides the primary key ({columns}) make an "
                "insert check other rows, so inserts take the whole table"
            )
        if not table.point_insertable:
            return (
                f"{name}: a rowid table keyed by {_key_names(table)} takes each new row's "
                "hidden rowid from table state; declare it WITHOUT ROWID (or key it by an "
                "INTEGER PRIMARY KEY) to get point inserts"
            )
        return (
            f"{name}: give the key ({_key_names(table)}) as a literal or parameter in "
            "INSERT ... VALUES, e.g. an id the application generates; without it the "
            "new rowid comes from table state, so inserts into the table serialize"
        )
    if verb == "UPDATE" and read_by_key:
        return (
            f"{name}: the UPDATE sets a key or UNIQUE column, which checks other rows; "
            "updates of other columns by key are point writes"
        )
    return _where_hint(name, table)


def _read_hint(verb: str, schema: Schema, name: str, also_written: bool) -> str:
    table = schema.tables.get(name)
    if table is None or table.key is None:
        return _keyless(name, table)
    if verb in ("SELECT", "VALUES") or also_written:
        return _where_hint(name, table)
    return (
        f"{name}: read whole by a foreign-key check or a subquery (a point read needs the "
        "referencing values as literals or parameters, or a WHERE on the key)"
    )


def _where_hint(name: str, table: Table) -> str:
    return (
        f"{name}: a WHERE on the primary key ({_key_names(table)} = ? or IN (...), other "
        "conditions ANDed; one table, no join) gives point keys"
    )


def _keyless(name: str, table: Table | None) -> str:
    if table is not None and table.virtual:
        return f"{name}: a virtual table is always accessed as a whole"
    return (
        f"{name}: has no key for single rows (a key column compared with NOCASE or RTRIM, "
        "or a table SQLite maintains)"
    )


def _global_hint(reason: str) -> str:
    if reason == "schema change":
        return (
            "schema change: DDL interferes with every transaction; run it at deployment, "
            "not per request"
        )
    if reason.startswith("trigger "):
        return (
            f"{reason}: statements that fire a trigger interfere with everything; doing "
            "the trigger's work in the application's transaction gives point or table keys"
        )
    return f"{reason}: such access interferes with every transaction"


def _describe(templates: Iterable[KeyTemplate]) -> tuple[str, ...]:
    described = []
    for template in templates:
        if template.columns is None:
            described.append(template.table)
        else:
            names = ", ".join("rowid" if c.name == ROWID else c.name for c in template.columns)
            described.append(f"{template.table}({names})")
    return tuple(dict.fromkeys(described))


def _key_names(table: Table) -> str:
    assert table.key is not None
    return ", ".join("rowid" if c.name == ROWID else c.name for c in table.key)


def _refused(number: int, statement: ScriptStatement, error: AnalyzerError) -> StatementVerdict:
    return StatementVerdict(
        number=number,
        line=statement.line,
        sql=statement.sql,
        outcome=REFUSED,
        code=error.code,
        reason=error.reason,
    )


def _boundary(number: int, statement: ScriptStatement, verb: str) -> StatementVerdict:
    what = (
        "starts a transaction: the statements up to COMMIT are sent as one transaction"
        if verb in _BEGIN_VERBS
        else "ends the transaction"
    )
    return StatementVerdict(number, statement.line, statement.sql, BOUNDARY, reason=what)


def _is_rollback_to(statement: ScriptStatement) -> bool:
    return statement.verb == "ROLLBACK" and " TO " in f" {statement.sql.upper()} "


class _EvolvingSchema:
    """The analyzer's Schema of the database, followed through the file's DDL.

    The DDL runs on an in-memory database rebuilt from the file's catalog (schema
    only: shadow tables are made by their virtual tables, SQLite's own tables by
    SQLite)."""

    def __init__(self, source: apsw.Connection) -> None:
        self.current = read_schema(source)
        self._copy = apsw.Connection(":memory:")
        self._broken: str | None = None
        shadow = {
            name
            for (name,) in source.execute(
                "SELECT name FROM pragma_table_list WHERE schema = 'main' AND type = 'shadow'"
            )
        }
        for _, name, _, sql in source.execute(USER_SCHEMA).fetchall():
            if sql is None or name.lower().startswith("sqlite_") or name in shadow:
                continue
            try:
                self._copy.execute(sql)
            except apsw.Error as error:
                self._broken = f"the database's schema does not rebuild in memory ({error})"
                break

    def apply(self, sql: str) -> str | None:
        """Run accepted DDL on the copy; the error text if that is not possible."""
        if self._broken is not None:
            return self._broken
        try:
            self._copy.execute(sql)
        except apsw.Error as error:
            return str(error)
        self.current = read_schema(self._copy)
        return None
