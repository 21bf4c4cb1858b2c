"""What a cluster makes of a database file's own schema and data.

Theory of operation. Every object of the file's catalog is judged twice:

1. by the analyzer, as the CREATE statement that made it (`plan_statement`): a column
   default, view or trigger using the clock or random() is *made deterministic* (the
   coordinator fixes 'now' and the seed per transaction); anything the analyzer
   refuses in a statement (an application-defined function, 'localtime', a TEMP
   object, a virtual-table module that cannot be replicated, changes() in a trigger)
   is *refused*, with the analyzer's code;
2. by SQLite, under the cluster's connection settings (`trusted_schema` off, foreign
   keys on): `PRAGMA quick_check`, and every table and view compiled for reading and
   every table for INSERT, UPDATE and DELETE (which compiles its triggers, indexes and
   foreign keys), without running anything. What the engine could not execute —
   an unknown function, collation or module — is refused as `sqlite_error`.

The data is checked for what the engine refuses to store: a rowid of 2**63-1 (beyond
it SQLite picks rowids at random) and `sqlite_sequence` at that value.

Warnings name what behaves differently from a default `sqlite3` connection: foreign
keys are enforced (violations already in the file stay, but statements touching them
fail), and LIKE is case-sensitive (`case_sensitive_like` is a cluster setting).

Everything runs on a read-only connection: the file is never changed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import apsw

from analyzer import AnalyzerError, Schema, plan_statement
from analyzer.tokens import significant, tokenize
from epaxdb.storage import RESERVED_ROWID, ClusterSqlSettings
from epaxdb.storage.bookkeeping import RESULTS_INDEX
from epaxdb.storage.guard import INTERNAL_TABLES, MAX_ROWID
from epaxdb.storage.settings import apply_settings
from epaxdb.storage.snapshot import POSITION_TABLE
from epaxdb.storage.state_hash import USER_SCHEMA, quote_identifier

# Refusal codes of this check; all others are the analyzer's.
RESERVED_NAME = "reserved_name"
NOT_A_BACKUP = "not_a_backup"
UNKNOWN_COLLATION = "unknown_collation"
SQLITE_ERROR = "sqlite_error"
CORRUPT = "corrupt"

_BUILT_IN_COLLATIONS = frozenset({"binary", "nocase", "rtrim"})
_ROWID_NAMES = ("rowid", "_rowid_", "oid")
_SCHEMA_CHANGE_NOTE = "interferes with everything"
CASE_SENSITIVE_LIKE = (
    "LIKE is case-sensitive on the cluster ('a' LIKE 'A' is false); compare lower() of "
    "both sides to match regardless of case"
)


@dataclass(frozen=True, slots=True)
class Finding:
    subject: str  # "table users", "trigger audit", "database"
    message: str
    code: str | None = None  # a refusal's code

    def to_json(self) -> dict[str, Any]:
        found: dict[str, Any] = {"object": self.subject, "message": self.message}
        if self.code is not None:
            found["code"] = self.code
        return found


@dataclass(frozen=True, slots=True)
class SchemaReport:
    objects: int
    fixes: tuple[Finding, ...]  # made deterministic by the engine
    refusals: tuple[Finding, ...]  # why the file cannot be replicated as it is
    warnings: tuple[Finding, ...]
    schema: Schema = field(compare=False, repr=False)

    @property
    def refused(self) -> bool:
        return bool(self.refusals)

    def to_json(self) -> dict[str, Any]:
        return {
            "objects": self.objects,
            "made_deterministic": [f.to_json() for f in self.fixes],
            "refused": [f.to_json() for f in self.refusals],
            "warnings": [f.to_json() for f in self.warnings],
        }


def read_schema(connection: apsw.Connection) -> Schema:
    """The analyzer's view of the database's schema, as a replica would hand it over."""
    rows = connection.execute(USER_SCHEMA).fetchall()
    (version,) = connection.execute("PRAGMA schema_version").fetchone()
    return Schema.from_catalog(rows, version)


def check_database(connection: apsw.Connection, *, from_backup: bool = False) -> SchemaReport:
    """Judge the database behind a read-only `connection` (see the module docstring).
    `from_backup`: the file is an epaxdb backup, which carries its position table."""
    apply_settings(connection, ClusterSqlSettings())
    catalog = connection.execute(USER_SCHEMA).fetchall()
    schema = read_schema(connection)
    fixes: list[Finding] = []
    warnings: list[Finding] = list(_enforced_foreign_keys(schema))
    refusals: list[Finding] = list(_reserved_names(connection, from_backup))
    objects = 0
    for kind, name, _, sql in catalog:
        if sql is None or name.lower().startswith("sqlite_"):
            continue  # automatic indexes and SQLite's own tables
        objects += 1
        subject = f"{kind} {name}"
        if uses_like(sql):
            warnings.append(Finding(subject, CASE_SENSITIVE_LIKE))
        plan = plan_statement(schema, sql)
        if isinstance(plan, AnalyzerError):
            refusals.append(Finding(subject, plan.reason, plan.code))
            continue
        fixes.extend(
            Finding(subject, note)
            for note in plan.notes
            if not note.startswith(_SCHEMA_CHANGE_NOTE)
        )
    refusals.extend(_unknown_collations(schema))
    integrity = _integrity(connection)
    if integrity is not None:
        refusals.append(integrity)  # reading a damaged file further proves nothing
    else:
        try:
            refusals.extend(_compile_refusals(connection, catalog))
            refusals.extend(_reserved_rowids(connection))
            warnings.extend(_foreign_key_violations(connection))
        except apsw.Error as error:
            refusals.append(Finding("database", f"reading it failed: {error}", SQLITE_ERROR))
    return SchemaReport(
        objects=objects,
        fixes=tuple(fixes),
        refusals=tuple(refusals),
        warnings=tuple(warnings),
        schema=schema,
    )


def uses_like(sql: str) -> bool:
    """Whether the SQL text uses the LIKE operator (not inside a string or comment)."""
    return any(token.is_word("LIKE") for token in significant(tokenize(sql)))


def _enforced_foreign_keys(schema: Schema) -> Iterable[Finding]:
    for table in schema.tables.values():
        if table.foreign_keys:
            parents = ", ".join(sorted({fk.parent for fk in table.foreign_keys}))
            yield Finding(
                f"table {table.name}",
                f"its foreign keys (to {parents}) are enforced on the cluster; a default "
                "sqlite3 connection does not enforce them",
            )


def _reserved_names(connection: apsw.Connection, from_backup: bool) -> Iterable[Finding]:
    objects = {
        name.lower(): kind
        for kind, name in connection.execute("SELECT type, name FROM sqlite_schema")
    }
    # The engine creates these when it opens the seed (a backup keeps only its position).
    reserved = {RESULTS_INDEX} if from_backup else INTERNAL_TABLES | {RESULTS_INDEX}
    if from_backup and objects.get(POSITION_TABLE) != "table":
        yield Finding(
            "database",
            f"no {POSITION_TABLE} table: this is not an epaxdb backup "
            "(seed a cluster from an application's database with `epaxdb import`)",
            NOT_A_BACKUP,
        )
        return
    for name in sorted(objects.keys() & reserved):
        yield Finding(
            f"{objects[name]} {name}",
            "the name is reserved for epaxdb's bookkeeping "
            "(an epaxdb backup is seeded with `epaxdb restore`)",
            RESERVED_NAME,
        )


def _unknown_collations(schema: Schema) -> Iterable[Finding]:
    for table in schema.tables.values():
        for column in table.columns:
            if column.collation is not None and column.collation not in _BUILT_IN_COLLATIONS:
                yield Finding(
                    f"table {table.name}",
                    f"column {column.name} uses the collation {column.collation!r}, which "
                    "the application registers itself; replicas only have BINARY, NOCASE "
                    "and RTRIM",
                    UNKNOWN_COLLATION,
                )


def _integrity(connection: apsw.Connection) -> Finding | None:
    try:
        problems = [row[0] for row in connection.execute("PRAGMA quick_check")]
    except apsw.CorruptError as error:
        return Finding("database", f"PRAGMA quick_check: {error}", CORRUPT)
    except apsw.Error as error:  # e.g. an index needs a collation SQLite does not have
        return Finding("database", f"PRAGMA quick_check cannot run: {error}", SQLITE_ERROR)
    if problems != ["ok"]:
        return Finding("database", "PRAGMA quick_check: " + "; ".join(problems[:5]), CORRUPT)
    return None


def _compile_refusals(connection: apsw.Connection, catalog: list[Any]) -> Iterable[Finding]:
    shadow = {
        name
        for (name,) in connection.execute(
            "SELECT name FROM pragma_table_list WHERE schema = 'main' AND type = 'shadow'"
        )
    }
    for kind, name, _, sql in catalog:
        if sql is None or kind not in ("table", "view") or name.lower().startswith("sqlite_"):
            continue
        if name in shadow:
            continue  # the virtual table's own statements maintain it
        probes = [f"SELECT * FROM {quote_identifier(name)} LIMIT 0"]
        if kind == "table":
            probes += _write_probes(connection, name)
        for probe in probes:
            try:
                connection.execute(probe).fetchall()
            except apsw.Error as error:
                yield Finding(f"{kind} {name}", f"SQLite cannot use it: {error}", SQLITE_ERROR)
                break


def _write_probes(connection: apsw.Connection, table: str) -> list[str]:
    """EXPLAIN of an INSERT, UPDATE and DELETE: compiling them compiles the table's
    triggers, indexes and foreign keys; EXPLAIN runs none of it."""
    columns = [
        name
        for name, hidden in connection.execute(
            "SELECT name, hidden FROM pragma_table_xinfo(?)", (table,)
        )
        if hidden == 0  # not generated, not a virtual table's hidden column
    ]
    quoted = quote_identifier(table)
    probes = [f"EXPLAIN INSERT INTO {quoted} DEFAULT VALUES", f"EXPLAIN DELETE FROM {quoted}"]
    if columns:
        assignments = ", ".join(f"{quote_identifier(c)} = {quote_identifier(c)}" for c in columns)
        probes.append(f"EXPLAIN UPDATE {quoted} SET {assignments}")
    return probes


def _reserved_rowids(connection: apsw.Connection) -> Iterable[Finding]:
    tables = connection.execute(
        "SELECT name FROM pragma_table_list WHERE schema = 'main' "
        "AND type IN ('table', 'shadow') AND wr = 0 AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'"
    ).fetchall()
    for (name,) in tables:
        columns = {c.lower() for (c,) in connection.execute(
            "SELECT name FROM pragma_table_info(?)", (name,)
        )}  # fmt: skip
        alias = next((a for a in _ROWID_NAMES if a not in columns), None)
        if alias is None:
            continue  # every rowid name is a column: SQLite offers no way to read it
        found = connection.execute(
            f"SELECT 1 FROM {quote_identifier(name)} WHERE {alias} = {MAX_ROWID}"
        ).fetchall()
        if found:
            yield Finding(
                f"table {name}",
                f"a row has rowid {MAX_ROWID}: SQLite would pick the next rowids at random, "
                "differently on every replica",
                RESERVED_ROWID,
            )
    has_sequence = connection.execute(
        "SELECT 1 FROM sqlite_schema WHERE name = 'sqlite_sequence'"
    ).fetchall()
    if has_sequence:
        for (name,) in connection.execute(
            f"SELECT name FROM sqlite_sequence WHERE seq >= {MAX_ROWID}"
        ):
            yield Finding(
                f"table {name}",
                f"its AUTOINCREMENT sequence is at {MAX_ROWID}: the next insert fails like a "
                "full disk",
                RESERVED_ROWID,
            )


def _foreign_key_violations(connection: apsw.Connection) -> Iterable[Finding]:
    counts: dict[tuple[str, str], int] = {}
    for table, _, parent, _ in connection.execute("PRAGMA foreign_key_check"):
        counts[(table, parent)] = counts.get((table, parent), 0) + 1
    for (table, parent), count in sorted(counts.items()):
        yield Finding(
            f"table {table}",
            f"{count} row(s) violate the foreign key to {parent}: they are kept, but the "
            "cluster enforces foreign keys, so statements that touch them will fail",
        )
