"""`epaxdb bench TARGET`: benchmarks (docs/benchmarks.md, "How to run").

Workloads against a replicated cluster (started here on loopback, or `--url`s):

    epaxdb bench update   [--conflict P]         point updates
    epaxdb bench transfer [--conflict P]         two-row bank transfers, checked
    epaxdb bench read                            linearizable point reads
    epaxdb bench mixed    [--reads P]            reads and updates

with `--replicas`, `--clients`, `--duration`, `--batch on|off`, `--wan PROFILE`,
`--baseline sqlite|etcd`, `--load-procs K`, `--json`, `--plot FILE.png`.

Parts in isolation: `core` (the protocol state machine, unbatched and batched),
`analyzer` (SQL analyses per CPU-second) and `backup` (GET /v1/backup of an imported
database under point-update load).

Exit status: 0 when the benchmark ran (and, for transfer, its check passed), 1 when
the check failed or the benchmark could not finish, 2 when it cannot run here (bad
options, a baseline that is not installed, --plot without matplotlib).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
from pathlib import Path

from epaxdb.benchmarks.analyzer import run_analyzer_benchmark
from epaxdb.benchmarks.backup import run_backup_benchmark
from epaxdb.benchmarks.cluster import BASELINES, BenchSettings, run_workload_benchmark
from epaxdb.benchmarks.core import run_core_benchmark
from epaxdb.benchmarks.errors import BaselineUnavailable, BenchmarkError, PlotUnavailable
from epaxdb.benchmarks.report import format_text, plot, require_plotting
from epaxdb.benchmarks.workloads import Workload
from epaxdb.errors import ConfigError
from epaxdb.runtime.wan import PROFILES

EXIT_FAILED = 1
EXIT_CANNOT_RUN = 2

_WORKLOAD_HELP = {
    "update": "point updates (UPDATE ... WHERE id = ?), --conflict P %% on one hot row",
    "transfer": "two-row bank transfers in one transaction; checks the total on every replica",
    "read": "linearizable point reads",
    "mixed": "point reads and updates (--reads P %% reads, default 50)",
}


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "bench",
        help="run a benchmark",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    targets = parser.add_subparsers(dest="target", metavar="TARGET", required=True)
    options = _workload_options()
    for name, text in _WORKLOAD_HELP.items():
        workload = targets.add_parser(name, parents=[options], help=text, description=text)
        workload.set_defaults(handler=_bench_workload, workload=name)
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
    backup = targets.add_parser("backup", help="GET /v1/backup under point-update load")
    backup.add_argument("--size-mb", type=int, default=50, help="database size to import")
    backup.add_argument("--clients", type=int, default=8)
    backup.add_argument("--baseline", type=float, default=3.0, help="seconds without backup")
    backup.set_defaults(handler=_bench_backup)


def _bench_backup(args: argparse.Namespace) -> int:
    result = run_backup_benchmark(args.size_mb, clients=args.clients, baseline_s=args.baseline)
    print(json.dumps(result, sort_keys=True))
    return 0


def _workload_options() -> argparse.ArgumentParser:
    options = argparse.ArgumentParser(add_help=False)
    cluster = options.add_argument_group("cluster")
    cluster.add_argument(
        "--replicas",
        type=int,
        default=None,
        metavar="N",
        help="replicas to start (3, 5 or 7; default 3, or the WAN profile's site count)",
    )
    cluster.add_argument(
        "--url",
        action="append",
        default=[],
        metavar="URL",
        help="benchmark running replicas instead (repeat or "
        "comma-separate, one per replica, in replica-id order)",
    )
    cluster.add_argument(
        "--auth-token-file",
        type=Path,
        metavar="FILE",
        help="with --url: the bearer token the replicas require (epaxdb serve --auth-token-file)",
    )
    cluster.add_argument(
        "--batch",
        choices=("on", "off"),
        default=None,
        help="protocol batching of the replicas started here (default on)",
    )
    cluster.add_argument(
        "--wan",
        choices=sorted(PROFILES),
        metavar="PROFILE",
        help="emulate a wide-area network: replica i at site i, messages "
        "delayed by half the round trip, clients at each site talk to "
        f"their replica; per-site latency is reported ({', '.join(PROFILES)})",
    )
    load = options.add_argument_group("load")
    load.add_argument(
        "--clients", type=int, default=32, help="concurrent closed-loop clients (default 32)"
    )
    load.add_argument("--duration", type=float, default=10.0, help="seconds measured (default 10)")
    load.add_argument(
        "--warmup", type=float, default=2.0, help="seconds run before measuring (default 2)"
    )
    load.add_argument(
        "--conflict",
        type=float,
        default=0.0,
        metavar="P",
        help="percent of transactions touching one hot row (default 0)",
    )
    load.add_argument(
        "--reads",
        type=float,
        default=50.0,
        metavar="P",
        help="mixed: percent of reads (default 50)",
    )
    load.add_argument(
        "--rows", type=int, default=10_000, help="rows (accounts) in the table (default 10000)"
    )
    load.add_argument(
        "--load-procs",
        type=int,
        default=1,
        metavar="K",
        help="load-generator processes (when one saturates a core)",
    )
    load.add_argument("--seed", type=int, default=1, help="of the clients' random choices")
    compare = options.add_argument_group("comparison and output")
    compare.add_argument(
        "--baseline",
        choices=BASELINES,
        help="also run the same load against single-node SQLite "
        "(one apsw connection, WAL, synchronous=FULL) or a 3-member etcd",
    )
    compare.add_argument(
        "--json", action="store_true", help="print one JSON object (progress stays on stderr)"
    )
    compare.add_argument(
        "--plot",
        type=Path,
        metavar="FILE.png",
        help="save throughput and latency plots (needs epaxdb[plot])",
    )
    return options


def _bench_workload(args: argparse.Namespace) -> int:
    urls = tuple(url.rstrip("/") for item in args.url for url in item.split(",") if url)
    try:
        if args.plot is not None:
            require_plotting()
        token = _read_token(args.auth_token_file) if args.auth_token_file else None
        if token is not None and not urls:
            raise BenchmarkError("--auth-token-file is for replicas given with --url")
        if urls and (args.batch is not None or args.replicas is not None):
            raise BenchmarkError(
                "--batch and --replicas configure replicas started here; "
                "with --url the replicas are already running"
            )
        replicas = args.replicas
        if replicas is None:
            replicas = len(PROFILES[args.wan].sites) if args.wan else 3
        settings = BenchSettings(
            Workload(args.workload, args.rows, args.conflict, args.reads),
            replicas=replicas,
            clients=args.clients,
            duration_s=args.duration,
            warmup_s=args.warmup,
            batch=args.batch != "off",
            wan=args.wan,
            urls=urls,
            auth_token=token,
            baseline=args.baseline,
            load_procs=args.load_procs,
            seed=args.seed,
        )
        settings.validate()
    except (BaselineUnavailable, PlotUnavailable, BenchmarkError, ConfigError) as error:
        print(f"epaxdb bench: {error}", file=sys.stderr)
        return EXIT_CANNOT_RUN
    try:
        result = run_workload_benchmark(settings)
    except BenchmarkError as error:
        print(f"epaxdb bench: {error}", file=sys.stderr)
        return EXIT_FAILED
    print(json.dumps(result, sort_keys=True) if args.json else format_text(result))
    if args.plot is not None:
        plot(result, args.plot)
        print(f"epaxdb bench: plot saved to {args.plot}", file=sys.stderr)
    check = result.get("check")
    return EXIT_FAILED if check is not None and not check["ok"] else 0


def _read_token(path: Path) -> str:
    try:
        token = path.read_text().strip()
    except OSError as error:
        raise BenchmarkError(f"cannot read the auth token file: {error}") from None
    if not token:
        raise BenchmarkError(f"the auth token file {path} is empty")
    return token


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
