"""The database schema as the analyzer needs it, read from SQLite's catalog.

Theory of operation: the caller reads `sqlite_master` (type, name, tbl_name,
sql) and `PRAGMA schema_version` from a replica and passes them in as plain
data; `Schema.from_catalog` turns them into immutable records. Everything the
key rules depend on is decided here once: which columns address a row (the
key), how key values are typed, which other unique constraints make writes
read other rows, foreign keys and their actions, triggers, views and their
base tables, and what column defaults imply for determinism.

An object whose SQL cannot be read is kept with a `Problem`: statements that
touch it are refused rather than analysed on a guess. A Schema also owns the
cache of statement plans made against it (plans depend on the schema, so a new
schema version starts with an empty cache).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

from analyzer import ddl
from analyzer.errors import AnalyzerError, error_for
from analyzer.functions import Findings, check_functions
from analyzer.parsing import parse_fragment, parse_statement
from analyzer.sqltext import prepare
from analyzer.tokens import fold, significant, tokenize
from analyzer.tree import ROWID_NAMES, cte_names, table_refs
from analyzer.values import UNKNOWN, Affinity, affinity_of, apply_affinity

_INT64_LIMIT = float(1 << 63)
# The name the key uses for a rowid that has no INTEGER PRIMARY KEY column. It
# contains NUL, which no SQL text can, so no real column can be called that.
ROWID = "\x00rowid"


@dataclass(frozen=True, slots=True)
class Problem:
    """Why statements touching a catalog object are refused."""

    code: str
    reason: str

    def error(self) -> AnalyzerError:
        return error_for(self.code, self.reason)

    @classmethod
    def of(cls, error: AnalyzerError, what: str) -> Problem:
        return cls(error.code, f"{what}: {error.reason}")


@dataclass(frozen=True, slots=True)
class ColumnDefault:
    notes: tuple[str, ...]
    problem: Problem | None


@dataclass(frozen=True, slots=True)
class Column:
    name: str  # folded
    declared_type: str
    affinity: Affinity
    collation: str | None  # folded; None means BINARY
    not_null: bool
    default: ColumnDefault | None
    generated: bool


@dataclass(frozen=True, slots=True)
class ForeignKey:
    child: str
    columns: tuple[str, ...]
    parent: str
    parent_columns: tuple[str, ...] | None  # None: the parent's primary key
    on_delete: str  # "no action", "restrict", "set null", "set default", "cascade"
    on_update: str


@dataclass(frozen=True, slots=True)
class KeyColumn:
    """One component of a table's row key, and how SQLite types its values."""

    name: str  # the column, or ROWID for a rowid table without INTEGER PRIMARY KEY
    affinity: Affinity
    is_rowid: bool

    def convert(self, value: object) -> object:
        """The key value SQLite stores/compares for `value`, or UNKNOWN."""
        value = apply_affinity(value, self.affinity)
        kind = type(value)
        if self.is_rowid:
            return value if kind is int else UNKNOWN
        if kind is float:
            if value == 0:
                return 0.0  # -0.0 and 0.0 are the same key
            if (
                self.affinity is Affinity.BLOB
                and value.is_integer()  # type: ignore[union-attr]
                and -_INT64_LIMIT <= value < _INT64_LIMIT
            ):
                return int(value)  # type: ignore[arg-type]  # SQLite equates 7 and 7.0
        return value


@dataclass(frozen=True, slots=True)
class Table:
    name: str
    columns: tuple[Column, ...]
    without_rowid: bool
    primary_key: tuple[str, ...]
    rowid_alias: str | None
    autoincrement: bool
    key: tuple[KeyColumn, ...] | None  # None: rows cannot be addressed one by one
    unique_sets: tuple[frozenset[str], ...]  # unique constraints other than the key
    foreign_keys: tuple[ForeignKey, ...]
    replace_on_conflict: bool  # some constraint says ON CONFLICT REPLACE
    virtual: bool = False
    problem: Problem | None = None
    by_name: Mapping[str, Column] = field(default_factory=dict, compare=False, repr=False)

    @property
    def has_rowid(self) -> bool:
        return not self.without_rowid and not self.virtual

    def canonical_column(self, name: str) -> str:
        """`name` with rowid/_rowid_/oid (unless a real column has that name) mapped
        to the column that holds the rowid, or to ROWID."""
        if name in ROWID_NAMES and name not in self.by_name and self.has_rowid:
            return self.rowid_alias or ROWID
        return name

    def key_position(self, name: str) -> int | None:
        if self.key is None:
            return None
        name = self.canonical_column(name)
        for i, key_column in enumerate(self.key):
            if key_column.name == name:
                return i
        return None

    @property
    def point_insertable(self) -> bool:
        """Whether an INSERT that names its key can be a point write. A rowid table
        whose key is not the rowid assigns rowids from table state, so no."""
        if self.key is None or self.autoincrement or self.unique_sets:
            return False
        return self.without_rowid or self.key[0].is_rowid

    @property
    def key_names(self) -> frozenset[str]:
        return frozenset(k.name for k in self.key) if self.key else frozenset()


