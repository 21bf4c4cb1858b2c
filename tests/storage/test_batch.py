"""Many commands in one SQLite transaction: the same results and state as one by one."""

from __future__ import annotations

import os
import random
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from epaxdb.errors import InvariantViolation
from epaxdb.storage import (
    DatabaseStopped,
    PurgeResult,
    PurgeSpec,
    SqliteFailure,
    StateDatabase,
    TransactionResult,
    TransactionSpec,
)
from tests.storage.helpers import SEED, T0_MS, ok, rows, txn

OpenDb = Callable[[], StateDatabase]
REPO = Path(__file__).resolve().parents[2]
Command = TransactionSpec | PurgeSpec

SCHEMA = (
    "CREATE TABLE kv(k INTEGER PRIMARY KEY, v INTEGER NOT NULL CHECK (v >= 0), r)",
    "CREATE TABLE u(x UNIQUE ON CONFLICT ROLLBACK)",
    "CREATE TABLE log(id INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT, what)",
    (
        "CREATE TRIGGER no13 BEFORE INSERT ON kv WHEN new.k = 13"
        " BEGIN SELECT RAISE(ROLLBACK, 'thirteen'); END"
    ),
    "CREATE TRIGGER no7 BEFORE INSERT ON kv WHEN new.k = 7 BEGIN SELECT RAISE(ABORT, 'seven'); END",
    (
        "CREATE TRIGGER audit AFTER UPDATE ON kv"
        " BEGIN INSERT INTO log(at, what) VALUES (datetime('now'), new.k); END"
    ),
    "CREATE TABLE p(id INTEGER PRIMARY KEY)",
    "CREATE TABLE c(id INTEGER PRIMARY KEY, p REFERENCES p(id) DEFERRABLE INITIALLY DEFERRED)",
)


def random_commands(rng: random.Random, count: int) -> list[Command]:
    """Writes, failures of every kind (constraints, RAISE(ABORT), RAISE(ROLLBACK), ON
    CONFLICT ROLLBACK, deferred foreign keys, stale schema), DDL, reads, retries and
    purges, with timestamps and seeds that vary."""
    commands: list[Command] = []
    sent: list[TransactionSpec] = []
    for n in range(count):
        at = T0_MS + n * 1000 + rng.randrange(1000)
        kind = rng.randrange(11)
        k = rng.randrange(20)
        statements: list[tuple[str, list[Any]]]
        read_only = False
        schema_version = None
        if kind == 0 and sent:
            retry = rng.choice(sent)  # the same request again, under a new marker
            commands.append(TransactionSpec(retry.request_id, retry.statements, at, n,
                                            f"m{n}", retry.schema_version))  # fmt: skip
            continue
        if kind == 1:
            cutoff = T0_MS + rng.randrange(max(1, n)) * 1000
            commands.append(PurgeSpec(f"purge-{n}", at, cutoff, f"m{n}"))
            continue
        if kind == 2:
            statements = [("INSERT INTO kv VALUES (?, ?, random())", [k, rng.randrange(-2, 9)])]
        elif kind == 3:
            statements = [("UPDATE kv SET v = v + ? WHERE k = ?", [rng.randrange(-5, 5), k])]
        elif kind == 4:
            statements = [
                ("INSERT INTO log(at, what) VALUES (datetime('now'), randomblob(4))", []),
                ("INSERT INTO u VALUES (?)", [rng.randrange(6)]),
            ]
        elif kind == 5:
            statements = [("INSERT INTO c VALUES (?, ?)", [n, k])]
            if rng.random() < 0.5:
                statements.append(("INSERT OR IGNORE INTO p VALUES (?)", [k]))
        elif kind == 6:
            statements = [("SELECT k, v FROM kv ORDER BY k", []), ("SELECT count(*) FROM log", [])]
            read_only = rng.random() < 0.7
        elif kind == 7:
            statements = [(f"CREATE TABLE IF NOT EXISTS t{k}(x DEFAULT (random()))", []),
                          (f"INSERT INTO t{k} DEFAULT VALUES", [])]  # fmt: skip
        elif kind == 8:
            statements = [("DELETE FROM kv WHERE k = ?", [k])]
            schema_version = 10_000  # never the current one: schema_changed
        elif kind == 9:
            statements = [("INSERT INTO kv VALUES (?, 1, NULL)", [k]),
                          ("INSERT INTO kv VALUES (13, 1, NULL)", [])]  # fmt: skip
        else:
            statements = [("INSERT INTO kv VALUES (?, 1, NULL) RETURNING k, r", [k]),
                          ("UPDATE kv SET v = v - 1 WHERE k = ?", [k])]  # fmt: skip
        spec = TransactionSpec(
            f"req-{n}", tuple(statements), at, rng.getrandbits(63), f"m{n}",  # type: ignore[arg-type]
            schema_version=schema_version, read_only=read_only,
        )  # fmt: skip
        commands.append(spec)
        sent.append(spec)
    return commands


def comparable(result: TransactionResult | PurgeResult) -> tuple[Any, ...]:
    """Everything a result says, the fields left out of equality included."""
    if isinstance(result, PurgeResult):
        return ("purge", result.request_id, result.removed, result.marker)
    return (result.request_id, result.encode(), result.duplicate, result.marker)


