"""Plans for CREATE / DROP / ALTER statements.

DDL changes the schema every other analysis depends on, so it is always
global (it interferes with every transaction). What is checked here is only
what would make it unreplicable or make later statements non-deterministic:
TEMP objects, schemas other than `main`, column defaults and the bodies of
views, triggers and CREATE TABLE ... AS SELECT (same function rules as for
ordinary statements), and virtual-table modules.
"""

from __future__ import annotations

from analyzer import ddl
from analyzer.errors import (
    AnalyzerError,
    NonDeterministicError,
    NotReplicableError,
    UnsupportedError,
)
from analyzer.parsing import parse_statement
from analyzer.plan import StatementPlan
from analyzer.planner import plan_dml
from analyzer.schema import Schema, check_trigger_body, read_default
from analyzer.sqltext import PreparedText, prepare
from analyzer.tree import check_qualifier

# Virtual-table modules whose content is replicated like any table's. Others
# (dbstat shows page layout, which differs between replicas) are refused.
VIRTUAL_TABLE_MODULES = frozenset(
    {
        "fts3",
        "fts4",
        "fts5",
        "rtree",
        "rtree_i32",
        "geopoly",
        "fts5vocab",
        "fts4aux",
        "fts3tokenize",
    }
)


def plan_ddl(prepared: PreparedText, schema: Schema) -> StatementPlan:
    try:
        notes = _check(prepared, schema)
    except ddl.DdlError as error:
        raise UnsupportedError(
            "unsupported_statement", f"cannot analyse this {prepared.verb} statement: {error}"
        ) from None
    return StatementPlan(
        kind="ddl",
        params=prepared.params,
        is_global=True,
        notes=tuple(dict.fromkeys(notes + ["interferes with everything: schema change"])),
    )


def _check(prepared: PreparedText, schema: Schema) -> list[str]:
    tokens, sql = prepared.tokens, prepared.sql
    if prepared.verb == "DROP":
        drop = ddl.parse_drop(tokens)
        check_qualifier(drop.qualifier, f"{drop.kind} {drop.name!r}")
        return []
    if prepared.verb == "ALTER":
        alter = ddl.parse_alter(tokens, sql)
        check_qualifier(alter.qualifier, f"table {alter.table!r}")
        return _column_notes(alter.table, alter.added_column, sql) if alter.added_column else []
    kind = next((t.upper for t in tokens[1:3] if t.upper not in ("TEMP", "TEMPORARY")), "")
    if kind == "TABLE":
        table = ddl.parse_create_table(tokens, sql)
        _refuse_temporary(table.temporary, f"table {table.name!r}")
        check_qualifier(table.qualifier, f"table {table.name!r}")
        notes = []
        for column in table.columns:
            notes += _column_notes(table.name, column, sql)
        if table.as_select is not None:
            notes += _select_notes(table.as_select.text(sql), schema, f"table {table.name!r}")
        return notes
    if kind in ("INDEX", "UNIQUE"):
        index = ddl.parse_create_index(tokens)
        check_qualifier(index.qualifier, f"index {index.name!r}")
        return []
    if kind == "VIEW":
        view = ddl.parse_create_view(tokens)
        _refuse_temporary(view.temporary, f"view {view.name!r}")
        check_qualifier(view.qualifier, f"view {view.name!r}")
        return _select_notes(view.select.text(sql), schema, f"view {view.name!r}")
    if kind == "TRIGGER":
        trigger = ddl.parse_create_trigger(tokens)
        _refuse_temporary(trigger.temporary, f"trigger {trigger.name!r}")
        check_qualifier(trigger.qualifier, f"trigger {trigger.name!r}")
        return check_trigger_body(trigger, sql)
    if kind == "VIRTUAL":
        virtual = ddl.parse_create_virtual_table(tokens)
        check_qualifier(virtual.qualifier, f"table {virtual.name!r}")
        if virtual.module not in VIRTUAL_TABLE_MODULES:
            raise UnsupportedError(
                "unsupported_statement",
                f"virtual table module {virtual.module!r} is not replicable",
            )
        return []
    raise ddl.DdlError(f"unknown CREATE {kind}")


def _refuse_temporary(temporary: bool, what: str) -> None:
    if temporary:
        raise NotReplicableError("temp_object", f"{what} would be TEMP, which is connection-local")


def _column_notes(table: str, column: ddl.ColumnDef, sql: str) -> list[str]:
    """Refuse a default that could never be replicated; note the others."""
    default = read_default(table, column)
    if default is None:
        return []
    if default.problem is not None:
        raise default.problem.error()
    return list(default.notes)


def _select_notes(text: str, schema: Schema, what: str) -> list[str]:
    prepared = prepare(text)
    if prepared.verb not in ("SELECT", "VALUES"):
        raise UnsupportedError("unsupported_statement", f"{what} is not defined by a SELECT")
    try:
        plan = plan_dml(prepared, parse_statement(prepared), schema)
    except AnalyzerError as error:
        raise type(error)(error.code, f"{what}: {error.reason}") from None
    if plan.needs_prior_write:
        raise NonDeterministicError(
            "connection_state",
            f"{what} calls {plan.needs_prior_write}, which depends on connection state",
        )
    return list(plan.notes)