@dataclass(frozen=True, slots=True)
class Trigger:
    name: str
    table: str
    events: frozenset[str]
    problem: Problem | None
    notes: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class View:
    name: str
    references: frozenset[str]  # tables and views named in its body
    base_tables: frozenset[str]  # stored tables reached through nested views
    problem: Problem | None
    notes: tuple[str, ...]


@dataclass(frozen=True, slots=True, eq=False)
class Schema:
    version: int
    tables: Mapping[str, Table]
    views: Mapping[str, View]
    triggers: tuple[Trigger, ...]
    children: Mapping[str, tuple[ForeignKey, ...]] = field(repr=False)
    triggers_by_table: Mapping[str, tuple[Trigger, ...]] = field(repr=False)
    plans: dict = field(default_factory=dict, repr=False)  # SQL text -> plan or refusal

    @classmethod
    def empty(cls, version: int = 0) -> Schema:
        return cls.from_catalog((), version)

    @classmethod
    def from_catalog(cls, rows: Iterable[Sequence], version: int = 0) -> Schema:
        """Build from `sqlite_master` rows (type, name, tbl_name, sql)."""
        by_type: dict[str, list[tuple[str, str, str]]] = {}
        for row in rows:
            kind, name, table_name, sql = row[0], row[1], row[2], row[3]
            if sql is not None:
                by_type.setdefault(str(kind), []).append((str(name), str(table_name), str(sql)))
        indexes = [_read_index(name, tbl, sql) for name, tbl, sql in by_type.get("index", [])]
        tables = {}
        for name, _, sql in by_type.get("table", []):
            table = _read_table(name, sql, indexes)
            tables[table.name] = table
        views = _read_views(by_type.get("view", []))
        triggers = tuple(
            _read_trigger(name, tbl, sql) for name, tbl, sql in by_type.get("trigger", [])
        )
        children: dict[str, list[ForeignKey]] = {}
        for table in tables.values():
            for fk in table.foreign_keys:
                children.setdefault(fk.parent, []).append(fk)
        triggers_by_table: dict[str, list[Trigger]] = {}
        for trigger in triggers:
            triggers_by_table.setdefault(trigger.table, []).append(trigger)
        return cls(
            version=int(version),
            tables=MappingProxyType(tables),
            views=MappingProxyType(views),
            triggers=triggers,
            children=MappingProxyType({k: tuple(v) for k, v in children.items()}),
            triggers_by_table=MappingProxyType({k: tuple(v) for k, v in triggers_by_table.items()}),
        )


def _tokens(sql: str) -> list:
    tokens = significant(tokenize(sql))
    while tokens and tokens[-1].is_punct(";"):
        tokens.pop()
    return tokens


def _binary(collation: str | None) -> bool:
    return collation is None or collation == "binary"


def _read_table(name: str, sql: str, indexes: list) -> Table:
    tokens = _tokens(sql)
    if tokens[:3] and tokens[1].is_word("VIRTUAL"):
        return _opaque(name, None, virtual=True)
    try:
        definition = ddl.parse_create_table(tokens, sql)
    except ddl.DdlError as error:
        return _opaque(name, Problem("unsupported_schema", f"table {name!r}: {error}"))
    return _build_table(definition, [i for i in indexes if i.table == definition.name])


def _opaque(name: str, problem: Problem | None, *, virtual: bool = False) -> Table:
    return Table(
        name=fold(name),
        columns=(),
        without_rowid=False,
        primary_key=(),
        rowid_alias=None,
        autoincrement=False,
        key=None,
        unique_sets=(),
        foreign_keys=(),
        replace_on_conflict=False,
        virtual=virtual,
        problem=problem,
    )


