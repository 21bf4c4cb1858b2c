"""The `epaxdb` command line: one sub-command per module of `epaxdb.commands`.

Each module there defines `register(subparsers)`, which adds its parser and sets
`handler` to a function taking the parsed arguments and returning an exit code.
Discovery keeps this file free of per-command edits.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

from epaxdb import commands


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="epaxdb", description="Leaderless replicated SQLite (EPaxos)."
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module_info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{commands.__name__}.{module_info.name}")
        module.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
    return int(args.handler(args))
