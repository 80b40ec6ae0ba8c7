"""Signed webhook subscriptions (docs/design.md, "Events"): the routes, and the deliverer run with the app.

    POST   /v1/orgs/{org}/subscriptions              {"url", "events": [...]} -> 201 {"id", "url", "events", "secret"}
    GET    /v1/orgs/{org}/subscriptions              {"subscriptions": [their delivery state, backlog]}, no secret
    DELETE /v1/orgs/{org}/subscriptions/{id}         204
    POST   /v1/orgs/{org}/subscriptions/{id}/rotate  {"secret"}: the old one also signs for WEBHOOK_ROTATE_OVERLAP
    POST   /v1/orgs/{org}/subscriptions/{id}/resume  {"after": <feed cursor>} (optional): enabled again, due now

All behind the logging API's bearer token, for its organisation. A secret is "whsec_" and the base64 of 32 random
bytes (the Standard Webhooks format); it is answered once, when made or rotated. A URL must be https and resolve
only to public addresses (the event loop's getaddrinfo), unless SUBSCRIPTIONS_ALLOW_PRIVATE; the deliverer checks
again at each connection (bluetick.delivery).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import re
import secrets
import socket
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from aiohttp import web
from yarl import URL

from bluetick import jsoncodec
from bluetick.delivery import Deliverer, DeliveryOptions, address_allowed, ip_literal
from bluetick.refusals import Refusal
from bluetick.service import Service
from bluetick.store import PermanentError, Store

EVENT_TYPES = ("message.status", "message.received", "customer.preferences", "template.status")
MAX_URL = 2048
MAX_BODY = 16 * 1024
BACKLOG_CAP = 10_000  # GET counts a subscription's backlog up to this
RESOLVE_TIMEOUT_S = 5.0
MAX_XID = 2**64 - 1
MAX_ID = 2**63 - 1
_CURSOR_TEXT = re.compile(r"[A-Za-z0-9_-]{1,64}")
_CURSOR = re.compile(r"([0-9]{1,20}):([0-9]{1,19})")


@dataclass
class Subscriptions:
    """The app's subscription state: its service, the API's check of a request's organisation, and the deliverer's
    options (a test sets shorter ones before the app starts)."""

    service: Service
    api_org: Callable[[web.Request], UUID]
    options: DeliveryOptions
    deliverer: Deliverer | None = None


SUBSCRIPTIONS = web.AppKey("subscriptions", Subscriptions)


def setup(app: web.Application, service: Service, api_org: Callable[[web.Request], UUID]) -> None:
    """Add the subscription routes, and run the deliverer while the app serves. Call it after the service's own
    cleanup context is added: the deliverer starts once the service is open and stops before it closes."""
    app[SUBSCRIPTIONS] = Subscriptions(service, api_org, DeliveryOptions())
    base = "/v1/orgs/{org_id}/subscriptions"
    app.router.add_post(base, create_subscription, name="create_subscription")
    app.router.add_get(base, list_subscriptions, name="list_subscriptions")
    app.router.add_delete(base + "/{subscription_id}", delete_subscription, name="delete_subscription")
    app.router.add_post(base + "/{subscription_id}/rotate", rotate_subscription, name="rotate_subscription")
    app.router.add_post(base + "/{subscription_id}/resume", resume_subscription, name="resume_subscription")
    app.cleanup_ctx.append(_delivering)


async def _delivering(app: web.Application) -> AsyncIterator[None]:
    state = app[SUBSCRIPTIONS]
    service = state.service
    deliverer = Deliverer(
        service.store,
        service.settings,
        state.options,
        ready=service.ready,
        ingest_turn=lambda limit_s: service.pipeline.ingest_turn(limit_s),
    )
    state.deliverer = deliverer
    await deliverer.start()
    try:
        yield
    finally:
        await deliverer.stop()


def new_secret() -> str:
    """A signing secret in the Standard Webhooks format: whsec_ and the base64 of 32 random bytes."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def _bad(message: str) -> Refusal:
    return Refusal(400, message, "bad_subscription")


def _not_found() -> Refusal:
    return Refusal(404, "no such subscription in this organisation", "unknown_subscription")


def _request(request: web.Request) -> tuple[Subscriptions, UUID, Store]:
    """The app's state, the organisation (the API token checked) and the store, once the database is ready."""
    state = request.app[SUBSCRIPTIONS]
    org_id = state.api_org(request)
    if not state.service.ready.is_set():
        raise Refusal(503, "starting: the database is not reachable yet, retry later", "not_ready")
    return state, org_id, state.service.store


def _subscription_id(request: web.Request) -> UUID:
    try:
        return UUID(request.match_info["subscription_id"])
    except ValueError:
        raise _not_found() from None


async def _body(request: web.Request, required: bool) -> dict[str, Any]:
    """The JSON object of the body ({} when there is none and none is `required`)."""
    if request.content_length is not None and request.content_length > MAX_BODY:
        raise Refusal(413, "body too large", "too_large", limit=MAX_BODY)
    timeout_s = request.app[SUBSCRIPTIONS].service.settings.client_timeout_s
    try:
        async with asyncio.timeout(timeout_s):
            raw = await request.content.read(MAX_BODY + 1)
    except TimeoutError:
        raise Refusal(408, f"body not received within {timeout_s} s", "client_timeout") from None
    if len(raw) > MAX_BODY:
        raise Refusal(413, "body too large", "too_large", limit=MAX_BODY)
    if not raw.strip() and not required:
        return {}
    try:
        doc = jsoncodec.loads(raw)
    except (ValueError, RecursionError):
        raise Refusal(400, "body is not valid JSON", "malformed_json") from None
    if not isinstance(doc, dict):
        raise _bad("body must be a JSON object")
    return doc


