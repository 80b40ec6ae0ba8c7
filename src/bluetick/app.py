"""The aiohttp application: routes, start-up and shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from typing import Any
from uuid import UUID

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest, multiprocess

from bluetick import metrics, payloads
from bluetick.auth import OrgSecrets, SecretBook, api_allowed, same, webhook_allowed
from bluetick.config import Settings
from bluetick.payloads.api import parse_message
from bluetick.payloads.common import ItemError
from bluetick.pipeline import Pipeline, PipelineSettings, Rejected, Unavailable
from bluetick.store import Store
from bluetick.store.postgres import PostgresStore

log = logging.getLogger("bluetick.app")

SETTINGS = web.AppKey("settings", Settings)
STORE = web.AppKey("store", Store)
PIPELINE = web.AppKey("pipeline", Pipeline)
SECRETS = web.AppKey("secrets", SecretBook)
READY = web.AppKey("ready", asyncio.Event)  # set once the database is migrated and secrets loaded

BOOTSTRAP_RETRY_MAX_S = 10.0
QUEUE_HIGH_WATER = 0.9  # /readyz turns 503 above this share of QUEUE_MAX

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def error(status: int, message: str, **extra: Any) -> web.Response:
    return web.json_response({"error": message, **extra}, status=status)


@web.middleware
async def never_500(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A bug must not turn into a 500 the BSP treats as final: log it and answer 503 so it retries."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status == 413:
            metrics.REJECTED.labels("too_large").inc()
            return error(413, "body too large")
        raise
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("unhandled error path=%s", request.path)
        metrics.REJECTED.labels("internal").inc()
        return error(503, "temporarily unavailable, retry later")


def _org_id(request: web.Request) -> UUID | None:
    try:
        return UUID(request.match_info["org_id"])
    except ValueError:
        return None


async def _read_body(request: web.Request, limit: int) -> bytes | web.Response:
    """The raw body, or a 413 before reading when the declared length is over `limit`."""
    if request.content_length is not None and request.content_length > limit:
        metrics.REJECTED.labels("too_large").inc()
        return error(413, "body too large", limit=limit)
    return await request.read()


def _json(body: bytes) -> tuple[Any, web.Response | None]:
    try:
        return json.loads(body), None
    except (ValueError, RecursionError):
        metrics.REJECTED.labels("malformed_json").inc()
        return None, error(400, "body is not valid JSON")


def _unauthorised(reason: str) -> web.Response:
    metrics.REJECTED.labels(reason).inc()
    return error(401, "unauthorized")


def _not_ready() -> web.Response:
    metrics.REJECTED.labels("not_ready").inc()
    return error(503, "starting: the database is not reachable yet, retry later")


async def receive_webhook(request: web.Request) -> web.Response:
    started = time.perf_counter()
    settings = request.app[SETTINGS]
    org_id = _org_id(request)
    if org_id is None:
        metrics.REJECTED.labels("bad_org").inc()
        return error(404, "unknown organisation")
    body = await _read_body(request, settings.max_body_bytes)
    if isinstance(body, web.Response):
        return body
    book = request.app[SECRETS]
    if not book.loaded:
        return _not_ready()
    if not webhook_allowed(
        book.for_org(org_id), body, request.headers, request.query, settings.allow_unsigned_webhooks
    ):
        return _unauthorised("bad_signature")
    doc, failure = _json(body)
    if failure is not None:
        return failure
    parsed = payloads.parse(org_id, doc)
    if parsed.errors:
        metrics.ITEM_ERRORS.labels(parsed.format).inc(len(parsed.errors))
    summary = {
        "format": parsed.format,
        "statuses": len(parsed.statuses),
        "messages": len(parsed.messages),
        "skipped": parsed.errors,
    }
    if parsed.empty:
        metrics.WEBHOOKS.labels(parsed.format, "ignored").inc()
        return web.json_response({"stored": False, **summary})
    if settings.durable and not request.app[READY].is_set():
        return _not_ready()
    try:
        pending = request.app[PIPELINE].submit(parsed.messages, parsed.statuses, wait=settings.durable)
        if pending is not None:
            await asyncio.wait_for(pending, settings.ack_timeout_ms / 1000)
    except (Unavailable, TimeoutError) as exc:
        reason = "timeout" if isinstance(exc, TimeoutError) else str(exc)
        metrics.WEBHOOKS.labels(parsed.format, "unavailable").inc()
        return error(503, f"cannot store now ({reason}), retry later")
    except Rejected:
        metrics.WEBHOOKS.labels(parsed.format, "refused").inc()
        return error(422, "the database refused this payload's data")
    metrics.WEBHOOKS.labels(parsed.format, "stored" if settings.durable else "queued").inc()
    metrics.ACK_SECONDS.labels(settings.ack_mode).observe(time.perf_counter() - started)
    return web.json_response({"stored": settings.durable, "queued": not settings.durable, **summary})


async def log_message(request: web.Request) -> web.Response:
    """Log one message for the agent; always answers after the commit, with the stored row."""
    settings = request.app[SETTINGS]
    org_id = _org_id(request)
    if org_id is None:
        metrics.REJECTED.labels("bad_org").inc()
        return error(404, "unknown organisation")
    book = request.app[SECRETS]
    if not book.loaded:
        return _not_ready()
    if not api_allowed(book.for_org(org_id), request.headers.get("Authorization"), settings.open_api):
        return _unauthorised("bad_api_token")
    body = await _read_body(request, settings.max_body_bytes)
    if isinstance(body, web.Response):
        return body
    doc, failure = _json(body)
    if failure is not None:
        return failure
    try:
        message = parse_message(org_id, doc)
    except ItemError as exc:
        metrics.REJECTED.labels("invalid_message").inc()
        return error(422, str(exc))
    try:
        pending = request.app[PIPELINE].submit([message], [], wait=True)
        assert pending is not None
        rows = await asyncio.wait_for(pending, settings.ack_timeout_ms / 1000)
    except (Unavailable, TimeoutError):
        return error(503, "cannot store now, retry later")
    except Rejected:
        return error(422, "the database refused this message's data")
    row = rows.get(message.key)
    if row is None:
        return error(503, "cannot store now, retry later")
    return web.json_response(row)


async def verify_subscription(request: web.Request) -> web.Response:
    """Meta's handshake: echo hub.challenge when hub.verify_token is the organisation's verify token."""
    org_id = _org_id(request)
    if org_id is None:
        return error(404, "unknown organisation")
    book = request.app[SECRETS]
    if not book.loaded:
        return _not_ready()
    query = request.query
    if query.get("hub.mode") != "subscribe" or not same(
        query.get("hub.verify_token"), book.for_org(org_id).verify_token
    ):
        metrics.REJECTED.labels("bad_verify_token").inc()
        return error(403, "verification failed")
    return web.Response(text=query.get("hub.challenge", ""))


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS]
    prepared = request.app[READY].is_set()
    database = prepared and await request.app[STORE].ping()
    depth = request.app[PIPELINE].depth
    queue_ok = depth < settings.queue_max * QUEUE_HIGH_WATER
    ready = database and queue_ok
    body = {"ready": ready, "database": database, "queue_depth": depth}
    return web.json_response(body, status=200 if ready else 503)


async def metrics_endpoint(request: web.Request) -> web.Response:
    if metrics.MULTIPROC_ENV in os.environ:  # several worker processes: add up what each one wrote
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        resp = web.Response(body=generate_latest(registry))
    else:
        resp = web.Response(body=generate_latest())
    resp.content_type = CONTENT_TYPE_LATEST.split(";")[0]
    return resp


async def _bootstrap(app: web.Application) -> None:
    """Migrate and load secrets, retrying until the database answers; then refresh secrets for ever."""
    store, book, settings = app[STORE], app[SECRETS], app[SETTINGS]
    delay = 0.5
    while not app[READY].is_set():
        try:
            await store.prepare()
            book.replace(await store.org_secrets())
        except Exception as exc:  # noqa: BLE001 - any failure here means: not reachable yet
            log.warning("database not ready retry_in=%.1fs error=%s: %s", delay, type(exc).__name__, str(exc)[:300])
            await asyncio.sleep(delay)
            delay = min(delay * 2, BOOTSTRAP_RETRY_MAX_S)
            continue
        app[READY].set()
        log.info("database ready organisations_with_secrets=%d", len(book))
    while True:
        await asyncio.sleep(settings.secrets_refresh.total_seconds())
        try:
            book.replace(await store.org_secrets())
        except Exception as exc:  # noqa: BLE001 - keep the last snapshot; try again next round
            log.warning("secrets refresh failed error=%s", type(exc).__name__)


async def _purge_forever(store: Store, ready: asyncio.Event, ttl: timedelta, every: timedelta) -> None:
    await ready.wait()
    while True:
        try:
            result = await store.purge(ttl)
            metrics.PURGED.labels("parked").inc(result.parked)
            metrics.PURGED.labels("receipts").inc(result.receipts)
            if result.parked or result.receipts:
                log.info("purge parked=%d receipts=%d", result.parked, result.receipts)
        except Exception as exc:  # noqa: BLE001 - the next round tries again
            log.warning("purge failed error=%s", type(exc).__name__)
        await asyncio.sleep(every.total_seconds())


async def open_store(settings: Settings) -> Store:
    """The configured backend: DATABASE_URL, else Supabase's REST API, else the embedded server."""
    timeout_s = settings.db_timeout_ms / 1000
    if settings.backend == "supabase":
        from bluetick.store.supabase import SupabaseStore

        assert settings.supabase_url and settings.supabase_service_role_key
        return await SupabaseStore.connect(settings.supabase_url, settings.supabase_service_role_key, timeout_s)
    if settings.database_url:
        dsn = settings.database_url
    else:
        from bluetick.store import embedded

        dsn = await asyncio.to_thread(embedded.start, settings.data_dir)
    return await PostgresStore.connect(dsn, settings.db_pool_size, timeout_s, settings.database_pooled)


