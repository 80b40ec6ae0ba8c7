"""What every route handler of the service shares: the service on the app, the organisation of the URL, the
logging API's bearer-token check, and reading a JSON body within the service's limits."""

from __future__ import annotations

import asyncio
from typing import Any
from uuid import UUID

from aiohttp import web

from bluetick import jsoncodec
from bluetick.auth import SecretBook, api_allowed
from bluetick.refusals import Refusal
from bluetick.service import Service

SERVICE = web.AppKey("service", Service)


def url_org(request: web.Request) -> UUID:
    try:
        return UUID(request.match_info["org_id"])
    except ValueError:
        raise Refusal(404, "unknown organisation", "bad_org") from None


def secret_book(request: web.Request) -> SecretBook:
    """The secret book, once it has been loaded from the database."""
    book = request.app[SERVICE].secrets
    if not book.loaded:
        raise not_ready()
    return book


def not_ready() -> Refusal:
    return Refusal(503, "starting: the database is not reachable yet, retry later", "not_ready")


async def read_body(request: web.Request, limit: int) -> bytes:
    """The raw body; refused before reading when the declared length is over `limit`, and with 408 when it does
    not arrive within CLIENT_TIMEOUT_S."""
    if request.content_length is not None and request.content_length > limit:
        raise Refusal(413, "body too large", "too_large", limit=limit)
    timeout_s = request.app[SERVICE].settings.client_timeout_s
    try:
        async with asyncio.timeout(timeout_s):
            return await request.read()
    except TimeoutError:
        raise Refusal(408, f"body not received within {timeout_s} s", "client_timeout") from None


def parse_json(body: bytes) -> Any:
    try:
        return jsoncodec.loads(body)
    except (ValueError, RecursionError):
        raise Refusal(400, "body is not valid JSON", "malformed_json") from None


def api_org(request: web.Request) -> UUID:
    """The organisation of an API route (/v1/orgs/{org_id}/...), once the bearer token is the API's for it."""
    org_id = url_org(request)
    book = secret_book(request)
    settings = request.app[SERVICE].settings
    if not api_allowed(book.for_org(org_id), request.headers.get("Authorization"), settings.open_api):
        raise Refusal(401, "unauthorized", "bad_api_token")
    return org_id
