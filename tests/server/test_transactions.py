"""POST /v1/tx and GET /v1/tx/{request_id}: every success shape, every refusal, and
proof that a refused or failed request applied nothing on any replica."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from tests.server.harness import ApiCluster, api_cluster, run, tx

SCHEMA = tx(
    "CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT UNIQUE, b BLOB)",
    "CREATE TABLE counter(id INTEGER PRIMARY KEY, n INTEGER NOT NULL)",
    "INSERT INTO counter VALUES (1, 0)",
)


async def content(cluster: ApiCluster, replica_id: int) -> list[Any]:
    """Every user row, read locally at one replica."""
    body = await cluster.ok(replica_id, "/v1/query", tx(
        "SELECT id, name, b FROM t ORDER BY id", "SELECT n FROM counter",
        consistency="local",
    ))  # fmt: skip
    return [result["rows"] for result in body["results"]]


def test_a_committed_transaction_answers_results_request_id_and_commit_token(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        async with api_cluster(tmp_path) as cluster:
            await cluster.ok(0, "/v1/tx", SCHEMA)
            body = await cluster.ok(0, "/v1/tx", tx(
                ("INSERT INTO t VALUES (?, ?, ?)", [7, "seven", {"$blob": "AP8="}]),
                ("UPDATE counter SET n = n + :by WHERE id = 1", {"by": 5}),
                ("SELECT id, b FROM t WHERE name = @name", {"@name": "seven"}),
                request_id="mine",
            ))  # fmt: skip
            assert body["request_id"] == "mine"
            assert body["results"] == [
                {"rows_affected": 1, "last_insert_rowid": 7},
                {"rows_affected": 1, "last_insert_rowid": 7},
                {"columns": ["id", "b"], "rows": [[7, {"$blob": "AP8="}]]},
            ]
            assert body["commit_token"].startswith("epx1:0:")
            # `after`: replica 1 must have run the DDL first, or the analysis it makes
            # may be answered schema_changed (a retryable 409, not what this test is about).
            generated = await cluster.ok(1, "/v1/tx", tx("SELECT 1", after=body["commit_token"]))
            assert len(generated["request_id"]) == 32  # one is made up when none is given
            assert generated["commit_token"].startswith("epx1:1:")

    run(scenario)


# (body, code, statement) of requests refused with 400 before anything is submitted.
REFUSED: list[tuple[Any, str, int | None]] = [
    ([], "bad_request", None),
    ({"statements": []}, "bad_request", None),
    ({"statements": "SELECT 1"}, "bad_request", None),
    ({**tx("SELECT 1"), "timeout": 5}, "unknown_field", None),
    ({"statements": [{"sql": "SELECT 1", "parms": []}]}, "unknown_field", 0),
    ({"statements": [{"sql": "SELECT 1"}, {"params": [1]}]}, "bad_request", 1),
    ({"statements": [{"sql": "SELECT 1"}, "SELECT 2"]}, "bad_request", 1),
    (tx(("SELECT ?", "1")), "bad_request", 0),
    (tx(("SELECT ?", [[1, 2]])), "bad_request", 0),
    (tx(("SELECT ?", [{"base64": "AP8="}])), "bad_request", 0),
    (tx(("SELECT ?", [{"$blob": "not base64!"}])), "bad_request", 0),
    (tx("SELECT 1", request_id=5), "bad_request", None),
    (tx("SELECT 1", request_id="x" * 257), "bad_request", None),
    (tx("SELECT 1", request_id="a\x00b"), "bad_request", None),  # NUL: resubmissions'
    (tx("SELECT 1", timeout_ms=True), "bad_request", None),
    (tx("SELECT 1", timeout_ms=0), "bad_request", None),
    (tx("SELECT 1", interactive=[1]), "bad_request", None),
    (tx("SELECT 1", after=17), "bad_token", None),
    (tx("SELECT 1", after="epx1:0"), "bad_token", None),
    (tx("SELECT 1", after="epx1:3:1"), "bad_token", None),  # no replica 3 among 3
    (tx("SELECT 1", after="epx2:1:4,0:2"), "bad_token", None),  # owners out of order
    (tx("SELECT 1", after="epx2:0:2,3:1"), "bad_token", None),
    (tx("SELECT 1", after="epx2:"), "bad_token", None),
    (tx("SELECT 1", "SELEC 2"), "syntax_error", 1),
    (tx("SELECT 1; SELECT 2"), "multiple_statements", 0),
    (tx(""), "bad_request", 0),
    (tx("SELECT 1", "PRAGMA foreign_keys=OFF"), "pragma", 1),
    (tx("BEGIN"), "transaction_control", 0),
    (tx("SELECT no_such_function(1)"), "unknown_function", 0),
    (tx(("INSERT INTO t(id, name) VALUES (?, ?)", [1])), "parameter_count", 0),
    (tx(("SELECT ?", [1, 2])), "parameter_count", 0),
    (tx("SELECT 1", ("SELECT :a, :b", {"a": 1})), "parameter_count", 1),
    (tx(("SELECT :a", {"a": 1, "zz": 2})), "parameter_count", 0),
    (tx(("SELECT ?", [2**63])), "parameter_type", 0),
]


def test_every_malformed_or_unacceptable_request_is_400_and_changes_no_state_hash(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        async with api_cluster(tmp_path) as cluster:
            await cluster.ok(0, "/v1/tx", SCHEMA)
            await cluster.ok(0, "/v1/tx", tx(("INSERT INTO t VALUES (1, 'a', x'00')", [])))
            before = await cluster.converged()
            for index, (body, code, statement) in enumerate(REFUSED):
                status, answer = await cluster.post(index % 3, "/v1/tx", body)
                assert "error" in answer, (body, answer)
                assert (status, answer["error"]["code"], answer["error"]["statement"]) == (
                    400, code, statement,
                ), (body, answer)  # fmt: skip
                assert answer["error"]["message"] and answer["error"]["retryable"] is False
            for data in (b"{nope", b'{"statements": NaN}', b'{"a": 1, "a": 2}', b"", b"\xff"):
                status, answer = await cluster.request(0, "POST", "/v1/tx", data=data)
                assert (status, answer["error"]["code"]) == (400, "malformed_body"), data
            await asyncio.sleep(0.2)  # anything wrongly submitted would have executed by now
            assert await cluster.hashes() == before

    run(scenario)


def test_an_unknown_table_is_refused_after_a_barrier_proves_no_newer_schema_exists(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        async with api_cluster(tmp_path) as cluster:
            await cluster.ok(0, "/v1/tx", SCHEMA)
            await cluster.converged()
            rows_before = await content(cluster, 1)
            _, status_before = await cluster.get(1, "/v1/status")
            status, answer = await cluster.post(1, "/v1/tx", tx(
                "SELECT 1", "INSERT INTO nowhere VALUES (1)"
            ))  # fmt: skip
            assert (status, answer["error"]["code"], answer["error"]["statement"]) == (
                400, "unknown_table", 1,
            )  # fmt: skip
            # The barrier (a global command without statements) is the one thing that
            # executed, identically everywhere; no row changed.
            await cluster.converged()
            _, status_after = await cluster.get(1, "/v1/status")
            assert status_after["executed_count"] == status_before["executed_count"] + 1
            assert await content(cluster, 1) == rows_before

    run(scenario)


def test_a_deterministic_execution_error_is_409_and_changes_no_row_anywhere(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        async with api_cluster(tmp_path) as cluster:
            await cluster.ok(0, "/v1/tx", SCHEMA)
            await cluster.ok(0, "/v1/tx", tx("INSERT INTO t(id, name) VALUES (1, 'a')"))
            await cluster.converged()
            rows_before = [await content(cluster, i) for i in range(3)]
            status, answer = await cluster.post(1, "/v1/tx", tx(
                "UPDATE counter SET n = n + 1",
                "INSERT INTO t(id, name) VALUES (2, 'a')",
                request_id="dup",
            ))  # fmt: skip
            assert status == 409
            assert answer["error"] == {
                "code": "SQLITE_CONSTRAINT_UNIQUE",
                "message": "UNIQUE constraint failed: t.name",
                "statement": 1,
                "retryable": False,
            }
            assert answer["request_id"] == "dup" and answer["commit_token"].startswith("epx1:1:")
            # The failed transaction executed (its position counts, the same everywhere)
            # but changed no row: the first statement's update is gone too.
            await cluster.converged()
            assert [await content(cluster, i) for i in range(3)] == rows_before

    run(scenario)


def test_a_retry_on_another_replica_returns_the_first_outcome_and_applies_once(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        async with api_cluster(tmp_path) as cluster:
            await cluster.ok(0, "/v1/tx", SCHEMA)
            bump = tx("UPDATE counter SET n = n + 1 RETURNING n", request_id="bump-1")
            first = await cluster.ok(0, "/v1/tx", bump)
            again = await cluster.ok(1, "/v1/tx", bump)
            elsewhere = await cluster.ok(2, "/v1/tx", bump)
            assert first == again == elsewhere
            assert first["results"] == [{"columns": ["n"], "rows": [[1]]}]
            await cluster.converged()
            assert (await content(cluster, 2))[1] == [[1]]
            # A failed transaction's retry gets the same failure, never a second attempt.
            clash = tx("INSERT INTO t(id, name) VALUES (1, 'x')", "INSERT INTO t VALUES (1, 'y', NULL)",
                       request_id="clash")  # fmt: skip
            failed = [await cluster.post(i, "/v1/tx", clash) for i in (2, 0)]
            assert failed[0] == failed[1] and failed[0][0] == 409

    run(scenario)


def test_get_tx_tells_committed_aborted_or_unknown_from_this_replicas_results(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        async with api_cluster(tmp_path) as cluster:
            await cluster.ok(0, "/v1/tx", SCHEMA)
            written = await cluster.ok(0, "/v1/tx", tx(
                ("INSERT INTO t VALUES (5, 'five', ?) RETURNING id", [{"$blob": "AQI="}]),
                request_id="w",
            ))  # fmt: skip
            _, failed = await cluster.post(0, "/v1/tx", tx(
                "INSERT INTO t(id) VALUES (5)", request_id="f"
            ))  # fmt: skip
            await cluster.converged()
            status, committed = await cluster.get(2, "/v1/tx/w")
            assert status == 200
            assert committed == {
                "request_id": "w",
                "outcome": "committed",
                "results": [{"columns": ["id"], "rows": [[5]]}],
                "commit_token": written["commit_token"],
            }
            status, aborted = await cluster.get(1, "/v1/tx/f")
            assert (status, aborted["outcome"]) == (200, "aborted")
            assert aborted["error"] == failed["error"]
            assert aborted["commit_token"] == failed["commit_token"]
            status, unknown = await cluster.get(0, "/v1/tx/never-sent")
            assert (status, unknown) == (200, {"request_id": "never-sent", "outcome": "unknown"})
            status, too_long = await cluster.get(0, "/v1/tx/" + "x" * 300)
            assert (status, too_long["error"]["code"]) == (400, "bad_request")

    run(scenario)


def test_unknown_routes_and_methods_answer_json_errors(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with api_cluster(tmp_path, 1) as cluster:
            status, body = await cluster.get(0, "/v1/nothing")
            assert (status, body["error"]["code"]) == (404, "not_found")
            status, body = await cluster.get(0, "/v1/query")
            assert (status, body["error"]["code"]) == (405, "method_not_allowed")

    run(scenario)
