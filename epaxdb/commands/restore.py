"""`epaxdb restore`: seed every replica of a new cluster from an `epaxdb backup` file."""

from __future__ import annotations

import argparse
from pathlib import Path

from epaxdb.commands.import_db import seed_command

_DESCRIPTION = """\
Seed the replicas of a new cluster from a backup (`epaxdb backup URL out.db`):

  epaxdb restore out.db --data DIR [--replicas 3]

creates DIR/replica-0 .. DIR/replica-(N-1) like `epaxdb import`. The new cluster
starts at the backup's executed position: every replica reports the state hash the
backup was taken with. It is a new cluster: request ids answered by the old one are
not remembered. Exit status: 0 when seeded, 1 when refused (e.g. the file is no
epaxdb backup; seed from an application's database with `epaxdb import`)."""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "restore",
        help="seed a new cluster's data directories from a backup",
        description=_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("database", type=Path, metavar="BACKUP.db")
    parser.add_argument("--data", type=Path, required=True, metavar="DIR",
                        help="new directory for the replicas' data directories")  # fmt: skip
    parser.add_argument("--replicas", type=int, default=3, help="cluster size (default 3)")
    parser.set_defaults(handler=lambda args: seed_command(args, from_backup=True))
