"""A small inventory app written against Python's standard `sqlite3` module.

    python3 examples/sqlite3_app/inventory.py inventory.db

It runs unchanged on epaxdb: replace the import line below by

    import epaxdb.dbapi as sqlite3

and pass a replica URL (or several, comma-separated) instead of a file name:

    python3 examples/sqlite3_app/inventory.py http://127.0.0.1:4001

tests/examples/test_sqlite3_app.py does exactly that and compares the two outputs.
"""

from __future__ import annotations

import datetime
import sqlite3
import sys

SCHEMA = """
DROP TABLE IF EXISTS movements;
DROP TABLE IF EXISTS items;
CREATE TABLE items(
    id INTEGER PRIMARY KEY,
    sku TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    qty INTEGER NOT NULL CHECK (qty >= 0),
    price_cents INTEGER NOT NULL,
    photo BLOB
);
CREATE TABLE movements(
    id INTEGER PRIMARY KEY,
    item_id INTEGER NOT NULL REFERENCES items(id),
    delta INTEGER NOT NULL,
    reason TEXT NOT NULL,
    day TEXT NOT NULL
);
CREATE INDEX movements_by_item ON movements(item_id);
"""

STOCK = [
    {"sku": "BOLT-M4", "name": "M4 bolt", "qty": 500, "price": 12, "photo": None},
    {"sku": "NUT-M4", "name": "M4 nut; zinc", "qty": 800, "price": 5, "photo": None},
    {"sku": "GEAR-12", "name": "12-tooth gear", "qty": 3, "price": 450, "photo": b"\x89PNG\x00"},
]
DAY = datetime.date(2024, 5, 1)


class OutOfStock(Exception):
    pass


def move(conn: sqlite3.Connection, sku: str, delta: int, reason: str) -> int:
    """Change an item's stock and log why, atomically (read, check, write)."""
    with conn:
        row = conn.execute("SELECT id, qty FROM items WHERE sku = ?", (sku,)).fetchone()
        if row is None:
            raise KeyError(sku)
        item_id, qty = row
        if qty + delta < 0:
            raise OutOfStock(f"{sku}: {qty} in stock, {-delta} wanted")
        conn.execute("UPDATE items SET qty = ? WHERE id = ?", (qty + delta, item_id))
        cur = conn.execute(
            "INSERT INTO movements(item_id, delta, reason, day) VALUES (?, ?, ?, ?)",
            (item_id, delta, reason, DAY),
        )
        return cur.lastrowid


def run(database: str) -> list[str]:
    out: list[str] = []
    conn = sqlite3.connect(database)
    conn.executescript(SCHEMA)
    conn.commit()

    conn.executemany(
        "INSERT INTO items(sku, name, qty, price_cents, photo)"
        " VALUES (:sku, :name, :qty, :price, :photo)",
        STOCK,
    )
    cur = conn.execute(
        "INSERT INTO items(sku, name, qty, price_cents) VALUES (?, ?, ?, ?)",
        ("WASHER-M4", "M4 washer", 1000, 2),
    )
    out.append(f"washer id {cur.lastrowid}, rowcount {cur.rowcount}")
    conn.commit()

    try:
        conn.execute(
            "INSERT INTO items(sku, name, qty, price_cents) VALUES (?, ?, ?, ?)",
            ("BOLT-M4", "duplicate", 1, 1),
        )
    except sqlite3.IntegrityError as error:
        out.append(f"refused: {error}")
    conn.rollback()

    out.append(f"movement {move(conn, 'BOLT-M4', -120, 'order 17')}")
    out.append(f"movement {move(conn, 'GEAR-12', +10, 'restock')}")
    try:
        move(conn, "GEAR-12", -50, "order 18")
    except OutOfStock as error:
        out.append(f"out of stock: {error}")
    try:
        with conn:
            conn.execute("UPDATE items SET qty = qty - 10000 WHERE sku = 'NUT-M4'")
    except sqlite3.IntegrityError as error:
        out.append(f"refused: {error}")

    conn.execute("UPDATE items SET price_cents = price_cents * 2 WHERE sku LIKE '%-M4'")
    cur = conn.execute("UPDATE items SET name = upper(name) WHERE qty > ?", (100,))
    out.append(f"renamed {cur.rowcount}")
    conn.rollback()  # neither change stays
    out.append(
        f"bolt price {conn.execute('SELECT price_cents FROM items WHERE id = 1').fetchone()[0]}"
    )

    conn.row_factory = sqlite3.Row
    cur = conn.execute("SELECT sku, name, qty, price_cents AS price FROM items ORDER BY sku")
    out.append("columns " + ",".join(d[0] for d in cur.description))
    while True:
        batch = cur.fetchmany(2)
        if not batch:
            break
        out.append(" | ".join(f"{r['sku']}:{r['QTY']}@{r['price']}" for r in batch))
    row = conn.execute("SELECT * FROM items WHERE sku = :sku", {"sku": "GEAR-12"}).fetchone()
    out.append(f"gear keys {row.keys()} photo {row['photo']!r}")
    conn.row_factory = None

    total = conn.execute("SELECT sum(qty * price_cents) FROM items").fetchone()[0]
    out.append(f"stock value {total / 100:.2f}")
    for reason, moved, day in conn.execute(
        "SELECT reason, sum(delta), min(day) FROM movements GROUP BY reason ORDER BY reason"
    ):
        out.append(f"{reason}: {moved} on {day}")

    with conn:
        cur = conn.execute("DELETE FROM movements WHERE delta < 0")
        out.append(f"deleted {cur.rowcount}")
    out.append(f"left {conn.execute('SELECT count(*) FROM movements').fetchall()}")
    conn.close()
    return out


if __name__ == "__main__":
    print("\n".join(run(sys.argv[1] if len(sys.argv) > 1 else ":memory:")))
