"""The database going away, at start and mid-run: no 200 for data that is not safe, nothing lost."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestClient, TestServer

from bluetick.app import create_app
from bluetick.config import Settings
from bluetick.store.postgres import PostgresStore
from tests.conftest import make_settings, payload, start_client
from tests.dbproxy import DbProxy


@pytest.fixture
async def proxy(dsn: str) -> AsyncIterator[DbProxy]:
    relay = DbProxy(dsn)
    await relay.start()
    yield relay
    await relay.cut()


async def serve(settings: Settings) -> tuple[TestClient, PostgresStore]:
    """A service on `settings.database_url`, started without waiting for the database."""
    assert settings.database_url is not None
    store = await PostgresStore.connect(settings.database_url, pool_size=2, timeout_s=2)
    client = TestClient(TestServer(create_app(settings, store)))
    await client.start_server()
    return client, store


async def eventually(check: Any, attempts: int = 200, pause: float = 0.05) -> bool:
    """Poll `check()` until it is true; a bound on waiting, not a timing assertion."""
    for _ in range(attempts):
        if await check():
            return True
        await asyncio.sleep(pause)
    return False


def inbound(msg_id: str) -> dict[str, Any]:
    doc = payload("meta_inbound_text.json")
    doc["entry"][0]["changes"][0]["value"]["messages"][0]["id"] = msg_id
    return doc


async def rows(pg: asyncpg.Connection, org: uuid.UUID) -> set[str]:
    return {r["bsp_msg_id"] for r in await pg.fetch("select bsp_msg_id from message_logs where org_id = $1", org)}


async def _has_rows(pg: asyncpg.Connection, org: uuid.UUID, expected: set[str]) -> bool:
    return await rows(pg, org) == expected


async def test_database_down_at_start_then_back(proxy: DbProxy, pg: asyncpg.Connection, org: uuid.UUID):
    await proxy.cut()
    client, store = await serve(make_settings(proxy.dsn))
    try:
        ready = await client.get("/readyz")
        assert ready.status == 503 and (await ready.json())["ready"] is False
        assert (await client.get("/healthz")).status == 200
        assert (await client.post(f"/webhooks/{org}", json=inbound("wamid.early"))).status == 503
        await proxy.restore()
        assert await eventually(lambda: _is_ready(client), attempts=400)
        assert (await client.post(f"/webhooks/{org}", json=inbound("wamid.later"))).status == 200
        assert await rows(pg, org) == {"wamid.later"}
    finally:
        await client.close()
        await store.close()


async def _is_ready(client: TestClient) -> bool:
    return (await client.get("/readyz")).status == 200


async def test_durable_mode_answers_503_while_the_database_is_down_and_stores_after(
    proxy: DbProxy, pg: asyncpg.Connection, org: uuid.UUID
):
    client, store = await serve(make_settings(proxy.dsn, ack_timeout_ms=400))
    try:
        assert await eventually(lambda: _is_ready(client))
        await proxy.cut()
        down = await client.post(f"/webhooks/{org}", json=inbound("wamid.during"))
        assert down.status == 503
        assert (await client.get("/readyz")).status == 503
        await proxy.restore()
        # the batch answered 503 is still applied once the database is back ...
        assert await eventually(lambda: _has(pg, org, "wamid.during"))
        # ... and the BSP's retry is answered 200
        assert (await client.post(f"/webhooks/{org}", json=inbound("wamid.during"))).status == 200
        assert (await client.post(f"/webhooks/{org}", json=inbound("wamid.after"))).status == 200
        assert await rows(pg, org) == {"wamid.during", "wamid.after"}
    finally:
        await client.close()
        await store.close()


async def _has(pg: asyncpg.Connection, org: uuid.UUID, msg_id: str) -> bool:
    return msg_id in await rows(pg, org)


async def test_immediate_mode_queues_while_the_database_is_down_and_applies_everything_after(
    proxy: DbProxy, pg: asyncpg.Connection, org: uuid.UUID
):
    client, store = await serve(make_settings(proxy.dsn, ack_mode="immediate", queue_max=30))
    try:
        assert await eventually(lambda: _is_ready(client))
        await proxy.cut()
        statuses = [(await client.post(f"/webhooks/{org}", json=inbound(f"wamid.q{i}"))).status for i in range(40)]
        assert statuses == [200] * 30 + [503] * 10
        await proxy.restore()
        expected = {f"wamid.q{i}" for i in range(30)}
        assert await eventually(lambda: _all(pg, org, expected), attempts=400)
        assert await rows(pg, org) == expected
    finally:
        await client.close()
        await store.close()


async def _all(pg: asyncpg.Connection, org: uuid.UUID, expected: set[str]) -> bool:
    return await rows(pg, org) == expected


async def test_a_frozen_database_link_cannot_hold_shutdown_or_readiness(dsn: str, org: uuid.UUID):
    relay = DbProxy(dsn)
    await relay.start()
    store = await PostgresStore.connect(relay.dsn, pool_size=2, timeout_s=1)
    settings = make_settings(relay.dsn, ack_mode="immediate", shutdown_drain_s=1)
    client = await start_client(settings, store)
    try:
        relay.freeze()
        assert (await client.post(f"/webhooks/{org}", json=payload("meta_status_delivered.json"))).status == 200
        async with asyncio.timeout(20):  # a bound on a hang, not a timing assertion
            assert (await client.get("/readyz")).status == 503
            await client.close()
    finally:
        relay.thaw()
        await relay.cut()
        await store.close()


async def test_immediate_mode_waits_for_the_commit_while_the_database_lags_instead_of_queueing_more(
    dsn: str, pg: asyncpg.Connection, org: uuid.UUID
):
    client, store = await serve(make_settings(dsn, ack_mode="immediate", queue_max=10))
    blocker = await asyncpg.connect(dsn)
    try:
        assert await eventually(lambda: _is_ready(client))
        lock = blocker.transaction()
        await lock.start()
        await blocker.execute("lock table message_logs in exclusive mode")  # batches wait: the database lags
        quick = [await client.post(f"/webhooks/{org}", json=inbound(f"wamid.lag{i}")) for i in range(5)]
        assert [(r.status, (await r.json())["queued"]) for r in quick] == [(200, True)] * 5
        # half the queue is taken and the database is up: the next senders wait for their commit
        waiting = [
            asyncio.create_task(client.post(f"/webhooks/{org}", json=inbound(f"wamid.lag{i}"))) for i in range(5, 9)
        ]
        done, _ = await asyncio.wait(waiting, timeout=0.5)
        assert not done, "answered before their batch could commit"
        await lock.rollback()
        answers = [await t for t in waiting]
        assert [(r.status, await r.json()) for r in answers] == [
            (200, {**(await answers[0].json()), "stored": True, "queued": False})
        ] * 4
        # the queued ones were taken in an earlier batch, blocked on the same lock: it may commit just after these
        expected = {f"wamid.lag{i}" for i in range(9)}
        assert await eventually(lambda: _has_rows(pg, org, expected))
    finally:
        await blocker.close()
        await client.close()
        await store.close()
