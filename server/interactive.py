"""HTTP for interactive transactions: `POST /v1/tx/preview` (docs/transactions.md).

    POST /v1/tx/preview  {"statements": [{"sql", "params"}, ...],   every statement so far
                          "context": {...},       from the previous preview; absent at first
                          "after": <commit token>, "timeout_ms": optional}

    200 {"results": [...], "context": {...}}      one result per statement, as /v1/tx
    409 {"error": {"code", "message", "statement": i, "retryable": false}, "context": {...}}
        statement i failed deterministically; nothing else changed: leave it out of the
        statements and go on with this context (which records the failure, so the
        commit checks that it still fails). With "transaction_rolled_back": true in the
        error (RAISE(ROLLBACK), ON CONFLICT ROLLBACK) there is no context: the
        transaction is over.
    409 {"error": {"code": "serialization_failure", "retryable": true, ...}}
        what the transaction read has changed (or it is older than the limit): run it
        again from its first statement.
    400, 503 as POST /v1/tx; nothing is ever changed by a preview.

The commit is `POST /v1/tx` with the statements and `"interactive": <last context>`.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from analyzer.errors import AnalyzerError
from epaxdb.runtime.errors import InvalidRequest, Unavailable
from epaxdb.runtime.interactive import PreviewAnswer
from server.app import NODE, _error, _parse_transaction, _statement


def register(app: web.Application) -> None:
    app.router.add_post("/v1/tx/preview", _post_preview)


async def _post_preview(request: web.Request) -> web.Response:
    node = request.app[NODE]
    try:
        body = await request.json()
    except ValueError as error:
        return _error(400, "bad_request", f"the body is not JSON: {error}")
    try:
        statements, _request_id, timeout_ms = _parse_transaction(body)
        answer: PreviewAnswer = await node.preview(
            statements, body.get("context"), after=body.get("after"), timeout_s=timeout_ms / 1000
        )
    except InvalidRequest as error:
        return _error(400, "bad_request", str(error))
    except AnalyzerError as error:
        return _error(400, error.code, error.message, statement=error.statement)
    except Unavailable as error:
        return _error(503, "unavailable", str(error))
    context = None if answer.context is None else answer.context.to_json()
    if answer.error is None:
        return web.json_response(
            {"results": [_statement(s) for s in answer.results], "context": context}
        )
    failure = answer.error
    payload: dict[str, Any] = {
        "error": {
            "code": failure.code,
            "message": failure.message,
            "statement": failure.statement_index,
            "retryable": failure.retryable,
        }
    }
    if answer.rolled_back:
        payload["error"]["transaction_rolled_back"] = True
    if context is not None:
        payload["context"] = context
    return web.json_response(payload, status=409)
