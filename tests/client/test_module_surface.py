"""PEP 249's module surface and the sqlite3 pieces that need no server: globals,
exceptions, constructors and type objects, parameters, `Row`, connect() checks."""

from __future__ import annotations

import datetime
import decimal
import enum
import re
import sqlite3
from pathlib import Path

import apsw
import pytest

import epaxdb.aio
import epaxdb.dbapi as db
from epaxdb.client.codec import CODECS, decode_answer
from epaxdb.client.types import adapt_params

ROOT = Path(__file__).resolve().parents[2]


def test_module_globals() -> None:
    assert (db.apilevel, db.threadsafety, db.paramstyle) == ("2.0", 1, "qmark")
    assert (epaxdb.aio.apilevel, epaxdb.aio.paramstyle) == ("2.0", "qmark")


def test_sqlite_version_is_the_oldest_the_servers_apsw_pin_allows() -> None:
    pin = re.search(r'"apsw>=([0-9.]+),', (ROOT / "pyproject.toml").read_text())
    assert pin is not None
    assert db.sqlite_version_info[:2] == tuple(int(p) for p in pin.group(1).split("."))[:2]
    running = tuple(int(part) for part in apsw.sqlite_lib_version().split("."))
    assert db.sqlite_version_info <= running
    assert db.sqlite_version == ".".join(map(str, db.sqlite_version_info))


def test_exception_hierarchy_is_pep_249s() -> None:
    assert issubclass(db.Warning, Exception)
    assert issubclass(db.Error, Exception)
    assert issubclass(db.InterfaceError, db.Error)
    assert issubclass(db.DatabaseError, db.Error)
    for name in (
        "DataError",
        "OperationalError",
        "IntegrityError",
        "InternalError",
        "ProgrammingError",
        "NotSupportedError",
    ):
        assert issubclass(getattr(db, name), db.DatabaseError)
        assert getattr(db.Connection, name) is getattr(db, name)
    assert issubclass(db.SerializationFailure, db.OperationalError)
    assert epaxdb.aio.IntegrityError is db.IntegrityError


def test_constructors_and_type_objects() -> None:
    assert db.Date(2024, 5, 1) == datetime.date(2024, 5, 1)
    assert db.Time(12, 30, 1) == datetime.time(12, 30, 1)
    assert db.Timestamp(2024, 5, 1, 12, 30) == datetime.datetime(2024, 5, 1, 12, 30)
    ticks = datetime.datetime(2024, 5, 1, 12, 30, 15).timestamp()
    assert db.TimestampFromTicks(ticks) == datetime.datetime(2024, 5, 1, 12, 30, 15)
    assert db.DateFromTicks(ticks) == datetime.date(2024, 5, 1)
    assert db.TimeFromTicks(ticks) == datetime.time(12, 30, 15)
    assert db.Binary(b"\x00\x01") == b"\x00\x01"
    assert db.NUMBER == int and db.NUMBER == float and db.NUMBER != str
    assert db.STRING == str and db.BINARY == bytes and db.ROWID == int
    assert db.DATETIME == datetime.datetime


class Colour(enum.IntEnum):
    RED = 1


def test_parameters_are_adapted_as_sqlite3_binds_them() -> None:
    params = [
        None, 1, 2.5, "x", b"\x00", bytearray(b"\x01"), memoryview(b"\x02"), True, Colour.RED,
        datetime.date(2024, 5, 1), datetime.datetime(2024, 5, 1, 12, 30),
    ]  # fmt: skip
    assert adapt_params(params) == [
        None, 1, 2.5, "x", b"\x00", b"\x01", b"\x02", 1, 1, "2024-05-01", "2024-05-01 12:30:00",
    ]  # fmt: skip
    assert adapt_params({"a": 1, ":b": "x"}) == {"a": 1, ":b": "x"}
    with pytest.raises(db.ProgrammingError, match="Decimal"):
        adapt_params([decimal.Decimal("1.5")])
    with pytest.raises(OverflowError):
        adapt_params([2**63])
    with pytest.raises(db.ProgrammingError):
        adapt_params("abc")  # type: ignore[arg-type]


