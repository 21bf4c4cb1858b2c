"""The state database: applies replicated transactions deterministically, exactly once.

Theory of operation.

Opening. `StateDatabase.open(path)` makes sure SQLite's 'localtime' means UTC in this
process (`timezone`), opens the file (or ":memory:") through a private VFS whose clock
the engine sets (`clock`), applies the cluster SQL settings (`settings`), switches a file
to WAL, overrides random()/randomblob() with seeded versions
(`seeded_random`), creates the bookkeeping tables (`bookkeeping`) and installs the
statement guard (`guard`). One thread uses a `StateDatabase` at a time.

Durability. By default every commit is durable when it returns (`synchronous=FULL`:
an fsync of the WAL per commit). Opened with `sync_each_commit=False` (a replica: its
log holds every committed command, so a commit lost to a power failure is executed
again on restart) a commit only reaches the operating system (`synchronous=NORMAL`,
which keeps the file consistent but not durable) and `sync()` makes every commit so
far durable: it fsyncs the WAL, which holds every commit since the last checkpoint,
and SQLite fsyncs the database file at each checkpoint before the WAL is reused.
A process crash loses nothing either way: the data is in the kernel's page cache.

Executing (`execute_batch`). A batch of replicated commands runs in ONE SQLite
transaction (BEGIN IMMEDIATE ... COMMIT: one commit, at most one fsync), so a crash at any point
leaves either all of it or none. Each transaction of the batch, in order:

1. If the request id was applied before, record the marker and return the stored
   result (an idempotent retry).
2. If the analysis was made under another schema version, the result is the retryable
   error `schema_changed` (recorded, so every replica answers alike).
3. Otherwise set the VFS clock to the transaction's timestamp, reseed random(), reset
   `changes()` and `last_insert_rowid()` to 0, open a SAVEPOINT and run the statements.
   A deterministic failure (constraint, RAISE in a trigger, datatype mismatch, SQL
   error, a statement the guard refuses, bad parameters) rolls back to the savepoint
   (undoing that transaction's statements and nothing else) and becomes the result.
   An interactive transaction (`spec.validation`) commits only if its statements
   produce the observation chain the client saw (`observation`), statements that
   failed for the client failing alike; otherwise its effects are rolled back and the
   result is `serialization_failure` (retryable). A schema change or a transaction
   older than its age limit gives the same result.
4. Store the result under the request id with the transaction's timestamp (not for a
   read-only transaction: running it again changes nothing), record the executed
   marker, bump the executed count.

The savepoint is what keeps each transaction atomic inside the batch; the bookkeeping
after it cannot fail deterministically (a failure there is an `SqliteFailure`, which
discards the whole batch). One failure escapes a savepoint: `RAISE(ROLLBACK)` and
`ON CONFLICT ROLLBACK` end the whole SQLite transaction, the batch's earlier
transactions included. The engine then runs those earlier ones again in a transaction
of their own (execution is deterministic, so they give the same results; checked) and
commits it, and goes on from the failing transaction in a new one, where the loss
undoes that transaction alone and a new SQLite transaction takes the bookkeeping.

A purge (`PurgeSpec`) deletes the stored results of requests first executed before its
cutoff (at most its `limit`, the oldest first) and records its marker; the first purge
on a database created before results carried their execution time adds that column
(`bookkeeping`). `has_results_before` tells whether a purge would delete anything.

Previewing (`preview`). An interactive transaction's statements run, before its commit,
on the current state with its clock and seed, exactly as above but in a transaction
that is always rolled back: nothing is recorded, nothing is left behind. A progress
handler aborts statements that run past the caller's deadline (`PreviewInterrupted`).

Any other SQLite failure (I/O error, disk full, busy, out of memory, corruption) is not
a property of the transaction: it is raised as `SqliteFailure`, nothing of the batch is
recorded, and the database refuses all further calls (`DatabaseStopped`); the replica
restarts from what is durable. Any other exception escaping a batch stops it too.
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from functools import partial
from typing import NamedTuple, Self, TypeVar, cast

import apsw

from epaxdb.errors import ConfigError, InvariantViolation
from epaxdb.storage import bookkeeping as bk
from epaxdb.storage import observation
from epaxdb.storage.clock import TransactionClockVFS
from epaxdb.storage.errors import (
    DatabaseStopped,
    LocalQueryError,
    PreviewInterrupted,
    SqliteFailure,
)
from epaxdb.storage.guard import Mode, StatementGuard
from epaxdb.storage.results import (
    SCHEMA_CHANGED,
    SERIALIZATION_FAILURE,
    Marker,
    Params,
    PreviewSpec,
    PurgeResult,
    PurgeSpec,
    RowsResult,
    StatementRun,
    TransactionError,
    TransactionResult,
    TransactionSpec,
    WriteResult,
)
from epaxdb.storage.seeded_random import RandomFunctions
from epaxdb.storage.settings import ClusterSqlSettings, apply_settings
from epaxdb.storage.state_hash import USER_SCHEMA, compute_state_hash
from epaxdb.storage.statement_runner import StatementRunner, code_name
from epaxdb.storage.timezone import ensure_utc_localtime

T = TypeVar("T")
# SQLite virtual-machine steps between two deadline checks of a preview.
_PROGRESS_STEPS = 1000

ReplicatedCommand = TransactionSpec | PurgeSpec
CommandResult = TransactionResult | PurgeResult


class _TransactionLost(Exception):
    """A statement's RAISE(ROLLBACK) or ON CONFLICT ROLLBACK ended the SQLite transaction
    that also held earlier commands of the batch; `done` are their (undone) results."""

    def __init__(self, done: list[CommandResult]) -> None:
        super().__init__(f"the transaction of {len(done)} earlier command(s) was rolled back")
        self.done = done


class CatalogRow(NamedTuple):
    type: str
    name: str
    tbl_name: str
    sql: str | None


def sqlite_version() -> str:
    """The SQLite library version; replicas of one cluster must agree on it."""
    return apsw.sqlite_lib_version()


class StateDatabase:
    def __init__(
        self,
        db: apsw.Connection,
        vfs: TransactionClockVFS,
        settings: ClusterSqlSettings,
        *,
        wal_path: str | None = None,
    ) -> None:
        self._db = db
        self._wal_path = wal_path
        self._vfs = vfs
        self.settings = settings
        self._random = RandomFunctions(db)
        bk.create_tables(db)
        self._guard = StatementGuard(db, bk.INTERNAL_STATEMENTS)
        self._internal = db.cursor()
        self._runner = StatementRunner(
            db, self._guard, lambda: self._one(bk.SEQUENCE_AT_MAX) is not None
        )
        self._stopped: str | None = None
        # Whether stored results carry their execution time (see `bookkeeping`); it
        # changes only inside a purge's transaction, and is restored if that rolls back.
        self._results_timed = bool(self._scalar(bk.RESULTS_ARE_TIMED))
        # The results of the commands executed so far in the open write transaction.
        self._done_in_transaction: list[CommandResult] = []

    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str],
        settings: ClusterSqlSettings | None = None,
        *,
        sync_each_commit: bool = True,
    ) -> StateDatabase:
        """Open (creating if needed) a state database; ":memory:" for a private one.
        `sync_each_commit=False`: commits are durable only after `sync()`."""
        ensure_utc_localtime()
        settings = settings or ClusterSqlSettings()
        vfs = TransactionClockVFS()
        filename = os.fspath(path)
        try:
            db = apsw.Connection(filename, vfs=vfs.vfs_name)
        except apsw.Error as exc:
            vfs.unregister()
            raise SqliteFailure(code_name(exc), str(exc)) from exc
        try:
            if filename != ":memory:":
                (mode,) = db.execute("PRAGMA journal_mode = WAL", can_cache=False).fetchone()
                if str(mode).lower() != "wal":
                    raise ConfigError(f"{filename}: cannot use WAL (journal_mode={mode})")
                synchronous = "FULL" if sync_each_commit else "NORMAL"
                db.execute(f"PRAGMA synchronous = {synchronous}", can_cache=False)
            apply_settings(db, settings)
            wal_path = None if filename == ":memory:" else filename + "-wal"
            return cls(db, vfs, settings, wal_path=wal_path)
        except apsw.Error as exc:
            db.close()
            vfs.unregister()
            raise SqliteFailure(code_name(exc), str(exc)) from exc
        except BaseException:
            db.close()
            vfs.unregister()
            raise

    def sync(self) -> None:
        """Make every transaction committed so far durable (see "Durability")."""
        self._check_usable()
        if self._wal_path is None:
            return
        try:
            fd = os.open(self._wal_path, os.O_RDONLY)
        except FileNotFoundError:
            return  # no WAL: everything was checkpointed into the (synced) database file
        except OSError as exc:
            self._stop(exc)
            raise SqliteFailure("IOERR", f"cannot open {self._wal_path}: {exc}") from exc
        try:
            os.fsync(fd)
        except OSError as exc:
            # After a failed fsync the kernel may have dropped the dirty pages: stop.
            self._stop(exc)
            raise SqliteFailure("IOERR_FSYNC", f"cannot sync {self._wal_path}: {exc}") from exc
        finally:
            os.close(fd)

    def close(self) -> None:
        if self._stopped == "closed":
            return
        self._stopped = "closed"
        self._db.close()
        self._vfs.unregister()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # -- replicated execution -------------------------------------------------------

    def execute_transaction(self, txn: TransactionSpec) -> TransactionResult:
        """Apply one replicated transaction exactly once (see the module docstring)."""
        (result,) = self.execute_batch([txn])
        return cast(TransactionResult, result)

    def has_results_before(self, cutoff_ms: int) -> bool:
        """Whether a purge with this cutoff would forget anything (always, on a database
        whose results do not carry their execution time yet: the purge adds it)."""
        self._check_usable()
        if not self._results_timed:
            return True
        return self._in_read_transaction(
            lambda: self._one(bk.ANY_RESULT_BEFORE, (cutoff_ms,)) is not None
        )

    def purge_results(self, spec: PurgeSpec) -> PurgeResult:
        """Forget the stored results of requests first executed before the cutoff."""
        (result,) = self.execute_batch([spec])
        return cast(PurgeResult, result)

    def execute_batch(self, commands: Sequence[ReplicatedCommand]) -> list[CommandResult]:
        """Apply replicated commands in order, each exactly once and atomically, all in
        one SQLite transaction (see the module docstring); one result per command."""
        self._check_usable()
        results: list[CommandResult] = []
        rest = list(commands)
        try:
            while rest:
                try:
                    results += self._in_write_transaction(partial(self._execute_all, rest))
                    rest = []
                except _TransactionLost as lost:
                    # Redo what the rollback undid, commit it, go on from the failing one.
                    earlier = rest[: len(lost.done)]
                    redone = self._in_write_transaction(partial(self._redo, earlier))
                    if redone != lost.done:
                        raise InvariantViolation(
                            "commands executed again after a ROLLBACK gave other results"
                        ) from None
                    results += redone
                    rest = rest[len(earlier) :]
        except BaseException as exc:
            # Whatever escapes (an invariant violation, a bug, a failing disk) leaves
            # this batch undone while the caller may already hold the next one: refuse
            # every later call, or a later batch could commit past this one and replay
            # would run them out of order (found by a test injecting a failure).
            if self._stopped is None:
                self._stop(exc)
            raise
        finally:
            self._vfs.now_ms = None
        return results

    def _execute_all(self, commands: Sequence[ReplicatedCommand]) -> list[CommandResult]:
        done = self._done_in_transaction = []
        try:
            for command in commands:
                if isinstance(command, PurgeSpec):
                    done.append(self._purge(command))
                else:
                    self._vfs.now_ms = command.timestamp_ms
                    self._random.reseed(command.seed)
                    done.append(self._apply_once(command))
            return done
        finally:
            self._done_in_transaction = []

    def _redo(self, commands: Sequence[ReplicatedCommand]) -> list[CommandResult]:
        try:
            return self._execute_all(commands)
        except _TransactionLost:
            raise InvariantViolation(
                "a command that kept its transaction the first time lost it when executed again"
            ) from None

    def _apply_once(self, txn: TransactionSpec) -> TransactionResult:
        marker = txn.executed_marker
        stored = self._stored(txn.request_id)
        if stored is not None:
            self._record_marker(marker)
            return replace(stored, duplicate=True)
        # (A read-only transaction stores no result: finding its marker means it ran
        # here before, in a batch a crash cut short, and running it again is harmless.)
        if txn.stores_result and self._one(bk.SELECT_MARKER, (marker,)) is not None:
            raise InvariantViolation(
                f"marker {marker!r} was executed before under another request id "
                f"than {txn.request_id!r}"
            )
        result = self._apply(txn)
        if txn.stores_result:
            if self._results_timed:
                self._run(bk.INSERT_RESULT,
                          (txn.request_id, marker, result.encode(), txn.timestamp_ms))  # fmt: skip
            else:
                self._run(bk.INSERT_RESULT_UNTIMED, (txn.request_id, marker, result.encode()))
        self._record_marker(marker)
        return replace(result, marker=marker)

    def _purge(self, spec: PurgeSpec) -> PurgeResult:
        if not self._results_timed:
            bk.migrate_results(self._db, spec.timestamp_ms)
            self._results_timed = True
        if spec.limit is None:
            self._run(bk.PURGE_RESULTS, (spec.cutoff_ms,))
        else:
            self._run(bk.PURGE_OLDEST_RESULTS, (spec.cutoff_ms, spec.limit))
        removed = self._db.changes()
        self._record_marker(spec.executed_marker)
        return PurgeResult(spec.request_id, removed, spec.executed_marker)

    def _stored(self, request_id: str) -> TransactionResult | None:
        row = self._one(bk.SELECT_RESULT, (request_id,))
        if row is None:
            return None
        blob, marker = row
        return replace(TransactionResult.decode(request_id, blob), marker=marker)  # type: ignore[arg-type]

    def _apply(self, txn: TransactionSpec) -> TransactionResult:
        check = txn.validation
        if txn.schema_version is not None:
            current = self._scalar(bk.SCHEMA_VERSION)
            if current != txn.schema_version:
                # The conflict keys were computed for another schema, so this position
                # in the order proves nothing; an interactive transaction must run
                # again from its first statement (hence its serialization failure).
                code = SCHEMA_CHANGED if check is None else SERIALIZATION_FAILURE
                return _retryable(
                    txn, code, f"analysed under schema version {txn.schema_version}, "
                    f"executed under {current}; submit the transaction again",
                )  # fmt: skip
        if check is not None and check.expired:
            return _retryable(
                txn, SERIALIZATION_FAILURE, f"the transaction began {check.age_ms} ms before "
                f"its commit, beyond the limit of {check.max_age_ms} ms; run it again",
            )  # fmt: skip
        self._reset_connection_state()
        self._run(bk.SAVEPOINT)
        run = self._runner.run(
            txn.statements,
            expected_failures=check.expected_failures if check is not None else (),
            chained=check is not None,
            mode=Mode.REPLICATED if txn.stores_result else Mode.REPLICATED_READ,
        )
        error = run.failure
        if check is not None and (run.failure is not None or _chain_end(run) != check.digest):
            error = TransactionError(
                SERIALIZATION_FAILURE,
                "what the transaction read changed before it could commit; run it again",
                retryable=True,
            )
        if error is None and self._db.status(apsw.SQLITE_DBSTATUS_DEFERRED_FKS)[0]:
            # A deferred foreign key is still violated. COMMIT would fail; fail here,
            # where the savepoint can still undo the statements alone.
            error = TransactionError(
                "SQLITE_CONSTRAINT_FOREIGNKEY",
                "FOREIGN KEY constraint failed (deferred, checked at commit)",
            )
        if error is not None:
            self._undo_statements()
            return TransactionResult(txn.request_id, error=error)
        self._run(bk.RELEASE_SAVEPOINT)
        return TransactionResult(txn.request_id, run.results)

    def _reset_connection_state(self) -> None:
        self._run(bk.RESET_CHANGES)
        self._db.set_last_insert_rowid(0)

    def _undo_statements(self) -> None:
        if self._db.get_autocommit():
            # RAISE(ROLLBACK) or an ON CONFLICT ROLLBACK clause ended the whole
            # transaction. If it held earlier commands of the batch, they must be done
            # again (`execute_batch`); otherwise the effects are gone, as they should
            # be, and the bookkeeping needs a new transaction.
            if self._done_in_transaction:
                raise _TransactionLost(list(self._done_in_transaction))
            self._run(bk.BEGIN_WRITE)
        else:
            self._run(bk.ROLLBACK_TO_SAVEPOINT)
            self._run(bk.RELEASE_SAVEPOINT)

    def _record_marker(self, marker: Marker) -> None:
        self._run(bk.INSERT_MARKER, (marker,))
        if self._db.changes():
            self._run(bk.BUMP_POSITION)

    # -- local reads ------------------------------------------------------------------

    def query_local(
        self, sql: str, params: Params = (), *, timestamp_ms: int | None = None
    ) -> RowsResult:
        """Run one read-only statement on this replica's current state (not replicated).

        'now' is the real time (or `timestamp_ms`) and random() is truly random: a local
        read answers for this replica only. Raises `LocalQueryError` for a refused or
        failing statement.
        """
        self._check_usable()
        self._vfs.now_ms = time.time_ns() // 1_000_000 if timestamp_ms is None else timestamp_ms
        self._random.reseed(secrets.randbits(64))
        try:
            outcome = self._in_read_transaction(
                lambda: self._runner.run_one(sql, params, Mode.LOCAL_READ)
            )
        finally:
            self._vfs.now_ms = None
        if isinstance(outcome, TransactionError):
            raise LocalQueryError(outcome.code, outcome.message)
        if isinstance(outcome, WriteResult):
            return RowsResult((), ())
        return outcome

    # -- previews ---------------------------------------------------------------------

    def preview(self, spec: PreviewSpec, deadline: float | None = None) -> StatementRun:
        """Run statements on the current state as an interactive transaction's commit
        would (its clock, its seed, past its expected failures, chained) and roll them
        back. Raises `PreviewInterrupted` if they run past `deadline` (a
        `time.monotonic()` value); the database stays usable."""
        self._check_usable()
        self._vfs.now_ms = spec.timestamp_ms
        self._random.reseed(spec.seed)
        try:
            return self._in_transaction(
                bk.BEGIN_WRITE, bk.ROLLBACK, lambda: self._preview(spec, deadline)
            )
        finally:
            self._vfs.now_ms = None

    def _preview(self, spec: PreviewSpec, deadline: float | None) -> StatementRun:
        self._reset_connection_state()
        if deadline is not None:
            self._db.set_progress_handler(lambda: time.monotonic() > deadline, _PROGRESS_STEPS)
        try:
            return self._runner.run(
                spec.statements, expected_failures=spec.expected_failures, chained=True
            )
        except apsw.InterruptError:
            raise PreviewInterrupted("the statements ran past the deadline") from None
        finally:
            self._db.set_progress_handler(None)

    # -- stored results -----------------------------------------------------------------

    def stored_result(self, request_id: str) -> TransactionResult | None:
        """The result stored for `request_id` (with the marker of its execution), or None
        if no transaction with that request id was executed here (or it was forgotten)."""
        self._check_usable()
        return self._in_read_transaction(lambda: self._stored(request_id))

    # -- introspection and maintenance ------------------------------------------------

    def state_hash(self) -> str:
        """Hex digest of the logical content plus the executed count (`state_hash`)."""
        self._check_usable()
        return self._in_read_transaction(
            lambda: compute_state_hash(self._db, self._scalar(bk.SELECT_POSITION))
        )

    def executed_count(self) -> int:
        self._check_usable()
        return self._in_read_transaction(lambda: self._scalar(bk.SELECT_POSITION))

    def executed_markers(self) -> frozenset[Marker]:
        """Every executed marker not yet forgotten (restores the protocol's executed set)."""
        self._check_usable()
        return self._in_read_transaction(
            lambda: frozenset(row[0] for row in self._internal.execute(bk.SELECT_MARKERS))
        )

    def forget_markers(self, markers: Iterable[Marker]) -> int:
        """Drop executed markers the runtime no longer needs; returns how many existed."""
        return self._delete_each(bk.DELETE_MARKER, markers)

    def catalog_rows(self) -> list[CatalogRow]:
        """The user objects of `sqlite_schema` (type, name, tbl_name, sql), in creation order."""
        self._check_usable()
        return self._in_read_transaction(
            lambda: [CatalogRow(*row) for row in self._internal.execute(USER_SCHEMA)]
        )

    def schema_version(self) -> int:
        self._check_usable()
        return self._in_read_transaction(lambda: self._scalar(bk.SCHEMA_VERSION))

    def sqlite_version(self) -> str:
        return sqlite_version()

    # -- plumbing -----------------------------------------------------------------------

    def _delete_each(self, sql: str, keys: Iterable[object]) -> int:
        self._check_usable()

        def delete() -> int:
            removed = 0
            for key in keys:
                self._run(sql, (key,))
                removed += self._db.changes()
            return removed

        return self._in_write_transaction(delete)

    def _in_write_transaction(self, work: Callable[[], T]) -> T:
        return self._in_transaction(bk.BEGIN_WRITE, bk.COMMIT, work)

    def _in_read_transaction(self, work: Callable[[], T]) -> T:
        return self._in_transaction(bk.BEGIN_READ, bk.ROLLBACK, work)

    def _in_transaction(self, begin: str, end: str, work: Callable[[], T]) -> T:
        """Run `work` between `begin` and `end`; any SQLite error from the engine's own
        statements (or one `work` lets through) stops the database."""
        results_timed = self._results_timed
        try:
            self._run(begin)
            try:
                value = work()
            except BaseException:
                self._rollback_quietly()
                self._results_timed = results_timed  # a migration rolled back with it
                raise
            if end != bk.ROLLBACK or not self._db.get_autocommit():
                # (A statement may already have ended the transaction it rolls back.)
                self._run(end)
            return value
        except apsw.Error as exc:
            self._stop(exc)
            raise SqliteFailure(code_name(exc), str(exc)) from exc

    def _run(self, sql: str, bindings: tuple[object, ...] = ()) -> None:
        self._internal.execute(sql, bindings).fetchall()

    def _one(self, sql: str, bindings: tuple[object, ...] = ()) -> tuple[object, ...] | None:
        rows = self._internal.execute(sql, bindings).fetchall()
        return rows[0] if rows else None

    def _scalar(self, sql: str) -> int:
        rows = self._internal.execute(sql).fetchall()
        value = rows[0][0] if rows else None
        if not isinstance(value, int):
            raise InvariantViolation(f"{sql!r} returned {value!r}, not an integer")
        return value

    def _rollback_quietly(self) -> None:
        if self._db.get_autocommit():
            return
        try:
            self._internal.execute(bk.ROLLBACK).fetchall()
        except apsw.Error:
            pass  # the failure being reported matters more; the database stops anyway

    def _stop(self, exc: BaseException) -> None:
        self._rollback_quietly()
        self._stopped = f"stopped after {type(exc).__name__}: {exc}"

    def _check_usable(self) -> None:
        if self._stopped is not None:
            raise DatabaseStopped(f"state database is {self._stopped}")


def _chain_end(run: StatementRun) -> bytes:
    return run.chain[-1] if run.chain else observation.INITIAL


def _retryable(txn: TransactionSpec, code: str, message: str) -> TransactionResult:
    return TransactionResult(txn.request_id, error=TransactionError(code, message, retryable=True))
