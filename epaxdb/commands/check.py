"""`epaxdb check`: the migration report for an application's database and statements."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from epaxdb.migration.schema_check import check_database
from epaxdb.migration.script import split_script
from epaxdb.migration.statement_check import REFUSED, check_statements
from epaxdb.migration.text import schema_lines, statement_lines, summary_line
from epaxdb.storage import SqliteFailure
from epaxdb.storage.snapshot import open_read_only

_DESCRIPTION = """\
Report what changes when an application's SQLite database and statements move to an
epaxdb cluster. The database file is only read.

For the database's own schema: which defaults, views and triggers the cluster makes
deterministic (the clock and random() are fixed per transaction by the coordinating
replica) and what it refuses (with the analyzer's code), e.g. a trigger calling a
function the application registers itself.

For each statement of FILE.sql (- reads standard input; statements end with ;):
  outcome    unchanged | fixed (a determinism fix, named) | REFUSED (code and reason)
  conflicts  none | point (single rows by key) | whole table (interferes with every
             write to that table) | global (interferes with every transaction),
             with a hint how to get point keys
BEGIN ... COMMIT in the file groups statements into one transaction.

Exit status: 0 when nothing is refused, 1 when something is, 2 when the database or
the file cannot be read."""

EXIT_REFUSED = 1
EXIT_UNREADABLE = 2


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "check",
        help="migration report: what changes for an app's database and statements",
        description=_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--db", type=Path, required=True, metavar="APP.db",
                        help="the application's SQLite database (opened read-only)")  # fmt: skip
    parser.add_argument("file", nargs="?", metavar="FILE.sql",
                        help="the application's statements; - for standard input")  # fmt: skip
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(handler=_check)


def _check(args: argparse.Namespace) -> int:
    try:
        script = _read_script(args.file)
        connection = open_read_only(args.db)
    except (OSError, UnicodeDecodeError, SqliteFailure) as error:
        print(f"epaxdb check: {error}", file=sys.stderr)
        return EXIT_UNREADABLE
    try:
        report = check_database(connection)
        verdicts = check_statements(connection, split_script(script)) if script is not None else []
    finally:
        connection.close()
    refused = report.refused or any(v.outcome == REFUSED for v in verdicts)
    if args.json:
        document: dict[str, Any] = {
            "database": {"path": str(args.db), **report.to_json()},
            "statements": [v.to_json() for v in verdicts],
            "refused": refused,
        }
        print(json.dumps(document, ensure_ascii=False, indent=2))
    else:
        print(f"Database {args.db} ({report.objects} schema objects):")
        print("\n".join(schema_lines(report)))
        if script is not None:
            print(f"\nStatements ({args.file}):")
            print("\n".join(statement_lines(verdicts)) if verdicts else "  (none)")
            print("\n" + summary_line(verdicts))
        if refused:
            print("\nSomething is refused: see above.")
    return EXIT_REFUSED if refused else 0


def _read_script(name: str | None) -> str | None:
    if name is None:
        return None
    if name == "-":
        return sys.stdin.read()
    return Path(name).read_text(encoding="utf-8")
