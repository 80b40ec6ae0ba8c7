"""Every payload sample in shared/payloads, end to end: HTTP post, then the row in the database."""

from __future__ import annotations

import copy
import uuid

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from tests.conftest import PAYLOADS, SHARED_PAYLOADS, fetch_row, payload

META_DELIVERED_ID = "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBJDQjZCMzlEQUE4OTJBMTE4RTUA"
META_FAILED_ID = "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI3N0EwQkM4RTRBOTE2QzRDNUIA"
AISENSY_READ_ID = "wamid.HBgMOTE5ODc2NTQzMjEwFQIAERgSRTk0RkU0QTI4QjE1MEQ2MDcA"
AISENSY_FAILED_ID = "wamid.HBgMOTE5ODc2NTQzMjExFQIAERgSMDdCQzFFQ0E5MzQ1QjIxOTUA"


async def log_outbound(http: TestClient, org: uuid.UUID, bsp_msg_id: str, sent_at: int) -> None:
    resp = await http.post(
        f"/v1/orgs/{org}/messages",
        json={"bsp_msg_id": bsp_msg_id, "to_phone": "+16505551234", "msg_kind": "TEMPLATE", "sent_at": sent_at},
    )
    assert resp.status == 200, await resp.text()


async def post(http: TestClient, org: uuid.UUID, doc: object) -> dict[str, object]:
    resp = await http.post(f"/webhooks/{org}", json=doc)
    assert resp.status == 200, await resp.text()
    body: dict[str, object] = await resp.json()
    return body


async def test_meta_delivered_merges_into_logged_message(http: TestClient, db: asyncpg.Connection, org: uuid.UUID):
    await log_outbound(http, org, META_DELIVERED_ID, 1750263770)
    body = await post(http, org, payload("meta_status_delivered.json"))
    assert body["format"] == "meta" and body["stored"] is True
    row = await fetch_row(db, org, META_DELIVERED_ID)
    assert row["status"] == "DELIVERED"
    assert row["whatsapp_status"] == {"sent": "2025-06-18T16:22:50Z", "delivered": "2025-06-18T16:22:53Z"}


async def test_meta_failed_records_formatted_reason(http: TestClient, db: asyncpg.Connection, org: uuid.UUID):
    await log_outbound(http, org, META_FAILED_ID, 1750263790)
    await post(http, org, payload("meta_status_failed.json"))
    row = await fetch_row(db, org, META_FAILED_ID)
    assert row["status"] == "FAILED"
    assert row["whatsapp_status"]["failed"] == "2025-06-18T16:23:20Z"
    assert row["failed_reason"] == (
        "Error 131026: Message Undeliverable - Message Undeliverable "
        "(Message failed to send because the recipient's phone number is not on WhatsApp)"
    )


async def test_meta_inbound_becomes_inbound_row(http: TestClient, db: asyncpg.Connection, org: uuid.UUID):
    body = await post(http, org, payload("meta_inbound_text.json"))
    assert body["messages"] == 1
    row = await fetch_row(db, org, "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQUZFMTQ1RDI5QTQ2MUE4QjUwNQA=")
    assert row["direction"] == "INBOUND"
    assert row["from_phone"] == "+16505551234"
    assert row["to_phone"] == "+15550783881"
    assert row["body"] == "Is my order on its way?"
    assert row["msg_kind"] == "TEXT"
    assert row["created_at"].isoformat() == "2025-06-18T16:21:40+00:00"
    assert row["whatsapp_status"] == {} and row["status"] is None


async def test_aisensy_read_carries_every_stage_time(http: TestClient, db: asyncpg.Connection, org: uuid.UUID):
    await log_outbound(http, org, AISENSY_READ_ID, 1727951400)
    await post(http, org, payload("aisensy_status_read.json"))
    row = await fetch_row(db, org, AISENSY_READ_ID)
    assert row["status"] == "READ"
    assert row["whatsapp_status"] == {
        "sent": "2024-10-03T10:30:00Z",
        "delivered": "2024-10-03T10:30:05Z",
        "read": "2024-10-03T10:31:00Z",
    }


