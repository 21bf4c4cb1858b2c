"""Nodes with the SQL machine in one event loop: replicated purges of stored results,
and a replica that fails in the middle of a batch re-executing it from its log."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, ClassVar

import apsw
import msgpack
import pytest

from epaxdb.commands.serve import AnalyzerKeys
from epaxdb.errors import StorageError
from epaxdb.ids import InstanceId
from epaxdb.records import Execution
from epaxdb.runtime import sql_machine
from epaxdb.runtime.datadir import DataDirectory
from epaxdb.runtime.local_cluster import free_ports
from epaxdb.runtime.node import Node, NodeSettings
from epaxdb.runtime.sql_machine import SqlStateMachine
from epaxdb.runtime.transport import Address
from epaxdb.storage import StateDatabase, TransactionResult, TransactionSpec
from epaxdb.storage.state_hash import compute_state_hash

CREATE = [("CREATE TABLE hits(request TEXT NOT NULL)", [])]


def hit(request_id: str) -> list[tuple[str, list[Any]]]:
    return [("INSERT INTO hits VALUES (?)", [request_id])]


class Nodes:
    """Three replicas on loopback; `database` chooses each one's state database class."""

    def __init__(self, root: Path, **settings: Any) -> None:
        self.root = root
        self.peers = {i: Address("127.0.0.1", port) for i, port in enumerate(free_ports(3))}
        self.extra = settings
        self.nodes: dict[int, Node] = {}

    async def start(self, replica_id: int, database: type[StateDatabase] = StateDatabase) -> Node:
        def open_machine(directory: DataDirectory) -> SqlStateMachine:
            return SqlStateMachine(database.open(directory.state_db_path), AnalyzerKeys())

        settings = NodeSettings("batches", replica_id, self.peers, self.root / f"r{replica_id}",
                                **self.extra)  # fmt: skip
        node = Node.open(settings, open_machine)
        await node.start()
        self.nodes[replica_id] = node
        return node

    async def stop_all(self) -> None:
        for node in self.nodes.values():
            await node.stop()

    def bookkeeping(self, replica_id: int) -> tuple[int, int, int, str]:
        """(executed count, stored results, rows of `hits`, state hash) of one replica,
        read in one snapshot beside the running node."""
        connection = apsw.Connection(
            str(self.nodes[replica_id].state_db_path), flags=apsw.SQLITE_OPEN_READONLY
        )
        try:
            connection.execute("BEGIN")
            (executed,) = connection.execute("SELECT executed_count FROM _epaxdb_position")
            (stored,) = connection.execute("SELECT count(*) FROM _epaxdb_applied")
            (hits,) = connection.execute("SELECT count(*) FROM hits")
            return executed[0], stored[0], hits[0], compute_state_hash(connection, executed[0])
        finally:
            connection.close()

    async def same_bookkeeping(self, timeout_s: float = 20.0) -> tuple[int, int, int, str]:
        """Once every replica executed the same commands (purges keep coming: wait for
        a moment when their counts agree), what they hold; the same everywhere."""
        deadline = asyncio.get_running_loop().time() + timeout_s
        while True:
            seen = {self.bookkeeping(replica_id) for replica_id in self.nodes}
            if len({executed for executed, *_ in seen}) == 1:
                assert len(seen) == 1, f"replicas at the same position differ: {seen}"
                return seen.pop()
            assert asyncio.get_running_loop().time() < deadline, f"replicas differ: {seen}"
            await asyncio.sleep(0.02)


