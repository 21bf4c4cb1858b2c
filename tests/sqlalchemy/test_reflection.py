"""Reflection through the epaxdb dialect on a real cluster: the cluster refuses PRAGMA,
yet tables, columns, keys, indexes, constraints and views reflect as SQLAlchemy's
SQLite dialect reflects them from a file, and epaxdb's own tables stay hidden."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

sqlalchemy = pytest.importorskip(
    "sqlalchemy", minversion="2.0", reason="SQLAlchemy 2 is not installed (`python3 dev.py test`)"
)
from sqlalchemy import MetaData, Table, exc, insert, select
from sqlalchemy.engine import Engine

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(180)]

SCHEMA = [
    "DROP VIEW IF EXISTS refl_big_orders",
    "DROP TABLE IF EXISTS refl_orders",
    "DROP TABLE IF EXISTS refl_customers",
    (
        "CREATE TABLE refl_customers (id INTEGER PRIMARY KEY, email TEXT NOT NULL UNIQUE,"
        " joined TEXT DEFAULT CURRENT_TIMESTAMP)"
    ),
    (
        "CREATE TABLE refl_orders (id INTEGER PRIMARY KEY,"
        " customer_id INTEGER NOT NULL REFERENCES refl_customers(id) ON DELETE CASCADE,"
        " total_cents INTEGER NOT NULL CONSTRAINT positive CHECK (total_cents > 0),"
        " note TEXT, label TEXT AS (upper(note)) VIRTUAL)"
    ),
    "CREATE INDEX refl_orders_by_customer ON refl_orders (customer_id, total_cents)",
    "CREATE VIEW refl_big_orders AS SELECT id, total_cents FROM refl_orders WHERE total_cents > 10000",
]
REFLECTED = ("refl_customers", "refl_orders")


@pytest.fixture
def engine(sqlalchemy_urls: list[str]) -> Iterator[Engine]:
    engine = sqlalchemy.create_engine(sqlalchemy_urls[0])
    with engine.begin() as conn:
        for statement in SCHEMA:
            conn.exec_driver_sql(statement)
    yield engine
    engine.dispose()


@pytest.fixture
def file_engine(tmp_path: Path) -> Iterator[Engine]:
    """The same schema in a plain SQLite file, read by SQLAlchemy's own dialect."""
    db = sqlite3.connect(tmp_path / "same.db")
    for statement in SCHEMA:
        db.execute(statement)
    db.commit()
    db.close()
    engine = sqlalchemy.create_engine(f"sqlite:///{tmp_path / 'same.db'}")
    yield engine
    engine.dispose()


def described(engine: Engine, table: str) -> dict[str, object]:
    inspector = sqlalchemy.inspect(engine)
    return {
        "columns": [
            {**column, "type": repr(column["type"])} for column in inspector.get_columns(table)
        ],
        "pk": inspector.get_pk_constraint(table),
        "foreign_keys": inspector.get_foreign_keys(table),
        "indexes": inspector.get_indexes(table),
        "unique": inspector.get_unique_constraints(table),
        "checks": inspector.get_check_constraints(table),
    }


@pytest.mark.parametrize("table", REFLECTED)
def test_a_table_reflects_as_from_an_sqlite_file(
    engine: Engine, file_engine: Engine, table: str
) -> None:
    on_cluster = described(engine, table)
    assert on_cluster == described(file_engine, table)
    assert on_cluster["columns"]


def test_the_reflected_details(engine: Engine) -> None:
    orders = described(engine, "refl_orders")
    assert [c["name"] for c in orders["columns"]] == [
        "id", "customer_id", "total_cents", "note", "label",
    ]  # fmt: skip
    assert orders["columns"][4]["computed"]["persisted"] is False  # a generated column
    assert orders["pk"]["constrained_columns"] == ["id"]
    assert [(fk["constrained_columns"], fk["referred_table"], fk["referred_columns"])
            for fk in orders["foreign_keys"]] == [(["customer_id"], "refl_customers", ["id"])]  # fmt: skip
    assert [(i["name"], i["column_names"]) for i in orders["indexes"]] == [
        ("refl_orders_by_customer", ["customer_id", "total_cents"])
    ]
    assert [check["name"] for check in orders["checks"]] == ["positive"]
    customers = described(engine, "refl_customers")
    assert [u["column_names"] for u in customers["unique"]] == [["email"]]


def test_names_exclude_epaxdbs_bookkeeping_tables(engine: Engine) -> None:
    inspector = sqlalchemy.inspect(engine)
    tables = inspector.get_table_names()
    assert set(REFLECTED) <= set(tables)
    assert not [name for name in tables if name.startswith(("_epaxdb", "sqlite_"))]
    assert "refl_big_orders" in inspector.get_view_names()
    assert "WHERE total_cents > 10000" in inspector.get_view_definition("refl_big_orders")
    assert inspector.get_schema_names() == ["main"]
    assert inspector.has_table("REFL_ORDERS")  # SQLite names ignore ASCII case
    assert not inspector.has_table("_epaxdb_applied")
    assert not inspector.has_table("refl_orders", schema="temp")


def test_autoloaded_tables_work_for_queries(engine: Engine) -> None:
    metadata = MetaData()
    customers = Table("refl_customers", metadata, autoload_with=engine)
    orders = Table("refl_orders", metadata, autoload_with=engine)
    view = Table("refl_big_orders", metadata, autoload_with=engine)
    assert orders.c.customer_id.references(customers.c.id)
    with engine.begin() as conn:
        conn.execute(insert(customers).values(id=7, email="ann@example.com"))
        conn.execute(insert(orders).values(customer_id=7, total_cents=25000, note="rush"))
        assert conn.execute(select(orders.c.label)).scalar_one() == "RUSH"
        assert conn.execute(select(view.c.total_cents)).scalars().all() == [25000]
        assert conn.execute(select(customers.c.joined)).scalar_one() is not None


def test_a_missing_table_is_no_such_table(engine: Engine) -> None:
    with pytest.raises(exc.NoSuchTableError):
        Table("refl_nowhere", MetaData(), autoload_with=engine)
