"""`epaxdb serve`: run one replica (node + HTTP front end) until SIGTERM/SIGINT.

This module is a composition root: it wires the analyzer into the SQL state
machine, the state machine into the node and the node into the HTTP app.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
from collections.abc import Sequence
from dataclasses import dataclass, field, fields, replace
from functools import partial
from pathlib import Path

from aiohttp import web

from analyzer import AnalyzerError, Schema, analyze, plan_statement
from analyzer.plan import StatementPlan
from epaxdb.config import ClusterConfig
from epaxdb.errors import ConfigError, EpaxdbError
from epaxdb.runtime.datadir import DataDirectory
from epaxdb.runtime.errors import DataDirectoryInUse, SchemaMayBeStale
from epaxdb.runtime.events import configure_logging, log_event
from epaxdb.runtime.interactive import DEFAULT_MAX_AGE_MS
from epaxdb.runtime.node import DEFAULT_RESULT_RETENTION_S, Node, NodeSettings
from epaxdb.runtime.sql_machine import (
    AnalyzedTransaction,
    SchemaSnapshot,
    SqlStateMachine,
)
from epaxdb.runtime.transport import Address
from epaxdb.runtime.wan import PROFILES, wan_profile
from epaxdb.storage import StateDatabase, Statement
from server.app import make_app
from server.keys import DEFAULT_MAX_BODY_BYTES, ServerSettings

logger = logging.getLogger("epaxdb.serve")

_DESCRIPTION = """\
Run one replica of a cluster.

  epaxdb serve --id 0 --peers 0=127.0.0.1:7000,1=127.0.0.1:7001,2=127.0.0.1:7002 \\
               --http 127.0.0.1:8000 --data ./r0 [--listen 0.0.0.0:7000] [--cluster-id X]
  epaxdb serve --id 0 --cluster cluster.json --data ./r0

