"""A small task tracker on the SQLAlchemy ORM. It runs on SQLite and on epaxdb alike;
only the URL differs:

    python3 examples/sqlalchemy_app/tasks.py sqlite:///tasks.db
    python3 examples/sqlalchemy_app/tasks.py \\
        'epaxdb://127.0.0.1:4001/?host=127.0.0.1:4002&host=127.0.0.1:4003'

(`pip install 'epaxdb[sqlalchemy]'` registers the epaxdb:// scheme.)
tests/examples/test_sqlalchemy_app.py runs it both ways and compares what it prints.

On epaxdb every Session transaction is serializable: when another client changed
what a transaction read before it committed, the commit raises SQLAlchemy's
`OperationalError` with the driver's `SerializationFailure` as `.orig`, and nothing
of the transaction was applied. `in_transaction` then runs the work again.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy import ForeignKey, String, case, create_engine, func, select
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import (
    DeclarativeBase,
    Mapped,
    Session,
    mapped_column,
    relationship,
    sessionmaker,
)

import epaxdb.dbapi

T = TypeVar("T")
MAX_ATTEMPTS = 5


class Base(DeclarativeBase):
    pass


class Project(Base):
    __tablename__ = "projects"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(40), unique=True)
    tasks: Mapped[list[Task]] = relationship(
        back_populates="project", cascade="all, delete-orphan", order_by="Task.id"
    )


class Task(Base):
    __tablename__ = "tasks"
    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"), index=True)
    title: Mapped[str] = mapped_column(String(80))
    estimate_h: Mapped[int]
    done: Mapped[bool] = mapped_column(default=False)
    project: Mapped[Project] = relationship(back_populates="tasks")


def in_transaction(sessions: sessionmaker[Session], work: Callable[[Session], T]) -> T:
    """Run `work` in one transaction and commit it. If the transaction lost a race
    (a serialization failure: nothing of it was applied), run it again from the start."""
    attempt = 1
    while True:
        with sessions() as session:
            try:
                result = work(session)
                session.commit()
                return result
            except OperationalError as error:
                lost_race = isinstance(error.orig, epaxdb.dbapi.SerializationFailure)
                if not lost_race or attempt >= MAX_ATTEMPTS:
                    raise
        attempt += 1


def complete(session: Session, project: str, title: str) -> int:
    """Mark a task done; the number of the project's tasks still open."""
    task = session.scalars(
        select(Task).join(Task.project).where(Project.name == project, Task.title == title)
    ).one()
    task.done = True
    return sum(not other.done for other in task.project.tasks)


def report(session: Session) -> list[str]:
    done = func.count(Task.id).filter(Task.done)
    open_hours = func.sum(case((Task.done, 0), else_=Task.estimate_h))
    rows = session.execute(
        select(Project.name, func.count(Task.id), done, open_hours)
        .outerjoin(Project.tasks)
        .group_by(Project.id)
        .order_by(Project.name)
    )
    return [
        f"{name}: {finished}/{total} done, {hours or 0} h open"
        for name, total, finished, hours in rows
    ]


def run(url: str) -> list[str]:
    out: list[str] = []
    engine = create_engine(url)
    Base.metadata.drop_all(engine)
    Base.metadata.create_all(engine)
    sessions = sessionmaker(engine)

    def plan(session: Session) -> None:
        session.add_all([
            Project(name="website", tasks=[
                Task(title="write copy", estimate_h=5),
                Task(title="draw logo", estimate_h=3),
                Task(title="deploy", estimate_h=2),
            ]),
            Project(name="release", tasks=[Task(title="changelog", estimate_h=1)]),
        ])  # fmt: skip

    in_transaction(sessions, plan)
    with sessions() as session:
        out += report(session)

    left = in_transaction(sessions, lambda s: complete(s, "website", "write copy"))
    out.append(f"website: {left} open after 'write copy'")

    try:
        in_transaction(sessions, lambda s: s.add(Project(name="website")))
    except IntegrityError as error:
        out.append(f"refused: {error.orig}")

    with sessions() as session:  # changed, then rolled back: nothing stays
        website = session.scalars(select(Project).where(Project.name == "website")).one()
        website.tasks.append(Task(title="scrapped", estimate_h=40))
        session.flush()
        out.append(f"tasks inside the transaction: {session.scalar(select(func.count(Task.id)))}")
        session.rollback()
        out.append(f"tasks after rollback: {session.scalar(select(func.count(Task.id)))}")

    def move_deploy(session: Session) -> str:
        task = session.scalars(select(Task).where(Task.title == "deploy")).one()
        task.project = session.scalars(select(Project).where(Project.name == "release")).one()
        return task.project.name

    out.append(f"'deploy' moved to {in_transaction(sessions, move_deploy)}")
    with sessions() as session:
        out += report(session)

    def drop_website(session: Session) -> None:
        session.delete(session.scalars(select(Project).where(Project.name == "website")).one())

    in_transaction(sessions, drop_website)
    with sessions() as session:
        titles = session.scalars(select(Task.title).order_by(Task.id)).all()
        out.append(f"after deleting 'website': {', '.join(titles)}")
    engine.dispose()
    return out


if __name__ == "__main__":
    print("\n".join(run(sys.argv[1] if len(sys.argv) > 1 else "sqlite://")))
