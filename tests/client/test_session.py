"""The connection's transaction logic without a network: which requests each
operation sends and what it does with the answers (tests/client/fake_server.py)."""

from __future__ import annotations

import pytest

from epaxdb.client.errors import (
    IntegrityError,
    InterfaceError,
    OperationalError,
    OutcomeUnknown,
    ProgrammingError,
    SerializationFailure,
    Unavailable,
)
from epaxdb.client.protocol import PREVIEW_PATH, QUERY_PATH, TX_PATH, TransactionOutcome
from epaxdb.client.session import Session, drive
from tests.client.fake_server import FakeServer

SERIALIZATION = (409, {"code": "serialization_failure", "message": "read changed"})


def session(autocommit: bool) -> Session:
    return Session(autocommit=autocommit, timeout_ms=5000)


def test_autocommit_write_is_its_own_transaction_with_a_fresh_request_id() -> None:
    server, s = FakeServer(), session(autocommit=True)
    first = drive(s.execute("INSERT INTO t VALUES (1)"), server)
    drive(s.execute("UPDATE t SET x = 2"), server)
    assert server.paths() == [TX_PATH, TX_PATH]
    ids = [r.body["request_id"] for r in server.requests]
    assert len(set(ids)) == 2 and all(ids)
    assert "interactive" not in server.requests[0].body
    assert first.rowcount == 1 and first.lastrowid == 100
    assert s.commit_token == "epx2:0:2"
    assert not s.in_transaction


def test_autocommit_query_is_linearizable_and_after_the_last_commit() -> None:
    server, s = FakeServer(), session(autocommit=True)
    drive(s.execute("SELECT 1"), server)
    drive(s.execute("INSERT INTO t VALUES (1)"), server)
    outcome = drive(s.execute("select x from t where id = ?", (1,)), server)
    assert server.paths() == [QUERY_PATH, TX_PATH, QUERY_PATH]
    assert server.requests[0].body == {
        "statements": [{"sql": "SELECT 1", "params": []}],
        "consistency": "linearizable",
        "timeout_ms": 5000,
    }
    assert server.requests[2].body["after"] == "epx2:0:2"  # the first query's slot too
    assert outcome.columns == ("position",) and outcome.rowcount == -1


def test_a_transaction_begins_with_a_read_and_previews_every_statement_so_far() -> None:
    server, s = FakeServer(), session(autocommit=False)
    read = drive(s.execute("SELECT balance FROM a WHERE id = ?", [1]), server)
    assert s.in_transaction and read.rows == ((0,),)
    write = drive(s.execute("UPDATE a SET balance = ? WHERE id = ?", [5, 1]), server)
    assert server.paths() == [PREVIEW_PATH, PREVIEW_PATH]
    assert "context" not in server.requests[0].body
    second = server.requests[1].body
    assert [st["sql"] for st in second["statements"]] == [
        "SELECT balance FROM a WHERE id = ?",
        "UPDATE a SET balance = ? WHERE id = ?",
    ]
    assert second["context"] == {"previewed": 1}
    assert write.rowcount == 1 and write.lastrowid == 101  # this statement's own result
    drive(s.commit(), server)
    commit = server.requests[-1]
    assert commit.path == TX_PATH
    assert commit.body["interactive"] == {"previewed": 2}
    assert server.sqls() == server.sqls(1)
    assert not s.in_transaction and s.commit_token == "epx2:0:1"


def test_previews_after_a_commit_carry_its_token() -> None:
    server, s = FakeServer(), session(autocommit=False)
    drive(s.execute("INSERT INTO t VALUES (1)"), server)
    drive(s.commit(), server)
    drive(s.execute("SELECT * FROM t"), server)
    assert server.requests[-1].path == PREVIEW_PATH
    assert server.requests[-1].body["after"] == "epx2:0:1"


