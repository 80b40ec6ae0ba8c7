"""Postgres over asyncpg: DATABASE_URL, or the embedded server's socket."""

from __future__ import annotations

import json
import logging
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit
from uuid import UUID

import asyncpg

from bluetick.auth import OrgSecrets
from bluetick.events import Message, StatusEvent
from bluetick.store import BatchResult, PermanentError, PurgeResult, batch_result, migration_files, org_secrets_of

log = logging.getLogger("bluetick.store")

# SQLSTATE classes caused by the data itself (22 data exception, 23 integrity violation).
_PERMANENT_CLASSES = ("22", "23")
_MIGRATION_LOCK = 7_361_001
SUPABASE_POOLER_PORT = 6543
DEFAULT_STATEMENT_CACHE = 100  # asyncpg's own default


def pooler_options(dsn: str, pooled: bool | None) -> tuple[str, int]:
    """The DSN asyncpg should use and its statement cache size.

    A transaction-mode pooler (Supabase's on port 6543, PgBouncer) cannot keep prepared statements, so the
    cache is turned off when `pooled` says so or, when it is None, when the URL does (port 6543 or
    `pgbouncer=true`, a flag that is removed since Postgres would refuse it as a setting).
    """
    parts = urlsplit(dsn)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "pgbouncer"]
    flagged = any(k == "pgbouncer" and v.lower() == "true" for k, v in parse_qsl(parts.query))
    if pooled is None:
        pooled = flagged or parts.port == SUPABASE_POOLER_PORT
    cleaned = urlunsplit(parts._replace(query=urlencode(query)))
    return cleaned, 0 if pooled else DEFAULT_STATEMENT_CACHE


async def migrate(dsn: str, pooled: bool | None = None) -> list[str]:
    """Run every file of sql/migrations in order, each in a transaction; replicas take turns."""
    dsn, cache = pooler_options(dsn, pooled)
    conn = await asyncpg.connect(dsn, timeout=10, statement_cache_size=cache)
    applied = []
    try:
        for path in migration_files():
            async with conn.transaction():
                await conn.execute("select pg_advisory_xact_lock($1)", _MIGRATION_LOCK)
                await conn.execute(path.read_text())
            applied.append(path.name)
    finally:
        await conn.close()
    return applied


class PostgresStore:
    def __init__(self, dsn: str, pool: asyncpg.Pool, timeout_s: float, pooled: bool | None = None) -> None:
        self._dsn = dsn
        self._pooled = pooled
        self._pool = pool
        self._timeout = timeout_s
        self._prepared = False

    @classmethod
    async def connect(
        cls, dsn: str, pool_size: int, timeout_s: float, pooled: bool | None = None
    ) -> PostgresStore:
        """A store whose pool connects on demand, so it can be created while the database is down."""
        url, cache = pooler_options(dsn, pooled)
        pool = await asyncpg.create_pool(url, min_size=0, max_size=pool_size, statement_cache_size=cache)
        return cls(dsn, pool, timeout_s, pooled)

    async def prepare(self) -> None:
        if not self._prepared:
            await migrate(self._dsn, self._pooled)
            self._prepared = True

    async def org_secrets(self) -> dict[UUID, OrgSecrets]:
        raw = await self._pool.fetchval("select bluetick_org_secrets()", timeout=self._timeout)
        return org_secrets_of(json.loads(raw))

    async def apply_batch(self, messages: list[Message], statuses: list[StatusEvent]) -> BatchResult:
        args = json.dumps([m.to_json() for m in messages]), json.dumps([s.to_json() for s in statuses])
        doc = await self._call("select bluetick_apply_batch($1::jsonb, $2::jsonb)", *args)
        return batch_result(doc)

    async def purge(self, max_age: timedelta) -> PurgeResult:
        doc = await self._call("select bluetick_purge($1::interval)", max_age)
        return PurgeResult(parked=int(doc["parked"]), receipts=int(doc["receipts"]))

    async def ping(self) -> bool:
        try:
            await self._pool.fetchval("select 1", timeout=self._timeout)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError):
            return False
        return True

    async def close(self) -> None:
        await self._pool.close()

    async def _call(self, query: str, *args: Any) -> dict[str, Any]:
        try:
            raw = await self._pool.fetchval(query, *args, timeout=self._timeout)
        except asyncpg.PostgresError as exc:
            if (exc.sqlstate or "")[:2] in _PERMANENT_CLASSES:
                raise PermanentError(f"{exc.sqlstate}: {exc}") from exc
            raise
        result: dict[str, Any] = json.loads(raw)
        return result
