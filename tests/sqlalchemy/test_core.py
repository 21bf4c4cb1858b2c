"""SQLAlchemy Core on a 3-replica cluster through the epaxdb dialect: DDL, CRUD,
transactions that commit or roll back, autocommit, and errors as SQLAlchemy's."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

sqlalchemy = pytest.importorskip(
    "sqlalchemy", minversion="2.0", reason="SQLAlchemy 2 is not installed (`python3 dev.py test`)"
)
from sqlalchemy import (
    Column,
    ForeignKey,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    delete,
    exc,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.engine import Engine

import epaxdb.dbapi

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(180)]

metadata = MetaData()
shelves = Table(
    "core_shelves",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("label", String(20), nullable=False, unique=True),
)
items = Table(
    "core_items",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("shelf_id", ForeignKey("core_shelves.id"), nullable=False, index=True),
    Column("name", String(40), nullable=False),
    Column("qty", Integer, nullable=False, default=0),
    Column("photo", LargeBinary),
)


@pytest.fixture
def engine(sqlalchemy_urls: list[str]) -> Iterator[Engine]:
    engine = sqlalchemy.create_engine(sqlalchemy_urls[0])
    metadata.drop_all(engine)
    metadata.create_all(engine)
    yield engine
    engine.dispose()


def test_create_all_makes_the_tables_once(engine: Engine) -> None:
    inspector = sqlalchemy.inspect(engine)
    assert {"core_shelves", "core_items"} <= set(inspector.get_table_names())
    metadata.create_all(engine)  # checks first: nothing to create
    assert sqlalchemy.inspect(engine).has_table("core_items")


def test_insert_select_update_delete(engine: Engine) -> None:
    with engine.begin() as conn:
        shelf = conn.execute(insert(shelves).values(label="A")).inserted_primary_key[0]
        conn.execute(
            insert(items),
            [
                {"shelf_id": shelf, "name": "bolt", "qty": 10, "photo": None},
                {"shelf_id": shelf, "name": "nut", "qty": 0, "photo": b"\x00\xff"},
            ],
        )
    with engine.connect() as conn:
        rows = conn.execute(select(items.c.name, items.c.qty, items.c.photo).order_by("name"))
        assert rows.all() == [("bolt", 10, None), ("nut", 0, b"\x00\xff")]
    with engine.begin() as conn:
        changed = conn.execute(
            update(items).where(items.c.name == "nut").values(qty=items.c.qty + 5)
        )
        assert changed.rowcount == 1
        gone = conn.execute(delete(items).where(items.c.name == "bolt"))
        assert gone.rowcount == 1
    with engine.connect() as conn:
        assert conn.execute(select(items.c.name, items.c.qty)).all() == [("nut", 5)]


def test_returning_gives_the_written_rows(engine: Engine) -> None:
    with engine.begin() as conn:
        label = conn.execute(insert(shelves).values(label="R").returning(shelves.c.label))
        assert label.scalar_one() == "R"


def test_a_transaction_that_raises_is_rolled_back(engine: Engine) -> None:
    with pytest.raises(RuntimeError), engine.begin() as conn:
        conn.execute(insert(shelves).values(label="gone"))
        assert conn.execute(select(func.count()).select_from(shelves)).scalar_one() == 1
        raise RuntimeError("changed my mind")
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(shelves)).scalar_one() == 0
        conn.execute(insert(shelves).values(label="kept"))
        conn.rollback()
        conn.execute(insert(shelves).values(label="kept"))
        conn.commit()
        assert conn.execute(select(shelves.c.label)).scalars().all() == ["kept"]


def test_autocommit_runs_each_statement_on_its_own(engine: Engine) -> None:
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        assert conn.get_isolation_level() == "AUTOCOMMIT"
        conn.execute(insert(shelves).values(label="auto"))
        # no commit: it is already committed, visible to another connection
        with engine.connect() as other:
            assert other.execute(select(shelves.c.label)).scalars().all() == ["auto"]
    with engine.connect() as conn:
        assert conn.get_isolation_level() == "SERIALIZABLE"
        assert conn.connection.dbapi_connection.autocommit is False


def test_errors_are_sqlalchemys_with_the_drivers_original(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(insert(shelves).values(id=1, label="A"))
    with pytest.raises(exc.IntegrityError) as duplicate, engine.begin() as conn:
        conn.execute(insert(shelves).values(label="A"))
    assert isinstance(duplicate.value.orig, epaxdb.dbapi.IntegrityError)
    assert duplicate.value.orig.code == "SQLITE_CONSTRAINT_UNIQUE"
    with pytest.raises(exc.IntegrityError), engine.begin() as conn:
        conn.execute(insert(items).values(shelf_id=99, name="orphan"))  # foreign keys are on
    with pytest.raises(exc.NotSupportedError) as pragma, engine.connect() as conn:
        conn.execute(text("PRAGMA journal_mode"))
    assert pragma.value.orig.code == "pragma"


def test_savepoints_and_regexp_are_refused(engine: Engine) -> None:
    with engine.connect() as conn:
        conn.execute(select(shelves))
        with pytest.raises(exc.NotSupportedError) as savepoint:
            conn.begin_nested()
        assert savepoint.value.orig.code == "transaction_control"
        with pytest.raises(exc.NotSupportedError) as regexp:
            conn.execute(select(shelves).where(shelves.c.label.regexp_match("^A")))
        assert regexp.value.orig.code == "unknown_function"