def test_the_position_keeps_the_highest_slot_of_every_replica_committed_on() -> None:
    server, s = FakeServer(), session(autocommit=True)
    drive(s.execute("INSERT INTO a VALUES (1)"), server)  # epx1:0:1
    server.owner = 2  # the connection failed over to replica 2
    drive(s.execute("INSERT INTO b VALUES (1)"), server)  # epx1:2:2
    server.owner = 0
    drive(s.execute("INSERT INTO a VALUES (2)"), server)  # epx1:0:3
    assert s.commit_token == "epx2:0:3,2:2"
    drive(s.execute("SELECT * FROM b"), server)
    assert server.requests[-1].body["after"] == "epx2:0:3,2:2"


def test_a_transaction_that_executed_and_failed_moves_the_position_too() -> None:
    server, s = FakeServer(), session(autocommit=True)
    with pytest.raises(IntegrityError):
        drive(s.execute("INSERT INTO t VALUES (FAIL)"), server)
    assert s.commit_token == "epx2:0:1"  # what it saw (a row in the way) stays visible


def test_a_malformed_commit_token_is_an_interface_error() -> None:
    s = session(autocommit=True)

    def answer(_request: object) -> object:
        return {"request_id": "r", "results": [{"rows_affected": 1}], "commit_token": "t-1"}

    with pytest.raises(InterfaceError, match="commit token"):
        drive(s.execute("INSERT INTO t VALUES (1)"), answer)


def test_transaction_outcome_asks_by_request_id_and_moves_the_position() -> None:
    server, s = FakeServer(), session(autocommit=True)
    drive(s.execute("INSERT INTO t VALUES (1)"), server)
    (request_id,) = server.committed
    server.owner = 1
    unknown = drive(s.transaction_outcome("not/seen here"), server)
    assert server.requests[-1].path == "/v1/tx/not%2Fseen%20here"
    assert server.requests[-1].method == "GET" and not server.requests[-1].may_apply
    assert unknown == TransactionOutcome("not/seen here", "unknown")
    known = drive(s.transaction_outcome(request_id), server)
    assert known.state == "committed" and known.commit_token == "epx1:0:1"
    assert known.results[0].rows_affected == 1 and known.error is None
    assert s.commit_token == "epx2:0:1"


def test_an_aborted_outcome_carries_the_error_its_commit_raised() -> None:
    s = session(autocommit=True)
    stored = {"code": "SQLITE_CONSTRAINT_UNIQUE", "message": "UNIQUE constraint failed: t.x",
              "statement": 1, "retryable": False}  # fmt: skip

    def answer(_request: object) -> object:
        return {"request_id": "r", "outcome": "aborted", "error": stored,
                "commit_token": "epx1:2:7"}  # fmt: skip

    outcome = drive(s.transaction_outcome("r"), answer)
    assert outcome.state == "aborted" and outcome.results == ()
    assert isinstance(outcome.error, IntegrityError)
    assert (outcome.error.code, outcome.error.statement, outcome.error.request_id) == (
        "SQLITE_CONSTRAINT_UNIQUE", 1, "r",
    )  # fmt: skip
    assert s.commit_token == "epx2:2:7"


def test_a_failing_statement_is_left_out_and_its_recorded_failure_kept() -> None:
    server, s = FakeServer(), session(autocommit=False)
    drive(s.execute("INSERT INTO t VALUES (1)"), server)
    with pytest.raises(IntegrityError) as raised:
        drive(s.execute("INSERT INTO t VALUES (FAIL)"), server)
    assert raised.value.statement == 0  # within this execute()
    assert s.in_transaction
    drive(s.execute("INSERT INTO t VALUES (2)"), server)
    assert server.sqls() == ["INSERT INTO t VALUES (1)", "INSERT INTO t VALUES (2)"]
    assert server.requests[-1].body["context"] == {"previewed": 1, "failed_at": 1}
    drive(s.commit(), server)
    assert server.sqls() == ["INSERT INTO t VALUES (1)", "INSERT INTO t VALUES (2)"]


