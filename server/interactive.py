"""POST /v1/tx/preview: an interactive transaction's statements so far, run on this
replica's state and rolled back (docs/transactions.md has the protocol).

    {"statements": [...every statement so far...], "context": {...from the previous
     preview; absent at first...}, "after": "<commit token>", "timeout_ms": n}

    200 {"results": [...], "context": {...}}    one result per statement, as POST /v1/tx
    409 {"error": {"code", "message", "statement": i, "retryable": false}, "context"}
        statement i failed deterministically: leave it out and go on with this context,
        which records the failure (with "transaction_rolled_back": true in "error" and
        no context, the failure ended the whole transaction)
    409 {"error": {"code": "serialization_failure", "retryable": true, ...}}
        what the transaction read has changed, or it is too old: run it again
    503 {"error": {"code": "preview_timeout", ...}}
        the statements did not finish within timeout_ms (not `unavailable`: another
        replica would be as slow)
    400, 401, 413, 503, 504 as for POST /v1/tx; a preview never changes anything.

The commit is POST /v1/tx with "interactive": <the last context> (`transactions`).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from epaxdb.runtime.interactive import PreviewAnswer
from server.keys import NODE
from server.requests import parse_preview
from server.results import execution_failed, statement_results
from server.wire import read_body, respond


def register(app: web.Application) -> None:
    app.router.add_post("/v1/tx/preview", post_preview)


async def post_preview(request: web.Request) -> web.Response:
    node = request.app[NODE]
    preview = parse_preview(await read_body(request), node.config.replica_count)
    answer: PreviewAnswer = await node.preview(
        preview.statements, preview.context, after=preview.after, timeout_s=preview.timeout_s
    )
    context = None if answer.context is None else answer.context.to_json()
    if answer.error is not None:
        failed = execution_failed(answer.error)
        if context is not None:
            failed.extra["context"] = context
        if answer.rolled_back:
            failed.error_extra["transaction_rolled_back"] = True
        raise failed
    body: dict[str, Any] = {"results": statement_results(answer.results), "context": context}
    return respond(request, body)
