"""The store's pool: a released connection is not sent asyncpg's reset query (a round trip per batch), and is
still left with no transaction open."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import asyncpg

from bluetick.events import StatusEvent
from bluetick.store.postgres import PostgresStore

AT = datetime(2024, 10, 3, 10, 30, tzinfo=UTC)


async def test_a_released_connection_gets_no_reset_query_and_no_open_transaction(dsn: str):
    store = await PostgresStore.connect(dsn, pool_size=1, timeout_s=10)
    watcher = await asyncpg.connect(dsn)
    try:
        await store.apply_batch([], [StatusEvent(uuid.uuid4(), "wamid.pool", "sent", AT)])
        assert await store.ping()  # the same pooled connection, released twice
        pid = await store.transport.call("pg_backend_pid", {})
        row = await watcher.fetchrow("select state, query from pg_stat_activity where pid = $1", pid)
        assert row["state"] == "idle"
        assert "pg_backend_pid" in row["query"] and "RESET ALL" not in row["query"]
    finally:
        await watcher.close()
        await store.close()