async def test_aisensy_failed_records_reason(http: TestClient, db: asyncpg.Connection, org: uuid.UUID):
    await log_outbound(http, org, AISENSY_FAILED_ID, 1727951500)
    await post(http, org, payload("aisensy_status_failed.json"))
    row = await fetch_row(db, org, AISENSY_FAILED_ID)
    assert row["status"] == "FAILED"
    assert row["whatsapp_status"]["failed"] == "2024-10-03T10:32:00Z"
    assert row["failed_reason"] == (
        "Error 131047: Re-engagement message: more than 24 hours have passed since the customer last replied"
    )


async def test_aisensy_inbound_becomes_inbound_row(http: TestClient, db: asyncpg.Connection, org: uuid.UUID):
    await post(http, org, payload("aisensy_inbound.json"))
    row = await fetch_row(db, org, "wamid.HBgMOTE5ODc2NTQzMjEwFQIAEhgUM0VCMDRGQjQ3RkI1NUY4QjZBRTMA")
    assert row["direction"] == "INBOUND"
    assert row["from_phone"] == "+919876543210"
    assert row["body"] == "Thanks, got it!"
    assert row["created_at"].isoformat() == "2024-10-03T10:33:00+00:00"


async def test_seed_flat_statuses_apply_each_item(http: TestClient, db: asyncpg.Connection, org: uuid.UUID):
    await log_outbound(http, org, "wamid.HBgMOTE4MjgxODQwNDYyFQIAEhggRDc3", 1702207800)
    await log_outbound(http, org, "wamid.HBgMOTE4MjgxODQwNDYyFQIAEhggRDc4", 1702207800)
    body = await post(http, org, payload("seed_flat_statuses.json"))
    assert body["format"] == "flat" and body["statuses"] == 2
    delivered = await fetch_row(db, org, "wamid.HBgMOTE4MjgxODQwNDYyFQIAEhggRDc3")
    read = await fetch_row(db, org, "wamid.HBgMOTE4MjgxODQwNDYyFQIAEhggRDc4")
    assert delivered["whatsapp_status"] == {"sent": "2023-12-10T11:30:00Z", "delivered": "2023-12-10T11:30:05Z"}
    assert read["status"] == "READ"
    assert read["whatsapp_status"] == {
        "sent": "2023-12-10T11:30:00Z",
        "delivered": "2023-12-10T11:31:00Z",
        "read": "2023-12-10T11:31:00Z",
    }


async def test_aisensy_retry_of_same_delivery_is_not_processed_twice(
    http: TestClient, db: asyncpg.Connection, org: uuid.UUID
):
    await log_outbound(http, org, AISENSY_READ_ID, 1727951400)
    first = payload("aisensy_status_read.json")
    await post(http, org, first)
    retry = copy.deepcopy(first)
    retry["delivery_attempt"] = 2
    retry["data"]["message"]["read_at"] = 1727951000  # a changed body under the same delivery id
    await post(http, org, retry)
    row = await fetch_row(db, org, AISENSY_READ_ID)
    assert row["whatsapp_status"]["read"] == "2024-10-03T10:31:00Z"


async def test_other_aisensy_topics_are_acknowledged_and_kept_in_the_inbox(http: TestClient, org: uuid.UUID):
    doc = payload("aisensy_status_read.json")
    doc["topic"] = "contact.created"
    body = await post(http, org, doc)
    assert body == {
        "stored": True,
        "queued": False,
        "kept": True,
        "format": "aisensy",
        "statuses": 0,
        "messages": 0,
        "facts": 0,
        "skipped": [],
        "skipped_count": 0,
    }


@pytest.mark.skipif(not SHARED_PAYLOADS.is_dir(), reason="../shared/payloads is not beside this clone")
def test_samples_match_shared():
    shared = {p.name: p.read_text() for p in SHARED_PAYLOADS.glob("*.json")}
    ours = {p.name: p.read_text() for p in PAYLOADS.glob("*.json")}
    assert ours == shared
