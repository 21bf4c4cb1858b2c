"""Throughput of the SQL analyzer alone: analyses per CPU-second on one core.

Three cases, each the median of 3 runs:

- `cached`: a point UPDATE whose SQL text repeats with fresh parameters each
  time (the hot path: plan-cache hit, bind, build keys);
- `cached_with_conflict_keys`: the same plus `conflict_keys()`, the encoding
  the protocol needs;
- `uncached`: a different SQL text every time (tokenize, parse with sqlglot,
  plan, bind).

CPU time (`time.process_time`) is measured rather than wall time, so other
work on a shared machine disturbs the figures less.
"""

from __future__ import annotations

import itertools
import platform
import statistics
import time
from collections.abc import Callable

import sqlglot

from analyzer import Schema, analyze

_RUNS = 3
_CHECK_EVERY = 200  # analyses between two clock readings

SCHEMA_ROWS = (
    (
        "table",
        "accounts",
        "accounts",
        (
            "CREATE TABLE accounts(id INTEGER PRIMARY KEY, owner TEXT NOT NULL, "
            "balance INTEGER NOT NULL DEFAULT 0)"
        ),
    ),
)
POINT_UPDATE = "UPDATE accounts SET balance = balance + ? WHERE id = ?"


def _rate(step: Callable[[int], object], seconds: float) -> float:
    """Calls of `step` per CPU-second, running for about `seconds` of CPU time."""
    counter = itertools.count()
    done = 0
    start = time.process_time()
    deadline = start + seconds
    while True:
        for _ in range(_CHECK_EVERY):
            step(next(counter))
        done += _CHECK_EVERY
        now = time.process_time()
        if now >= deadline:
            return done / (now - start)


def _median_rate(step: Callable[[int], object], seconds: float) -> float:
    return statistics.median(_rate(step, seconds / _RUNS) for _ in range(_RUNS))


def run_analyzer_benchmark(duration_s: float = 2.0) -> dict:
    """Analyses per CPU-second for each case; each case runs about `duration_s`."""
    schema = Schema.from_catalog(SCHEMA_ROWS, version=1)

    def cached(i: int) -> object:
        return analyze([(POINT_UPDATE, (i, i))], schema)

    def cached_with_conflict_keys(i: int) -> object:
        return analyze([(POINT_UPDATE, (i, i))], schema).conflict_keys()

    def uncached(i: int) -> object:
        sql = f"UPDATE accounts SET balance = balance + ? WHERE id = ? AND owner <> 'u{i}'"
        return analyze([(sql, (i, i))], schema)

    return {
        "cached_analyses_per_s": round(_median_rate(cached, duration_s)),
        "cached_with_conflict_keys_per_s": round(
            _median_rate(cached_with_conflict_keys, duration_s)
        ),
        "uncached_analyses_per_s": round(_median_rate(uncached, duration_s)),
        "statement": POINT_UPDATE,
        "runs": _RUNS,
        "duration_s": duration_s,
        "python": platform.python_version(),
        "sqlglot": sqlglot.__version__,
    }
