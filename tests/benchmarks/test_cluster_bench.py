"""Short `epaxdb bench` runs against real 3-replica clusters: each workload yields a
sane JSON object, transfers keep the total, the baselines run beside."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from epaxdb.benchmarks.etcd_baseline import run_etcd_baseline
from epaxdb.cli import main
from epaxdb.runtime.local_cluster import LocalCluster

pytestmark = pytest.mark.cluster
SHORT = ["--duration", "1.5", "--warmup", "0.5", "--clients", "4", "--rows", "200", "--json"]


@pytest.fixture(scope="module")
def urls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[str]]:
    """`--url` arguments for a running 3-replica cluster that requires a bearer token."""
    root = tmp_path_factory.mktemp("bench")
    token = root / "token"
    token.write_text("bench-secret\n")
    with LocalCluster(root / "cluster", 3, log_level="warning", auth_token_file=token) as cluster:
        cluster.start_all()
        cluster.wait_ready()
        urls = ",".join(cluster.url(i) for i in range(3))
        yield ["--url", urls, "--auth-token-file", str(token)]
        assert set(cluster.stop_all().values()) == {0}


def bench(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, Any]:
    assert main(["bench", *argv]) == 0, capsys.readouterr().err
    return json.loads(capsys.readouterr().out)


def assert_sane(result: dict[str, Any]) -> None:
    assert result["errors"] == {}
    assert result["transactions"] > 0 and result["throughput_tps"] > 0
    assert 0 < result["p50_ms"] <= result["p95_ms"] <= result["p99_ms"] <= result["max_ms"]
    assert sum(result["per_second_tps"]) == result["transactions"]
    assert 0 <= result["fast_path_ratio"] <= 1
    assert result["fast_commits"] + result["slow_commits"] > 0
    assert result["cpu_ms_per_tx"] > 0 and result["replica_cpu_s"] > 0


@pytest.mark.parametrize("workload", ["update", "read"])
def test_point_workloads_on_given_replicas(
    urls: list[str], workload: str, capsys: pytest.CaptureFixture[str]
) -> None:
    result = bench(capsys, workload, *urls, "--conflict", "10", *SHORT)
    assert_sane(result)
    assert (result["workload"], result["replicas"], result["target"]) == (workload, 3, "urls")


def test_mixed_workload_from_two_load_processes_reports_each_kind(
    urls: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    result = bench(capsys, "mixed", *urls, "--load-procs", "2", *SHORT)
    assert_sane(result)
    assert result["load_procs"] == 2 and result["loadgen_cpu_s"] > 0
    kinds = result["by_kind"]
    assert set(kinds) == {"read", "update"}
    assert kinds["read"]["transactions"] + kinds["update"]["transactions"] == result["transactions"]


def test_transfers_keep_the_total_on_every_replica(
    urls: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    result = bench(capsys, "transfer", *urls, "--conflict", "20", *SHORT)
    assert_sane(result)
    check = result["check"]
    assert check["ok"] and check["state_hashes_agree"]
    assert check["replicas"] == {str(i): {"accounts": 200, "total": 200 * 1000} for i in range(3)}


def test_cluster_started_by_the_bench_beside_the_sqlite_baseline(
    capsys: pytest.CaptureFixture[str],
) -> None:
    result = bench(capsys, "transfer", "--batch", "off", "--baseline", "sqlite", *SHORT)
    assert_sane(result)
    assert (result["target"], result["batch"]) == ("local cluster", "off")
    assert result["check"]["ok"]
    baseline = result["baseline"]
    assert baseline["name"] == "sqlite" and baseline["check"]["ok"]
    assert baseline["p50_ms"] <= baseline["p95_ms"] <= baseline["p99_ms"]
    assert result["baseline_tps"] == baseline["throughput_tps"] > 0
    assert result["baseline_ratio"] == round(result["throughput_tps"] / result["baseline_tps"], 4)


@pytest.mark.skipif(shutil.which("etcd") is None, reason="etcd (Debian etcd-server) not installed")
def test_etcd_baseline_puts_on_three_members(tmp_path: Path) -> None:
    figures = run_etcd_baseline(tmp_path, clients=4, value_bytes=200, warmup_s=0.3, duration_s=1.0)
    assert figures["errors"] == {}
    assert figures["transactions"] > 0 and figures["p50_ms"] <= figures["p99_ms"]
    assert figures["system"].startswith("etcd 3.") and figures["server_cpu_s"] > 0