def _build_table(definition: ddl.TableDef, indexes: list[ddl.IndexDef]) -> Table:
    name = definition.name
    columns = tuple(
        Column(
            name=c.name,
            declared_type=c.declared_type,
            affinity=affinity_of(c.declared_type, strict=definition.strict),
            collation=None if _binary(c.collation) else c.collation,
            not_null=c.not_null,
            default=read_default(name, c),
            generated=c.generated_names is not None,
        )
        for c in definition.columns
    )
    by_name = {c.name: c for c in columns}
    generated = {c.name: c.generated_names for c in definition.columns if c.generated_names}

    pk_items = definition.primary_key
    column_pk = [c for c in definition.columns if c.primary_key]
    if pk_items is not None:
        primary_key = tuple(i.name or "" for i in pk_items)
        pk_collations = [i.collation for i in pk_items]
        alias_allowed = True
    else:
        primary_key = tuple(c.name for c in column_pk)
        pk_collations = [None] * len(primary_key)
        alias_allowed = not any(c.primary_key_desc for c in column_pk)
    autoincrement = definition.autoincrement or any(c.autoincrement for c in column_pk)

    rowid_alias = None
    if (
        not definition.without_rowid
        and len(primary_key) == 1
        and alias_allowed
        and primary_key[0] in by_name
        and by_name[primary_key[0]].declared_type.upper() == "INTEGER"
    ):
        rowid_alias = primary_key[0]

    key = _key(definition, primary_key, pk_collations, rowid_alias, by_name)
    key_set = frozenset(k.name for k in key) if key else frozenset(primary_key)

    raw_sets: list[tuple[frozenset[str], bool]] = []  # (columns, plain binary list)
    for c in definition.columns:
        if c.unique:
            raw_sets.append((frozenset({c.name}), _binary(c.collation)))
    for items in definition.uniques:
        raw_sets.append(_index_set(items, by_name))
    for index in indexes:
        if index.unique:
            plain_names, plain = _index_set(index.columns, by_name)
            raw_sets.append((plain_names, plain and not index.partial))
    if primary_key and rowid_alias is None:
        raw_sets.append((frozenset(primary_key), False))  # the PK index itself
    unique_sets = []
    for names, plain in raw_sets:
        if plain and names == key_set:
            continue  # checks only the row the key already names
        if names == frozenset(primary_key) and key is not None and not key[0].is_rowid:
            continue  # the primary key is the key
        unique_sets.append(_with_generated_inputs(names or frozenset(by_name), generated))

    foreign_keys = tuple(
        ForeignKey(name, fk.columns, fk.parent, fk.parent_columns, fk.on_delete, fk.on_update)
        for fk in [c.references for c in definition.columns if c.references]
        + definition.foreign_keys
    )
    return Table(
        name=name,
        columns=columns,
        without_rowid=definition.without_rowid,
        primary_key=primary_key,
        rowid_alias=rowid_alias,
        autoincrement=autoincrement,
        key=key,
        unique_sets=tuple(unique_sets),
        foreign_keys=foreign_keys,
        replace_on_conflict=definition.replace_on_conflict
        or any(c.replace_on_conflict for c in definition.columns),
        by_name=MappingProxyType(by_name),
    )


def _key(
    definition, primary_key, pk_collations, rowid_alias, by_name
) -> tuple[KeyColumn, ...] | None:
    if definition.name == "sqlite_sequence":
        return None  # SQLite maintains it; see the AUTOINCREMENT rule in the planner
    if rowid_alias is not None:
        return (KeyColumn(rowid_alias, Affinity.INTEGER, True),)
    if not primary_key:
        if definition.without_rowid:
            return None
        return (KeyColumn(ROWID, Affinity.INTEGER, True),)
    key = []
    for column_name, collation in zip(primary_key, pk_collations):
        column = by_name.get(column_name)
        # A key column compared under NOCASE/RTRIM has many spellings per row.
        if column is None or not _binary(collation) or column.collation is not None:
            return None
        key.append(KeyColumn(column_name, column.affinity, False))
    return tuple(key)


def _index_set(
    items: list[ddl.IndexedColumn], by_name: Mapping[str, Column]
) -> tuple[frozenset[str], bool]:
    names: set[str] = set()
    plain = True
    for item in items:
        names |= {n for n in item.names if n in by_name}
        if item.name is None or not _binary(item.collation):
            plain = False
    return frozenset(names), plain


def _with_generated_inputs(
    names: frozenset[str], generated: Mapping[str, frozenset[str]]
) -> frozenset[str]:
    """A unique constraint on a generated column is touched by writes to its inputs."""
    result = set(names)
    pending = [n for n in names if n in generated]
    while pending:
        for dependency in generated[pending.pop()]:
            if dependency not in result:
                result.add(dependency)
                if dependency in generated:
                    pending.append(dependency)
    return frozenset(result)


