"""The node loop with a counter state machine: several nodes in one event loop, on
loopback TCP, with real logs in temporary directories."""

from __future__ import annotations

import asyncio
import copy
import errno
import logging
import os
import threading
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from epaxdb.errors import StorageError
from epaxdb.messages import Gossip
from epaxdb.records import Execution, Outgoing
from epaxdb.runtime import log as log_module
from epaxdb.runtime.errors import NotCaughtUp, OutcomeUnknown, Unavailable
from epaxdb.runtime.local_cluster import free_ports
from epaxdb.runtime.log import open_log
from epaxdb.runtime.node import Node, NodeSettings
from epaxdb.runtime.transport import Address
from epaxdb.tokens import Position
from tests.runtime.kv_machine import CounterMachine


class Cluster:
    def __init__(self, root: Path, size: int, compact_threshold_bytes: int = 1 << 25) -> None:
        self.root = root
        self.compact_threshold_bytes = compact_threshold_bytes
        self.addresses = {i: Address("127.0.0.1", port) for i, port in enumerate(free_ports(size))}
        self.machines = {i: CounterMachine() for i in range(size)}
        self.nodes: dict[int, Node] = {}

    def settings(self, replica_id: int) -> NodeSettings:
        return NodeSettings("test", replica_id, self.addresses, self.root / f"r{replica_id}",
                            compact_threshold_bytes=self.compact_threshold_bytes)  # fmt: skip

    async def start(self, replica_id: int) -> Node:
        machine = self.machines[replica_id]
        node = Node.open(self.settings(replica_id), lambda _directory: machine)
        await node.start()
        self.nodes[replica_id] = node
        return node

    async def start_all(self) -> None:
        for replica_id in self.addresses:
            await self.start(replica_id)

    async def stop_all(self) -> None:
        for node in self.nodes.values():
            await node.stop()

    async def hashes(self) -> set[str]:
        return {(await node.status())["state_hash"] for node in self.nodes.values()}


async def converged(cluster: Cluster, timeout_s: float = 10.0) -> str:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        hashes = await cluster.hashes()
        if len(hashes) == 1:
            return hashes.pop()
        assert asyncio.get_running_loop().time() < deadline, f"no convergence: {hashes}"
        await asyncio.sleep(0.05)


