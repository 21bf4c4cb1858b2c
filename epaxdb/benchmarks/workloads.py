"""The transactions of `epaxdb bench`: what each workload sends, independent of where.

The same `Operation`s go to a replicated cluster over HTTP and to the single-node
SQLite baseline, so both run exactly the same SQL.

- `update`: `UPDATE epaxdb_bench_kv SET v = v + 1 WHERE id = ?`, a random row;
- `transfer`: move a random amount between two random accounts of
  `epaxdb_bench_accounts` in one transaction (two UPDATEs); the total never changes;
- `read`: `SELECT v FROM epaxdb_bench_kv WHERE id = ?`, linearizable;
- `mixed`: `read_pct` percent reads, the rest updates.

`conflict_pct` percent of the operations touch the hot row 0 (for a transfer, one of
its two accounts is account 0), so that they interfere with each other; the others
pick rows uniformly from the rest. Values always change, so SQLite never skips a write.
The tables are the benchmark's own (`epaxdb_bench_*`): setup drops and recreates them.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from epaxdb.errors import ConfigError

WORKLOADS = ("update", "transfer", "read", "mixed")
KV_TABLE = "epaxdb_bench_kv"
ACCOUNTS_TABLE = "epaxdb_bench_accounts"
INITIAL_BALANCE = 1000
_SEED_ROWS_PER_TX = 500

Statement = tuple[str, tuple[Any, ...]]

_UPDATE = f"UPDATE {KV_TABLE} SET v = v + 1 WHERE id = ?"
_READ = f"SELECT v FROM {KV_TABLE} WHERE id = ?"
_DEBIT = f"UPDATE {ACCOUNTS_TABLE} SET balance = balance - ? WHERE id = ?"
_CREDIT = f"UPDATE {ACCOUNTS_TABLE} SET balance = balance + ? WHERE id = ?"
TOTAL_QUERY = f"SELECT COUNT(*), SUM(balance) FROM {ACCOUNTS_TABLE}"


@dataclass(frozen=True, slots=True)
class Operation:
    kind: str  # "update", "transfer" or "read"
    statements: tuple[Statement, ...]

    @property
    def read_only(self) -> bool:
        return self.kind == "read"


@dataclass(frozen=True, slots=True)
class Workload:
    name: str
    rows: int = 10_000
    conflict_pct: float = 0.0
    read_pct: float = 50.0  # mixed only

    def __post_init__(self) -> None:
        if self.name not in WORKLOADS:
            raise ConfigError(f"unknown workload {self.name!r}; known: {', '.join(WORKLOADS)}")
        if self.rows < 3:
            raise ConfigError(f"a workload needs at least 3 rows, got {self.rows}")
        for label, pct in (("--conflict", self.conflict_pct), ("--reads", self.read_pct)):
            if not 0 <= pct <= 100:
                raise ConfigError(f"{label} is a percentage (0..100), got {pct:g}")

    @property
    def table(self) -> str:
        return ACCOUNTS_TABLE if self.name == "transfer" else KV_TABLE

    @property
    def expected_total(self) -> int:
        """The sum of all balances (transfer), before and after any transfers."""
        return self.rows * INITIAL_BALANCE

    def setup(self) -> Iterator[tuple[Statement, ...]]:
        """Transactions that (re)create and fill the table, in order."""
        yield ((f"DROP TABLE IF EXISTS {self.table}", ()),)
        if self.name == "transfer":
            create = (
                f"CREATE TABLE {ACCOUNTS_TABLE}(id INTEGER PRIMARY KEY, balance INTEGER NOT NULL)"
            )
            yield ((create, ()),)
            value = INITIAL_BALANCE
        else:
            create = f"CREATE TABLE {KV_TABLE}(id INTEGER PRIMARY KEY, v INTEGER NOT NULL)"
            yield ((create, ()),)
            value = 0
        for start in range(0, self.rows, _SEED_ROWS_PER_TX):
            stop = min(self.rows, start + _SEED_ROWS_PER_TX)
            values = ",".join(f"({i},{value})" for i in range(start, stop))
            yield ((f"INSERT INTO {self.table} VALUES {values}", ()),)

    def next_operation(self, rng: random.Random) -> Operation:
        kind = self.name
        if kind == "mixed":
            kind = "read" if rng.random() * 100 < self.read_pct else "update"
        hot = rng.random() * 100 < self.conflict_pct
        if kind == "transfer":
            a = 0 if hot else rng.randrange(1, self.rows)
            b = rng.randrange(1, self.rows - 1)
            if b >= a and a != 0:
                b += 1  # two distinct accounts
            if rng.random() < 0.5:
                a, b = b, a
            amount = rng.randrange(1, 100)
            return Operation("transfer", ((_DEBIT, (amount, a)), (_CREDIT, (amount, b))))
        row = 0 if hot else rng.randrange(1, self.rows)
        return Operation(kind, (((_READ if kind == "read" else _UPDATE), (row,)),))
