"""Analysing a transaction: the analyzer's entry point.

Theory of operation: `analyze(statements, schema)` looks each SQL text up in
the schema's plan cache (building and caching the plan, or the refusal, on a
miss), binds the parameters, and unions the keys. The checks that depend on
the transaction as a whole happen here: changes()/last_insert_rowid() need an
earlier write in the same transaction, and tables unknown to the schema are
only acceptable after a DDL statement of the same transaction (which makes
the transaction global anyway).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from analyzer.ddl_plan import plan_ddl
from analyzer.errors import (
    AnalyzerError,
    NonDeterministicError,
    NotReplicableError,
    SqlSyntaxError,
    UnsupportedError,
)
from analyzer.keys import Key, conflict_item, key_value_to_json, sort_key
from analyzer.parsing import parse_statement
from analyzer.plan import StatementPlan
from analyzer.planner import plan_dml
from analyzer.schema import Schema
from analyzer.sqltext import prepare
from analyzer.tokens import line_col

_MAX_CACHED_PLANS = 4096

_REFUSED_VERBS = {
    "ATTACH": ("attach", "ATTACH opens another database file, which is not replicated"),
    "DETACH": ("attach", "DETACH acts on connection-local attachments"),
    "VACUUM": ("vacuum", "VACUUM may renumber implicit rowids and is a local maintenance task"),
    "ANALYZE": ("analyze", "ANALYZE writes planner statistics outside the ordered data"),
    "PRAGMA": ("pragma", "PRAGMA reads or changes connection or file settings"),
    "REINDEX": ("reindex", "REINDEX is a local maintenance task"),
}
_TRANSACTION_VERBS = frozenset({"BEGIN", "COMMIT", "END", "ROLLBACK", "SAVEPOINT", "RELEASE"})


@dataclass(frozen=True, slots=True)
class BoundStatement:
    """A statement as it will execute: the client's text and normalised parameters
    (named parameters become positional, in SQLite's parameter order)."""

    sql: str
    params: tuple


@dataclass(frozen=True, slots=True)
class Analysis:
    reads: frozenset[Key]
    writes: frozenset[Key]
    is_global: bool
    schema_version: int
    statements: tuple[BoundStatement, ...]
    notes: tuple[str, ...]

    def conflict_keys(
        self,
    ) -> tuple[frozenset[tuple[str, str | None]], frozenset[tuple[str, str | None]], bool]:
        """(reads, writes, global) for the protocol: (table, encoded key | None)
        pairs that compare equal in every process."""
        return (
            frozenset(conflict_item(k) for k in self.reads),
            frozenset(conflict_item(k) for k in self.writes),
            self.is_global,
        )

    def to_json(self) -> dict:
        """The JSON object `epaxdb explain` prints (sorted deterministically)."""

        def keys(keys: frozenset[Key]) -> list[dict]:
            return [
                {
                    "table": k.table,
                    "key": None if k.key is None else [key_value_to_json(v) for v in k.key],
                }
                for k in sorted(keys, key=sort_key)
            ]

        return {
            "global": self.is_global,
            "reads": keys(self.reads),
            "writes": keys(self.writes),
            "statements": [
                {"sql": s.sql, "params": [key_value_to_json(v) for v in s.params]}
                for s in self.statements
            ],
        }


def plan_statement(schema: Schema, sql: str) -> StatementPlan | AnalyzerError:
    """The cached plan of `sql` under `schema`, or the cached refusal."""
    plans = schema.plans
    entry = plans.get(sql)
    if entry is None:
        try:
            entry = _build_plan(schema, sql)
        except AnalyzerError as error:
            entry = error
        if len(plans) >= _MAX_CACHED_PLANS:
            plans.pop(next(iter(plans)), None)
        plans[sql] = entry
    return entry


def _build_plan(schema: Schema, sql: str) -> StatementPlan:
    if type(sql) is not str:
        raise SqlSyntaxError(
            "syntax_error", f"a statement must be a string, not {type(sql).__name__}"
        )
    prepared = prepare(sql)
    verb = prepared.verb
    if verb in _REFUSED_VERBS:
        code, reason = _REFUSED_VERBS[verb]
        raise NotReplicableError(code, reason)
    if verb in _TRANSACTION_VERBS:
        raise NotReplicableError(
            "transaction_control",
            f"{verb} inside a transaction: every transaction already runs atomically as a whole",
        )
    if verb in ("CREATE", "DROP", "ALTER"):
        return plan_ddl(prepared, schema)
    if verb in ("SELECT", "VALUES", "INSERT", "REPLACE", "UPDATE", "DELETE"):
        return plan_dml(prepared, parse_statement(prepared), schema)
    if verb == "EXPLAIN":
        raise UnsupportedError(
            "unsupported_statement", "EXPLAIN output depends on the SQLite build"
        )
    first = prepared.tokens[0]
    line, col = line_col(sql, first.start)
    raise SqlSyntaxError(
        "syntax_error", f"a statement cannot start with {first.text!r}", line=line, col=col
    )


def analyze(statements: Iterable[tuple[str, object]], schema: Schema) -> Analysis:
    """Analyse one transaction: `statements` are (sql, params) pairs where params
    is a list/tuple (positional) or a dict (named), or None."""
    reads: set[Key] = set()
    writes: set[Key] = set()
    is_global = False
    notes: list[str] = []
    bound: list[BoundStatement] = []
    wrote = False
    changed_schema = False
    for index, (sql, params) in enumerate(statements):
        plan = plan_statement(schema, sql)
        if plan.__class__ is not StatementPlan:
            raise plan.at(index, sql)  # type: ignore[union-attr]
        try:
            values = plan.params.bind(params)
            if plan.modifier_params:
                plan.check_parameters(values)
            if plan.needs_prior_write and not wrote:
                raise NonDeterministicError(
                    "connection_state",
                    f"{plan.needs_prior_write} depends on connection state unless an earlier "
                    "statement of the same transaction wrote",
                )
            if plan.unknown_tables and not changed_schema:
                raise UnsupportedError(
                    "unknown_table", f"no such table: {', '.join(plan.unknown_tables)}"
                )
        except AnalyzerError as error:
            raise error.at(index, sql) from None
        for template in plan.reads:
            template.bind(values, reads)
        for template in plan.writes:
            template.bind(values, writes)
        if plan.is_global:
            is_global = True
        if plan.notes:
            notes.extend(f"statement {index}: {note}" for note in plan.notes)
        if plan.kind == "write":
            wrote = True
        elif plan.kind == "ddl":
            changed_schema = True
        bound.append(BoundStatement(sql, values))
    return Analysis(
        reads=_without_covered(reads),
        writes=_without_covered(writes),
        is_global=is_global,
        schema_version=schema.version,
        statements=tuple(bound),
        notes=tuple(notes),
    )


def _without_covered(keys: set[Key]) -> frozenset[Key]:
    """Drop point keys of tables whose whole-table key is present."""
    whole = {k.table for k in keys if k.key is None}
    if not whole:
        return frozenset(keys)
    return frozenset(k for k in keys if k.key is None or k.table not in whole)
