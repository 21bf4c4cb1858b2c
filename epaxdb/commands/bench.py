"""`epaxdb bench TARGET`: benchmarks (docs/benchmarks.md, "How to run").

Workloads against a replicated cluster (started here on loopback, or `--url`s):

    epaxdb bench update   [--conflict P]         point updates
    epaxdb bench transfer [--conflict P]         two-row bank transfers, checked
    epaxdb bench read                            linearizable point reads
    epaxdb bench mixed    [--reads P]            reads and updates

with `--replicas`, `--clients`, `--duration`, `--batch on|off`, `--wan PROFILE`,
`--protocol epaxos|multipaxos [--leader ID]`, `--thrifty`, `--baseline sqlite|etcd`,
`--load-procs K`, `--json`, `--plot FILE.png`.

Experiments on a cluster started here:

    epaxdb bench availability --kill-at S --restart-at S    a replica killed and restarted
    epaxdb bench load-curve WORKLOAD --clients 1,2,4,...     latency against load
    epaxdb bench experiments --out DIR [--quick]             all of docs/benchmarks.md

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
import shlex
import sys
from pathlib import Path

from epaxdb.benchmarks.analyzer import run_analyzer_benchmark
from epaxdb.benchmarks.availability import (
    DEFAULT_REQUEST_TIMEOUT_S,
    AvailabilitySettings,
    run_availability_benchmark,
)
from epaxdb.benchmarks.backup import run_backup_benchmark
from epaxdb.benchmarks.cluster import (
    BASELINES,
    PROTOCOLS,
    BenchSettings,
    run_workload_benchmark,
)
from epaxdb.benchmarks.core import run_core_benchmark
from epaxdb.benchmarks.errors import BaselineUnavailable, BenchmarkError, PlotUnavailable
from epaxdb.benchmarks.experiments import PLANS, run_experiments
from epaxdb.benchmarks.http_ops import REQUEST_TIMEOUT_MS
from epaxdb.benchmarks.load_curve import (
    DEFAULT_CLIENT_COUNTS,
    LoadCurveSettings,
    run_load_curve,
)
from epaxdb.benchmarks.report import (
    format_availability,
    format_load_curve,
    format_text,
    plot,
    require_plotting,
)
from epaxdb.benchmarks.targets import Check
from epaxdb.benchmarks.workloads import WORKLOADS, Workload
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
    _register_availability(targets)
    _register_load_curve(targets)
    _register_experiments(targets)
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


def _workload_options(
    *,
    given_replicas: bool = True,
    baseline: bool = True,
    clients: int = 32,
    client_list: bool = False,
    duration: float = 10.0,
    warmup: float = 2.0,
    request_timeout: float = REQUEST_TIMEOUT_MS / 1000,
) -> argparse.ArgumentParser:
    """The options of a workload benchmark, as a parent parser. A new one per caller:
    argparse shares a parent's actions with every child, defaults included."""
    options = argparse.ArgumentParser(add_help=False)
    cluster = options.add_argument_group("cluster")
    cluster.add_argument(
        "--replicas",
        type=int,
        default=None,
        metavar="N",
        help="replicas to start (3, 5 or 7; default 3, or the WAN profile's site count)",
    )
    if given_replicas:
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
            help="with --url: the bearer token the replicas require "
            "(epaxdb serve --auth-token-file)",
        )
    cluster.add_argument(
        "--batch",
        choices=("on", "off"),
        default=None,
        help="protocol batching of the replicas started here (default on)",
    )
    cluster.add_argument(
        "--protocol",
        choices=PROTOCOLS,
        default=None,
        help="ordering of the replicas started here: epaxos (default) or multipaxos, "
        "the comparison baseline (one stable leader, no failover)",
    )
    cluster.add_argument(
        "--leader",
        type=int,
        default=None,
        metavar="ID",
        help="multipaxos: the leader's replica id (default 0; with --wan, the "
        "replica in California, as in the EPaxos paper)",
    )
    cluster.add_argument(
        "--thrifty",
        action="store_true",
        default=None,
        help="replicas started here send PreAccept/Accept first only to the closest "
        "quorum (epaxdb serve --thrifty)",
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
    if client_list:
        load.add_argument(
            "--clients",
            type=_client_counts,
            default=DEFAULT_CLIENT_COUNTS,
            metavar="C1,C2,...",
            help="client counts, one step each, in this order (default "
            f"{','.join(map(str, DEFAULT_CLIENT_COUNTS))})",
        )
    else:
        load.add_argument(
            "--clients",
            type=int,
            default=clients,
            help="concurrent closed-loop clients (default %(default)s)",
        )
    load.add_argument(
        "--duration", type=float, default=duration, help="seconds measured (default %(default)s)"
    )
    load.add_argument(
        "--warmup",
        type=float,
        default=warmup,
        help="seconds run before measuring (default %(default)s)",
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
    load.add_argument(
        "--request-timeout",
        type=float,
        default=request_timeout,
        metavar="S",
        help="how long a replica may take before answering outcome_unknown (default %(default)s s)",
    )
    load.add_argument("--seed", type=int, default=1, help="of the clients' random choices")
    compare = options.add_argument_group("comparison and output")
    if baseline:
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
        help="save the results as a chart (needs epaxdb[plot])",
    )
    return options


def _register_availability(targets: argparse._SubParsersAction) -> None:
    text = (
        "throughput over time while one replica is killed (EPaxos: replica 0; "
        "multipaxos: the leader) and restarted"
    )
    options = _workload_options(
        given_replicas=False, baseline=False, clients=12, duration=20.0, warmup=1.0,
        request_timeout=DEFAULT_REQUEST_TIMEOUT_S,
    )  # fmt: skip
    parser = targets.add_parser("availability", parents=[options], help=text, description=text)
    faults = parser.add_argument_group("faults")
    faults.add_argument(
        "--kill-at", type=float, default=5.0, metavar="S",
        help="SIGKILL the replica this many seconds into the window (default %(default)s)",
    )  # fmt: skip
    faults.add_argument(
        "--restart-at", type=float, default=12.0, metavar="S",
        help="start it again at this second of the window; negative: never (default "
        "%(default)s)",
    )  # fmt: skip
    parser.set_defaults(handler=_bench_availability, workload="update")


def _register_load_curve(targets: argparse._SubParsersAction) -> None:
    text = "latency and throughput per client count, until throughput stops rising"
    options = _workload_options(baseline=False, client_list=True, duration=5.0)
    parser = targets.add_parser("load-curve", parents=[options], help=text, description=text)
    parser.add_argument("workload", choices=WORKLOADS, help="the workload of every step")
    parser.set_defaults(handler=_bench_load_curve)


def _register_experiments(targets: argparse._SubParsersAction) -> None:
    text = (
        "run the experiments of docs/benchmarks.md (targets, throughput vs conflicts, "
        "WAN latency, availability, latency vs load) and write JSON, charts and a "
        "markdown fragment"
    )
    parser = targets.add_parser("experiments", help=text, description=text)
    parser.add_argument(
        "--out", type=Path, required=True, metavar="DIR", help="where results are written"
    )
    parser.add_argument(
        "--quick",
        action="count",
        default=0,
        help="a few seconds per point (about 10 minutes on 2 cores); twice: a smoke "
        "run of the pipeline with tiny durations and the smallest matrix",
    )
    parser.add_argument(
        "--no-plot", action="store_true", help="write JSON and markdown only (no matplotlib)"
    )
    parser.set_defaults(handler=_bench_experiments)


def _bench_workload(args: argparse.Namespace) -> int:
    try:
        if args.plot is not None:
            require_plotting()
        settings = _settings(args, args.clients)
        settings.validate()
    except (BaselineUnavailable, PlotUnavailable, BenchmarkError, ConfigError, ValueError) as error:
        return _cannot_run(error)
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


def _settings(args: argparse.Namespace, clients: int) -> BenchSettings:
    """The BenchSettings of a workload's options; BenchmarkError for contradictions."""
    urls = tuple(
        url.rstrip("/") for item in getattr(args, "url", ()) for url in item.split(",") if url
    )
    auth_file = getattr(args, "auth_token_file", None)
    token = _read_token(auth_file) if auth_file else None
    if token is not None and not urls:
        raise BenchmarkError("--auth-token-file is for replicas given with --url")
    started_here = ("batch", "replicas", "protocol", "leader", "thrifty")
    if urls and any(getattr(args, name) is not None for name in started_here):
        raise BenchmarkError(
            "--batch, --replicas, --protocol, --leader and --thrifty configure replicas "
            "started here; with --url the replicas are already running"
        )
    replicas = args.replicas
    if replicas is None:
        replicas = len(PROFILES[args.wan].sites) if args.wan else 3
    return BenchSettings(
        Workload(args.workload, args.rows, args.conflict, args.reads),
        replicas=replicas,
        clients=clients,
        duration_s=args.duration,
        warmup_s=args.warmup,
        batch=args.batch != "off",
        wan=args.wan,
        urls=urls,
        auth_token=token,
        baseline=getattr(args, "baseline", None),
        load_procs=args.load_procs,
        seed=args.seed,
        protocol=args.protocol or "epaxos",
        leader=args.leader,
        thrifty=bool(args.thrifty),
        request_timeout_s=args.request_timeout,
    )


def _bench_availability(args: argparse.Namespace) -> int:
    restart = None if args.restart_at < 0 else args.restart_at
    try:
        if args.plot is not None:
            require_plotting()
        settings = AvailabilitySettings(_settings(args, args.clients), args.kill_at, restart)
        settings.validate()
    except (PlotUnavailable, BenchmarkError, ConfigError, ValueError) as error:
        return _cannot_run(error)
    try:
        result = run_availability_benchmark(settings)
    except BenchmarkError as error:
        print(f"epaxdb bench: {error}", file=sys.stderr)
        return EXIT_FAILED
    print(json.dumps(result, sort_keys=True) if args.json else format_availability(result))
    if args.plot is not None:
        from epaxdb.benchmarks.charts import plot_availability

        plot_availability([result], args.plot)
        print(f"epaxdb bench: plot saved to {args.plot}", file=sys.stderr)
    return 0 if result["check"]["ok"] else EXIT_FAILED


def _bench_load_curve(args: argparse.Namespace) -> int:
    try:
        if args.plot is not None:
            require_plotting()
        counts = args.clients
        settings = LoadCurveSettings(_settings(args, max(counts)), counts)
        settings.validate()
    except (BaselineUnavailable, PlotUnavailable, BenchmarkError, ConfigError, ValueError) as error:
        return _cannot_run(error)
    try:
        result = run_load_curve(settings)
    except BenchmarkError as error:
        print(f"epaxdb bench: {error}", file=sys.stderr)
        return EXIT_FAILED
    print(json.dumps(result, sort_keys=True) if args.json else format_load_curve(result))
    if args.plot is not None:
        from epaxdb.benchmarks.charts import plot_load_curve

        plot_load_curve([result], args.plot)
        print(f"epaxdb bench: plot saved to {args.plot}", file=sys.stderr)
    return 0


def _bench_experiments(args: argparse.Namespace) -> int:
    plan = PLANS[("full", "quick", "smoke")[min(args.quick, 2)]]
    if not args.no_plot:
        try:
            require_plotting()
        except PlotUnavailable as error:
            return _cannot_run(f"{error} (or --no-plot)")
    command = f"epaxdb bench experiments --out {shlex.quote(str(args.out))}"
    command += " --quick" * args.quick + (" --no-plot" if args.no_plot else "")
    summary = run_experiments(plan, args.out, charts=not args.no_plot, command=command)
    for check in summary["checks"]:
        print(Check(**check).line())
    print(
        f"epaxdb bench: results in {args.out} ({summary['elapsed_s']['total']:,.0f} s); "
        f"markdown fragment {args.out / 'results.md'}",
        file=sys.stderr,
    )
    for failure in summary["failures"]:
        print(f"epaxdb bench: failed: {failure}", file=sys.stderr)
    return EXIT_FAILED if summary["failures"] else 0


def _client_counts(text: str) -> tuple[int, ...]:
    """`1,2,4` as (1, 2, 4): each at least 1."""
    try:
        counts = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a comma-separated list of numbers: {text!r}")
    if not counts or min(counts) < 1:
        raise argparse.ArgumentTypeError(f"client counts must be >= 1: {text!r}")
    return counts


def _cannot_run(error: object) -> int:
    print(f"epaxdb bench: {error}", file=sys.stderr)
    return EXIT_CANNOT_RUN


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