def chunks(commands: list[Command], rng: random.Random, mode: str) -> list[list[Command]]:
    if mode == "all":
        return [commands]
    cut, out = 0, []
    while cut < len(commands):
        size = rng.randrange(1, 12)
        out.append(commands[cut : cut + size])
        cut += size
    return out


@pytest.mark.parametrize("mode", ["random", "all"])
@pytest.mark.parametrize("seed", range(8))
def test_batched_execution_equals_one_by_one(open_db: OpenDb, seed: int, mode: str) -> None:
    rng = random.Random(seed)
    commands = random_commands(rng, 120)
    one_by_one, batched = open_db(), open_db()
    for db in (one_by_one, batched):
        ok(db, *SCHEMA, request_id="schema", marker="schema")

    expected = [comparable(one_by_one.execute_batch([command])[0]) for command in commands]
    got = []
    for chunk in chunks(commands, rng, mode):
        got += [comparable(result) for result in batched.execute_batch(chunk)]

    assert got == expected
    assert batched.state_hash() == one_by_one.state_hash()
    assert batched.executed_markers() == one_by_one.executed_markers()
    for command in commands:
        first, second = (db.stored_result(command.request_id) for db in (one_by_one, batched))
        assert (first and comparable(first)) == (second and comparable(second))


def test_a_rollback_in_the_middle_of_a_batch_undoes_that_transaction_alone(
    db: StateDatabase,
) -> None:
    ok(db, *SCHEMA)
    results = db.execute_batch([
        txn("INSERT INTO kv VALUES (1, 1, NULL)", request_id="before"),
        txn("INSERT INTO kv VALUES (2, 1, NULL)", "INSERT INTO kv VALUES (13, 1, NULL)",
            request_id="rollback"),
        txn("INSERT INTO kv VALUES (3, 1, NULL)", request_id="after"),
    ])  # fmt: skip
    assert [r.ok for r in results] == [True, False, True]  # type: ignore[union-attr]
    assert rows(db, "SELECT k FROM kv ORDER BY k") == [(1,), (3,)]
    assert db.executed_count() == 4
    assert db.execute_transaction(txn("SELECT 1", request_id="rollback")).duplicate


def test_a_batch_is_one_sqlite_commit(db: StateDatabase) -> None:
    ok(db, *SCHEMA)
    commits = []
    db._db.set_commit_hook(lambda: commits.append(1) or False)  # type: ignore[func-returns-value]
    db.execute_batch([txn(("INSERT INTO kv VALUES (?, 1, NULL)", [k])) for k in range(20, 40)])
    assert len(commits) == 1
    assert rows(db, "SELECT count(*) FROM kv") == [(20,)]


def test_a_storage_failure_in_the_middle_of_a_batch_records_none_of_it(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    with StateDatabase.open(path) as db:
        ok(db, "CREATE TABLE big(b BLOB)")
        # Fault injection: cap the file on this connection to simulate a full disk.
        (pages,) = db._db.execute("PRAGMA page_count").fetchone()
        db._db.execute(f"PRAGMA max_page_count = {pages + 4}")
        with pytest.raises(SqliteFailure):
            db.execute_batch([
                txn("INSERT INTO big VALUES (x'01')", marker=b"small"),
                txn(("INSERT INTO big VALUES (zeroblob(?))", [1_000_000]), marker=b"full"),
            ])  # fmt: skip
    with StateDatabase.open(path) as db:
        assert not {b"small", b"full"} & db.executed_markers()
        assert (db.executed_count(), rows(db, "SELECT count(*) FROM big")) == (1, [(0,)])


def test_any_failure_escaping_a_batch_stops_the_database_so_no_later_batch_commits(
    db: StateDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The caller may already hold the next batch: committing it past an undone one
    # would make a restarted replica replay them out of order.
    ok(db, *SCHEMA)

    def broken(marker: object) -> None:
        raise InvariantViolation("injected")

    monkeypatch.setattr(db, "_record_marker", broken)
    with pytest.raises(InvariantViolation):
        db.execute_batch([txn(("INSERT INTO kv VALUES (?, 1, NULL)", [k])) for k in (1, 2)])
    monkeypatch.undo()
    with pytest.raises(DatabaseStopped):
        db.execute_batch([txn(("INSERT INTO kv VALUES (?, 1, NULL)", [3]))])


def test_a_crash_in_the_middle_of_a_batch_leaves_none_of_it(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    with StateDatabase.open(path) as db:
        ok(db, "CREATE TABLE t(x)")
        before = db.state_hash()
    script = textwrap.dedent(
        f"""
        import os
        from epaxdb.storage import StateDatabase, TransactionSpec
        from epaxdb.storage.engine import StateDatabase as Engine

        recorded = Engine._record_marker
        def record_then_die(self, marker):
            recorded(self, marker)
            if marker == "m3":  # three commands done, two to go
                os._exit(9)
        Engine._record_marker = record_then_die
        db = StateDatabase.open({str(path)!r})
        db.execute_batch([
            TransactionSpec(f"r{{i}}", (("INSERT INTO t VALUES (?)", (i,)),), 1, {SEED}, f"m{{i}}")
            for i in range(1, 6)
        ])
        os._exit(0)
        """
    )
    child = subprocess.run(
        [sys.executable, "-c", script], env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert child.returncode == 9, child.stderr
    with StateDatabase.open(path) as db:
        assert db.state_hash() == before
        assert not any(str(m).startswith("m") for m in db.executed_markers())
        assert rows(db, "SELECT count(*) FROM t") == [(0,)]
