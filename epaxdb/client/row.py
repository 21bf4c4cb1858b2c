"""`Row`: a result row addressable by index and by column name, like `sqlite3.Row`.

Use it as a connection's or cursor's `row_factory`. Names match case-insensitively;
two rows are equal when their columns and values are; `keys()` lists the columns.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Protocol


class _HasDescription(Protocol):
    @property
    def description(self) -> tuple[tuple[Any, ...], ...] | None: ...


class Row:
    __slots__ = ("_columns", "_values")

    def __init__(self, cursor: _HasDescription, values: tuple[Any, ...]) -> None:
        description = cursor.description or ()
        self._columns: tuple[str, ...] = tuple(column[0] for column in description)
        self._values = tuple(values)
        if len(self._columns) != len(self._values):
            raise ValueError("a Row needs exactly one value per column of the description")

    def keys(self) -> list[str]:
        return list(self._columns)

    def __getitem__(self, key: int | str | slice) -> Any:
        if isinstance(key, str):
            folded = key.casefold()
            for column, value in zip(self._columns, self._values):
                if column.casefold() == folded:
                    return value
            raise IndexError(f"No item with that key: {key!r}")
        return self._values[key]

    def __len__(self) -> int:
        return len(self._values)

    def __iter__(self) -> Iterator[Any]:
        return iter(self._values)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Row):
            return NotImplemented
        return self._columns == other._columns and self._values == other._values

    def __hash__(self) -> int:
        return hash((self._columns, self._values))

    def __repr__(self) -> str:
        pairs = ", ".join(f"{c}={v!r}" for c, v in zip(self._columns, self._values))
        return f"<Row {pairs}>"
