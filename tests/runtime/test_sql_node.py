"""Nodes with the real SQL state machine (analyzer + storage engine) in one event loop."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

from epaxdb.commands.serve import AnalyzerKeys
from epaxdb.records import Execution
from epaxdb.runtime.datadir import DataDirectory
from epaxdb.runtime.local_cluster import free_port
from epaxdb.runtime.node import Node, NodeSettings
from epaxdb.runtime.sql_machine import SqlStateMachine
from epaxdb.runtime.transport import Address
from epaxdb.storage import StateDatabase, TransactionResult


class LaggingSqlMachine(SqlStateMachine):
    """Executes every batch late, like a replica that hears of commits last."""

    lag_s = 0.3

    def apply(self, executions: Sequence[Execution]) -> list[list[TransactionResult]]:
        time.sleep(self.lag_s)
        return super().apply(executions)


def run(test: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(asyncio.wait_for(test(), 60))


def test_refusal_from_a_schema_not_yet_executed_here_waits_for_it(tmp_path: Path) -> None:
    async def scenario() -> None:
        peers = {i: Address("127.0.0.1", free_port()) for i in range(3)}
        nodes = []
        for replica_id in range(3):
            machine_class = LaggingSqlMachine if replica_id == 2 else SqlStateMachine

            def open_machine(
                directory: DataDirectory, cls: type = machine_class
            ) -> SqlStateMachine:
                return cls(StateDatabase.open(directory.state_db_path), AnalyzerKeys())

            settings = NodeSettings("sql", replica_id, peers, tmp_path / f"r{replica_id}")
            node = Node.open(settings, open_machine)
            await node.start()
            nodes.append(node)
        created = await nodes[0].submit([("CREATE TABLE t(id INTEGER PRIMARY KEY)", [])])
        assert created.ok
        # Replica 2 has not executed the CREATE yet: its analyzer does not know t.
        inserted = await nodes[2].submit([("INSERT INTO t VALUES (1)", [])])
        assert inserted.ok and inserted.statements[0].rows_affected == 1
        for node in nodes:
            await node.stop()

    run(scenario)
