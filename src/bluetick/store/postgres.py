"""Postgres over asyncpg: DATABASE_URL, or the embedded server's socket."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from importlib.resources.abc import Traversable
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit
from uuid import UUID

import asyncpg

from bluetick import jsoncodec
from bluetick.auth import OrgSecrets
from bluetick.customers import Customer, Erasure, RetentionResult
from bluetick.events import Message, StatusEvent
from bluetick.inbox import InboxItem
from bluetick.store import (
    SQL,
    BatchResult,
    PurgeResult,
    ReportRefresh,
    batch_result,
    classify,
    org_secrets_of,
    repeatable_files,
    versioned_files,
)

log = logging.getLogger("bluetick.store")

MIGRATION_LOCK = 7_361_001
MIGRATION_LOCK_TIMEOUT = "5s"
_RECORDED = "select name, version, checksum from bluetick_migrations"
_RECORD = """
insert into bluetick_migrations (name, version, checksum) values ($1, $2, $3)
on conflict (name) do update set checksum = excluded.checksum, applied_at = now()
"""
SUPABASE_POOLER_PORT = 6543
DEFAULT_STATEMENT_CACHE = 100  # asyncpg's own default


async def _nothing_to_reset(conn: asyncpg.Connection) -> None:
    """The pool's reset of a released connection: nothing, beyond asyncpg's own rollback of an open transaction.
    bluetick leaves no session state on a pooled connection (each use is one function call; locks, settings and
    snapshots are the transaction's), so asyncpg's default reset query (`pg_advisory_unlock_all(); CLOSE ALL;
    UNLISTEN *; RESET ALL`) would only add a round trip to every batch."""


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


class MigrationError(RuntimeError):
    """The database's record of applied migrations disagrees with this package's files."""


@dataclass(frozen=True, slots=True)
class SqlFile:
    name: str  # the path under sql/: migrations/0002_merge.sql, analytics/0101_timeline.sql
    version: int | None  # a versioned migration's number; None for a repeatable file
    checksum: str
    text: str


@dataclass(frozen=True, slots=True)
class Recorded:
    version: int | None
    checksum: str


def sql_files(sql: Traversable = SQL) -> list[SqlFile]:
    """The package's migrations, versioned then repeatable, each with the checksum that records it."""
    files = [_sql_file(f, "migrations", versioned=True) for f in versioned_files(sql)]
    files += [_sql_file(f, "analytics", versioned=False) for f in repeatable_files(sql)]
    numbers = [f.version for f in files if f.version is not None]
    if len(set(numbers)) != len(numbers):
        twice = sorted(f.name for f in files if f.version is not None and numbers.count(f.version) > 1)
        raise MigrationError(f"two migrations share a number: {', '.join(twice)}; renumber the newer one")
    return files


def _sql_file(source: Traversable, folder: str, versioned: bool) -> SqlFile:
    text = source.read_text().replace("\r\n", "\n")  # a checkout's line endings are not an edit
    name = f"{folder}/{source.name}"
    number = source.name.partition("_")[0]
    if versioned and not number.isdigit():
        raise MigrationError(f"{name}: a migration's name starts with its number, like 0006_name.sql")
    checksum = hashlib.sha256(text.encode()).hexdigest()
    return SqlFile(name, int(number) if versioned else None, checksum, text)


def schema_version(files: list[SqlFile] | None = None) -> int:
    """The number of the latest versioned migration: the version a migrated database is at."""
    return max(f.version or 0 for f in files or sql_files())


def pending(files: list[SqlFile], recorded: dict[str, Recorded]) -> list[SqlFile]:
    """What migrate() must apply, in order (docs/design.md, Migrations); raises MigrationError, naming the
    file, when a recorded migration no longer matches this package's files."""
    latest = schema_version(files)
    newer = sorted(name for name, row in recorded.items() if (row.version or 0) > latest)
    if newer:
        log.warning("migrations skipped: the database is ahead of this code version=%d newer=%s", latest, newer)
        return []
    shipped = {f.name: f for f in files}
    for name, row in recorded.items():
        if row.version is None:
            continue
        if name not in shipped:
            raise MigrationError(f"{name} is recorded as applied, but this package does not ship it")
        if shipped[name].checksum != row.checksum:
            raise MigrationError(
                f"{name} was edited after it was applied (recorded checksum {row.checksum[:12]}, "
                f"file {shipped[name].checksum[:12]}): a released migration is never changed; "
                "put the change in a new numbered file"
            )
    versioned = [f for f in files if f.version is not None and f.name not in recorded]
    applied = max((row.version or 0 for row in recorded.values()), default=0)
    late = [f.name for f in versioned if (f.version or 0) < applied]
    if late:
        raise MigrationError(f"{late[0]} is numbered below version {applied}, already applied: renumber it")
    repeatable = [f for f in files if f.version is None]
    if versioned or any(recorded.get(f.name) != Recorded(None, f.checksum) for f in repeatable):
        return versioned + repeatable
    return []


async def migrate(dsn: str, pooled: bool | None = None, sql: Traversable = SQL) -> list[str]:
    """Apply the pending migrations of `sql` in one transaction; return the names of the files applied.

    A database already up to date costs one read and takes no lock. Otherwise replicas take turns on an
    advisory lock, and the one that gets it second finds nothing left to do. A lock on a table held too
    long by someone else (an analyst's open transaction) fails the run after MIGRATION_LOCK_TIMEOUT, to
    be retried, instead of queueing every writer behind it. A failed run rolls back whole.
    """
    dsn, cache = pooler_options(dsn, pooled)
    files = sql_files(sql)
    conn = await asyncpg.connect(dsn, timeout=10, statement_cache_size=cache)
    try:
        try:
            todo = pending(files, await _recorded(conn))
        except asyncpg.UndefinedTableError:
            todo = files  # a new database, or one installed before migrations were recorded
        if not todo:
            return []
        async with conn.transaction():
            await conn.execute("select pg_advisory_xact_lock($1)", MIGRATION_LOCK)
            await conn.execute(f"set local lock_timeout = '{MIGRATION_LOCK_TIMEOUT}'")
            await conn.execute((sql / "framework" / "migrations_table.sql").read_text())
            todo = pending(files, await _recorded(conn))  # what another replica applied meanwhile is done
            for file in todo:
                try:
                    await conn.execute(file.text)
                except asyncpg.PostgresError:
                    log.error("migration failed, rolled back file=%s", file.name)
                    raise
                await conn.execute(_RECORD, file.name, file.version, file.checksum)
    finally:
        await conn.close()
    if todo:
        log.info("migrated version=%d applied=%s", schema_version(files), ",".join(f.name for f in todo))
    return [f.name for f in todo]


async def _recorded(conn: asyncpg.Connection) -> dict[str, Recorded]:
    return {row["name"]: Recorded(row["version"], row["checksum"]) for row in await conn.fetch(_RECORDED)}


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

    async def org_secrets(self) -> dict[UUID, OrgSecrets]:
        return org_secrets_of(await self._call("select bluetick_org_secrets()"))

    async def apply_batch(
        self, messages: list[Message], statuses: list[StatusEvent], inbox: Sequence[InboxItem] = ()
    ) -> BatchResult:
        args = (
            jsoncodec.dumps([m.to_json() for m in messages]),
            jsoncodec.dumps([s.to_json() for s in statuses]),
            jsoncodec.dumps([k.to_json() for k in inbox]),
        )
        doc = await self._call("select bluetick_apply_batch($1::jsonb, $2::jsonb, $3::jsonb)", *args)
        return batch_result(doc)

    async def purge(self, max_age: timedelta) -> PurgeResult:
        doc = await self._call("select bluetick_purge($1::interval)", max_age)
        return PurgeResult(parked=int(doc["parked"]), receipts=int(doc["receipts"]))

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
