"""Refusing a request: the `Refusal` a check raises, and the middleware that answers and counts it."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

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
    except web.HTTPException:  # aiohttp's own answers, such as 404 for an unknown path
        raise
    except Exception:
        log.exception("unhandled error path=%s", request.path)
        refusal = Refusal(503, "temporarily unavailable, retry later", "internal")
    metrics.REJECTED.labels(refusal.reason).inc()
    return error(refusal.status, refusal.message, **refusal.extra)
