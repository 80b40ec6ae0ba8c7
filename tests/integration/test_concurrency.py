"""Concurrent writers: no lost update, no event parked for ever, no deadlock, replicas agree."""

from __future__ import annotations

import asyncio
import random
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
from aiohttp.test_utils import TestClient

from bluetick.events import Message, StatusEvent
from bluetick.store.postgres import PostgresStore
from simulator.expected import Event, expected_state
from tests.conftest import fetch_row, make_settings, start_client

BASE = datetime(2024, 10, 3, 10, 0, tzinfo=UTC)


def meta_status(msg_id: str, status: str, ts: datetime) -> dict[str, object]:
    item = {"id": msg_id, "status": status, "timestamp": str(int(ts.timestamp())), "recipient_id": "919876543210"}
    return {
        "object": "whatsapp_business_account",
        "entry": [{"changes": [{"field": "messages", "value": {"statuses": [item]}}]}],
    }


async def test_many_simultaneous_webhooks_for_one_message_lose_no_update(
    dsn: str, store: PostgresStore, db: asyncpg.Connection, org: uuid.UUID
):
    """60 posts at once across two replicas, small batches, two flushers each: the row holds every event."""
    settings = make_settings(dsn, batch_max=4, flush_workers=2)
    replicas = [await start_client(settings, store), await start_client(settings, store)]
    msg_id = "wamid.concurrent"
    rng = random.Random(7)
    events: list[Event] = [
        (rng.choice(["sent", "delivered", "read", "warning"]), BASE + timedelta(seconds=rng.randint(1, 600)), None)
        for _ in range(60)
    ]
    sent_at = BASE + timedelta(seconds=300)
    try:
        resp = await replicas[0].post(
            f"/v1/orgs/{org}/messages",
            json={"bsp_msg_id": msg_id, "to_phone": "+919876543210", "sent_at": int(sent_at.timestamp())},
        )
        assert resp.status == 200
        responses = await asyncio.gather(
            *(
                replicas[i % 2].post(f"/webhooks/{org}", json=meta_status(msg_id, s, ts))
                for i, (s, ts, _) in enumerate(events)
            )
        )
        assert [r.status for r in responses] == [200] * len(events)
    finally:
        for replica in replicas:
            await replica.close()
    row = await fetch_row(db, org, msg_id)
    expected = expected_state(events, sent_at)
    assert row["whatsapp_status"] == expected.whatsapp_status
    assert row["status"] == expected.status


async def test_status_racing_the_log_call_is_never_left_parked(dsn: str, pg: asyncpg.Connection, org: uuid.UUID):
    """A status and the message's log call in concurrent transactions always meet (both lock the key)."""
    stores = [await PostgresStore.connect(dsn, pool_size=4, timeout_s=10) for _ in range(2)]
    ids = [f"wamid.race.{i}" for i in range(200)]
    try:
        await asyncio.gather(
            *(
                call
                for i, msg_id in enumerate(ids)
                for call in (
                    stores[i % 2].apply_batch([], [StatusEvent(org, msg_id, "delivered", BASE)]),
                    stores[(i + 1) % 2].apply_batch([Message(org, msg_id, to_phone="+919876543210", sent_at=BASE)], []),
                )
            )
        )
    finally:
        for s in stores:
            await s.close()
    parked = await pg.fetchval("select count(*) from message_status_parked where org_id = $1", org)
    delivered = await pg.fetchval("select count(*) from message_logs where org_id = $1 and status = 'DELIVERED'", org)
    assert (parked, delivered) == (0, len(ids))


async def test_batches_touching_the_same_messages_in_opposite_orders_do_not_deadlock(
    store: PostgresStore, db: asyncpg.Connection, org: uuid.UUID
):
    ids = [f"wamid.order.{i}" for i in range(50)]
    await store.apply_batch([Message(org, i, to_phone="+919876543210", sent_at=BASE) for i in ids], [])
    forward = [StatusEvent(org, i, "delivered", BASE + timedelta(seconds=5)) for i in ids]
    backward = [StatusEvent(org, i, "read", BASE + timedelta(seconds=9)) for i in reversed(ids)]
    await asyncio.gather(*(store.apply_batch([], batch) for _ in range(5) for batch in (forward, backward)))
    assert await db.fetchval("select count(*) from message_logs where org_id = $1 and status = 'READ'", org) == len(ids)


async def test_replica_results_equal_a_single_replica(dsn: str, store: PostgresStore, db: asyncpg.Connection):
    """The same interleaved events through one replica and through three give identical rows."""
    rng = random.Random(11)
    ids = [f"wamid.replica.{i}" for i in range(20)]
    plan = [
        (
            rng.choice(ids),
            rng.choice(["sent", "delivered", "read", "failed"]),
            BASE + timedelta(seconds=rng.randint(0, 900)),
        )
        for _ in range(300)
    ]

    async def run(count: int) -> list[tuple[object, ...]]:
        org = uuid.uuid4()
        clients: list[TestClient] = [await start_client(make_settings(dsn, batch_max=8), store) for _ in range(count)]
        try:
            for msg_id in ids[::2]:
                await clients[0].post(
                    f"/v1/orgs/{org}/messages",
                    json={"bsp_msg_id": msg_id, "to_phone": "+919876543210", "sent_at": 1727949600},
                )
            results = await asyncio.gather(
                *(
                    clients[n % count].post(f"/webhooks/{org}", json=meta_status(m, s, ts))
                    for n, (m, s, ts) in enumerate(plan)
                )
            )
            assert {r.status for r in results} == {200}
            for msg_id in ids[1::2]:
                await clients[-1].post(
                    f"/v1/orgs/{org}/messages",
                    json={"bsp_msg_id": msg_id, "to_phone": "+919876543210", "sent_at": 1727949600},
                )
        finally:
            for c in clients:
                await c.close()
        rows = await db.fetch(
            "select bsp_msg_id, whatsapp_status::text, status, failed_reason from message_logs"
            " where org_id = $1 order by bsp_msg_id",
            org,
        )
        return [tuple(r) for r in rows]

    single = await run(1)
    assert len(single) == len(ids)
    assert await run(3) == single
