"""One replica process: the core, its durable log, its state machine, its transport.

Theory of operation
-------------------
One asyncio task (the *core task*) owns the `Replica`; nothing else touches it. Each
iteration, woken by an inbound message, a client proposal or the ticker (every
`tick_ms`):

1. feeds the core every inbound message and proposal queued *now*, then `tick`s it;
2. `take_ready()`; if it holds records, appends them to the log and fsyncs once, on
   the event loop itself (group commit: whatever arrives meanwhile waits in the
   kernel's socket buffers and is the next iteration's batch). A hop to a thread
   and back cost more than the fsync (about 70 us each way against 150-300 us,
   traced), and the kernel runs the other processes meanwhile. Only compaction,
   which rewrites the live log, runs on the log thread;
3. only then hands the messages to the transport (persist before send);
4. queues the executions on the state-machine thread, which applies them in order,
   each atomically with its executed marker; when a batch is applied, the futures of
   commands proposed here (matched by request id) get their results.

Step 4 overlaps the next iterations. Applying does not make the state durable (the
log already holds every command it applies; docs/storage.md): the machine's `sync`
does, and two things wait for one, queued on the machine thread behind the executions
queued before them, because they would let an instance be forgotten while this
replica could still lose its execution: a `Gossip` (it reports the executed prefix,
from which peers derive the floor) and a `FloorRecord` before it is written (a
restarted replica treats every slot at or below its durable floor as executed). Every
other message leaves as soon as its records are durable.

Catching up (the `after` of a request): a client may ask this replica to reflect an
instance (`wait_executed`) or a position (`wait_position`) before serving it, e.g.
commits made on another replica (read-your-writes). An instance is reflected once the
core executed it and the state machine applied it: instances handed to the machine
thread are "in flight" from `take_ready` until their batch is applied, and the rest is
told by the core's executed prefix, the GC floor and the set of applied instances
above them. A position is reached when the *reflected prefix* reaches it: the core's
executed prefix when nothing is in flight, else the core's prefix as it was when the
last applied batch was taken (batches apply in order, so everything the core had
executed by then is applied or had nothing to apply). Waiters share one future per
instance or position, resolved when an applied batch (or the core's prefix) reaches
it; awaited positions are filed by the owner they wait on (`AwaitedPositions`), so
an advance looks only at those it may release. Nothing polls.

Failure: any error from the log, the state machine or the core stops the node. It
sends nothing more, answers pending clients `OutcomeUnknown`, logs one
`node_failed` line, and `run()` re-raises, so `epaxdb serve` exits non-zero. A
restart rebuilds the core from the log plus the machine's executed markers.

Garbage collection: when the floor advances (instances executed on every replica),
the log is compacted once it grew by `compact_threshold_bytes` since the last
compaction, and the machine forgets the markers at or below the floor (at most once
a second). Stored results (the request-id deduplication) are forgotten by a
replicated purge that every replica proposes every `result_retention_s / 4` or 10 s,
whichever is sooner, staggered by replica id, when it stores results older than the
cutoff "now minus the retention": a global command, so every replica forgets the same
results at the same point of the order and a retry is deduplicated alike everywhere.
A purge forgets a bounded number of results (the oldest), so that a backlog (a busy
day) is worked off in short steps instead of one long SQLite transaction. Extra
purges cost one global command each and change nothing a retry could tell.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import time
import uuid
from collections import deque
from collections.abc import Callable, Hashable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from epaxdb.command import Command
from epaxdb.config import ClusterConfig
from epaxdb.errors import ConfigError
from epaxdb.execution import ExecutedSet
from epaxdb.ids import InstanceId, ReplicaId
from epaxdb.messages import PROTOCOL_VERSION, Gossip, Message
from epaxdb.records import DurableRecord, Execution, FloorRecord, Outgoing
from epaxdb.replica import Replica
from epaxdb.runtime.awaited_positions import AwaitedPositions
from epaxdb.runtime.datadir import DataDirectory, Identity
from epaxdb.runtime.errors import (
    InvalidRequest,
    NotCaughtUp,
    OutcomeUnknown,
    PreviewTimedOut,
    SchemaMayBeStale,
    Unavailable,
)
from epaxdb.runtime.events import log_event
from epaxdb.runtime.handshake import Hello
from epaxdb.runtime.log import InstanceLog, open_log
from epaxdb.runtime.machine import InteractiveCommit, StateMachine
from epaxdb.runtime.peer_latency import PeerLatency
from epaxdb.runtime.transport import Address, Transport
from epaxdb.tokens import After, Position

logger = logging.getLogger("epaxdb.node")

T = TypeVar("T")
K = TypeVar("K", bound=Hashable)
_FORGET_INTERVAL_S = 1.0
# How many times `submit` resubmits a request refused anew at its place in the order
# (schema_changed: DDL raced its analysis) before answering the refusal.
MAX_RESUBMISSIONS = 3
_RANKING_INTERVAL_S = 0.1
DEFAULT_RESULT_RETENTION_S = 24 * 3600.0
# Each replica proposes a purge this many times per retention period.
_PURGES_PER_RETENTION = 4
# A purge forgets a bounded number of results (the SQL machine: 20,000), so replicas
# propose one at least this often: 3 replicas x 20,000 per 10 s keep up with 6,000
# stored results a second, twice what this machine sustains.
_PURGE_INTERVAL_MAX_S = 10.0


@dataclass(frozen=True, slots=True)
class NodeSettings:
    cluster_id: str
    replica_id: ReplicaId
    # Every replica's replica-to-replica address, this one's included; ids 0..n-1.
    peers: Mapping[ReplicaId, Address]
    data_dir: Path
    listen: Address | None = None  # where to bind; defaults to peers[replica_id]
    secret: bytes | None = None
    tick_ms: float = 5.0
    compact_threshold_bytes: int = 32 * 1024 * 1024
    max_pending: int = 10_000
    config: ClusterConfig | None = None
    # How long a request's stored result answers retries of its request id (seconds).
    result_retention_s: float = DEFAULT_RESULT_RETENTION_S
    # Emulated one-way delay to each peer, in seconds (WAN benchmarks; see wan.py).
    peer_delays_s: Mapping[ReplicaId, float] | None = None

    def cluster_config(self) -> ClusterConfig:
        if sorted(self.peers) != list(range(len(self.peers))):
            raise ConfigError(f"replica ids must be 0..n-1, got {sorted(self.peers)}")
        if self.replica_id not in self.peers:
            raise ConfigError(f"replica id {self.replica_id} is not among {sorted(self.peers)}")
        config = self.config or ClusterConfig.for_size(len(self.peers))
        if config.replica_count != len(self.peers):
            raise ConfigError("the cluster config and the peer list disagree on n")
        return config


@dataclass(slots=True)
class _Waiting:
    """Clients waiting for one thing: the result of a request id proposed here, or
    the execution of one instance, or of every instance up to a position, here."""

    future: asyncio.Future[Any]
    waiters: int = 0


@dataclass(slots=True)
class NodeCounters:
    iterations: int = 0
    readies: int = 0
    executions_applied: int = 0  # commands applied
    apply_batches: int = 0  # calls to the machine's apply (each one SQLite transaction or more)
    submitted: int = 0
    answered: int = 0
    timed_out: int = 0
    resubmitted: int = 0  # refused at their place without effect, submitted again
    previews: int = 0
    purges_proposed: int = 0
    pending_peak: int = 0


@dataclass(frozen=True, slots=True)
class Readiness:
    """Whether this replica can commit: it serves and is connected (both ways) to a
    majority of the replicas, itself included."""

    ready: bool
    connected: tuple[ReplicaId, ...]
    majority: int
    reason: str | None


class Node:
    """Build with `Node.open`, then `await start()`, `await run()`, `await stop()`."""

    def __init__(
        self,
        settings: NodeSettings,
        config: ClusterConfig,
        directory: DataDirectory,
        log: InstanceLog,
        machine: StateMachine,
        replica: Replica,
    ) -> None:
        self.settings = settings
        self.replica_id = settings.replica_id
        self.config = config
        self.counters = NodeCounters()
        self.failure: BaseException | None = None
        self._directory = directory
        self._log = log
        self._machine = machine
        self._replica = replica
        # Replicas must agree on how commands are ordered, as on the SQL settings.
        ordering = "epaxos" if config.leader is None else f"multipaxos:leader={config.leader}"
        hello = Hello(
            settings.cluster_id,
            settings.replica_id,
            PROTOCOL_VERSION,
            machine.engine_version,
            tuple(sorted((*machine.settings, ("ordering", ordering)))),
        )
        self.transport = Transport(
            hello,
            settings.listen or settings.peers[settings.replica_id],
            settings.peers,
            self._deliver,
            secret=settings.secret,
            delays_s=settings.peer_delays_s,
        )
        self._log_thread = ThreadPoolExecutor(1, thread_name_prefix="epaxdb-log")
        self._machine_thread = ThreadPoolExecutor(1, thread_name_prefix="epaxdb-machine")
        self._inbound: deque[tuple[ReplicaId, Message]] = deque()
        self._proposals: deque[Command] = deque()
        self._pending: dict[str, _Waiting] = {}
        # Catching up: see the module docstring.
        self._applied = ExecutedSet(config.replica_count, machine.executed_instances())
        self._in_flight: set[InstanceId] = set()
        self._catch_up: dict[InstanceId, _Waiting] = {}
        self._positions: dict[Position, _Waiting] = {}
        self._awaited = AwaitedPositions(config.replica_count)
        self._applied_prefix = replica.executed_prefix
        self._wake = asyncio.Event()
        self._stopping = False  # no new iteration, no new client
        self._closing = False  # stop() has begun
        self._stopped = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._purger: asyncio.Task[None] | None = None
        self._floor_to_forget: tuple[int, ...] | None = None
        self._last_forget_s = 0.0
        # Executions were queued on the machine thread since the last `sync` was.
        self._unsynced = False
        self._syncing: asyncio.Future[None] | None = None
        # Thrifty mode asks the peers that answer first: rank them by measured round trip.
        peers = [r for r in range(config.replica_count) if r != settings.replica_id]
        self._latency = PeerLatency(peers) if config.thrifty else None
        self._last_ranking_s = 0.0

    @property
    def state_db_path(self) -> Path:
        """The state database file in this replica's data directory."""
        return self._directory.state_db_path

    # ------------------------------------------------------------------ lifecycle

    @classmethod
    def open(
        cls, settings: NodeSettings, open_machine: Callable[[DataDirectory], StateMachine]
    ) -> Node:
        """Lock the data directory, replay the log, open the machine, rebuild the core."""
        config = settings.cluster_config()
        directory = DataDirectory(settings.data_dir)
        directory.open(Identity(settings.cluster_id, settings.replica_id, config.replica_count))
        log: InstanceLog | None = None
        machine: StateMachine | None = None
        try:
            log, loaded = open_log(settings.data_dir)
            machine = open_machine(directory)
            executed = machine.executed_instances()
            seed = int.from_bytes(os.urandom(8), "big")
            replica = Replica(config, settings.replica_id, random.Random(seed),
                              loaded.restored(executed))  # fmt: skip
        except BaseException:
            if machine is not None:
                machine.close()
            if log is not None:
                log.close()
            directory.close()
            raise
        log_event(
            logger, logging.INFO, "node_restored", replica=settings.replica_id,
            instances=len(loaded.records), floor=loaded.floor, executed_markers=len(executed),
            torn_tail_bytes=loaded.truncated_bytes, log_bytes=log.size_bytes,
        )  # fmt: skip
        if loaded.truncated_bytes:
            log_event(logger, logging.WARNING, "log_torn_tail_truncated",
                      bytes=loaded.truncated_bytes, path=str(log.path))  # fmt: skip
        return cls(settings, config, directory, log, machine, replica)

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        await self.transport.start()
        self._tasks = [
            self._loop.create_task(self._core_loop(), name="epaxdb-core"),
            self._loop.create_task(self._ticker(), name="epaxdb-ticker"),
        ]
        # Sleeps for hours: cancelled on stop rather than awaited.
        self._purger = self._loop.create_task(self._purge_periodically(), name="epaxdb-purger")
        self._purger.add_done_callback(self._fail_if_failed)
        log_event(logger, logging.INFO, "node_started", replica=self.replica_id,
                  replicas=self.config.replica_count)  # fmt: skip

    async def run(self) -> None:
        """Wait until the node stops; re-raise the failure that stopped it, if any."""
        await self.wait_stopped()
        if self.failure is not None:
            raise self.failure

    async def wait_stopped(self) -> None:
        """Wait until the node stops, whatever the reason (see `failure`)."""
        await self._stopped.wait()

    async def stop(self) -> None:
        """Finish the current iteration (its fsync included), then close everything."""
        if self._closing:
            await self._stopped.wait()
            return
        self._closing = True
        log_event(logger, logging.INFO, "node_stopping", replica=self.replica_id)
        self._stopping = True
        self._wake.set()
        if self._purger is not None:
            self._purger.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.transport.close()
        self._abandon_pending("the replica shut down before the result was known")
        # Behind any execution still queued: close the state database after it.
        await asyncio.get_running_loop().run_in_executor(self._machine_thread, self._machine.close)
        self._machine_thread.shutdown()
        self._log_thread.shutdown()
        self._log.close()
        self._directory.close()
        self._stopped.set()
        log_event(logger, logging.INFO, "node_stopped", replica=self.replica_id)

    # ------------------------------------------------------------------ clients

    async def submit(
        self,
        request: Any,
        request_id: str | None = None,
        timeout_s: float = 10.0,
        *,
        read_only: bool = False,
        after: After | None = None,
        interactive: Any = None,
    ) -> Any:
        """Replicate `request` and return its result on this replica. With
        `interactive` (the context of the transaction's last preview) it commits an
        interactive transaction (`InteractiveCommit`).

        `read_only` makes the machine refuse a request that could change the state (a
        query ordered like a transaction). `after`: first wait until this replica
        executed that instance or reached that position (`wait_executed`,
        `wait_position`), then analyse and submit; the wait counts against `timeout_s`.

        Raises the machine's refusal (nothing submitted), `Unavailable` (nothing
        submitted), `NotCaughtUp` (nothing submitted) or `OutcomeUnknown` (submitted,
        no result in time)."""
        self._check_accepting()
        deadline = self._loop.time() + timeout_s
        await self._catch_up_to(after, timeout_s)
        request_id = request_id or uuid.uuid4().hex
        if interactive is not None:
            request = InteractiveCommit(request, interactive)
        attempt_id, fresh_refusals = request_id, 0
        while True:
            try:
                result = await self._submit_once(request, attempt_id, read_only, deadline)
            except OutcomeUnknown as unknown:
                # A retry names the client's id, which walks the chain to this link.
                raise OutcomeUnknown(request_id, str(unknown)) from None
            again = self._machine.resubmission(result)
            if again is None:
                break
            # Refused at its place in the order without effect (the SQL machine: the
            # schema changed since the analysis): analyse and submit it again, under the
            # next id of its chain so that a retry of `request_id` anywhere follows
            # the same chain and at most one link takes effect.
            fresh_refusals += again.fresh
            if fresh_refusals > MAX_RESUBMISSIONS:
                break
            self.counters.resubmitted += 1
            attempt_id = again.request_id
        return self._machine.as_answer(result, request_id)

    async def _submit_once(
        self, request: Any, request_id: str, read_only: bool, deadline: float
    ) -> Any:
        if request_id not in self._pending:
            command = await self._with_fresh_schema(
                lambda: self._machine.prepare(request, request_id, read_only=read_only),
                self._left(deadline),
            )
            if request_id not in self._pending:  # a twin may have entered meanwhile
                self._propose(command)
        return await self._result(request_id, self._left(deadline))

    async def preview(
        self,
        request: Any,
        context: Any,
        *,
        after: After | None = None,
        timeout_s: float = 10.0,
    ) -> Any:
        """Run an interactive transaction's statements on this replica's state without
        committing anything (the machine's `preview`; docs/transactions.md). `after`:
        first wait until this replica reached it, as `submit` does.

        Raises the machine's refusal, `NotCaughtUp`, `Unavailable`, or `PreviewTimedOut`
        when the statements did not finish in time."""
        self._check_serving()
        deadline = self._loop.time() + timeout_s
        await self._catch_up_to(after, timeout_s)
        prepared = await self._with_fresh_schema(
            lambda: self._machine.prepare_preview(request, context), self._left(deadline)
        )
        remaining_s = self._left(deadline)
        self.counters.previews += 1
        # The machine stops the statements at the deadline; the thread may also be busy
        # applying for longer, hence the timeout here too.
        work = self._loop.run_in_executor(
            self._machine_thread, self._machine.preview, prepared, time.monotonic() + remaining_s
        )
        work.add_done_callback(_retrieve)
        try:
            async with asyncio.timeout(remaining_s):
                return await asyncio.shield(work)
        except TimeoutError:
            raise PreviewTimedOut(f"the preview did not finish within {timeout_s:g} s") from None

    async def read_local(
        self, request: Any, *, after: After | None = None, timeout_s: float = 10.0
    ) -> Any:
        """Answer a read from this replica's current state, replicating nothing (after
        waiting for `after`, bounded by `timeout_s`). Raises the machine's refusal,
        `Unavailable` or `NotCaughtUp`."""
        self._check_serving()
        await self._catch_up_to(after, timeout_s)
        try:
            prepared = self._machine.prepare_read(request)
        except SchemaMayBeStale as stale:
            # A local read answers for this replica's state: if its schema lacks the
            # table, so does the state the read would see.
            raise stale.refusal from None
        return await self._on(self._machine_thread, self._machine.read_local, prepared)

    async def lookup(self, request_id: str) -> Any | None:
        """The stored result of the request id if this replica executed it, else None;
        for a request that was resubmitted (`submit`), the result of the last link
        of its chain executed here."""
        self._check_serving()
        found = await self._on(self._machine_thread, self._machine.lookup, request_id)
        while found is not None:
            again = self._machine.resubmission(found)
            if again is None:
                break
            later = await self._on(self._machine_thread, self._machine.lookup, again.request_id)
            if later is None:
                break
            found = later
        return None if found is None else self._machine.as_answer(found, request_id)

    async def _catch_up_to(self, after: After | None, timeout_s: float) -> None:
        if isinstance(after, Position):
            await self.wait_position(after, timeout_s)
        elif after is not None:
            await self.wait_executed(after, timeout_s)

    async def wait_position(self, position: Position, timeout_s: float) -> None:
        """Return once this replica's state reflects every instance of every owner up
        to the position's slot for that owner (applied here, or at or below the GC
        floor); `NotCaughtUp` if it does not within `timeout_s`. One slow instance of
        an owner holds the wait back, even if the client never saw it."""
        if len(position.slots) > self.config.replica_count:
            raise InvalidRequest(f"position {position} names replicas this cluster lacks")
        self._check_serving()
        if position not in self._positions:
            if not self._awaited.add(position, self._reflected_prefix()):
                return
            self._positions[position] = _Waiting(self._loop.create_future())
        try:
            await self._await_shared(
                self._positions, position, timeout_s, on_forget=self._awaited.remove
            )
        except TimeoutError:
            prefix = self._reflected_prefix()
            behind = position.first_behind(prefix)
            lag = (
                "" if behind is None else f"; replica {behind}'s instances are executed here "
                f"up to slot {prefix[behind]}, not {position.slot(behind)}"
            )  # fmt: skip
            raise NotCaughtUp(
                position,
                f"this replica has not executed everything up to position {position} within "
                f"{timeout_s:g} s{lag} (it may lag, an instance may be slow to commit, or the "
                "position may not exist yet); nothing was submitted",
            ) from None

    def _reflected_prefix(self) -> tuple[int, ...]:
        """Per owner, the slot up to which this replica's state reflects every instance
        (see the module docstring)."""
        return self._applied_prefix if self._in_flight else self._replica.executed_prefix

    async def wait_executed(self, instance_id: InstanceId, timeout_s: float) -> None:
        """Return once this replica's state reflects `instance_id` (executed here, or
        at or below the GC floor); `NotCaughtUp` if it does not within `timeout_s`."""
        if not 0 <= instance_id.owner < self.config.replica_count or instance_id.slot < 1:
            raise InvalidRequest(f"instance {instance_id} does not exist in this cluster")
        self._check_serving()
        if self._reflects(instance_id):
            return
        if instance_id not in self._catch_up:
            self._catch_up[instance_id] = _Waiting(self._loop.create_future())
        try:
            await self._await_shared(self._catch_up, instance_id, timeout_s)
        except TimeoutError:
            raise NotCaughtUp(
                instance_id,
                f"this replica has not executed instance {instance_id.owner}.{instance_id.slot} "
                f"within {timeout_s:g} s (it may lag, or the instance may not exist yet); "
                "nothing was submitted",
            ) from None

    def _reflects(self, instance_id: InstanceId) -> bool:
        if instance_id in self._in_flight:
            return False
        owner, slot = instance_id.owner, instance_id.slot
        return (
            instance_id in self._applied
            or slot <= self._replica.executed_prefix[owner]
            or slot <= self._replica.floor[owner]
        )

    def _release_caught_up(self) -> None:
        for instance_id, waiting in list(self._catch_up.items()):
            if self._reflects(instance_id):
                del self._catch_up[instance_id]
                if not waiting.future.done():
                    waiting.future.set_result(None)
        if self._positions:
            for position in self._awaited.release(self._reflected_prefix()):
                waiting = self._positions.pop(position)
                if not waiting.future.done():
                    waiting.future.set_result(None)

    def _left(self, deadline: float) -> float:
        return max(deadline - self._loop.time(), 0.001)

    async def _with_fresh_schema(self, prepare: Callable[[], T], timeout_s: float) -> T:
        """`prepare()`, or, if its refusal may come from DDL this replica has not
        executed yet, `prepare()` again once caught up."""
        try:
            return prepare()
        except SchemaMayBeStale:
            pass
        # The refusal may come from DDL this replica has not executed yet. A barrier
        # interferes with everything, so it executes after every command committed
        # before it was proposed (the DDL a client saw acknowledged included); the
        # schema read after it is at least as new as anything a client has seen.
        barrier = self._machine.barrier(uuid.uuid4().hex)
        self._propose(barrier)
        try:
            await self._result(barrier.request_id, timeout_s)
        except OutcomeUnknown:
            raise Unavailable("could not catch up with the cluster's schema in time") from None
        try:
            return prepare()
        except SchemaMayBeStale as stale:
            raise stale.refusal from None

    def _check_serving(self) -> None:
        if self._stopping or self.failure is not None:
            raise Unavailable("the replica is not accepting transactions")

    def _check_accepting(self) -> None:
        self._check_serving()
        if len(self._pending) >= self.settings.max_pending:
            raise Unavailable(f"overloaded: {len(self._pending)} transactions in flight")

    def _propose(self, command: Command) -> None:
        self._check_accepting()
        self._pending[command.request_id] = _Waiting(self._loop.create_future())
        self._proposals.append(command)
        self._wake.set()
        self.counters.submitted += 1
        self.counters.pending_peak = max(self.counters.pending_peak, len(self._pending))

    async def _result(self, request_id: str, timeout_s: float) -> Any:
        try:
            return await self._await_shared(self._pending, request_id, timeout_s)
        except TimeoutError:
            self.counters.timed_out += 1
            raise OutcomeUnknown(
                request_id,
                f"no result within {timeout_s:g} s; the transaction may still commit "
                "(retry with the same request_id)",
            ) from None

    @staticmethod
    async def _await_shared(
        table: dict[K, _Waiting],
        key: K,
        timeout_s: float,
        *,
        on_forget: Callable[[K], None] | None = None,
    ) -> Any:
        """Wait at most `timeout_s` for the shared future of `key` in `table` (TimeoutError
        otherwise); the last waiter to leave removes the entry (and calls `on_forget`)."""
        waiting = table[key]
        waiting.waiters += 1
        try:
            async with asyncio.timeout(timeout_s):
                return await asyncio.shield(waiting.future)
        finally:
            waiting.waiters -= 1
            if waiting.waiters == 0 and table.get(key) is waiting:
                del table[key]
                if on_forget is not None:
                    on_forget(key)

    def readiness(self) -> Readiness:
        majority = self.config.replica_count // 2 + 1
        connected = (self.replica_id,) + tuple(
            replica_id
            for replica_id, status in self.transport.peer_status().items()
            if status.outbound and status.inbound
        )
        reason = None
        if self._stopping or self.failure is not None:
            reason = "the replica is stopping or stopped after a failure"
        elif len(connected) < majority:
            reason = (
                f"connected to {len(connected)} of {self.config.replica_count} replicas "
                f"(itself included); committing needs {majority}"
            )
        return Readiness(reason is None, tuple(sorted(connected)), majority, reason)

    def stats(self) -> dict[str, int]:
        """Counters and sizes, read without waiting (for metrics and status)."""
        stats = self._replica.stats
        return {
            "fast_commits": stats.fast_commits,
            "slow_commits": stats.slow_commits,
            "recoveries_started": stats.recoveries_started,
            "recovery_commits": stats.recovery_commits,
            "instances_executed": stats.instances_executed,
            "commands_executed": stats.commands_executed,
            "instances_in_memory": self._replica.instance_count,
            "log_bytes": self._log.size_bytes,
            "log_syncs": self._log.stats.syncs,
            "pending": len(self._pending),
            "catching_up": len(self._catch_up) + len(self._positions),
            "messages_dropped_malformed": self.transport.messages_dropped_malformed,
            **asdict(self.counters),
        }

    async def status(self) -> dict[str, Any]:
        state_hash = executed_count = None
        if self.failure is None and not self._stopping:
            state_hash, executed_count = await self._loop.run_in_executor(
                self._machine_thread,
                lambda: (self._machine.state_hash(), self._machine.executed_count()),
            )
        peers = self.transport.peer_status()
        stats = self.stats()
        return {
            "replica_id": self.replica_id,
            "pid": os.getpid(),
            "cluster_id": self.settings.cluster_id,
            "peers": [
                {
                    "replica_id": replica_id,
                    "address": str(self.settings.peers[replica_id]),
                    "outbound_connected": status.outbound,
                    "inbound_connected": status.inbound,
                }
                for replica_id, status in peers.items()
            ],
            "executed_prefix": list(self._replica.executed_prefix),
            "executed_count": executed_count,
            "floor": list(self._replica.floor),
            "instances_in_memory": stats.pop("instances_in_memory"),
            "state_hash": state_hash,
            "log_bytes": stats.pop("log_bytes"),
            "log_syncs": stats.pop("log_syncs"),
            "pending": stats.pop("pending"),
            "messages_dropped_malformed": stats.pop("messages_dropped_malformed"),
            "stats": stats,
            "links": {
                str(replica_id): asdict(stats)
                for replica_id, stats in self.transport.link_stats().items()
            },
            "failure": None if self.failure is None else str(self.failure),
        }

    # ------------------------------------------------------------------ the core task

    def _deliver(self, sender: ReplicaId, message: Message) -> None:
        self._inbound.append((sender, message))
        self._wake.set()

    async def _ticker(self) -> None:
        interval_s = self.settings.tick_ms / 1000.0
        while not self._stopping:
            await asyncio.sleep(interval_s)
            self._wake.set()

    async def _purge_periodically(self) -> None:
        """Propose a purge of old stored results every retention / 4, or every 10 s if
        that is sooner, when this replica stores results that old; replica i starts at
        (i + 1) / n of that interval, so that the replicas' purges spread out."""
        interval_s = min(
            self.settings.result_retention_s / _PURGES_PER_RETENTION, _PURGE_INTERVAL_MAX_S
        )
        delay_s = interval_s * (self.replica_id + 1) / self.config.replica_count
        retention_ms = round(self.settings.result_retention_s * 1000)
        while not self._stopping:
            await asyncio.sleep(delay_s)
            delay_s = interval_s
            if self._stopping or self.failure is not None:
                return
            # On the machine thread: whether anything is old enough reads the state.
            purge = await self._on(
                self._machine_thread, self._machine.purge_results, uuid.uuid4().hex, retention_ms
            )
            if purge is None or self._stopping or self.failure is not None:
                continue
            # Nobody waits for its result: it enters the core without a pending entry.
            self._proposals.append(purge)
            self._wake.set()
            self.counters.purges_proposed += 1

    async def _core_loop(self) -> None:
        applying: asyncio.Future[Any] | None = None
        replica = self._replica
        try:
            while not self._stopping:
                await self._wake.wait()
                self._wake.clear()
                self.counters.iterations += 1
                now_s = self._loop.time()
                latency = self._latency
                while self._inbound:
                    sender, message = self._inbound.popleft()
                    if latency is not None:
                        latency.on_received(now_s, sender, message)
                    replica.receive(sender, message)
                if latency is not None and now_s - self._last_ranking_s >= _RANKING_INTERVAL_S:
                    self._rank_peers(latency, now_s)
                while self._proposals:
                    replica.propose(self._proposals.popleft())
                replica.tick(self._loop.time() * 1000.0)
                ready = replica.take_ready()
                # From now on the core counts these as executed; the state does not
                # reflect them until their batch is applied.
                self._in_flight.update(e.instance_id for e in ready.executions)
                if ready:
                    self.counters.readies += 1
                    if ready.records:
                        durable = self._state_durable() if _has_floor(ready.records) else None
                        if durable is not None:
                            await durable
                        if self._persist(ready.records):
                            await self._on(self._log_thread, self._compact)
                    if ready.messages:
                        if latency is not None:
                            latency.on_sent(self._loop.time(), ready.messages)
                        self._send(ready.messages)
                    if ready.executions:
                        applying = self._apply_later(ready.executions, replica.executed_prefix)
                if self._catch_up or self._positions:
                    # The core's prefix may cover instances without a batch.
                    self._release_caught_up()
                self._maybe_forget()
            if applying is not None:
                await applying
        except BaseException as error:  # anything here leaves the durable state unknown
            self._fail(error)
            if isinstance(error, asyncio.CancelledError):
                raise

    def _rank_peers(self, latency: PeerLatency, now_s: float) -> None:
        self._last_ranking_s = now_s
        ranking = latency.ranking(now_s)
        widen_s = latency.widen_after_s(ranking, self.config.fast_quorum - 1)
        # Never below a millisecond: the ticker's resolution makes shorter pointless.
        widen_ms = None if widen_s is None else max(1.0, widen_s * 1000.0)
        self._replica.set_peer_order(ranking, widen_ms)

    def _send(self, messages: list[Outgoing]) -> None:
        """Send now, except gossip while executions it reports are not yet durable in
        the state: peers derive the floor from a gossip's executed prefix."""
        later = [m for m in messages if isinstance(m.message, Gossip)]
        durable = self._state_durable() if later else None
        if durable is None:
            self.transport.send(messages)
            return
        self.transport.send([m for m in messages if not isinstance(m.message, Gossip)])
        durable.add_done_callback(lambda _: self.failure is None and self.transport.send(later))

    def _state_durable(self) -> asyncio.Future[None] | None:
        """A future done once every execution queued so far is applied and durable in
        the state (the machine's `sync`, queued behind them on the machine thread);
        None if that is already so."""
        if self._unsynced:
            self._unsynced = False
            self._syncing = self._loop.run_in_executor(self._machine_thread, self._machine.sync)
            self._syncing.add_done_callback(self._fail_if_failed)
        if self._syncing is None or self._syncing.done():
            return None
        return self._syncing

    async def _on(self, thread: ThreadPoolExecutor, work: Callable[..., T], *args: Any) -> T:
        return await self._loop.run_in_executor(thread, work, *args)

    def _persist(self, records: list[DurableRecord]) -> bool:
        """One frame, one fsync; return whether the log grew enough to be compacted."""
        self._log.append(records)
        self._log.sync()
        for record in records:
            if isinstance(record, FloorRecord):
                self._floor_to_forget = record.floor
        return self._log.should_compact(self.settings.compact_threshold_bytes)

    def _compact(self) -> None:
        """Log thread: rewrite the log as its live records."""
        before = self._log.size_bytes
        self._log.compact()
        log_event(logger, logging.INFO, "log_compacted", bytes_before=before,
                  bytes_after=self._log.size_bytes,
                  live_instances=self._log.live_instances)  # fmt: skip

    def _apply_later(
        self, executions: list[Execution], prefix: tuple[int, ...]
    ) -> asyncio.Future[Any]:
        """Apply on the machine thread; `prefix` is the core's executed prefix as these
        executions were taken, which the state reflects once they are applied."""
        future = self._loop.run_in_executor(self._machine_thread, self._apply, executions)
        future.add_done_callback(partial(self._on_applied, executions, prefix))
        self._unsynced = True
        return future

    def _apply(self, executions: list[Execution]) -> list[tuple[str, Any]]:
        """State-machine thread: apply in order; return (request id, result) pairs."""
        answered: list[tuple[str, Any]] = []
        results = self._machine.apply(executions)
        for execution, batch_results in zip(executions, results, strict=True):
            for command, result in zip(execution.batch, batch_results, strict=True):
                answered.append((command.request_id, result))
        return answered

    def _on_applied(
        self,
        executions: list[Execution],
        prefix: tuple[int, ...],
        future: asyncio.Future[list[tuple[str, Any]]],
    ) -> None:
        if future.cancelled():
            return
        error = future.exception()
        if error is not None:
            self._fail(error)
            return
        for execution in executions:
            self._in_flight.discard(execution.instance_id)
            self._applied.add(execution.instance_id)
        # Batches apply in order: max() only guards the invariant that it never moves back.
        self._applied_prefix = tuple(map(max, self._applied_prefix, prefix))
        for owner, slot in enumerate(self._replica.executed_prefix):
            self._applied.advance_prefix(owner, slot)  # keeps the set small
        if self._catch_up or self._positions:
            self._release_caught_up()
        answered = future.result()
        self.counters.apply_batches += 1
        self.counters.executions_applied += len(answered)
        for request_id, result in answered:
            waiting = self._pending.get(request_id)
            if waiting is not None and not waiting.future.done():
                waiting.future.set_result(result)
                self.counters.answered += 1
                if waiting.waiters == 0:
                    del self._pending[request_id]

    def _maybe_forget(self) -> None:
        floor = self._floor_to_forget
        now_s = self._loop.time()
        if floor is None or now_s - self._last_forget_s < _FORGET_INTERVAL_S:
            return
        self._floor_to_forget = None
        self._last_forget_s = now_s
        # Queued behind every pending execution; the floor itself is already durable.
        future = self._loop.run_in_executor(self._machine_thread, self._machine.forget, floor)
        future.add_done_callback(self._fail_if_failed)

    def _fail_if_failed(self, future: asyncio.Future[Any]) -> None:
        if not future.cancelled() and future.exception() is not None:
            self._fail(future.exception())  # type: ignore[arg-type]

    # ------------------------------------------------------------------ failure

    def _fail(self, error: BaseException) -> None:
        if self.failure is not None:
            return
        self.failure = error
        self._stopping = True
        self._wake.set()
        log_event(
            logger, logging.CRITICAL, "node_failed", replica=self.replica_id,
            error=type(error).__name__, reason=str(error),
            action="stopped acknowledging; restart the replica to recover from its log",
        )  # fmt: skip
        self._abandon_pending(f"the replica stopped after a failure: {error}")
        if self._loop.is_running():
            self._loop.create_task(self._stop_after_failure())

    async def _stop_after_failure(self) -> None:
        if not self._stopped.is_set():
            await self.stop()

    def _abandon_pending(self, reason: str) -> None:
        """Every pending command entered (or is about to enter) the core: its outcome
        is unknown to this replica now. Clients still catching up submitted nothing."""
        for request_id, waiting in list(self._pending.items()):
            if not waiting.future.done():
                waiting.future.set_exception(OutcomeUnknown(request_id, reason))
                waiting.future.exception()  # retrieved: no "never retrieved" warning
        self._pending.clear()
        for waiting in (*self._catch_up.values(), *self._positions.values()):
            if not waiting.future.done():
                waiting.future.set_exception(Unavailable(reason))
                waiting.future.exception()
        self._catch_up.clear()
        self._positions.clear()
        self._awaited.clear()


def _has_floor(records: list[DurableRecord]) -> bool:
    return any(isinstance(record, FloorRecord) for record in records)


def _retrieve(future: asyncio.Future[Any]) -> None:
    """Mark a result nobody may wait for any more (a timed-out preview) as retrieved."""
    if not future.cancelled():
        future.exception()
