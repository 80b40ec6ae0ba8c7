"""Postgres over asyncpg: DATABASE_URL, or the embedded server's socket."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg

from bluetick import jsoncodec
from bluetick.events import Message, StatusEvent
from bluetick.store import classify
from bluetick.store.migrations import migrate
from bluetick.store.pooler import pooler_options
from bluetick.store.records import (
    BatchResult,
    Customer,
    Erasure,
    InboxItem,
    PurgeResult,
    ReportRefresh,
    RetentionResult,
)

log = logging.getLogger("bluetick.store")


async def _nothing_to_reset(conn: asyncpg.Connection) -> None:
    """The pool's reset of a released connection: nothing, beyond asyncpg's own rollback of an open transaction.
    bluetick leaves no session state on a pooled connection (each use is one function call; locks, settings and
    snapshots are the transaction's), so asyncpg's default reset query (`pg_advisory_unlock_all(); CLOSE ALL;
    UNLISTEN *; RESET ALL`) would only add a round trip to every batch."""


class PostgresStore:
    def __init__(self, dsn: str, pool: asyncpg.Pool, timeout_s: float, pooled: bool | None = None) -> None:
        self._dsn = dsn
        self._pooled = pooled
        self._pool = pool
        self._timeout = timeout_s
        self._prepared = False

    @classmethod
    async def connect(cls, dsn: str, pool_size: int, timeout_s: float, pooled: bool | None = None) -> PostgresStore:
        """A store whose pool connects on demand, so it can be created while the database is down."""
        url, cache = pooler_options(dsn, pooled)
        pool = await asyncpg.create_pool(
            url, min_size=0, max_size=pool_size, statement_cache_size=cache, reset=_nothing_to_reset
        )
        return cls(dsn, pool, timeout_s, pooled)

    async def prepare(self) -> None:
        if not self._prepared:
            await migrate(self._dsn, self._pooled)
            self._prepared = True

    async def org_secrets(self) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = await self._call("select bluetick_org_secrets()")
        return rows

    async def apply_batch(
        self, messages: list[Message], statuses: list[StatusEvent], inbox: Sequence[InboxItem] = ()
    ) -> BatchResult:
        args = (
            jsoncodec.dumps([m.to_json() for m in messages]),
            jsoncodec.dumps([s.to_json() for s in statuses]),
            jsoncodec.dumps([k.to_json() for k in inbox]),
        )
        doc = await self._call("select bluetick_apply_batch($1::jsonb, $2::jsonb, $3::jsonb)", *args)
        return BatchResult.of(doc)

    async def purge(self, max_age: timedelta) -> PurgeResult:
        doc = await self._call("select bluetick_purge($1::interval)", max_age)
        return PurgeResult.of(doc)

    async def purge_inbox(self, max_age: timedelta) -> int:
        doc = await self._call("select bluetick_purge_inbox($1::interval)", max_age)
        return int(doc["inbox"])

    async def inbox_summary(self, org_id: UUID | None, since: datetime | None) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = await self._call("select bluetick_inbox_summary($1, $2)", org_id, since)
        return rows

    async def inbox_kept(
        self, org_id: UUID | None, since: datetime | None, after: int, limit: int
    ) -> list[dict[str, Any]]:
        query = "select bluetick_inbox_kept($1, $2, $3, $4)"
        rows: list[dict[str, Any]] = await self._call(query, org_id, since, after, limit)
        return rows

    async def forget_customer(self, org_id: UUID, customer: Customer, limit: int, erasure_id: int | None) -> Erasure:
        query = "select bluetick_forget_customer($1, $2, $3, $4, $5)"
        return Erasure.of(await self._call(query, org_id, customer.phone, customer.user_id, limit, erasure_id))

    async def export_customer(self, org_id: UUID, customer: Customer) -> dict[str, Any]:
        query = "select bluetick_export_customer($1, $2, $3)"
        doc: dict[str, Any] = await self._call(query, org_id, customer.phone, customer.user_id)
        return doc

    async def retention_batch(self, default_days: int | None, limit: int) -> RetentionResult:
        return RetentionResult.of(await self._call("select bluetick_retention_batch($1, $2)", default_days, limit))

    async def refresh_reports(self, orgs: int, hours: int, skip: Sequence[UUID] = ()) -> ReportRefresh:
        return ReportRefresh.of(await self._call("select bluetick_report_refresh_some($1, $2, $3)", orgs, hours, skip))

    async def ping(self) -> bool:
        try:
            async with self._pool.acquire(timeout=self._timeout) as conn:
                await conn.fetchval("select 1", timeout=self._timeout)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError):
            return False
        return True

    async def close(self) -> None:
        await self._pool.close()

    async def _call(self, query: str, *args: Any) -> Any:
        """One SQL function call; every wait (connection, query, release) is bounded by the timeout."""
        try:
            # acquire's timeout also bounds the release, which otherwise waits for ever on a frozen link
            async with self._pool.acquire(timeout=self._timeout) as conn:
                raw = await conn.fetchval(query, *args, timeout=self._timeout)
        except asyncpg.PostgresError as exc:
            refined = classify(exc.sqlstate, str(exc))
            if refined is not None:
                raise refined from exc
            raise
        return jsoncodec.loads(raw)
