"""The benchmark's transactions, statistics and refusals, without a cluster."""

from __future__ import annotations

import os
import random
import sys
import time
from pathlib import Path

import pytest

from epaxdb.benchmarks.observe import process_cpu_s
from epaxdb.benchmarks.report import plot
from epaxdb.benchmarks.sqlite_baseline import run_sqlite_baseline
from epaxdb.benchmarks.stats import latency_summary, per_second
from epaxdb.benchmarks.workloads import Workload
from epaxdb.cli import main
from epaxdb.errors import ConfigError


def test_transfer_moves_an_amount_between_two_distinct_accounts() -> None:
    workload = Workload("transfer", rows=50)
    rng = random.Random(3)
    for _ in range(2000):
        operation = workload.next_operation(rng)
        (debit, (amount, a)), (credit, (same_amount, b)) = operation.statements
        assert "balance - ?" in debit and "balance + ?" in credit
        assert amount == same_amount > 0
        assert a != b and 1 <= a < 50 and 1 <= b < 50  # row 0 is the hot row only


def test_conflict_percentage_is_the_share_of_operations_on_the_hot_row() -> None:
    rng = random.Random(5)
    for name in ("update", "transfer"):
        workload = Workload(name, rows=1000, conflict_pct=25)
        hot = sum(
            any(params[-1] == 0 for _, params in workload.next_operation(rng).statements)
            for _ in range(4000)
        )
        assert 0.22 < hot / 4000 < 0.28


def test_mixed_reads_the_given_share_and_reads_are_read_only() -> None:
    workload = Workload("mixed", rows=100, read_pct=70)
    rng = random.Random(7)
    kinds = [workload.next_operation(rng) for _ in range(4000)]
    reads = [op for op in kinds if op.kind == "read"]
    assert 0.66 < len(reads) / 4000 < 0.74
    assert all(op.read_only and op.statements[0][0].startswith("SELECT") for op in reads)


def test_setup_recreates_and_fills_the_benchmark_table() -> None:
    transactions = list(Workload("update", rows=1200).setup())
    assert transactions[0][0][0] == "DROP TABLE IF EXISTS epaxdb_bench_kv"
    inserted = sum(sql.count("(") for [(sql, _)] in transactions[2:])
    assert inserted == 1200


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"name": "scan"}, "unknown workload 'scan'"),
        ({"name": "update", "conflict_pct": 101}, "--conflict is a percentage"),
        ({"name": "update", "rows": 2}, "at least 3 rows"),
    ],
)
def test_bad_workload_parameters_are_refused(arguments: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Workload(**arguments)


def test_percentiles_are_ordered_and_throughput_counts_the_window() -> None:
    latencies = [float(i % 97) for i in range(1000)]
    summary = latency_summary(latencies, 4.0)
    assert summary["transactions"] == 1000 and summary["throughput_tps"] == 250.0
    assert summary["p50_ms"] <= summary["p95_ms"] <= summary["p99_ms"] <= summary["max_ms"]
    assert latency_summary([], 1.0)["p99_ms"] is None
    assert per_second([0.1, 0.9, 1.5, 2.99, 3.0], 3.0) == [2, 1, 2]


def test_process_cpu_time_agrees_with_the_process_own_clock() -> None:
    busy_until = time.process_time() + 0.1
    while time.process_time() < busy_until:
        pass
    tick = 1 / os.sysconf("SC_CLK_TCK")
    assert abs(process_cpu_s(os.getpid()) - time.process_time()) <= 3 * tick


def test_sqlite_baseline_runs_the_transfers_and_keeps_the_total(tmp_path: Path) -> None:
    figures = run_sqlite_baseline(
        Workload("transfer", rows=100), tmp_path / "b.db", clients=4, warmup_s=0.2, duration_s=0.8
    )
    assert figures["transactions"] > 0 and figures["throughput_tps"] > 0
    assert figures["p50_ms"] <= figures["p95_ms"] <= figures["p99_ms"]
    assert figures["check"] == {
        "accounts": 100,
        "total": 100_000,
        "expected_total": 100_000,
        "ok": True,
    }


def test_etcd_baseline_without_etcd_names_the_package_and_exits_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no etcd there
    assert main(["bench", "transfer", "--baseline", "etcd", "--duration", "1"]) == 2
    err = capsys.readouterr().err
    assert "needs the `etcd` server binary on PATH" in err
    assert "apt-get install etcd-server" in err


def test_plot_without_matplotlib_says_how_to_get_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import fails
    assert main(["bench", "update", "--plot", "out.png"]) == 2
    assert "pip install 'epaxdb[plot]'" in capsys.readouterr().err


def test_plot_saves_throughput_and_latency_as_png(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    result = {"workload": "update", "replicas": 3, "clients": 2, "conflict_pct": 0.0,
              "wan": None, "per_second_tps": [10, 12], "p50_ms": 1.0, "p95_ms": 2.0,
              "p99_ms": 3.0, "baseline": {"name": "sqlite", "p50_ms": 0.1, "p95_ms": 0.2,
              "p99_ms": 0.3}, "baseline_tps": 50.0}  # fmt: skip
    plot(result, tmp_path / "out.png")
    assert (tmp_path / "out.png").read_bytes().startswith(b"\x89PNG")


def test_batch_option_is_refused_for_replicas_started_elsewhere(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["bench", "update", "--url", "http://127.0.0.1:1", "--batch", "off"]) == 2
    assert "with --url the replicas are already running" in capsys.readouterr().err


def test_wan_profile_needs_its_number_of_replicas(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "update", "--wan", "paper5", "--replicas", "3"]) == 2
    assert "needs exactly 5 replicas, not 3" in capsys.readouterr().err
