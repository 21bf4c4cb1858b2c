"""The `epaxdb://` URL: its forms, what it refuses, and the dialect it selects. No
server needed: creating an engine does no I/O."""

from __future__ import annotations

import importlib
import tomllib
from pathlib import Path

import pytest

sqlalchemy = pytest.importorskip(
    "sqlalchemy", minversion="2.0", reason="SQLAlchemy 2 is not installed (`python3 dev.py test`)"
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from epaxdb.sqlalchemy import EpaxdbDialect
from epaxdb.sqlalchemy.url import connect_arguments

ROOT = Path(__file__).resolve().parents[2]


def arguments(url: str) -> tuple[list[object], dict[str, object]]:
    return connect_arguments(make_url(url))


def test_one_replica_is_host_and_port() -> None:
    assert arguments("epaxdb://127.0.0.1:4001") == (
        [["http://127.0.0.1:4001"]],
        {"autocommit": False},
    )


def test_more_replicas_follow_as_repeated_host_parameters() -> None:
    replicas = ["http://h1:4001", "http://h2:4002", "http://h3:4003"]
    assert arguments("epaxdb:///?host=h1:4001&host=h2:4002&host=h3:4003")[0] == [replicas]
    assert arguments("epaxdb://h1:4001/?host=h2:4002&host=h3:4003")[0] == [replicas]


def test_token_timeout_wire_and_tls() -> None:
    cargs, kwargs = arguments("epaxdb://:s3cret@h1:4001/?timeout=2.5&wire=msgpack&tls=true")
    assert cargs == [["https://h1:4001"]]
    assert kwargs == {"autocommit": False, "token": "s3cret", "timeout": 2.5, "wire": "msgpack"}
    assert "s3cret" not in repr(make_url("epaxdb://:s3cret@h1:4001"))


def test_ipv6_hosts_keep_their_brackets() -> None:
    assert arguments("epaxdb://[::1]:4001/?host=[::1]:4002")[0] == [
        ["http://[::1]:4001", "http://[::1]:4002"]
    ]


@pytest.mark.parametrize(
    ("url", "complaint"),
    [
        ("epaxdb://h1:4001/app", "drop the path /app"),
        ("epaxdb://ann:tok@h1:4001", "no user name"),
        ("epaxdb://h1:4001/?hosts=h2:4002", "unknown epaxdb URL parameter(s) hosts"),
        ("epaxdb://h1:4001/?wire=xml", "wire='xml'"),
        ("epaxdb://h1:4001/?timeout=soon", "timeout='soon'"),
        ("epaxdb://h1:4001/?timeout=1&timeout=2", "timeout may be given once"),
        ("epaxdb://h1:4001/?tls=maybe", "tls='maybe'"),
        ("epaxdb://", "needs a replica"),
        ("epaxdb:///?host=http://h2:4002", "HOST:PORT only"),
    ],
)
def test_a_bad_url_is_refused_with_what_is_wrong(url: str, complaint: str) -> None:
    with pytest.raises(ArgumentError, match=complaint.replace("(", r"\(").replace(")", r"\)")):
        arguments(url)


def test_the_package_entry_point_names_the_dialect() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    target = pyproject["project"]["entry-points"]["sqlalchemy.dialects"]["epaxdb"]
    module, _, name = target.partition(":")
    assert getattr(importlib.import_module(module), name) is EpaxdbDialect
    assert "sqlalchemy>=2.0,<3" in pyproject["project"]["optional-dependencies"]["sqlalchemy"]
    assert "sqlalchemy>=2.0,<3" in pyproject["project"]["optional-dependencies"]["test"]


def test_an_engine_gets_sqlites_sql_over_the_epaxdb_driver(sqlalchemy_dialect: None) -> None:
    engine = sqlalchemy.create_engine("epaxdb://127.0.0.1:4001")
    dialect = engine.dialect
    assert isinstance(dialect, EpaxdbDialect)
    assert (dialect.name, dialect.driver, dialect.paramstyle) == ("sqlite", "epaxdb", "qmark")
    assert dialect.supports_statement_cache
    assert dialect.dbapi.__name__ == "epaxdb.dbapi"
    # features SQLAlchemy picks by the replicas' SQLite version
    assert dialect.insert_returning and dialect.supports_multivalues_insert
    engine.dispose()
