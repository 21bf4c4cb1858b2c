"""Every SQLite construct whose value a replica could compute differently, as workloads.

Shared by the in-process determinism tests and the cross-process one (which runs
`python -m tests.storage.nondeterminism` and compares the printed state hash).
"""

from __future__ import annotations

from dataclasses import dataclass

from epaxdb.storage import Params, StateDatabase
from tests.storage.helpers import SEED, T0_MS, ok

SCHEMA = (
    "CREATE TABLE vals(k TEXT PRIMARY KEY, v)",
    "CREATE TABLE r(id INTEGER PRIMARY KEY, r INTEGER)",
    (
        "CREATE TABLE d(id INTEGER PRIMARY KEY, note TEXT, a DEFAULT CURRENT_TIMESTAMP,"
        " b DEFAULT (datetime('now')), c DEFAULT (strftime('%Y-%m-%d %H:%M:%f', 'now')))"
    ),
    "CREATE TABLE log(id INTEGER PRIMARY KEY, r INTEGER, ts TEXT)",
    (
        "CREATE TRIGGER d_log AFTER INSERT ON d BEGIN"
        " INSERT INTO log(r, ts) VALUES (random(), strftime('%Y-%m-%d %H:%M:%f', 'now')); END"
    ),
    (
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20)"
        " INSERT INTO r(id) SELECT i FROM n"
    ),
)


@dataclass(frozen=True)
class Construct:
    name: str
    statements: tuple[str | tuple[str, Params], ...]
    # Which coordinator-chosen input the construct's value follows: "time" or "seed".
    follows: str


def _value(expression: str, params: Params = ()) -> tuple[str | tuple[str, Params], ...]:
    return ((f"INSERT INTO vals VALUES ('x', {expression})", params),)


CONSTRUCTS = (
    Construct("random()", _value("random()"), "seed"),
    Construct("randomblob(?)", _value("randomblob(?)", [16]), "seed"),
    Construct("randomblob(expression)", _value("randomblob(length('abcdefgh') * 2)"), "seed"),
    Construct("datetime('now')", _value("datetime('now')"), "time"),
    Construct("date()", _value("date()"), "time"),
    Construct("time()", _value("time()"), "time"),
    Construct("julianday('now')", _value("julianday('now')"), "time"),
    Construct("unixepoch()", _value("unixepoch()"), "time"),
    Construct("unixepoch('subsec')", _value("unixepoch('subsec')"), "time"),
    Construct("strftime('%f', 'now')", _value("strftime('%f', 'now')"), "time"),
    Construct("strftime without time", _value("strftime('%Y-%m-%d %H:%M:%f')"), "time"),
    Construct("timediff('now', x)", _value("timediff('now', '2000-01-01 00:00:00')"), "time"),
    Construct("timediff(x, 'now')", _value("timediff('2000-01-01 00:00:00', 'now')"), "time"),
    Construct("CURRENT_TIMESTAMP", _value("CURRENT_TIMESTAMP"), "time"),
    Construct("CURRENT_DATE", _value("CURRENT_DATE"), "time"),
    Construct("CURRENT_TIME", _value("CURRENT_TIME"), "time"),
    Construct("column defaults", ("INSERT INTO d(id, note) VALUES (1, 'x')",), "time"),
    Construct("trigger body random()", ("INSERT INTO d(id, note) VALUES (1, 'x')",), "seed"),
    Construct("UPDATE SET random() per row", ("UPDATE r SET r = random()",), "seed"),
    Construct(
        "ORDER BY random() LIMIT 1",
        ("INSERT INTO vals SELECT 'x', id FROM r ORDER BY random() LIMIT 1",),
        "seed",
    ),
    Construct(
        "INSERT SELECT random() per row", ("INSERT INTO log(r) SELECT random() FROM r",), "seed"
    ),
)


def apply_construct(
    db: StateDatabase, construct: Construct, timestamp_ms: int = T0_MS, seed: int = SEED
) -> None:
    ok(db, *SCHEMA, timestamp_ms=T0_MS, seed=SEED)
    ok(db, *construct.statements, timestamp_ms=timestamp_ms, seed=seed)


def apply_all(db: StateDatabase) -> None:
    """All constructs in one transaction (keys made distinct), after the schema."""
    ok(db, *SCHEMA)
    statements: list[str | tuple[str, Params]] = []
    for index, construct in enumerate(CONSTRUCTS):
        for statement in construct.statements:
            sql, params = (statement, ()) if isinstance(statement, str) else statement
            sql = sql.replace("VALUES ('x',", f"VALUES ('{index}',")
            sql = sql.replace("SELECT 'x',", f"SELECT '{index}',")
            sql = sql.replace("VALUES (1, 'x')", f"VALUES ({index}, 'x')")
            statements.append((sql, params))
    ok(db, *statements)


if __name__ == "__main__":
    with StateDatabase.open(":memory:") as database:
        apply_all(database)
        print(database.state_hash())
