"""The aiohttp application: routes and middleware, over a `Service`."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest, multiprocess

from bluetick import (
    campaigns_api,
    feed_api,
    inbox,
    jsoncodec,
    links_api,
    metrics,
    openapi,
    payloads,
    report,
    subscriptions_api,
)
from bluetick.auth import form_fields, same, webhook_allowed
from bluetick.config import Settings
from bluetick.customers import Customer, forget, parse_customer
from bluetick.events import Fact, Message, StatusEvent
from bluetick.handlers import SERVICE, api_org, not_ready, parse_json, read_body, secret_book, url_org
from bluetick.payloads.api import parse_message
from bluetick.payloads.common import ItemError
from bluetick.pipeline import Kept, Rejected, Rows, Unavailable
from bluetick.refusals import Refusal, error, refuse
from bluetick.service import Service
from bluetick.store import PermanentError, Store
from bluetick.store.records import KeptBody

__all__ = ["SERVICE", "create_app"]

log = logging.getLogger("bluetick.app")

QUEUE_HIGH_WATER = 0.9  # /readyz turns 503 above this share of QUEUE_MAX
# A body above this many bytes is parsed in a worker thread, so no other request waits for it: 0.8 MB of Meta
# statuses or of junk items took 27-48 ms to parse on the development machine, 64 kB about 2 ms.
PARSE_OFF_LOOP_BYTES = 64 * 1024


def _public_url(request: web.Request) -> str:
    """The URL the sender addressed, query string as sent: a TLS proxy in front makes the scheme it saw
    `X-Forwarded-Proto`."""
    scheme = request.headers.get("X-Forwarded-Proto", request.scheme).split(",")[0].strip()
    return f"{scheme}://{request.host}{request.raw_path}"


async def _store(
    service: Service,
    messages: list[Message],
    statuses: list[StatusEvent],
    what: str,
    *,
    wait: bool = True,
    kept: KeptBody | None = None,
    body: KeptBody | None = None,
    webhook_format: str | None = None,
    facts: Sequence[Fact] = (),
) -> Rows | web.Response:
    """The submit of both routes: the rows once committed (none when not waiting), or the answer when the data
    cannot be stored: 503 to retry, 422 when the database refused `what` and nothing of it could be kept. A
    webhook's answer is counted under its format and says why it cannot be stored now. Raises Kept when the
    database refused the events and `body` is kept in the inbox in their place."""
    try:
        pending = service.pipeline.submit(messages, statuses, wait=wait, kept=kept, body=body, facts=facts)
        if pending is None:
            return {}
        async with asyncio.timeout(service.settings.ack_timeout_ms / 1000):
            return await pending
    except (Unavailable, TimeoutError) as exc:
        if webhook_format is None:
            return error(503, "cannot store now, retry later")
        metrics.webhooks(webhook_format, "unavailable").inc()
        reason = "timeout" if isinstance(exc, TimeoutError) else str(exc)
        return error(503, f"cannot store now ({reason}), retry later")
    except Rejected:
        if webhook_format is not None:
            metrics.webhooks(webhook_format, "refused").inc()
        return error(422, f"the database refused this {what}'s data")


async def receive_webhook(request: web.Request) -> web.Response:
    started = time.perf_counter()
    service = request.app[SERVICE]
    settings = service.settings
    org_id = url_org(request)
    body = await read_body(request, settings.max_body_bytes)
    book = secret_book(request)
    if not webhook_allowed(
        book.for_org(org_id),
        body,
        request.headers,
        request.query,
        settings.allow_unsigned_webhooks,
        url=_public_url(request),
    ):
        raise Refusal(401, "unauthorized", "bad_signature")
    received_at = datetime.now(UTC)
    if len(body) > PARSE_OFF_LOOP_BYTES:
        parsed = await asyncio.to_thread(_parse, org_id, body, request.content_type, received_at)
    else:
        parsed = _parse(org_id, body, request.content_type, received_at)
    kept = inbox.keep(org_id, parsed, body, request.headers.get("Content-Type"), received_at)
    # the queue counts a kept body and each fact too
    events = len(parsed.messages) + len(parsed.statuses) + len(parsed.facts) + (kept is not None)
    if events > settings.queue_max:  # 503 "queue full" would have the sender retry a body that can never fit
        message = f"body holds {events} events, more than the queue can ever hold ({settings.queue_max}): split it"
        raise Refusal(413, message, "too_many_events")
    if parsed.errors:
        metrics.ITEM_ERRORS.labels(parsed.format).inc(len(parsed.errors))
    summary = {
        "format": parsed.format,
        "statuses": len(parsed.statuses),
        "messages": len(parsed.messages),
        "facts": len(parsed.facts),
        **parsed.skipped_answer(),
        "kept": kept is not None,
    }
    if parsed.empty and kept is None:
        metrics.webhooks(parsed.format, "ignored").inc()
        return web.json_response({"stored": False, **summary}, dumps=jsoncodec.dumps)
    if settings.durable and not service.ready.is_set():
        raise not_ready()
    wait = settings.durable or service.pipeline.behind  # immediate mode waits too when the database lags
    refusable = inbox.received(org_id, parsed.format, body, request.headers.get("Content-Type"), received_at)
    try:
        stored = await _store(
            service, parsed.messages, parsed.statuses, "payload", wait=wait, kept=kept, body=refusable,
            webhook_format=parsed.format, facts=parsed.facts,
        )  # fmt: skip
    except Kept:  # committed in the inbox: a retry could only be refused again (docs/design.md, The webhook inbox)
        metrics.webhooks(parsed.format, "refused").inc()
        return web.json_response({"stored": False, "queued": False, **summary, "kept": inbox.REFUSED},
                                 dumps=jsoncodec.dumps)  # fmt: skip
    if isinstance(stored, web.Response):
        return stored
    metrics.webhooks(parsed.format, "stored" if wait else "queued").inc()
    if kept is not None:
        metrics.INBOX_KEPT.labels(kept.format, kept.reason).inc()
    metrics.ack_seconds(settings.ack_mode).observe(time.perf_counter() - started)
    return web.json_response({"stored": wait, "queued": not wait, **summary}, dumps=jsoncodec.dumps)


def _parse(org_id: UUID, body: bytes, content_type: str, received_at: datetime) -> payloads.Parsed:
    """The body's events, by its format (form-encoded or JSON)."""
    if inbox.is_form(content_type):
        return payloads.parse_form(org_id, form_fields(body), received_at)
    return payloads.parse(org_id, parse_json(body), received_at=received_at)


