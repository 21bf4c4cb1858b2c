"""examples/sqlalchemy_app: the same ORM app prints the same on SQLite and on a
3-replica epaxdb cluster, only its URL changed; and its retry helper runs a
transaction that lost a race again until it commits."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

sqlalchemy = pytest.importorskip(
    "sqlalchemy", minversion="2.0", reason="SQLAlchemy 2 is not installed (`python3 dev.py test`)"
)
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from tests.examples.support import example_module

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(180)]


@pytest.fixture(scope="module")
def app() -> Iterator[ModuleType]:
    with example_module("sqlalchemy_app/tasks.py") as module:
        yield module


def test_the_app_prints_the_same_on_sqlite_and_on_epaxdb(
    app: ModuleType, tmp_path: Path, sqlalchemy_urls: list[str]
) -> None:
    on_sqlite = app.run(f"sqlite:///{tmp_path / 'tasks.db'}")
    on_epaxdb = app.run(sqlalchemy_urls[0])
    assert len(on_sqlite) >= 10
    assert on_epaxdb == on_sqlite


def test_in_transaction_runs_a_transaction_that_lost_a_race_again(
    app: ModuleType, sqlalchemy_urls: list[str]
) -> None:
    here = sqlalchemy.create_engine(sqlalchemy_urls[0])
    app.run(sqlalchemy_urls[0])  # the schema and the app's rows
    with here.connect() as conn:
        token = conn.connection.dbapi_connection.commit_token
    there = sqlalchemy.create_engine(sqlalchemy_urls[1], connect_args={"after": token})
    attempts = []

    def raise_estimate(session: Session) -> int:
        task = session.scalars(select(app.Task).where(app.Task.title == "deploy")).one()
        if not attempts:  # meanwhile, on another replica, someone changes the same row
            with Session(there) as other:
                other.scalars(
                    select(app.Task).where(app.Task.title == "deploy")
                ).one().estimate_h = 7
                other.commit()
        attempts.append(task.estimate_h)
        task.estimate_h += 1
        return task.estimate_h

    assert app.in_transaction(sessionmaker(here), raise_estimate) == 8
    assert attempts == [2, 7]  # the first run read 2 and could not commit; the second read 7
    here.dispose()
    there.dispose()
