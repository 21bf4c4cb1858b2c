"""A small in-memory state machine for node tests: integer counters per key.

A request is `(key, delta)`; the result is the counter's new value. A read is
`(key, 0)`; `read_local` takes the key. The object
stands for a durable database: a test that restarts a node passes the same object
to the new node, as a real replica would reopen its state database.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import msgpack

from epaxdb.command import Batch, Command
from epaxdb.ids import InstanceId
from epaxdb.records import Execution
from epaxdb.runtime.errors import NotReadOnly
from epaxdb.runtime.machine import instances_fully_executed, marker, markers_at_or_below


class CounterMachine:
    engine_version = "counter-1"
    settings = (("counter_width", "64"),)

    def __init__(self) -> None:
        self.counters: dict[str, int] = {}
        self.markers: set[str] = set()
        self.results: dict[str, int] = {}  # request id -> result (deduplication)
        self.applied: list[str] = []  # request ids in execution order
        self.executions = 0
        self.syncs = 0

    def prepare(self, request: Any, request_id: str, *, read_only: bool = False) -> Command:
        key, delta = request
        if not isinstance(key, str) or not isinstance(delta, int):
            raise ValueError(f"bad counter request {request!r}")  # noqa: TRY004 (a refusal)
        if read_only and delta:
            raise NotReadOnly(f"adding {delta} to {key!r} is not a read", 0)
        keys = frozenset({("c", key)})
        if read_only:
            return Command(request_id, msgpack.packb([key, 0]), reads=keys)
        return Command(request_id, msgpack.packb([key, delta]), writes=keys)

    def prepare_read(self, request: Any) -> str:
        key, delta = request
        if delta:
            raise NotReadOnly(f"adding {delta} to {key!r} is not a read", 0)
        return str(key)

    def read_local(self, key: str) -> int:
        return self.counters.get(key, 0)

    def lookup(self, request_id: str) -> int | None:
        return self.results.get(request_id)

    def executed_count(self) -> int:
        return self.executions

    def resubmission(self, result: Any) -> None:
        return None  # nothing here is refused at its place in the order

    def as_answer(self, result: Any, request_id: str) -> Any:
        return result

    def purge_results(self, request_id: str, retention_ms: int) -> None:
        return None  # results are kept for the test's lifetime

    def barrier(self, request_id: str) -> Command:
        return Command(request_id, msgpack.packb(["", 0]), is_global=True)

    def apply(self, executions: Sequence[Execution]) -> list[list[Any]]:
        return [self._apply_batch(e.instance_id, e.batch) for e in executions]

    def _apply_batch(self, instance_id: InstanceId, batch: Batch) -> list[Any]:
        results = []
        for index, command in enumerate(batch):
            if command.request_id not in self.results:
                key, delta = msgpack.unpackb(command.payload)
                if key:  # the barrier's empty key changes nothing
                    self.counters[key] = self.counters.get(key, 0) + delta
                self.results[command.request_id] = self.counters.get(key, 0)
                self.applied.append(command.request_id)
            position = marker(instance_id, index, len(batch))
            if position not in self.markers:
                self.markers.add(position)
                self.executions += 1
            results.append(self.results[command.request_id])
        return results

    def sync(self) -> None:
        self.syncs += 1

    def executed_instances(self) -> frozenset[InstanceId]:
        return instances_fully_executed(self.markers)

    def forget(self, floor: tuple[int, ...]) -> None:
        self.markers.difference_update(markers_at_or_below(self.markers, floor))

    def state_hash(self) -> str:
        content = msgpack.packb([sorted(self.counters.items()), self.executions])
        return hashlib.sha256(content).hexdigest()

    def close(self) -> None:
        pass
