"""One real 3-replica cluster (`epaxdb serve` processes on loopback) shared by the
client tests that need one; each test works on tables of its own. Tests that stop
replicas start their own cluster (`own_cluster`)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from epaxdb.runtime.local_cluster import LocalCluster


def _started(root: Path) -> LocalCluster:
    cluster = LocalCluster(root, 3)
    cluster.start_all()
    cluster.wait_ready(timeout_s=60)
    return cluster


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    with _started(tmp_path_factory.mktemp("client-cluster")) as running:
        yield running
        running.stop_all()


@pytest.fixture
def own_cluster(tmp_path: Path) -> Iterator[LocalCluster]:
    with _started(tmp_path / "cluster") as running:
        yield running


@pytest.fixture
def urls(cluster: LocalCluster) -> list[str]:
    return [cluster.url(i) for i in range(cluster.size)]