def parse_events(value: Any) -> list[str]:
    """The event types asked for, each known, in order, without repeats; raises a 400 Refusal naming the problem."""
    if not isinstance(value, list) or not value:
        raise _bad(f"events must be a non-empty list of event types: {', '.join(EVENT_TYPES)}")
    for name in value:
        if name not in EVENT_TYPES:
            shown = name[:64] if isinstance(name, str) else type(name).__name__
            raise _bad(f"unknown event type {shown!r}: event types are {', '.join(EVENT_TYPES)}")
    return list(dict.fromkeys(value))


async def check_url(value: Any, allow_private: bool) -> str:
    """A URL deliveries may go to: https (http too with `allow_private`), with a host and no credentials, whose
    host resolves only to public addresses (any with `allow_private`); raises a 400 Refusal naming the problem."""
    if not isinstance(value, str) or not value:
        raise _bad("url must be the receiver's https URL")
    if len(value) > MAX_URL:
        raise _bad(f"url is longer than {MAX_URL} characters")
    try:
        url = URL(value)
    except (ValueError, TypeError):
        raise _bad("url is not a URL") from None
    allowed = ("https", "http") if allow_private else ("https",)
    if url.scheme not in allowed:
        raise _bad("url must be https" + ("" if allow_private else " (SUBSCRIPTIONS_ALLOW_PRIVATE is off)"))
    host = url.raw_host
    if not host or not url.is_absolute():
        raise _bad("url has no host")
    if url.user is not None or url.password is not None:
        raise _bad("url must not carry credentials (user:password@)")
    if url.fragment:
        raise _bad("url must not have a fragment")
    if allow_private:
        return value
    literal = ip_literal(host)
    if literal is not None:
        addresses = [literal]
    else:
        addresses = await _resolve(host, url.port or 443)
    refused = [a for a in addresses if not address_allowed(a)]
    if refused:
        raise _bad(f"url resolves to {refused[0]}, a loopback, private, link-local or otherwise non-public address")
    return value


async def _resolve(host: str, port: int) -> list[str]:
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(RESOLVE_TIMEOUT_S):
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, TimeoutError, UnicodeError):
        raise _bad("url's host does not resolve") from None
    addresses = [str(info[4][0]) for info in infos]
    if not addresses:
        raise _bad("url's host does not resolve")
    return addresses


def parse_cursor(value: Any) -> tuple[str, int] | None:
    """(xid, id) of a feed cursor (the urlsafe base64, unpadded, of "<xid>:<id>", as the event feed answers it),
    None for none; raises a 400 Refusal when it is not one."""
    if value is None:
        return None
    problem = "after is not a cursor of the event feed: pass a `next` or an event's `cursor` as given"
    if not isinstance(value, str) or not _CURSOR_TEXT.fullmatch(value):
        raise _bad(problem)
    try:
        text = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode("ascii")
    except (binascii.Error, UnicodeDecodeError):
        raise _bad(problem) from None
    match = _CURSOR.fullmatch(text)
    if match is None or int(match.group(1)) > MAX_XID or int(match.group(2)) > MAX_ID:
        raise _bad(problem)
    return str(int(match.group(1))), int(match.group(2))


async def create_subscription(request: web.Request) -> web.Response:
    state, org_id, store = _request(request)
    doc = await _body(request, required=True)
    unknown = sorted(set(doc) - {"url", "events"})
    if unknown:
        raise _bad(f"unknown field {unknown[0][:64]!r}: a subscription has url and events")
    events = parse_events(doc.get("events"))
    url = await check_url(doc.get("url"), state.service.settings.subscriptions_allow_private)
    secret = new_secret()
    created = await store.subscription_create(org_id, url, events, secret)
    return web.json_response({**created, "secret": secret}, status=201)


async def list_subscriptions(request: web.Request) -> web.Response:
    _, org_id, store = _request(request)
    return web.json_response({"subscriptions": await store.subscriptions(org_id, BACKLOG_CAP)})


async def delete_subscription(request: web.Request) -> web.Response:
    _, org_id, store = _request(request)
    if not await store.subscription_delete(org_id, _subscription_id(request)):
        raise _not_found()
    return web.Response(status=204)


async def rotate_subscription(request: web.Request) -> web.Response:
    state, org_id, store = _request(request)
    secret = new_secret()
    overlap = state.service.settings.webhook_rotate_overlap
    if not await store.subscription_rotate(org_id, _subscription_id(request), secret, overlap):
        raise _not_found()
    return web.json_response({"secret": secret, "previous_secret_for_s": int(overlap.total_seconds())})


async def resume_subscription(request: web.Request) -> web.Response:
    _, org_id, store = _request(request)
    subscription_id = _subscription_id(request)
    doc = await _body(request, required=False)
    unknown = sorted(set(doc) - {"after"})
    if unknown:
        raise _bad(f"unknown field {unknown[0][:64]!r}: resume takes an optional after")
    after = parse_cursor(doc.get("after"))
    try:
        resumed = await store.subscription_resume(org_id, subscription_id, after, BACKLOG_CAP)
    except PermanentError:
        raise _bad("after is not a cursor of the event feed") from None
    if resumed is None:
        raise _not_found()
    deliverer = request.app[SUBSCRIPTIONS].deliverer
    if deliverer is not None:
        deliverer.wake()
    return web.json_response(resumed)
