"""examples/curl: the curl script, run against a fresh cluster, prints what
expected.txt shows (the answers the docs quote)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from epaxdb.runtime.local_cluster import LocalCluster

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(180)]

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "curl"
# How far a replica had executed when it answered a local read depends on timing.
EXECUTED_COUNT = re.compile(r'"executed_count": \d+')


def masked(text: str) -> str:
    return EXECUTED_COUNT.sub('"executed_count": N', text)


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not on PATH")
def test_the_script_prints_the_expected_answers(own_cluster: LocalCluster) -> None:
    urls = [own_cluster.url(i) for i in range(own_cluster.size)]
    run = subprocess.run(
        ["sh", str(EXAMPLE / "api.sh"), *urls],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert run.stderr == ""
    assert masked(run.stdout) == masked((EXAMPLE / "expected.txt").read_text())
