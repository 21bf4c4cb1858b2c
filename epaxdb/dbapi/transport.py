"""Blocking HTTP for `epaxdb.dbapi`: one kept-alive `http.client` connection per
replica, retries and failover as `epaxdb.client.failover` decides."""

from __future__ import annotations

import http.client
import ssl
import time
from typing import Any

from epaxdb.client.codec import decode_answer
from epaxdb.client.connection import SOCKET_MARGIN_S, ConnectOptions
from epaxdb.client.failover import Attempts, Endpoint, TransportFailure
from epaxdb.client.protocol import Request
from epaxdb.client.session import Operation, T, drive

_STALE = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError)


class HttpTransport:
    def __init__(self, options: ConnectOptions) -> None:
        self._options = options
        self._connections: dict[Endpoint, http.client.HTTPConnection] = {}
        self._headers = options.headers()

    def run(self, operation: Operation[T]) -> T:
        return drive(operation, self.send)

    def send(self, request: Request) -> Any:
        payload = None if request.body is None else self._options.codec.encode(request.body)
        attempts = Attempts(self._options.endpoints, request)
        while True:
            endpoint, pause_s = attempts.next()
            if pause_s:
                time.sleep(pause_s)
            try:
                status, content_type, data = self._exchange(endpoint, request, payload)
            except TransportFailure as failure:
                attempts.failed(endpoint, failure)
                continue
            answer = attempts.answered(endpoint, status, decode_answer(content_type, data))
            if answer is not None:
                return answer

    def close(self) -> None:
        for connection in self._connections.values():
            connection.close()
        self._connections.clear()

    def _exchange(
        self, endpoint: Endpoint, request: Request, payload: bytes | None
    ) -> tuple[int, str, bytes]:
        connection = self._connections.get(endpoint)
        if connection is not None:
            try:
                return self._send_on(connection, endpoint, request, payload)
            except _STALE:
                # The server closed this kept-alive connection while it was idle:
                # send once more on a fresh one (every request is safe to resend).
                self._connections.pop(endpoint).close()
            except (OSError, http.client.HTTPException) as error:
                self._connections.pop(endpoint).close()
                raise TransportFailure(error, sent=True) from error
        connection = self._open(endpoint)
        try:
            connection.connect()
        except OSError as error:
            connection.close()
            raise TransportFailure(error, sent=False) from error
        self._connections[endpoint] = connection
        try:
            return self._send_on(connection, endpoint, request, payload)
        except (OSError, http.client.HTTPException) as error:
            self._connections.pop(endpoint).close()
            raise TransportFailure(error, sent=True) from error

    def _send_on(
        self,
        connection: http.client.HTTPConnection,
        endpoint: Endpoint,
        request: Request,
        payload: bytes | None,
    ) -> tuple[int, str, bytes]:
        connection.request(
            request.method, endpoint.base_path + request.path, payload, self._headers
        )
        response = connection.getresponse()
        data = response.read()
        if response.will_close:
            self._connections.pop(endpoint).close()
        return response.status, response.getheader("Content-Type", ""), data

    def _open(self, endpoint: Endpoint) -> http.client.HTTPConnection:
        timeout = self._options.timeout_s + SOCKET_MARGIN_S
        if endpoint.scheme == "https":
            return http.client.HTTPSConnection(
                endpoint.host, endpoint.port, timeout=timeout, context=ssl.create_default_context()
            )
        return http.client.HTTPConnection(endpoint.host, endpoint.port, timeout=timeout)
