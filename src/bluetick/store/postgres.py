"""Postgres over asyncpg: DATABASE_URL, or the embedded server's socket."""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any

import asyncpg

from bluetick import jsoncodec
from bluetick.store import Store
from bluetick.store.migrations import migrate
from bluetick.store.pooler import pooler_options
from bluetick.store.transport import classify


async def _nothing_to_reset(conn: asyncpg.Connection) -> None:
    """The pool's reset of a released connection: nothing, beyond asyncpg's own rollback of an open transaction.
    bluetick leaves no session state on a pooled connection (each use is one function call; locks, settings and
    snapshots are the transaction's), so asyncpg's default reset query (`pg_advisory_unlock_all(); CLOSE ALL;
    UNLISTEN *; RESET ALL`) would only add a round trip to every batch."""


async def _json_codec(conn: asyncpg.Connection) -> None:
    """jsonb in and out through jsoncodec: a parameter is sent as JSON text, a result read back into values.
    jsonb is built in, so asyncpg registers the codec without a query."""
    await conn.set_type_codec("jsonb", encoder=jsoncodec.dumps, decoder=jsoncodec.loads, schema="pg_catalog")


@cache
def _statement(function: str, names: tuple[str, ...]) -> str:
    """`select function(name => $1, ...)`: the parameters' types are the function's own. The names are the store's
    constants (bluetick.store.Store); every value is a parameter."""
    return f"select {function}({', '.join(f'{name} => ${n}' for n, name in enumerate(names, 1))})"


class AsyncpgTransport:
    """A pool of connections; every wait (connection, query, release) is bounded by the timeout (None: unbounded,
    as for a command's long read)."""

    def __init__(self, pool: asyncpg.Pool, timeout_s: float | None) -> None:
        self._pool = pool
        self._timeout = timeout_s

    @classmethod
    async def connect(
        cls, dsn: str, pool_size: int, timeout_s: float | None, pooled: bool | None = None
    ) -> AsyncpgTransport:
        """A pool that connects on demand, so it can be created while the database is down."""
        url, statement_cache = pooler_options(dsn, pooled)
        pool = await asyncpg.create_pool(
            url,
            min_size=0,
            max_size=pool_size,
            statement_cache_size=statement_cache,
            init=_json_codec,
            reset=_nothing_to_reset,
        )
        return cls(pool, timeout_s)

    async def call(self, function: str, params: Mapping[str, Any]) -> Any:
        query = _statement(function, tuple(params))
        try:
            # acquire's timeout also bounds the release, which otherwise waits for ever on a frozen link
            async with self._pool.acquire(timeout=self._timeout) as conn:
                return await conn.fetchval(query, *params.values(), timeout=self._timeout)
        except asyncpg.PostgresError as exc:
            refined = classify(exc.sqlstate, str(exc))
            if refined is not None:
                raise refined from exc
            raise

    async def ping(self) -> bool:
        try:
            async with self._pool.acquire(timeout=self._timeout) as conn:
                await conn.fetchval("select 1", timeout=self._timeout)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError):
            return False
        return True

    async def close(self) -> None:
        await self._pool.close()


class PostgresStore(Store):
    """The store over asyncpg; `prepare` applies the pending migrations."""

    def __init__(self, transport: AsyncpgTransport, dsn: str, pooled: bool | None = None) -> None:
        super().__init__(transport)
        self._dsn = dsn
        self._pooled = pooled
        self._prepared = False

    @classmethod
    async def connect(
        cls, dsn: str, pool_size: int, timeout_s: float | None, pooled: bool | None = None
    ) -> PostgresStore:
        """A store whose pool connects on demand, so it can be created while the database is down."""
        return cls(await AsyncpgTransport.connect(dsn, pool_size, timeout_s, pooled), dsn, pooled)

    async def prepare(self) -> None:
        if not self._prepared:
            await migrate(self._dsn, self._pooled)
            self._prepared = True
