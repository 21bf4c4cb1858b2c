"""Short runs of the ordering modes, the availability and load-curve benchmarks and
the experiments runner against real replica processes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from epaxdb.cli import main

pytestmark = pytest.mark.cluster
SMALL = ["--rows", "100", "--json"]


def bench(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, Any]:
    assert main(["bench", *argv]) == 0, capsys.readouterr().err
    return json.loads(capsys.readouterr().out)


def test_multipaxos_mode_orders_everything_at_the_named_leader_without_fast_path(
    capsys: pytest.CaptureFixture[str],
) -> None:
    result = bench(
        capsys, "update", "--protocol", "multipaxos", "--leader", "2", "--clients", "3",
        "--duration", "1", "--warmup", "0.3", *SMALL,
    )  # fmt: skip
    assert (result["protocol"], result["leader"], result["thrifty"]) == ("multipaxos", 2, False)
    assert result["errors"] == {} and result["transactions"] > 0
    # Only the leader owns instances, and a chain commits on the slow path only.
    assert result["fast_commits"] == 0 and result["slow_commits"] > 0


def test_load_curve_runs_each_client_count_on_one_thrifty_cluster(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    pytest.importorskip("matplotlib")
    chart = tmp_path / "curve.png"
    result = bench(
        capsys, "load-curve", "update", "--thrifty", "--clients", "1,3", "--duration", "0.8",
        "--warmup", "0.2", "--plot", str(chart), *SMALL,
    )  # fmt: skip
    assert (result["protocol"], result["thrifty"]) == ("epaxos", True)
    assert [step["clients"] for step in result["steps"]] == [1, 3]
    for step in result["steps"]:
        assert step["errors"] == {} and step["transactions"] > 0
        assert step["p50_ms"] <= step["p95_ms"] <= step["p99_ms"] <= step["max_ms"]
    assert result["stopped_early"] is None
    assert result["peak"]["throughput_tps"] == max(s["throughput_tps"] for s in result["steps"])
    assert chart.read_bytes().startswith(b"\x89PNG")


def test_multipaxos_with_its_leader_killed_commits_nothing_until_it_is_back(
    capsys: pytest.CaptureFixture[str],
) -> None:
    result = bench(
        capsys, "availability", "--protocol", "multipaxos", "--leader", "2", "--clients", "3",
        "--duration", "3.5", "--warmup", "0.3", "--kill-at", "0.6", "--restart-at", "1.6",
        *SMALL,
    )  # fmt: skip
    assert result["killed_replica"] == 2 and result["surviving_replicas"] == [0, 1]
    killed, restarted = result["killed_at_s"], result["restarted_at_s"]
    assert 0.6 <= killed < restarted and result["serving_again_at_s"] >= restarted
    # No leader, no commit: at most what the leader had in flight is recovered by the
    # others soon after the kill; then the survivors' clients wait until it is back.
    assert result["longest_gap_from_s"] < restarted < result["longest_gap_to_s"]
    assert result["recovery_timeout_ms"] == 200.0
    # The killed replica's clients saw connection errors, not commits, while it was down.
    down = range(int(killed) + 1, int(restarted))
    assert all(result["per_replica_tps"]["2"][second] == 0 for second in down)
    assert result["errors_while_down"]
    assert all(error.startswith("connection: ") for error in result["errors_while_down"])
    assert sum(result["per_replica_tps"]["2"]) > 0  # before the kill
    assert result["check"]["ok"] and result["check"]["replicas"] == [0, 1, 2]


@pytest.mark.slow
def test_experiments_runner_smoke_writes_results_charts_and_markdown(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """`--quick --quick`: every experiment with tiny durations and the smallest matrix."""
    pytest.importorskip("matplotlib")
    out = tmp_path / "benchmarks-data"
    assert main(["bench", "experiments", "--out", str(out), "--quick", "--quick"]) == 0, (
        capsys.readouterr().err
    )
    verdicts = capsys.readouterr().out.splitlines()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["failures"] == [] and summary["plan"]["name"] == "smoke"
    assert len(verdicts) == len(summary["checks"]) >= 10
    assert all(line.split()[0] in ("PASS", "FAIL", "SKIP") for line in verdicts)
    conflict = json.loads((out / "experiment1-conflict.json").read_text())
    modes = {(p["protocol"], p["conflict_pct"]) for p in conflict["points"]}
    assert modes == {("epaxos", 0), ("epaxos", 100), ("multipaxos", 0), ("multipaxos", 100)}
    assert all(p["transactions"] > 0 for p in conflict["points"])
    wan = json.loads((out / "experiment2-wan.json").read_text())
    assert [run["label"] for run in wan["runs"]] == ["EPaxos", "Multi-Paxos (leader California)"]
    availability = json.loads((out / "experiment3-availability.json").read_text())
    assert [run["protocol"] for run in availability["runs"]] == ["epaxos", "multipaxos"]
    assert all(run["check"]["ok"] for run in availability["runs"])
    assert sorted(summary["charts"]) == sorted(p.name for p in out.glob("*.png"))
    assert len(summary["charts"]) == 4
    markdown = (out / "results.md").read_text()
    assert "| target | verdict | measured |" in markdown
    assert "](benchmarks-data/experiment3-availability.png)" in markdown
    assert "epaxdb bench availability --protocol multipaxos" in markdown
