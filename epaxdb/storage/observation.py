"""The digest of what an interactive transaction observed, as a hash chain.

An interactive transaction is validated at commit by re-running its statements at the
commit's place in the execution order and comparing what they produce with what the
client saw when they were previewed. Both sides fold the statements' outcomes, in
order, into a chain: `chain_0 = INITIAL`, `chain_(i+1) = BLAKE2b-256(chain_i ||
entry_i)`, so the chain after *k* statements commits to the first *k* outcomes and a
preview can check a prefix the client saw earlier.

An entry encodes one outcome with `value_encoding`:
- rows: the column names, then the rows as a *multiset* (their encodings sorted), so
  a row order that no ORDER BY fixes cannot make two executions disagree;
- a write: `rows_affected` and `last_insert_rowid`;
- a deterministic failure: its code and message.
"""

from __future__ import annotations

import hashlib

from epaxdb.storage.results import RowsResult, StatementResult, TransactionError
from epaxdb.storage.value_encoding import encode_values

INITIAL = hashlib.blake2b(b"epaxdb-observation-v1", digest_size=32).digest()


def extend(chain: bytes, outcome: StatementResult | TransactionError) -> bytes:
    """The chain after `outcome`."""
    digest = hashlib.blake2b(chain, digest_size=32, person=b"epaxdb-observed")
    digest.update(_entry(outcome))
    return digest.digest()


def _entry(outcome: StatementResult | TransactionError) -> bytes:
    if isinstance(outcome, RowsResult):
        head = encode_values((b"rows", len(outcome.columns), *outcome.columns, len(outcome.rows)))
        return head + b"".join(sorted(encode_values(row) for row in outcome.rows))
    if isinstance(outcome, TransactionError):
        return encode_values((b"error", outcome.code, outcome.message))
    return encode_values((b"write", outcome.rows_affected, outcome.last_insert_rowid))
