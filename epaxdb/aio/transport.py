"""aiohttp for `epaxdb.aio`: one session (kept-alive connections) per connection,
retries and failover as `epaxdb.client.failover` decides."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp

from epaxdb.client.codec import decode_answer
from epaxdb.client.connection import SOCKET_MARGIN_S, ConnectOptions
from epaxdb.client.failover import Attempts, Endpoint, TransportFailure
from epaxdb.client.protocol import Request
from epaxdb.client.session import Operation, T


class AioHttpTransport:
    def __init__(self, options: ConnectOptions) -> None:
        self._options = options
        self._session = aiohttp.ClientSession(
            headers=options.headers(),
            timeout=aiohttp.ClientTimeout(total=options.timeout_s + SOCKET_MARGIN_S),
        )

    async def run(self, operation: Operation[T]) -> T:
        """Drive a session operation: send each request it yields, throw each error
        back into it."""
        try:
            request = next(operation)
            while True:
                try:
                    answer = await self.send(request)
                except Exception as error:  # noqa: BLE001 - the operation decides
                    request = operation.throw(error)
                else:
                    request = operation.send(answer)
        except StopIteration as stop:
            return stop.value

    async def send(self, request: Request) -> Any:
        payload = None if request.body is None else self._options.codec.encode(request.body)
        attempts = Attempts(self._options.endpoints, request)
        while True:
            endpoint, pause_s = attempts.next()
            if pause_s:
                await asyncio.sleep(pause_s)
            try:
                status, content_type, data = await self._exchange(endpoint, request, payload)
            except TransportFailure as failure:
                attempts.failed(endpoint, failure)
                continue
            answer = attempts.answered(endpoint, status, decode_answer(content_type, data))
            if answer is not None:
                return answer

    async def close(self) -> None:
        await self._session.close()

    async def _exchange(
        self, endpoint: Endpoint, request: Request, payload: bytes | None
    ) -> tuple[int, str, bytes]:
        url = f"{endpoint}{request.path}"
        try:
            async with self._session.request(request.method, url, data=payload) as response:
                return (
                    response.status,
                    response.headers.get("Content-Type", ""),
                    await response.read(),
                )
        except aiohttp.ClientConnectorError as error:
            raise TransportFailure(error, sent=False) from error
        except (TimeoutError, aiohttp.ClientError) as error:
            raise TransportFailure(error, sent=True) from error
