"""Every error answer of the API, in one place: the typed errors handlers raise, the
mapping from runtime and analyzer exceptions, and the middleware that renders them.

Body of every error: {"error": {"code", "message", "statement", "retryable"}} plus,
where it applies, "request_id". `statement` is the index of the statement to blame, or
null; `retryable` is true when sending the same request again may succeed (see
docs/http-api.md for how to retry each one safely).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, ClassVar

from aiohttp import web

from analyzer import AnalyzerError
from epaxdb.runtime.errors import (
    InvalidRequest,
    NotCaughtUp,
    OutcomeUnknown,
    PreviewTimedOut,
    Unavailable,
)
from server.wire import BodyTooLarge, MalformedBody, respond

logger = logging.getLogger("epaxdb.http")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class ApiError(Exception):
    status: ClassVar[int]

    def __init__(
        self,
        code: str,
        message: str,
        *,
        statement: int | None = None,
        retryable: bool = False,
        request_id: str | None = None,
        headers: Mapping[str, str] | None = None,
        extra: Mapping[str, Any] | None = None,
        error_extra: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.statement = statement
        self.retryable = retryable
        self.request_id = request_id
        self.headers = dict(headers or {})
        self.extra = dict(extra or {})  # more members of the body, beside "error"
        self.error_extra = dict(error_extra or {})  # more members of "error"

    def body(self) -> dict[str, Any]:
        error = {
            "code": self.code,
            "message": self.message,
            "statement": self.statement,
            "retryable": self.retryable,
            **self.error_extra,
        }
        body: dict[str, Any] = {"error": error}
        if self.request_id is not None:
            body["request_id"] = self.request_id
        body.update(self.extra)
        return body


class BadRequest(ApiError):
    """400: the request is not acceptable as sent; nothing was submitted."""

    status = 400


class Unauthorized(ApiError):
    status = 401


class NotFound(ApiError):
    status = 404


class MethodNotAllowed(ApiError):
    status = 405


class ExecutionFailed(ApiError):
    """409: the transaction executed and failed deterministically; it changed nothing."""

    status = 409


class PayloadTooLarge(ApiError):
    status = 413


class ServiceUnavailable(ApiError):
    """503: nothing was submitted (`unavailable`: safe to retry, here or elsewhere;
    `preview_timeout`: the replica works but the preview was too slow)."""

    status = 503


class Timeout(ApiError):
    """504: no answer in time (`outcome_unknown` after submitting, `not_caught_up`
    before)."""

    status = 504


class InternalError(ApiError):
    status = 500


class OtherHttpError(ApiError):
    """Any other refusal aiohttp raises itself, with its status."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__("http_error", reason)
        self.status = status  # type: ignore[misc]


def translate(error: Exception) -> ApiError | None:
    """The API error for an exception of the layers below, or None if it is not one."""
    if isinstance(error, AnalyzerError):
        return BadRequest(error.code, error.message, statement=error.statement)
    if isinstance(error, InvalidRequest):
        return BadRequest(error.code, str(error), statement=error.statement)
    if isinstance(error, PreviewTimedOut):
        # Not `unavailable`: another replica would be as slow, so clients must not fail over.
        return ServiceUnavailable("preview_timeout", str(error), retryable=True)
    if isinstance(error, Unavailable):
        return ServiceUnavailable("unavailable", str(error), retryable=True)
    if isinstance(error, OutcomeUnknown):
        return Timeout("outcome_unknown", str(error), retryable=True, request_id=error.request_id)
    if isinstance(error, NotCaughtUp):
        return Timeout("not_caught_up", str(error), retryable=True)
    if isinstance(error, MalformedBody):
        return BadRequest("malformed_body", str(error))
    if isinstance(error, BodyTooLarge):
        return PayloadTooLarge("body_too_large", str(error))
    return None


def _from_http(error: web.HTTPException) -> ApiError:
    """aiohttp's own refusals (unknown route, wrong method, body too large) in our shape."""
    if isinstance(error, web.HTTPRequestEntityTooLarge):
        return PayloadTooLarge("body_too_large", error.text or "the request body is too large")
    if isinstance(error, web.HTTPMethodNotAllowed):
        allowed = ", ".join(sorted(error.allowed_methods))
        return MethodNotAllowed(
            "method_not_allowed", f"{error.method} is not allowed here (allowed: {allowed})",
            headers={"Allow": ",".join(sorted(error.allowed_methods))},
        )  # fmt: skip
    if isinstance(error, web.HTTPNotFound):
        return NotFound("not_found", "no such endpoint (see docs/http-api.md)")
    return OtherHttpError(error.status, error.reason)


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ApiError as error:
        api_error = error
    except web.HTTPException as error:
        if error.status < 400:
            raise  # redirects and the like are not errors
        api_error = _from_http(error)
    except Exception as error:  # the one place where a request's failure ends
        translated = translate(error)
        if translated is None:
            logger.exception("unexpected error serving %s %s", request.method, request.path)
            translated = InternalError("internal", f"{type(error).__name__}: {error}")
        api_error = translated
    return respond(request, api_error.body(), status=api_error.status, headers=api_error.headers)
