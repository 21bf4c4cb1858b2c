"""Connection settings that change query results: cluster settings, equal on every replica.

SQLite lets each connection decide whether foreign keys are enforced, whether triggers
recurse, whether LIKE is case sensitive and whether a double-quoted word that names no
column becomes a string. Two replicas that disagreed on any of them would compute
different results from the same transaction, so these are part of the cluster
configuration, applied when the state database is opened and never changed by a
replicated statement (the guard refuses PRAGMAs that could).

Settings that change results but are not worth a knob are pinned to one value here:
`reverse_unordered_selects` off, `defer_foreign_keys` off, and `trusted_schema` off (so
triggers and views may call only functions marked innocuous, which our random() and
randomblob() are; the built-ins are).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import apsw

from epaxdb.errors import ConfigError

# Bump whenever the bookkeeping tables, the state-hash definition or the command payloads
# change: replicas of different formats would disagree on schema versions and hashes, or
# fail to decode each other's commands. 2: results carry their execution time
# (`executed_ms`), payload version 3 (`read_only`) and purges.
STORAGE_FORMAT = 2


@dataclass(frozen=True, slots=True)
class ClusterSqlSettings:
    foreign_keys: bool = True
    recursive_triggers: bool = True
    case_sensitive_like: bool = True
    # SQLite's legacy misfeature: "abc" is a string literal if no column is called abc.
    # Off, so a typo is an error instead of a silently different query.
    double_quoted_strings: bool = False

    def as_pairs(self) -> tuple[tuple[str, str], ...]:
        """Sorted (name, value) strings for the join handshake: everything about the
        state engine that must be equal between replicas, including the format of its
        bookkeeping tables (their DDL shows in `PRAGMA schema_version`)."""
        pairs = {name: "on" if on else "off" for name, on in asdict(self).items()}
        pairs["storage_format"] = str(STORAGE_FORMAT)
        return tuple(sorted(pairs.items()))


def apply_settings(db: apsw.Connection, settings: ClusterSqlSettings) -> None:
    """Apply the cluster settings to a connection (outside any transaction).

    Nothing here enters the statement cache: a cached statement is not authorized again,
    so a client sending the same text later must meet the guard like any other."""
    pragmas = {
        "foreign_keys": settings.foreign_keys,
        "recursive_triggers": settings.recursive_triggers,
        "case_sensitive_like": settings.case_sensitive_like,
        "reverse_unordered_selects": False,
        "defer_foreign_keys": False,
        "trusted_schema": False,
    }
    for name, on in pragmas.items():
        db.execute(f"PRAGMA {name} = {'ON' if on else 'OFF'}", can_cache=False)
    dqs = 1 if settings.double_quoted_strings else 0
    db.config(apsw.SQLITE_DBCONFIG_DQS_DML, dqs)
    db.config(apsw.SQLITE_DBCONFIG_DQS_DDL, dqs)
    # foreign_keys and friends silently do nothing inside a transaction, and
    # case_sensitive_like cannot be read back, so check what can be checked.
    for name in ("foreign_keys", "recursive_triggers", "trusted_schema"):
        (value,) = db.execute(f"PRAGMA {name}", can_cache=False).fetchone()
        if bool(value) != pragmas[name]:
            raise ConfigError(f"PRAGMA {name} did not take effect on the state database")
