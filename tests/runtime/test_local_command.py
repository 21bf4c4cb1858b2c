"""`epaxdb local`: one command brings up a working cluster and Ctrl-C stops it cleanly."""

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

pytestmark = pytest.mark.cluster

ROOT = Path(__file__).resolve().parents[2]


def _post(url: str, body: dict) -> dict:
    request = urllib.request.Request(
        f"{url}/v1/tx", json.dumps(body).encode(), {"content-type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=20) as response:
        return json.load(response)


def _start(data: Path, base_port: int) -> tuple[subprocess.Popen[str], list[str]]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    process = subprocess.Popen(
        [sys.executable, "-m", "epaxdb", "local", "--data", str(data),
         "--base-port", str(base_port)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
    )  # fmt: skip
    urls: list[str] = []
    seen: list[str] = []
    deadline = time.monotonic() + 90
    assert process.stdout is not None
    while len(urls) < 3 and time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        seen.append(line)
        if line.strip().startswith("replica "):
            urls.append(line.split(": ", 1)[1].strip())
    logs = "".join(
        f"--- {log.name}\n" + log.read_text()[-2000:] for log in sorted(data.glob("*.log"))
    )
    assert len(urls) == 3, f"no URLs reported; output:\n{''.join(seen)}\n{logs}"
    return process, urls


def _interrupt(process: subprocess.Popen[str]) -> str:
    os.kill(process.pid, signal.SIGINT)
    output, _ = process.communicate(timeout=60)
    return output


def test_local_starts_three_replicas_that_serve_and_survive_a_restart(tmp_path: Path) -> None:
    base_port = free_base_port()
    process, urls = _start(tmp_path, base_port)
    try:
        written = _post(urls[0], {"statements": [
            {"sql": "CREATE TABLE kv (k TEXT PRIMARY KEY, v)"},
            {"sql": "INSERT INTO kv VALUES (?, ?)", "params": ["hello", "world"]},
        ]})  # fmt: skip
        assert written["results"][1]["rows_affected"] == 1
    finally:
        output = _interrupt(process)
    assert process.returncode == 0
    assert "0: exit 0, 1: exit 0, 2: exit 0" in output

    process, urls = _start(tmp_path, base_port)
    try:
        read = _post(urls[2], {"statements": [{"sql": "SELECT k, v FROM kv"}]})
        assert read["results"][0]["rows"] == [["hello", "world"]]
    finally:
        _interrupt(process)
    assert process.returncode == 0
