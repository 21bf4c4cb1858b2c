"""GET /v1/backup on an in-process replica: the file, its stated position, no leftovers."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from tests.runtime.test_http import http_client, run, tx


def test_the_backup_is_the_replica_s_state_at_the_stated_position(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with http_client(tmp_path) as (client, node):
            response = await client.post("/v1/tx", json=tx(
                "CREATE TABLE t(id INTEGER PRIMARY KEY, v)",
                ("INSERT INTO t VALUES (?, ?)", [1, "one"]),
            ))  # fmt: skip
            assert response.status == 200
            status = await (await client.get("/v1/status")).json()
            backup = await client.get("/v1/backup")
            assert backup.status == 200
            assert backup.headers["Content-Type"] == "application/vnd.sqlite3"
            assert backup.headers["Epaxdb-Replica-Id"] == "0"
            assert backup.headers["Epaxdb-Cluster-Id"] == "http-test"
            assert backup.headers["Epaxdb-Executed-Count"] == "1"
            assert backup.headers["Epaxdb-State-Hash"] == status["state_hash"]
            (tmp_path / "b.db").write_bytes(await backup.read())
            # Only the replica's own files remain in its data directory.
            names = {p.name for p in node.state_db_path.parent.iterdir()}
            assert not any(name.startswith(".backup-") for name in names)

    run(scenario)
    with sqlite3.connect(tmp_path / "b.db") as connection:
        assert connection.execute("SELECT * FROM t").fetchall() == [(1, "one")]


def test_temporary_backups_a_killed_replica_left_are_removed_at_startup(tmp_path: Path) -> None:
    leftover = tmp_path / "r0" / ".backup-abc123"
    leftover.mkdir(parents=True)
    (leftover / "backup.db").write_bytes(b"partial")

    async def scenario() -> None:
        async with http_client(tmp_path):
            assert not leftover.exists()

    run(scenario)
