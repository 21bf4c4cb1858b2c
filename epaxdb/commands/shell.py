"""`epaxdb shell`: an interactive SQL shell on the DB-API client.

    epaxdb shell URL[,URL...] [--token TOKEN]

Statements end with `;` (they may span lines) and run in autocommit mode; BEGIN ...
COMMIT groups them into one transaction. Dot commands: .tables, .schema [TABLE],
.help, .quit. With standard input that is not a terminal, statements are read from
it (`epaxdb shell URL < script.sql`) and the exit status is 1 if any failed.
Errors are printed with their code, e.g. `Error: [SQLITE_CONSTRAINT_UNIQUE] ...`.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TextIO

from epaxdb import dbapi
from epaxdb.client import sqltext

HISTORY_FILE = Path("~/.epaxdb_history")
HISTORY_LENGTH = 1000
HELP = """\
.tables           list the tables and views
.schema [TABLE]   show the CREATE statements (of one table and its indexes/triggers)
.help             this text
.quit             leave (also .exit, or end of input)
SQL statements end with ';'. Each runs on its own unless inside BEGIN ... COMMIT."""
_HIDDEN = f"{sqltext.NOT_SQLITE_INTERNAL} AND {sqltext.NOT_EPAXDB_INTERNAL}"
TABLES_SQL = (
    f"SELECT name FROM sqlite_master WHERE type IN ('table', 'view') AND {_HIDDEN} ORDER BY name"
)
SCHEMA_SQL = f"SELECT sql FROM sqlite_master WHERE sql IS NOT NULL AND {_HIDDEN}"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "shell",
        help="interactive SQL shell",
        description=__doc__.split("\n\n", 1)[1] if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("url", nargs="+", help="replica URL(s); the shell fails over between them")
    parser.add_argument(
        "--token", default=os.environ.get("EPAXDB_TOKEN"), help="bearer token ($EPAXDB_TOKEN)"
    )
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds per transaction")
    parser.set_defaults(handler=run_shell)


def run_shell(args: argparse.Namespace) -> int:
    urls = [url for text in args.url for url in text.split(",")]
    try:
        connection = dbapi.connect(urls, timeout=args.timeout, token=args.token, autocommit=True)
    except (dbapi.Error, ValueError) as error:
        print(f"Error: {error}", file=sys.stderr)
        return 2
    interactive = sys.stdin.isatty()
    shell = Shell(connection, sys.stdout, sys.stderr, report_writes=interactive)
    try:
        if interactive:
            print(f"epaxdb shell on {', '.join(urls)}; .help for help", flush=True)
            shell.run(_terminal_lines(shell))
        else:
            shell.run(iter(sys.stdin))
    finally:
        connection.close()
    return 1 if shell.failures and not interactive else 0


def _terminal_lines(shell: Shell) -> Iterator[str]:
    """Lines typed at the terminal, with readline history kept in the home directory
    (both fail soft: a shell without them is still a shell)."""
    history = HISTORY_FILE.expanduser()
    try:
        import readline

        readline.set_history_length(HISTORY_LENGTH)
        if history.exists():
            readline.read_history_file(history)
    except (ImportError, OSError):
        readline = None  # type: ignore[assignment]
    try:
        while True:
            try:
                yield input(shell.prompt())
            except KeyboardInterrupt:
                print()
                shell.discard_pending()
            except EOFError:
                print()
                return
    finally:
        if readline is not None:
            try:
                readline.write_history_file(history)
            except OSError:
                pass


class Shell:
    def __init__(
        self, connection: dbapi.Connection, out: TextIO, err: TextIO, *, report_writes: bool
    ) -> None:
        self.connection = connection
        self.out = out
        self.err = err
        # At a terminal, say what a write did; a script's output stays its queries'.
        self.report_writes = report_writes
        self.failures = 0
        self._pending = ""
        self._commands: dict[str, Callable[[list[str]], bool]] = {
            ".tables": self._tables,
            ".schema": self._schema,
            ".help": self._help,
            ".quit": lambda _args: False,
            ".exit": lambda _args: False,
        }

    def prompt(self) -> str:
        if self._pending:
            return "   ...> "
        return "epaxdb*> " if self.connection.in_transaction else "epaxdb> "

    def discard_pending(self) -> None:
        self._pending = ""

    def run(self, lines: Iterator[str]) -> None:
        for line in lines:
            if not self._pending and line.strip().startswith("."):
                if not self._dot(line.split()):
                    return
                continue
            self._pending += line if line.endswith("\n") else line + "\n"
            if sqlite3.complete_statement(self._pending):
                self._execute_all(self._pending)
                self._pending = ""
        if sqltext.has_statement(self._pending):
            self._execute_all(self._pending)  # a last statement without its ';'
        self._pending = ""

    def _execute_all(self, text: str) -> None:
        for sql in sqltext.split_script(text):
            self._execute(sql)

    def _execute(self, sql: str) -> None:
        try:
            cursor = self.connection.execute(sql)
            rows = cursor.fetchall()
        except (dbapi.Error, OverflowError, ValueError) as error:
            self._report(error)
            return
        except KeyboardInterrupt:
            self._error("interrupted: a write may or may not have been applied")
            return
        if cursor.description is not None:
            self.out.write(format_table([d[0] for d in cursor.description], rows))
        elif self.report_writes and cursor.rowcount >= 0:
            plural = "" if cursor.rowcount == 1 else "s"
            self.out.write(f"({cursor.rowcount} row{plural} affected)\n")
        self.out.flush()

    def _query(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        try:
            return self.connection.execute(sql, params).fetchall()
        except dbapi.Error as error:
            self._report(error)
            return []

    def _report(self, error: Exception) -> None:
        self._error(f"[{getattr(error, 'code', None) or type(error).__name__}] {error}")

    def _error(self, text: str) -> None:
        self.failures += 1
        print(f"Error: {text}", file=self.err, flush=True)

    def _dot(self, words: list[str]) -> bool:
        command = self._commands.get(words[0])
        if command is None:
            self._error(f"unknown command {words[0]}; .help lists the commands")
            return True
        return command(words[1:])

    def _tables(self, _args: list[str]) -> bool:
        rows = self._query(TABLES_SQL, ())
        for (name,) in rows:
            print(name, file=self.out)
        return True

    def _schema(self, args: list[str]) -> bool:
        if args:
            rows = self._query(f"{SCHEMA_SQL} AND tbl_name = ? ORDER BY type DESC, name", args[:1])
        else:
            rows = self._query(f"{SCHEMA_SQL} ORDER BY tbl_name, type DESC, name", ())
        for (sql,) in rows:
            print(f"{sql};", file=self.out)
        return True

    def _help(self, _args: list[str]) -> bool:
        print(HELP, file=self.out)
        return True


def format_table(columns: list[str], rows: list[tuple[Any, ...]]) -> str:
    """Aligned columns, numbers to the right, then the row count."""
    cells = [[_cell(value) for value in row] for row in rows]
    widths = [
        max([len(column), *(len(row[i]) for row in cells)]) for i, column in enumerate(columns)
    ]
    numeric = [
        bool(rows) and all(isinstance(row[i], (int, float)) or row[i] is None for row in rows)
        for i in range(len(columns))
    ]

    def line(values: list[str]) -> str:
        padded = (
            value.rjust(width) if right else value.ljust(width)
            for value, width, right in zip(values, widths, numeric)
        )
        return " | ".join(padded).rstrip() + "\n"

    out = [line(columns), "-+-".join("-" * width for width in widths) + "\n"]
    out.extend(line(row) for row in cells)
    out.append(f"({len(rows)} row{'' if len(rows) == 1 else 's'})\n")
    return "".join(out)


def _cell(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bytes):
        return f"X'{value.hex().upper()}'"
    return str(value)
