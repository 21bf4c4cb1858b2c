"""The little the client must know about SQL text: where a script's statements end,
which statements are transaction control (the client runs those itself), and which
are plain queries (sent to `/v1/query`). Everything else is the server's to judge.

Statement boundaries come from SQLite's own completeness check
(`sqlite3.complete_statement`), so a `;` inside a string, a comment or a trigger body
never splits a statement.
"""

from __future__ import annotations

import enum
import re
import sqlite3

# A word, a quoted string or identifier, or any other single character; whitespace
# and comments are skipped by `_tokens`.
_TOKEN = re.compile(
    r"""(?P<space>\s+|--[^\n]*(?:\n|$)|/\*.*?(?:\*/|$))
      | (?P<word>[A-Za-z_][A-Za-z0-9_$]*)
      | (?P<quoted>'(?:[^']|'')*'?|"(?:[^"]|"")*"?|`(?:[^`]|``)*`?|\[[^\]]*\]?)
      | (?P<other>.)""",
    re.VERBOSE | re.DOTALL,
)


# Conditions on `sqlite_master.name` that leave out SQLite's own objects
# (sqlite_sequence, automatic indexes) and epaxdb's bookkeeping tables, which every
# replica's database holds next to the application's (LIKE is case-sensitive there).
NOT_SQLITE_INTERNAL = "name NOT LIKE 'sqlite\\_%' ESCAPE '\\'"
NOT_EPAXDB_INTERNAL = "name NOT LIKE '\\_epaxdb\\_%' ESCAPE '\\'"


class Control(enum.Enum):
    BEGIN = "begin"
    COMMIT = "commit"
    ROLLBACK = "rollback"


def _tokens(sql: str, limit: int | None = None) -> list[str]:
    """Words upper-cased, other tokens as they are; at most `limit` of them."""
    tokens: list[str] = []
    for match in _TOKEN.finditer(sql):
        if match.lastgroup == "space":
            continue
        text = match.group()
        tokens.append(text.upper() if match.lastgroup == "word" else text)
        if limit is not None and len(tokens) >= limit:
            break
    return tokens


def is_query(sql: str) -> bool:
    """A statement that can only read: SELECT or VALUES (a WITH may prefix a write)."""
    return _tokens(sql, 1) in (["SELECT"], ["VALUES"])


def has_statement(sql: str) -> bool:
    """Whether `sql` holds more than whitespace, comments and semicolons."""
    return any(token != ";" for token in _tokens(sql))


def transaction_control(sql: str) -> Control | None:
    """BEGIN [DEFERRED|IMMEDIATE|EXCLUSIVE] [TRANSACTION], COMMIT/END [TRANSACTION] and
    ROLLBACK [TRANSACTION]; None for anything else (savepoints included: the server
    refuses those with a precise error)."""
    tokens = _tokens(sql, 8)
    while tokens and tokens[-1] == ";":
        tokens.pop()
    if not tokens:
        return None
    head, rest = tokens[0], tokens[1:]
    if head == "BEGIN" and rest[:1] in (["DEFERRED"], ["IMMEDIATE"], ["EXCLUSIVE"]):
        rest = rest[1:]
    control = {"BEGIN": Control.BEGIN, "COMMIT": Control.COMMIT, "END": Control.COMMIT}.get(
        head, Control.ROLLBACK if head == "ROLLBACK" else None
    )
    if control is None:
        return None
    # an optional TRANSACTION, which may carry an (ignored) name
    if rest[:1] == ["TRANSACTION"]:
        rest = rest[2:] if len(rest) == 2 and _is_name(rest[1]) else rest[1:]
    return control if not rest else None


def _is_name(token: str) -> bool:
    return token not in ("TO", ";") and (token[:1].isalpha() or token[:1] in '_"`[')


def split_script(script: str) -> list[str]:
    """The statements of a script, each ending where SQLite's parser would end it."""
    statements: list[str] = []
    start = 0
    for position, char in enumerate(script):
        if char != ";":
            continue
        candidate = script[start : position + 1]
        if sqlite3.complete_statement(candidate):
            if has_statement(candidate):
                statements.append(candidate.strip())
            start = position + 1
    rest = script[start:]
    if has_statement(rest):
        statements.append(rest.strip())
    return statements
