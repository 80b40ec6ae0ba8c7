"""Through a transaction-mode pooler (PgBouncer, like Supabase's on port 6543) prepared statements break;
bluetick turns asyncpg's statement cache off there and works."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import asyncpg
import pytest

from bluetick.events import Message, StatusEvent
from bluetick.store.postgres import PostgresStore, pooler_options
from tests.pgbouncer import Bouncer

AT = datetime(2024, 10, 3, 10, 30, tzinfo=UTC)


def test_pooler_is_recognised_from_the_url():
    assert pooler_options("postgresql://u:p@aws-0-eu.pooler.supabase.com:6543/postgres", None)[1] == 0
    assert pooler_options("postgresql://u:p@db.x.supabase.co:5432/postgres", None)[1] > 0
    url, cache = pooler_options("postgresql://u@h:5432/db?pgbouncer=true&sslmode=require", None)
    assert (url, cache) == ("postgresql://u@h:5432/db?sslmode=require", 0)
    assert pooler_options("postgresql://u@h:6543/db", False)[1] > 0


async def load(store: PostgresStore, org: uuid.UUID) -> None:
    ids = [f"wamid.pool.{i}" for i in range(40)]
    await asyncio.gather(
        *(
            store.apply_batch(
                [Message(org, i, to_phone="+919876543210", sent_at=AT)], [StatusEvent(org, i, "read", AT)]
            )
            for i in ids
        )
    )


async def test_through_pgbouncer_the_cache_must_be_off_and_bluetick_turns_it_off(
    pooler_dsn: str | None, pg: asyncpg.Connection
):
    if pooler_dsn is None:
        pytest.skip("pgbouncer is not installed (.ci/run installs it)")
    store = await PostgresStore.connect(pooler_dsn, pool_size=4, timeout_s=10)
    org = uuid.uuid4()
    try:
        await store.prepare()
        await load(store, org)
    finally:
        await store.close()
    assert await pg.fetchval("select count(*) from message_logs where org_id = $1 and status = 'READ'", org) == 40

    forced = await PostgresStore.connect(pooler_dsn, pool_size=4, timeout_s=10, pooled=False)
    try:
        with pytest.raises(asyncpg.exceptions.InvalidSQLStatementNameError):
            for _ in range(5):
                await load(forced, uuid.uuid4())
    finally:
        await forced.close()


async def test_a_pgbouncer_that_died_is_started_again_for_the_next_test(bouncer: Bouncer | None):
    if bouncer is None:
        pytest.skip("pgbouncer is not installed (.ci/run installs it)")
    assert bouncer.proc is not None
    bouncer.proc.kill()
    bouncer.proc.wait(10)
    assert bouncer.ensure()
    url, cache = pooler_options(bouncer.url, None)
    conn = await asyncpg.connect(url, statement_cache_size=cache)
    try:
        assert await conn.fetchval("select 1") == 1
    finally:
        await conn.close()
