"""The same transaction with the same timestamp and seed gives the same state everywhere.

Issue 2's requirement: for every non-deterministic SQLite construct, two fresh databases
executing the same transaction with the same coordinator-chosen timestamp and seed end
with identical content — and a different timestamp or seed changes it (so the
comparison is not vacuous).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from epaxdb.storage import StateDatabase
from tests.storage.helpers import SEED, T0_MS, ok, rows, rows_of
from tests.storage.nondeterminism import CONSTRUCTS, SCHEMA, Construct, apply_all, apply_construct

REPO = Path(__file__).resolve().parents[2]
# Alternatives that move every time field the constructs print (date, seconds, ms).
OTHER_TIMES = (T0_MS + 86_401_234, T0_MS - 40 * 86_400_000 + 7, T0_MS + 3 * 365 * 86_400_000)
OTHER_SEEDS = (SEED + 1, -SEED, 7)

OpenDb = Callable[[], StateDatabase]


@pytest.mark.parametrize("construct", CONSTRUCTS, ids=lambda c: c.name)
def test_same_timestamp_and_seed_give_identical_content(
    open_db: OpenDb, construct: Construct
) -> None:
    first, second = open_db(), open_db()
    apply_construct(first, construct)
    apply_construct(second, construct)
    assert first.state_hash() == second.state_hash()


@pytest.mark.parametrize("construct", CONSTRUCTS, ids=lambda c: c.name)
def test_another_timestamp_or_seed_changes_the_content(
    open_db: OpenDb, construct: Construct
) -> None:
    baseline = open_db()
    apply_construct(baseline, construct)
    hashes = []
    for index in range(3):
        other = open_db()
        if construct.follows == "time":
            apply_construct(other, construct, timestamp_ms=OTHER_TIMES[index])
        else:
            apply_construct(other, construct, seed=OTHER_SEEDS[index])
        hashes.append(other.state_hash())
    assert any(h != baseline.state_hash() for h in hashes)


def test_all_constructs_in_one_transaction_give_the_same_hash_in_another_process(
    db: StateDatabase,
) -> None:
    apply_all(db)
    env = {**os.environ, "PYTHONPATH": str(REPO), "TZ": "JST-9"}
    child = subprocess.run(
        [sys.executable, "-m", "tests.storage.nondeterminism"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert child.stdout.strip() == db.state_hash()


def test_the_clock_is_the_transaction_timestamp_not_the_wall_clock(db: StateDatabase) -> None:
    at = datetime.fromtimestamp(T0_MS / 1000, UTC)
    result = ok(
        db,
        "SELECT datetime('now'), strftime('%Y-%m-%d %H:%M:%f'), unixepoch(), "
        "unixepoch('subsec'), julianday('now'), CURRENT_DATE, CURRENT_TIME, CURRENT_TIMESTAMP",
    )
    assert rows_of(result)[0] == (
        at.strftime("%Y-%m-%d %H:%M:%S"),
        at.strftime("%Y-%m-%d %H:%M:%S.") + f"{T0_MS % 1000:03d}",
        T0_MS // 1000,
        T0_MS / 1000,
        pytest.approx(2440587.5 + T0_MS / 86_400_000, abs=1e-8),
        at.strftime("%Y-%m-%d"),
        at.strftime("%H:%M:%S"),
        at.strftime("%Y-%m-%d %H:%M:%S"),
    )


def test_every_statement_of_a_transaction_sees_the_same_now(db: StateDatabase) -> None:
    ok(db, *SCHEMA)
    ok(
        db,
        "INSERT INTO vals VALUES ('a', strftime('%Y-%m-%d %H:%M:%f'))",
        "INSERT INTO d(id) VALUES (1)",
        "INSERT INTO vals VALUES ('b', strftime('%Y-%m-%d %H:%M:%f'))",
    )
    (a,), (b,) = rows(db, "SELECT v FROM vals ORDER BY k")
    (c,) = rows(db, "SELECT c FROM d")[0]
    (ts,) = rows(db, "SELECT ts FROM log")[0]
    assert a == b == c == ts


def test_column_defaults_and_trigger_bodies_use_the_transaction_clock(db: StateDatabase) -> None:
    at = datetime.fromtimestamp(T0_MS / 1000, UTC)
    ok(db, *SCHEMA)
    ok(db, "INSERT INTO d(id) VALUES (1)")
    second = at.strftime("%Y-%m-%d %H:%M:%S")
    millis = second + f".{T0_MS % 1000:03d}"
    assert rows(db, "SELECT a, b, c FROM d") == [(second, second, millis)]
    assert rows(db, "SELECT ts FROM log") == [(millis,)]


def test_update_with_random_gives_every_row_its_own_value(db: StateDatabase) -> None:
    ok(db, *SCHEMA)
    ok(db, "UPDATE r SET r = random()")
    values = [v for (v,) in rows(db, "SELECT r FROM r")]
    assert len(values) == 20
    assert len(set(values)) == 20


def test_random_values_are_signed_64_bit_integers_of_both_signs(db: StateDatabase) -> None:
    result = ok(
        db,
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 200)"
        " SELECT random(), typeof(random()) FROM n",
    )
    drawn = rows_of(result)
    assert all(kind == "integer" and -(2**63) <= v < 2**63 for v, kind in drawn)
    assert any(v < 0 for v, _ in drawn) and any(v > 0 for v, _ in drawn)


def test_order_by_random_picks_follow_the_seed(open_db: OpenDb) -> None:
    picks = set()
    for seed in range(8):
        db = open_db()
        ok(db, *SCHEMA)
        result = ok(db, "SELECT id FROM r ORDER BY random() LIMIT 1", seed=seed)
        again = open_db()
        ok(again, *SCHEMA)
        replayed = ok(again, "SELECT id FROM r ORDER BY random() LIMIT 1", seed=seed)
        assert replayed.statements == result.statements
        picks.add(rows_of(result)[0][0])
    assert len(picks) > 1


@pytest.mark.parametrize(
    ("argument", "length"),
    [("0", 1), ("-5", 1), ("NULL", 1), ("'5'", 5), ("' 7xyz'", 7), ("2.9", 2), ("'abc'", 1)],
)
def test_randomblob_sizes_follow_sqlite_rules(
    db: StateDatabase, argument: str, length: int
) -> None:
    result = ok(db, f"SELECT length(randomblob({argument})), typeof(randomblob({argument}))")
    assert rows_of(result) == ((length, "blob"),)
