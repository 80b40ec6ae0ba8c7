"""Migrations run anywhere, any number of times, and never wait on a reader."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import pytest

from bluetick.store.postgres import migrate
from tests.supabase_emulation import emulate


@pytest.mark.parametrize("supabase_like", [False, True], ids=["plain-postgres", "supabase-like"])
async def test_migrations_run_twice_with_and_without_an_auth_schema(dsn: str, supabase_like: bool):
    name = f"migrate_{uuid.uuid4().hex[:8]}"
    if supabase_like:
        target = await emulate(dsn, name)
    else:
        admin = await asyncpg.connect(dsn)
        await admin.execute(f'create database "{name}"')
        await admin.close()
        target = dsn.replace("/postgres?", f"/{name}?")
    first, again, forced = await migrate(target), await migrate(target), await migrate(target, force=True)
    assert again == [], "an installed version is not migrated again"
    assert forced == first and len(first) >= 4
    conn = await asyncpg.connect(target)
    try:
        policies = await conn.fetchval("select count(*) from pg_policies where tablename = 'message_logs'")
        rls = await conn.fetchval("select relrowsecurity from pg_class where relname = 'message_logs'")
    finally:
        await conn.close()
    assert rls is True
    assert policies == (1 if supabase_like else 0)


async def test_an_analysts_open_transaction_does_not_block_a_booting_replica(dsn: str, pg: asyncpg.Connection):
    await pg.execute("begin; select count(*) from message_logs")
    try:
        async with asyncio.timeout(30):
            assert await migrate(dsn) == []  # installed version: nothing to do, no lock taken
    finally:
        await pg.execute("rollback")
