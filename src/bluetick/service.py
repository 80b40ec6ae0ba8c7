"""The running service: its store, pipeline, secrets, readiness and background tasks, opened and closed as one."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from datetime import timedelta
from types import TracebackType
from typing import Any
from uuid import UUID

from bluetick import metrics
from bluetick.auth import OrgSecrets, SecretBook
from bluetick.config import Settings
from bluetick.pipeline import Pipeline, PipelineSettings
from bluetick.retention import run_retention
from bluetick.store import Store
from bluetick.store.postgres import PostgresStore

log = logging.getLogger("bluetick.service")

BOOTSTRAP_RETRY_MAX_S = 10.0
REPORT_ORGS = 10  # organisations per refresh transaction
REPORT_HOURS = 12  # hours per organisation per refresh transaction: each call stays short (about 1 s at most)
REPORT_ROUNDS = 100  # most transactions per refresh round; what is left waits for the next round


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


def secrets_of(rows: list[dict[str, Any]]) -> dict[UUID, OrgSecrets]:
    """The rows of bluetick_org_secrets as each organisation's secrets."""
    return {
        UUID(row["org_id"]): OrgSecrets(
            meta_app_secret=row.get("meta_app_secret"),
            aisensy_secret=row.get("aisensy_secret"),
            url_token=row.get("url_token"),
            verify_token=row.get("verify_token"),
            api_token=row.get("api_token"),
            twilio_auth_token=row.get("twilio_auth_token"),
        )
        for row in rows
    }


@asynccontextmanager
async def prepared_store(settings: Settings) -> AsyncIterator[Store]:
    """The configured store, its database made ready (migrated, or checked), closed on leaving: a command's."""
    store = await open_store(settings)
    try:
        await store.prepare()
        yield store
    finally:
        await store.close()


