"""The replicated state machine of the simulator: a key/value store.

A command's payload is the msgpack of a list of operations, and its conflict keys
are derived from them (`make_command`), as the SQL analyzer derives them from SQL:
- `["put", key, value]` writes `("kv", key)`; `["get", key]` reads it;
- `["scan"]` reads the whole group `("kv", None)`; `["clear"]` writes it (deletes all).

`KvState` is one replica's store. Like the real engine it is durable immediately and
atomically with the record of which instance was executed, and it applies each
request id at most once (a retried request may be committed in two instances). It
also remembers, for the checkers, the position at which each request took effect.
"""

from __future__ import annotations

from typing import Any

import msgpack

from epaxdb.command import Batch, Command, ConflictKey
from epaxdb.ids import InstanceId

GROUP = "kv"
Op = tuple[Any, ...]


def make_command(request_id: str, ops: list[Op], is_global: bool = False) -> Command:
    reads: set[ConflictKey] = set()
    writes: set[ConflictKey] = set()
    for op in ops:
        kind = op[0]
        if kind == "put":
            writes.add((GROUP, op[1]))
        elif kind == "get":
            reads.add((GROUP, op[1]))
        elif kind == "scan":
            reads.add((GROUP, None))
        elif kind == "clear":
            writes.add((GROUP, None))
        else:
            raise ValueError(f"unknown operation {op!r}")
    payload = msgpack.packb([list(op) for op in ops], use_bin_type=True)
    return Command(request_id, payload, frozenset(reads), frozenset(writes), is_global)


def decode_ops(payload: bytes) -> list[Op]:
    return [tuple(op) for op in msgpack.unpackb(payload, raw=False)]


class KvState:
    def __init__(self) -> None:
        self.data: dict[str, Any] = {}
        self.applied: dict[str, int] = {}  # request id -> position it took effect at
        self.executed: set[InstanceId] = set()
        self.executed_order: list[InstanceId] = []
        self._position = 0

    def apply(self, instance_id: InstanceId, batch: Batch) -> list[Command]:
        """Execute one instance (the checkers make sure it was not executed here before);
        returns the commands that took effect, duplicates of applied requests excluded."""
        self.executed.add(instance_id)
        self.executed_order.append(instance_id)
        fresh = []
        for command in batch:
            if command.request_id in self.applied:
                continue
            self.applied[command.request_id] = self._position
            self._position += 1
            apply_ops(self.data, decode_ops(command.payload))
            fresh.append(command)
        return fresh

    def effective_order(self) -> list[str]:
        """Request ids in the order they took effect here."""
        return sorted(self.applied, key=self.applied.__getitem__)


def apply_ops(data: dict[str, Any], ops: list[Op]) -> None:
    for op in ops:
        kind = op[0]
        if kind == "put":
            data[op[1]] = op[2]
        elif kind == "clear":
            data.clear()
