"""From raw SQL text to a copy sqlglot reads the way SQLite does.

The copy ("analysis text") is used for analysis only; what executes is always
the client's original text. Rewrites, each one meaning-preserving for analysis:

- every placeholder (`?`, `?NNN`, `:x`, `@x`, `$x`) becomes `:__pN`, where N is
  the parameter index SQLite itself assigns (sqlglot cannot parse `?NNN` and
  reads `$x` as a column);
- numbers lose their digit separators and hex literals become decimal
  (sqlglot reads `1_000` as `1 AS _000`);
- `REPLACE INTO` becomes `INSERT OR REPLACE INTO` (sqlglot falls back to a
  Command for it) and `UPDATE OR <conflict>` drops the conflict clause, which is
  returned separately (sqlglot does not parse it);
- the type name inside `CAST(x AS type)` becomes BLOB (multi-word type names
  such as FLOATING POINT break sqlglot; the type never matters for keys);
- inside trigger bodies, `RAISE(...)` becomes NULL;
- comments become a space.

It also enforces "exactly one statement per text" (apsw would run every
statement of a multi-statement string), finds the statement's verb, numbers
the parameters, and notices a unary `+` (sqlglot drops it, yet in SQLite it
strips column affinity, so key extraction must not trust such a statement).
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping
from dataclasses import dataclass

from analyzer import tokens as tk
from analyzer.errors import ParameterError, SqlSyntaxError
from analyzer.values import normalise_parameter

_MAX_VARIABLE_NUMBER = 32766  # SQLITE_MAX_VARIABLE_NUMBER of the pinned SQLite build
_DML_VERBS = frozenset({"SELECT", "VALUES", "INSERT", "REPLACE", "UPDATE", "DELETE"})
_CONFLICT_ACTIONS = frozenset({"ROLLBACK", "ABORT", "REPLACE", "FAIL", "IGNORE"})


@dataclass(frozen=True, slots=True)
class ParamSpec:
    """The placeholders of one statement, numbered as SQLite numbers them."""

    count: int
    names: tuple[str | None, ...]  # per index 1..count: the name incl. prefix, or None
    anonymous: frozenset[int]  # indexes bound by a bare `?`

    def bind(self, params: object) -> tuple:
        """The parameter values by index, checked as apsw would check them."""
        if params is None:
            params = ()
        if isinstance(params, (tuple, list)):
            if len(params) != self.count:
                raise ParameterError(
                    "parameter_count",
                    f"the statement has {self.count} parameter(s) but {len(params)} "
                    "value(s) were given",
                )
            return tuple([normalise_parameter(v) for v in params])
        if isinstance(params, Mapping):
            return self._bind_mapping(params)
        raise ParameterError(
            "parameter_type",
            f"parameters must be a list, a tuple or a dict, not {type(params).__name__}",
        )

    def _bind_mapping(self, params: Mapping) -> tuple:
        # apsw looks a named parameter up without its first character (`:a` -> "a").
        values = []
        for index, name in enumerate(self.names, start=1):
            if name is None:
                if index in self.anonymous:
                    raise ParameterError(
                        "parameter_count",
                        f"parameter {index} is a bare '?', which a dict cannot bind",
                    )
                values.append(None)  # an unused index below a ?NNN: SQLite binds NULL
                continue
            key = name[1:]
            if key not in params:
                raise ParameterError("parameter_count", f"no value for parameter {name}")
            values.append(normalise_parameter(params[key]))
        known = {name[1:] for name in self.names if name is not None}
        extra = sorted(str(k) for k in params if k not in known)
        if extra:
            raise ParameterError(
                "parameter_count", f"the statement has no parameter(s) named {', '.join(extra)}"
            )
        return tuple(values)


@dataclass(frozen=True, slots=True)
class PreparedText:
    sql: str
    analysis: str
    tokens: tuple[tk.Token, ...]  # significant tokens of the statement, original text
    verb: str  # upper case; for WITH ... statements, the verb after the WITH clause
    params: ParamSpec
    unary_plus: bool
    update_or: str | None  # the conflict action of UPDATE OR <action>
    piece_starts: tuple[int, ...]  # analysis offsets where copied pieces start
    piece_origins: tuple[tuple[int, int], ...]  # (original offset, original length) per piece

    def original_line_col(self, line: int, col: int) -> tuple[int, int]:
        """Map a 1-based position in the analysis text back to the original text."""
        lines = self.analysis.split("\n")
        line = max(1, min(line, len(lines)))
        offset = sum(len(x) + 1 for x in lines[: line - 1]) + max(col - 1, 0)
        index = bisect.bisect_right(self.piece_starts, offset) - 1
        if index < 0:
            return tk.line_col(self.sql, 0)
        origin, length = self.piece_origins[index]
        inside = min(offset - self.piece_starts[index], max(length - 1, 0))
        return tk.line_col(self.sql, origin + inside)


def _syntax_error(sql: str, offset: int, reason: str) -> SqlSyntaxError:
    line, col = tk.line_col(sql, offset)
    return SqlSyntaxError("syntax_error", reason, line=line, col=col)


def _is_create_trigger(sig: list[tk.Token]) -> bool:
    words = [t.upper for t in sig[:3] if t.kind == tk.WORD]
    return (
        len(words) >= 2
        and words[0] == "CREATE"
        and (
            words[1] == "TRIGGER"
            or (words[1] in ("TEMP", "TEMPORARY") and words[2:3] == ["TRIGGER"])
        )
    )


def _statement_end(sql: str, sig: list[tk.Token]) -> int:
    """Index in `sig` just past the statement (its own `;` excluded)."""
    if not _is_create_trigger(sig):
        for i, token in enumerate(sig):
            if token.is_punct(";"):
                return i
        return len(sig)
    # A trigger body holds `;`-separated statements; like sqlite3_complete(), the
    # trigger ends at an END that directly follows a `;`.
    begin = next((i for i, t in enumerate(sig) if t.is_word("BEGIN")), None)
    if begin is None:
        raise _syntax_error(sql, len(sql), "CREATE TRIGGER without BEGIN ... END")
    after_semicolon = False
    for i in range(begin + 1, len(sig)):
        token = sig[i]
        if token.is_word("END") and after_semicolon:
            return i + 1
        after_semicolon = token.is_punct(";")
    raise _syntax_error(sql, len(sql), "CREATE TRIGGER body is not closed by END")


def _find_verb(sig: list[tk.Token]) -> tuple[str, int]:
    """The statement's verb (upper case) and its index; after WITH, the DML verb."""
    first = sig[0]
    if not first.is_word("WITH"):
        return (first.upper if first.kind == tk.WORD else ""), 0
    depth = 0
    for i, token in enumerate(sig):
        if token.is_punct("("):
            depth += 1
        elif token.is_punct(")"):
            depth -= 1
        elif depth == 0 and token.kind == tk.WORD and token.upper in _DML_VERBS:
            return token.upper, i
    return "WITH", 0


