"""The parts of the availability, load-curve and experiments benchmarks that need no
cluster: the timeline of an availability run, the load curve's stop rule, the target
checks, the ordering options and the commands quoted in the markdown."""

from __future__ import annotations

import shlex
from dataclasses import replace
from typing import Any

import pytest

from epaxdb.benchmarks.availability import AvailabilitySettings, availability_timeline
from epaxdb.benchmarks.cluster import BenchSettings, default_leader
from epaxdb.benchmarks.errors import BenchmarkError
from epaxdb.benchmarks.experiment_report import bench_command
from epaxdb.benchmarks.load_curve import Plateau
from epaxdb.benchmarks.loadgen import Failure, Record
from epaxdb.benchmarks.targets import target_checks
from epaxdb.benchmarks.workloads import Workload
from epaxdb.cli import build_parser, main


def commits(site: int, *times: float) -> list[Record]:
    return [Record("update", site, at, 1.0) for at in times]


def test_timeline_buckets_commits_and_errors_and_finds_the_gap_at_the_survivors() -> None:
    # Replica 0 is killed at 1.0 s and restarted at 2.5 s; the survivors (1, 2) see
    # nothing between 1.1 s and 1.9 s.
    records = (
        commits(0, 0.2, 0.6, 0.9, 2.8)
        + commits(1, 0.1, 0.5, 1.1, 1.9, 2.2, 2.9)
        + commits(2, 0.3, 0.95, 2.0, 2.5)
    )
    failures = [Failure(0, 1.2, "connection: ClientConnectorError"),
                Failure(0, 2.2, "connection: ClientConnectorError"),
                Failure(0, 2.6, "504 outcome_unknown")]  # fmt: skip
    timeline = availability_timeline(records, failures, 3.0, 3, 0, 1.0, 2.5)
    assert timeline["surviving_replicas"] == [1, 2]
    assert timeline["per_second_tps"] == [7, 2, 5]
    assert timeline["surviving_per_second_tps"] == [4, 2, 4]
    assert timeline["per_replica_tps"] == {"0": [3, 0, 1], "1": [2, 2, 2], "2": [2, 0, 2]}
    assert timeline["per_replica_errors_per_second"]["0"] == [0, 1, 2]
    assert timeline["errors_while_down"] == {"connection: ClientConnectorError": 2}
    assert timeline["longest_gap_ms"] == 800.0
    assert (timeline["longest_gap_from_s"], timeline["longest_gap_to_s"]) == (1.1, 1.9)
    assert timeline["gap_at_kill_ms"] == 150.0  # 0.95 -> 1.1 s
    assert timeline["longest_gap_before_kill_ms"] == 450.0  # 0.5 -> 0.95 s


def test_a_stall_to_the_end_of_the_window_is_a_gap() -> None:
    records = commits(1, 0.1, 0.2) + commits(2, 0.3)
    timeline = availability_timeline(records, [], 4.0, 3, 0, 0.35, None)
    assert timeline["longest_gap_ms"] == 3700.0
    assert timeline["gap_at_kill_ms"] == 3700.0
    assert timeline["errors_while_down"] == {}
    no_commits = availability_timeline([], [], 2.0, 3, 0, 1.0, None)
    assert no_commits["longest_gap_ms"] == 2000.0


def test_the_load_curve_stops_after_two_steps_without_a_5_percent_gain() -> None:
    plateau = Plateau(0.05, 2)
    assert [plateau.reached(tps) for tps in (100, 200, 205, 400, 410, 415)] == [
        False, False, False, False, False, True,
    ]  # fmt: skip
    assert "415.0 tx/s" in plateau.reason() and "2 steps in a row" in plateau.reason()
    dip = Plateau(0.05, 2)  # a dip does not reset the best: two flat steps still stop
    assert [dip.reached(tps) for tps in (300, 150, 310)] == [False, False, True]


