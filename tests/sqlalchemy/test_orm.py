"""The ORM on a 3-replica cluster: Session CRUD with a relationship, commit and
rollback, and two sessions on different replicas updating the same row: one commits,
the other gets SQLAlchemy's OperationalError wrapping the serialization failure, and
succeeds when run again."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

sqlalchemy = pytest.importorskip(
    "sqlalchemy", minversion="2.0", reason="SQLAlchemy 2 is not installed (`python3 dev.py test`)"
)
from sqlalchemy import ForeignKey, String, exc, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import (
    DeclarativeBase,
    Mapped,
    Session,
    mapped_column,
    relationship,
)

import epaxdb.dbapi

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(180)]


class Base(DeclarativeBase):
    pass


class Author(Base):
    __tablename__ = "orm_authors"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(60), unique=True)
    books: Mapped[list[Book]] = relationship(
        back_populates="author", cascade="all, delete-orphan", order_by="Book.id"
    )


class Book(Base):
    __tablename__ = "orm_books"
    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str]
    copies: Mapped[int] = mapped_column(default=1)
    author_id: Mapped[int] = mapped_column(ForeignKey("orm_authors.id"))
    author: Mapped[Author] = relationship(back_populates="books")


@pytest.fixture
def engine(sqlalchemy_urls: list[str]) -> Iterator[Engine]:
    """An engine on replica 0, with the tables created afresh."""
    engine = sqlalchemy.create_engine(sqlalchemy_urls[0])
    Base.metadata.drop_all(engine)
    Base.metadata.create_all(engine)
    yield engine
    engine.dispose()


def following(url: str, engine: Engine) -> Engine:
    """An engine on another replica whose reads see every commit `engine` made: its
    connections start from the newest commit token of `engine`'s (pooled) one."""
    with engine.connect() as conn:
        token = conn.connection.dbapi_connection.commit_token
    return sqlalchemy.create_engine(url, connect_args={"after": token})


def test_session_adds_queries_and_follows_the_relationship(
    engine: Engine, sqlalchemy_urls: list[str]
) -> None:
    with Session(engine) as session:
        author = Author(name="Le Guin", books=[Book(title="Lathe"), Book(title="Tehanu")])
        session.add_all([author, Author(name="Jemisin")])
        session.commit()
        assert [book.id for book in author.books] == [1, 2]
    reader = following(sqlalchemy_urls[1], engine)
    with Session(reader) as session:
        found = session.scalars(select(Author).where(Author.name == "Le Guin")).one()
        assert [(book.title, book.author.name) for book in found.books] == [
            ("Lathe", "Le Guin"),
            ("Tehanu", "Le Guin"),
        ]
        found.books[1].copies = 3
        session.delete(found.books[0])
        session.commit()
    check = following(sqlalchemy_urls[0], reader)
    reader.dispose()
    with Session(check) as session:
        assert session.execute(select(Book.title, Book.copies)).all() == [("Tehanu", 3)]
    check.dispose()


def test_a_rolled_back_session_leaves_nothing(engine: Engine) -> None:
    with Session(engine) as session:
        session.add(Author(name="nobody", books=[Book(title="draft")]))
        session.flush()  # the rows exist inside the transaction
        assert session.scalar(select(sqlalchemy.func.count()).select_from(Book)) == 1
        session.rollback()
        assert session.scalar(select(sqlalchemy.func.count()).select_from(Book)) == 0


def test_an_orphan_book_violates_the_foreign_key(engine: Engine) -> None:
    with Session(engine) as session:
        session.add(Book(title="orphan", author_id=42))
        with pytest.raises(exc.IntegrityError) as raised:
            session.commit()
    assert raised.value.orig.code == "SQLITE_CONSTRAINT_FOREIGNKEY"


def test_conflicting_sessions_on_two_replicas_one_gets_a_serialization_failure(
    engine: Engine, sqlalchemy_urls: list[str]
) -> None:
    with Session(engine) as session:
        session.add(Author(id=1, name="shared", books=[Book(id=1, title="t", copies=10)]))
        session.commit()
    second = following(sqlalchemy_urls[1], engine)

    first_session, second_session = Session(engine), Session(second)
    mine, theirs = first_session.get(Book, 1), second_session.get(Book, 1)
    assert mine is not None and theirs is not None
    mine.copies -= 1  # both read 10, both write 9: one of them must not commit
    theirs.copies -= 1
    first_session.commit()
    with pytest.raises(exc.OperationalError) as conflict:
        second_session.commit()
    assert isinstance(conflict.value.orig, epaxdb.dbapi.SerializationFailure)
    assert conflict.value.orig.retryable
    second_session.rollback()  # as after any failed commit; nothing was applied

    # run again: it reads 9 now and writes 8
    theirs = second_session.get(Book, 1, populate_existing=True)
    assert theirs is not None and theirs.copies == 9
    theirs.copies -= 1
    second_session.commit()
    first_session.close()
    second_session.close()
    # replica 0 is read after the second engine's commit (a read that is rolled back,
    # not committed, is not validated: without the token it could be behind)
    check = following(sqlalchemy_urls[0], second)
    second.dispose()
    with Session(check) as session:
        assert session.get(Book, 1).copies == 8
    check.dispose()
