"""The one table from server error codes to PEP 249 exceptions."""

from __future__ import annotations

import pytest

from analyzer.errors import ALL_CODES, ParameterError, SqlSyntaxError
from epaxdb.client import errors
from epaxdb.client.errors import ERROR_CLASSES, error_class, error_from_answer
from epaxdb.storage import BINDING_ERROR, REFUSED_STATEMENT, RESERVED_ROWID, SCHEMA_CHANGED


def test_every_analyzer_and_engine_code_has_a_deliberate_class() -> None:
    for code in (*ALL_CODES, BINDING_ERROR, REFUSED_STATEMENT, RESERVED_ROWID, SCHEMA_CHANGED):
        assert code in ERROR_CLASSES, code


def test_sql_and_parameter_mistakes_are_programming_errors() -> None:
    for code in (*SqlSyntaxError.codes, *ParameterError.codes, BINDING_ERROR):
        assert error_class(code, 400) is errors.ProgrammingError


@pytest.mark.parametrize(
    ("code", "status", "expected"),
    [
        ("SQLITE_CONSTRAINT_UNIQUE", 409, errors.IntegrityError),
        ("SQLITE_CONSTRAINT_TRIGGER", 409, errors.IntegrityError),
        ("SQLITE_TOOBIG", 409, errors.DataError),
        ("SQLITE_ERROR", 409, errors.OperationalError),
        ("SQLITE_ERROR_RETRY", 409, errors.OperationalError),
        ("serialization_failure", 409, errors.SerializationFailure),
        ("schema_changed", 409, errors.SerializationFailure),
        ("unknown_table", 400, errors.OperationalError),
        ("pragma", 400, errors.NotSupportedError),
        ("nondeterministic_limit", 400, errors.NotSupportedError),
        ("outcome_unknown", 504, errors.OutcomeUnknown),
        ("unavailable", 503, errors.Unavailable),
        ("preview_timeout", 503, errors.OperationalError),
        ("unauthorized", 401, errors.OperationalError),
        ("body_too_large", 413, errors.DataError),
        ("not_caught_up", 504, errors.Unavailable),
        ("unknown_field", 400, errors.InterfaceError),
        ("a_code_from_a_newer_server", 409, errors.DatabaseError),
        ("a_code_from_a_newer_server", 400, errors.ProgrammingError),
        (None, 503, errors.Unavailable),
    ],
)
def test_codes_map_to_their_class(code: str | None, status: int, expected: type) -> None:
    assert error_class(code, status) is expected


def test_outcome_unknown_is_neither_a_serialization_failure_nor_operational() -> None:
    assert not issubclass(errors.OutcomeUnknown, errors.OperationalError)
    assert issubclass(errors.OutcomeUnknown, errors.DatabaseError)
    assert issubclass(errors.SerializationFailure, errors.OperationalError)


def test_error_carries_code_statement_and_sqlite_names() -> None:
    error = error_from_answer(
        409,
        {
            "error": {
                "code": "SQLITE_CONSTRAINT_UNIQUE",
                "message": "UNIQUE constraint failed: t.id",
                "statement": 2,
                "retryable": False,
            },
            "request_id": "r1",
        },
    )
    assert isinstance(error, errors.IntegrityError)
    assert str(error) == "UNIQUE constraint failed: t.id"
    assert (error.statement, error.request_id, error.retryable) == (2, "r1", False)
    assert error.sqlite_errorname == "SQLITE_CONSTRAINT_UNIQUE"
    assert error.sqlite_errorcode == 2067


def test_a_body_that_is_not_ours_maps_by_status() -> None:
    error = error_from_answer(413, None)
    assert isinstance(error, errors.DataError) and "413" in str(error)