def run(test: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(asyncio.wait_for(test(), 90))


async def wait_for(condition: Callable[[], Awaitable[bool]], timeout_s: float) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not await condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


def reference_hash(user_transactions: list[list[tuple[str, list[Any]]]], executed: int) -> str:
    """The state hash of the same user transactions with no-ops for the other executed
    commands (purges, barriers): purges change no content."""
    with StateDatabase.open(":memory:") as db:
        transactions = user_transactions + [[("SELECT 1", [])]] * (
            executed - len(user_transactions)
        )
        for n, statements in enumerate(transactions):
            db.execute_transaction(
                TransactionSpec(f"r{n}", tuple(statements), 0, 0, f"m{n}")  # type: ignore[arg-type]
            )
        return db.state_hash()


def test_results_are_purged_alike_everywhere_and_retries_within_the_window_deduplicated(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        # A retention of 3 s: each replica proposes a purge every 0.75 s.
        cluster = Nodes(tmp_path, result_retention_s=3.0)
        for replica_id in range(3):
            await cluster.start(replica_id)
        nodes = cluster.nodes
        assert (await nodes[0].submit(CREATE)).ok
        first = await nodes[0].submit(hit("w1"), request_id="w1")
        retry = await nodes[1].submit(hit("w1"), request_id="w1")  # within the window
        # (Whichever execution of w1 comes first answers; the retry's own is deduplicated.)
        assert first.ok and retry.statements == first.statements
        query = await nodes[2].submit([("SELECT count(*) FROM hits", [])], read_only=True)
        assert query.statements[0].rows == ((1,),)
        _, stored, hits, _ = await cluster.same_bookkeeping()
        assert hits == 1 and stored >= 2  # the CREATE and w1; the query stored nothing

        async def forgotten_everywhere() -> bool:
            return all([await node.lookup("w1") is None for node in nodes.values()])

        await wait_for(forgotten_everywhere, timeout_s=20)
        executed, stored, hits, state_hash = await cluster.same_bookkeeping()
        assert (stored, hits) == (0, 1)
        # (Proposed by the replicas that still stored expired results when they looked.)
        assert sum(node.counters.purges_proposed for node in nodes.values()) >= 1
        assert state_hash == reference_hash([CREATE, hit("w1")], executed)

        # Past the window, a retry is a new request: documented, and the same everywhere.
        late = await nodes[2].submit(hit("w1"), request_id="w1")
        assert late.ok and not late.duplicate
        assert (await cluster.same_bookkeeping())[2] == 2
        await cluster.stop_all()

    run(scenario)


class FailingDatabase(StateDatabase):
    """Fails (as a disk would) in the middle of the first batch of several commands,
    after recording the first command's marker in the open SQLite transaction."""

    failed_batch: ClassVar[list[str]] = []

    def execute_batch(self, commands: Any) -> Any:
        self._armed = len(commands) >= 2 and not FailingDatabase.failed_batch
        if self._armed:
            FailingDatabase.failed_batch = [command.request_id for command in commands]
        return super().execute_batch(commands)

    def _record_marker(self, marker: Any) -> None:
        super()._record_marker(marker)
        if getattr(self, "_armed", False):
            raise StorageError("injected: the disk failed in the middle of a batch")


def test_replicas_propose_no_purge_while_they_store_nothing_old_enough(tmp_path: Path) -> None:
    async def scenario() -> None:
        # A retention of 3 s: each replica would purge every 0.75 s.
        cluster = Nodes(tmp_path, result_retention_s=3.0)
        for replica_id in range(3):
            await cluster.start(replica_id)
        await asyncio.sleep(1.6)  # two rounds each, nothing stored
        assert [node.counters.purges_proposed for node in cluster.nodes.values()] == [0, 0, 0]
        created = await cluster.nodes[0].submit(CREATE)  # stores a result
        assert created.ok

        async def forgotten() -> bool:
            return await cluster.nodes[1].lookup(created.request_id) is None

        await wait_for(forgotten, timeout_s=20)
        # Once one purge forgot it, the others found nothing left to purge.
        assert sum(node.counters.purges_proposed for node in cluster.nodes.values()) >= 1
        await cluster.stop_all()

    run(scenario)


def test_a_replica_that_fails_in_the_middle_of_a_batch_executes_it_again_after_restart(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        cluster = Nodes(tmp_path)
        for replica_id in range(2):
            await cluster.start(replica_id)
        failing = await cluster.start(2, FailingDatabase)
        assert (await cluster.nodes[0].submit(CREATE)).ok
        ids = [f"w{i}-{uuid.uuid4().hex[:6]}" for i in range(40)]
        answers = await asyncio.gather(
            *(cluster.nodes[i % 2].submit(hit(r), request_id=r) for i, r in enumerate(ids))
        )
        assert all(isinstance(a, TransactionResult) and a.ok for a in answers)
        await asyncio.wait_for(failing.wait_stopped(), 20)
        assert isinstance(failing.failure, StorageError)
        lost = FailingDatabase.failed_batch
        assert len(lost) >= 2
        with StateDatabase.open(failing.state_db_path) as db:  # nothing of the batch stayed
            assert all(db.stored_result(r) is None for r in lost)
        restarted = await cluster.start(2)
        assert (await restarted.submit(hit("after"), request_id="after")).ok
        # Every transaction exactly once, everywhere (and the same state hash).
        assert (await cluster.same_bookkeeping())[2] == len(ids) + 1
        await cluster.stop_all()

    run(scenario)


def test_apply_commits_in_bounded_chunks_and_answers_every_execution(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sql_machine, "MAX_BATCH_COMMANDS", 4)
    machine = SqlStateMachine(StateDatabase.open(tmp_path / "state.db"), AnalyzerKeys())
    try:
        create = machine.prepare(CREATE, "create")
        machine.apply([Execution(InstanceId(0, 1), (create,))])
        commits: list[int] = []
        machine._db._db.set_commit_hook(lambda: commits.append(1) or False)  # type: ignore[func-returns-value]
        executions = [
            Execution(InstanceId(1, slot), tuple(
                machine.prepare(hit(f"{slot}.{i}"), f"{slot}.{i}") for i in range(size)
            ))
            for slot, size in enumerate([3, 0, 5, 1, 2], start=1)
        ]  # fmt: skip
        results = machine.apply(executions)
        assert len(commits) == 3  # 11 commands, at most 4 per SQLite transaction
        assert [[r.request_id for r in batch] for batch in results] == [
            [command.request_id for command in execution.batch] for execution in executions
        ]
        assert machine.executed_instances() >= {e.instance_id for e in executions if e.batch}
    finally:
        machine.close()


def test_a_purge_carries_its_limit_and_one_logged_without_a_limit_still_decodes() -> None:
    machine_payload = sql_machine.PurgePayload(5_000, 1_000, sql_machine.PURGE_LIMIT)
    assert sql_machine.decode_payload(machine_payload.encode()) == machine_payload
    earlier = msgpack.packb([sql_machine.PURGE_KIND, 5_000, 1_000])  # before the limit
    assert sql_machine.decode_payload(earlier) == sql_machine.PurgePayload(5_000, 1_000, None)
    for bad_limit in (0, -1, "10", 2.5, True):
        with pytest.raises(ValueError, match="malformed purge payload"):
            sql_machine.decode_payload(msgpack.packb(["purge", 5_000, 1_000, bad_limit]))
    with pytest.raises(ValueError, match="malformed purge payload"):
        sql_machine.decode_payload(msgpack.packb(["purge", 5_000, 1_000, 10, 11]))
