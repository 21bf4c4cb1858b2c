"""`epaxdb local`: a whole cluster of replica processes on loopback, in one command.

    epaxdb local [--replicas 3] [--data DIR] [--base-port 4001]
                 [--secret-file F] [--auth-token-file F] [--from APP.db]

Replica i serves HTTP on BASE+i and talks to its peers on BASE+1000+i; its data
lives in DIR/replica-i and its log in DIR/replica-i.log. Starting again with the
same DIR and base port brings the same cluster back. Ctrl-C (or SIGTERM) stops
every replica cleanly, each by its process id. --secret-file authenticates the
replicas to each other; --auth-token-file makes HTTP clients send
`Authorization: Bearer <token>` (both are passed to every replica).

--from APP.db first seeds every replica with that SQLite database's schema and data
(as `epaxdb import` does; DIR must hold no data yet), then starts the cluster.
"""

from __future__ import annotations

import argparse
import signal
import threading
from pathlib import Path

from epaxdb.commands.import_db import EXIT_REFUSED, seed_and_report
from epaxdb.runtime.local_cluster import LocalCluster


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "local",
        help="start a local cluster on loopback",
        description=__doc__.split("\n\n", 1)[1] if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--replicas", type=int, default=3, choices=(3, 5, 7))
    parser.add_argument("--data", type=Path, default=Path("data/local"), help="data root")
    parser.add_argument("--base-port", type=int, default=4001, help="first HTTP port")
    parser.add_argument("--cluster-id", default="local")
    parser.add_argument("--log-level", default="info")
    parser.add_argument("--secret-file", type=Path, help="cluster secret for replica connections")
    parser.add_argument("--auth-token-file", type=Path, help="bearer token HTTP clients must send")
    parser.add_argument("--from", dest="source", type=Path, metavar="APP.db",
                        help="seed the new cluster from this SQLite database first")  # fmt: skip
    parser.set_defaults(handler=run_local)


def run_local(args: argparse.Namespace) -> int:
    if args.source is not None:
        seeded = seed_and_report(args.source, args.data, args.replicas, from_backup=False)
        if seeded is None:
            return EXIT_REFUSED
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    cluster = LocalCluster(
        args.data.resolve(),
        args.replicas,
        cluster_id=args.cluster_id,
        log_level=args.log_level,
        base_port=args.base_port,
        secret_file=args.secret_file.resolve() if args.secret_file else None,
        auth_token_file=args.auth_token_file.resolve() if args.auth_token_file else None,
    )
    try:
        cluster.start_all()
        cluster.wait_ready(timeout_s=60.0)
        print(
            f"epaxdb: {args.replicas} replicas running on loopback (data in {cluster.root})",
            flush=True,
        )
        for replica_id in range(args.replicas):
            print(f"  replica {replica_id}: {cluster.url(replica_id)}", flush=True)
        first = cluster.url(0)
        auth = ""
        if cluster.auth_token_file is not None:
            auth = f' -H "Authorization: Bearer $(cat {cluster.auth_token_file})"'
        print(
            "try:\n"
            f"  curl -s {first}/v1/tx{auth} -H 'content-type: application/json' -d "
            """'{"statements": [{"sql": "CREATE TABLE IF NOT EXISTS kv (k TEXT PRIMARY KEY, v)"},"""
            """ {"sql": "INSERT OR REPLACE INTO kv VALUES (?, ?)", "params": ["hello", "world"]}]}'\n"""
            f"  curl -s {first}/v1/status{auth}\n"
            "Ctrl-C stops every replica. The HTTP API: docs/http-api.md",
            flush=True,
        )
        while not stop.wait(0.5):
            crashed = [i for i, p in cluster.processes.items() if p.poll() is not None]
            if crashed:
                print(f"epaxdb: replica(s) {crashed} exited; see {cluster.root}/replica-N.log")
                return 1
        return 0
    finally:
        statuses = cluster.stop_all()
        print(f"epaxdb: stopped ({', '.join(f'{i}: exit {c}' for i, c in statuses.items())})")
