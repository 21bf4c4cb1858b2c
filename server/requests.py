"""Request bodies of the API, validated strictly, in one place.

Each endpoint lists the fields it knows; anything else is refused (`unknown_field`),
and so is a field of the wrong type (`bad_request`), naming the statement when one is
to blame. What the SQL means (syntax, parameter counts and names, what can be
replicated) is the analyzer's to judge, later, but still before anything is submitted.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from epaxdb.tokens import After, BadToken, parse_token
from server.errors import BadRequest
from server.wire import decode_blob

DEFAULT_TIMEOUT_MS = 10_000
MAX_TIMEOUT_MS = 120_000
MAX_REQUEST_ID_CHARS = 256
LINEARIZABLE = "linearizable"
LOCAL = "local"

Params = list[Any] | dict[str, Any]
_SCALARS = (type(None), bool, int, float, str, bytes)
_NAME_PREFIXES = (":", "@", "$")


@dataclass(frozen=True, slots=True)
class TransactionRequest:
    statements: list[tuple[str, Params]]
    request_id: str | None
    timeout_s: float
    after: After | None
    # An interactive transaction's commit: the context of its last preview, passed
    # through untouched (the node checks it).
    interactive: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class QueryRequest:
    statements: list[tuple[str, Params]]
    consistency: str
    request_id: str | None
    timeout_s: float
    after: After | None


@dataclass(frozen=True, slots=True)
class PreviewRequest:
    statements: list[tuple[str, Params]]
    # The previous preview's context (opaque here; the node checks it), None at first.
    context: dict[str, Any] | None
    timeout_s: float
    after: After | None


_TRANSACTION_FIELDS = ("statements", "request_id", "timeout_ms", "after", "interactive")
_PREVIEW_FIELDS = ("statements", "context", "timeout_ms", "after")
_QUERY_FIELDS = ("statements", "consistency", "request_id", "timeout_ms", "after")
_STATEMENT_FIELDS = ("sql", "params")


def parse_transaction(body: Any, replica_count: int) -> TransactionRequest:
    known = fields(body, _TRANSACTION_FIELDS)
    interactive = known.get("interactive")
    if interactive is not None and not isinstance(interactive, dict):
        raise BadRequest("bad_request", '"interactive" must be an object')
    return TransactionRequest(
        statements(known),
        request_id(known),
        timeout_s(known),
        after(known, replica_count),
        interactive,
    )


def parse_preview(body: Any, replica_count: int) -> PreviewRequest:
    known = fields(body, _PREVIEW_FIELDS)
    context = known.get("context")
    if context is not None and not isinstance(context, dict):
        raise BadRequest("bad_request", '"context" must be the object a preview returned')
    return PreviewRequest(statements(known), context, timeout_s(known), after(known, replica_count))


def parse_query(body: Any, replica_count: int) -> QueryRequest:
    known = fields(body, _QUERY_FIELDS)
    consistency = known.get("consistency", LINEARIZABLE)
    if consistency not in (LINEARIZABLE, LOCAL):
        raise BadRequest("bad_request", f'"consistency" must be "{LINEARIZABLE}" or "{LOCAL}"')
    rid = request_id(known)
    if rid is not None and consistency == LOCAL:
        raise BadRequest(
            "bad_request", '"request_id" applies to linearizable queries only: a local read '
            "is not replicated, so there is nothing to deduplicate",
        )  # fmt: skip
    return QueryRequest(statements(known), consistency, rid, timeout_s(known),
                        after(known, replica_count))  # fmt: skip


def fields(
    body: Any, allowed: Collection[str], *, where: str = "the body", statement: int | None = None
) -> Mapping[str, Any]:
    """`body` as an object with no field outside `allowed`."""
    if not isinstance(body, dict):
        raise BadRequest("bad_request", f"{where} must be an object", statement=statement)
    unknown = sorted(str(name) for name in body if name not in allowed)
    if unknown:
        raise BadRequest(
            "unknown_field",
            f"{where} has unknown field(s) {', '.join(map(repr, unknown))}; "
            f"known: {', '.join(allowed)}",
            statement=statement,
        )
    return body


def statements(body: Mapping[str, Any]) -> list[tuple[str, Params]]:
    raw = body.get("statements")
    if not isinstance(raw, list) or not raw:
        raise BadRequest("bad_request", '"statements" must be a non-empty list')
    return [_statement(index, item) for index, item in enumerate(raw)]


def _statement(index: int, item: Any) -> tuple[str, Params]:
    where = f"statement {index}"
    known = fields(item, _STATEMENT_FIELDS, where=where, statement=index)
    sql = known.get("sql")
    if not isinstance(sql, str):
        raise BadRequest("bad_request", f'{where} needs a "sql" string', statement=index)
    params = known.get("params", [])
    if isinstance(params, list):
        return sql, [_value(index, f"parameter {i + 1}", v) for i, v in enumerate(params)]
    if isinstance(params, dict):
        named: dict[str, Any] = {}
        for name, value in params.items():
            # The analyzer and the engine want names without their prefix (:x -> x).
            key = name[1:] if name.startswith(_NAME_PREFIXES) else name
            if not key or key in named:
                raise BadRequest(
                    "bad_request", f"{where}: parameter name {name!r} is empty or given twice",
                    statement=index,
                )  # fmt: skip
            named[key] = _value(index, f"parameter {name!r}", value)
        return sql, named
    raise BadRequest(
        "bad_request", f'{where}: "params" must be a list or an object', statement=index
    )


def _value(index: int, what: str, value: Any) -> Any:
    if isinstance(value, _SCALARS):
        return value
    if isinstance(value, dict):
        try:
            return decode_blob(value)
        except ValueError as error:
            raise BadRequest(
                "bad_request", f"statement {index}, {what}: {error}", statement=index
            ) from None
    raise BadRequest(
        "bad_request",
        f"statement {index}, {what}: a value is null, a boolean, a number, a string or "
        f'{{"$blob": "<base64>"}}, not {type(value).__name__}',
        statement=index,
    )


def request_id(body: Mapping[str, Any]) -> str | None:
    value = body.get("request_id")
    if value is None:
        return None
    if not isinstance(value, str) or not 0 < len(value) <= MAX_REQUEST_ID_CHARS:
        raise BadRequest(
            "bad_request",
            f'"request_id" must be a string of 1..{MAX_REQUEST_ID_CHARS} characters',
        )
    if "\x00" in value:  # reserved for resubmissions (epaxdb.runtime.sql_machine)
        raise BadRequest("bad_request", '"request_id" must not contain a NUL character')
    return value


def timeout_s(body: Mapping[str, Any]) -> float:
    value = body.get("timeout_ms", DEFAULT_TIMEOUT_MS)
    if type(value) is not int or not 0 < value <= MAX_TIMEOUT_MS:
        raise BadRequest("bad_request", f'"timeout_ms" must be an integer in 1..{MAX_TIMEOUT_MS}')
    return value / 1000


def after(body: Mapping[str, Any], replica_count: int) -> After | None:
    value = body.get("after")
    if value is None:
        return None
    if not isinstance(value, str):
        raise BadRequest("bad_token", '"after" must be a commit token or a position (a string)')
    try:
        return parse_token(value, replica_count)
    except BadToken as error:
        raise BadRequest("bad_token", f'"after": {error}') from None