def read_default(table: str, column: ddl.ColumnDef) -> ColumnDefault | None:
    default = column.default
    if default is None:
        return None
    what = f"default of {table}.{column.name}"
    if default.kind == "clock":
        return ColumnDefault(
            (f"{what} ({default.text}): the clock is fixed per transaction by the coordinator",),
            None,
        )
    if default.kind == "constant":
        return ColumnDefault((), None)
    findings = Findings()
    try:
        check_functions(parse_fragment(f"SELECT ({default.text})"), findings)
    except AnalyzerError as error:
        return ColumnDefault((), Problem.of(error, what))
    if findings.needs_prior_write:
        return ColumnDefault(
            (), Problem("connection_state", f"{what} calls {findings.needs_prior_write}")
        )
    return ColumnDefault(tuple(f"{what}: {n}" for n in findings.notes), None)


def _read_index(name: str, table_name: str, sql: str) -> ddl.IndexDef:
    try:
        return ddl.parse_create_index(_tokens(sql))
    except ddl.DdlError:
        # Unreadable: assume a unique index over every column of its table.
        everything = ddl.IndexedColumn(None, None, frozenset())
        return ddl.IndexDef(fold(name), None, fold(table_name), True, [everything], True)


def _read_views(rows: list[tuple[str, str, str]]) -> dict[str, View]:
    direct: dict[str, tuple[frozenset[str], Problem | None, tuple[str, ...]]] = {}
    for name, _, sql in rows:
        direct[fold(name)] = _read_view_body(name, sql)
    views = {}
    for name, (references, problem, notes) in direct.items():
        base: set[str] = set()
        seen = {name}
        pending = list(references)
        while pending:
            ref = pending.pop()
            if ref in direct:
                if ref not in seen:
                    seen.add(ref)
                    pending.extend(direct[ref][0])
                    problem = problem or direct[ref][1]
                    notes = notes + direct[ref][2]
            else:
                base.add(ref)
        views[name] = View(name, references, frozenset(base), problem, notes)
    return views


def _read_view_body(name: str, sql: str) -> tuple[frozenset[str], Problem | None, tuple[str, ...]]:
    what = f"view {name!r}"
    try:
        definition = ddl.parse_create_view(_tokens(sql))
        tree = parse_fragment(definition.select.text(sql))
        findings = Findings()
        check_functions(tree, findings)
    except ddl.DdlError as error:
        return frozenset(), Problem("unsupported_schema", f"{what}: {error}"), ()
    except AnalyzerError as error:
        return frozenset(), Problem.of(error, what), ()
    if findings.needs_prior_write:
        return (
            frozenset(),
            Problem("connection_state", f"{what} calls {findings.needs_prior_write}"),
            (),
        )
    ctes = cte_names(tree)
    references = frozenset(r.name for r in table_refs(tree)) - ctes
    return references, None, tuple(f"{what}: {n}" for n in findings.notes)


def _read_trigger(name: str, table_name: str, sql: str) -> Trigger:
    what = f"trigger {name!r}"
    try:
        definition = ddl.parse_create_trigger(_tokens(sql))
    except ddl.DdlError as error:
        # The catalog still says which table it is on; assume it fires on everything.
        return Trigger(
            fold(name),
            fold(table_name),
            frozenset({"insert", "update", "delete"}),
            Problem("unsupported_schema", f"{what}: {error}"),
            (),
        )
    notes: list[str] = []
    problem = None
    try:
        notes = check_trigger_body(definition, sql)
    except AnalyzerError as error:
        problem = Problem.of(error, what)
    return Trigger(
        fold(name),
        fold(table_name),
        definition.events,
        problem,
        tuple(f"{what}: {n}" for n in notes),
    )


def check_trigger_body(definition: ddl.TriggerDef, sql: str) -> list[str]:
    """Check a trigger's WHEN clause and body statements; return their notes."""
    findings = Findings()
    if definition.when is not None:
        check_functions(
            parse_fragment(f"SELECT ({definition.when.text(sql)})"), findings, in_trigger=True
        )
    for span in definition.body:
        prepared = prepare(span.text(sql), in_trigger=True)
        if prepared.verb not in ("SELECT", "VALUES", "INSERT", "REPLACE", "UPDATE", "DELETE"):
            raise error_for(
                "unsupported_statement",
                f"a trigger body statement starts with {prepared.verb or '?'}",
            )
        check_functions(parse_statement(prepared), findings, in_trigger=True)
        if prepared.params.count:
            raise error_for("unsupported_statement", "a trigger body cannot use parameters")
    return findings.notes


def default_problem_or_notes(
    table: Table, column_names: Iterable[str]
) -> tuple[Problem | None, list[str]]:
    """What leaving `column_names` to their defaults implies."""
    notes: list[str] = []
    for column_name in column_names:
        column = table.by_name.get(column_name)
        if column is None or column.default is None:
            continue
        if column.default.problem is not None:
            return column.default.problem, notes
        notes.extend(column.default.notes)
    return None, notes
