"""The interactive context on its own: JSON round trip, refusals, failed statements."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest

from epaxdb.runtime.errors import InvalidRequest
from epaxdb.runtime.interactive import FailedStatement, InteractiveContext, statements_digest

FAILED = (
    FailedStatement(1, ("INSERT INTO t VALUES (?)", [b"\x00blob"])),
    FailedStatement(3, ("UPDATE t SET v = :v", {"v": 2**63 - 1})),
)
CONTEXT = InteractiveContext(
    timestamp_ms=1_700_000_000_123,
    seed=2**63 - 1,
    observed=4,
    digest=bytes(range(32)),
    statements_digest=statements_digest([("SELECT 1", ())]),
    failed=FAILED,
)


def test_a_context_survives_json_and_back() -> None:
    sent = json.loads(json.dumps(CONTEXT.to_json()))
    assert isinstance(sent["seed"], str)  # 63 bits survive parsers that use doubles
    assert InteractiveContext.from_json(sent) == CONTEXT


def test_failed_statements_go_back_to_their_positions() -> None:
    client = [("A", []), ("B", []), ("C", [])]
    full = CONTEXT.full_sequence(client)
    assert [sql for sql, _ in full] == [
        "A",
        FAILED[0].statement[0],
        "B",
        FAILED[1].statement[0],
        "C",
    ]
    assert [CONTEXT.client_index(position) for position in (0, 2, 4)] == [0, 1, 2]
    with pytest.raises(InvalidRequest, match="fewer statements"):
        CONTEXT.full_sequence([])


@pytest.mark.parametrize(
    "change",
    [
        {"format": 2},
        {"seed": 7},
        {"seed": "-7"},
        {"timestamp_ms": "1"},
        {"observed": -1},
        {"digest": "00"},
        {"statements_digest": "zz"},
        {"failed": "not base64!"},
        {"observed": 3},  # a failed statement at position 3 was not observed
        {"failed": replace(CONTEXT, failed=FAILED[::-1]).to_json()["failed"]},
    ],
)
def test_a_context_that_is_not_one_is_refused(change: dict[str, Any]) -> None:
    with pytest.raises(InvalidRequest, match="context is not valid"):
        InteractiveContext.from_json({**CONTEXT.to_json(), **change})


def test_a_context_missing_a_field_or_not_an_object_is_refused() -> None:
    data = CONTEXT.to_json()
    del data["digest"]
    for bad in (data, [], "context", None):
        with pytest.raises(InvalidRequest, match="context is not valid"):
            InteractiveContext.from_json(bad)
