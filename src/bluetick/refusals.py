"""Refusing a request: the `Refusal` a check raises, the middleware that answers and counts it, and the HTTP
protocol that refuses what never reaches the middleware (a malformed request line or header)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_protocol import RequestHandler

from bluetick import metrics

log = logging.getLogger("bluetick.refusals")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Refusal(Exception):
    """A refused request: answered `status` with {"error": message, **extra}, counted under `reason`."""

    def __init__(self, status: int, message: str, reason: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.reason = reason
        self.extra = extra


def error(status: int, message: str, **extra: Any) -> web.Response:
    """The JSON error body: of a refusal, and of a request the database could not store (not a refusal)."""
    return web.json_response({"error": message, **extra}, status=status)


def route_of(request: web.BaseRequest) -> str:
    """The name of the request's route, for the logs: never its path, which may hold a phone or a token."""
    match_info = getattr(request, "match_info", None)
    route = match_info.route if match_info is not None else None
    return (route.name if route is not None else None) or "unknown"


def _client_gone(request: web.Request) -> bool:
    """Whether the request's own connection is closed (a lost database connection is a ConnectionError too)."""
    transport = request.transport
    return transport is None or transport.is_closing()


CLIENT_FAULTS = (ConnectionError, web.RequestPayloadError, HttpProcessingError)


@web.middleware
async def refuse(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Answer and count every refusal in one place. A bug must not turn into a 500 the BSP treats as
    final: it is logged and refused with a 503 so the BSP retries."""
    try:
        return await handler(request)
    except Refusal as raised:
        refusal = raised
    except web.HTTPRequestEntityTooLarge:  # aiohttp's own limit, for a body without a declared length
        refusal = Refusal(413, "body too large", "too_large")
    except web.RequestPayloadError:  # a body that does not decode as its Content-Encoding or chunks say
        refusal = Refusal(400, "body could not be decoded", "bad_encoding")
    except web.HTTPException:  # aiohttp's own answers, such as 404 for an unknown path
        raise
    except Exception as exc:
        if isinstance(exc, ConnectionError) and _client_gone(request):  # nobody is there to read an answer
            log.debug("client gone route=%s", route_of(request))
            metrics.REJECTED.labels("client_gone").inc()
            return error(400, "client gone")
        log.exception("unhandled error route=%s error=%s", route_of(request), type(exc).__name__)
        refusal = Refusal(503, "temporarily unavailable, retry later", "internal")
    metrics.REJECTED.labels(refusal.reason).inc()
    answer = error(refusal.status, refusal.message, **refusal.extra)
    if refusal.status == 408:  # a client too slow to send its body does not keep the connection
        answer.force_close()
    return answer


class Protocol(RequestHandler):
    """aiohttp's HTTP protocol, answering as bluetick does: a request aiohttp cannot parse (a control character in
    a header, a request line over 8 kB) is refused with bluetick's JSON error, never with aiohttp's text, which
    echoes the offending bytes (a token); client faults are debug lines, never tracebacks."""

    def handle_error(
        self,
        request: web.BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        if request.writer.output_size > 0:  # an answer is on its way already: only closing is left
            raise ConnectionError("answer already started")
        if status < 500:
            log.debug("malformed request status=%d error=%s", status, type(exc).__name__)
            refusal = Refusal(status, "malformed HTTP request", "bad_http")
        else:
            log.error("unhandled error route=%s", route_of(request), exc_info=exc)
            refusal = Refusal(503, "temporarily unavailable, retry later", "internal")
        metrics.REJECTED.labels(refusal.reason).inc()
        answer = error(refusal.status, refusal.message)
        answer.force_close()
        return answer

    def log_exception(self, *args: Any, **kw: Any) -> None:
        exc = kw.get("exc_info")
        if isinstance(exc, CLIENT_FAULTS):  # e.g. the unread rest of a body that would not decode
            log.debug("client fault error=%s", type(exc).__name__)
            return
        what = args[0] if args and isinstance(args[0], str) else "error"  # aiohttp's fixed text, not its arguments
        log.error("HTTP protocol: %s", what.removesuffix(" %s"), exc_info=exc)
