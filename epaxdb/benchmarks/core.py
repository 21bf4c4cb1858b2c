"""Throughput of the protocol core alone: no network delay, no disk, no SQL.

Replicas run in one process and exchange messages through an in-memory queue; every
command writes its own key (no conflicts). The virtual clock advances 1 ms per 10
commands and every replica ticks then, so gossip and garbage collection run as in a
deployment (without them memory grows and Python's cyclic GC dominates). We measure CPU time spent inside `Replica`
calls, per replica: in a deployment each replica has its own core, so the cluster's
ceiling is the command rate one replica's core sustains. The whole-cluster figure
(all replicas on one core) and the wire codec's share (every message encoded and
decoded, as the simulator and the runtime do) are reported too.
"""

from __future__ import annotations

import random
import statistics
import time
from collections import deque

from epaxdb import wire
from epaxdb.command import Command
from epaxdb.config import ClusterConfig
from epaxdb.replica import Replica


def run_core_once(
    replica_count: int, commands: int, batch_size: int, with_wire: bool = False
) -> dict[str, float]:
    config = ClusterConfig.for_size(replica_count, batch_size_max=batch_size, max_inflight=1 << 30)
    replicas = [Replica(config, i, random.Random(i)) for i in range(replica_count)]
    work = [
        Command(f"bench-{i}", b"payload", frozenset(), frozenset({("kv", str(i))}))
        for i in range(commands)
    ]
    cpu = [0.0] * replica_count
    executed = [0] * replica_count
    queue: deque[tuple[int, int, object]] = deque()
    clock = time.process_time
    wire_cpu = 0.0

    def drain(replica_id: int) -> None:
        nonlocal wire_cpu
        started = clock()
        ready = replicas[replica_id].take_ready()
        cpu[replica_id] += clock() - started
        for execution in ready.executions:
            executed[replica_id] += len(execution.batch)
        for outgoing in ready.messages:
            message = outgoing.message
            if with_wire:
                started = clock()
                message = wire.decode_message(wire.encode_message(message))
                wire_cpu += clock() - started
            queue.append((replica_id, outgoing.to, message))

    wall_started = time.perf_counter()
    now_ms = 0.0
    for start in range(0, commands, batch_size):
        if start % 10 < batch_size:
            now_ms += 1.0
            for replica_id, replica in enumerate(replicas):
                started = clock()
                replica.tick(now_ms)
                cpu[replica_id] += clock() - started
                drain(replica_id)
        owner = (start // batch_size) % replica_count
        started = clock()
        for command in work[start : start + batch_size]:
            replicas[owner].propose(command)
        cpu[owner] += clock() - started
        drain(owner)
        while queue:
            sender, to, message = queue.popleft()
            started = clock()
            replicas[to].receive(sender, message)  # type: ignore[arg-type]
            cpu[to] += clock() - started
            drain(to)
    wall = time.perf_counter() - wall_started
    if any(count != commands for count in executed):
        raise RuntimeError(f"not every command executed everywhere: {executed}")
    fast = sum(replica.stats.fast_commits for replica in replicas)
    instances = sum(replica.stats.instances_proposed for replica in replicas)
    return {
        "per_replica_commands_per_cpu_s": commands / max(cpu),
        "cluster_commands_per_cpu_s": commands / sum(cpu),
        "with_wire_cluster_commands_per_cpu_s": commands / (sum(cpu) + wire_cpu),
        "fast_path_ratio": fast / instances,
        "wall_s": wall,
    }


def run_core_benchmark(
    replica_count: int = 3, commands: int = 20_000, batch_size: int = 1, repeats: int = 3
) -> dict[str, float | int]:
    """Median over `repeats` runs of each figure."""
    runs = [
        run_core_once(replica_count, commands, batch_size, with_wire=True) for _ in range(repeats)
    ]
    result: dict[str, float | int] = {
        "replicas": replica_count,
        "commands": commands,
        "batch_size": batch_size,
        "repeats": repeats,
    }
    for key in runs[0]:
        result[key] = statistics.median(run[key] for run in runs)
    return result