def test_multipaxos_leader_defaults_to_california_under_the_paper_wan_profiles() -> None:
    assert default_leader(None) == 0
    assert default_leader("paper5") == 1 and default_leader("paper3") == 0
    settings = BenchSettings(Workload("update"), replicas=5, wan="paper5", protocol="multipaxos")
    assert settings.ordering_leader == 1
    assert settings.serve_args() == [
        "--batch-size", "100", "--wan-profile", "paper5", "--protocol", "multipaxos",
        "--leader", "1",
    ]  # fmt: skip
    thrifty = BenchSettings(Workload("update"), batch=False, thrifty=True)
    assert thrifty.ordering_leader is None
    assert thrifty.serve_args() == ["--batch-size", "1", "--thrifty"]


def test_availability_kills_the_leader_under_multipaxos_and_replica_0_under_epaxos() -> None:
    bench = BenchSettings(Workload("update"), duration_s=10)
    assert AvailabilitySettings(bench, 2, 5).victim == 0
    leader = replace(bench, protocol="multipaxos", leader=2)
    assert AvailabilitySettings(leader, 2, 5).victim == 2
    with pytest.raises(BenchmarkError, match="--restart-at must be after --kill-at"):
        AvailabilitySettings(bench, 5, 4).validate()
    with pytest.raises(BenchmarkError, match="--kill-at must be inside"):
        AvailabilitySettings(bench, 10, None).validate()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["update", "--leader", "1"], "--leader is for --protocol multipaxos"),
        (["update", "--protocol", "multipaxos", "--leader", "3"], "leader 3 outside 0..2"),
        (["update", "--url", "http://127.0.0.1:1", "--thrifty"], "already running"),
        (["availability", "--kill-at", "30"], "--kill-at must be inside"),
        (["update", "--request-timeout", "60"], "--request-timeout must be in"),
    ],
)
def test_contradictory_ordering_options_are_refused_before_anything_starts(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["bench", *argv]) == 2
    assert message in capsys.readouterr().err


def test_load_curve_client_counts_must_be_a_list_of_positive_numbers(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit):
        main(["bench", "load-curve", "update", "--clients", "1,x"])
    assert "not a comma-separated list of numbers" in capsys.readouterr().err


def test_commands_quoted_in_the_markdown_parse_to_the_same_settings() -> None:
    settings = BenchSettings(
        Workload("update", 500, 25), replicas=5, clients=7, duration_s=3, warmup_s=1,
        batch=False, protocol="multipaxos", leader=2, request_timeout_s=2,
    )  # fmt: skip
    command = bench_command("update", settings, "--baseline sqlite")
    args = build_parser().parse_args(shlex.split(command)[1:])
    assert (args.replicas, args.clients, args.duration, args.warmup) == (5, 7, 3.0, 1.0)
    assert (args.batch, args.protocol, args.leader, args.conflict) == ("off", "multipaxos", 2, 25)
    assert (args.rows, args.request_timeout, args.baseline) == (500, 2.0, "sqlite")
    curve = bench_command("load-curve update", BenchSettings(Workload("update")), clients="1,2")
    assert build_parser().parse_args(shlex.split(curve)[1:]).clients == (1, 2)


def _point(protocol: str, conflict: float, **figures: Any) -> dict[str, Any]:
    return {"replicas": 3, "protocol": protocol, "batch": "on", "conflict_pct": conflict,
            **figures}  # fmt: skip


def _sites(a_ms: float, b_ms: float) -> dict[str, Any]:
    reference = {"nearest_fast_quorum_rtt_ms": 100.0, "client_hop_rtt_ms": 1.0}
    return {"A": {**reference, "p50_ms": a_ms}, "B": {**reference, "p50_ms": b_ms}}


