"""Postgres over asyncpg: DATABASE_URL, or the embedded server's socket."""

from __future__ import annotations

import hashlib
import json
import logging
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit
from uuid import UUID

import asyncpg

from bluetick.auth import OrgSecrets
from bluetick.events import Message, StatusEvent
from bluetick.store import BatchResult, PurgeResult, batch_result, classify, migration_files, org_secrets_of

log = logging.getLogger("bluetick.store")

_MIGRATION_LOCK = 7_361_001
MIGRATION_LOCK_TIMEOUT = "5s"
_RECORD_VERSION = """
insert into bluetick_schema (id, version) values (true, $1)
on conflict (id) do update set version = excluded.version, applied_at = now()
"""
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


def schema_version() -> str:
    """A digest of every SQL file, in order: what `bluetick_schema.version` records once applied."""
    digest = hashlib.sha256()
    for path in migration_files():
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


async def migrate(dsn: str, pooled: bool | None = None, force: bool = False) -> list[str]:
    """Apply sql/migrations and sql/analytics in one transaction, unless this version is installed already.

    Replicas take turns on an advisory lock; a lock on a table held too long by someone else (an
    analyst's open transaction) fails the run after MIGRATION_LOCK_TIMEOUT, to be retried, instead of
    queueing every writer behind it.
    """
    dsn, cache = pooler_options(dsn, pooled)
    version = schema_version()
    conn = await asyncpg.connect(dsn, timeout=10, statement_cache_size=cache)
    applied = []
    try:
        async with conn.transaction():
            await conn.execute("select pg_advisory_xact_lock($1)", _MIGRATION_LOCK)
            if not force and await _installed_version(conn) == version:
                return []
            await conn.execute(f"set local lock_timeout = '{MIGRATION_LOCK_TIMEOUT}'")
            for path in migration_files():
                await conn.execute(path.read_text())
                applied.append(path.name)
            await conn.execute(_RECORD_VERSION, version)
    finally:
        await conn.close()
    return applied


async def _installed_version(conn: asyncpg.Connection) -> str | None:
    if not await conn.fetchval("select to_regclass('public.bluetick_schema') is not null"):
        return None
    installed: str | None = await conn.fetchval("select version from bluetick_schema")
    return installed


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
        pool = await asyncpg.create_pool(url, min_size=0, max_size=pool_size, statement_cache_size=cache)
        return cls(dsn, pool, timeout_s, pooled)

    async def prepare(self) -> None:
        if not self._prepared:
            await migrate(self._dsn, self._pooled)
            self._prepared = True

    async def org_secrets(self) -> dict[UUID, OrgSecrets]:
        return org_secrets_of(await self._call("select bluetick_org_secrets()"))

    async def apply_batch(self, messages: list[Message], statuses: list[StatusEvent]) -> BatchResult:
        args = json.dumps([m.to_json() for m in messages]), json.dumps([s.to_json() for s in statuses])
        doc = await self._call("select bluetick_apply_batch($1::jsonb, $2::jsonb)", *args)
        return batch_result(doc)

    async def purge(self, max_age: timedelta) -> PurgeResult:
        doc = await self._call("select bluetick_purge($1::interval)", max_age)
        return PurgeResult(parked=int(doc["parked"]), receipts=int(doc["receipts"]))

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
        return json.loads(raw)
