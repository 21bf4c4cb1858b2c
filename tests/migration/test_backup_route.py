"""GET /v1/backup on an in-process replica: the file, its stated position, no leftovers,
and `epaxdb backup` against it (with a bearer token)."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from server.keys import ServerSettings
from tests.migration.support import run_cli
from tests.server.harness import api_cluster, run, tx


def test_the_backup_is_the_replica_s_state_at_the_stated_position(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with api_cluster(tmp_path, 1) as cluster:
            await cluster.ok(0, "/v1/tx", tx(
                "CREATE TABLE t(id INTEGER PRIMARY KEY, v)",
                ("INSERT INTO t VALUES (?, ?)", [1, "one"]),
            ))  # fmt: skip
            (state_hash,) = (await cluster.hashes()).values()
            backup = await cluster.clients[0].get("/v1/backup")
            assert backup.status == 200
            assert backup.headers["Content-Type"] == "application/vnd.sqlite3"
            assert backup.headers["Epaxdb-Replica-Id"] == "0"
            assert backup.headers["Epaxdb-Cluster-Id"] == "http-test"
            assert backup.headers["Epaxdb-Executed-Count"] == "1"
            assert backup.headers["Epaxdb-State-Hash"] == state_hash
            (tmp_path / "b.db").write_bytes(await backup.read())
            # Only the replica's own files remain in its data directory.
            names = {p.name for p in (tmp_path / "r0").iterdir()}
            assert not any(name.startswith(".backup-") for name in names)

    run(scenario)
    with sqlite3.connect(tmp_path / "b.db") as connection:
        assert connection.execute("SELECT * FROM t").fetchall() == [(1, "one")]


def test_temporary_backups_a_killed_replica_left_are_removed_at_startup(tmp_path: Path) -> None:
    leftover = tmp_path / "r0" / ".backup-abc123"
    leftover.mkdir(parents=True)
    (leftover / "backup.db").write_bytes(b"partial")

    async def scenario() -> None:
        async with api_cluster(tmp_path, 1):
            assert not leftover.exists()

    run(scenario)


def test_with_a_token_the_backup_needs_it_and_the_command_sends_it(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("s3cret\n")

    async def scenario() -> None:
        settings = ServerSettings(auth_token="s3cret")
        async with api_cluster(tmp_path, 1, settings=settings) as cluster:
            status, body = await cluster.get(0, "/v1/backup")
            assert (status, body["error"]["code"]) == (401, "unauthorized")
            url = str(cluster.clients[0].make_url(""))
            refused = await asyncio.to_thread(run_cli, "backup", url, tmp_path / "a.db")
            assert refused.returncode == 1 and "HTTP 401" in refused.stderr
            assert not (tmp_path / "a.db").exists() and not (tmp_path / "a.db.part").exists()
            done = await asyncio.to_thread(
                run_cli, "backup", url, tmp_path / "b.db", "--auth-token-file", tmp_path / "token"
            )
            assert done.returncode == 0, done.stderr
            assert "at executed count 0" in done.stdout

    run(scenario)
