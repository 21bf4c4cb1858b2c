"""Interactive transactions through nodes with the SQL machine, in one event loop.

Three nodes on loopback; clients preview on one replica and commit on another, as the
DB-API does after a failover. Checks the protocol's edges; tests/runtime/
test_interactive_cluster.py runs the main scenarios over HTTP against real processes.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import msgpack
import pytest

from analyzer import AnalyzerError
from epaxdb.commands.serve import AnalyzerKeys
from epaxdb.runtime.datadir import DataDirectory
from epaxdb.runtime.errors import InvalidRequest
from epaxdb.runtime.interactive import PreviewAnswer
from epaxdb.runtime.local_cluster import free_ports
from epaxdb.runtime.machine import InteractiveCommit
from epaxdb.runtime.node import Node, NodeSettings
from epaxdb.runtime.sql_machine import SqlStateMachine, TransactionPayload
from epaxdb.runtime.transport import Address
from epaxdb.storage import (
    SERIALIZATION_FAILURE,
    RowsResult,
    StateDatabase,
    TransactionSpec,
    WriteResult,
)

Scenario = Callable[[list[Node]], Awaitable[None]]


def with_nodes(tmp_path: Path, scenario: Scenario, *, max_age_ms: int = 60_000) -> None:
    async def main() -> None:
        peers = {i: Address("127.0.0.1", port) for i, port in enumerate(free_ports(3))}

        def open_machine(directory: DataDirectory) -> SqlStateMachine:
            database = StateDatabase.open(directory.state_db_path)
            return SqlStateMachine(database, AnalyzerKeys(), max_age_ms=max_age_ms)

        nodes = []
        try:
            for replica_id in range(3):
                settings = NodeSettings("itx", replica_id, peers, tmp_path / f"r{replica_id}")
                node = Node.open(settings, open_machine)
                await node.start()
                nodes.append(node)
            created = await nodes[0].submit(
                [
                    ("CREATE TABLE acct(id INTEGER PRIMARY KEY, balance INTEGER NOT NULL)", []),
                    ("CREATE TABLE names(name TEXT PRIMARY KEY)", []),
                    ("INSERT INTO acct VALUES (1, 100), (2, 100)", []),
                    ("INSERT INTO names VALUES ('ann')", []),
                ]
            )
            assert created.ok, created.error
            await converged(nodes)
            await scenario(nodes)
        finally:
            for node in nodes:
                await node.stop()

    asyncio.run(asyncio.wait_for(main(), 60))


async def converged(nodes: list[Node]) -> str:
    for _ in range(200):
        hashes = {(await node.status())["state_hash"] for node in nodes}
        if len(hashes) == 1:
            return hashes.pop()
        await asyncio.sleep(0.05)
    raise AssertionError(f"no convergence: {hashes}")


async def ok_preview(node: Node, statements: list[Any], context: Any = None) -> PreviewAnswer:
    answer = await node.preview(statements, context)
    assert answer.error is None, answer.error
    assert answer.context is not None
    return answer


def context_of(answer: PreviewAnswer) -> dict[str, Any]:
    assert answer.context is not None
    return answer.context.to_json()


def test_a_failed_statement_is_left_out_and_its_failure_checked_at_commit(
    tmp_path: Path,
) -> None:
    async def scenario(nodes: list[Node]) -> None:
        insert = ("INSERT INTO names VALUES ('ann')", [])
        count = ("SELECT count(*) FROM names", [])
        failed = await nodes[0].preview([insert], None)
        assert failed.error is not None and failed.error.code == "SQLITE_CONSTRAINT_PRIMARYKEY"
        assert failed.error.statement_index == 0 and failed.context is not None
        # The client drops the statement and goes on, on another replica.
        seen = await ok_preview(nodes[1], [count], context_of(failed))
        assert seen.results == (RowsResult(("count(*)",), ((1,),)),)
        # Nothing changed in between: the INSERT still fails, the count holds; it commits.
        committed = await nodes[2].submit([count], interactive=context_of(seen))
        assert committed.ok and committed.statements == seen.results

        seen = await ok_preview(nodes[1], [count], context_of(failed))
        gone = await nodes[0].submit(
            [("DELETE FROM names", []), ("INSERT INTO names VALUES ('bo')", [])]
        )
        assert gone.ok
        # Same count (1), but the INSERT of 'ann' would succeed now: not serializable.
        verdict = await nodes[2].submit([count], interactive=context_of(seen))
        assert verdict.error is not None and verdict.error.code == SERIALIZATION_FAILURE

    with_nodes(tmp_path, scenario)


def test_a_preview_notices_early_that_an_earlier_read_changed(tmp_path: Path) -> None:
    async def scenario(nodes: list[Node]) -> None:
        read = ("SELECT balance FROM acct WHERE id = 1", [])
        first = await ok_preview(nodes[0], [read])
        assert (await nodes[1].submit([("UPDATE acct SET balance = 5 WHERE id = 1", [])])).ok
        await converged(nodes)
        second = await nodes[0].preview([read, ("SELECT 1", [])], context_of(first))
        assert second.error is not None and second.error.code == SERIALIZATION_FAILURE
        assert second.error.retryable and second.context is None

    with_nodes(tmp_path, scenario)


def test_statements_other_than_the_previewed_ones_are_refused(tmp_path: Path) -> None:
    async def scenario(nodes: list[Node]) -> None:
        update = ("UPDATE acct SET balance = balance - 1 WHERE id = 1", [])
        read = ("SELECT balance FROM acct WHERE id = 1", [])
        seen = await ok_preview(nodes[0], [update, read])
        context = context_of(seen)
        before = await converged(nodes)
        # Dropping the write would leave a result list that looks the same.
        with pytest.raises(InvalidRequest, match="not the ones previewed"):
            await nodes[1].submit([read, read], interactive=context)
        with pytest.raises(InvalidRequest, match="not the ones previewed"):
            await nodes[1].preview([read], context)
        with pytest.raises(InvalidRequest, match="were not previewed"):
            await nodes[1].submit([update, read, read], interactive=context)
        with pytest.raises(InvalidRequest, match="context is not valid"):
            await nodes[1].submit([update, read], interactive={**context, "digest": "00"})
        assert await converged(nodes) == before

    with_nodes(tmp_path, scenario)


def test_a_transaction_older_than_the_limit_fails_at_preview_and_commit(tmp_path: Path) -> None:
    async def scenario(nodes: list[Node]) -> None:
        write = ("UPDATE acct SET balance = 0 WHERE id = 1", [])
        seen = await ok_preview(nodes[0], [write])
        await asyncio.sleep(0.4)
        late = await nodes[0].preview([write, ("SELECT 1", [])], context_of(seen))
        assert late.error is not None and late.error.code == SERIALIZATION_FAILURE
        verdict = await nodes[1].submit([write], request_id="late", interactive=context_of(seen))
        assert verdict.error is not None and verdict.error.code == SERIALIZATION_FAILURE
        assert "limit of 300 ms" in verdict.error.message
        balance = await ok_preview(nodes[2], [("SELECT balance FROM acct WHERE id = 1", [])])
        assert balance.results == (RowsResult(("balance",), ((100,),)),)

    with_nodes(tmp_path, scenario, max_age_ms=300)


def test_clock_and_randomness_of_the_previews_are_those_of_the_commit(tmp_path: Path) -> None:
    async def scenario(nodes: list[Node]) -> None:
        stamp = ("INSERT INTO names VALUES (datetime('now') || random()) RETURNING name", [])
        first = await ok_preview(nodes[0], [stamp])
        second = await ok_preview(nodes[1], [stamp, ("SELECT 1", [])], context_of(first))
        assert second.results[0] == first.results[0]
        committed = await nodes[2].submit([stamp, ("SELECT 1", [])], interactive=context_of(second))
        assert committed.ok and committed.statements == second.results

    with_nodes(tmp_path, scenario)


def test_payloads_of_version_1_still_decode() -> None:
    old = msgpack.packb([1, [["SELECT ?", [1]]], 123, 7, 4], use_bin_type=True)
    assert TransactionPayload.decode(old) == TransactionPayload((("SELECT ?", [1]),), 123, 7, 4)
    with pytest.raises(ValueError):
        TransactionPayload.decode(msgpack.packb([3, [], 1, 2, 3, None]))


def test_rows_affected_enter_the_check_like_rows(tmp_path: Path) -> None:
    async def scenario(nodes: list[Node]) -> None:
        drain = ("UPDATE acct SET balance = 0 WHERE balance > 50", [])
        seen = await ok_preview(nodes[0], [drain])
        assert seen.results == (WriteResult(2, 0),)
        assert (await nodes[1].submit([("UPDATE acct SET balance = 1 WHERE id = 2", [])])).ok
        verdict = await nodes[2].submit([drain], interactive=context_of(seen))
        assert verdict.error is not None and verdict.error.code == SERIALIZATION_FAILURE

    with_nodes(tmp_path, scenario)


def test_the_commit_command_carries_the_read_keys(tmp_path: Path) -> None:
    # Without them, a writer of what the transaction read could be ordered differently
    # on different replicas, and the validation give different verdicts.
    database = StateDatabase.open(tmp_path / "state.db")
    create = TransactionSpec(
        "create", (("CREATE TABLE t(id INTEGER PRIMARY KEY, v)", ()),), 0, 0, "m"
    )
    assert database.execute_transaction(create).ok
    machine = SqlStateMachine(database, AnalyzerKeys())
    try:
        statements = [("SELECT v FROM t WHERE id = 1", []), ("UPDATE t SET v = 1 WHERE id = 2", [])]
        answer = machine.preview(machine.prepare_preview(statements, None), time.monotonic() + 5)
        assert answer.context is not None
        command = machine.prepare(InteractiveCommit(statements, answer.context.to_json()), "c")
        assert command.reads >= {("t", '[["i",1]]')}
        assert command.writes == {("t", '[["i",2]]')}
        payload = TransactionPayload.decode(command.payload)
        assert payload.validation is not None
        assert payload.validation.digest == answer.context.digest
    finally:
        machine.close()


def test_refusals_name_the_statement_by_its_index_in_the_clients_list(tmp_path: Path) -> None:
    async def scenario(nodes: list[Node]) -> None:
        failed = await nodes[0].preview([("INSERT INTO names VALUES ('ann')", [])], None)
        statements = [("SELECT 1", []), ("PRAGMA journal_mode", [])]
        with pytest.raises(AnalyzerError) as refused:
            await nodes[0].preview(statements, context_of(failed))
        # The client's list does not hold the failed INSERT, which ran first.
        assert refused.value.code == "pragma" and refused.value.statement == 1

    with_nodes(tmp_path, scenario)