def test_registered_adapter_applies_to_its_exact_type() -> None:
    class Money:
        def __init__(self, cents: int) -> None:
            self.cents = cents

    db.register_adapter(Money, lambda money: money.cents)
    try:
        assert adapt_params([Money(250)]) == [250]
    finally:
        del db.adapters[Money]


def test_blobs_travel_in_both_wire_formats() -> None:
    body = {"statements": [{"sql": "SELECT ?", "params": [b"\x00\xff", "text"]}]}
    as_json = CODECS["json"].encode(body)
    assert b'{"$blob":"AP8="}' in as_json
    assert decode_answer("application/json", as_json) == body
    assert decode_answer("application/msgpack", CODECS["msgpack"].encode(body)) == body
    assert decode_answer("text/html", b"<html>") is None


def _stdlib_row() -> sqlite3.Row:
    connection = sqlite3.connect(":memory:")
    connection.row_factory = sqlite3.Row
    return connection.execute("SELECT 1 AS id, 'a' AS Name").fetchone()


def _our_row(values: tuple[object, ...] = (1, "a")) -> db.Row:
    class Described:
        description = (("id",) + (None,) * 6, ("Name",) + (None,) * 6)

    return db.Row(Described(), values)


def test_row_behaves_like_sqlite3_row() -> None:
    theirs, ours = _stdlib_row(), _our_row()
    assert ours.keys() == theirs.keys() == ["id", "Name"]
    assert (ours[0], ours["name"], ours["NAME"]) == (theirs[0], theirs["name"], theirs["NAME"])
    assert ours[-1] == theirs[-1] and ours[0:2] == theirs[0:2]
    assert len(ours) == len(theirs) == 2
    assert tuple(ours) == tuple(theirs)
    assert dict(zip(ours.keys(), ours)) == {"id": 1, "Name": "a"}
    assert ours == _our_row() and ours != _our_row((2, "a"))
    assert hash(ours) == hash(_our_row())
    for row in (ours, theirs):
        with pytest.raises(IndexError):
            row["missing"]
        with pytest.raises(IndexError):
            row[5]


def test_connect_checks_its_arguments_without_io() -> None:
    with pytest.raises(db.InterfaceError):
        db.connect("ftp://example.org")
    with pytest.raises(db.InterfaceError):
        db.connect([])
    with pytest.raises(ValueError):
        db.connect("http://127.0.0.1:1", autocommit=2)
    with pytest.raises(ValueError):
        db.connect("http://127.0.0.1:1", isolation_level="SERIALIZABLE")
    connection = db.connect("127.0.0.1:1, 127.0.0.1:2")  # nothing listens: still lazy
    assert [str(e) for e in connection.options.endpoints.all] == [
        "http://127.0.0.1:1",
        "http://127.0.0.1:2",
    ]


def test_transaction_mode_attributes_follow_sqlite3_312() -> None:
    default = db.connect("http://127.0.0.1:1")
    assert (default.autocommit, default.isolation_level) == (False, "")
    legacy_none = db.connect("http://127.0.0.1:1", isolation_level=None)
    assert (legacy_none.autocommit, legacy_none.isolation_level) == (True, None)
    explicit = db.connect("http://127.0.0.1:1", autocommit=True, isolation_level="DEFERRED")
    assert explicit.autocommit is True
    explicit.isolation_level = "IMMEDIATE"
    assert (explicit.autocommit, explicit.isolation_level) == (False, "IMMEDIATE")
    explicit.autocommit = True  # nothing open: no commit needed, no I/O
    assert explicit.isolation_level is None


def test_closed_connection_and_cursor_refuse_work() -> None:
    connection = db.connect("http://127.0.0.1:1")
    cursor = connection.cursor()
    cursor.close()
    with pytest.raises(db.ProgrammingError):
        cursor.fetchall()
    connection.close()
    connection.close()  # idempotent
    with pytest.raises(db.ProgrammingError):
        connection.cursor()
    with pytest.raises(db.ProgrammingError):
        connection.execute("SELECT 1")
