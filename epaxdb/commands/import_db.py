"""`epaxdb import`: seed every replica of a new cluster with an SQLite database file."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from epaxdb.migration.seeding import SeededCluster, SeedRefused, seed_cluster
from epaxdb.migration.text import refused_lines, seeded_lines

_DESCRIPTION = """\
Seed the replicas of a new cluster with the schema and data of an SQLite database
(an application's app.db; it is only read, and may be in use meanwhile: one
consistent snapshot of it is copied).

  epaxdb import app.db --data DIR [--replicas 3]

creates DIR/replica-0 .. DIR/replica-(N-1), each the data directory of one replica
(`epaxdb serve --id I --data DIR/replica-I ...`), all with the same state hash;
`epaxdb local --data DIR` runs them on loopback. DIR must be new or empty.

The file is refused, and nothing written, when the cluster cannot replicate it as it
is: e.g. a trigger calling a function the application registers itself, a view using
'localtime', a collation or virtual-table module the replicas do not have, or data
SQLite would extend non-deterministically. What the cluster makes deterministic
(defaults and triggers using the clock or random()) is listed. `epaxdb check --db
app.db` shows the same without writing anything.

Exit status: 0 when seeded, 1 when refused."""

EXIT_REFUSED = 1


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "import",
        help="seed a new cluster's data directories from an SQLite database",
        description=_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("database", type=Path, metavar="APP.db")
    parser.add_argument("--data", type=Path, required=True, metavar="DIR",
                        help="new directory for the replicas' data directories")  # fmt: skip
    parser.add_argument("--replicas", type=int, default=3, help="cluster size (default 3)")
    parser.set_defaults(handler=lambda args: seed_command(args, from_backup=False))


def seed_command(args: argparse.Namespace, *, from_backup: bool) -> int:
    seeded = seed_and_report(args.database, args.data, args.replicas, from_backup=from_backup)
    if seeded is None:
        return EXIT_REFUSED
    print(f"start them: epaxdb local --data {args.data} --replicas {args.replicas}")
    print(f"  or, per replica: epaxdb serve --id I --data {args.data}/replica-I --peers ...")
    return 0


def seed_and_report(
    source: Path, root: Path, replicas: int, *, from_backup: bool
) -> SeededCluster | None:
    """Seed and print what happened; None (after printing why) when refused."""
    try:
        seeded = seed_cluster(source, root, replicas, from_backup=from_backup)
    except SeedRefused as refusal:
        print("\n".join(refused_lines(refusal)), file=sys.stderr)
        return None
    print("\n".join(seeded_lines(seeded)))
    return seeded
