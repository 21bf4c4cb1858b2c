"""Nodes with the real SQL state machine (analyzer + storage engine) in one event loop."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

import pytest

from epaxdb.commands.serve import AnalyzerKeys
from epaxdb.records import Execution
from epaxdb.runtime.datadir import DataDirectory
from epaxdb.runtime.errors import OutcomeUnknown
from epaxdb.runtime.local_cluster import free_ports
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


async def start_nodes(tmp_path: Path, lagging: int) -> list[Node]:
    """Three nodes with the SQL machine; replica `lagging` applies every batch late."""
    peers = {i: Address("127.0.0.1", port) for i, port in enumerate(free_ports(3))}
    nodes = []
    for replica_id in range(3):
        machine_class = LaggingSqlMachine if replica_id == lagging else SqlStateMachine

        def open_machine(directory: DataDirectory, cls: type = machine_class) -> SqlStateMachine:
            return cls(StateDatabase.open(directory.state_db_path), AnalyzerKeys())

        settings = NodeSettings("sql", replica_id, peers, tmp_path / f"r{replica_id}")
        node = Node.open(settings, open_machine)
        await node.start()
        nodes.append(node)
    return nodes


def test_refusal_from_a_schema_not_yet_executed_here_waits_for_it(tmp_path: Path) -> None:
    async def scenario() -> None:
        nodes = await start_nodes(tmp_path, lagging=2)
        created = await nodes[0].submit([("CREATE TABLE t(id INTEGER PRIMARY KEY)", [])])
        assert created.ok
        # Replica 2 has not executed the CREATE yet: its analyzer does not know t.
        inserted = await nodes[2].submit([("INSERT INTO t VALUES (1)", [])])
        assert inserted.ok and inserted.statements[0].rows_affected == 1
        for node in nodes:
            await node.stop()

    run(scenario)


def test_a_transaction_analysed_before_a_racing_schema_change_is_resubmitted(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        nodes = await start_nodes(tmp_path, lagging=2)
        assert (await nodes[0].submit([("CREATE TABLE t(id INTEGER PRIMARY KEY)", [])])).ok
        assert (await nodes[2].submit([("INSERT INTO t VALUES (1)", [])])).ok
        assert (await nodes[0].submit([("ALTER TABLE t ADD COLUMN note TEXT", [])])).ok
        # Replica 2 analyses under the old schema (it runs the ALTER 0.3 s late); the
        # transaction is ordered after the ALTER, so its first run is refused with
        # schema_changed and the node submits it again, under the next id of its chain.
        inserted = await nodes[2].submit([("INSERT INTO t(id) VALUES (2)", [])], "ins-2")
        assert inserted.ok and inserted.request_id == "ins-2"
        assert nodes[2].counters.resubmitted == 1
        # A retry of the client's id, and a lookup, follow the chain to its effect.
        again = await nodes[1].submit([("INSERT INTO t(id) VALUES (2)", [])], "ins-2")
        assert again.ok and again.duplicate and again.request_id == "ins-2"
        looked_up = await nodes[2].lookup("ins-2")
        assert looked_up is not None and looked_up.ok and looked_up.request_id == "ins-2"
        counted = await nodes[2].submit([("SELECT count(*) FROM t", [])], read_only=True)
        assert counted.statements[0].rows == ((2,),)
        for node in nodes:
            await node.stop()

    run(scenario)


def test_a_resubmission_that_times_out_is_outcome_unknown_under_the_clients_id(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(LaggingSqlMachine, "lag_s", 0.5)

    async def scenario() -> None:
        nodes = await start_nodes(tmp_path, lagging=2)
        assert (await nodes[0].submit([("CREATE TABLE t(id INTEGER PRIMARY KEY)", [])])).ok
        assert (await nodes[2].submit([("INSERT INTO t VALUES (1)", [])])).ok
        assert (await nodes[0].submit([("ALTER TABLE t ADD COLUMN note TEXT", [])])).ok
        # Replica 2 runs the ALTER and then the first try within about 1 s; the
        # resubmission needs another 0.5 s, beyond the 1.3 s allowed.
        with pytest.raises(OutcomeUnknown) as unknown:
            await nodes[2].submit([("INSERT INTO t(id) VALUES (3)", [])], "ins-3", 1.3)
        assert unknown.value.request_id == "ins-3"
        assert nodes[2].counters.resubmitted == 1
        # The retry under the client's id finds the link that took effect.
        again = await nodes[2].submit([("INSERT INTO t(id) VALUES (3)", [])], "ins-3")
        assert again.ok and again.request_id == "ins-3"
        for node in nodes:
            await node.stop()

    run(scenario)