async def log_message(request: web.Request) -> web.Response:
    """Log one message for the agent; always answers after the commit, with the stored row."""
    service = request.app[SERVICE]
    settings = service.settings
    org_id = api_org(request)
    doc = parse_json(await read_body(request, settings.max_body_bytes))
    try:
        message = parse_message(org_id, doc)
    except ItemError as exc:
        raise Refusal(422, str(exc), "invalid_message") from None
    rows = await _store(service, [message], [], "message")
    if isinstance(rows, web.Response):
        return rows
    row = rows.get(message.key)
    if row is None:
        return error(503, "cannot store now, retry later")
    return web.json_response(row)


async def org_report(request: web.Request) -> web.Response:
    """The organisation's analyst report (?days=, ?tz=) as one HTML page, behind the logging API's token."""
    org_id = api_org(request)
    try:
        window = report.window_of(org_id, request.query.get("days"), request.query.get("tz"))
    except report.BadInput as exc:
        raise Refusal(400, str(exc), "bad_report_request") from None
    try:
        page = await report.build_page(request.app[SERVICE].store, window)
    except PermanentError:  # a zone Python reads but the database does not know: localtime, posixrules, right/UTC
        message = f"tz must be a time zone name such as Asia/Kolkata, got {window.tz!r}"
        raise Refusal(400, message, "bad_report_request") from None
    return web.Response(text=page, content_type="text/html")


def _customer_request(request: web.Request) -> tuple[UUID, Customer]:
    """The organisation and the customer of /v1/orgs/{org_id}/customers/{customer}, behind the API token."""
    org_id = api_org(request)
    try:
        return org_id, parse_customer(request.match_info["customer"])
    except ItemError as exc:
        raise Refusal(400, str(exc), "bad_customer") from None


async def forget_customer(request: web.Request) -> web.Response:
    """Erase one customer's text and identifiers in the organisation; answers the counts and the record."""
    org_id, customer = _customer_request(request)
    try:
        service = request.app[SERVICE]
        erasure = await forget(service.store, org_id, customer, service.settings.batch_max)
    except PermanentError as exc:
        raise Refusal(400, str(exc), "bad_customer") from None
    metrics.CUSTOMER_REQUESTS.labels("erase").inc()
    log.info(
        "customer erased org=%s customer=%s rows=%d parked=%d inbox=%d recorded=%s",
        org_id, customer.masked, erasure.rows, erasure.parked, erasure.inbox, erasure.recorded,
    )  # fmt: skip
    return web.json_response(erasure.to_json())


