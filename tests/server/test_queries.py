"""POST /v1/query (linearizable and local reads) and commit tokens (`after`)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.server.harness import api_cluster, run, tx

SCHEMA = tx("CREATE TABLE kv(k TEXT PRIMARY KEY, v)", "INSERT INTO kv VALUES ('a', 1)")


def test_a_linearizable_query_sees_every_write_acknowledged_before_it_anywhere(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        async with api_cluster(tmp_path) as cluster:
            await cluster.ok(0, "/v1/tx", SCHEMA)
            for value in range(2, 6):
                await cluster.ok(value % 3, "/v1/tx", tx(("UPDATE kv SET v = ? WHERE k = 'a'",
                                                          [value])))  # fmt: skip
                read = await cluster.ok((value + 1) % 3, "/v1/query", tx(
                    ("SELECT v FROM kv WHERE k = ?", ["a"])
                ))  # fmt: skip
                assert read["results"] == [{"columns": ["v"], "rows": [[value]]}]
                assert read["consistency"] == "linearizable"
                assert read["commit_token"].startswith("epx1:")

    run(scenario)


def test_a_query_refuses_a_statement_that_could_write_naming_it(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with api_cluster(tmp_path) as cluster:
            await cluster.ok(0, "/v1/tx", SCHEMA)
            before = await cluster.converged()
            for consistency in ("linearizable", "local"):
                for statements in (
                    ("SELECT 1", "DELETE FROM kv"),
                    ("SELECT 1", "SELECT 2", "UPDATE kv SET v = 0 RETURNING v"),
                    ("CREATE TABLE x(a)",),
                ):
                    status, body = await cluster.post(1, "/v1/query", tx(
                        *statements, consistency=consistency
                    ))  # fmt: skip
                    assert (status, body["error"]["code"]) == (400, "not_read_only")
                    assert body["error"]["statement"] == len(statements) - 1
            status, body = await cluster.post(1, "/v1/query", tx("SELECT 1", consistency="fast"))
            assert (status, body["error"]["code"]) == (400, "bad_request")
            status, body = await cluster.post(1, "/v1/query", tx(
                "SELECT 1", consistency="local", request_id="r"
            ))  # fmt: skip
            assert (status, body["error"]["code"]) == (400, "bad_request")
            status, body = await cluster.post(1, "/v1/query", tx("SELECT 1", interactive={}))
            assert (status, body["error"]["code"]) == (400, "unknown_field")
            await asyncio.sleep(0.2)
            assert await cluster.hashes() == before

    run(scenario)


def test_a_local_query_reads_this_replica_now_and_says_which_state(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with api_cluster(tmp_path) as cluster:
            await cluster.ok(0, "/v1/tx", SCHEMA)
            await cluster.converged()
            _, status = await cluster.get(2, "/v1/status")
            read = await cluster.ok(2, "/v1/query", tx(
                "SELECT k, v FROM kv", ("SELECT ? || 'x'", [{"$blob": "YQ=="}]),
                consistency="local",
            ))  # fmt: skip
            assert read == {
                "results": [
                    {"columns": ["k", "v"], "rows": [["a", 1]]},
                    {"columns": ["? || 'x'"], "rows": [["ax"]]},
                ],
                "consistency": "local",
                "executed_count": status["executed_count"],
            }
            # Local reads are not replicated: nothing executes, no state hash moves.
            hashes = await cluster.hashes()
            await cluster.ok(1, "/v1/query", tx("SELECT * FROM kv", consistency="local"))
            assert await cluster.hashes() == hashes
            status_code, failed = await cluster.post(1, "/v1/query", tx(
                "SELECT 1", "SELECT abs(-9223372036854775807 - 1)", consistency="local"
            ))  # fmt: skip
            assert (status_code, failed["error"]["statement"]) == (409, 1)

    run(scenario)


def test_after_a_commit_token_a_lagging_replica_reads_its_own_writes(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with api_cluster(tmp_path) as cluster:
            await cluster.ok(0, "/v1/tx", SCHEMA)
            await cluster.converged()
            await cluster.stop(2)  # replica 2 misses the next write
            written = await cluster.ok(0, "/v1/tx", tx("UPDATE kv SET v = 42 WHERE k = 'a'"))
            await cluster.start(2)
            query = tx("SELECT v FROM kv", consistency="local")
            stale = await cluster.ok(2, "/v1/query", query)
            fresh = await cluster.ok(2, "/v1/query", {**query, "after": written["commit_token"]})
            assert stale["results"][0]["rows"] == [[1]]  # it has not caught up on its own yet
            assert fresh["results"][0]["rows"] == [[42]]
            assert fresh["executed_count"] > stale["executed_count"]
            # The same token works on a write and on a linearizable read, anywhere.
            for replica_id in (1, 2):
                await cluster.ok(
                    replica_id, "/v1/tx", tx("SELECT 1", after=written["commit_token"])
                )
                await cluster.ok(replica_id, "/v1/query", tx("SELECT 1",
                                                             after=written["commit_token"]))  # fmt: skip

    run(scenario)


def test_after_a_position_a_lagging_replica_reflects_every_write_it_covers(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        async with api_cluster(tmp_path) as cluster:
            await cluster.ok(0, "/v1/tx", SCHEMA)
            await cluster.ok(0, "/v1/tx", tx("CREATE TABLE other(x)"))
            await cluster.converged()
            await cluster.stop(2)  # replica 2 misses both writes
            first = await cluster.ok(0, "/v1/tx", tx("UPDATE kv SET v = 7 WHERE k = 'a'"))
            second = await cluster.ok(0, "/v1/tx", tx("INSERT INTO other VALUES (8)"))
            await cluster.start(2)
            # The two writes do not interfere: executing the second does not imply the
            # first. A position covers every instance of replica 0 up to the second.
            owner, first_slot = first["commit_token"].split(":")[1:]
            _, second_slot = second["commit_token"].split(":")[1:]
            assert owner == "0" and int(second_slot) > int(first_slot)
            position = f"epx2:0:{second_slot}"
            read = await cluster.ok(2, "/v1/query", tx(
                "SELECT v FROM kv", "SELECT x FROM other", consistency="local", after=position,
            ))  # fmt: skip
            assert [r["rows"] for r in read["results"]] == [[[7]], [[8]]]
            for path in ("/v1/tx", "/v1/query"):  # writes and linearizable reads wait alike
                await cluster.ok(2, path, tx("SELECT 1", after=position))

    run(scenario)


def test_waiting_for_a_token_this_replica_cannot_reach_is_504_not_caught_up(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        async with api_cluster(tmp_path) as cluster:
            await cluster.ok(0, "/v1/tx", SCHEMA)
            before = await cluster.converged()
            # A slot replica 1 has not reached, as an instance token and in a position.
            for future, named in (("epx1:1:1000000", "1.1000000"),
                                  ("epx2:0:1,1:1000000", "replica 1's instances")):  # fmt: skip
                for path, extra in (("/v1/tx", {}), ("/v1/query", {"consistency": "local"}),
                                    ("/v1/query", {}), ("/v1/tx/preview", {})):  # fmt: skip
                    status, body = await cluster.post(0, path, tx(
                        "UPDATE kv SET v = 0" if path == "/v1/tx" else "SELECT 1",
                        after=future, timeout_ms=200, **extra,
                    ))  # fmt: skip
                    assert (status, body["error"]["code"]) == (504, "not_caught_up"), body
                    assert body["error"]["retryable"] is True
                    assert named in body["error"]["message"], body
            _, status = await cluster.get(0, "/v1/status")
            assert status["stats"]["catching_up"] == 0  # the waiters left no trace
            assert await cluster.hashes() == before

    run(scenario)
