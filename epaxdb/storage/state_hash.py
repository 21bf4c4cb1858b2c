"""A hash of the database's logical content, equal on replicas with equal histories.

Replicas execute non-interfering transactions in different orders, so their files differ
physically (page allocation, freelists, WAL salts) while the data is the same. The hash
therefore reads the data, never the file:

1. the header: format tag, `user_version`, `application_id` and the executed count
   (the number of executed markers, see `bookkeeping`);
2. the schema: `sqlite_schema` rows of user objects as (type, name, tbl_name, sql),
   sorted by (type, name) — `rootpage` is physical and left out;
3. every table's rows, tables sorted by name: rowid tables as (rowid, columns...) in
   rowid order (implicit rowids are user-visible and so part of the state), WITHOUT ROWID
   tables in primary-key order, SQLite's own tables (`sqlite_sequence`, `sqlite_stat*`)
   without their rowids in full-row order — their rowids only record which table got a
   row first, which may legitimately differ between replicas. Virtual tables are skipped;
   their shadow tables carry their content.

The engine's internal tables are not hashed, apart from the executed count.
`schema_version` is not hashed either: it is a change counter (VACUUM bumps it), not
content. Values are encoded by `value_encoding` (type tag and length: 1, 1.0, '1' and
x'01' differ). The digest is BLAKE2b-256, in hex.
"""

from __future__ import annotations

import hashlib
from functools import partial

import apsw

from epaxdb.storage.guard import INTERNAL_TABLES
from epaxdb.storage.value_encoding import feed_values

_FORMAT = b"epaxdb-state-hash-v1"
_ROWID_ALIASES = ("rowid", "_rowid_", "oid")

USER_SCHEMA = (
    "SELECT type, name, tbl_name, sql FROM sqlite_schema "
    "WHERE tbl_name NOT IN ('_epaxdb_applied', '_epaxdb_markers', '_epaxdb_position') "
    "ORDER BY rowid"
)


def compute_state_hash(db: apsw.Connection, executed_count: int) -> str:
    """Hash the logical content; the caller holds a read transaction."""
    digest = hashlib.blake2b(digest_size=32, person=b"epaxdb-state")
    feed = partial(feed_values, digest.update)
    feed((_FORMAT, executed_count))
    for pragma in ("user_version", "application_id"):
        feed(db.execute(f"PRAGMA {pragma}", can_cache=False).fetchone())
    schema = sorted(db.execute(USER_SCHEMA).fetchall(), key=lambda row: (row[0], row[1]))
    feed((b"schema", len(schema)))
    for row in schema:
        feed(row)
    for name, without_rowid in _tables(db):
        # Not cached: these texts are the engine's, not worth a client's cache slot.
        rows = db.execute(_rows_query(db, name, without_rowid), can_cache=False)
        feed((b"table", name))
        count = 0
        for row in rows:
            feed(row)
            count += 1
        feed((b"end", count))
    return digest.hexdigest()


def _tables(db: apsw.Connection) -> list[tuple[str, bool]]:
    rows = db.execute(
        "SELECT name, wr FROM pragma_table_list WHERE schema = 'main' "
        "AND type IN ('table', 'shadow') AND name <> 'sqlite_schema'"
    ).fetchall()
    return sorted((name, bool(wr)) for name, wr in rows if name.lower() not in INTERNAL_TABLES)


def _rows_query(db: apsw.Connection, table: str, without_rowid: bool) -> str:
    columns = db.execute(
        "SELECT name, pk FROM pragma_table_info(?) ORDER BY cid", (table,)
    ).fetchall()
    quoted = quote_identifier(table)
    if table.lower().startswith("sqlite_"):
        order = ", ".join(str(i) for i in range(1, len(columns) + 1))
        return f"SELECT * FROM {quoted} ORDER BY {order}"
    if without_rowid:
        keys = sorted((pk, name) for name, pk in columns if pk)
        order = ", ".join(quote_identifier(name) for _, name in keys)
        return f"SELECT * FROM {quoted} ORDER BY {order}"
    names = {name.lower() for name, _ in columns}
    alias = next((a for a in _ROWID_ALIASES if a not in names), None)
    if alias is None:
        # Every rowid alias is shadowed by a column: the rowid cannot be read at all,
        # so the full rows (in a total order) are the table's content.
        order = ", ".join(str(i) for i in range(1, len(columns) + 1))
        return f"SELECT * FROM {quoted} ORDER BY {order}"
    return f"SELECT {alias}, * FROM {quoted} ORDER BY {alias}"


def quote_identifier(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'
