"""SQLAlchemy 2 dialect for epaxdb (`pip install 'epaxdb[sqlalchemy]'`).

    from sqlalchemy import create_engine

    engine = create_engine("epaxdb://127.0.0.1:4001/?host=127.0.0.1:4002&host=127.0.0.1:4003")

The `epaxdb` URL scheme is registered by the package's entry point
(`sqlalchemy.dialects`); `url.py` has the URL's forms, `dialect.py` what differs from
SQLite's own dialect. docs/client.md has the guide.
"""

from epaxdb.sqlalchemy.dialect import EpaxdbDialect

__all__ = ["EpaxdbDialect"]
