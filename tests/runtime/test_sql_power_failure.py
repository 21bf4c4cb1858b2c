"""A replica whose state database lost its unsynced commits (a power failure) executes
them again from its log and converges with the others.

A replica's state database commits with `synchronous=NORMAL` and is fsynced only by
`sync()` (docs/storage.md). What a power failure leaves is, at worst, the files as
they were at the last `sync()`: the machine below copies them then, and the test puts
the copies back before the replica restarts.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Awaitable, Callable
from pathlib import Path

from epaxdb.commands.serve import open_sql_machine
from epaxdb.runtime.datadir import DataDirectory
from epaxdb.runtime.local_cluster import free_ports
from epaxdb.runtime.node import Node, NodeSettings
from epaxdb.runtime.sql_machine import SqlStateMachine
from epaxdb.runtime.transport import Address
from epaxdb.storage import StateDatabase

_SUFFIXES = ("", "-wal")


def _copy_database(source: Path, target: Path) -> None:
    for suffix in _SUFFIXES:
        origin = Path(f"{source}{suffix}")
        if origin.exists():
            shutil.copyfile(origin, f"{target}{suffix}")
        else:
            Path(f"{target}{suffix}").unlink(missing_ok=True)


class SyncCopyingMachine:
    """Wraps a replica's SQL machine: after each `sync()` copies the database files
    (what the disk is sure to hold) aside."""

    def __init__(self, machine: SqlStateMachine, path: Path) -> None:
        # One name per data directory: a restarted replica's wrapper finds the copy
        # its previous incarnation made.
        self._machine = machine
        self.path = path
        self.copy = path.parent.with_name(f"{path.parent.name}-synced.db")
        self.syncs = 0

    def sync(self) -> None:
        self._machine.sync()
        _copy_database(self.path, self.copy)
        self.syncs += 1

    def __getattr__(self, name: str) -> object:
        return getattr(self._machine, name)

    def lose_unsynced(self) -> None:
        """After the node stopped: the files go back to the last sync."""
        _copy_database(self.copy, self.path)
        Path(f"{self.path}-shm").unlink(missing_ok=True)  # derived from the WAL


def run(test: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(asyncio.wait_for(test(), 60))


def _executed_count(path: Path) -> int:
    with StateDatabase.open(path) as db:
        return db.executed_count()


def test_a_replica_that_lost_unsynced_commits_replays_them_from_its_log(
    tmp_path: Path,
) -> None:
    peers = {i: Address("127.0.0.1", port) for i, port in enumerate(free_ports(3))}
    copying: list[SyncCopyingMachine] = []

    def open_copying(directory: DataDirectory) -> SyncCopyingMachine:
        wrapped = SyncCopyingMachine(open_sql_machine(directory), directory.state_db_path)
        copying.append(wrapped)
        return wrapped

    async def start(replica_id: int) -> Node:
        settings = NodeSettings("sql", replica_id, peers, tmp_path / f"r{replica_id}")
        node = Node.open(settings, open_copying if replica_id == 0 else open_sql_machine)
        await node.start()
        return node

    inserted: list[int] = []

    async def insert(node: Node, first: int, count: int) -> None:
        for key in range(first, first + count):
            result = await node.submit([("INSERT INTO t VALUES (?, ?)", [key, key * 7])])
            assert result.ok, result
            inserted.append(key)

    async def scenario() -> None:
        nodes = [await start(replica_id) for replica_id in range(3)]
        assert (await nodes[1].submit([("CREATE TABLE t(id INTEGER PRIMARY KEY, v)", [])])).ok
        # Gossip (every 100 ms) syncs replica 0's state in between.
        await asyncio.gather(*(insert(nodes[i], 1000 * i, 40) for i in range(3)))
        await asyncio.sleep(0.3)
        await asyncio.gather(*(insert(nodes[i], 1000 * i + 40, 10) for i in range(3)))
        assert copying[0].syncs > 0
        lost = 0
        for attempt in range(3):  # a gossip may sync just before the stop: try again
            await insert(nodes[0], 7000 + 10 * attempt, 5)
            executed = (await nodes[0].status())["executed_count"]
            await nodes[0].stop()  # closing checkpoints everything; the failure undoes it
            # (Without a sync since the restart, the copy is still the right one.)
            machine = copying[-1]
            machine.lose_unsynced()
            lost = executed - _executed_count(machine.path)
            nodes[0] = await start(0)
            if lost:
                break
        assert lost > 0, "every stop came right after a sync"
        await insert(nodes[0], 9000, 1)
        deadline = asyncio.get_running_loop().time() + 20
        while True:
            statuses = [await node.status() for node in nodes]
            if len({status["state_hash"] for status in statuses}) == 1:
                break
            assert asyncio.get_running_loop().time() < deadline, statuses
            await asyncio.sleep(0.05)
        counted = await nodes[0].submit([("SELECT count(*), sum(v) FROM t", [])], read_only=True)
        assert counted.statements[0].rows == ((len(inserted), 7 * sum(inserted)),)
        for node in nodes:
            await node.stop()

    run(scenario)
