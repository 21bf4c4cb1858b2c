"""An application's SQL file as a list of statements, each with the line it starts on.

Statements end at a `;` that completes them in SQLite's own sense
(`sqlite3_complete`, through apsw): the `;`s inside a CREATE TRIGGER body do not end
it. The analyzer's tokenizer, which reads text the way SQLite does, finds the `;`s
that are not inside a string, identifier or comment.
"""

from __future__ import annotations

from dataclasses import dataclass

import apsw

from analyzer.tokens import line_col, significant, tokenize


@dataclass(frozen=True, slots=True)
class ScriptStatement:
    sql: str  # the statement's text, without its final `;`
    line: int  # 1-based line of its first token

    @property
    def verb(self) -> str:
        """The first word in upper case (BEGIN, COMMIT, SELECT, WITH, ...)."""
        words = significant(tokenize(self.sql))
        return words[0].upper if words else ""


def split_script(text: str) -> list[ScriptStatement]:
    statements: list[ScriptStatement] = []
    start = 0
    for token in tokenize(text):
        if token.is_punct(";") and apsw.complete(text[start : token.end]):
            _append(statements, text, start, token.start)
            start = token.end
    _append(statements, text, start, len(text))
    return statements


def _append(statements: list[ScriptStatement], text: str, start: int, end: int) -> None:
    tokens = significant(tokenize(text[start:end]))
    if not tokens:
        return  # only spaces and comments
    first = start + tokens[0].start
    statements.append(ScriptStatement(text[first:end].rstrip(), line_col(text, first)[0]))