def test_a_failure_that_rolled_the_transaction_back_ends_it() -> None:
    server, s = FakeServer(), session(autocommit=False)
    drive(s.execute("INSERT INTO t VALUES (1)"), server)
    with pytest.raises(IntegrityError):
        drive(s.execute("INSERT INTO t VALUES (ROLLBACK_FAIL)"), server)
    assert not s.in_transaction


def test_a_refusal_without_context_leaves_the_transaction_as_it_was() -> None:
    s = session(autocommit=False)
    drive(s.execute("INSERT INTO t VALUES (1)"), FakeServer())

    def refuse(_request: object) -> object:
        raise ProgrammingError("near 'SELEC'", code="syntax_error", statement=1)

    with pytest.raises(ProgrammingError) as raised:
        drive(s.execute("SELEC 1"), refuse)
    assert raised.value.statement == 0
    server = FakeServer()
    drive(s.commit(), server)
    assert server.sqls() == ["INSERT INTO t VALUES (1)"]
    assert server.requests[-1].body["interactive"] == {"previewed": 1}


def test_a_first_statement_that_fails_records_the_failure_in_an_open_transaction() -> None:
    server, s = FakeServer(), session(autocommit=False)
    with pytest.raises(IntegrityError):
        drive(s.execute("INSERT INTO t VALUES (FAIL)"), server)
    assert s.in_transaction
    drive(s.commit(), server)  # nothing to commit but the failure: no request
    assert server.paths() == [PREVIEW_PATH] and not s.in_transaction


def test_serialization_failure_at_commit_ends_the_transaction() -> None:
    server, s = FakeServer(), session(autocommit=False)
    drive(s.execute("UPDATE a SET x = 1"), server)
    server.refuse_next_commit = SERIALIZATION
    with pytest.raises(SerializationFailure):
        drive(s.commit(), server)
    assert not s.in_transaction
    assert s.commit_token == "epx2:0:1"  # the failed commit was ordered all the same
    drive(s.execute("SELECT 1"), server)
    assert server.sqls() == ["SELECT 1"]  # a new transaction, without the old write


def test_serialization_failure_during_a_preview_ends_the_transaction() -> None:
    s = session(autocommit=False)
    drive(s.execute("SELECT 1"), FakeServer())

    def refuse(_request: object) -> object:
        raise SerializationFailure("snapshot gone", code="serialization_failure")

    with pytest.raises(SerializationFailure):
        drive(s.execute("SELECT 2"), refuse)
    assert not s.in_transaction


def test_commit_that_reached_no_replica_keeps_the_transaction_for_another_commit() -> None:
    server, s = FakeServer(), session(autocommit=False)
    drive(s.execute("INSERT INTO t VALUES (1)"), server)
    server.refuse_next_commit = (503, {"code": "unavailable", "message": "stopping"})
    with pytest.raises(Unavailable):
        drive(s.commit(), server)
    assert s.in_transaction
    drive(s.commit(), server)
    assert server.sqls() == ["INSERT INTO t VALUES (1)"] and not s.in_transaction


def test_commit_with_an_unknown_outcome_is_not_retried_and_ends_the_transaction() -> None:
    server, s = FakeServer(), session(autocommit=False)
    drive(s.execute("INSERT INTO t VALUES (1)"), server)
    server.refuse_next_commit = (504, {"code": "outcome_unknown", "message": "timeout"})
    with pytest.raises(OutcomeUnknown) as raised:
        drive(s.commit(), server)
    assert not isinstance(raised.value, SerializationFailure)
    assert not isinstance(raised.value, OperationalError)
    assert not s.in_transaction
    assert server.paths().count(TX_PATH) == 1


def test_rollback_forgets_the_statements_without_a_request() -> None:
    server, s = FakeServer(), session(autocommit=False)
    drive(s.execute("INSERT INTO t VALUES (1)"), server)
    s.rollback()
    drive(s.commit(), server)
    assert server.paths() == [PREVIEW_PATH] and not s.in_transaction


