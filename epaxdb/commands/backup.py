"""`epaxdb backup URL out.db`: download a consistent backup of one replica."""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import urllib.error
import urllib.request
from pathlib import Path

from epaxdb.errors import StorageError
from epaxdb.storage.snapshot import open_read_only, position_and_hash

_DESCRIPTION = """\
Download a backup of one replica (GET URL/v1/backup) into OUT.db, a plain SQLite
file (openable with Python's sqlite3 or the sqlite3 shell) holding the schema and
data at a stated executed position, plus epaxdb's `_epaxdb_position` table recording
that position. The replica keeps replicating while the backup is taken.

The download is checked before OUT.db appears: its executed position and state hash
must match what the replica stated. Seed a new cluster from it with
`epaxdb restore OUT.db --data DIR`. Exit status: 0 when written, 1 otherwise (OUT.db
is then not created)."""

EXIT_FAILED = 1
_TIMEOUT_S = 600.0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "backup",
        help="download a consistent backup of one replica",
        description=_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "url", metavar="URL", help="a replica's HTTP address, e.g. http://127.0.0.1:4001"
    )
    parser.add_argument("out", type=Path, metavar="OUT.db", help="the backup file to create")
    parser.add_argument("--auth-token-file", type=Path, metavar="F",
                        help="send the bearer token in F (replicas started with one)")  # fmt: skip
    parser.set_defaults(handler=_backup)


class _BackupFailed(Exception):
    pass


def _backup(args: argparse.Namespace) -> int:
    out: Path = args.out
    if out.exists():
        print(f"epaxdb backup: {out} already exists", file=sys.stderr)
        return EXIT_FAILED
    partial = out.with_name(out.name + ".part")
    try:
        request = urllib.request.Request(f"{args.url.rstrip('/')}/v1/backup")
        if args.auth_token_file is not None:
            token = args.auth_token_file.read_text().strip()
            request.add_header("Authorization", f"Bearer {token}")
        headers = _download(request, partial)
        executed_count, state_hash = _verify(partial, headers)
        os.replace(partial, out)
    except (_BackupFailed, OSError) as error:
        partial.unlink(missing_ok=True)
        print(f"epaxdb backup: {error}", file=sys.stderr)
        return EXIT_FAILED
    print(
        f"{out}: replica {headers.get('Epaxdb-Replica-Id')} of cluster "
        f"{headers.get('Epaxdb-Cluster-Id')!r} at executed count {executed_count}, "
        f"state hash {state_hash} ({out.stat().st_size} bytes)"
    )
    return 0


def _download(request: urllib.request.Request, path: Path) -> dict[str, str]:
    url = request.full_url
    try:
        with (
            urllib.request.urlopen(request, timeout=_TIMEOUT_S) as response,
            open(path, "xb") as file,
        ):
            shutil.copyfileobj(response, file, 1 << 20)
            headers = dict(response.headers.items())
    except urllib.error.HTTPError as error:
        raise _BackupFailed(
            f"{url}: HTTP {error.code}: {error.read().decode(errors='replace')}"
        ) from None
    except urllib.error.URLError as error:
        raise _BackupFailed(f"{url}: {error.reason}") from None
    expected = headers.get("Content-Length")
    if expected is not None and int(expected) != path.stat().st_size:
        raise _BackupFailed(f"{url}: got {path.stat().st_size} of {expected} bytes")
    return headers


def _verify(path: Path, headers: dict[str, str]) -> tuple[int, str]:
    try:
        connection = open_read_only(path)
        try:
            executed_count, state_hash = position_and_hash(connection)
        finally:
            connection.close()
    except StorageError as error:
        raise _BackupFailed(f"the downloaded file is not a usable backup: {error}") from None
    stated = (headers.get("Epaxdb-Executed-Count"), headers.get("Epaxdb-State-Hash"))
    if stated != (str(executed_count), state_hash):
        raise _BackupFailed(
            f"the downloaded file is at executed count {executed_count} with state hash "
            f"{state_hash}, the replica stated {stated[0]} and {stated[1]}"
        )
    return executed_count, state_hash
