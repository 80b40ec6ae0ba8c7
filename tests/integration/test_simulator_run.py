"""The simulator against the real service: a run leaves every row as the merge rules say, and check sees a wrong one."""

from __future__ import annotations

import asyncpg
from aiohttp.test_utils import TestClient

from bluetick.store.postgres import PostgresStore
from simulator.check import check
from simulator.plan import SimConfig, make_plan
from simulator.send import run
from tests.conftest import Backend, make_settings, start_client


async def test_simulated_run_leaves_every_row_as_the_merge_rules_say(http: TestClient, backend: Backend) -> None:
    plan = make_plan(SimConfig(messages=80, orgs=3, seed=21))
    result = await run(plan, str(http.make_url("/")), concurrency=8, max_seconds=60)
    assert result.ok, result
    assert await check(backend.db_dsn, plan) == []


async def test_immediate_mode_rows_match_once_the_queue_is_drained(dsn: str) -> None:
    plan = make_plan(SimConfig(messages=80, orgs=2, seed=22))
    store = await PostgresStore.connect(dsn, pool_size=4, timeout_s=10)
    client = await start_client(make_settings(dsn, ack_mode="immediate"), store)
    try:
        result = await run(plan, str(client.make_url("/")), concurrency=8, max_seconds=60)
    finally:
        await client.close()  # drains the queue
        await store.close()
    assert result.ok, result
    assert await check(dsn, plan) == []


async def test_check_names_a_row_that_differs_from_the_merge_rules(http: TestClient, backend: Backend) -> None:
    plan = make_plan(SimConfig(messages=20, orgs=1, seed=23))
    result = await run(plan, str(http.make_url("/")), concurrency=4, max_seconds=60)
    assert result.ok, result
    victim = plan.messages[3]
    conn = await asyncpg.connect(backend.db_dsn)
    try:
        await conn.execute(
            "update message_logs set whatsapp_status = whatsapp_status - 'sent' where org_id = $1 and bsp_msg_id = $2",
            *victim.key,
        )
    finally:
        await conn.close()
    mismatches = await check(backend.db_dsn, plan)
    assert {m.key for m in mismatches} == {victim.key}
    assert "whatsapp_status" in {m.what for m in mismatches}
