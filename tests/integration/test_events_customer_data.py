"""The outbox's events carry customer data (issue 24, item 6): erasing a customer erases their identifiers and text
from the stored events of the organisation and keeps the delivery facts; export includes the events naming them."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import timedelta
from typing import Any

import asyncpg

from bluetick.customers import forget
from bluetick.store import Store
from bluetick.store.records import Customer
from tests.integration.test_customer_data import (
    NEEDLES,
    OLD,
    OTHER_PHONE,
    PHONE,
    USER,
    out,
    seed_customer,
    status,
    traces,
)

IDENTIFYING = {"customer_phone", "customer_user_id", "customer_parent_user_id", "body"}


async def feed_on(db: asyncpg.Connection, org: uuid.UUID) -> None:
    assert await db.fetchval("select bluetick_events_feed($1, true)", org) is True


async def events_of(db: asyncpg.Connection, org: uuid.UUID) -> list[dict[str, Any]]:
    rows = await db.fetch(
        "select id, type, bsp_msg_id, version, data from bluetick_events where org_id = $1 order by xid, id", org
    )
    return [dict(r) for r in rows]


def names_customer(data: dict[str, Any]) -> bool:
    return data.get("customer_phone") == PHONE or data.get("customer_user_id") == USER


async def test_erasure_strips_the_customers_identifiers_and_text_from_events_and_keeps_the_facts(
    store: Store, db: asyncpg.Connection
):
    org, other_org = uuid.uuid4(), uuid.uuid4()
    for o in (org, other_org):
        await feed_on(db, o)
        await seed_customer(store, o, OLD)
    await store.apply_batch([out(org, "c5", PHONE, "one more", OLD + timedelta(minutes=20))], [])
    # An event whose message row no longer names the customer (erased by retention while the event was kept).
    await db.execute(
        "insert into bluetick_events (org_id, type, bsp_msg_id, version, data) values ($1, 'message.received', 'gone',"
        " 1, $2)",
        org,
        {"bsp_msg_id": "gone", "customer_phone": PHONE, "body": "a text whose row was erased", "version": 1},
    )
    before = await events_of(db, org)
    theirs = [e for e in before if names_customer(e["data"])]
    assert {e["type"] for e in theirs} == {"message.status", "message.received", "customer.preferences"}
    assert any(e["data"].get("body") for e in theirs), "a customer's message carries its text"
    assert any(e["data"].get("error_code") == "131026" for e in theirs)
    other_before = await events_of(db, other_org)

    erasure = await forget(store, org, Customer(phone=PHONE), part_rows=2)

    assert erasure.events == len(theirs)
    assert erasure.to_json()["events"] == len(theirs)
    after = await events_of(db, org)
    assert [e["id"] for e in after] == [e["id"] for e in before], "no event is deleted"
    for was, now in zip(before, after, strict=True):
        if names_customer(was["data"]):
            assert IDENTIFYING.isdisjoint(now["data"])
            # the delivery facts stay: type, status, whatsapp_status, error code, version
            assert now["data"] == {k: v for k, v in was["data"].items() if k not in IDENTIFYING}
            assert (now["type"], now["bsp_msg_id"], now["version"]) == (was["type"], was["bsp_msg_id"], was["version"])
        else:
            assert now == was, "someone else's event is untouched"
    assert any(e["data"].get("customer_phone") == OTHER_PHONE for e in after), "someone else keeps their phone"
    assert await traces(db, org, [*NEEDLES, "a text whose row was erased"]) == []
    assert await events_of(db, other_org) == other_before, "another organisation's events are untouched"

    # A later status of an erased message writes an event built from the erased row: it names no one.
    await store.apply_batch([], [status(org, "c5", "read", OLD + timedelta(minutes=30), USER)])
    newest = (await events_of(db, org))[-1]
    assert newest["bsp_msg_id"] == "c5" and newest["data"]["status"] == "READ"
    assert IDENTIFYING.isdisjoint(newest["data"])

    again = await forget(store, org, Customer(phone=PHONE), part_rows=2)
    assert (again.events, again.recorded) == (0, False)


async def test_erasure_by_bsuid_reaches_the_events_naming_only_the_bsuid(
    store: Store, db: asyncpg.Connection, org: uuid.UUID
):
    await feed_on(db, org)
    await store.apply_batch([out(org, "u1", None, "to the bsuid", OLD, customer_user_id=USER)], [])
    await store.apply_batch([], [status(org, "u1", "delivered", OLD + timedelta(minutes=1), USER)])
    assert [e["data"]["customer_user_id"] for e in await events_of(db, org)] == [USER, USER]

    erasure = await forget(store, org, Customer(user_id=USER), part_rows=500)

    assert (erasure.rows, erasure.events) == (1, 2)
    assert [("customer_user_id" in e["data"], e["data"]["status"]) for e in await events_of(db, org)] == [
        (False, "SENT"),
        (False, "DELIVERED"),
    ]


async def test_an_erasure_while_batches_write_events_about_the_customer_leaves_none_naming_them(
    store: Store, db: asyncpg.Connection, org: uuid.UUID
):
    """Batches hold each message's advisory lock while they write its event; the erasure takes the same locks in
    the same order and updates events in a part that locks no key: no deadlock, and no event left naming them."""
    await feed_on(db, org)
    at = OLD
    await store.apply_batch([out(org, f"m{i}", PHONE, f"text {i}", at + timedelta(seconds=i)) for i in range(40)], [])
    stages = ["sent", "delivered", "read"]

    async def statuses() -> None:
        for n, stage in enumerate(stages):
            for start in range(0, 40, 8):
                batch = [
                    status(org, f"m{i}", stage, at + timedelta(minutes=n + 1, seconds=i), USER)
                    for i in reversed(range(start, start + 8))
                ]
                await store.apply_batch([], batch)
                await asyncio.sleep(0)

    writer = asyncio.create_task(statuses())
    erasure = await forget(store, org, Customer(phone=PHONE), part_rows=5)
    await writer

    assert erasure.rows == 40
    found = await events_of(db, org)
    assert len(found) >= 40 and [e for e in found if IDENTIFYING & set(e["data"])] == []
    assert {e["data"]["status"] for e in found} >= {"SENT", "READ"}


async def test_export_includes_the_events_naming_the_customer(store: Store, db: asyncpg.Connection, org: uuid.UUID):
    await feed_on(db, org)
    await seed_customer(store, org, OLD)
    stored = [e for e in await events_of(db, org) if names_customer(e["data"])]

    doc = await store.export_customer(org, Customer(phone=PHONE))

    exported = doc["events"]
    assert sorted(int(e["id"]) for e in exported) == sorted(e["id"] for e in stored)
    assert {e["type"] for e in exported} == {"message.status", "message.received", "customer.preferences"}
    assert all(set(e) == {"id", "type", "created_at", "data"} for e in exported)
    by_id = {str(e["id"]): e["data"] for e in stored}
    assert all(e["data"] == by_id[e["id"]] for e in exported)
    assert all(names_customer(e["data"]) for e in exported), "no one else's event"
    assert json.dumps(doc)  # one JSON document
    by_user = await store.export_customer(org, Customer(user_id=USER))
    assert [e["id"] for e in by_user["events"]] == [e["id"] for e in exported]
    nobody = await store.export_customer(org, Customer(phone="+14155550100"))
    assert nobody["events"] == []

    await forget(store, org, Customer(phone=PHONE), part_rows=500)
    assert (await store.export_customer(org, Customer(phone=PHONE)))["events"] == []
