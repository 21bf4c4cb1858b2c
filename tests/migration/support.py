"""Builders shared by the migration tests: application databases made with apsw."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import apsw

ROOT = Path(__file__).resolve().parents[2]


APP_SCHEMA = """
CREATE TABLE users(
    id INTEGER PRIMARY KEY,
    email TEXT NOT NULL UNIQUE,
    created TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP
);
CREATE TABLE notes(
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id INTEGER NOT NULL REFERENCES users(id),
    body TEXT,
    token BLOB DEFAULT (randomblob(4))
);
CREATE TABLE kv(k TEXT PRIMARY KEY, v) WITHOUT ROWID;
CREATE TRIGGER notes_touch AFTER INSERT ON notes BEGIN
    UPDATE users SET created = datetime('now') WHERE id = new.user_id;
END;
CREATE VIEW recent AS SELECT * FROM notes WHERE id > (SELECT max(id) - 10 FROM notes);
INSERT INTO users(id, email, created) VALUES (1, 'ann@example.com', '2024-01-01 00:00:00'),
                                             (2, 'bob@example.com', '2024-01-02 00:00:00');
INSERT INTO kv VALUES ('greeting', 'hello'), ('answer', 42);
"""


def make_db(path: Path, script: str = APP_SCHEMA, *, functions: bool = False) -> Path:
    """Create an SQLite file by running `script`; `functions`: register what an
    application would (a function `slugify` and a collation `reverse`) first."""
    db = apsw.Connection(str(path))
    try:
        if functions:
            db.create_scalar_function("slugify", lambda text: str(text).lower())
            db.create_collation("reverse", lambda a, b: (b > a) - (b < a))
        db.execute(script).fetchall()  # apsw runs later statements as rows are read
    finally:
        db.close()
    return path


def run_cli(*args: str | Path, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """`python -m epaxdb ARGS` from this source tree, as a separate process."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run(
        [sys.executable, "-m", "epaxdb", *map(str, args)],
        check=False, input=stdin, capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