def create_app(settings: Settings, store: Store | None = None) -> web.Application:
    """The application; with `store` given, it is used as is and left open at shutdown."""
    app = web.Application(client_max_size=settings.max_body_bytes, middlewares=[never_500])
    app[SETTINGS] = settings
    app[SECRETS] = SecretBook(
        OrgSecrets(
            meta_app_secret=settings.meta_app_secret,
            aisensy_secret=settings.aisensy_webhook_secret,
            url_token=settings.webhook_url_token,
            verify_token=settings.webhook_verify_token,
            api_token=settings.api_token,
        )
    )
    app.router.add_post("/webhooks/{org_id}", receive_webhook)
    app.router.add_get("/webhooks/{org_id}", verify_subscription)
    app.router.add_post("/v1/orgs/{org_id}/messages", log_message)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics_endpoint)

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        own_store = store is None
        app[STORE] = await open_store(settings) if store is None else store
        pipeline = Pipeline(
            app[STORE],
            PipelineSettings(
                batch_max=settings.batch_max,
                batch_interval_s=settings.batch_interval_ms / 1000,
                queue_max=settings.queue_max,
                workers=settings.flush_workers,
                drain_timeout_s=settings.shutdown_drain_s,
            ),
        )
        app[PIPELINE] = pipeline
        app[READY] = asyncio.Event()
        pipeline.start()
        tasks = [
            asyncio.create_task(_bootstrap(app)),
            asyncio.create_task(_purge_forever(app[STORE], app[READY], settings.orphan_ttl, settings.purge_interval)),
        ]
        for warning in settings.warnings():
            log.warning(warning)
        log.info("serving ack_mode=%s batch_max=%d", settings.ack_mode, settings.batch_max)
        yield
        for task in tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await pipeline.close()
        if own_store:
            await app[STORE].close()

    app.cleanup_ctx.append(lifecycle)
    return app
