"""Statuses that arrive before their message are parked and applied at log time, per organisation."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
from aiohttp.test_utils import TestClient

from bluetick.events import StatusEvent
from bluetick.store.postgres import PostgresStore
from tests.conftest import fetch_row, payload

MSG_ID = "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBJDQjZCMzlEQUE4OTJBMTE4RTUA"


async def test_status_before_the_log_call_is_parked_then_applied(
    http: TestClient, db: asyncpg.Connection, org: uuid.UUID
):
    await http.post(f"/webhooks/{org}", json=payload("meta_status_delivered.json"))
    assert await fetch_row(db, org, MSG_ID) is None
    assert await db.fetchval("select count(*) from message_status_parked where org_id = $1", org) == 1
    resp = await http.post(
        f"/v1/orgs/{org}/messages", json={"bsp_msg_id": MSG_ID, "to_phone": "+16505551234", "sent_at": 1750263770}
    )
    returned = await resp.json()
    assert returned["status"] == "DELIVERED"
    assert returned["whatsapp_status"] == {"sent": "2025-06-18T16:22:50Z", "delivered": "2025-06-18T16:22:53Z"}
    assert await db.fetchval("select count(*) from message_status_parked where org_id = $1", org) == 0


async def test_same_bsp_msg_id_in_two_orgs_stays_apart(http: TestClient, db: asyncpg.Connection):
    org_a, org_b = uuid.uuid4(), uuid.uuid4()
    for org in (org_a, org_b):
        await http.post(
            f"/v1/orgs/{org}/messages", json={"bsp_msg_id": MSG_ID, "to_phone": "+16505551234", "sent_at": 1750263770}
        )
    await http.post(
        f"/webhooks/{org_a}",
        json=payload("meta_status_failed.json")
        | {
            "entry": [
                {
                    "changes": [
                        {
                            "field": "messages",
                            "value": {"statuses": [{"id": MSG_ID, "status": "read", "timestamp": "1750263790"}]},
                        }
                    ]
                }
            ]
        },
    )
    a, b = await fetch_row(db, org_a, MSG_ID), await fetch_row(db, org_b, MSG_ID)
    assert (a["status"], b["status"]) == ("READ", "SENT")
    assert b["whatsapp_status"] == {"sent": "2025-06-18T16:22:50Z"}


async def test_parked_event_of_one_org_is_not_applied_to_another(http: TestClient, db: asyncpg.Connection):
    org_a, org_b = uuid.uuid4(), uuid.uuid4()
    await http.post(f"/webhooks/{org_a}", json=payload("meta_status_delivered.json"))
    await http.post(
        f"/v1/orgs/{org_b}/messages", json={"bsp_msg_id": MSG_ID, "to_phone": "+16505551234", "sent_at": 1750263770}
    )
    assert (await fetch_row(db, org_b, MSG_ID))["status"] == "SENT"
    assert await db.fetchval("select count(*) from message_status_parked where org_id = $1", org_a) == 1


async def test_purge_removes_only_parked_events_older_than_the_ttl(
    store: PostgresStore, db: asyncpg.Connection, org: uuid.UUID
):
    now = datetime.now(UTC)
    events = [StatusEvent(org, "wamid.old", "read", now), StatusEvent(org, "wamid.new", "read", now)]
    await store.apply_batch([], events)
    await db.execute(
        "update message_status_parked set parked_at = now() - interval '8 days'"
        " where org_id = $1 and bsp_msg_id = 'wamid.old'",
        org,
    )
    result = await store.purge(timedelta(days=7))
    assert result.parked >= 1
    left = await db.fetch("select bsp_msg_id from message_status_parked where org_id = $1", org)
    assert [r["bsp_msg_id"] for r in left] == ["wamid.new"]