def test_explicit_begin_and_commit_statements_in_autocommit_mode() -> None:
    server, s = FakeServer(), session(autocommit=True)
    drive(s.execute("BEGIN IMMEDIATE TRANSACTION"), server)
    assert s.in_transaction and server.requests == []
    drive(s.execute("INSERT INTO t VALUES (1)"), server)
    drive(s.execute("end"), server)
    drive(s.execute("INSERT INTO t VALUES (2)"), server)
    assert server.paths() == [PREVIEW_PATH, TX_PATH, TX_PATH]
    assert "interactive" in server.requests[1].body
    assert "interactive" not in server.requests[2].body


def test_transaction_control_errors_match_sqlite() -> None:
    server, s = FakeServer(), session(autocommit=True)
    with pytest.raises(OperationalError, match="no transaction is active"):
        drive(s.execute("COMMIT"), server)
    drive(s.execute("BEGIN"), server)
    with pytest.raises(OperationalError, match="within a transaction"):
        drive(s.execute("BEGIN"), server)
    drive(s.execute("ROLLBACK"), server)
    assert not s.in_transaction and server.requests == []


def test_executemany_in_autocommit_is_one_atomic_request() -> None:
    server, s = FakeServer(), session(autocommit=True)
    outcome = drive(s.executemany("INSERT INTO t VALUES (?)", [(i,) for i in range(4)]), server)
    assert server.paths() == [TX_PATH]
    assert [st["params"] for st in server.requests[0].body["statements"]] == [[0], [1], [2], [3]]
    assert outcome.rowcount == 4 and outcome.lastrowid is None


def test_executemany_failure_inside_a_transaction_keeps_the_sets_before_it() -> None:
    server, s = FakeServer(), session(autocommit=False)
    drive(s.execute("INSERT INTO t VALUES (0)"), server)
    with pytest.raises(IntegrityError) as raised:
        drive(s.executemany("INSERT INTO t VALUES (?)", [("ok",), ("FAIL",), ("never",)]), server)
    assert raised.value.statement == 1
    drive(s.commit(), server)
    assert [st["params"] for st in server.requests[-1].body["statements"]] == [[], ["ok"]]


def test_executescript_batches_statements_between_transaction_control() -> None:
    server, s = FakeServer(), session(autocommit=True)
    script = """
        CREATE TABLE t(x);            -- a comment; with a semicolon
        INSERT INTO t VALUES ('a;b');
        BEGIN;
        INSERT INTO t VALUES (1);
        INSERT INTO t VALUES (2);
        COMMIT;
        /* trailing comment */
    """
    drive(s.executescript(script), server)
    assert server.paths() == [TX_PATH, PREVIEW_PATH, TX_PATH]
    # each statement's text as written: a comment stays with the statement it precedes
    assert server.sqls(0) == [
        "CREATE TABLE t(x);",
        "-- a comment; with a semicolon\n        INSERT INTO t VALUES ('a;b');",
    ]
    assert server.sqls(2) == ["INSERT INTO t VALUES (1);", "INSERT INTO t VALUES (2);"]


def test_retryable_refusal_in_autocommit_is_resubmitted_under_a_new_id() -> None:
    server, s = FakeServer(), session(autocommit=True)
    server.refuse_next_commit = (
        409,
        {"code": "schema_changed", "message": "schema moved", "retryable": True},
    )
    drive(s.execute("INSERT INTO t VALUES (1)"), server)
    first, second = server.requests
    assert first.body["request_id"] != second.body["request_id"]
    assert s.commit_token == "epx2:0:2"  # the refused attempt executed in slot 1


def test_lastrowid_is_the_connections_last_insert_across_other_statements() -> None:
    server, s = FakeServer(), session(autocommit=True)
    drive(s.execute("INSERT INTO t VALUES (1)"), server)
    assert drive(s.execute("SELECT 1"), server).lastrowid == 100
