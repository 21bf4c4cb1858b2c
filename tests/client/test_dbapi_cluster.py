"""epaxdb.dbapi against a real 3-replica cluster: the PEP 249 surface, errors, values,
rows, `with conn:`, executescript and failover (transactions: test_transactions.py)."""

from __future__ import annotations

import datetime

import pytest

import epaxdb.dbapi as db
from epaxdb.runtime.local_cluster import LocalCluster, free_port

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(120)]


@pytest.fixture
def conn(urls: list[str]) -> db.Connection:
    connection = db.connect(urls[0], autocommit=True)
    yield connection
    connection.close()


def count(connection: db.Connection, table: str) -> int:
    return connection.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


def test_cursor_surface_after_writes_and_queries(conn: db.Connection) -> None:
    conn.execute("CREATE TABLE surface(id INTEGER PRIMARY KEY, name TEXT)")
    cur = conn.cursor()
    assert (cur.description, cur.rowcount, cur.lastrowid, cur.arraysize) == (None, -1, None, 1)
    cur.execute("INSERT INTO surface(name) VALUES (?)", ("a",))
    assert (cur.description, cur.rowcount, cur.lastrowid) == (None, 1, 1)
    cur.executemany("INSERT INTO surface(name) VALUES (?)", [("b",), ("c",), ("d",)])
    assert cur.rowcount == 3
    cur.execute("UPDATE surface SET name = upper(name) WHERE id > 1")
    assert cur.rowcount == 3
    cur.execute("SELECT id, name FROM surface ORDER BY id")
    assert [d[0] for d in cur.description] == ["id", "name"]
    assert all(len(d) == 7 for d in cur.description)
    assert cur.rowcount == -1
    assert cur.fetchone() == (1, "a")
    cur.arraysize = 2
    assert cur.fetchmany() == [(2, "B"), (3, "C")]
    assert list(cur) == [(4, "D")]
    assert cur.fetchone() is None and cur.fetchall() == [] and cur.fetchmany(5) == []


def test_errors_map_to_pep_249_classes_and_change_nothing(conn: db.Connection) -> None:
    conn.execute("CREATE TABLE errs(id INTEGER PRIMARY KEY, name TEXT UNIQUE)")
    conn.execute("INSERT INTO errs VALUES (1, 'a')")
    with pytest.raises(db.IntegrityError) as raised:
        conn.execute("INSERT INTO errs VALUES (2, 'a')")
    assert raised.value.sqlite_errorname == "SQLITE_CONSTRAINT_UNIQUE"
    with pytest.raises(db.ProgrammingError) as syntax:
        conn.execute("INSERT INTO errs VALUES (3, 'b'")
    assert syntax.value.code == "syntax_error"
    with pytest.raises(db.ProgrammingError) as params:
        conn.execute("INSERT INTO errs VALUES (?, ?)", (3,))
    assert params.value.code == "parameter_count"
    with pytest.raises(db.OperationalError) as missing:
        conn.execute("SELECT * FROM no_such_table")
    assert missing.value.code == "unknown_table"
    with pytest.raises(db.NotSupportedError) as pragma:
        conn.execute("PRAGMA journal_mode = DELETE")
    assert pragma.value.code == "pragma"
    with pytest.raises(db.ProgrammingError):
        conn.execute("SELECT 1; SELECT 2")
    assert conn.execute("SELECT id, name FROM errs").fetchall() == [(1, "a")]


