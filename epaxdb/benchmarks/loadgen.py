"""The closed-loop load generator: concurrent clients, each one request at a time.

Each client is placed at a URL (a replica, or an etcd member) and, under a WAN
profile, at a site: it waits the one-way client-to-replica hop before each request
and after each answer, so its latency includes the trip to its own replica.
Clients of one process share one `aiohttp` session; each keeps its own keep-alive
connection (a closed loop has at most one request in flight per client).

Timing: the run starts at `start`, measures from `start + warmup_s` for `duration_s`.
A request counts when it was sent and answered inside that window; its latency is
measured at the client. Every loop is bounded in time (the window's end) and in count
(`max_requests_per_client`); a client whose requests fail at the connection level
pauses briefly rather than spinning.

One Python process saturates a core at a few thousand requests per second, so with
`procs > 1` the clients are split over that many worker processes (spawned, started
together through a barrier) and their samples merged.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import random
import time
from collections import Counter
from collections.abc import Callable, MutableSequence, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import aiohttp

from epaxdb.benchmarks.errors import BenchmarkError
from epaxdb.benchmarks.http_ops import RequestSource, send

_PAUSE_AFTER_CONNECTION_ERROR_S = 0.1
_BARRIER_TIMEOUT_S = 120.0


@dataclass(frozen=True, slots=True)
class Placement:
    url: str
    site: int = 0  # the replica (or member) talked to; under a WAN profile also its site
    hop_s: float = 0.0  # one-way client-to-replica delay (WAN emulation)


@dataclass(frozen=True, slots=True)
class LoadPlan:
    source: RequestSource
    clients: tuple[Placement, ...]
    warmup_s: float
    duration_s: float
    headers: dict[str, str]  # sent with every request (a bearer token)
    seed: int = 1
    max_requests_per_client: int = 1_000_000


class Record(NamedTuple):
    """One request sent and answered inside the window."""

    kind: str
    site: int
    answered_s: float  # since the window's start
    latency_ms: float


class Failure(NamedTuple):
    """One request that failed inside the window (an error answer or no answer)."""

    site: int
    at_s: float  # since the window's start
    error: str


@dataclass(slots=True)
class Samples:
    """What the clients measured."""

    records: list[Record] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)  # warm-up included
    failures: list[Failure] = field(default_factory=list)  # inside the window only
    requests: int = 0  # everything answered, warm-up included
    cpu_s: float = 0.0  # CPU the load generator spent in the window

    def merge(self, other: Samples) -> None:
        self.records.extend(other.records)
        self.errors.update(other.errors)
        self.failures.extend(other.failures)
        self.requests += other.requests
        self.cpu_s += other.cpu_s

    def fail(self, site: int, at_s: float, duration_s: float, error: str) -> None:
        self.errors[error] += 1
        if 0 <= at_s <= duration_s:
            self.failures.append(Failure(site, at_s, error))


def run_load(
    plan: LoadPlan,
    procs: int,
    progress: MutableSequence[int],
    on_start: Callable[[float], None],
) -> Samples:
    """Run the plan's clients in `procs` processes; `progress[i]` counts the requests
    answered by process i, and `on_start(start)` is called when the clock starts."""
    if procs == 1:
        start = time.monotonic()
        on_start(start)
        return asyncio.run(_drive(plan, range(len(plan.clients)), start, progress, 0))
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(procs + 1)
    shared = context.Array("q", procs, lock=False)
    with ProcessPoolExecutor(
        procs, mp_context=context, initializer=_init_worker, initargs=(barrier, shared)
    ) as pool:
        futures = [
            pool.submit(_worker, plan, range(worker, len(plan.clients), procs), worker)
            for worker in range(procs)
        ]
        barrier.wait(_BARRIER_TIMEOUT_S)
        start = time.monotonic()
        on_start(start)
        samples = Samples()
        while not all(future.done() for future in futures):
            progress[:] = shared[:]
            time.sleep(0.2)
        for future in futures:
            try:
                samples.merge(future.result())
            except Exception as error:  # whatever ended a worker
                raise BenchmarkError(f"a load-generator process failed: {error!r}") from error
    return samples


_worker_barrier: Any = None
_worker_progress: Any = None


def _init_worker(barrier: Any, progress: Any) -> None:
    global _worker_barrier, _worker_progress
    _worker_barrier, _worker_progress = barrier, progress


def _worker(plan: LoadPlan, clients: range, slot: int) -> Samples:
    _worker_barrier.wait(_BARRIER_TIMEOUT_S)
    return asyncio.run(_drive(plan, clients, time.monotonic(), _worker_progress, slot))


async def _drive(
    plan: LoadPlan,
    clients: Sequence[int],
    start: float,
    progress: MutableSequence[int],
    slot: int,
) -> Samples:
    samples = Samples()
    window_start = start + plan.warmup_s
    window_end = window_start + plan.duration_s
    loop = asyncio.get_running_loop()
    cpu_marks: list[float] = []  # process CPU at the window's start and end
    loop.call_at(window_start, lambda: cpu_marks.append(time.process_time()))
    loop.call_at(window_end, lambda: cpu_marks.append(time.process_time()))
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector, headers=plan.headers) as session:

        async def client(index: int) -> None:
            placement = plan.clients[index]
            rng = random.Random(plan.seed * 1_000_003 + index)
            source, url, hop_s = plan.source, placement.url, placement.hop_s
            for _ in range(plan.max_requests_per_client):
                if time.monotonic() >= window_end:
                    return
                request = source.next_request(rng)
                sent = time.monotonic()
                try:
                    if hop_s:
                        await asyncio.sleep(hop_s)
                    outcome = await send(session, url, request)
                    if hop_s:
                        await asyncio.sleep(hop_s)
                except (aiohttp.ClientError, TimeoutError) as error:
                    samples.fail(
                        placement.site, time.monotonic() - window_start, plan.duration_s,
                        f"connection: {type(error).__name__}",
                    )  # fmt: skip
                    await asyncio.sleep(_PAUSE_AFTER_CONNECTION_ERROR_S)
                    continue
                done = time.monotonic()
                samples.requests += 1
                progress[slot] += 1
                if not outcome.ok:
                    samples.fail(
                        placement.site, done - window_start, plan.duration_s,
                        outcome.error or "error",
                    )  # fmt: skip
                elif sent >= window_start and done <= window_end:
                    samples.records.append(
                        Record(request.kind, placement.site, done - window_start,
                               (done - sent) * 1000)
                    )  # fmt: skip

        await asyncio.gather(*(client(index) for index in clients))
    if len(cpu_marks) == 2:
        samples.cpu_s = cpu_marks[1] - cpu_marks[0]
    return samples
