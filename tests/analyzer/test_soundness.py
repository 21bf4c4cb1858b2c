"""Soundness of the analysis, checked against SQLite itself.

Hypothesis generates small schemas (rowid-alias, AUTOINCREMENT, TEXT-keyed rowid,
WITHOUT ROWID, composite-key and key-less tables; UNIQUE columns; foreign keys with
every action; sometimes a trigger or a view), data, and transactions of point and
range SELECT/UPDATE/DELETE/INSERT/REPLACE/upsert statements with parameters of
mixed types. Two properties must hold:

1. Coverage: executing a transaction touches only what its analysis declares.
   SQLite's authorizer reports every table read or written (including foreign-key
   actions and trigger bodies) and the preupdate hook reports every row written;
   each must be covered by a declared key (a whole-table key covers its table,
   a global analysis covers everything, a write covers a read).
2. Commutativity: two transactions the analysis says do not interfere give the
   same results and the same final database in either order. This is what EPaxos
   relies on, and it also checks row-level reads, which no hook reports.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import apsw
from hypothesis import given, settings
from hypothesis import strategies as st

from analyzer import Analysis, AnalyzerError, Schema, analyze

KEY_VALUES = [1, 2, 3, "1", "2", 2.0, "a", None]
VALUES = [0, 1, 2, "x", "y", 1.5, None]
ACTIONS = ["NO ACTION", "CASCADE", "SET NULL", "SET DEFAULT", "RESTRICT"]
KINDS = ["alias", "alias_auto", "text_pk", "int_without_rowid", "composite", "no_pk"]


@dataclass
class TableSpec:
    name: str
    kind: str
    unique: str  # constraint on v0: "", "UNIQUE" or "UNIQUE ON CONFLICT REPLACE"
    parent: str | None = None
    on_delete: str = "NO ACTION"
    on_update: str = "NO ACTION"

    @property
    def keys(self) -> list[str]:
        return {"composite": ["a", "b"], "no_pk": ["rowid"]}.get(self.kind, ["id"])

    @property
    def key_columns(self) -> list[str]:
        return [] if self.kind == "no_pk" else self.keys

    @property
    def single_key(self) -> bool:
        return self.kind != "composite"

    def ddl(self) -> str:
        columns = {
            "alias": ["id INTEGER PRIMARY KEY"],
            "alias_auto": ["id INTEGER PRIMARY KEY AUTOINCREMENT"],
            "text_pk": ["id TEXT PRIMARY KEY"],
            "int_without_rowid": ["id INT PRIMARY KEY"],
            "composite": ["a TEXT", "b INT"],
            "no_pk": [],
        }[self.kind]
        columns += [f"v0 TEXT {self.unique}", "v1"]
        if self.parent:
            columns.append(
                f"p REFERENCES {self.parent} ON DELETE {self.on_delete} ON UPDATE {self.on_update}"
            )
        if self.kind == "composite":
            columns.append("PRIMARY KEY (a, b)")
        suffix = " WITHOUT ROWID" if self.kind in ("int_without_rowid", "composite") else ""
        return f"CREATE TABLE {self.name}({', '.join(columns)}){suffix};"


@dataclass
class World:
    tables: list[TableSpec]
    extras: list[str] = field(default_factory=list)  # trigger / view DDL

    def script(self) -> str:
        return "\n".join([t.ddl() for t in self.tables] + self.extras)


@st.composite
def worlds(draw) -> World:
    tables: list[TableSpec] = []
    for i in range(draw(st.integers(2, 3))):
        unique = draw(st.sampled_from(["", "", "UNIQUE", "UNIQUE ON CONFLICT REPLACE"]))
        spec = TableSpec(f"t{i}", draw(st.sampled_from(KINDS)), unique)
        parents = [t for t in tables if t.single_key and t.kind != "no_pk"]
        if parents and draw(st.booleans()):
            spec.parent = draw(st.sampled_from(parents)).name
            spec.on_delete = draw(st.sampled_from(ACTIONS))
            spec.on_update = draw(st.sampled_from(ACTIONS))
        tables.append(spec)
    world = World(tables)
    extra = draw(st.sampled_from(["none", "none", "trigger", "view", "index"]))
    target = draw(st.sampled_from(tables)).name
    if extra == "trigger":
        event = draw(st.sampled_from(["INSERT", "UPDATE", "DELETE"]))
        world.extras.append("CREATE TABLE log(x);")
        world.extras.append(
            f"CREATE TRIGGER trg AFTER {event} ON {target} BEGIN INSERT INTO log VALUES (1); END;"
        )
    elif extra == "view":
        world.extras.append(f"CREATE VIEW vw AS SELECT * FROM {target};")
    elif extra == "index":
        world.extras.append(f"CREATE UNIQUE INDEX ux ON {target}(abs(v1)) WHERE v1 > 0;")
    return world


def _key_predicate(draw, table: TableSpec) -> tuple[str, list]:
    if table.kind == "composite":
        return "a = ? AND b = ?", [draw(st.sampled_from(KEY_VALUES)) for _ in range(2)]
    column = table.keys[0]
    if table.kind in ("alias", "alias_auto") and draw(st.booleans()):
        column = draw(st.sampled_from(["rowid", "_rowid_", "oid"]))
    if draw(st.integers(0, 3)) == 0:
        return f"{column} IN (?, ?)", [draw(st.sampled_from(KEY_VALUES)) for _ in range(2)]
    return f"{column} = ?", [draw(st.sampled_from(KEY_VALUES))]


def _insert(draw, table: TableSpec, verb: str = "INSERT") -> tuple[str, list]:
    columns = list(table.key_columns) if draw(st.integers(0, 3)) else []
    if table.kind == "no_pk" and draw(st.booleans()):
        columns = ["rowid"]
    columns += ["v0", "v1"] + (["p"] if table.parent else [])
    params = [
        draw(st.sampled_from(KEY_VALUES if c in ("id", "a", "b", "rowid", "p") else VALUES))
        for c in columns
    ]
    sql = f"{verb} INTO {table.name}({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
    if verb == "INSERT" and table.key_columns and draw(st.integers(0, 2)) == 0:
        sql += f" ON CONFLICT({', '.join(table.key_columns)}) DO UPDATE SET v1 = excluded.v1"
    return sql, params


@st.composite
def statements(draw, world: World) -> tuple[str, list]:
    table = draw(st.sampled_from(world.tables))
    other = draw(st.sampled_from(world.tables))
    name = table.name
    shape = draw(st.integers(0, 19))
    if shape == 0:
        predicate, params = _key_predicate(draw, table)
        return f"SELECT * FROM {name} WHERE {predicate}", params
    if shape == 1:
        return f"SELECT count(*), max(v1) FROM {name} WHERE v1 = ?", [draw(st.sampled_from(VALUES))]
    if shape == 2:
        predicate, params = _key_predicate(draw, other)
        return (
            f"SELECT v1 FROM {name} WHERE v1 IN (SELECT v1 FROM {other.name} WHERE {predicate})",
            params,
        )
    if shape == 3:
        predicate, params = _key_predicate(draw, table)
        return f"UPDATE {name} SET v1 = ? WHERE {predicate}", [
            draw(st.sampled_from(VALUES))
        ] + params
    if shape == 4:
        predicate, params = _key_predicate(draw, table)
        return f"UPDATE {name} SET v0 = ? WHERE {predicate}", [
            draw(st.sampled_from(VALUES))
        ] + params
    if shape == 5 and table.single_key:
        predicate, params = _key_predicate(draw, table)
        column = table.keys[0]
        return (
            f"UPDATE {name} SET {column} = ? WHERE {predicate}",
            [draw(st.sampled_from(KEY_VALUES))] + params,
        )
    if shape == 6:
        return f"UPDATE {name} SET v1 = ? WHERE v1 = ?", [
            draw(st.sampled_from(VALUES)) for _ in "ab"
        ]
    if shape == 7 and table.parent:
        predicate, params = _key_predicate(draw, table)
        return f"UPDATE {name} SET p = ? WHERE {predicate}", [
            draw(st.sampled_from(KEY_VALUES))
        ] + params
    if shape == 8:
        predicate, params = _key_predicate(draw, table)
        return f"DELETE FROM {name} WHERE {predicate}", params
    if shape == 9:
        return f"DELETE FROM {name} WHERE v0 = ?", [draw(st.sampled_from(VALUES))]
    if shape == 10:
        return _insert(draw, table, "INSERT OR REPLACE")
    if shape == 11:
        return _insert(draw, table, "INSERT OR IGNORE")
    if shape == 12:
        predicate, params = _key_predicate(draw, other)
        return (f"INSERT INTO {name}(v1) SELECT v1 FROM {other.name} WHERE {predicate}", params)
    if shape == 13:
        predicate, params = _key_predicate(draw, table)
        return (
            f"UPDATE {name} SET v1 = (SELECT max(v1) FROM {other.name}) WHERE {predicate}",
            params,
        )
    if shape == 14 and any("VIEW" in e for e in world.extras):
        return "SELECT * FROM vw WHERE v1 = ?", [draw(st.sampled_from(VALUES))]
    if shape == 15:
        predicate, params = _key_predicate(draw, table)
        return (
            f"UPDATE OR REPLACE {name} SET v0 = ?, v1 = ? WHERE {predicate}",
            [draw(st.sampled_from(VALUES)) for _ in "ab"] + params,
        )
    if shape == 16:
        predicate, params = _key_predicate(draw, other)
        cte = f"WITH c AS (SELECT v1 FROM {other.name} WHERE {predicate}) "
        return cte + f"DELETE FROM {name} WHERE v1 IN (SELECT v1 FROM c)", params
    if shape == 17:
        first, params = _insert(draw, table, "REPLACE")
        _, more = _insert(draw, table, "REPLACE")
        if len(more) == len(params) and "ON CONFLICT" not in first:
            return f"{first}, ({', '.join('?' * len(more))})", params + more
        return first, params
    return _insert(draw, table)


def transactions(world: World):
    return st.lists(statements(world), min_size=1, max_size=3)


# -- executing on SQLite -----------------------------------------------------------


@dataclass
class Touched:
    tables_read: set[str] = field(default_factory=set)
    tables_written: set[str] = field(default_factory=set)
    rows_written: set[tuple[str, tuple]] = field(default_factory=set)


def _open(world: World, data: list[tuple[str, list]]) -> apsw.Connection:
    connection = apsw.Connection(":memory:", statementcachesize=0)
    connection.execute("PRAGMA foreign_keys = ON")
    connection.execute(world.script())
    for sql, params in data:
        try:
            connection.execute(sql, params)
        except apsw.Error:
            pass
    return connection


def _row_key(world: World, table: str, rowid: int, row: tuple | None) -> tuple | None:
    spec = next((t for t in world.tables if t.name == table), None)
    if spec is None or row is None:
        return None
    if spec.kind in ("alias", "alias_auto", "no_pk"):
        return (rowid,)
    if spec.kind == "composite":
        return (row[0], row[1])
    return (row[0],)


def _execute(connection: apsw.Connection, world: World, txn, touched: Touched | None = None):
    if touched is not None:
        stored = {t.name for t in world.tables} | {"log"}  # views hold no data of their own

        def authorize(code, first, second, database, trigger):
            if first in stored:
                if code == apsw.SQLITE_READ:
                    touched.tables_read.add(first)
                elif code in (apsw.SQLITE_INSERT, apsw.SQLITE_UPDATE, apsw.SQLITE_DELETE):
                    touched.tables_written.add(first)
            return apsw.SQLITE_OK

        def preupdate(update) -> None:
            for rowid, row in ((update.rowid, update.old), (update.rowid_new, update.new)):
                key = _row_key(world, update.table_name, rowid, row)
                if key is not None:
                    touched.rows_written.add((update.table_name, key))

        connection.authorizer = authorize
        connection.preupdate_hook(preupdate)
    connection.execute("BEGIN")
    try:
        results = [
            sorted(map(repr, connection.execute(sql, params).fetchall())) for sql, params in txn
        ]
        connection.execute("COMMIT")
        outcome = ("ok", results)
    except apsw.Error as error:
        connection.execute("ROLLBACK")
        outcome = ("error", type(error).__name__)
    connection.authorizer = None
    connection.preupdate_hook(None)
    return outcome


def _state(connection: apsw.Connection, world: World) -> dict[str, list[str]]:
    state = {}
    names = [t.name for t in world.tables] + [
        n
        for (n,) in connection.execute(
            "SELECT name FROM sqlite_schema WHERE type = 'table' AND name IN ('log', 'sqlite_sequence')"
        )
    ]
    for table in names:
        spec = next((t for t in world.tables if t.name == table), None)
        rowid = (
            ""
            if spec is not None and spec.kind in ("int_without_rowid", "composite")
            else "rowid, "
        )
        state[table] = sorted(map(repr, connection.execute(f"SELECT {rowid}* FROM {table}")))
    return state


def _schema(world: World, data) -> Schema:
    connection = _open(world, data)
    rows = connection.execute("SELECT type, name, tbl_name, sql FROM sqlite_schema").fetchall()
    version = connection.execute("PRAGMA schema_version").fetchall()[0][0]
    return Schema.from_catalog(rows, version)


def _covers(analysis: Analysis, table: str, key: tuple | None, *, write: bool) -> bool:
    if analysis.is_global:
        return True
    declared = analysis.writes if write else analysis.writes | analysis.reads
    return any(
        k.table == table and (k.key is None or key is None or k.key == key) for k in declared
    )


def _interfere(a: Analysis, b: Analysis) -> bool:
    reads_a, writes_a, global_a = a.conflict_keys()
    reads_b, writes_b, global_b = b.conflict_keys()

    def clash(xs, ys) -> bool:
        return any(
            x[0] == y[0] and (x[1] is None or y[1] is None or x[1] == y[1]) for x in xs for y in ys
        )

    return global_a or global_b or clash(writes_a, writes_b | reads_b) or clash(writes_b, reads_a)


def _analyse(schema: Schema, txn) -> Analysis | None:
    try:
        return analyze(txn, schema)
    except AnalyzerError:
        return None


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_analysis_covers_everything_sqlite_touches_and_non_interfering_transactions_commute(
    data,
) -> None:
    world = data.draw(worlds(), label="world")
    seed = data.draw(st.lists(_data_insert(world), min_size=3, max_size=8), label="rows")
    first = data.draw(transactions(world), label="first")
    second = data.draw(transactions(world), label="second")
    schema = _schema(world, seed)
    analysis_first = _analyse(schema, first)
    analysis_second = _analyse(schema, second)

    for txn, analysis in ((first, analysis_first), (second, analysis_second)):
        if analysis is None:
            continue
        touched = Touched()
        _execute(_open(world, seed), world, txn, touched)
        for table in touched.tables_read:
            assert _covers(analysis, table, None, write=False), (table, txn)
        for table in touched.tables_written:
            assert _covers(analysis, table, None, write=True), (table, txn)
        for table, key in touched.rows_written:
            assert _covers(analysis, table, key, write=True), (table, key, txn)

    if analysis_first is None or analysis_second is None:
        return
    if _interfere(analysis_first, analysis_second):
        return
    one = _open(world, seed)
    one_results = (_execute(one, world, first), _execute(one, world, second))
    other = _open(world, seed)
    other_results = (_execute(other, world, second), _execute(other, world, first))
    assert one_results[0] == other_results[1], (first, second)
    assert one_results[1] == other_results[0], (first, second)
    assert _state(one, world) == _state(other, world), (first, second)


def _data_insert(world: World):
    table = st.sampled_from(world.tables)
    return table.flatmap(
        lambda t: st.builds(
            lambda values: (
                (
                    f"INSERT INTO {t.name}({', '.join(t.key_columns + ['v0', 'v1'])}) "
                    f"VALUES ({', '.join('?' * (len(t.key_columns) + 2))})"
                ),
                values,
            ),
            st.tuples(
                *[st.sampled_from(KEY_VALUES[:6]) for _ in t.key_columns],
                st.sampled_from(VALUES),
                st.sampled_from(VALUES),
            ),
        )
    )
