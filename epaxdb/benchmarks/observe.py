"""What the benchmark reads from the systems under test, and when.

- `process_cpu_s(pid)`: user + system CPU seconds of a local process (all its
  threads), from /proc/PID/stat;
- `ReplicaProbe`: the replicas' fast- and slow-path commit counters (GET /metrics,
  which costs the replica nothing), their status (GET /v1/status: pid, state hash);
- `WindowSampler`: takes one sample at the start and one at the end of the measured
  window, on its own thread, so the difference covers exactly the window;
- `ProgressLine`: one status line on stderr, rewritten each second (only on a
  terminal, so logs and captured output stay clean).
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")

_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def process_cpu_s(pid: int) -> float:
    """CPU seconds (user + system) of a live local process; OSError if it is gone."""
    with open(f"/proc/{pid}/stat", "rb") as stat:
        data = stat.read()
    # The command name (field 2) may hold spaces and parentheses: split after its end.
    fields = data[data.rindex(b")") + 2 :].split()
    utime, stime = int(fields[11]), int(fields[12])  # fields 14 and 15 of proc(5)
    return (utime + stime) / _CLOCK_TICKS


def total_cpu_s(pids: Sequence[int]) -> float:
    return sum(process_cpu_s(pid) for pid in pids)


@dataclass(frozen=True, slots=True)
class CommitCounters:
    fast: int
    slow: int

    def __sub__(self, other: CommitCounters) -> CommitCounters:
        return CommitCounters(self.fast - other.fast, self.slow - other.slow)

    def __add__(self, other: CommitCounters) -> CommitCounters:
        return CommitCounters(self.fast + other.fast, self.slow + other.slow)

    @property
    def fast_ratio(self) -> float | None:
        total = self.fast + self.slow
        return round(self.fast / total, 4) if total else None


_FAST = "epaxdb_fast_path_commits_total"
_SLOW = "epaxdb_slow_path_commits_total"


class ReplicaProbe:
    """Reads replicas over HTTP (with the cluster's bearer token, if any)."""

    def __init__(self, urls: Sequence[str], headers: Mapping[str, str], timeout_s: float = 10.0):
        self.urls = tuple(urls)
        self.headers = dict(headers)
        self._timeout_s = timeout_s

    def status(self, replica: int) -> dict:
        return dict(json.loads(self._get(replica, "/v1/status")))

    def commit_counters(self) -> CommitCounters:
        """Own instances committed on the fast and on the slow path, summed over
        the replicas."""
        total = CommitCounters(0, 0)
        for replica in range(len(self.urls)):
            values = {}
            for line in self._get(replica, "/metrics").decode().splitlines():
                name, _, value = line.partition(" ")
                if name in (_FAST, _SLOW):
                    values[name] = int(float(value))
            total += CommitCounters(values[_FAST], values[_SLOW])
        return total

    def _get(self, replica: int, path: str) -> bytes:
        request = urllib.request.Request(self.urls[replica] + path, headers=self.headers)
        with urllib.request.urlopen(request, timeout=self._timeout_s) as response:
            return bytes(response.read())


class WindowSampler(Generic[T]):
    """Calls `sample()` at `start + warmup_s` and at `start + warmup_s + duration_s`."""

    def __init__(self, sample: Callable[[], T], warmup_s: float, duration_s: float) -> None:
        self._sample = sample
        self._warmup_s = warmup_s
        self._duration_s = duration_s
        self._values: list[T] = []
        self._error: Exception | None = None
        self._thread: threading.Thread | None = None

    def start(self, start: float) -> None:
        self._thread = threading.Thread(target=self._run, args=(start,), daemon=True)
        self._thread.start()

    def result(self) -> tuple[T, T]:
        """(at the window's start, at its end); re-raises what a sample raised."""
        assert self._thread is not None, "start() was not called"
        self._thread.join()
        if self._error is not None:
            raise self._error
        before, after = self._values
        return before, after

    def _run(self, start: float) -> None:
        try:
            for at in (start + self._warmup_s, start + self._warmup_s + self._duration_s):
                time.sleep(max(0.0, at - time.monotonic()))
                self._values.append(self._sample())
        except Exception as error:  # noqa: BLE001 -- re-raised by result()
            self._error = error


class ProgressLine:
    """`label: 3.0/12.0 s (warm-up)  12,345 requests  4,100/s` on a terminal's stderr."""

    def __init__(self, label: str, counts: Sequence[int], warmup_s: float, duration_s: float):
        self._label = label
        self._counts = counts
        self._warmup_s = warmup_s
        self._total_s = warmup_s + duration_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._enabled = sys.stderr.isatty()

    def start(self, start: float) -> None:
        if self._enabled:
            self._thread = threading.Thread(target=self._run, args=(start,), daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            sys.stderr.write("\n")

    def _run(self, start: float) -> None:
        previous, previous_at = 0, start
        while not self._stop.wait(1.0):
            now = time.monotonic()
            count = sum(self._counts)
            rate = (count - previous) / max(now - previous_at, 1e-9)
            previous, previous_at = count, now
            elapsed = min(now - start, self._total_s)
            phase = " (warm-up)" if elapsed < self._warmup_s else ""
            sys.stderr.write(
                f"\r{self._label}: {elapsed:.1f}/{self._total_s:.1f} s{phase}  "
                f"{count:,} requests  {rate:,.0f}/s   "
            )
            sys.stderr.flush()
