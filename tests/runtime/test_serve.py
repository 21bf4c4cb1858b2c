"""`epaxdb serve`: its configuration, and refusals at startup."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from epaxdb.cli import build_parser
from epaxdb.commands.serve import ServeConfig, load_config
from epaxdb.errors import ConfigError
from epaxdb.runtime.local_cluster import LocalCluster
from epaxdb.runtime.transport import Address


def config(*argv: str) -> ServeConfig:
    return load_config(build_parser().parse_args(["serve", *argv]))


def test_peers_list_every_replica_with_its_id(tmp_path: Path) -> None:
    loaded = config(
        "--id", "1", "--peers", "0=10.0.0.1:7000,1=10.0.0.2:7000,2=[::1]:7002",
        "--http", "0.0.0.0:8000", "--data", str(tmp_path), "--listen", "0.0.0.0:7000",
    )  # fmt: skip
    assert loaded.node.peers == {
        0: Address("10.0.0.1", 7000),
        1: Address("10.0.0.2", 7000),
        2: Address("::1", 7002),
    }
    assert (loaded.node.replica_id, loaded.node.listen) == (1, Address("0.0.0.0", 7000))
    assert loaded.http == Address("0.0.0.0", 8000)
    assert loaded.node.cluster_config().replica_count == 3


def test_cluster_file_gives_peers_http_addresses_and_secret(tmp_path: Path) -> None:
    cluster = tmp_path / "cluster.json"
    cluster.write_text(json.dumps({"cluster_id": "prod", "replicas": [
        {"id": i, "address": f"127.0.0.1:{7000 + i}", "http": f"127.0.0.1:{8000 + i}"}
        for i in range(3)
    ]}))  # fmt: skip
    (tmp_path / "secret").write_bytes(b"hunter2\n")
    loaded = config("--id", "2", "--cluster", str(cluster), "--data", str(tmp_path),
                    "--secret-file", str(tmp_path / "secret"))  # fmt: skip
    assert loaded.node.cluster_id == "prod" and loaded.node.secret == b"hunter2"
    assert loaded.http == Address("127.0.0.1", 8002)


def test_batch_size_and_wan_profile_reach_the_node_settings(tmp_path: Path) -> None:
    loaded = config("--id", "2", "--peers", "0=h:1,1=h:2,2=h:3", "--http", "h:9",
                    "--data", str(tmp_path), "--batch-size", "1", "--wan-profile", "paper3")  # fmt: skip
    assert loaded.node.cluster_config().batch_size_max == 1
    # Replica 2 sits in Ireland: 156 ms round trip to California, 90 ms to Virginia.
    assert loaded.node.peer_delays_s == {0: 0.078, 1: 0.045}
    default = config("--id", "0", "--peers", "0=h:1", "--http", "h:9", "--data", str(tmp_path))
    assert default.node.cluster_config().batch_size_max == 100
    assert default.node.peer_delays_s is None


def test_http_settings_come_from_the_token_file_and_the_body_limit(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("  tok-123\n")
    loaded = config("--id", "0", "--peers", "0=h:1", "--http", "h:2", "--data", str(tmp_path),
                    "--auth-token-file", str(tmp_path / "token"), "--max-body-bytes", "65536")  # fmt: skip
    assert (loaded.server.auth_token, loaded.server.max_body_bytes) == ("tok-123", 65536)
    defaults = config("--id", "0", "--peers", "0=h:1", "--http", "h:2", "--data", str(tmp_path))
    assert defaults.server.auth_token is None and defaults.server.max_body_bytes == 16 << 20


def test_result_retention_defaults_to_a_day_and_takes_seconds(tmp_path: Path) -> None:
    base = ("--id", "0", "--peers", "0=h:1", "--http", "h:2", "--data", str(tmp_path))
    assert config(*base).node.result_retention_s == 24 * 3600
    assert config(*base, "--result-retention", "90.5").node.result_retention_s == 90.5


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--peers", "0=h:1,1=h:2,2=h:3", "--http", "h:9", "--wan-profile", "paper5"],
         "paper5 has 5 sites"),
        (["--peers", "0=h:1,1=h:2,2=h:3", "--http", "h:9", "--batch-size", "0"],
         "must be positive"),
        (["--peers", "0=h:1,2=h:2,3=h:3", "--http", "h:9"], "replica ids must be 0..n-1"),
        (["--peers", "0=h:1", "--http", "h:9", "--result-retention", "0"], "result-retention"),
        (["--peers", "0=h:1", "--http", "h:9", "--result-retention", "nan"], "result-retention"),
        (["--peers", "0=h:1,1=h:2,2=h:3"], "give --http"),
        (["--peers", "0=h:1,1=nowhere,2=h:3", "--http", "h:9"], "expected HOST:PORT"),
        (["--http", "h:9"], "give --peers or --cluster"),
        (["--peers", "0=h:1", "--http", "h:9", "--max-body-bytes", "10"], "max_body_bytes"),
        (
            ["--peers", "0=h:1", "--http", "h:9", "--auth-token-file", "/nonexistent/token"],
            "bad cluster configuration",
        ),
    ],
)
def test_bad_configuration_is_refused_before_anything_opens(
    tmp_path: Path, argv: list[str], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        config("--id", "0", "--data", str(tmp_path / "never"), *argv)
    assert not (tmp_path / "never").exists()


@pytest.mark.cluster
def test_second_process_on_a_data_directory_exits_with_a_clear_line(tmp_path: Path) -> None:
    with LocalCluster(tmp_path, 1) as cluster:
        cluster.start(0)
        cluster.wait_ready()
        second = subprocess.run(
            cluster.command(0), capture_output=True, text=True, timeout=60, check=False
        )
        assert second.returncode == 2
        [line] = [json.loads(x) for x in second.stderr.splitlines() if "startup_failed" in x]
        assert line["error"] == "DataDirectoryInUse"
        assert f"in use by another process (pid {cluster.processes[0].pid})" in line["reason"]
        assert cluster.stop(0) == 0