def _results() -> dict[str, Any]:
    """Experiment results shaped like a run's, with round figures."""
    epaxos_run = {"protocol": "epaxos", "longest_gap_ms": 150.0, "recovery_timeout_ms": 200.0,
                  "killed_replica": 0, "killed_at_s": 3.0, "restarted_at_s": 6.0}  # fmt: skip
    return {
        "targets": {
            "transfer": {"throughput_tps": 3000.0},
            "one_client": {"p50_ms": 1.0, "p99_ms": 4.0},
            "sqlite": {"throughput_tps": 2500.0},
            "etcd": {"skipped": "etcd is not installed"},
            "etcd_one_client": {"p50_ms": 1.3},
        },
        "experiment1-conflict": {
            "points": [
                _point("epaxos", 0, throughput_tps=1000.0),
                _point("epaxos", 100, throughput_tps=400.0),
                _point("multipaxos", 0, throughput_tps=900.0),
                _point("multipaxos", 100, error="replica 1 is not running"),
            ]
        },
        "experiment2-wan": {
            "runs": [
                {"label": "EPaxos", "by_site": _sites(105.0, 150.0)},
                {"label": "Multi-Paxos (leader A)", "leader": 0, "by_site": _sites(90.0, 200.0)},
            ]
        },
        "experiment3-availability": {
            "runs": [epaxos_run, {"protocol": "multipaxos", "error": "replica 0 is not running"}]
        },
    }


def test_target_checks_are_computed_from_the_measured_figures() -> None:
    checks = {check.target.split(" (")[0]: check for check in target_checks(_results())}
    verdicts = {target: check.verdict for target, check in checks.items()}
    assert verdicts == {
        "transfer, 3 replicas, 0 % conflicts: cluster >= single-node SQLite": "PASS",
        "transfer, 3 replicas: cluster >= 2x etcd": "SKIP",
        "one client: p50 below etcd's one-client p50": "PASS",
        "one client: p99 <= 5 ms": "PASS",
        "EPaxos at 100 % conflicts >= 50 % of 0 %": "FAIL",  # 40 %
        "EPaxos above Multi-Paxos at <= 25 % conflicts": "PASS",
        "WAN: every site's median within 10 % of its nearest fast quorum RTT": "FAIL",
        "WAN: median below Multi-Paxos's at every site but the leader's": "PASS",
        "availability: gap at the surviving replicas <= recovery timeout": "PASS",
        "availability: Multi-Paxos with its leader killed stalls": "FAIL",
    }
    assert "ratio 1.20" in checks["transfer, 3 replicas, 0 % conflicts: cluster >= "
                                   "single-node SQLite"].detail  # fmt: skip
    assert "40%" in checks["EPaxos at 100 % conflicts >= 50 % of 0 %"].detail
    wan = checks["WAN: every site's median within 10 % of its nearest fast quorum RTT"].detail
    assert "A 105/101 ms" in wan and "B 150/101 ms (over)" in wan
    stalled = checks["availability: Multi-Paxos with its leader killed stalls"].detail
    assert "not measured" in stalled and "replica 0 is not running" in stalled


def test_a_slower_cluster_fails_the_targets_it_misses() -> None:
    results = _results()
    results["targets"]["transfer"]["throughput_tps"] = 2000.0
    results["targets"]["one_client"]["p99_ms"] = 7.5
    results["experiment3-availability"]["runs"][0]["longest_gap_ms"] = 450.0
    failed = {check.target.split(":")[0] for check in target_checks(results)
              if check.verdict == "FAIL"}  # fmt: skip
    assert {"transfer, 3 replicas, 0 % conflicts", "one client", "availability"} <= failed


def test_thrifty_epaxos_is_judged_on_its_own_rows_against_multipaxos() -> None:
    results = _results()
    results["experiment1-conflict"]["points"] += [
        _point("epaxos", 0, throughput_tps=800.0, thrifty=True),
        _point("epaxos", 100, throughput_tps=600.0, thrifty=True),
    ]
    checks = {check.target: check for check in target_checks(results)}
    plain = "EPaxos above Multi-Paxos at <= 25 % conflicts (3 replicas, batching on, 0 %)"
    thrifty = plain[:-1] + ", thrifty)"
    assert (checks[plain].verdict, checks[plain].detail) == ("PASS", "1,000 vs 900 tx/s")
    assert (checks[thrifty].verdict, checks[thrifty].detail) == ("FAIL", "800 vs 900 tx/s")
    kept = "EPaxos at 100 % conflicts >= 50 % of 0 % (3 replicas, batching on, thrifty)"
    assert checks[kept].verdict == "PASS" and "600 vs 800 tx/s, 75%" in checks[kept].detail
