"""The HTTP front end of one replica (aiohttp): thin, everything real is in the node.

    POST /v1/tx      {"statements": [{"sql": "...", "params": [...] | {...}}],
                      "request_id": "optional", "timeout_ms": optional,
                      "interactive": optional, the context of the last preview}
    POST /v1/tx/preview   interactive transactions (server/interactive.py)
    GET  /v1/status  this replica: id, pid, peers, executed position, state hash, log

Statuses of POST /v1/tx, one table (`_ERRORS`):
    200 results          409 a deterministic execution error (same on every replica)
    400 bad request or analyzer refusal (nothing submitted)
    503 not submitted (stopping, overloaded)      504 outcome unknown (retry same id)

Values in results are JSON values; a BLOB is {"base64": "..."}.
"""

from __future__ import annotations

import base64
import importlib.metadata
import json
from typing import Any

from aiohttp import web

from analyzer.errors import AnalyzerError
from epaxdb.runtime.errors import InvalidRequest, OutcomeUnknown, Unavailable
from epaxdb.runtime.node import Node
from epaxdb.storage import RowsResult, TransactionResult

NODE = web.AppKey("node", Node)
DEFAULT_TIMEOUT_MS = 10_000
MAX_TIMEOUT_MS = 120_000

try:
    _VERSION = importlib.metadata.version("epaxdb")
except importlib.metadata.PackageNotFoundError:  # running from a source tree
    _VERSION = "unknown"


def make_app(node: Node) -> web.Application:
    app = web.Application(client_max_size=16 * 1024 * 1024)
    app[NODE] = node
    app.router.add_post("/v1/tx", _post_transaction)
    app.router.add_get("/v1/status", _get_status)
    # Route modules use this module's parsing and error rendering: imported here.
    from server import interactive

    interactive.register(app)
    return app


async def _post_transaction(request: web.Request) -> web.Response:
    node = request.app[NODE]
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        return _error(400, "bad_request", f"the body is not JSON: {error}")
    try:
        statements, request_id, timeout_ms = _parse_transaction(body)
        result: TransactionResult = await node.submit(
            statements, request_id=request_id, timeout_s=timeout_ms / 1000,
            interactive=body.get("interactive"),
        )  # fmt: skip
    except InvalidRequest as error:
        return _error(400, "bad_request", str(error))
    except AnalyzerError as error:
        return _error(400, error.code, error.message, statement=error.statement)
    except Unavailable as error:
        return _error(503, "unavailable", str(error))
    except OutcomeUnknown as error:
        return _error(504, "outcome_unknown", str(error), request_id=error.request_id)
    if result.error is not None:
        return _error(
            409, result.error.code, result.error.message,
            statement=result.error.statement_index, retryable=result.error.retryable,
            request_id=result.request_id,
        )  # fmt: skip
    return web.json_response(
        {"request_id": result.request_id, "results": [_statement(s) for s in result.statements]}
    )


async def _get_status(request: web.Request) -> web.Response:
    status = await request.app[NODE].status()
    status["version"] = _VERSION
    return web.json_response(status)


def _parse_transaction(body: Any) -> tuple[list[tuple[str, Any]], str | None, int]:
    if not isinstance(body, dict):
        raise InvalidRequest("the body must be a JSON object")
    raw = body.get("statements")
    if not isinstance(raw, list) or not raw:
        raise InvalidRequest('"statements" must be a non-empty list')
    statements = []
    for index, item in enumerate(raw):
        if not isinstance(item, dict) or not isinstance(item.get("sql"), str):
            raise InvalidRequest(f'statement {index} must be an object with a "sql" string')
        statements.append((item["sql"], item.get("params", [])))
    request_id = body.get("request_id")
    if request_id is not None and (not isinstance(request_id, str) or not request_id):
        raise InvalidRequest('"request_id" must be a non-empty string')
    timeout_ms = body.get("timeout_ms", DEFAULT_TIMEOUT_MS)
    if type(timeout_ms) is not int or not 0 < timeout_ms <= MAX_TIMEOUT_MS:
        raise InvalidRequest(f'"timeout_ms" must be an integer in 1..{MAX_TIMEOUT_MS}')
    return statements, request_id, timeout_ms


def _statement(result: Any) -> dict[str, Any]:
    if isinstance(result, RowsResult):
        return {
            "columns": list(result.columns),
            "rows": [[_value(v) for v in row] for row in result.rows],
        }
    return {"rows_affected": result.rows_affected, "last_insert_rowid": result.last_insert_rowid}


def _value(value: Any) -> Any:
    if isinstance(value, bytes):
        return {"base64": base64.b64encode(value).decode("ascii")}
    return value


def _error(
    status: int,
    code: str,
    message: str,
    *,
    statement: int | None = None,
    retryable: bool = False,
    request_id: str | None = None,
) -> web.Response:
    error = {"code": code, "message": message, "statement": statement, "retryable": retryable}
    body: dict[str, Any] = {"error": error}
    if request_id:
        body["request_id"] = request_id
    return web.json_response(body, status=status)
