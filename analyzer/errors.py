"""Why the analyzer refuses a statement: a typed hierarchy with stable codes.

Every error carries a `code` (a stable snake_case string that clients and the
`epaxdb explain` command print) and a `reason` (one human sentence). Errors are
first raised without knowing which statement of the transaction they belong to
(plans are cached per SQL text); `at()` returns a copy that names the statement
index (0-based) and text, which is what callers see.
"""

from __future__ import annotations

from typing import ClassVar

_SQL_SHOWN_CHARS = 160


class AnalyzerError(Exception):
    """Root of every error the analyzer raises on purpose."""

    codes: ClassVar[frozenset[str]] = frozenset()

    def __init__(
        self,
        code: str,
        reason: str,
        *,
        statement: int | None = None,
        sql: str | None = None,
        line: int | None = None,
        col: int | None = None,
    ) -> None:
        if code not in self.codes:
            raise ValueError(f"{type(self).__name__} has no code {code!r}")
        self.code = code
        self.reason = reason
        self.statement = statement
        self.sql = sql
        self.line = line
        self.col = col
        super().__init__(self.message)

    @property
    def message(self) -> str:
        where = ""
        if self.statement is not None:
            shown = self.sql or ""
            if len(shown) > _SQL_SHOWN_CHARS:
                shown = shown[: _SQL_SHOWN_CHARS - 3] + "..."
            where = f"statement {self.statement} ({shown!r}): "
        position = ""
        if self.line is not None:
            position = f" (line {self.line}, column {self.col})"
        return f"{where}{self.reason}{position}"

    def at(self, statement: int, sql: str) -> AnalyzerError:
        """The same refusal, attributed to statement number `statement` of a transaction."""
        return type(self)(
            self.code, self.reason, statement=statement, sql=sql, line=self.line, col=self.col
        )


class SqlSyntaxError(AnalyzerError):
    """The text is not one SQL statement the analyzer can parse."""

    codes = frozenset({"syntax_error", "multiple_statements", "empty_statement"})


class ParameterError(AnalyzerError):
    """The bound parameters do not fit the statement's placeholders."""

    codes = frozenset({"parameter_count", "parameter_type"})


class NonDeterministicError(AnalyzerError):
    """Replicas could compute different results, and the engine cannot pin them down."""

    codes = frozenset(
        {
            "nondeterministic_localtime",
            "nondeterministic_limit",
            "connection_state",
            "build_dependent",
        }
    )


class NotReplicableError(AnalyzerError):
    """The statement acts on connection or file state that replication does not carry."""

    codes = frozenset(
        {
            "attach",
            "vacuum",
            "analyze",
            "pragma",
            "transaction_control",
            "temp_object",
            "reindex",
            "load_extension",
            "other_schema",
        }
    )


class UnsupportedError(AnalyzerError):
    """The analyzer does not understand the statement well enough to order it safely."""

    codes = frozenset(
        {
            "unsupported_statement",
            "unknown_function",
            "unknown_table",
            "unsupported_schema",
        }
    )


ALL_CODES: frozenset[str] = frozenset().union(
    *(
        cls.codes
        for cls in (
            SqlSyntaxError,
            ParameterError,
            NonDeterministicError,
            NotReplicableError,
            UnsupportedError,
        )
    )
)


def error_for(code: str, reason: str) -> AnalyzerError:
    """An error of the class that owns `code`."""
    for cls in (
        SqlSyntaxError,
        ParameterError,
        NonDeterministicError,
        NotReplicableError,
        UnsupportedError,
    ):
        if code in cls.codes:
            return cls(code, reason)
    raise ValueError(f"unknown error code {code!r}")
