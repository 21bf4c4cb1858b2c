"""Latency percentiles and throughput figures from a benchmark's samples."""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Sequence
from typing import Any


def latency_summary(latencies_ms: Sequence[float], duration_s: float) -> dict[str, Any]:
    """Count, throughput and p50/p95/p99/max; None for latencies when nothing completed.
    Percentiles interpolate inclusively, so p50 <= p95 <= p99 <= max always holds."""
    count = len(latencies_ms)
    summary: dict[str, Any] = {
        "transactions": count,
        "throughput_tps": round(count / duration_s, 1) if duration_s > 0 else 0.0,
    }
    if count == 0:
        return {**summary, "p50_ms": None, "p95_ms": None, "p99_ms": None, "max_ms": None}
    if count == 1:
        p50 = p95 = p99 = latencies_ms[0]
    else:
        cuts = statistics.quantiles(latencies_ms, n=100, method="inclusive")
        p50, p95, p99 = cuts[49], cuts[94], cuts[98]
    return {
        **summary,
        "p50_ms": round(p50, 3),
        "p95_ms": round(p95, 3),
        "p99_ms": round(p99, 3),
        "max_ms": round(max(latencies_ms), 3),
    }


def per_second(answered_s: Iterable[float], duration_s: float) -> list[int]:
    """Requests answered in each whole second of the window (throughput over time)."""
    buckets = [0] * max(1, math.ceil(duration_s))
    for at in answered_s:
        buckets[min(int(at), len(buckets) - 1)] += 1
    return buckets
