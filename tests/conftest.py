"""Shared test configuration: hypothesis profiles, and real local clusters.

`ci` (selected when CI=true) is derandomized so a CI run is reproducible; `dev` keeps
hypothesis' random exploration for local runs. Both bound examples and disable the
per-example deadline (the machine is small and shared, timing is not what we test).

`cluster` is one 3-replica cluster (`epaxdb serve` processes on loopback) shared by
every test that asks for it (the clients', the SQLAlchemy dialect's, the examples');
each test works on tables of its own. Tests that stop replicas start their own
(`own_cluster`). `sqlalchemy_urls` are `epaxdb://` URLs of it, for tests of the
SQLAlchemy dialect, skipped when SQLAlchemy 2 is not installed.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from importlib.metadata import entry_points
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from epaxdb.runtime.local_cluster import LocalCluster

settings.register_profile(
    "ci",
    derandomize=True,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "dev", deadline=None, print_blob=True, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile("ci" if os.environ.get("CI") == "true" else "dev")


def _started(root: Path) -> LocalCluster:
    cluster = LocalCluster(root, 3)
    cluster.start_all()
    cluster.wait_ready(timeout_s=60)
    return cluster


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    with _started(tmp_path_factory.mktemp("shared-cluster")) as running:
        yield running
        running.stop_all()


@pytest.fixture
def own_cluster(tmp_path: Path) -> Iterator[LocalCluster]:
    with _started(tmp_path / "cluster") as running:
        yield running


@pytest.fixture
def urls(cluster: LocalCluster) -> list[str]:
    return [cluster.url(i) for i in range(cluster.size)]


@pytest.fixture(scope="session")
def sqlalchemy_dialect() -> None:
    """The `epaxdb://` scheme. Installed, the package registers it by its entry point
    (pyproject.toml); run from a source tree, it is registered here the same way."""
    pytest.importorskip(
        "sqlalchemy",
        minversion="2.0",
        reason="SQLAlchemy 2 is not installed (the `test` extra has it: `python3 dev.py test`, "
        "or `python3 -m pip install 'sqlalchemy>=2'`)",
    )
    from sqlalchemy.dialects import registry

    if not entry_points(group="sqlalchemy.dialects", name="epaxdb"):
        registry.register("epaxdb", "epaxdb.sqlalchemy", "EpaxdbDialect")


@pytest.fixture
def sqlalchemy_urls(cluster: LocalCluster, sqlalchemy_dialect: None) -> list[str]:
    """One `epaxdb://` URL per replica, each listing that replica first."""
    hosts = [f"{cluster.host}:{port}" for port in cluster.http_ports]
    return [
        f"epaxdb://{hosts[i]}/?" + "&".join(f"host={h}" for h in hosts if h != hosts[i])
        for i in range(cluster.size)
    ]
