"""POST /v1/query: read-only statements, linearizable (ordered through EPaxos as a
read) or local (this replica's current state, at once)."""

from __future__ import annotations

from aiohttp import web

from epaxdb.runtime.sql_machine import LocalRead
from epaxdb.storage import TransactionResult
from server.keys import NODE
from server.requests import LINEARIZABLE, parse_query
from server.results import committed_body, execution_failed, statement_results
from server.wire import read_body, respond


def register(app: web.Application) -> None:
    app.router.add_post("/v1/query", post_query)


async def post_query(request: web.Request) -> web.Response:
    node = request.app[NODE]
    query = parse_query(await read_body(request), node.config.replica_count)
    if query.consistency == LINEARIZABLE:
        # A read command: its read keys interfere with writes to them, not with reads,
        # and it executes (on every replica) after every write it must see.
        result: TransactionResult = await node.submit(
            query.statements, query.request_id, query.timeout_s, read_only=True,
            after=query.after,
        )  # fmt: skip
        return respond(request, {**committed_body(result), "consistency": LINEARIZABLE})
    read: LocalRead = await node.read_local(
        query.statements, after=query.after, timeout_s=query.timeout_s
    )
    if read.error is not None:
        raise execution_failed(read.error)
    return respond(request, {
        "results": statement_results(read.results),
        "consistency": query.consistency,
        "executed_count": read.executed_count,
    })  # fmt: skip