def _matching_paren(sig: list[tk.Token], open_index: int) -> int | None:
    depth = 0
    for i in range(open_index, len(sig)):
        if sig[i].is_punct("("):
            depth += 1
        elif sig[i].is_punct(")"):
            depth -= 1
            if depth == 0:
                return i
    return None


def _number_text(sql: str, token: tk.Token) -> str:
    text = token.text.replace("_", "")
    if text[:2].lower() != "0x":
        return text
    value = int(text, 16)
    if value >= 1 << 64:
        raise _syntax_error(sql, token.start, f"hex literal too big: {token.text}")
    if value >= 1 << 63:  # SQLite reads 64-bit hex literals as two's complement
        return f"({value - (1 << 64)})"
    return str(value)


class _Numbering:
    """SQLite's parameter numbering (sqlite3ExprAssignVarNumber)."""

    def __init__(self) -> None:
        self.count = 0
        self.names: dict[int, str] = {}
        self.by_name: dict[str, int] = {}
        self.anonymous: set[int] = set()

    def index_of(self, sql: str, token: tk.Token) -> int:
        text = token.text
        if text == "?":
            self.count += 1
            self.anonymous.add(self.count)
            return self.count
        if text[0] == "?":
            index = int(text[1:])
            if not 1 <= index <= _MAX_VARIABLE_NUMBER:
                raise _syntax_error(
                    sql,
                    token.start,
                    f"variable number must be between ?1 and ?{_MAX_VARIABLE_NUMBER}",
                )
            self.count = max(self.count, index)
            self.names.setdefault(index, text)
            return index
        index = self.by_name.get(text)
        if index is None:
            self.count += 1
            index = self.by_name[text] = self.count
            self.names[index] = text
        return index

    def spec(self) -> ParamSpec:
        names = tuple(self.names.get(i) for i in range(1, self.count + 1))
        return ParamSpec(self.count, names, frozenset(self.anonymous))


