"""Shared helpers: a Schema from a SQL script (built the way a replica builds it) and
compact views of an analysis."""

from __future__ import annotations

import apsw

from analyzer import Analysis, AnalyzerError, Schema, analyze


def schema_from(script: str = "") -> Schema:
    """The Schema of the database `script` creates, read from SQLite's own catalog."""
    connection = apsw.Connection(":memory:")
    if script:
        connection.execute(script)
    rows = connection.execute("SELECT type, name, tbl_name, sql FROM sqlite_schema").fetchall()
    version = connection.execute("PRAGMA schema_version").fetchall()[0][0]
    connection.close()
    return Schema.from_catalog(rows, version)


def run(schema: Schema, sql: str, params: object = ()) -> Analysis:
    return analyze([(sql, params)], schema)


def reads(analysis: Analysis) -> set[tuple[str, tuple | None]]:
    return {(k.table, k.key) for k in analysis.reads}


def writes(analysis: Analysis) -> set[tuple[str, tuple | None]]:
    return {(k.table, k.key) for k in analysis.writes}


def refusal_code(schema: Schema, sql: str, params: object = ()) -> str:
    """The code of the refusal `sql` gets; fails the test if it is accepted."""
    try:
        run(schema, sql, params)
    except AnalyzerError as error:
        return error.code
    raise AssertionError(f"the analyzer accepted {sql!r}")
