"""The outbox: an organisation that uses events gets one per change that matters, written by the batch that makes
the change, in its transaction; one that does not gets none."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from bluetick.events import Direction, Message, Preference, StatusEvent, TemplateUpdate
from bluetick.store import Store

T0 = datetime(2026, 11, 20, 10, 0, 0, tzinfo=UTC)


async def events(db: asyncpg.Connection, org: uuid.UUID) -> list[dict[str, Any]]:
    rows = await db.fetch(
        "select type, bsp_msg_id, version, data from bluetick_events where org_id = $1 order by id", org
    )
    return [dict(r) for r in rows]


async def feed_on(db: asyncpg.Connection, org: uuid.UUID) -> None:
    assert await db.fetchval("select bluetick_events_feed($1, true)", org) is True


async def test_each_status_change_and_customer_message_is_one_event(
    store: Store, db: asyncpg.Connection, org: uuid.UUID
):
    await feed_on(db, org)
    reply = Message(org, "wamid.o1", to_phone="+919800000001", msg_kind="AI_REPLY", sent_at=T0)
    await store.apply_batch([reply], [])
    delivered = StatusEvent(org, "wamid.o1", "delivered", T0 + timedelta(seconds=5))
    await store.apply_batch([], [delivered, delivered])
    await store.apply_batch([], [delivered])  # no change: no event
    failed = StatusEvent(
        org, "wamid.o1", "failed", T0 + timedelta(seconds=9), failed_reason="Error 131047: Re-engagement"
    )
    await store.apply_batch([], [failed])
    inbound = Message(org, "wamid.i1", Direction.INBOUND, "TEXT", from_phone="+919800000001", body="hello", sent_at=T0)
    await store.apply_batch([inbound], [])
    found = await events(db, org)
    assert [(e["type"], e["bsp_msg_id"], e["data"].get("status")) for e in found] == [
        ("message.status", "wamid.o1", "SENT"),
        ("message.status", "wamid.o1", "DELIVERED"),
        ("message.status", "wamid.o1", "FAILED"),
        ("message.received", "wamid.i1", None),
    ]
    versions = [e["version"] for e in found[:3]]
    assert versions == sorted(versions) and len(set(versions)) == 3, (
        "a later event of one message has a greater version"
    )
    assert all(e["data"]["version"] == e["version"] for e in found)
    assert found[2]["data"]["error_code"] == "131047" and found[2]["data"]["customer_phone"] == "+919800000001"
    assert found[3]["data"]["body"] == "hello"


async def test_an_organisation_without_events_writes_none(store: Store, db: asyncpg.Connection, org: uuid.UUID):
    await store.apply_batch([Message(org, "wamid.o2", to_phone="+919800000002", sent_at=T0)], [])
    await store.apply_batch([], [StatusEvent(org, "wamid.o2", "read", T0 + timedelta(seconds=5))])
    assert await events(db, org) == []
    assert await db.fetchval("select status from message_logs where org_id = $1", org) == "READ"


async def test_the_page_reads_after_the_cursor(db: asyncpg.Connection, store: Store, org: uuid.UUID):
    await feed_on(db, org)
    for i in range(3):
        await store.apply_batch([Message(org, f"wamid.p{i}", to_phone="+919800000003", sent_at=T0)], [])
    page = await db.fetchval("select bluetick_events_page($1, null, 0, 2)", org)
    assert [e["bsp_msg_id"] for e in page["events"]] == ["wamid.p0", "wamid.p1"]
    xid, last = page["next"]
    rest = await db.fetchval("select bluetick_events_page($1, $2, $3, 10)", org, xid, last)
    assert [e["bsp_msg_id"] for e in rest["events"]] == ["wamid.p2"] and rest["waiting"] is False


async def test_a_new_preference_and_a_template_change_are_events_once(
    store: Store, db: asyncpg.Connection, org: uuid.UUID
):
    await feed_on(db, org)
    stop = Preference(org, T0, "stop", "marketing_messages", customer_phone="+919800000004", detail="Stopped")
    paused = TemplateUpdate(org, "1184502297736401", "status", "PAUSED", T0, "order_shipped", "en_US", "LOW_QUALITY")
    await store.apply_batch([], [], [], [stop, paused])
    await store.apply_batch([], [], [], [stop, paused])  # a repeat stores nothing new: no event
    found = await events(db, org)
    assert [(e["type"], e["data"].get("preference") or e["data"].get("value")) for e in found] == [
        ("customer.preferences", "stop"),
        ("template.status", "PAUSED"),
    ]
    assert found[0]["data"]["customer_phone"] == "+919800000004" and found[1]["data"]["reason"] == "LOW_QUALITY"
