"""Retries and failover between replicas, with scripted HTTP servers on loopback:
which replica is tried, that a transaction keeps its request id across replicas,
and what is raised when nobody answered."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

import epaxdb.aio
import epaxdb.dbapi as db
from epaxdb.client.failover import Attempts, Endpoints, TransportFailure, parse_endpoints
from epaxdb.client.protocol import Request
from epaxdb.runtime.local_cluster import free_port

pytestmark = pytest.mark.timeout(60)

Handler = Callable[[str, dict[str, Any]], tuple[int, dict[str, Any]]]
OK = {"results": [{"rows_affected": 1, "last_insert_rowid": 1}], "commit_token": "epx1:0:1"}


@contextmanager
def scripted_replica(answer: Handler) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """An HTTP server answering POSTs with `answer(path, body)`; yields its URL and the
    bodies it received (with their headers under "_headers")."""
    received: list[dict[str, Any]] = []

    class Replica(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            status, reply = answer(self.path, body)
            received.append({**body, "_headers": dict(self.headers)})
            data = json.dumps(reply).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *_args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Replica)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", received
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@contextmanager
def black_hole() -> Iterator[str]:
    """A replica that reads a request and hangs up without answering."""
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            with connection:
                connection.recv(65536)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(5)
        listener.close()


def dead_url() -> str:
    return f"http://127.0.0.1:{free_port()}"


def unavailable(_path: str, _body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    return 503, {"error": {"code": "unavailable", "message": "stopping"}}


def succeed(_path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    return 200, {"request_id": body.get("request_id"), **OK}


def test_attempts_start_at_the_current_replica_and_pause_between_passes() -> None:
    endpoints = Endpoints(parse_endpoints("a:1,b:2,c:3"))
    endpoints.current = 1
    attempts = Attempts(endpoints, Request("/v1/query", {}, may_apply=False))
    plan = []
    for _ in range(9):
        endpoint, pause = attempts.next()
        plan.append((endpoint.host, pause))
        attempts.failed(endpoint, TransportFailure(ConnectionRefusedError(), sent=False))
    assert [host for host, _ in plan] == ["b", "c", "a"] * 3
    assert [pause for _, pause in plan] == [0, 0, 0, 0.1, 0, 0, 0.2, 0, 0]
    with pytest.raises(db.Unavailable):
        attempts.next()


def test_a_transaction_that_may_have_been_sent_ends_in_outcome_unknown() -> None:
    attempts = Attempts(Endpoints(parse_endpoints("a:1")), Request("/v1/tx", {}, may_apply=True))
    endpoint, _ = attempts.next()
    attempts.failed(endpoint, TransportFailure(TimeoutError(), sent=True))
    for _ in range(2):
        endpoint, _ = attempts.next()
        attempts.failed(endpoint, TransportFailure(ConnectionRefusedError(), sent=False))
    with pytest.raises(db.OutcomeUnknown):
        attempts.next()


def test_dead_first_replica_fails_over_and_the_connection_stays_on_the_live_one() -> None:
    with scripted_replica(succeed) as (live, received):
        connection = db.connect([dead_url(), live], autocommit=True)
        connection.execute("INSERT INTO t VALUES (1)")
        connection.execute("INSERT INTO t VALUES (2)")
        assert len(received) == 2
        assert connection.options.endpoints.current == 1
        connection.close()


def test_503_moves_on_to_the_next_replica_with_the_same_request_id() -> None:
    with (
        scripted_replica(unavailable) as (busy, refused),
        scripted_replica(succeed) as (
            live,
            accepted,
        ),
    ):
        connection = db.connect([busy, live], autocommit=True)
        connection.execute("INSERT INTO t VALUES (1)")
        assert refused[0]["request_id"] == accepted[0]["request_id"]
        connection.close()


def test_every_replica_refusing_is_unavailable_and_safe() -> None:
    with scripted_replica(unavailable) as (busy, received):
        connection = db.connect([busy, dead_url()], autocommit=True)
        with pytest.raises(db.Unavailable):
            connection.execute("INSERT INTO t VALUES (1)")
        assert len(received) == 3  # three passes over the list
        assert len({body["request_id"] for body in received}) == 1
        connection.close()


def test_lost_answer_to_a_write_is_outcome_unknown_but_to_a_read_unavailable() -> None:
    with black_hole() as hole:
        connection = db.connect(hole, autocommit=True)
        with pytest.raises(db.OutcomeUnknown) as raised:
            connection.execute("INSERT INTO t VALUES (1)")
        assert raised.value.request_id
        with pytest.raises(db.Unavailable):
            connection.execute("SELECT 1")
        connection.close()


def test_bearer_token_and_content_type_are_sent() -> None:
    with scripted_replica(succeed) as (live, received):
        connection = db.connect(live, token="s3cret", autocommit=True)
        connection.execute("INSERT INTO t VALUES (1)")
        connection.close()
    assert received[0]["_headers"]["Authorization"] == "Bearer s3cret"
    assert received[0]["_headers"]["Content-Type"] == "application/json"


def test_asyncio_client_fails_over_and_reports_unknown_outcomes_alike() -> None:
    async def scenario(live: str, hole: str) -> None:
        connection = await epaxdb.aio.connect([dead_url(), live], autocommit=True)
        cursor = await connection.execute("INSERT INTO t VALUES (1)")
        assert cursor.rowcount == 1
        await connection.close()
        lost = await epaxdb.aio.connect(hole, autocommit=True)
        with pytest.raises(db.OutcomeUnknown):
            await lost.execute("INSERT INTO t VALUES (1)")
        await lost.close()

    with scripted_replica(succeed) as (live, _), black_hole() as hole:
        asyncio.run(scenario(live, hole))


def test_server_failure_during_a_transaction_is_an_unknown_outcome() -> None:
    def broken(_path: str, _body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        return 500, {"error": {"code": "internal", "message": "KeyError: 'x'"}}

    with scripted_replica(broken) as (url, received):
        connection = db.connect(url, autocommit=True)
        with pytest.raises(db.OutcomeUnknown) as raised:
            connection.execute("INSERT INTO t VALUES (1)")
        assert raised.value.request_id == received[0]["request_id"]
        with pytest.raises(db.InternalError):
            connection.execute("SELECT 1")  # a read: nothing can have been applied
        connection.close()


def test_a_query_that_timed_out_is_operational_not_an_unknown_outcome() -> None:
    def slow(_path: str, _body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        return 504, {"error": {"code": "outcome_unknown", "message": "no result in 0.1 s"}}

    with scripted_replica(slow) as (url, _):
        connection = db.connect(url, autocommit=True)
        with pytest.raises(db.OperationalError) as raised:
            connection.execute("SELECT 1")
        assert not isinstance(raised.value, db.OutcomeUnknown)
        with pytest.raises(db.OutcomeUnknown):
            connection.execute("INSERT INTO t VALUES (1)")
        connection.close()


def test_a_preview_that_timed_out_is_operational_and_not_sent_to_another_replica() -> None:
    def slow(_path: str, _body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        error = {"code": "preview_timeout", "message": "the preview did not finish within 0.1 s",
                 "retryable": True}  # fmt: skip
        return 503, {"error": error}

    with scripted_replica(slow) as (first, tried), scripted_replica(succeed) as (second, other):
        connection = db.connect([first, second])  # a transaction: every statement is previewed
        with pytest.raises(db.OperationalError) as raised:
            connection.execute("SELECT 1")
        assert raised.value.code == "preview_timeout"
        assert not isinstance(raised.value, db.Unavailable)
        assert len(tried) == 1 and other == []
        connection.close()


def test_a_bare_504_after_a_transaction_was_sent_names_its_request_id() -> None:
    def proxy(_path: str, _body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        return 504, {"message": "upstream timed out"}  # a proxy's body, not epaxdb's

    with scripted_replica(proxy) as (url, received):
        connection = db.connect(url, autocommit=True)
        with pytest.raises(db.OutcomeUnknown) as raised:
            connection.execute("INSERT INTO t VALUES (1)")
        assert raised.value.request_id == received[0]["request_id"]
        connection.close()
