"""Interactive transactions through epaxdb.dbapi on a real cluster: isolation, own
writes, conflicts across replicas, read-your-writes by commit token."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest

import epaxdb.dbapi as db
from epaxdb.runtime.local_cluster import LocalCluster

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(180)]


def accounts(urls: list[str], table: str, balances: dict[int, int]) -> str:
    """Create and fill `table`; return the commit token of the rows (a transaction on
    another replica is sure to see them only when it starts after that token)."""
    setup = db.connect(urls[0], autocommit=True)
    setup.execute(f"CREATE TABLE {table}(id INTEGER PRIMARY KEY, balance INTEGER NOT NULL)")
    setup.executemany(f"INSERT INTO {table} VALUES (?, ?)", balances.items())
    setup.close()
    return setup.commit_token


def balance(conn: db.Connection, table: str, account: int) -> int:
    row = conn.execute(f"SELECT balance FROM {table} WHERE id = ?", (account,)).fetchone()
    return row[0]


def test_a_transaction_sees_its_own_writes_and_others_only_after_commit(
    urls: list[str],
) -> None:
    token = accounts(urls, "own", {1: 100})
    mine, theirs = db.connect(urls[0]), db.connect(urls[1], autocommit=True, after=token)
    mine.execute("UPDATE own SET balance = balance + 5 WHERE id = 1")
    mine.execute("INSERT INTO own VALUES (2, 7)")
    assert mine.in_transaction
    assert mine.execute("SELECT id, balance FROM own ORDER BY id").fetchall() == [(1, 105), (2, 7)]
    assert theirs.execute("SELECT id, balance FROM own ORDER BY id").fetchall() == [(1, 100)]
    mine.commit()
    assert theirs.execute("SELECT id, balance FROM own ORDER BY id").fetchall() == [
        (1, 105),
        (2, 7),
    ]
    mine.close()
    theirs.close()


def test_conflicting_transactions_on_two_replicas_one_commits_the_other_fails(
    cluster: LocalCluster, urls: list[str]
) -> None:
    token = accounts(urls, "contested", {1: 100})
    first, second = db.connect(urls[0], after=token), db.connect(urls[1], after=token)
    seen_first, seen_second = balance(first, "contested", 1), balance(second, "contested", 1)
    first.execute("UPDATE contested SET balance = ? WHERE id = 1", (seen_first + 10,))
    second.execute("UPDATE contested SET balance = ? WHERE id = 1", (seen_second + 20,))
    first.commit()
    with pytest.raises(db.SerializationFailure) as raised:
        second.commit()
    assert raised.value.code == "serialization_failure"
    assert not second.in_transaction
    # Retrying the whole transaction is safe and now sees the first one's write.
    second.execute(
        "UPDATE contested SET balance = ? WHERE id = 1", (balance(second, "contested", 1) + 20,)
    )
    second.commit()
    cluster.wait_converged()
    for url in urls:
        reader = db.connect(url, autocommit=True)
        assert balance(reader, "contested", 1) == 130
        reader.close()
    first.close()
    second.close()


def test_transactions_on_different_rows_of_two_replicas_both_commit(urls: list[str]) -> None:
    token = accounts(urls, "disjoint", {1: 100, 2: 200})
    first, second = db.connect(urls[1], after=token), db.connect(urls[2], after=token)
    first.execute(
        "UPDATE disjoint SET balance = ? WHERE id = 1", (balance(first, "disjoint", 1) - 1,)
    )
    second.execute(
        "UPDATE disjoint SET balance = ? WHERE id = 2", (balance(second, "disjoint", 2) + 1,)
    )
    first.commit()
    second.commit()
    check = db.connect(urls[0], autocommit=True)
    assert check.execute("SELECT balance FROM disjoint ORDER BY id").fetchall() == [(99,), (201,)]
    check.close()
    first.close()
    second.close()


def test_a_failed_statement_leaves_the_transaction_open_without_it(urls: list[str]) -> None:
    accounts(urls, "partial", {1: 1})
    conn = db.connect(urls[0])
    conn.execute("INSERT INTO partial VALUES (2, 2)")
    with pytest.raises(db.IntegrityError):
        conn.execute("INSERT INTO partial VALUES (1, 99)")
    assert conn.in_transaction
    conn.execute("INSERT INTO partial VALUES (3, 3)")
    conn.commit()
    conn.autocommit = True
    assert conn.execute("SELECT id, balance FROM partial ORDER BY id").fetchall() == [
        (1, 1),
        (2, 2),
        (3, 3),
    ]
    conn.close()


def test_rollback_applies_nothing(urls: list[str]) -> None:
    accounts(urls, "undone", {1: 1})
    conn = db.connect(urls[0])
    conn.execute("DELETE FROM undone")
    conn.rollback()
    assert conn.execute("SELECT count(*) FROM undone").fetchone() == (1,)
    conn.close()


def test_concurrent_read_modify_write_loops_lose_no_update(urls: list[str]) -> None:
    token = accounts(urls, "counter", {1: 0})
    increments, failures = 5, []

    def client(url: str) -> None:
        conn = db.connect(url, after=token)
        deadline = time.monotonic() + 60
        done = 0
        while done < increments and time.monotonic() < deadline:
            try:
                value = balance(conn, "counter", 1)
                conn.execute("UPDATE counter SET balance = ? WHERE id = 1", (value + 1,))
                conn.commit()
                done += 1
            except db.SerializationFailure:
                failures.append(url)
        conn.close()

    threads = [threading.Thread(target=client, args=(url,)) for url in urls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(90)
    check = db.connect(urls[0], autocommit=True)
    assert balance(check, "counter", 1) == increments * len(urls)
    check.close()


def test_reads_after_a_commit_token_wait_for_a_replica_that_lagged(
    cluster: LocalCluster, urls: list[str]
) -> None:
    accounts(urls, "lagging", {1: 0})
    lagging = cluster.processes[2]
    writer = db.connect(urls[0], autocommit=True)
    os.kill(lagging.pid, signal.SIGSTOP)  # replica 2 misses the write as it commits
    try:
        writer.execute("UPDATE lagging SET balance = 1 WHERE id = 1")
    finally:
        os.kill(lagging.pid, signal.SIGCONT)
    reader = db.connect(urls[2], after=writer.commit_token)
    assert reader.commit_token == writer.commit_token
    assert balance(reader, "lagging", 1) == 1  # a preview, served by replica 2's state
    reader.rollback()
    reader.close()
    writer.close()


def test_own_writes_stay_visible_after_failing_over_to_another_replica(
    own_cluster: LocalCluster,
) -> None:
    urls = [own_cluster.url(0), own_cluster.url(1)]
    accounts(urls, "moved", {1: 0})
    conn = db.connect(urls)
    conn.execute("UPDATE moved SET balance = 42 WHERE id = 1")
    conn.commit()
    token = conn.commit_token
    own_cluster.kill(0)
    assert balance(conn, "moved", 1) == 42  # served by replica 1, after the token
    assert conn.options.endpoints.current == 1 and conn.commit_token == token
    conn.commit()
    conn.close()


def test_a_connection_reads_all_its_writes_on_a_replica_that_missed_the_first(
    cluster: LocalCluster, urls: list[str]
) -> None:
    setup = db.connect(urls[0], autocommit=True)
    setup.executescript("CREATE TABLE seen_a(x); CREATE TABLE seen_b(x);")
    setup.close()
    writer = db.connect(urls[0], autocommit=True)
    lagging = cluster.processes[2]
    os.kill(lagging.pid, signal.SIGSTOP)  # replica 2 misses the first write as it commits
    try:
        writer.execute("INSERT INTO seen_a VALUES (1)")
    finally:
        os.kill(lagging.pid, signal.SIGCONT)
    after_first = writer.commit_token
    writer.execute("INSERT INTO seen_b VALUES (2)")  # another table: no dependency on the first
    # The token is a position: the highest slot of replica 0 among both commits, so a
    # replica honouring it has executed the first write too, not only the last one.
    assert after_first.startswith("epx2:0:") and writer.commit_token.startswith("epx2:0:")
    assert int(writer.commit_token.split(":")[2]) > int(after_first.split(":")[2])
    reader = db.connect(urls[2], after=writer.commit_token)
    assert reader.execute("SELECT x FROM seen_a").fetchall() == [(1,)]  # previews, served
    assert reader.execute("SELECT x FROM seen_b").fetchall() == [(2,)]  # by replica 2's state
    reader.rollback()
    reader.close()
    writer.close()


def test_an_unknown_outcome_can_be_asked_about_by_its_request_id(
    cluster: LocalCluster, urls: list[str]
) -> None:
    accounts(urls, "asked", {1: 0})
    conn = db.connect(urls[0], timeout=1.0, autocommit=True)
    others = [cluster.processes[1], cluster.processes[2]]
    for process in others:  # no quorum: the transaction cannot commit in time
        os.kill(process.pid, signal.SIGSTOP)
    try:
        with pytest.raises(db.OutcomeUnknown) as raised:
            conn.execute("UPDATE asked SET balance = 5 WHERE id = 1")
    finally:
        for process in others:
            os.kill(process.pid, signal.SIGCONT)
    request_id = raised.value.request_id
    assert request_id
    deadline = time.monotonic() + 20
    outcome = conn.transaction_outcome(request_id)
    while outcome.state == "unknown" and time.monotonic() < deadline:
        time.sleep(0.05)  # the transaction was submitted: it commits once peers answer
        outcome = conn.transaction_outcome(request_id)
    assert outcome.state == "committed" and outcome.request_id == request_id
    assert outcome.results[0].rows_affected == 1 and outcome.commit_token
    # Asking folded its commit into the connection's position.
    reader = db.connect(urls[2], after=conn.commit_token)
    assert balance(reader, "asked", 1) == 5
    assert conn.transaction_outcome("never-submitted").state == "unknown"
    reader.close()
    conn.close()


def test_a_preview_too_slow_for_the_timeout_is_an_operational_error_here(
    urls: list[str],
) -> None:
    conn = db.connect(urls, timeout=0.3)
    slow = ("WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < 1000000000) "
            "SELECT count(*) FROM c")  # fmt: skip
    started = time.monotonic()
    with pytest.raises(db.OperationalError) as raised:
        conn.execute(slow)
    assert raised.value.code == "preview_timeout"
    assert not isinstance(raised.value, db.Unavailable)
    assert time.monotonic() - started < 2  # one replica asked, not each in turn (>= 2.7 s)
    assert conn.options.endpoints.current == 0
    assert conn.execute("SELECT 1").fetchone() == (1,)  # the transaction goes on
    conn.rollback()
    conn.close()
