"""What a 200 means: durable mode answers only after the commit; immediate mode answers at once."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg

from bluetick.store import Store
from tests.conftest import Backend, fetch_row, make_settings, payload, start_client

MSG_ID = "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBJDQjZCMzlEQUE4OTJBMTE4RTUA"


@asynccontextmanager
async def key_locked(dsn: str, org: uuid.UUID, msg_id: str) -> AsyncIterator[None]:
    """Hold the message's merge lock in another transaction, so any batch touching it must wait."""
    conn = await asyncpg.connect(dsn)
    tx = conn.transaction()
    await tx.start()
    await conn.execute("select pg_advisory_xact_lock(bluetick_lock_key($1, $2))", org, msg_id)
    try:
        yield
    finally:
        await tx.rollback()
        await conn.close()


async def test_durable_200_is_sent_only_after_the_row_is_committed(
    dsn: str, backend: Backend, store: Store, db: asyncpg.Connection, org: uuid.UUID
):
    client = await start_client(make_settings(dsn, ack_mode="durable", ack_timeout_ms=30_000), store)
    try:
        async with key_locked(backend.db_dsn, org, MSG_ID):
            request = asyncio.ensure_future(client.post(f"/webhooks/{org}", json=payload("meta_status_delivered.json")))
            await asyncio.sleep(0.5)
            assert not request.done(), "answered while the batch could not commit"
            assert await db.fetchval("select count(*) from message_status_parked where org_id = $1", org) == 0
        resp = await request
        assert resp.status == 200
        assert (await resp.json())["stored"] is True
        parked = await db.fetchrow("select status, ts from message_status_parked where org_id = $1", org)
        assert parked["status"] == "delivered"
    finally:
        await client.close()


async def test_durable_answers_503_when_the_batch_cannot_commit_within_the_deadline(
    dsn: str, backend: Backend, store: Store, db: asyncpg.Connection, org: uuid.UUID
):
    client = await start_client(make_settings(dsn, ack_mode="durable", ack_timeout_ms=300), store)
    try:
        async with key_locked(backend.db_dsn, org, MSG_ID):
            resp = await client.post(f"/webhooks/{org}", json=payload("meta_status_delivered.json"))
            assert resp.status == 503
            assert "retry" in (await resp.json())["error"]
    finally:
        await client.close()


async def test_immediate_mode_answers_at_once_and_applies_in_the_background(
    dsn: str, backend: Backend, store: Store, db: asyncpg.Connection, org: uuid.UUID
):
    client = await start_client(make_settings(dsn, ack_mode="immediate"), store)
    try:
        resp = await client.post(
            f"/v1/orgs/{org}/messages", json={"bsp_msg_id": MSG_ID, "to_phone": "+16505551234", "sent_at": 1750263770}
        )
        assert resp.status == 200
        async with key_locked(backend.db_dsn, org, MSG_ID):
            resp = await client.post(f"/webhooks/{org}", json=payload("meta_status_delivered.json"))
            assert resp.status == 200
            assert (await resp.json())["queued"] is True
            assert (await fetch_row(db, org, MSG_ID))["status"] == "SENT"
        for _ in range(400):  # a bound on waiting on a loaded machine, not a timing assertion
            if (await fetch_row(db, org, MSG_ID))["status"] == "DELIVERED":
                break
            await asyncio.sleep(0.05)
        assert (await fetch_row(db, org, MSG_ID))["status"] == "DELIVERED"
    finally:
        await client.close()


async def test_immediate_mode_answers_503_when_the_queue_is_full(
    dsn: str, backend: Backend, store: Store, org: uuid.UUID
):
    client = await start_client(make_settings(dsn, ack_mode="immediate", queue_max=1), store)
    try:
        async with key_locked(backend.db_dsn, org, MSG_ID):
            first = await client.post(f"/webhooks/{org}", json=payload("meta_status_delivered.json"))
            second = await client.post(f"/webhooks/{org}", json=payload("meta_status_delivered.json"))
            assert (first.status, second.status) == (200, 503)
    finally:
        await client.close()


async def test_shutdown_drains_the_immediate_queue(
    dsn: str, backend: Backend, store: Store, db: asyncpg.Connection, org: uuid.UUID
):
    client = await start_client(make_settings(dsn, ack_mode="immediate", batch_max=2), store)
    ids = [f"wamid.drain.{i}" for i in range(40)]
    for msg_id in ids:
        doc = payload("meta_status_delivered.json")
        doc["entry"][0]["changes"][0]["value"]["statuses"][0]["id"] = msg_id
        assert (await client.post(f"/webhooks/{org}", json=doc)).status == 200
    await client.close()
    assert await db.fetchval("select count(*) from message_status_parked where org_id = $1", org) == len(ids)
