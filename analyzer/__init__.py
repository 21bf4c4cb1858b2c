"""SQL analysis for epaxdb: which keys a transaction reads and writes.

The analyzer depends only on sqlglot and the standard library; it knows nothing
of EPaxos or apsw. Typical use:

    schema = Schema.from_catalog(sqlite_master_rows, version=schema_version)
    analysis = analyze([("UPDATE t SET v = ? WHERE id = ?", [1, 7])], schema)
    reads, writes, is_global = analysis.conflict_keys()

Refusals raise a subclass of `AnalyzerError` with a stable `code`.
"""

from analyzer.analysis import Analysis, BoundStatement, analyze, plan_statement
from analyzer.errors import (
    ALL_CODES,
    AnalyzerError,
    NonDeterministicError,
    NotReplicableError,
    ParameterError,
    SqlSyntaxError,
    UnsupportedError,
)
from analyzer.keys import Key, encode_key, json_to_key_value, key_value_to_json
from analyzer.schema import Schema

__all__ = [
    "ALL_CODES",
    "Analysis",
    "AnalyzerError",
    "BoundStatement",
    "Key",
    "NonDeterministicError",
    "NotReplicableError",
    "ParameterError",
    "Schema",
    "SqlSyntaxError",
    "UnsupportedError",
    "analyze",
    "encode_key",
    "json_to_key_value",
    "key_value_to_json",
    "plan_statement",
]
