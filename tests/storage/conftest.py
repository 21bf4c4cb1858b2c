"""Fixtures for the state-database tests: fresh in-memory databases, closed afterwards."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from epaxdb.storage import StateDatabase


@pytest.fixture
def open_db() -> Iterator[Callable[[], StateDatabase]]:
    """A factory of fresh in-memory state databases (each one a separate replica)."""
    opened: list[StateDatabase] = []

    def factory() -> StateDatabase:
        db = StateDatabase.open(":memory:")
        opened.append(db)
        return db

    yield factory
    for db in opened:
        db.close()


@pytest.fixture
def db(open_db: Callable[[], StateDatabase]) -> StateDatabase:
    return open_db()
