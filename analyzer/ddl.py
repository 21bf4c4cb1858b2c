"""Reading CREATE / DROP / ALTER statements token by token.

sqlglot cannot be trusted with SQLite DDL: it rejects valid declared types
(`a FLOATING POINT`), which carry the column affinity, splits trigger bodies,
and turns ALTER TABLE into an opaque Command. SQLite's DDL grammar is small
and stable, so it is read here directly from `tokens`; only the expressions
embedded in DDL (DEFAULT, view bodies, trigger bodies) go to sqlglot, by the
callers. Anything unexpected raises `DdlError`, and callers stay conservative.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from analyzer import tokens as tk
from analyzer.tokens import Token, fold


class DdlError(Exception):
    """The DDL text does not have the shape this reader knows."""


_COLUMN_CONSTRAINT_STARTS = frozenset(
    {
        "CONSTRAINT",
        "PRIMARY",
        "NOT",
        "NULL",
        "UNIQUE",
        "CHECK",
        "DEFAULT",
        "COLLATE",
        "REFERENCES",
        "GENERATED",
        "AS",
    }
)
_TABLE_CONSTRAINT_STARTS = frozenset({"CONSTRAINT", "PRIMARY", "UNIQUE", "CHECK", "FOREIGN"})
_FK_ACTIONS = {"CASCADE": "cascade", "RESTRICT": "restrict"}


@dataclass(frozen=True, slots=True)
class Span:
    """A slice of the original SQL text (token-aligned)."""

    start: int
    end: int

    def text(self, sql: str) -> str:
        return sql[self.start : self.end]


@dataclass(slots=True)
class IndexedColumn:
    name: str | None  # the column, when the item is a plain column name
    collation: str | None
    names: frozenset[str]  # every identifier the item mentions (folded)


@dataclass(slots=True)
class ForeignKeyDef:
    columns: tuple[str, ...]
    parent: str
    parent_columns: tuple[str, ...] | None
    on_delete: str = "no action"
    on_update: str = "no action"


@dataclass(slots=True)
class DefaultDef:
    kind: str  # "constant", "clock" (CURRENT_*) or "expression"
    text: str  # the expression text (for "expression"), the keyword (for "clock")


@dataclass(slots=True)
class ColumnDef:
    name: str
    declared_type: str
    primary_key: bool = False
    primary_key_desc: bool = False
    autoincrement: bool = False
    not_null: bool = False
    unique: bool = False
    collation: str | None = None
    default: DefaultDef | None = None
    generated_names: frozenset[str] | None = None  # names used by a generated column
    references: ForeignKeyDef | None = None
    replace_on_conflict: bool = False


@dataclass(slots=True)
class TableDef:
    name: str
    qualifier: str | None
    temporary: bool
    columns: list[ColumnDef] = field(default_factory=list)
    primary_key: list[IndexedColumn] | None = None  # table-level PRIMARY KEY (...)
    autoincrement: bool = False
    uniques: list[list[IndexedColumn]] = field(default_factory=list)
    foreign_keys: list[ForeignKeyDef] = field(default_factory=list)
    without_rowid: bool = False
    strict: bool = False
    replace_on_conflict: bool = False
    as_select: Span | None = None


@dataclass(slots=True)
class IndexDef:
    name: str
    qualifier: str | None
    table: str
    unique: bool
    columns: list[IndexedColumn]
    partial: bool


@dataclass(slots=True)
class TriggerDef:
    name: str
    qualifier: str | None
    temporary: bool
    table: str
    events: frozenset[str]  # "insert", "update", "delete"
    when: Span | None
    body: list[Span]


@dataclass(slots=True)
class ViewDef:
    name: str
    qualifier: str | None
    temporary: bool
    select: Span


@dataclass(slots=True)
class VirtualTableDef:
    name: str
    qualifier: str | None
    module: str


@dataclass(slots=True)
class DropDef:
    kind: str
    name: str
    qualifier: str | None


@dataclass(slots=True)
class AlterDef:
    table: str
    qualifier: str | None
    added_column: ColumnDef | None


class _Cursor:
    def __init__(self, tokens: tuple[Token, ...] | list[Token]) -> None:
        self.tokens = tokens
        self.i = 0

    def peek(self, ahead: int = 0) -> Token | None:
        j = self.i + ahead
        return self.tokens[j] if j < len(self.tokens) else None

    def at_word(self, *words: str) -> bool:
        token = self.peek()
        return token is not None and token.is_word(*words)

    def at_punct(self, text: str) -> bool:
        token = self.peek()
        return token is not None and token.is_punct(text)

    def take_word(self, *words: str) -> str | None:
        if self.at_word(*words):
            self.i += 1
            return self.tokens[self.i - 1].upper
        return None

    def take_punct(self, text: str) -> bool:
        if self.at_punct(text):
            self.i += 1
            return True
        return False

    def expect_word(self, *words: str) -> str:
        word = self.take_word(*words)
        if word is None:
            raise DdlError(f"expected {' or '.join(words)} at {self._where()}")
        return word

    def expect_punct(self, text: str) -> None:
        if not self.take_punct(text):
            raise DdlError(f"expected {text!r} at {self._where()}")

    def name(self) -> str:
        token = self.peek()
        if token is None or not token.is_name:
            raise DdlError(f"expected a name at {self._where()}")
        self.i += 1
        return token.name

    def qualified_name(self) -> tuple[str | None, str]:
        first = self.name()
        if self.take_punct("."):
            return fold(first), self.name()
        return None, first

    def group(self) -> tuple[int, int]:
        """Consume a parenthesised group; return the token range inside it."""
        self.expect_punct("(")
        start = self.i
        depth = 1
        while self.i < len(self.tokens):
            token = self.tokens[self.i]
            self.i += 1
            if token.is_punct("("):
                depth += 1
            elif token.is_punct(")"):
                depth -= 1
                if depth == 0:
                    return start, self.i - 1
        raise DdlError("unbalanced parentheses")

    def span(self, start: int, end: int) -> Span:
        if start >= end:
            raise DdlError("empty clause")
        return Span(self.tokens[start].start, self.tokens[end - 1].end)

    def done(self) -> bool:
        return self.i >= len(self.tokens)

    def _where(self) -> str:
        token = self.peek()
        return "end of statement" if token is None else repr(token.text)


def _names_in(tokens: tuple[Token, ...] | list[Token]) -> frozenset[str]:
    return frozenset(fold(t.name) for t in tokens if t.kind in (tk.WORD, tk.QUOTED))


def _split_commas(tokens: tuple[Token, ...] | list[Token]) -> list[list[Token]]:
    items: list[list[Token]] = [[]]
    depth = 0
    for token in tokens:
        if token.is_punct("("):
            depth += 1
        elif token.is_punct(")"):
            depth -= 1
        if depth == 0 and token.is_punct(","):
            items.append([])
        else:
            items[-1].append(token)
    return [item for item in items if item]


def _indexed_column(item: list[Token]) -> IndexedColumn:
    names = _names_in(item)
    rest = list(item)
    if rest and rest[-1].is_word("ASC", "DESC"):
        rest.pop()
    collation = None
    if len(rest) >= 3 and rest[-2].is_word("COLLATE") and rest[-1].is_name:
        collation = fold(rest[-1].name)
        rest = rest[:-2]
    if len(rest) == 1 and rest[0].kind in (tk.WORD, tk.QUOTED, tk.STRING):
        return IndexedColumn(fold(rest[0].name), collation, frozenset({fold(rest[0].name)}))
    return IndexedColumn(None, collation, names)


def _indexed_columns(cursor: _Cursor) -> list[IndexedColumn]:
    start, end = cursor.group()
    items = _split_commas(cursor.tokens[start:end])
    if not items:
        raise DdlError("empty column list")
    return [_indexed_column(item) for item in items]


def _conflict_clause(cursor: _Cursor) -> bool:
    """Consume `ON CONFLICT action`; True when the action is REPLACE."""
    if cursor.at_word("ON") and cursor.peek(1) is not None and cursor.peek(1).is_word("CONFLICT"):
        cursor.i += 2
        return cursor.expect_word("ROLLBACK", "ABORT", "FAIL", "IGNORE", "REPLACE") == "REPLACE"
    return False


def _foreign_key_clause(cursor: _Cursor, columns: tuple[str, ...]) -> ForeignKeyDef:
    parent = fold(cursor.name())
    parent_columns = None
    if cursor.at_punct("("):
        start, end = cursor.group()
        parent_columns = tuple(
            fold(item[0].name) for item in _split_commas(cursor.tokens[start:end])
        )
    fk = ForeignKeyDef(columns, parent, parent_columns)
    while True:
        if cursor.take_word("ON"):
            event = cursor.expect_word("DELETE", "UPDATE")
            if cursor.take_word("SET"):
                action = "set " + cursor.expect_word("NULL", "DEFAULT").lower()
            elif cursor.take_word("NO"):
                cursor.expect_word("ACTION")
                action = "no action"
            else:
                action = _FK_ACTIONS[cursor.expect_word("CASCADE", "RESTRICT")]
            if event == "DELETE":
                fk.on_delete = action
            else:
                fk.on_update = action
        elif cursor.take_word("MATCH"):
            cursor.name()
        elif cursor.at_word("NOT", "DEFERRABLE"):
            cursor.take_word("NOT")
            cursor.expect_word("DEFERRABLE")
            if cursor.take_word("INITIALLY"):
                cursor.expect_word("DEFERRED", "IMMEDIATE")
        else:
            return fk


def _default(cursor: _Cursor) -> DefaultDef:
    token = cursor.peek()
    if token is None:
        raise DdlError("DEFAULT without a value")
    cursor.i += 1
    if token.is_word("CURRENT_TIME", "CURRENT_DATE", "CURRENT_TIMESTAMP"):
        return DefaultDef("clock", token.upper)
    if token.is_punct("+") or token.is_punct("-"):
        number = cursor.peek()
        if number is None or number.kind != tk.NUMBER:
            raise DdlError("signed DEFAULT without a number")
        cursor.i += 1
        return DefaultDef("constant", token.text + number.text)
    if token.kind in (tk.NUMBER, tk.STRING, tk.BLOB, tk.WORD, tk.QUOTED):
        return DefaultDef("constant", token.text)
    raise DdlError(f"unexpected DEFAULT value {token.text!r}")


def _column_def(cursor: _Cursor, sql: str) -> ColumnDef:
    name = fold(cursor.name())
    type_start = cursor.i
    while True:
        token = cursor.peek()
        if token is None or token.is_punct(",") or token.is_punct(")"):
            break
        if token.kind == tk.WORD and token.upper in _COLUMN_CONSTRAINT_STARTS:
            break
        if token.is_punct("("):
            cursor.group()
            break
        if not token.is_name:
            raise DdlError(f"unexpected {token.text!r} in the type of column {name}")
        cursor.i += 1
    declared = ""
    if cursor.i > type_start:
        declared = sql[cursor.tokens[type_start].start : cursor.tokens[cursor.i - 1].end]
    column = ColumnDef(name, declared)
    while True:
        if cursor.take_word("CONSTRAINT"):
            cursor.name()
        elif cursor.take_word("PRIMARY"):
            cursor.expect_word("KEY")
            column.primary_key = True
            column.primary_key_desc = cursor.take_word("ASC", "DESC") == "DESC"
            column.replace_on_conflict |= _conflict_clause(cursor)
            column.autoincrement = cursor.take_word("AUTOINCREMENT") is not None
        elif cursor.take_word("NOT"):
            cursor.expect_word("NULL")
            column.not_null = True
            column.replace_on_conflict |= _conflict_clause(cursor)
        elif cursor.take_word("NULL"):
            _conflict_clause(cursor)
        elif cursor.take_word("UNIQUE"):
            column.unique = True
            column.replace_on_conflict |= _conflict_clause(cursor)
        elif cursor.take_word("CHECK"):
            cursor.group()
        elif cursor.take_word("DEFAULT"):
            column.default = _default_with_text(cursor, sql)
        elif cursor.take_word("COLLATE"):
            column.collation = fold(cursor.name())
        elif cursor.take_word("REFERENCES"):
            column.references = _foreign_key_clause(cursor, (name,))
        elif cursor.at_word("GENERATED", "AS"):
            if cursor.take_word("GENERATED"):
                cursor.expect_word("ALWAYS")
            cursor.expect_word("AS")
            start, end = cursor.group()
            column.generated_names = _names_in(cursor.tokens[start:end])
            cursor.take_word("STORED", "VIRTUAL")
        else:
            return column


def _default_with_text(cursor: _Cursor, sql: str) -> DefaultDef:
    if cursor.at_punct("("):
        start, end = cursor.group()
        return DefaultDef("expression", cursor.span(start, end).text(sql))
    return _default(cursor)


def _table_constraint(cursor: _Cursor, table: TableDef) -> None:
    if cursor.take_word("CONSTRAINT"):
        cursor.name()
    if cursor.take_word("PRIMARY"):
        cursor.expect_word("KEY")
        start, end = cursor.group()
        inner = list(cursor.tokens[start:end])
        if inner and inner[-1].is_word("AUTOINCREMENT"):
            inner.pop()
            table.autoincrement = True
        table.primary_key = [_indexed_column(item) for item in _split_commas(inner)]
        table.replace_on_conflict |= _conflict_clause(cursor)
    elif cursor.take_word("UNIQUE"):
        table.uniques.append(_indexed_columns(cursor))
        table.replace_on_conflict |= _conflict_clause(cursor)
    elif cursor.take_word("CHECK"):
        cursor.group()
    elif cursor.take_word("FOREIGN"):
        cursor.expect_word("KEY")
        start, end = cursor.group()
        columns = tuple(fold(item[0].name) for item in _split_commas(cursor.tokens[start:end]))
        cursor.expect_word("REFERENCES")
        table.foreign_keys.append(_foreign_key_clause(cursor, columns))
    else:
        raise DdlError(f"unexpected table constraint at {cursor._where()}")


def _create_header(cursor: _Cursor) -> tuple[bool, str]:
    cursor.expect_word("CREATE")
    temporary = cursor.take_word("TEMP", "TEMPORARY") is not None
    kind = cursor.expect_word("TABLE", "INDEX", "UNIQUE", "VIEW", "TRIGGER", "VIRTUAL")
    return temporary, kind


def _if_exists(cursor: _Cursor, negated: bool) -> None:
    if cursor.take_word("IF"):
        if negated:
            cursor.expect_word("NOT")
        cursor.expect_word("EXISTS")


def parse_create_table(tokens: tuple[Token, ...] | list[Token], sql: str) -> TableDef:
    cursor = _Cursor(tokens)
    temporary, kind = _create_header(cursor)
    if kind != "TABLE":
        raise DdlError("not a CREATE TABLE statement")
    _if_exists(cursor, negated=True)
    qualifier, name = cursor.qualified_name()
    table = TableDef(fold(name), qualifier, temporary)
    if cursor.take_word("AS"):
        table.as_select = cursor.span(cursor.i, len(tokens))
        return table
    cursor.expect_punct("(")
    while not (cursor.at_word(*_TABLE_CONSTRAINT_STARTS)):
        table.columns.append(_column_def(cursor, sql))
        if not cursor.take_punct(","):
            break
    while not cursor.at_punct(")"):
        _table_constraint(cursor, table)
        cursor.take_punct(",")
    cursor.expect_punct(")")
    while not cursor.done():
        option = cursor.expect_word("WITHOUT", "STRICT")
        if option == "WITHOUT":
            if fold(cursor.name()) != "rowid":
                raise DdlError("WITHOUT must be followed by ROWID")
            table.without_rowid = True
        else:
            table.strict = True
        if not cursor.take_punct(","):
            break
    if not cursor.done():
        raise DdlError(f"unexpected {cursor._where()} after the column list")
    if not table.columns:
        raise DdlError("a table needs at least one column")
    return table


def parse_column_def(tokens: tuple[Token, ...] | list[Token], sql: str) -> ColumnDef:
    """One column definition, as in ALTER TABLE ... ADD COLUMN."""
    cursor = _Cursor(tokens)
    column = _column_def(cursor, sql)
    if not cursor.done():
        raise DdlError(f"unexpected {cursor._where()} in a column definition")
    return column


def parse_create_index(tokens: tuple[Token, ...] | list[Token]) -> IndexDef:
    cursor = _Cursor(tokens)
    _, kind = _create_header(cursor)
    unique = kind == "UNIQUE"
    if unique:
        cursor.expect_word("INDEX")
    elif kind != "INDEX":
        raise DdlError("not a CREATE INDEX statement")
    _if_exists(cursor, negated=True)
    qualifier, name = cursor.qualified_name()
    cursor.expect_word("ON")
    table = fold(cursor.name())
    columns = _indexed_columns(cursor)
    partial = False
    if cursor.take_word("WHERE"):
        where_names = _names_in(cursor.tokens[cursor.i :])
        columns.append(IndexedColumn(None, None, where_names))
        partial = True
    elif not cursor.done():
        raise DdlError(f"unexpected {cursor._where()} in CREATE INDEX")
    return IndexDef(fold(name), qualifier, table, unique, columns, partial)


def parse_create_trigger(tokens: tuple[Token, ...] | list[Token]) -> TriggerDef:
    cursor = _Cursor(tokens)
    temporary, kind = _create_header(cursor)
    if kind != "TRIGGER":
        raise DdlError("not a CREATE TRIGGER statement")
    _if_exists(cursor, negated=True)
    qualifier, name = cursor.qualified_name()
    if cursor.take_word("INSTEAD"):
        cursor.expect_word("OF")
    else:
        cursor.take_word("BEFORE", "AFTER")
    event = cursor.expect_word("DELETE", "INSERT", "UPDATE")
    if event == "UPDATE" and cursor.take_word("OF"):
        cursor.name()
        while cursor.take_punct(","):
            cursor.name()
    cursor.expect_word("ON")
    table = fold(cursor.name())
    if cursor.take_word("FOR"):
        cursor.expect_word("EACH")
        cursor.expect_word("ROW")
    when = None
    if cursor.take_word("WHEN"):
        start = cursor.i
        while not cursor.done() and not cursor.at_word("BEGIN"):
            cursor.i += 1
        when = cursor.span(start, cursor.i)
    cursor.expect_word("BEGIN")
    body: list[Span] = []
    start = cursor.i
    for j in range(cursor.i, len(tokens)):
        if tokens[j].is_punct(";"):
            body.append(cursor.span(start, j))
            start = j + 1
    if start >= len(tokens) or not tokens[start].is_word("END") or start != len(tokens) - 1:
        raise DdlError("trigger body must be `stmt; ... stmt; END`")
    return TriggerDef(
        fold(name), qualifier, temporary, table, frozenset({event.lower()}), when, body
    )


def parse_create_view(tokens: tuple[Token, ...] | list[Token]) -> ViewDef:
    cursor = _Cursor(tokens)
    temporary, kind = _create_header(cursor)
    if kind != "VIEW":
        raise DdlError("not a CREATE VIEW statement")
    _if_exists(cursor, negated=True)
    qualifier, name = cursor.qualified_name()
    if cursor.at_punct("("):
        cursor.group()
    cursor.expect_word("AS")
    return ViewDef(fold(name), qualifier, temporary, cursor.span(cursor.i, len(tokens)))


def parse_create_virtual_table(tokens: tuple[Token, ...] | list[Token]) -> VirtualTableDef:
    cursor = _Cursor(tokens)
    _, kind = _create_header(cursor)
    if kind != "VIRTUAL":
        raise DdlError("not a CREATE VIRTUAL TABLE statement")
    cursor.expect_word("TABLE")
    _if_exists(cursor, negated=True)
    qualifier, name = cursor.qualified_name()
    cursor.expect_word("USING")
    return VirtualTableDef(fold(name), qualifier, fold(cursor.name()))


def parse_drop(tokens: tuple[Token, ...] | list[Token]) -> DropDef:
    cursor = _Cursor(tokens)
    cursor.expect_word("DROP")
    kind = cursor.expect_word("TABLE", "INDEX", "VIEW", "TRIGGER").lower()
    _if_exists(cursor, negated=False)
    qualifier, name = cursor.qualified_name()
    if not cursor.done():
        raise DdlError(f"unexpected {cursor._where()} in DROP")
    return DropDef(kind, fold(name), qualifier)


def parse_alter(tokens: tuple[Token, ...] | list[Token], sql: str) -> AlterDef:
    cursor = _Cursor(tokens)
    cursor.expect_word("ALTER")
    cursor.expect_word("TABLE")
    qualifier, name = cursor.qualified_name()
    added = None
    action = cursor.expect_word("RENAME", "ADD", "DROP")
    if action == "ADD":
        cursor.take_word("COLUMN")
        added = parse_column_def(tokens[cursor.i :], sql)
    return AlterDef(fold(name), qualifier, added)
