"""sqlglot, configured so that what it returns can be trusted.

- The dialect is SQLite with sqlglot's function table emptied (except CAST and
  the aggregate with ORDER BY inside its parentheses), so that almost every
  function call stays an `exp.Anonymous` carrying the name the user wrote.
  sqlglot otherwise maps names onto dialect-neutral classes (`random` and
  `rand` both become `exp.Rand`), and the allow-list of SQLite functions could
  not be checked.
- Whatever sqlglot logs while parsing (it logs, rather than raises, when it
  falls back to an opaque `exp.Command`) makes the parse a failure.
- A parse yields exactly one statement; callers have already split the text.

`parse_statement` is cached by analysis text: it is a pure function of it.
"""

from __future__ import annotations

import functools
import logging
import threading
from dataclasses import dataclass
from typing import ClassVar

import sqlglot
from sqlglot import exp
from sqlglot.dialects.sqlite import SQLite
from sqlglot.errors import ParseError, TokenError

from analyzer.errors import SqlSyntaxError, UnsupportedError
from analyzer.sqltext import PreparedText

_KEPT_FUNCTION_PARSERS = ("CAST", "GROUP_CONCAT", "STRING_AGG")


class AnalysisDialect(SQLite):
    """SQLite as sqlglot reads it, minus the renaming of function calls."""

    class Parser(SQLite.Parser):
        FUNCTIONS: ClassVar[dict] = {}
        FUNCTION_PARSERS: ClassVar[dict] = {
            name: parser
            for name, parser in SQLite.Parser.FUNCTION_PARSERS.items()
            if name in _KEPT_FUNCTION_PARSERS
        }


class _WarningCapture(logging.Handler):
    """Collects sqlglot's log records of the current thread while it parses."""

    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)
        self._local = threading.local()

    def emit(self, record: logging.LogRecord) -> None:
        records = getattr(self._local, "records", None)
        if records is not None:
            records.append(record.getMessage())

    def start(self) -> None:
        self._local.records = []

    def stop(self) -> list[str]:
        records = self._local.records
        self._local.records = None
        return records


_capture = _WarningCapture()
logging.getLogger("sqlglot").addHandler(_capture)


@dataclass(frozen=True, slots=True)
class ParsedStatement:
    """A sqlglot tree for one statement; never mutated once built."""

    tree: exp.Expr


def _parse_text(text: str) -> exp.Expr:
    _capture.start()
    try:
        trees = sqlglot.parse(text, read=AnalysisDialect)
    finally:
        warnings = _capture.stop()
    if warnings:
        raise UnsupportedError(
            "unsupported_statement", f"the SQL parser could not analyse this: {warnings[0]}"
        )
    trees = [t for t in trees if t is not None]
    if len(trees) != 1:
        raise UnsupportedError("unsupported_statement", "the SQL parser did not find one statement")
    return trees[0]


@functools.lru_cache(maxsize=4096)
def _cached_parse(text: str) -> ParsedStatement | Exception:
    try:
        return ParsedStatement(_parse_text(text))
    except (ParseError, TokenError, UnsupportedError) as error:
        return error


def parse_statement(prepared: PreparedText) -> exp.Expr:
    """The sqlglot tree of a prepared statement, or a typed refusal."""
    result = _cached_parse(prepared.analysis)
    if isinstance(result, ParsedStatement):
        return result.tree
    if isinstance(result, UnsupportedError):
        raise UnsupportedError(result.code, result.reason)
    line = col = None
    details = getattr(result, "errors", None) or []
    if details and details[0].get("line") is not None:
        line, col = prepared.original_line_col(details[0]["line"], details[0]["col"])
    description = details[0].get("description") if details else None
    raise SqlSyntaxError(
        "syntax_error",
        f"cannot parse the statement: {description or str(result).splitlines()[0]}",
        line=line,
        col=col,
    )


def parse_fragment(text: str) -> exp.Expr:
    """Parse SQL taken from the schema (a view body, a DEFAULT expression)."""
    result = _cached_parse(text)
    if isinstance(result, ParsedStatement):
        return result.tree
    raise UnsupportedError("unsupported_statement", f"cannot parse {text!r}: {result}")