def run(test: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(asyncio.wait_for(test(), 60))


def record_gossip(node: Node) -> list[Gossip]:
    """Every gossip `node` sends from now on, in order."""
    sent: list[Gossip] = []
    real_send = node.transport.send

    def spy(outgoing: list[Outgoing]) -> None:
        sent.extend(o.message for o in outgoing if isinstance(o.message, Gossip))
        real_send(outgoing)

    node.transport.send = spy  # type: ignore[method-assign]
    return sent


def test_concurrent_submissions_at_every_node_converge(tmp_path: Path) -> None:
    async def scenario() -> None:
        cluster = Cluster(tmp_path, 3)
        await cluster.start_all()
        submissions = [
            cluster.nodes[i % 3].submit((f"k{i % 4}", 1), request_id=f"req-{i}") for i in range(120)
        ]
        results = await asyncio.gather(*submissions)
        assert sorted(results) == sorted(
            value for key in range(4) for value in range(1, 31)
        )  # each counter counted 1..30, each value handed out once
        await converged(cluster)
        for machine in cluster.machines.values():
            assert machine.counters == {f"k{k}": 30 for k in range(4)}
        for key in range(4):  # commands on one key interfere: one order everywhere
            orders = {
                tuple(r for r in m.applied if int(r.split("-")[1]) % 4 == key)
                for m in cluster.machines.values()
            }
            assert len(orders) == 1
        await cluster.stop_all()

    run(scenario)


def test_same_request_id_twice_executes_once(tmp_path: Path) -> None:
    async def scenario() -> None:
        cluster = Cluster(tmp_path, 3)
        await cluster.start_all()
        first, second = await asyncio.gather(
            cluster.nodes[0].submit(("k", 5), request_id="once"),
            cluster.nodes[0].submit(("k", 5), request_id="once"),
        )
        retry_elsewhere = await cluster.nodes[1].submit(("k", 5), request_id="once")
        assert first == second == retry_elsewhere == 5
        await converged(cluster)
        assert all(m.counters == {"k": 5} for m in cluster.machines.values())
        await cluster.stop_all()

    run(scenario)


def test_no_quorum_means_outcome_unknown(tmp_path: Path) -> None:
    async def scenario() -> None:
        cluster = Cluster(tmp_path, 3)
        node = await cluster.start(0)  # alone: no quorum
        with pytest.raises(OutcomeUnknown, match="may still commit") as raised:
            await node.submit(("k", 1), request_id="lonely", timeout_s=0.3)
        assert raised.value.request_id == "lonely"
        # Once a quorum exists the core's retransmissions commit the command.
        await cluster.start(1)
        assert await node.submit(("k", 1), request_id="lonely", timeout_s=10) == 1
        await cluster.stop_all()

    run(scenario)


def test_restart_replays_the_log_and_catches_up(tmp_path: Path) -> None:
    async def scenario() -> None:
        cluster = Cluster(tmp_path, 3)
        await cluster.start_all()
        for i in range(20):
            await cluster.nodes[i % 3].submit(("k", 1), request_id=f"a{i}")
        await cluster.nodes[2].stop()
        for i in range(20):
            await cluster.nodes[i % 2].submit(("k", 1), request_id=f"b{i}")
        restarted = await cluster.start(2)
        assert await restarted.submit(("k", 1), request_id="c") == 41
        await converged(cluster)
        assert cluster.machines[2].counters == {"k": 41}
        await cluster.stop_all()

    run(scenario)


def test_a_failed_fsync_stops_the_node_and_nothing_more_is_acknowledged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async def scenario() -> None:
        cluster = Cluster(tmp_path, 3)
        await cluster.start_all()
        assert await cluster.nodes[0].submit(("k", 1)) == 1
        broken = cluster.nodes[0]
        broken_fd = broken._log._fd
        real_fsync = os.fsync

        def fsync(fd: int) -> None:
            if fd == broken_fd:
                raise OSError(errno.EIO, os.strerror(errno.EIO))
            real_fsync(fd)

        monkeypatch.setattr(log_module.os, "fsync", fsync)
        with pytest.raises(OutcomeUnknown):
            await broken.submit(("k", 1), request_id="lost?", timeout_s=5)
        with pytest.raises(StorageError, match="Input/output error"):
            await broken.run()
        with pytest.raises(Unavailable):
            await broken.submit(("k", 1))
        # The other two keep going; the log of the failed node still opens.
        assert await cluster.nodes[1].submit(("k", 1), request_id="after") in (2, 3)
        monkeypatch.undo()
        del cluster.nodes[0]
        await cluster.stop_all()
        open_log(tmp_path / "r0")[0].close()

    with caplog.at_level(logging.INFO):
        run(scenario)
    failures = [r for r in caplog.records if r.msg == "node_failed"]
    assert len(failures) == 1 and "Input/output error" in failures[0].epaxdb_fields["reason"]


class FailingSyncCounterMachine(CounterMachine):
    def sync(self) -> None:
        raise StorageError("cannot sync the state: Input/output error")


def test_a_failed_state_sync_stops_the_node_before_it_reports_the_executions(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        cluster = Cluster(tmp_path, 3)
        cluster.machines[0] = FailingSyncCounterMachine()
        await cluster.start_all()
        gossip_sent = record_gossip(cluster.nodes[0])
        assert await cluster.nodes[0].submit(("k", 1)) == 1  # applied, not yet synced
        with pytest.raises(StorageError, match="cannot sync the state"):
            await asyncio.wait_for(cluster.nodes[0].run(), 5)  # the next gossip syncs
        assert all(g.executed_prefix[0] == 0 for g in gossip_sent)
        del cluster.nodes[0]
        await cluster.stop_all()

    run(scenario)


def test_group_commit_shares_fsyncs_between_concurrent_transactions(tmp_path: Path) -> None:
    async def scenario() -> None:
        cluster = Cluster(tmp_path, 3)
        await cluster.start_all()
        await asyncio.gather(*(cluster.nodes[0].submit((f"k{i}", 1)) for i in range(200)))
        syncs = cluster.nodes[0]._log.stats.syncs
        assert syncs < 100, f"{syncs} fsyncs for 200 transactions"
        await cluster.stop_all()

    run(scenario)


class GatedCounterMachine(CounterMachine):
    """Applies only once the gate opens: an execution that is slow to become durable."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = threading.Event()

    def apply(self, executions: Sequence[Execution]) -> list[list[Any]]:
        assert self.gate.wait(timeout=20), "gate never opened"
        return super().apply(executions)


class GatedSyncCounterMachine(CounterMachine):
    """Applies at once, but its `sync` returns only once the gate opens."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = threading.Event()

    def sync(self) -> None:
        assert self.gate.wait(timeout=20), "gate never opened"
        super().sync()


@pytest.mark.parametrize("gated_machine", [GatedCounterMachine, GatedSyncCounterMachine])
def test_gossip_and_floor_never_report_executions_not_yet_durable(
    tmp_path: Path, gated_machine: type[GatedCounterMachine | GatedSyncCounterMachine]
) -> None:
    async def scenario() -> None:
        cluster = Cluster(tmp_path, 3)
        gated = cluster.machines[0] = gated_machine()
        await cluster.start_all()
        gossip_sent = record_gossip(cluster.nodes[0])
        assert await cluster.nodes[1].submit(("k", 1)) == 1  # replicas 1 and 2 apply it
        await asyncio.sleep(0.6)  # several gossip rounds: the floor would cover 1.1
        assert all(g.executed_prefix[1] == 0 for g in gossip_sent)
        assert cluster.nodes[0]._log.floor in (None, (0, 0, 0))
        gated.gate.set()
        await converged(cluster)
        await asyncio.sleep(0.4)
        assert any(g.executed_prefix[1] >= 1 for g in gossip_sent)
        await cluster.stop_all()

    run(scenario)


class PowerFailingCounterMachine(CounterMachine):
    """Applied executions become durable only at `sync`; `power_failure()` loses the
    rest, as a state database that defers its fsyncs would."""

    def __init__(self) -> None:
        super().__init__()
        self._durable = self._image()

    def _image(self) -> Any:
        return copy.deepcopy((self.counters, self.markers, self.results, self.applied,
                              self.executions))  # fmt: skip

    def sync(self) -> None:
        super().sync()
        self._durable = self._image()

    def power_failure(self) -> int:
        """Go back to the last sync; return how many executions were lost."""
        lost = self.executions - self._durable[4]
        self.counters, self.markers, self.results, self.applied, self.executions = copy.deepcopy(
            self._durable
        )
        return lost


def test_a_power_failure_loses_only_executions_the_log_replays(tmp_path: Path) -> None:
    """Executions since the state's last sync are lost; the floor never covered them,
    so the restarted replica executes them again from its log and converges."""

    async def scenario() -> None:
        cluster = Cluster(tmp_path, 3)
        failing = cluster.machines[0] = PowerFailingCounterMachine()
        await cluster.start_all()
        done = 0

        async def load(replica_id: int, count: int) -> None:
            nonlocal done
            for i in range(count):
                await cluster.nodes[replica_id].submit((f"k{i % 5}", 1))
                done += 1

        background = [asyncio.create_task(load(r, 300)) for r in (1, 2)]
        lost = 0
        for _ in range(3):  # the floor moves on in its own time: give it chances
            await load(0, 40)  # floors advance meanwhile (gossip every 100 ms)
            await cluster.nodes[0].stop()  # right after applying: not all of it is synced
            lost += failing.power_failure()
            await cluster.start(0)
        assert lost > 0
        assert failing.syncs > 0
        await asyncio.gather(*background)
        await load(0, 1)
        await converged(cluster)
        for machine in cluster.machines.values():
            assert sum(machine.counters.values()) == done
        await cluster.stop_all()

    run(scenario)


def test_a_position_is_reached_once_every_instance_up_to_it_is_applied(tmp_path: Path) -> None:
    async def scenario() -> None:
        cluster = Cluster(tmp_path, 3)
        gated = cluster.machines[0] = GatedCounterMachine()
        await cluster.start_all()
        node = cluster.nodes[0]
        # Two instances of replica 1 that do not interfere; replica 0 executes both but
        # its machine holds them back.
        await cluster.nodes[1].submit(("a", 1))
        await cluster.nodes[1].submit(("b", 1))
        waiters = [asyncio.create_task(node.wait_position(Position((0, 2)), 10))
                   for _ in range(2)]  # fmt: skip
        await asyncio.sleep(0.3)
        assert node._replica.executed_prefix[1] == 2  # executed by the core ...
        assert not any(w.done() for w in waiters)  # ... but not applied: not reached
        assert node.stats()["catching_up"] == 1  # one shared wait
        gated.gate.set()
        await asyncio.gather(*waiters)
        assert gated.counters == {"a": 1, "b": 1}
        await node.wait_position(Position((0, 1)), 0.01)  # reached: returns at once
        with pytest.raises(NotCaughtUp, match="replica 1's instances are executed here up "
                                              "to slot 2, not 3"):  # fmt: skip
            await node.wait_position(Position((0, 3)), 0.2)
        assert node.stats()["catching_up"] == 0  # the timed-out wait left nothing behind
        await cluster.stop_all()

    run(scenario)


def test_log_compacts_and_markers_are_forgotten_as_the_floor_advances(tmp_path: Path) -> None:
    async def scenario() -> None:
        cluster = Cluster(tmp_path, 3, compact_threshold_bytes=16_000)
        await cluster.start_all()
        for round_ in range(6):
            await asyncio.gather(*(cluster.nodes[i % 3].submit((f"k{i % 5}", 1))
                                   for i in range(30)))  # fmt: skip
            await asyncio.sleep(0.25)  # gossip rounds: the floor follows execution
        log = cluster.nodes[0]._log
        # Gossip moves the floor every 100 ms; on a loaded machine give it a while.
        deadline = asyncio.get_running_loop().time() + 10.0
        while asyncio.get_running_loop().time() < deadline and not (
            log.stats.compactions >= 1 and len(cluster.machines[0].markers) < 180 / 2
        ):
            await asyncio.sleep(0.1)
        assert log.stats.compactions >= 1
        assert log.size_bytes < 2 * 16_000  # bounded by the threshold plus the live records
        markers = len(cluster.machines[0].markers)
        assert markers < 180 / 2, f"{markers} markers kept of 180 executed"
        await cluster.nodes[0].stop()
        restarted = await cluster.start(0)
        assert await restarted.submit(("k0", 1)) == 37
        await converged(cluster)
        await cluster.stop_all()

    run(scenario)
