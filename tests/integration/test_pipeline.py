"""The pipeline against Postgres: a batch too big for the lock table is split, a bad item never stops a worker."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from bluetick.events import StatusEvent
from bluetick.store import ResourceError, Store
from bluetick.store.postgres import PostgresStore
from tests.conftest import fetch_row, make_settings, payload, start_client

AT = datetime(2024, 10, 3, 10, 30, tzinfo=UTC)


def aisensy(receipt: str, topic: str, msg_id: str) -> dict[str, object]:
    doc = payload("aisensy_inbound.json" if topic == "message.sender.user" else "aisensy_status_read.json")
    doc["id"] = receipt
    doc["data"]["message"]["messageId"] = msg_id  # type: ignore[index]
    return doc


async def test_a_reused_delivery_id_naming_another_message_does_not_stop_the_pipeline(
    http: TestClient, db: asyncpg.Connection, org: uuid.UUID
):
    assert (await http.post(f"/webhooks/{org}", json=aisensy("R1", "message.status.updated", "wamid.X"))).status == 200
    assert (await http.post(f"/webhooks/{org}", json=aisensy("R1", "message.sender.user", "wamid.Y"))).status == 200
    assert (await fetch_row(db, org, "wamid.Y"))["direction"] == "INBOUND"
    for n in range(3):  # both flush workers still serve
        assert (
            await http.post(f"/webhooks/{org}", json=aisensy(f"R{n + 2}", "message.sender.user", f"wamid.Z{n}"))
        ).status == 200


async def test_a_webhook_larger_than_the_database_lock_table_is_stored_in_parts(
    dsn: str, store: Store, db: asyncpg.Connection, org: uuid.UUID
):
    """25 000 statuses in one post used to exceed max_locks_per_transaction, and be retried for ever."""
    client = await start_client(make_settings(dsn, max_body_bytes=4_000_000), store)
    items = [{"id": f"w{i}", "status": "sent", "timestamp": 1727951400} for i in range(25_000)]
    try:
        resp = await client.post(f"/webhooks/{org}", json={"statuses": items})
        assert resp.status == 200
    finally:
        await client.close()
    assert await db.fetchval("select count(*) from message_status_parked where org_id = $1", org) == 25_000


async def test_a_transaction_over_the_lock_limit_is_a_resource_error_to_split(dsn: str, org: uuid.UUID):
    store = await PostgresStore.connect(dsn, pool_size=1, timeout_s=30)
    try:
        with pytest.raises(ResourceError, match="53200"):
            await store.apply_batch([], [StatusEvent(org, f"w{i}", "sent", AT) for i in range(30_000)])
    finally:
        await store.close()


async def test_a_delivery_split_into_parts_keeps_every_status_and_a_retry_still_changes_nothing(
    dsn: str, store: Store, db: asyncpg.Connection, org: uuid.UUID
):
    client = await start_client(make_settings(dsn, batch_max=1), store)
    try:
        doc = aisensy("R-split", "message.status.updated", "wamid.SPLIT")
        await client.post(f"/v1/orgs/{org}/messages", json={"bsp_msg_id": "wamid.SPLIT", "to_phone": "+919876543210"})
        for _ in range(2):  # the BSP's retry of the same delivery
            assert (await client.post(f"/webhooks/{org}", json=doc)).status == 200
    finally:
        await client.close()
    row = await fetch_row(db, org, "wamid.SPLIT")
    assert row is not None and set(row["whatsapp_status"]) == {"sent", "delivered", "read"}
    assert row["whatsapp_status"]["delivered"] == "2024-10-03T10:30:05Z"
