"""Moving a single-node SQLite application onto epaxdb (see docs/migration.md).

- `script`: an application's SQL file as statements and transactions;
- `schema_check`: what the cluster makes of a database's own schema and data;
- `statement_check`: what the cluster makes of each of the application's statements;
- `seeding`: the data directories of a new cluster, seeded from a database file.

This package composes the analyzer and the storage engine; the runtime and the server
know nothing of it.
"""