class Service:
    """Async context manager: entering opens the store (unless one is given, which is then left open),
    starts the pipeline and the background tasks; leaving stops them in reverse order."""

    def __init__(self, settings: Settings, store: Store | None = None) -> None:
        self.settings = settings
        self.secrets = SecretBook(
            OrgSecrets(
                meta_app_secret=settings.meta_app_secret,
                aisensy_secret=settings.aisensy_webhook_secret,
                url_token=settings.webhook_url_token,
                verify_token=settings.webhook_verify_token,
                api_token=settings.api_token,
                twilio_auth_token=settings.twilio_auth_token,
            )
        )
        self.ready = asyncio.Event()  # set once the database is migrated and secrets loaded
        self.failed_tasks: list[str] = []  # names of background tasks that died with an exception
        self._given_store = store
        self._store: Store | None = None
        self._pipeline: Pipeline | None = None
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def store(self) -> Store:
        if self._store is None:
            raise RuntimeError("the service is not open")
        return self._store

    @property
    def lost(self) -> int:
        """Acknowledged events the pipeline could not store before it closed (0 if it never started)."""
        return self._pipeline.lost if self._pipeline is not None else 0

    @property
    def pipeline(self) -> Pipeline:
        if self._pipeline is None:
            raise RuntimeError("the service is not open")
        return self._pipeline

    async def __aenter__(self) -> Service:
        settings = self.settings
        self._store = await open_store(settings) if self._given_store is None else self._given_store
        self._pipeline = Pipeline(
            self._store,
            PipelineSettings(
                batch_max=settings.batch_max,
                batch_interval_s=settings.batch_interval_ms / 1000,
                queue_max=settings.queue_max,
                workers=settings.flush_workers,
                drain_timeout_s=settings.shutdown_drain_s,
            ),
        )
        self._pipeline.start()
        self.spawn("bootstrap", self._bootstrap())
        self.spawn("purge", self._purge_forever(settings.orphan_ttl, settings.inbox_ttl, settings.purge_interval))
        if settings.report_refresh_s:
            self.spawn("reports", self._refresh_reports_forever(settings.report_refresh_s))
        for warning in settings.warnings():
            log.warning(warning)
        log.info("serving ack_mode=%s batch_max=%d", settings.ack_mode, settings.batch_max)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)  # a task that died was logged already
        self._tasks.clear()
        await self.pipeline.close()
        if self._given_store is None:
            await self.store.close()

    def spawn(self, name: str, work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        """Run `work` until the service closes; if it dies with an exception, log it and stop being ready."""
        task = asyncio.create_task(work, name=name)
        task.add_done_callback(self._watch)
        self._tasks.append(task)
        return task

    def _watch(self, task: asyncio.Task[None]) -> None:
        if task.cancelled() or task.exception() is None:
            return
        self.failed_tasks.append(task.get_name())
        log.error("background task died task=%s", task.get_name(), exc_info=task.exception())

    async def _bootstrap(self) -> None:
        """Migrate and load secrets, retrying until the database answers; then refresh secrets for ever."""
        delay = 0.5
        while not self.ready.is_set():
            try:
                await self.store.prepare()
                self.secrets.replace(secrets_of(await self.store.org_secrets()))
            except Exception as exc:  # noqa: BLE001 - any failure here means: not reachable yet
                log.warning("database not ready retry_in=%.1fs error=%s: %s", delay, type(exc).__name__, str(exc)[:300])
                await next_round(delay)
                delay = min(delay * 2, BOOTSTRAP_RETRY_MAX_S)
                continue
            self.ready.set()
            log.info("database ready organisations_with_secrets=%d", len(self.secrets))
        while True:
            await next_round(self.settings.secrets_refresh.total_seconds())
            try:
                self.secrets.replace(secrets_of(await self.store.org_secrets()))
            except Exception as exc:  # noqa: BLE001 - keep the last snapshot; try again next round
                log.warning("secrets refresh failed error=%s", type(exc).__name__)

    async def _refresh_reports_forever(self, every_s: int) -> None:
        """Keep the report rollups close to the data, so a page only recomputes what changed since (design.md)."""
        await self.ready.wait()
        while True:
            started = time.monotonic()
            try:
                hours = await self.refresh_reports_round()
                if hours:
                    ms = (time.monotonic() - started) * 1000
                    log.info("report refresh hours=%d ms=%.0f", hours, ms)
            except Exception as exc:  # noqa: BLE001 - the hours stay noted; the next round does them
                log.warning("report refresh failed error=%s", type(exc).__name__)
            await next_round(every_s)

    async def refresh_reports_round(self) -> int:
        """One round: every organisation with noted hours once (one with a backlog until it is through, 12 hours
        per call), at most REPORT_ROUNDS calls; what ingest notes meanwhile waits for the next round, so under
        steady ingest a round ends instead of recomputing the current hours again and again. Returns the hours."""
        hours = 0
        skip: list[UUID] = []
        for _ in range(REPORT_ROUNDS):
            step = await self.store.refresh_reports(REPORT_ORGS, REPORT_HOURS, skip)
            hours += step.hours
            metrics.REPORT_HOURS.inc(step.hours)
            skip += step.done
            if not step.orgs:
                break
        return hours

    async def _purge_forever(self, ttl: timedelta, inbox_ttl: timedelta, every: timedelta) -> None:
        """Every `every`, from as soon as the database is ready (so the outbox's partitions of today and the next
        two days exist from the first day): the outbox's expiry, the purge, then the retention purge."""
        await self.ready.wait()
        while True:
            try:
                await self.expire_events()
            except Exception as exc:  # noqa: BLE001 - the default partition takes the rows meanwhile; next round
                log.warning("events expiry failed error=%s", type(exc).__name__)
            try:
                result = await self.store.purge(ttl)
                metrics.PURGED.labels("parked").inc(result.parked)
                metrics.PURGED.labels("receipts").inc(result.receipts)
                inbox = await self.store.purge_inbox(inbox_ttl)
                metrics.PURGED.labels("inbox").inc(inbox)
                if result.parked or result.receipts or inbox:
                    log.info("purge parked=%d receipts=%d inbox=%d", result.parked, result.receipts, inbox)
            except Exception as exc:  # noqa: BLE001 - the next round tries again
                log.warning("purge failed error=%s", type(exc).__name__)
            try:
                settings = self.settings
                await run_retention(
                    self.store, settings.retention_days, settings.retention_batch, settings.retention_pause_ms / 1000
                )
            except Exception as exc:  # noqa: BLE001 - the next round goes on where this one stopped
                log.warning("retention failed error=%s", type(exc).__name__)
            await next_round(every.total_seconds())

    async def expire_events(self) -> dict[str, int]:
        """One round of the outbox's expiry (EVENTS_TTL): partitions made ahead, old ones dropped whole, the default
        partition's old rows deleted; counted in bluetick_purged_total and logged on one line when it did any."""
        done = await self.store.events_maintain(self.settings.events_ttl)
        metrics.PURGED.labels("events").inc(done["deleted"])
        metrics.PURGED.labels("events_partitions").inc(done["dropped"])
        if any(done.values()):
            log.info(
                "events expiry partitions_created=%d partitions_dropped=%d default_rows_deleted=%d",
                done["created"],
                done["dropped"],
                done["deleted"],
            )
        return done


async def next_round(seconds: float) -> None:
    """Wait `seconds` before the next round of a background loop, unless the service is closing.

    The service closes by cancelling its tasks. A library call in a round can lose that cancellation: in Python
    3.11, `asyncio.wait_for` (which asyncpg uses for its timeouts) swallows one that arrives as the call it waits
    for completes. The task then remembers the request (`Task.cancelling()`) but runs on, and closing waited for it
    for ever (seen as a test session hung in a fixture's teardown). So the loop stops here instead."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError
    await asyncio.sleep(seconds)
