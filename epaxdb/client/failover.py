"""Which replica a request goes to, when it goes to another, and what to raise when
none answered; no I/O here (both transports follow these decisions).

A connection sticks to the replica that last answered. A request moves on to the
next replica when the connection fails or the replica answers 503 (not submitted),
for up to `ROUNDS` passes over the list, with a short pause before each new pass.
Every request is safe to send again: reads and previews change nothing, and a
transaction carries its `request_id`, which the cluster never applies twice. What
is raised when every attempt failed depends on whether one of them may have
reached a replica with a transaction: `OutcomeUnknown` then, `Unavailable` if not.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from epaxdb.client.errors import (
    Error,
    InterfaceError,
    OperationalError,
    OutcomeUnknown,
    Unavailable,
    error_from_answer,
)
from epaxdb.client.protocol import Request

ROUNDS = 3
PAUSE_S = 0.1  # before the second pass; doubled before each later one


@dataclass(frozen=True, slots=True)
class Endpoint:
    scheme: str
    host: str
    port: int
    base_path: str

    def __str__(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}{self.base_path}"


def parse_endpoints(target: str | Sequence[str]) -> tuple[Endpoint, ...]:
    """`"http://a:4001"`, `"a:4001,b:4002"` (http implied) or a list of such URLs."""
    texts = target.split(",") if isinstance(target, str) else list(target)
    endpoints = []
    for text in (t.strip() for t in texts):
        if not text:
            continue
        parts = urllib.parse.urlsplit(text if "://" in text else f"http://{text}")
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise InterfaceError(f"not an http(s) replica URL: {text!r}")
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError as error:
            raise InterfaceError(f"bad port in {text!r}: {error}") from None
        endpoints.append(Endpoint(parts.scheme, parts.hostname, port, parts.path.rstrip("/")))
    if not endpoints:
        raise InterfaceError("connect() needs at least one replica URL")
    return tuple(endpoints)


class Endpoints:
    """The replicas of one connection and the one it currently talks to."""

    def __init__(self, endpoints: Sequence[Endpoint]) -> None:
        self.all = tuple(endpoints)
        self.current = 0

    def order(self) -> list[Endpoint]:
        return [self.all[(self.current + i) % len(self.all)] for i in range(len(self.all))]

    def answered(self, endpoint: Endpoint) -> None:
        self.current = self.all.index(endpoint)


class TransportFailure(Exception):
    """A transport could not get an answer; `sent` says whether the request may have
    reached the replica (it was written, then the connection failed or timed out)."""

    def __init__(self, cause: BaseException, *, sent: bool) -> None:
        super().__init__(f"{type(cause).__name__}: {cause}")
        self.sent = sent


class Attempts:
    """One request's way through the replicas."""

    def __init__(self, endpoints: Endpoints, request: Request) -> None:
        self._endpoints = endpoints
        self._request = request
        self._plan = [
            (endpoint, PAUSE_S * 2 ** (round_ - 1) if round_ and i == 0 else 0.0)
            for round_ in range(ROUNDS)
            for i, endpoint in enumerate(endpoints.order())
        ]
        self._failures: dict[Endpoint, str] = {}
        self._maybe_sent = False

    def next(self) -> tuple[Endpoint, float]:
        """The replica to try next and how long to pause first; raises the final error
        when every attempt has failed."""
        if not self._plan:
            raise self._final_error()
        return self._plan.pop(0)

    def failed(self, endpoint: Endpoint, failure: TransportFailure) -> None:
        self._failures[endpoint] = str(failure)
        self._maybe_sent = self._maybe_sent or failure.sent

    def answered(self, endpoint: Endpoint, status: int, body: Any) -> Any | None:
        """The body of a 200 answer; None to try the next replica (503, or an `after`
        not reached there); raises the mapped error for any other status."""
        if status == 200:
            self._endpoints.answered(endpoint)
            return body
        error = error_from_answer(status, body)
        if isinstance(error, Unavailable):
            self._failures[endpoint] = f"HTTP {status}: {error}"
            return None
        if isinstance(error, OutcomeUnknown):
            if not self._request.may_apply:
                # A read that timed out changed nothing: there is no outcome to be unsure of.
                raise OperationalError(str(error), code=error.code, retryable=True) from error
            # A 504 without our body (a proxy's) names no request id: this one was sent.
            error.request_id = error.request_id or self._request.request_id
        if status >= 500 and self._request.may_apply and not isinstance(error, OutcomeUnknown):
            # A server failing mid-request may have submitted the transaction.
            raise OutcomeUnknown(
                f"HTTP {status} after transaction {self._request.request_id} was sent ({error}); "
                "its outcome is unknown: retry it only with the same request id",
                code=error.code,
                request_id=self._request.request_id,
            ) from error
        raise error

    def _final_error(self) -> Error:
        tried = "; ".join(f"{endpoint}: {why}" for endpoint, why in self._failures.items())
        if self._request.may_apply and self._maybe_sent:
            return OutcomeUnknown(
                f"transaction {self._request.request_id} was sent but no replica confirmed "
                f"its outcome ({tried}); retry it only with the same request id",
                code="outcome_unknown",
                request_id=self._request.request_id,
            )
        return Unavailable(f"no replica took the request ({tried})", code="unavailable")