--peers lists every replica, this one included; ids are 0..n-1. A cluster file is
JSON: {"cluster_id": "...", "replicas": [{"id": 0, "address": "HOST:PORT",
"http": "HOST:PORT"}, ...]}. The cluster secret, if any, is read from --secret-file
(its bytes, stripped); it authenticates replicas to each other. --auth-token-file
holds a bearer token clients must send on /v1 routes and /metrics (docs/http-api.md).
Exit status: 0 after a clean shutdown, 1 if the replica
stopped on a failure (storage, invariant), 2 for a bad configuration or a data
directory it may not use. See docs/runtime.md."""

EXIT_FAILED = 1
EXIT_CONFIG = 2
_DEFAULT_BATCH_SIZE = next(f.default for f in fields(ClusterConfig) if f.name == "batch_size_max")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "serve",
        help="run one replica",
        description=_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--id", type=int, required=True, help="this replica's id (0..n-1)")
    parser.add_argument(
        "--peers",
        metavar="ID=HOST:PORT,...",
        help="replica-to-replica address of every replica, this one included",
    )
    parser.add_argument(
        "--cluster",
        metavar="FILE",
        type=Path,
        help="cluster file (JSON) instead of --peers/--cluster-id",
    )
    parser.add_argument(
        "--listen",
        metavar="HOST:PORT",
        help="bind address for replicas (default: this replica's peer address)",
    )
    parser.add_argument("--http", metavar="HOST:PORT", help="HTTP address for clients")
    parser.add_argument("--data", type=Path, required=True, help="data directory")
    parser.add_argument("--cluster-id", default="epaxdb", help="cluster name (default: epaxdb)")
    parser.add_argument("--secret-file", type=Path, help="file holding the cluster secret")
    parser.add_argument("--batch-size", type=int, metavar="N",
                        help="most transactions one protocol instance carries (default: "
                        f"{_DEFAULT_BATCH_SIZE}; 1 turns protocol batching off)")  # fmt: skip
    parser.add_argument("--wan-profile", choices=sorted(PROFILES), metavar="NAME",
                        help="benchmarks only: delay messages to each peer by half the "
                        "round trip between the sites of NAME (replica i at site i; "
                        f"{', '.join(sorted(PROFILES))})")  # fmt: skip
    parser.add_argument(
        "--auth-token-file", type=Path, help="file holding the bearer token HTTP clients must send"
    )
    parser.add_argument(
        "--max-body-bytes",
        type=int,
        default=DEFAULT_MAX_BODY_BYTES,
        help="largest HTTP request body accepted (default: 16 MiB)",
    )
    parser.add_argument("--max-transaction-age", type=float, default=60.0, metavar="SECONDS",
                        help="longest time from an interactive transaction's first statement "
                             "to its commit; older ones fail with serialization_failure "
                             "(default: 60)")  # fmt: skip
    parser.add_argument("--result-retention", type=float, default=DEFAULT_RESULT_RETENTION_S,
                        metavar="SECONDS",
                        help="how long a request's result answers retries of its request_id; "
                             "a retry after that may apply again (default: 86400)")  # fmt: skip
    parser.add_argument(
        "--thrifty",
        action="store_true",
        help="send PreAccept/Accept first only to the peers a quorum needs, closest first",
    )
    parser.add_argument(
        "--protocol",
        choices=("epaxos", "multipaxos"),
        default="epaxos",
        help="multipaxos: the comparison baseline (one stable leader, no failover)",
    )
    parser.add_argument(
        "--leader", type=int, default=0, help="the multipaxos leader's replica id (default 0)"
    )
    parser.add_argument("--log-level", default="info",
                        choices=("debug", "info", "warning", "error"))  # fmt: skip
    parser.set_defaults(handler=_serve)


@dataclass(frozen=True, slots=True)
class ServeConfig:
    node: NodeSettings
    http: Address
    server: ServerSettings = field(default_factory=ServerSettings)
    max_transaction_age_ms: int = DEFAULT_MAX_AGE_MS


def load_config(args: argparse.Namespace) -> ServeConfig:
    """The node settings and HTTP address from the command line; ConfigError if bad."""
    http_addresses: dict[int, Address] = {}
    cluster_id = args.cluster_id
    try:
        if args.cluster is not None:
            document = json.loads(args.cluster.read_text())
            cluster_id = str(document.get("cluster_id", cluster_id))
            peers = {}
            for entry in document["replicas"]:
                peers[int(entry["id"])] = Address.parse(entry["address"])
                if "http" in entry:
                    http_addresses[int(entry["id"])] = Address.parse(entry["http"])
        elif args.peers:
            peers = {}
            for item in args.peers.split(","):
                replica_id, _, address = item.partition("=")
                peers[int(replica_id)] = Address.parse(address)
        else:
            raise ConfigError("give --peers or --cluster")
        listen = Address.parse(args.listen) if args.listen else None
        http = Address.parse(args.http) if args.http else http_addresses.get(args.id)
        secret = args.secret_file.read_bytes().strip() if args.secret_file else None
        auth_token = args.auth_token_file.read_text().strip() if args.auth_token_file else None
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ConfigError(f"bad cluster configuration: {error}") from error
    if http is None:
        raise ConfigError("give --http (or an http address in the cluster file)")
    if secret == b"":
        raise ConfigError(f"the secret file {args.secret_file} is empty")
    if not 0 < args.max_transaction_age <= 24 * 3600:
        raise ConfigError("--max-transaction-age must be in (0, 86400] seconds")
    if not 0 < args.result_retention < float("inf"):
        raise ConfigError("--result-retention must be a positive number of seconds")
    if auth_token == "":
        raise ConfigError(f"the auth token file {args.auth_token_file} is empty")
    try:
        server = ServerSettings(max_body_bytes=args.max_body_bytes, auth_token=auth_token)
    except ValueError as error:
        raise ConfigError(str(error)) from error
    leader = args.leader if args.protocol == "multipaxos" else None
    batch_size = _DEFAULT_BATCH_SIZE if args.batch_size is None else args.batch_size
    config = ClusterConfig.for_size(
        len(peers), thrifty=args.thrifty, leader=leader, batch_size_max=batch_size
    )
    settings = NodeSettings(
        cluster_id=cluster_id, replica_id=args.id, peers=peers, data_dir=args.data,
        listen=listen, secret=secret, config=config, result_retention_s=args.result_retention,
    )  # fmt: skip
    settings.cluster_config()  # validates ids and n now, before anything is opened
    if args.wan_profile is not None:
        profile = wan_profile(args.wan_profile)
        profile.check_cluster_size(len(peers))
        settings = replace(settings, peer_delays_s=profile.peer_delays_s(args.id))
    return ServeConfig(settings, http, server, round(args.max_transaction_age * 1000))


# Refusals that DDL this replica has not executed yet could explain.
_SCHEMA_DEPENDENT_CODES = frozenset({"unknown_table"})


class AnalyzerKeys:
    """The analyzer behind the SQL state machine's `Analyze`, with its `Schema`
    (and so its plan cache) kept for as long as the schema version does not change."""

    def __init__(self) -> None:
        self._schema: Schema | None = None

    def __call__(
        self, statements: Sequence[Statement], snapshot: SchemaSnapshot
    ) -> AnalyzedTransaction:
        schema = self._schema
        if schema is None or schema.version != snapshot.version:
            schema = self._schema = Schema.from_catalog(snapshot.catalog, version=snapshot.version)
        try:
            analysis = analyze(list(statements), schema)
        except AnalyzerError as refusal:
            if refusal.code in _SCHEMA_DEPENDENT_CODES:
                raise SchemaMayBeStale(refusal) from None
            raise
        reads, writes, is_global = analysis.conflict_keys()
        bound = tuple((statement.sql, statement.params) for statement in analysis.statements)
        return AnalyzedTransaction(bound, reads, writes, is_global, _writers(statements, schema))


def _writers(statements: Sequence[Statement], schema: Schema) -> tuple[int, ...]:
    """Indexes of the statements that may change the database (DML, DDL, or anything
    with a write key). Their plans are cached: `analyze` just built them."""
    writers = []
    for index, (sql, _) in enumerate(statements):
        plan = plan_statement(schema, sql)
        if not isinstance(plan, StatementPlan) or plan.kind != "read" or plan.writes:
            writers.append(index)
    return tuple(writers)


def open_sql_machine(
    directory: DataDirectory, max_transaction_age_ms: int = DEFAULT_MAX_AGE_MS
) -> SqlStateMachine:
    return SqlStateMachine(
        # The log holds every committed command: the node calls `sync()` before it
        # reports executions to peers, not at every commit (docs/storage.md).
        StateDatabase.open(directory.state_db_path, sync_each_commit=False), AnalyzerKeys(),
        max_age_ms=max_transaction_age_ms,
    )  # fmt: skip


def _serve(args: argparse.Namespace) -> int:
    configure_logging(args.log_level, {"replica": args.id})
    try:
        config = load_config(args)
    except ConfigError as error:
        log_event(logger, logging.ERROR, "startup_failed", reason=str(error))
        return EXIT_CONFIG
    return asyncio.run(serve(config))


async def serve(config: ServeConfig) -> int:
    try:
        node = Node.open(
            config.node, partial(open_sql_machine,
                                 max_transaction_age_ms=config.max_transaction_age_ms),
        )  # fmt: skip
    except EpaxdbError as error:
        log_event(logger, logging.ERROR, "startup_failed", reason=str(error),
                  error=type(error).__name__)  # fmt: skip
        refused = isinstance(error, (ConfigError, DataDirectoryInUse))
        return EXIT_CONFIG if refused else EXIT_FAILED
    runner = web.AppRunner(make_app(node, config.server), access_log=None)
    try:
        await node.start()
        await runner.setup()
        await web.TCPSite(runner, config.http.host, config.http.port).start()
    except OSError as error:
        log_event(logger, logging.ERROR, "startup_failed", reason=str(error))
        await node.stop()
        await runner.cleanup()
        return EXIT_CONFIG
    stop_requested = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop_requested.set)
    log_event(logger, logging.INFO, "serving", http=str(config.http),
              listen=str(node.transport.listen), data=str(config.node.data_dir))  # fmt: skip
    node_done = asyncio.ensure_future(node.wait_stopped())
    stop_wait = asyncio.ensure_future(stop_requested.wait())
    await asyncio.wait({node_done, stop_wait}, return_when=asyncio.FIRST_COMPLETED)
    stop_wait.cancel()
    # Stop the node first: waiting clients get their answer (outcome unknown) at
    # once instead of holding the HTTP shutdown up.
    await node.stop()
    await runner.cleanup()
    if node.failure is not None:
        return EXIT_FAILED
    return 0
