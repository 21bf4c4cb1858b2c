"""GET /metrics: Prometheus text exposition (prometheus_client), one registry per app.

HTTP requests are counted by route template, method and status and timed by route;
the replica's own counters and sizes (fast/slow path commits, recoveries, executions,
log size, ...) are read from the node at scrape time. A registry per application (not
the library's global one) keeps several nodes in one process apart.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import generate_latest

from epaxdb.runtime.node import Node
from server.errors import Handler
from server.keys import NODE


class HttpMetrics:
    def __init__(self, node: Node) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "epaxdb_http_requests", "HTTP requests answered, by route, method and status",
            ["route", "method", "status"], registry=self.registry,
        )  # fmt: skip
        self.latency = Histogram(
            "epaxdb_http_request_duration_seconds", "Time to answer an HTTP request",
            ["route", "method"], registry=self.registry,
        )  # fmt: skip
        self.registry.register(_NodeCollector(node))


METRICS = web.AppKey("metrics", HttpMetrics)

# (node stats key, metric name, help); counters get the exposition's `_total` suffix.
_COUNTERS = (
    ("fast_commits", "epaxdb_fast_path_commits", "Own instances committed on the fast path"),
    ("slow_commits", "epaxdb_slow_path_commits", "Own instances committed on the slow path"),
    ("recoveries_started", "epaxdb_recoveries_started", "Recoveries of instances started"),
    ("recovery_commits", "epaxdb_recovery_commits", "Instances committed by a recovery"),
    ("instances_executed", "epaxdb_instances_executed", "Instances executed by the core"),
    ("commands_executed", "epaxdb_commands_executed", "Commands (transactions) executed"),
    ("log_syncs", "epaxdb_log_syncs", "fsyncs of the instance log"),
    ("timed_out", "epaxdb_requests_timed_out", "Submitted requests answered outcome unknown"),
    ("resubmitted", "epaxdb_requests_resubmitted",
     "Requests refused without effect (schema changed) and submitted again"),
    ("previews", "epaxdb_previews", "Interactive transaction previews run"),
    ("messages_dropped_malformed", "epaxdb_messages_dropped_malformed",
     "Peer messages that did not decode"),
)  # fmt: skip
_GAUGES = (
    ("log_bytes", "epaxdb_log_bytes", "Size of the instance log"),
    ("instances_in_memory", "epaxdb_instances_in_memory", "Instances not yet garbage collected"),
    ("pending", "epaxdb_pending_requests", "Submitted requests waiting for their result"),
    ("catching_up", "epaxdb_catching_up_requests", "Requests waiting for an `after` instance"),
)


class _NodeCollector:
    def __init__(self, node: Node) -> None:
        self._node = node

    def collect(self) -> Iterator[Metric]:
        stats = self._node.stats()
        for key, name, text in _COUNTERS:
            yield CounterMetricFamily(name, text, value=stats[key])
        for key, name, text in _GAUGES:
            yield GaugeMetricFamily(name, text, value=stats[key])
        readiness = self._node.readiness()
        yield GaugeMetricFamily(
            "epaxdb_replicas_connected", "Replicas connected both ways, this one included",
            value=len(readiness.connected),
        )  # fmt: skip
        yield GaugeMetricFamily("epaxdb_ready", "1 when /readyz answers 200",
                                value=int(readiness.ready))  # fmt: skip


def register(app: web.Application) -> None:
    app[METRICS] = HttpMetrics(app[NODE])
    app.router.add_get("/metrics", get_metrics)


async def get_metrics(request: web.Request) -> web.Response:
    data = generate_latest(request.app[METRICS].registry)
    return web.Response(body=data, headers={"Content-Type": CONTENT_TYPE_LATEST})


@web.middleware
async def metrics_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Outermost: counts every answer, errors included, by the route it matched."""
    started = time.perf_counter()
    response = await handler(request)
    resource = request.match_info.route.resource
    route = resource.canonical if resource is not None else "unmatched"
    metrics = request.app[METRICS]
    metrics.requests.labels(route, request.method, str(response.status)).inc()
    metrics.latency.labels(route, request.method).observe(time.perf_counter() - started)
    return response
