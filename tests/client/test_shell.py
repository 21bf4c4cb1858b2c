"""`epaxdb shell`, fed from standard input like a script."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from epaxdb.commands.shell import format_table
from epaxdb.runtime.local_cluster import free_port

ROOT = Path(__file__).resolve().parents[2]


def shell(url: str, script: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT), HOME=os.environ.get("HOME", "/nonexistent"))
    return subprocess.run(
        [sys.executable, "-m", "epaxdb", "shell", url],
        input=script,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


def test_table_output_is_aligned_with_numbers_to_the_right() -> None:
    text = format_table(["id", "name", "b"], [(1, "alpha", None), (10, "b", b"\x00\xff")])
    assert text.splitlines() == [
        "id | name  | b",
        "---+-------+--------",
        " 1 | alpha | NULL",
        "10 | b     | X'00FF'",
        "(2 rows)",
    ]


@pytest.mark.cluster
@pytest.mark.timeout(120)
def test_script_on_stdin_runs_statements_dot_commands_and_reports_errors(
    urls: list[str],
) -> None:
    result = shell(
        urls[0],
        """
        CREATE TABLE shelf(id INTEGER PRIMARY KEY,
                           label TEXT UNIQUE);   -- spans two lines
        INSERT INTO shelf VALUES (1, 'top'); INSERT INTO shelf VALUES (2, 'bottom');
        BEGIN;
        INSERT INTO shelf VALUES (3, 'middle');
        COMMIT;
        INSERT INTO shelf VALUES (4, 'top');
        SELEC 1;
        .tables
        .schema shelf
        .nonsense
        SELECT id, label FROM shelf ORDER BY id
        """.replace("\n        ", "\n"),
    )
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    errors = result.stderr.splitlines()
    assert errors[0].startswith("Error: [SQLITE_CONSTRAINT_UNIQUE] UNIQUE constraint failed")
    assert errors[1].startswith("Error: [syntax_error]")
    assert errors[2].startswith("Error: unknown command .nonsense")
    lines = result.stdout.splitlines()
    assert "shelf" in lines  # .tables, without epaxdb's own tables
    assert not any(line.startswith("_epaxdb") for line in lines)
    assert any(line.startswith("CREATE TABLE shelf(") for line in lines)
    assert lines[-6:] == [
        "id | label",
        "---+-------",
        " 1 | top",
        " 2 | bottom",
        " 3 | middle",
        "(3 rows)",
    ]


def test_unreachable_cluster_is_an_error_line_not_a_traceback() -> None:
    result = shell(f"http://127.0.0.1:{free_port()}", "SELECT 1;\n")
    assert result.returncode == 1
    assert result.stderr.startswith("Error: [unavailable] no replica took the request")
    assert "Traceback" not in result.stderr
