"""SQLite's value rules: storage classes, column affinity, literals.

Keys must be typed exactly as SQLite stores and compares them, otherwise two
transactions touching the same row could get different keys and not be
ordered. Where SQLite's result cannot be predicted with certainty (a REAL
turned into TEXT, a decimal string with more digits than a double holds) the
functions return `UNKNOWN`, and the caller falls back to a whole-table key.

Only the storage classes NULL (None), INTEGER (int), REAL (float), TEXT (str)
and BLOB (bytes) exist past `normalise_parameter`.
"""

from __future__ import annotations

import enum
import math
import re

from analyzer.errors import ParameterError

_INT64_MIN = -(1 << 63)
_INT64_MAX = (1 << 63) - 1
# A double holds 15 significant decimal digits exactly; beyond that SQLite's own
# text-to-double conversion may round differently from Python's.
_SAFE_DIGITS = 15


class _Unknown:
    __slots__ = ()

    def __repr__(self) -> str:
        return "UNKNOWN"


UNKNOWN = _Unknown()


class Affinity(enum.Enum):
    INTEGER = "INTEGER"
    REAL = "REAL"
    NUMERIC = "NUMERIC"
    TEXT = "TEXT"
    BLOB = "BLOB"  # "no affinity": values are stored as given


def affinity_of(declared_type: str, *, strict: bool = False) -> Affinity:
    """Column affinity from a declared type (https://sqlite.org/datatype3.html §3.1)."""
    upper = declared_type.upper()
    if strict and upper.strip() == "ANY":
        return Affinity.BLOB  # STRICT tables store ANY values unchanged
    if "INT" in upper:
        return Affinity.INTEGER
    if "CHAR" in upper or "CLOB" in upper or "TEXT" in upper:
        return Affinity.TEXT
    if "BLOB" in upper or not upper.strip():
        return Affinity.BLOB
    if "REAL" in upper or "FLOA" in upper or "DOUB" in upper:
        return Affinity.REAL
    return Affinity.NUMERIC


def normalise_parameter(value: object) -> object:
    """A bound parameter as the SQLite value apsw binds for it."""
    kind = type(value)
    if kind is int:
        if _INT64_MIN <= value <= _INT64_MAX:  # type: ignore[operator]
            return value
        raise ParameterError("parameter_type", f"integer {value} does not fit in 64 bits")
    if kind is str or kind is float or value is None:
        return value
    if kind is bool:
        return int(value)  # type: ignore[arg-type]
    if kind is bytes:
        return value
    if kind is bytearray or kind is memoryview:
        return bytes(value)  # type: ignore[arg-type]
    raise ParameterError(
        "parameter_type",
        f"cannot bind a value of type {kind.__name__} (use None, int, float, str or bytes)",
    )


_NUMERIC_TEXT = re.compile(
    r"[ \t\n\v\f\r]*([+-]?)(?:([0-9]+)(?:\.([0-9]*))?|\.([0-9]+))(?:[eE]([+-]?[0-9]+))?"
    r"[ \t\n\v\f\r]*"
)


def _text_to_number(text: str) -> object:
    """The number a well-formed numeric string stands for; the text itself if it is
    not one; UNKNOWN when SQLite's conversion could differ from Python's."""
    match = _NUMERIC_TEXT.fullmatch(text)
    if match is None:
        return text
    sign, whole, fraction, bare_fraction, exponent = match.groups()
    if fraction is None and bare_fraction is None and exponent is None:
        value = int(sign + whole)
        if _INT64_MIN <= value <= _INT64_MAX:
            return value
        return UNKNOWN
    digits = ((whole or "") + (fraction or "") + (bare_fraction or "")).lstrip("0")
    if len(digits) > _SAFE_DIGITS:
        return UNKNOWN
    number = float(text)
    if math.isinf(number):
        return UNKNOWN
    return number


def _real_to_integer_if_exact(value: float) -> object:
    if value.is_integer() and _INT64_MIN <= value < 1 << 63:
        return int(value)
    return value


def apply_affinity(value: object, affinity: Affinity) -> object:
    """The value SQLite stores (or compares) after applying `affinity`."""
    kind = type(value)
    if value is None or kind is bytes:
        return value
    if affinity is Affinity.INTEGER or affinity is Affinity.NUMERIC:
        if kind is int:
            return value
        if kind is str:
            value = _text_to_number(value)  # type: ignore[arg-type]
            if type(value) is not float:
                return value
        if math.isnan(value):  # type: ignore[arg-type]
            return UNKNOWN
        return _real_to_integer_if_exact(value)  # type: ignore[arg-type]
    if affinity is Affinity.REAL:
        if kind is str:
            value = _text_to_number(value)  # type: ignore[arg-type]
            if value is UNKNOWN or type(value) is str:
                return value
        number = float(value)  # type: ignore[arg-type]
        return UNKNOWN if math.isnan(number) else number
    if affinity is Affinity.TEXT:
        if kind is int:
            return str(value)
        if kind is float:
            return UNKNOWN  # SQLite's REAL-to-TEXT formatting is not reproduced here
        return value
    return value  # BLOB: no conversion


def literal_number(text: str) -> object:
    """The value of a numeric literal as SQLite's parser reads it (after
    `sqltext` removed digit separators and turned hex into decimal)."""
    if text.isdigit():
        value = int(text)
        if value <= _INT64_MAX:
            return value
        return UNKNOWN  # SQLite reads it as a REAL; its exact value is not reproduced
    digits = text.lower().split("e")[0].replace(".", "").lstrip("0")
    if len(digits) > _SAFE_DIGITS:
        return UNKNOWN
    number = float(text)
    return UNKNOWN if math.isinf(number) else number


def negate(value: object) -> object:
    """Unary minus applied to a literal value."""
    if type(value) is int:
        return -value if value != _INT64_MIN else UNKNOWN
    if type(value) is float:
        return -value
    return UNKNOWN


NEGATED_INT64_MIN_TEXT = "9223372036854775808"  # `-9223372036854775808` is an INTEGER
INT64_MIN = _INT64_MIN
