"""Small read-only helpers over sqlglot trees, shared by the schema and the planner."""

from __future__ import annotations

from dataclasses import dataclass

from sqlglot import exp

from analyzer.errors import NotReplicableError
from analyzer.functions import placeholder_index
from analyzer.tokens import fold
from analyzer.values import (
    INT64_MIN,
    NEGATED_INT64_MIN_TEXT,
    UNKNOWN,
    literal_number,
    negate,
)

ROWID_NAMES = frozenset({"rowid", "_rowid_", "oid"})
SCHEMA_TABLES = frozenset({"sqlite_master", "sqlite_schema"})
TEMP_SCHEMA_TABLES = frozenset({"sqlite_temp_master", "sqlite_temp_schema"})


@dataclass(frozen=True, slots=True)
class TableRef:
    node: exp.Expr  # the exp.Table (or the exp.Column of `x IN table`)
    name: str  # folded


def check_qualifier(qualifier: str | None, what: str) -> None:
    """Only the main database is replicated."""
    if qualifier is None or qualifier == "main":
        return
    if qualifier == "temp":
        raise NotReplicableError("temp_object", f"{what} is in the connection-local temp schema")
    raise NotReplicableError(
        "other_schema", f"{what} is in schema {qualifier!r}; only 'main' is replicated"
    )


def table_refs(tree: exp.Expr) -> list[TableRef]:
    """Every reference to a stored table or view in `tree`, CTE names included
    (callers decide what a name means). Index names of INDEXED BY and
    table-valued functions are left out."""
    indexed = {id(t.args["indexed"]) for t in tree.find_all(exp.Table) if t.args.get("indexed")}
    refs = []
    for node in tree.walk():
        if isinstance(node, exp.Table):
            if id(node) in indexed or not isinstance(node.this, exp.Identifier):
                if not isinstance(node.this, exp.Identifier):
                    check_qualifier(_qualifier(node.args.get("db")), "a table-valued function")
                continue
            if node.args.get("catalog"):
                raise NotReplicableError("other_schema", f"{node.sql()!r} names another catalog")
            check_qualifier(_qualifier(node.args.get("db")), f"table {node.name!r}")
            refs.append(TableRef(node, fold(node.name)))
        elif isinstance(node, exp.In) and isinstance(node.args.get("field"), exp.Column):
            column = node.args["field"]  # `x IN tablename`
            check_qualifier(_qualifier(column.args.get("table")), f"table {column.name!r}")
            refs.append(TableRef(column, fold(column.name)))
    return refs


def _qualifier(identifier: exp.Expr | None) -> str | None:
    return None if identifier is None else fold(identifier.name)


def cte_names(tree: exp.Expr) -> frozenset[str]:
    return frozenset(fold(cte.alias) for cte in tree.find_all(exp.CTE))


def conjuncts(where: exp.Expr | None) -> list[exp.Expr]:
    """The AND-ed terms of a WHERE condition (parentheses removed)."""
    if where is None:
        return []
    if isinstance(where, exp.Where):
        where = where.this
    while isinstance(where, exp.Paren):
        where = where.this
    if isinstance(where, exp.And):
        return conjuncts(where.this) + conjuncts(where.expression)
    return [where]


@dataclass(frozen=True, slots=True)
class Param:
    """A key value taken from bound parameter number `index` (0-based)."""

    index: int


@dataclass(frozen=True, slots=True)
class Const:
    """A key value written as a literal."""

    value: object


def value_source(node: exp.Expr) -> Param | Const | None:
    """Where a key value comes from, if it is a literal or a bare parameter."""
    while isinstance(node, exp.Paren):
        node = node.this
    if isinstance(node, exp.Placeholder):
        return Param(placeholder_index(node))
    if isinstance(node, exp.Literal):
        if node.is_string:
            return Const(node.this)
        value = literal_number(node.this)
        return None if value is UNKNOWN else Const(value)
    if isinstance(node, exp.Neg) and isinstance(node.this, exp.Literal) and not node.this.is_string:
        if node.this.this == NEGATED_INT64_MIN_TEXT:
            return Const(INT64_MIN)
        value = negate(literal_number(node.this.this))
        return None if value is UNKNOWN else Const(value)
    if isinstance(node, exp.Null):
        return Const(None)
    if isinstance(node, exp.Boolean):
        return Const(1 if node.this else 0)
    if isinstance(node, exp.HexString):
        return Const(bytes.fromhex(node.this))
    return None


def column_name(node: exp.Expr, aliases: frozenset[str]) -> str | None:
    """The folded column name if `node` is a bare column of the table known by
    `aliases` (its name or alias), else None."""
    if not isinstance(node, exp.Column) or not isinstance(node.this, exp.Identifier):
        return None
    if node.args.get("db") is not None or node.args.get("catalog") is not None:
        return None
    qualifier = node.args.get("table")
    if qualifier is not None and fold(qualifier.name) not in aliases:
        return None
    return fold(node.name)
