"""The boundary between the node and what it replicates: a state machine.

The node knows instances, batches and commands; a `StateMachine` knows what a
command *means*. It turns a client request into a `Command` (payload plus conflict
keys) on the replica the client talks to, and applies committed batches on every
replica. The SQL state machine (sql_machine.py) is the real one; tests plug in small
ones. Threads: `prepare`, `prepare_read` and `prepare_preview` run on the event loop;
every other method runs on the node's single state-machine thread, one call at a time.

Interactive transactions (the SQL machine's): `prepare_preview`/`preview` run a
transaction's statements without committing them, and an `InteractiveCommit` request
commits them under the condition that they still produce what the previews showed.

Executed markers. A machine records, atomically with each command's effects, a
marker naming the command's position `owner.slot.index.count` (index in its batch,
count = batch length). Commands of a batch execute in order, so the instance is
executed iff its last command's marker exists; a crash in the middle of a batch
re-executes it on restart and the earlier commands are answered from the machine's
request-id deduplication.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from epaxdb.command import Command
from epaxdb.ids import InstanceId
from epaxdb.records import Execution


@dataclass(frozen=True, slots=True)
class InteractiveCommit:
    """A request that commits an interactive transaction: `request` (its statements)
    plus `context`, what its previews showed the client (opaque to the node)."""

    request: Any
    context: Any


@dataclass(frozen=True, slots=True)
class Resubmission:
    """Submit the request again under `request_id`: an id derived from the refused
    one, the same on every replica and for every retry, so a client retrying the
    original id follows the same chain and at most one link of it takes effect.
    `fresh`: the refusal was just made (not a stored one found again)."""

    request_id: str
    fresh: bool


class StateMachine(Protocol):
    # What every replica of a cluster must agree on (sent in the handshake).
    engine_version: str
    settings: tuple[tuple[str, str], ...]

    def prepare(self, request: Any, request_id: str, *, read_only: bool = False) -> Command:
        """Build the command for a client request, or raise the refusal
        (`SchemaMayBeStale` wrapping it when newer DDL could change the verdict;
        `NotReadOnly` when `read_only` and the request could change the state)."""
        ...

    def prepare_read(self, request: Any) -> Any:
        """Check a request for `read_local` (refusals as for a read-only `prepare`)."""
        ...

    def read_local(self, prepared: Any) -> Any:
        """Answer a prepared read from this replica's current state, replicating nothing."""
        ...

    def lookup(self, request_id: str) -> Any | None:
        """The stored result of the command with this request id, if it executed here."""
        ...

    def executed_count(self) -> int:
        """How many command executions the state reflects (the count in `state_hash`)."""
        ...

    def prepare_preview(self, request: Any, context: Any) -> Any:
        """Interactive transactions (event loop): validate and analyse a preview of
        `request` in the transaction described by `context` (None for its first
        statement); raise the refusal like `prepare`. Machines without interactive
        transactions need not have it."""
        ...

    def preview(self, prepared: Any, deadline: float) -> Any:
        """Interactive transactions (state-machine thread): run a prepared preview on
        the current state without changing it; past `deadline` (`time.monotonic()`),
        raise `PreviewTimedOut`."""
        ...

    def resubmission(self, result: Any) -> Resubmission | None:
        """If `result` refused its command at its place in the order without any effect
        and the same request may simply run again (the SQL machine: `schema_changed`),
        how to submit it again; else None."""
        ...

    def as_answer(self, result: Any, request_id: str) -> Any:
        """`result` (of a resubmission) as the answer to the client's `request_id`."""
        ...

    def barrier(self, request_id: str) -> Command:
        """A command that changes nothing and interferes with everything."""
        ...

    def purge_results(self, request_id: str, retention_ms: int) -> Command | None:
        """A command that interferes with everything and makes every replica forget the
        stored results of requests first executed more than `retention_ms` before now
        (this replica's clock): retries of those execute again. None when this replica
        stores no result that old (so an idle cluster proposes nothing)."""
        ...

    def apply(self, executions: Sequence[Execution]) -> list[list[Any]]:
        """Execute committed batches in order; per execution, one result per command.
        They come as a list so that a machine may make them durable together. A
        failure that another replica would not share raises StorageError."""
        ...

    def sync(self) -> None:
        """Make every execution applied so far durable. `apply` need not: the node
        calls this before it tells peers that executions happened (they may then
        forget the instances), and a machine restarted from its durable state
        executes again the instances it lost."""
        ...

    def executed_instances(self) -> frozenset[InstanceId]:
        """Instances whose execution is durable and not yet forgotten."""
        ...

    def forget(self, floor: tuple[int, ...]) -> None:
        """Drop the markers of instances at or below `floor` (executed everywhere)."""
        ...

    def state_hash(self) -> str: ...

    def close(self) -> None: ...


def marker(instance_id: InstanceId, index: int, count: int) -> str:
    return f"{instance_id.owner}.{instance_id.slot}.{index}.{count}"


def parse_marker(text: str) -> tuple[InstanceId, int, int]:
    owner, slot, index, count = (int(part) for part in text.split("."))
    return InstanceId(owner, slot), index, count


def instances_fully_executed(markers: Iterable[str]) -> frozenset[InstanceId]:
    executed = set()
    for text in markers:
        instance_id, index, count = parse_marker(text)
        if index == count - 1:
            executed.add(instance_id)
    return frozenset(executed)


def markers_at_or_below(markers: Iterable[str], floor: tuple[int, ...]) -> list[str]:
    found = []
    for text in markers:
        instance_id, _, _ = parse_marker(text)
        if instance_id.slot <= floor[instance_id.owner]:
            found.append(text)
    return found