def test_blobs_named_parameters_and_adapted_dates_round_trip(urls: list[str]) -> None:
    for wire in ("json", "msgpack"):
        conn = db.connect(urls[1], autocommit=True, wire=wire)
        table = f"vals_{wire}"
        conn.execute(f"CREATE TABLE {table}(k TEXT PRIMARY KEY, b BLOB, d, ts, f REAL, n)")
        blob = bytes(range(256))
        conn.execute(
            f"INSERT INTO {table} VALUES (:k, :b, :d, :ts, :f, :n)",
            {
                "k": "x",
                "b": blob,
                "d": datetime.date(2024, 5, 1),
                "ts": datetime.datetime(2024, 5, 1, 12, 30, 5),
                "f": 1.5,
                "n": None,
            },
        )
        conn.execute(f"INSERT INTO {table}(k, b) VALUES ($k, @b)", {"$k": "y", "b": b""})
        rows = conn.execute(f"SELECT k, b, d, ts, f, n FROM {table} ORDER BY k").fetchall()
        assert rows == [
            ("x", blob, "2024-05-01", "2024-05-01 12:30:05", 1.5, None),
            ("y", b"", None, None, None, None),
        ]
        conn.close()


def test_row_factory_gives_sqlite3_style_rows(conn: db.Connection) -> None:
    conn.execute("CREATE TABLE rowed(id INTEGER PRIMARY KEY, Name TEXT)")
    conn.execute("INSERT INTO rowed VALUES (7, 'seven')")
    conn.row_factory = db.Row
    row = conn.execute("SELECT id, Name FROM rowed").fetchone()
    assert isinstance(row, db.Row)
    assert (row[0], row["name"], row["ID"], row.keys(), len(row)) == (
        7,
        "seven",
        7,
        ["id", "Name"],
        2,
    )
    assert row == conn.execute("SELECT id, Name FROM rowed").fetchone()
    cursor = conn.cursor()
    cursor.row_factory = lambda cur, values: dict(zip([d[0] for d in cur.description], values))
    assert cursor.execute("SELECT id FROM rowed").fetchall() == [{"id": 7}]


def test_with_connection_commits_or_rolls_back(urls: list[str]) -> None:
    conn = db.connect(urls[0])
    conn.execute("CREATE TABLE withs(id INTEGER PRIMARY KEY)")
    conn.commit()
    with conn:
        conn.execute("INSERT INTO withs VALUES (1)")
    with pytest.raises(ZeroDivisionError), conn:
        conn.execute("INSERT INTO withs VALUES (2)")
        raise ZeroDivisionError
    assert not conn.in_transaction
    other = db.connect(urls[2], autocommit=True)
    assert other.execute("SELECT id FROM withs").fetchall() == [(1,)]
    other.close()
    conn.close()


def test_executescript_runs_triggers_strings_and_transaction_control(conn: db.Connection) -> None:
    conn.executescript(
        """
        CREATE TABLE scripted(id INTEGER PRIMARY KEY, note TEXT);
        CREATE TABLE audit(note TEXT);
        CREATE TRIGGER scripted_audit AFTER INSERT ON scripted BEGIN
            INSERT INTO audit VALUES ('saw; ' || new.note);
        END;
        INSERT INTO scripted(note) VALUES ('one; with semicolon');
        BEGIN;
        INSERT INTO scripted(note) VALUES ('two');
        INSERT INTO scripted(note) VALUES ('three');
        COMMIT;
        """
    )
    assert conn.execute("SELECT note FROM audit ORDER BY rowid").fetchall() == [
        ("saw; one; with semicolon",),
        ("saw; two",),
        ("saw; three",),
    ]
    assert not conn.in_transaction


def test_a_dead_first_replica_is_skipped(cluster: LocalCluster) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    conn = db.connect([dead, cluster.url(1)], autocommit=True)
    conn.execute("CREATE TABLE failover(id INTEGER PRIMARY KEY)")
    conn.execute("INSERT INTO failover VALUES (1)")
    assert conn.execute("SELECT count(*) FROM failover").fetchone() == (1,)
    conn.close()


def test_isolation_level_none_is_autocommit(urls: list[str]) -> None:
    conn = db.connect(urls[0], isolation_level=None)
    conn.execute("CREATE TABLE auto(id INTEGER PRIMARY KEY)")
    conn.execute("INSERT INTO auto VALUES (1)")
    assert not conn.in_transaction
    conn.close()  # no commit: each statement already committed
    other = db.connect(urls[1], autocommit=True)
    assert count(other, "auto") == 1
    other.close()
