"""The Supabase store against an emulated project: a missing set-up and refused data are named, not retried, and a
read answers what it answers over asyncpg."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from bluetick.events import Message, StatusEvent
from bluetick.store.postgres import PostgresStore
from bluetick.store.supabase import SupabaseSetupError, SupabaseStore
from tests.supabase_emulation import SERVICE_KEY, PostgrestStandIn, emulate


async def test_a_project_without_bluetick_sql_gets_a_clear_error(dsn: str):
    empty = await emulate(dsn, f"empty_{uuid.uuid4().hex[:8]}")
    standin = PostgrestStandIn(empty)
    store = await SupabaseStore.connect(await standin.start(), SERVICE_KEY, timeout_s=5)
    try:
        with pytest.raises(SupabaseSetupError, match="supabase db push"):
            await store.prepare()
    finally:
        await store.close()
        await standin.close()


async def test_a_data_error_through_rpc_is_permanent_not_retried(supabase_dsn: str):
    """The database's own SQLSTATE passes through PostgREST, so refused data is isolated, not retried."""
    from bluetick.store import PermanentError

    standin = PostgrestStandIn(supabase_dsn)
    store = await SupabaseStore.connect(await standin.start(), SERVICE_KEY, timeout_s=5)
    try:
        with pytest.raises(PermanentError, match="22"):
            await store.transport.call(
                "bluetick_apply_batch", {"p_messages": [{"org_id": "not-a-uuid"}], "p_statuses": []}
            )
        conn = await asyncpg.connect(supabase_dsn)
        assert await conn.fetchval("select count(*) from message_logs where bsp_msg_id is null") == 0
        await conn.close()
    finally:
        await store.close()
        await standin.close()


async def test_the_stats_funnel_through_rpc_equals_the_one_over_asyncpg(supabase_dsn: str):
    """A read answering jsonb goes through either transport alike: the same numbers, as the same text."""
    org, sent = uuid.uuid4(), datetime(2024, 10, 3, 10, tzinfo=UTC)
    pg = await PostgresStore.connect(supabase_dsn, pool_size=1, timeout_s=10)
    standin = PostgrestStandIn(supabase_dsn)
    rest = await SupabaseStore.connect(await standin.start(), SERVICE_KEY, timeout_s=5)
    try:
        await pg.apply_batch(
            [
                Message(org, f"wamid.s{n}", to_phone="+919800000001", msg_kind="TEMPLATE", sent_at=sent)
                for n in range(3)
            ],
            [StatusEvent(org, "wamid.s0", "delivered", sent + timedelta(seconds=20))],
        )
        for by in ("day", "kind"):
            over_asyncpg = await pg.stats_funnel(org, sent.date(), sent.date(), by)
            assert over_asyncpg["total"]["delivery_rate_pct"] == "33.33"
            assert over_asyncpg["total"]["median_seconds_to_deliver"] == "20.0"
            assert len(over_asyncpg["rows"]) == 1
            assert await rest.stats_funnel(org, sent.date(), sent.date(), by) == over_asyncpg
    finally:
        await rest.close()
        await standin.close()
        await pg.close()
