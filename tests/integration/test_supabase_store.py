"""The Supabase store against an emulated project: a missing set-up and refused data are named, not retried."""

from __future__ import annotations

import uuid

import asyncpg
import pytest

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