async def export_customer(request: web.Request) -> web.Response:
    """Everything stored about one customer of the organisation, as JSON, messages in time order."""
    org_id, customer = _customer_request(request)
    try:
        doc = await request.app[SERVICE].store.export_customer(org_id, customer)
    except PermanentError as exc:
        raise Refusal(400, str(exc), "bad_customer") from None
    metrics.CUSTOMER_REQUESTS.labels("export").inc()
    return web.json_response(doc)


async def verify_subscription(request: web.Request) -> web.Response:
    """Meta's handshake: echo hub.challenge when hub.verify_token is the organisation's verify token."""
    org_id = url_org(request)
    book = secret_book(request)
    query = request.query
    if query.get("hub.mode") != "subscribe" or not same(
        query.get("hub.verify_token"), book.for_org(org_id).verify_token
    ):
        raise Refusal(403, "verification failed", "bad_verify_token")
    return web.Response(text=query.get("hub.challenge", ""))


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    prepared = service.ready.is_set()
    database = prepared and await _database_answers(service)
    depth = service.pipeline.depth
    queue_ok = depth < service.settings.queue_max * QUEUE_HIGH_WATER
    ready = database and queue_ok and not service.failed_tasks
    body: dict[str, Any] = {"ready": ready, "database": database, "queue_depth": depth}
    if service.failed_tasks:
        body["failed_tasks"] = service.failed_tasks
    return web.json_response(body, status=200 if ready else 503)


async def _database_answers(service: Service) -> bool:
    try:
        return await service.store.ping()
    except Exception as exc:  # noqa: BLE001 - a driver in a broken state is a database not ready, not a failed route
        log.warning("readiness check failed error=%s", type(exc).__name__)
        return False


async def metrics_endpoint(request: web.Request) -> web.Response:
    if metrics.MULTIPROC_ENV in os.environ:  # several worker processes: add up what each one wrote
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        resp = web.Response(body=generate_latest(registry))
    else:
        resp = web.Response(body=generate_latest())
    resp.content_type = CONTENT_TYPE_LATEST.split(";")[0]
    return resp


def create_app(settings: Settings, store: Store | None = None) -> web.Application:
    """The application; with `store` given, it is used as is and left open at shutdown."""
    # a client has CLIENT_TIMEOUT_S to send its headers (an idle connection as long), and an answered request's
    # unread body is read for at most that long before the connection closes
    timeouts = {"keepalive_timeout": settings.client_timeout_s, "lingering_time": settings.client_timeout_s}
    app = web.Application(client_max_size=settings.max_body_bytes, middlewares=[refuse], handler_args=timeouts)
    app[SERVICE] = Service(settings, store)
    # each route is named: the logs name the route, never the path (which may hold a phone or a token)
    app.router.add_post("/webhooks/{org_id}", receive_webhook, name="receive_webhook")
    app.router.add_get("/webhooks/{org_id}", verify_subscription, name="verify_subscription")
    app.router.add_post("/v1/orgs/{org_id}/messages", log_message, name="log_message")
    app.router.add_get("/v1/orgs/{org_id}/report", org_report, name="org_report")
    app.router.add_delete("/v1/orgs/{org_id}/customers/{customer}", forget_customer, name="forget_customer")
    app.router.add_get("/v1/orgs/{org_id}/customers/{customer}", export_customer, name="export_customer")
    app.router.add_get("/healthz", healthz, name="healthz")
    app.router.add_get("/readyz", readyz, name="readyz")
    app.router.add_get("/metrics", metrics_endpoint, name="metrics")
    app.router.add_get("/openapi.json", openapi.serve_openapi, name="openapi")  # the contract of every route

    feed_api.setup(app)  # message lookup and the event feed
    campaigns_api.setup(app)  # a campaign's recipients as CSV
    links_api.setup(app)  # tracked links
    app.cleanup_ctx.append(_serving)
    subscriptions_api.setup(app, app[SERVICE], api_org)  # webhooks out: delivers after the service starts
    return app


async def _serving(app: web.Application) -> AsyncIterator[None]:
    async with app[SERVICE]:
        yield
