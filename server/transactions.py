"""POST /v1/tx (run a transaction) and GET /v1/tx/{request_id} (what became of one)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from epaxdb.runtime.sql_machine import executed_at
from epaxdb.storage import TransactionResult
from epaxdb.tokens import instance_token
from server.errors import BadRequest
from server.keys import NODE
from server.requests import MAX_REQUEST_ID_CHARS, parse_transaction
from server.results import committed_body, error_fields, statement_results
from server.wire import read_body, respond


def register(app: web.Application) -> None:
    app.router.add_post("/v1/tx", post_transaction)
    app.router.add_get("/v1/tx/{request_id}", get_transaction)


async def post_transaction(request: web.Request) -> web.Response:
    node = request.app[NODE]
    tx = parse_transaction(await read_body(request), node.config.replica_count)
    result: TransactionResult = await node.submit(
        tx.statements, tx.request_id, tx.timeout_s, after=tx.after, interactive=tx.interactive
    )
    return respond(request, committed_body(result))


async def get_transaction(request: web.Request) -> web.Response:
    request_id = request.match_info["request_id"]
    if len(request_id) > MAX_REQUEST_ID_CHARS:
        raise BadRequest(
            "bad_request", f"a request id has at most {MAX_REQUEST_ID_CHARS} characters"
        )
    result: TransactionResult | None = await request.app[NODE].lookup(request_id)
    return respond(request, outcome_body(request_id, result))


def outcome_body(request_id: str, result: TransactionResult | None) -> dict[str, Any]:
    if result is None:
        # Not executed here (yet): it may be in flight, lost, or may never have existed.
        return {"request_id": request_id, "outcome": "unknown"}
    body: dict[str, Any] = {"request_id": request_id}
    if result.error is None:
        body["outcome"] = "committed"
        body["results"] = statement_results(result.statements)
    else:
        body["outcome"] = "aborted"
        body["error"] = error_fields(result.error)
    body["commit_token"] = instance_token(executed_at(result))
    return body
