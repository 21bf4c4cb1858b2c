"""`GET /v1/backup`: a consistent SQLite file of this replica's state, streamed.

The file is written first (`epaxdb.storage.snapshot.write_backup`, from a separate
read-only connection on a worker thread: replication goes on meanwhile) into a
temporary directory inside the data directory, deleted (but kept open), then streamed.
Headers:

    Epaxdb-Executed-Count   the executed position the snapshot was taken at
    Epaxdb-State-Hash       its state hash (what a cluster restored from it reports)
    Epaxdb-Replica-Id, Epaxdb-Cluster-Id

One backup runs at a time per replica; a second request waits for the first.
Errors: 503 `unavailable` when the replica stopped after a failure, 500
`backup_failed` when the copy failed (e.g. disk full).
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from pathlib import Path

from aiohttp import web

from epaxdb.errors import StorageError
from epaxdb.runtime.node import Node
from epaxdb.storage.snapshot import BackupInfo, write_backup
from server.errors import InternalError, ServiceUnavailable
from server.keys import NODE

_CHUNK_BYTES = 1 << 20
_TEMPORARY_PREFIX = ".backup-"
_LOCK = web.AppKey("backup_lock", asyncio.Lock)


def register(app: web.Application) -> None:
    app[_LOCK] = asyncio.Lock()
    app.router.add_get("/v1/backup", _get_backup)
    app.on_startup.append(_remove_leftovers)


async def _remove_leftovers(app: web.Application) -> None:
    """Temporary backups a killed process left behind in its data directory."""
    for leftover in app[NODE].state_db_path.parent.glob(_TEMPORARY_PREFIX + "*"):
        shutil.rmtree(leftover, ignore_errors=True)


async def _get_backup(request: web.Request) -> web.StreamResponse:
    node = request.app[NODE]
    if node.failure is not None:
        raise ServiceUnavailable(
            "unavailable", f"the replica stopped after a failure: {node.failure}"
        )
    state_db = node.state_db_path
    async with request.app[_LOCK]:
        directory = Path(tempfile.mkdtemp(prefix=_TEMPORARY_PREFIX, dir=state_db.parent))
        try:
            path = directory / "backup.db"
            try:
                info = await asyncio.to_thread(write_backup, state_db, path)
            except (StorageError, OSError) as error:
                raise InternalError("backup_failed", str(error)) from error
            file = await asyncio.to_thread(open, path, "rb")
            # The open file stays readable: the directory is gone before the first byte
            # is sent, however the download ends.
            shutil.rmtree(directory, ignore_errors=True)
            with file:
                response = web.StreamResponse(headers=_headers(info, node))
                response.content_type = "application/vnd.sqlite3"
                response.content_length = info.size_bytes
                await response.prepare(request)
                while chunk := await asyncio.to_thread(file.read, _CHUNK_BYTES):
                    await response.write(chunk)
                await response.write_eof()
            return response
        finally:
            shutil.rmtree(directory, ignore_errors=True)


def _headers(info: BackupInfo, node: Node) -> dict[str, str]:
    filename = f"epaxdb-replica-{node.replica_id}-at-{info.executed_count}.db"
    return {
        "Epaxdb-Executed-Count": str(info.executed_count),
        "Epaxdb-State-Hash": info.state_hash,
        "Epaxdb-Replica-Id": str(node.replica_id),
        "Epaxdb-Cluster-Id": node.settings.cluster_id,
        "Content-Disposition": f'attachment; filename="{filename}"',
    }
