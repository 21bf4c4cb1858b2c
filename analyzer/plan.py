"""What the analyzer remembers about one SQL text under one schema.

A `StatementPlan` is built once per (schema, SQL text) and cached; it holds
key *templates* whose values are literals or parameter references, so that
binding new parameters to a cached plan only converts a few values (the hot
path: no parsing, no tree walking).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from analyzer.functions import check_modifier_value
from analyzer.keys import Key
from analyzer.schema import KeyColumn
from analyzer.sqltext import ParamSpec
from analyzer.tree import Const, Param
from analyzer.values import UNKNOWN


@dataclass(frozen=True, slots=True)
class KeyTemplate:
    """Keys of one table: the whole table, or one key per row of `rows`."""

    table: str
    columns: tuple[KeyColumn, ...] | None  # None: the whole table
    rows: tuple[tuple[Param | Const, ...], ...] = ()
    whole: Key = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "whole", Key(self.table, None))

    @classmethod
    def whole_table(cls, table: str) -> KeyTemplate:
        return cls(table, None)

    def bind(self, params: tuple, out: set[Key]) -> None:
        """Add the keys for `params` to `out` (the whole table when a value's
        stored form cannot be predicted)."""
        columns = self.columns
        if columns is None:
            out.add(self.whole)
            return
        keys = []
        for row in self.rows:
            values = []
            for source, column in zip(row, columns):
                value = params[source.index] if source.__class__ is Param else source.value
                value = column.convert(value)
                if value is UNKNOWN:
                    out.add(self.whole)
                    return
                values.append(value)
            keys.append(Key(self.table, tuple(values)))
        out.update(keys)


@dataclass(frozen=True, slots=True)
class StatementPlan:
    kind: str  # "read", "write" (INSERT/UPDATE/DELETE) or "ddl"
    params: ParamSpec
    reads: tuple[KeyTemplate, ...] = ()
    writes: tuple[KeyTemplate, ...] = ()
    is_global: bool = False
    notes: tuple[str, ...] = ()
    needs_prior_write: str | None = None  # e.g. "changes()"
    unknown_tables: tuple[str, ...] = ()
    modifier_params: tuple[int, ...] = ()  # parameters used as date/time modifiers

    def check_parameters(self, params: tuple) -> None:
        for index in self.modifier_params:
            check_modifier_value(params[index])
