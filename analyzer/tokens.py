"""A tokenizer that follows SQLite's own (tokenize.c) closely enough to trust.

sqlglot's tokenizer is built for many dialects and differs from SQLite on the
details that matter here: `$name` and `?NNN` placeholders, digit separators
(`1_000`), statement boundaries inside CREATE TRIGGER bodies, and declared type
names such as `FLOATING POINT`. The analyzer therefore reads the raw text with
this tokenizer first and hands sqlglot a normalised copy (see `sqltext`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

SPACE = "space"
COMMENT = "comment"
WORD = "word"  # bare identifier or keyword
QUOTED = "quoted"  # "identifier", `identifier` or [identifier]
STRING = "string"
BLOB = "blob"
NUMBER = "number"
VARIABLE = "variable"
PUNCT = "punct"
ILLEGAL = "illegal"

_ID_START = "A-Za-z_\x80-\U0010ffff"
_ID_CHAR = "A-Za-z0-9_$\x80-\U0010ffff"

_TOKEN_RE = re.compile(
    rf"""
    (?P<space>[ \t\n\f\r]+)
    |(?P<comment>--[^\n]*|/\*.*?(?:\*/|\Z))
    |(?P<blob>[xX]'[^']*')
    |(?P<string>'(?:[^']|'')*')
    |(?P<quoted>"(?:[^"]|"")*"|`(?:[^`]|``)*`|\[[^\]]*\])
    |(?P<number>(?:0[xX][0-9A-Fa-f_]+|(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9][0-9_]*)
                 (?:[eE][+-]?[0-9][0-9_]*)?)[{_ID_CHAR}]*)
    |(?P<variable>\?[0-9]*|[:@$](?:[{_ID_CHAR}]|::)+(?:\([^)\s]*\))?)
    |(?P<word>[{_ID_START}][{_ID_CHAR}]*)
    |(?P<punct>\|\||<<|>>|<=|>=|==|!=|<>|->>|->|[-+*/%&|~<>=(),;.])
    |(?P<illegal>.)
    """,
    re.VERBOSE | re.DOTALL,
)

_VALID_NUMBER = re.compile(
    r"0[xX][0-9A-Fa-f]+(?:_[0-9A-Fa-f]+)*"
    r"|(?:[0-9]+(?:_[0-9]+)*(?:\.(?:[0-9]+(?:_[0-9]+)*)?)?|\.[0-9]+(?:_[0-9]+)*)"
    r"(?:[eE][+-]?[0-9]+(?:_[0-9]+)*)?"
)
_VALID_BLOB = re.compile(r"[xX]'(?:[0-9A-Fa-f]{2})*'")


@dataclass(frozen=True, slots=True)
class Token:
    kind: str
    text: str
    start: int

    @property
    def end(self) -> int:
        return self.start + len(self.text)

    @property
    def upper(self) -> str:
        """The token text in upper case (how keywords are compared)."""
        return self.text.upper()

    def is_word(self, *words: str) -> bool:
        return self.kind == WORD and self.text.upper() in words

    def is_punct(self, text: str) -> bool:
        return self.kind == PUNCT and self.text == text

    @property
    def is_name(self) -> bool:
        """Whether SQLite could read this token as an identifier."""
        return self.kind in (WORD, QUOTED, STRING)

    @property
    def name(self) -> str:
        """The identifier this token spells, unquoted (case preserved)."""
        if self.kind == QUOTED:
            quote = self.text[0]
            inner = self.text[1:-1]
            if quote == "[":
                return inner
            return inner.replace(quote * 2, quote)
        if self.kind == STRING:
            return self.text[1:-1].replace("''", "'")
        return self.text


def tokenize(sql: str) -> list[Token]:
    """Every token of `sql`, including spaces and comments, in order."""
    tokens: list[Token] = []
    for match in _TOKEN_RE.finditer(sql):
        kind = match.lastgroup or ILLEGAL
        text = match.group()
        if (
            kind == NUMBER
            and not _VALID_NUMBER.fullmatch(text)
            or kind == BLOB
            and not _VALID_BLOB.fullmatch(text)
            or kind == STRING
            and (len(text) < 2 or not text.endswith("'"))
        ):
            kind = ILLEGAL
        tokens.append(Token(kind, text, match.start()))
    return tokens


def significant(tokens: list[Token]) -> list[Token]:
    """The tokens that carry meaning (no spaces, no comments)."""
    return [t for t in tokens if t.kind not in (SPACE, COMMENT)]


def fold(name: str) -> str:
    """SQLite compares identifiers case-insensitively for ASCII letters only."""
    return (
        name.lower() if name.isascii() else "".join(c.lower() if c.isascii() else c for c in name)
    )


def line_col(sql: str, offset: int) -> tuple[int, int]:
    """1-based line and column of character `offset` of `sql`."""
    line = sql.count("\n", 0, offset) + 1
    col = offset - (sql.rfind("\n", 0, offset) + 1) + 1
    return line, col


# SQLite's keywords (https://sqlite.org/lang_keywords.html). A bare word from this
# list right before `+` means the `+` is unary.
KEYWORDS = frozenset(
    [
        "ABORT",
        "ACTION",
        "ADD",
        "AFTER",
        "ALL",
        "ALTER",
        "ALWAYS",
        "ANALYZE",
        "AND",
        "AS",
        "ASC",
        "ATTACH",
        "AUTOINCREMENT",
        "BEFORE",
        "BEGIN",
        "BETWEEN",
        "BY",
        "CASCADE",
        "CASE",
        "CAST",
        "CHECK",
        "COLLATE",
        "COLUMN",
        "COMMIT",
        "CONFLICT",
        "CONSTRAINT",
        "CREATE",
        "CROSS",
        "CURRENT",
        "CURRENT_DATE",
        "CURRENT_TIME",
        "CURRENT_TIMESTAMP",
        "DATABASE",
        "DEFAULT",
        "DEFERRABLE",
        "DEFERRED",
        "DELETE",
        "DESC",
        "DETACH",
        "DISTINCT",
        "DO",
        "DROP",
        "EACH",
        "ELSE",
        "END",
        "ESCAPE",
        "EXCEPT",
        "EXCLUDE",
        "EXCLUSIVE",
        "EXISTS",
        "EXPLAIN",
        "FAIL",
        "FILTER",
        "FIRST",
        "FOLLOWING",
        "FOR",
        "FOREIGN",
        "FROM",
        "FULL",
        "GENERATED",
        "GLOB",
        "GROUP",
        "GROUPS",
        "HAVING",
        "IF",
        "IGNORE",
        "IMMEDIATE",
        "IN",
        "INDEX",
        "INDEXED",
        "INITIALLY",
        "INNER",
        "INSERT",
        "INSTEAD",
        "INTERSECT",
        "INTO",
        "IS",
        "ISNULL",
        "JOIN",
        "KEY",
        "LAST",
        "LEFT",
        "LIKE",
        "LIMIT",
        "MATCH",
        "MATERIALIZED",
        "NATURAL",
        "NO",
        "NOT",
        "NOTHING",
        "NOTNULL",
        "NULL",
        "NULLS",
        "OF",
        "OFFSET",
        "ON",
        "OR",
        "ORDER",
        "OTHERS",
        "OUTER",
        "OVER",
        "PARTITION",
        "PLAN",
        "PRAGMA",
        "PRECEDING",
        "PRIMARY",
        "QUERY",
        "RAISE",
        "RANGE",
        "RECURSIVE",
        "REFERENCES",
        "REGEXP",
        "REINDEX",
        "RELEASE",
        "RENAME",
        "REPLACE",
        "RESTRICT",
        "RETURNING",
        "RIGHT",
        "ROLLBACK",
        "ROW",
        "ROWS",
        "SAVEPOINT",
        "SELECT",
        "SET",
        "TABLE",
        "TEMP",
        "TEMPORARY",
        "THEN",
        "TIES",
        "TO",
        "TRANSACTION",
        "TRIGGER",
        "UNBOUNDED",
        "UNION",
        "UNIQUE",
        "UPDATE",
        "USING",
        "VACUUM",
        "VALUES",
        "VIEW",
        "VIRTUAL",
        "WHEN",
        "WHERE",
        "WINDOW",
        "WITH",
        "WITHOUT",
    ]
)

# Keywords that end an operand, so a `+` after them is binary.
OPERAND_KEYWORDS = frozenset({"END", "NULL", "CURRENT_DATE", "CURRENT_TIME", "CURRENT_TIMESTAMP"})
