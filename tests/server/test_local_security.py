"""`epaxdb local --secret-file --auth-token-file`: real replica processes that know the
cluster secret (they connect) and demand the clients' bearer token."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from epaxdb.runtime.local_cluster import free_base_port

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(120)]

ROOT = Path(__file__).resolve().parents[2]


def call(url: str, token: str | None, body: Any = None) -> tuple[int, Any]:
    headers = {"content-type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data, headers)
    try:
        with urllib.request.urlopen(request, timeout=20) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


def test_local_passes_the_secret_and_the_token_to_every_replica(tmp_path: Path) -> None:
    (tmp_path / "secret").write_text("cluster-secret\n")
    (tmp_path / "token").write_text("client-token\n")
    base_port = free_base_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "epaxdb", "local", "--data", str(tmp_path / "data"),
         "--base-port", str(base_port), "--secret-file", str(tmp_path / "secret"),
         "--auth-token-file", str(tmp_path / "token")],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
    )  # fmt: skip
    try:
        assert process.stdout is not None
        deadline = time.monotonic() + 90
        lines: list[str] = []
        while time.monotonic() < deadline and not any("Ctrl-C" in x for x in lines):
            line = process.stdout.readline()
            if not line:
                break
            lines.append(line)
        output = "".join(lines)
        assert "Authorization: Bearer" in output, output
        urls = [x.split(": ", 1)[1].strip() for x in lines if x.strip().startswith("replica ")]
        assert len(urls) == 3, output
        for url in urls:
            status, body = call(f"{url}/v1/status", "client-token")
            assert status == 200
            # Every replica reached every other through the secret handshake.
            assert all(p["outbound_connected"] and p["inbound_connected"] for p in body["peers"])
            assert call(f"{url}/v1/status", None)[0] == 401
            assert call(f"{url}/readyz", None)[0] == 200
        write = {"statements": [{"sql": "CREATE TABLE t(a)"}]}
        assert call(f"{urls[0]}/v1/tx", "wrong", write)[0] == 401
        assert call(f"{urls[0]}/v1/tx", "client-token", write)[0] == 200
    finally:
        os.kill(process.pid, signal.SIGINT)
        process.communicate(timeout=60)
    assert process.returncode == 0
