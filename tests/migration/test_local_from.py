"""`epaxdb local --from APP.db`: import into the local data directory, then serve it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from epaxdb.runtime.local_cluster import free_base_port
from tests.migration.support import ROOT, make_db, run_cli

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(180)]


def test_local_from_an_app_db_serves_its_rows_and_stops_cleanly(tmp_path: Path) -> None:
    base_port = free_base_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "epaxdb", "local", "--from", str(make_db(tmp_path / "app.db")),
         "--data", str(tmp_path / "local"), "--base-port", str(base_port)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
    )  # fmt: skip
    try:
        assert process.stdout is not None
        seen, urls = [], []
        deadline = time.monotonic() + 90
        while len(urls) < 3 and time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            seen.append(line)
            if line.strip().startswith("replica "):
                urls.append(line.split(": ", 1)[1].strip())
        assert len(urls) == 3, "".join(seen)
        assert any(line.startswith("seeded 3 replicas") for line in seen)
        request = urllib.request.Request(
            f"{urls[1]}/v1/tx",
            json.dumps({"statements": [{"sql": "SELECT v FROM kv WHERE k = 'greeting'"}]}).encode(),
            {"content-type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=20) as response:
            assert json.load(response)["results"][0]["rows"] == [["hello"]]
    finally:
        os.kill(process.pid, signal.SIGINT)
        output, _ = process.communicate(timeout=60)
    assert process.returncode == 0, output
    assert "0: exit 0, 1: exit 0, 2: exit 0" in output


def test_local_from_refuses_a_data_directory_that_already_has_data(tmp_path: Path) -> None:
    (tmp_path / "local" / "replica-0").mkdir(parents=True)
    result = run_cli("local", "--from", make_db(tmp_path / "app.db"), "--data", tmp_path / "local")
    assert result.returncode == 1
    assert "is not an empty directory" in result.stderr
    assert sorted(p.name for p in (tmp_path / "local").iterdir()) == ["replica-0"]
