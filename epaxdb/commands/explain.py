"""`epaxdb explain`: what the analyzer makes of a transaction, as one JSON object.

The schema comes from a SQL file executed in an in-memory SQLite database
(through apsw, as on a replica); its `sqlite_schema` rows and
`PRAGMA schema_version` are handed to the analyzer exactly as a replica hands
its catalog. Exit status: 0 with the analysis, 2 with {"error": ...} when the
analyzer refuses a statement, 1 when the input (schema file, --params) is bad.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import apsw

from analyzer import AnalyzerError, Schema, analyze, json_to_key_value

_DESCRIPTION = """\
Analyse SQL statements as ONE transaction and print what they read and write:

  {"global": bool, "reads": [{"table": "t", "key": [...] | null}], "writes": [...],
   "statements": [{"sql": "...", "params": [...]}]}

A key of null means the whole table; key values are typed as SQLite stores them
(e.g. WHERE id = '7' on an INTEGER PRIMARY KEY gives [7]); a BLOB is shown as
{"blob": "<hex>"}. "statements" are the statements as they will execute: the
original SQL and the parameters in SQLite's parameter order (named parameters
become positional). A refused statement prints {"error": {"code", "message"}}
and exits with status 2."""

_PARAMS_HELP = """\
parameters as JSON. With one SQL statement: a list (positional ?, ?NNN) or an
object (named :x, @x, $x; keys without the prefix) for that statement. With
several SQL statements: a list holding one such list/object (or null) per
statement, in order. Without --params every statement gets no parameters.
A BLOB value is written {"blob": "<hex>"}."""

_EXAMPLE = """\
example:
  epaxdb explain --schema schema.sql --params '[42, 7]' \\
      'UPDATE accounts SET balance = ? WHERE id = ?'"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "explain",
        help="show the keys a transaction reads and writes",
        description=_DESCRIPTION,
        epilog=_EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--schema",
        metavar="FILE.sql",
        type=Path,
        help="SQL script that creates the schema (default: an empty database)",
    )
    parser.add_argument("--params", metavar="JSON", help=_PARAMS_HELP)
    parser.add_argument("sql", nargs="+", metavar="SQL", help="one SQL statement per argument")
    parser.set_defaults(handler=_explain)


class _BadInput(Exception):
    """The command's input is unusable (not an analyzer refusal)."""


def _explain(args: argparse.Namespace) -> int:
    try:
        schema = load_schema(args.schema)
        params = _statement_params(args.params, len(args.sql))
    except _BadInput as error:
        print(f"epaxdb explain: {error}", file=sys.stderr)
        return 1
    try:
        analysis = analyze(list(zip(args.sql, params)), schema)
    except AnalyzerError as error:
        print(
            json.dumps(
                {"error": {"code": error.code, "message": error.message}}, ensure_ascii=False
            )
        )
        return 2
    print(json.dumps(analysis.to_json(), ensure_ascii=False))
    return 0


def load_schema(path: Path | None) -> Schema:
    """The analyzer's Schema for the database a SQL script creates."""
    connection = apsw.Connection(":memory:")
    try:
        if path is not None:
            try:
                script = path.read_text(encoding="utf-8")
            except OSError as error:
                raise _BadInput(f"cannot read the schema file: {error}") from None
            try:
                connection.execute(script)
            except apsw.Error as error:
                raise _BadInput(f"the schema file does not run on SQLite: {error}") from None
        rows = connection.execute(
            "SELECT type, name, tbl_name, sql FROM sqlite_schema ORDER BY rowid"
        ).fetchall()
        version = connection.execute("PRAGMA schema_version").fetchall()[0][0]
    finally:
        connection.close()
    return Schema.from_catalog(rows, version)


def _statement_params(text: str | None, count: int) -> list[object]:
    if text is None:
        return [[] for _ in range(count)]
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise _BadInput(f"--params is not JSON: {error}") from None
    if count == 1:
        return [_one_statement(value, 0)]
    if not isinstance(value, list) or len(value) != count:
        raise _BadInput(
            f"with {count} SQL statements, --params must be a JSON list of {count} "
            "parameter lists or objects"
        )
    return [_one_statement(v, i) for i, v in enumerate(value)]


def _one_statement(value: object, index: int) -> object:
    try:
        if value is None:
            return []
        if isinstance(value, list):
            return [json_to_key_value(v) for v in value]
        if isinstance(value, dict):
            return {str(k): json_to_key_value(v) for k, v in value.items()}
    except (TypeError, ValueError) as error:  # ValueError: bad hex in {"blob": ...}
        raise _BadInput(f"parameters of statement {index}: {error}") from None
    raise _BadInput(f"parameters of statement {index} must be a JSON list or object")