def prepare(sql: str, *, in_trigger: bool = False) -> PreparedText:
    """Check that `sql` is one statement and build its analysis text."""
    all_tokens = tk.tokenize(sql)
    for token in all_tokens:
        if token.kind == tk.ILLEGAL:
            raise _syntax_error(sql, token.start, f"unrecognized token: {token.text!r}")
    sig = tk.significant(all_tokens)
    while sig and sig[0].is_punct(";"):
        sig.pop(0)
    if not sig:
        raise SqlSyntaxError("empty_statement", "the statement is empty")
    end = _statement_end(sql, sig)
    trailing = [t for t in sig[end:] if not t.is_punct(";")]
    if trailing:
        line, col = tk.line_col(sql, trailing[0].start)
        raise SqlSyntaxError(
            "multiple_statements",
            "the text holds more than one statement; pass each statement separately",
            line=line,
            col=col,
        )
    sig = sig[:end]
    verb, verb_index = _find_verb(sig)

    replacements: dict[int, str] = {}  # index in sig -> analysis text
    dropped: set[int] = set()
    numbering = _Numbering()
    unary_plus = False
    update_or = None
    for i, token in enumerate(sig):
        if token.kind == tk.VARIABLE:
            replacements[i] = f":__p{numbering.index_of(sql, token)}"
        elif token.kind == tk.NUMBER:
            replacements[i] = _number_text(sql, token)
        elif token.is_punct("+") and _is_unary_position(sig, i):
            unary_plus = True
        elif token.kind == tk.WORD:
            upper = token.upper
            if upper == "REPLACE" and verb == "REPLACE" and i == verb_index:
                replacements[i] = "INSERT OR REPLACE"
            elif (
                upper == "UPDATE"
                and i + 2 < len(sig)
                and sig[i + 1].is_word("OR")
                and sig[i + 2].is_word(*_CONFLICT_ACTIONS)
            ):
                update_or = sig[i + 2].upper
                dropped.update((i + 1, i + 2))
            elif upper == "CAST" and i + 1 < len(sig) and sig[i + 1].is_punct("("):
                _blank_cast_type(sig, i + 1, replacements, dropped)
            elif upper == "RAISE" and in_trigger and i + 1 < len(sig) and sig[i + 1].is_punct("("):
                close = _matching_paren(sig, i + 1)
                if close is not None:
                    replacements[i] = "NULL"
                    dropped.update(range(i + 1, close + 1))

    pieces: list[str] = []
    starts: list[int] = []
    origins: list[tuple[int, int]] = []
    length = 0
    previous_end = None
    for i, token in enumerate(sig):
        if i in dropped:
            continue
        text = replacements.get(i, token.text)
        if previous_end is not None and (previous_end != token.start or i - 1 in dropped):
            pieces.append(" ")  # any gap (spaces, comments, dropped words) becomes one space
            length += 1
        previous_end = token.end
        starts.append(length)
        origins.append((token.start, len(token.text)))
        pieces.append(text)
        length += len(text)
    return PreparedText(
        sql=sql,
        analysis="".join(pieces),
        tokens=tuple(sig),
        verb=verb,
        params=numbering.spec(),
        unary_plus=unary_plus,
        update_or=update_or,
        piece_starts=tuple(starts),
        piece_origins=tuple(origins),
    )


def _is_unary_position(sig: list[tk.Token], i: int) -> bool:
    if i == 0:
        return True
    prev = sig[i - 1]
    if prev.kind == tk.PUNCT:
        return prev.text != ")"
    if prev.kind == tk.WORD:
        return prev.upper in tk.KEYWORDS and prev.upper not in tk.OPERAND_KEYWORDS
    return False


def _blank_cast_type(
    sig: list[tk.Token], open_index: int, replacements: dict[int, str], dropped: set[int]
) -> None:
    close = _matching_paren(sig, open_index)
    if close is None:
        return
    depth = 0
    as_index = None
    for j in range(open_index + 1, close):
        if sig[j].is_punct("("):
            depth += 1
        elif sig[j].is_punct(")"):
            depth -= 1
        elif depth == 0 and sig[j].is_word("AS"):
            as_index = j
    if as_index is None or as_index + 1 >= close:
        return
    replacements[as_index + 1] = "BLOB"
    dropped.update(range(as_index + 2, close))
