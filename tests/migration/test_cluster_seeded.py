"""Real replica processes on imported and restored data directories.

`epaxdb import`, `epaxdb backup` and `epaxdb restore` run as commands; the replicas
are `epaxdb serve` processes (LocalCluster), stopped by PID.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from epaxdb.runtime.local_cluster import LocalCluster, submit
from tests.migration.support import ROOT, make_db, run_cli

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(180)]


def tx(url: str, statements: Sequence[tuple[str, Sequence[Any]]]) -> dict[str, Any]:
    async def go() -> dict[str, Any]:
        async with aiohttp.ClientSession() as session:
            status, body = await submit(session, url, statements)
            assert status == 200, body
            return body

    return asyncio.run(go())


def stated_hash(output: str) -> str:
    match = re.search(r"state hash ([0-9a-f]{64})", output)
    assert match, output
    return match.group(1)


def test_an_imported_cluster_serves_the_rows_agrees_on_the_hash_and_takes_writes(
    tmp_path: Path,
) -> None:
    imported = run_cli("import", make_db(tmp_path / "app.db"), "--data", tmp_path / "cluster")
    assert imported.returncode == 0, imported.stderr
    assert "made deterministic:" in imported.stdout
    with LocalCluster(tmp_path / "cluster", 3, log_level="warning") as cluster:
        cluster.start_all()
        cluster.wait_ready()
        assert set(cluster.state_hashes().values()) == {stated_hash(imported.stdout)}
        for replica_id in range(3):
            body = tx(cluster.url(replica_id), [("SELECT id, email FROM users ORDER BY id", [])])
            assert body["results"][0]["rows"] == [[1, "ann@example.com"], [2, "bob@example.com"]]
        # The trigger and both defaults (clock, randomblob) run on every replica alike.
        tx(cluster.url(1), [("INSERT INTO notes(user_id, body) VALUES (?, ?)", [2, "hi"])])
        tx(cluster.url(2), [("UPDATE kv SET v = v + 1 WHERE k = ?", ["answer"])])
        cluster.wait_converged()
        body = tx(cluster.url(0), [("SELECT v FROM kv WHERE k = 'answer'", []),
                                   ("SELECT created > '2024-01-02' FROM users WHERE id = 2", [])])  # fmt: skip
        assert [r["rows"] for r in body["results"]] == [[[43]], [[1]]]
        cluster.stop_all()


def test_a_backup_taken_under_writes_restores_a_cluster_at_its_stated_hash(
    tmp_path: Path,
) -> None:
    assert run_cli("import", make_db(tmp_path / "app.db"), "--data", tmp_path / "a").returncode == 0
    with LocalCluster(tmp_path / "a", 3, log_level="warning") as cluster:
        cluster.start_all()
        cluster.wait_ready()
        writer = subprocess.Popen(  # writes keep going at replica 0 during the backup
            [sys.executable, "-c", _WRITER, cluster.url(0)],
            env=dict(os.environ, PYTHONPATH=str(ROOT)), stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            assert writer.stdout is not None and writer.stdout.readline().strip() == "writing"
            backup = run_cli("backup", cluster.url(1), tmp_path / "backup.db")
        finally:
            os.kill(writer.pid, signal.SIGTERM)
            writer.wait(30)
        assert backup.returncode == 0, backup.stderr
        position = int(re.search(r"executed count (\d+)", backup.stdout).group(1))  # type: ignore[union-attr]
        assert position > 1
        again = run_cli("backup", cluster.url(1), tmp_path / "backup.db")
        assert again.returncode == 1 and "already exists" in again.stderr
        cluster.stop_all()
    restored = run_cli("restore", tmp_path / "backup.db", "--data", tmp_path / "b")
    assert restored.returncode == 0, restored.stderr
    assert stated_hash(restored.stdout) == stated_hash(backup.stdout)
    with LocalCluster(tmp_path / "b", 3, log_level="warning") as cluster:
        cluster.start_all()
        cluster.wait_ready()
        assert set(cluster.state_hashes().values()) == {stated_hash(backup.stdout)}
        body = tx(cluster.url(2), [("SELECT count(*) FROM kv WHERE k LIKE 'w%'", [])])
        # Every transaction the first cluster executed inserted one writer row.
        assert body["results"][0]["rows"] == [[position]]
        tx(cluster.url(0), [("INSERT INTO kv VALUES (?, ?)", ["after-restore", 1])])
        cluster.wait_converged()
        cluster.stop_all()


# Inserts kv rows w0, w1, ... at the given replica, one transaction each, until killed
# (bounded: at most 2000 transactions or 60 s).
_WRITER = """
import json, sys, time, urllib.request
url = sys.argv[1]
deadline = time.monotonic() + 60
for i in range(2000):
    if time.monotonic() > deadline:
        break
    body = json.dumps({"statements": [{"sql": "INSERT INTO kv VALUES (?, ?)", "params": [f"w{i}", i]}]})
    request = urllib.request.Request(url + "/v1/tx", body.encode(), {"content-type": "application/json"})
    urllib.request.urlopen(request, timeout=20).read()
    if i == 4:
        print("writing", flush=True)
"""
