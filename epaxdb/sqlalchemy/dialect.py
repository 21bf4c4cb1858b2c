"""`EpaxdbDialect`: SQLAlchemy's SQLite dialect over `epaxdb.dbapi`.

The SQL is SQLite's, so the compilers, types and most of reflection are SQLAlchemy's
`SQLiteDialect`; the name stays "sqlite", so `sqlite_*` table and index options and
`with_variant(..., "sqlite")` apply. What differs is the driver and what the cluster
refuses:

- Transactions. The DB-API begins a transaction with the first statement, reads
  included, and validates it at commit (docs/transactions.md), which is exactly the
  implicit-begin model SQLAlchemy expects of a driver: no BEGIN is emitted, every
  `Connection.begin()` / ORM `Session` transaction is one serializable interactive
  transaction, and a conflict surfaces at commit as `SerializationFailure`, which
  SQLAlchemy wraps in `sqlalchemy.exc.OperationalError` (its `orig`). The isolation
  levels are "SERIALIZABLE" (the default) and "AUTOCOMMIT" (each statement on its
  own), set through the connection's `autocommit` attribute; SQLite's
  `PRAGMA read_uncommitted` is not available (PRAGMAs are refused).
- Reflection. The PRAGMAs the SQLite dialect reflects with run on a local copy of
  the schema (`schema_mirror.py`); names, existence and view definitions come from
  `sqlite_master`, which the cluster serves. Only the `main` schema exists, and no
  TEMP objects. epaxdb's own bookkeeping tables are never listed.
- Not available: SAVEPOINT (`begin_nested()`, refused with `NotSupportedError`),
  REGEXP (the replicas have SQLite's built-in functions only).
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

from sqlalchemy import exc
from sqlalchemy.dialects.sqlite.base import SQLiteDialect
from sqlalchemy.engine import URL, reflection

from epaxdb.client.sqltext import NOT_EPAXDB_INTERNAL, NOT_SQLITE_INTERNAL
from epaxdb.sqlalchemy.schema_mirror import SCHEMA_SQL, SchemaMirror
from epaxdb.sqlalchemy.url import connect_arguments

SERIALIZABLE = "SERIALIZABLE"
AUTOCOMMIT = "AUTOCOMMIT"
MAIN = "main"


class EpaxdbDialect(SQLiteDialect):
    driver = "epaxdb"
    supports_statement_cache = True
    default_paramstyle = "qmark"
    # BLOBs come back as bytes, as from sqlite3.
    returns_native_bytes = True

    @classmethod
    def import_dbapi(cls) -> ModuleType:
        import epaxdb.dbapi

        return epaxdb.dbapi

    def create_connect_args(self, url: URL) -> tuple[list[Any], dict[str, Any]]:
        return connect_arguments(url)

    def _get_server_version_info(self, connection: Any) -> tuple[int, ...]:
        # The replicas' SQLite, as the client module states it (no I/O needed).
        return tuple(self.dbapi.sqlite_version_info)

    def _get_default_schema_name(self, connection: Any) -> str:
        return MAIN

    # ------------------------------------------------------------------ transactions

    def get_isolation_level_values(self, dbapi_connection: Any) -> list[str]:
        return [SERIALIZABLE, AUTOCOMMIT]

    def get_isolation_level(self, dbapi_connection: Any) -> str:
        return AUTOCOMMIT if dbapi_connection.autocommit else SERIALIZABLE

    def set_isolation_level(self, dbapi_connection: Any, level: str) -> None:
        # Switching to autocommit commits an open transaction, as in sqlite3;
        # SQLAlchemy sets levels only between transactions.
        dbapi_connection.autocommit = level == AUTOCOMMIT

    def detect_autocommit_setting(self, dbapi_connection: Any) -> bool:
        return bool(dbapi_connection.autocommit)

    def do_ping(self, dbapi_connection: Any) -> bool:
        """A connection holds no server-side state and fails over between replicas on
        each request, so there is nothing for a pre-ping to find stale; pinging with a
        statement would instead begin a transaction."""
        return True

    def is_disconnect(self, e: Exception, connection: Any, cursor: Any) -> bool:
        return isinstance(e, self.dbapi.ProgrammingError) and "closed database" in str(e)

    # ------------------------------------------------------------------ reflection

    @reflection.cache
    def get_schema_names(self, connection: Any, **kw: Any) -> list[str]:
        return [MAIN]

    @reflection.cache
    def get_table_names(
        self, connection: Any, schema: str | None = None, sqlite_include_internal: bool = False,
        **kw: Any,
    ) -> list[str]:  # fmt: skip
        return self._names(connection, "table", schema, sqlite_include_internal)

    @reflection.cache
    def get_view_names(
        self, connection: Any, schema: str | None = None, sqlite_include_internal: bool = False,
        **kw: Any,
    ) -> list[str]:  # fmt: skip
        return self._names(connection, "view", schema, sqlite_include_internal)

    @reflection.cache
    def get_temp_table_names(self, connection: Any, **kw: Any) -> list[str]:
        return []  # the cluster refuses TEMP objects (temp_object)

    @reflection.cache
    def get_temp_view_names(self, connection: Any, **kw: Any) -> list[str]:
        return []

    @reflection.cache
    def has_table(
        self, connection: Any, table_name: str, schema: str | None = None, **kw: Any
    ) -> bool:
        self._ensure_has_table_connection(connection)
        if not self._is_main(schema):
            return False
        found = connection.exec_driver_sql(
            "SELECT 1 FROM sqlite_master WHERE type IN ('table', 'view')"
            f" AND name = ? COLLATE NOCASE AND {NOT_EPAXDB_INTERNAL}",
            (table_name,),
        ).first()
        return found is not None

    @reflection.cache
    def get_view_definition(
        self, connection: Any, view_name: str, schema: str | None = None, **kw: Any
    ) -> str:
        sql = self._object_sql(connection, view_name, schema, ("view",))
        if sql is None:
            raise exc.NoSuchTableError(view_name)
        return sql

    @reflection.cache
    def _get_table_sql(
        self, connection: Any, table_name: str, schema: str | None = None, **kw: Any
    ) -> str | None:
        sql = self._object_sql(connection, table_name, schema, ("table", "view"))
        if sql is None and not self._is_sys_table(table_name):
            raise exc.NoSuchTableError(table_name)
        return sql

    def _get_table_pragma(
        self, connection: Any, pragma: str, table_name: str, schema: str | None = None
    ) -> list[tuple[Any, ...]]:
        if not self._is_main(schema):
            return []
        rows = connection.exec_driver_sql(SCHEMA_SQL).all()
        with SchemaMirror(tuple(row) for row in rows) as mirror:
            return mirror.pragma(pragma, table_name)

    def _names(
        self, connection: Any, kind: str, schema: str | None, include_internal: bool
    ) -> list[str]:
        if not self._is_main(schema):
            return []
        hidden = (
            NOT_EPAXDB_INTERNAL
            if include_internal
            else f"{NOT_EPAXDB_INTERNAL} AND {NOT_SQLITE_INTERNAL}"
        )
        query = f"SELECT name FROM sqlite_master WHERE type = ? AND {hidden} ORDER BY name"
        return list(connection.exec_driver_sql(query, (kind,)).scalars())

    def _object_sql(
        self, connection: Any, name: str, schema: str | None, kinds: tuple[str, ...]
    ) -> str | None:
        if not self._is_main(schema):
            return None
        marks = ", ".join("?" for _ in kinds)
        return connection.exec_driver_sql(
            f"SELECT sql FROM sqlite_master WHERE name = ? AND type IN ({marks})",
            (name, *kinds),
        ).scalar()

    @staticmethod
    def _is_main(schema: str | None) -> bool:
        return schema is None or schema == MAIN


dialect = EpaxdbDialect
