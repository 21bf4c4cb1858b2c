"""`epaxdb bench TARGET`: benchmarks whose figures go to docs/benchmarks.md.

Targets: `core` (the protocol state machine alone, unbatched and batched),
`analyzer` (SQL analyses per CPU-second, cached and uncached) and `cluster` (point
updates against a local cluster of real replica processes, beside the same
transactions on one apsw connection with the same durability settings) and `backup`
(GET /v1/backup of an imported database under point-update load). Each prints one JSON
object per configuration; `--json` prints only the JSON lines.
"""

from __future__ import annotations

import argparse
import json
import platform

from epaxdb.benchmarks.analyzer import run_analyzer_benchmark
from epaxdb.benchmarks.backup import run_backup_benchmark
from epaxdb.benchmarks.cluster import run_update_benchmark
from epaxdb.benchmarks.core import run_core_benchmark


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("bench", help="run a benchmark")
    targets = parser.add_subparsers(dest="target", metavar="TARGET", required=True)
    core = targets.add_parser("core", help="protocol core throughput (no network, no disk)")
    core.add_argument("--replicas", type=int, default=3, choices=(3, 5, 7))
    core.add_argument("--commands", type=int, default=20_000)
    core.add_argument("--batch", type=int, nargs="+", default=[1, 100])
    core.add_argument("--repeats", type=int, default=3)
    core.add_argument("--json", action="store_true", help="print JSON lines only")
    core.set_defaults(handler=_bench_core)
    analyzer = targets.add_parser("analyzer", help="SQL analyses per CPU-second")
    analyzer.add_argument("--duration", type=float, default=2.0, help="seconds per case")
    analyzer.set_defaults(handler=_bench_analyzer)
    cluster = targets.add_parser("cluster", help="point updates on a local cluster vs one apsw")
    cluster.add_argument("--replicas", type=int, default=3, choices=(3, 5, 7))
    cluster.add_argument("--clients", type=int, default=32)
    cluster.add_argument("--duration", type=float, default=5.0, help="seconds measured")
    cluster.set_defaults(handler=_bench_cluster)
    backup = targets.add_parser("backup", help="GET /v1/backup under point-update load")
    backup.add_argument("--size-mb", type=int, default=50, help="database size to import")
    backup.add_argument("--clients", type=int, default=8)
    backup.add_argument("--baseline", type=float, default=3.0, help="seconds without backup")
    backup.set_defaults(handler=_bench_backup)


def _bench_backup(args: argparse.Namespace) -> int:
    result = run_backup_benchmark(args.size_mb, clients=args.clients, baseline_s=args.baseline)
    print(json.dumps(result, sort_keys=True))
    return 0


def _bench_cluster(args: argparse.Namespace) -> int:
    result = run_update_benchmark(args.replicas, args.clients, args.duration)
    print(json.dumps(result, sort_keys=True))
    return 0


def _bench_analyzer(args: argparse.Namespace) -> int:
    print(json.dumps(run_analyzer_benchmark(args.duration), sort_keys=True))
    return 0


def _bench_core(args: argparse.Namespace) -> int:
    for batch in args.batch:
        commands = args.commands * (10 if batch > 1 else 1)
        result = run_core_benchmark(args.replicas, commands, batch, args.repeats)
        if not args.json:
            print(
                f"core n={args.replicas} batch={batch}: "
                f"{result['per_replica_commands_per_cpu_s']:,.0f} commands per replica-CPU-s, "
                f"{result['cluster_commands_per_cpu_s']:,.0f} with all replicas on one core, "
                f"{result['with_wire_cluster_commands_per_cpu_s']:,.0f} including msgpack "
                f"(median of {args.repeats}; python {platform.python_version()})"
            )
        print(json.dumps(result, sort_keys=True))
    return 0
