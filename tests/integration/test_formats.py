"""Each new format's sample, posted over HTTP to a fresh organisation: the rows the merge rules say, and a repeat
of the same body changes nothing."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
from aiohttp.test_utils import TestClient

from tests.conftest import fetch_row, payload
from tests.integration.test_payload_samples import log_outbound, post

GUPSHUP_ID = "3f1c9a52-7d4e-4b0a-9e61-2c8d5b7f0a14"
GUPSHUP_WAMID = "gBEGkZiHZUMhAgnQ6iNzpC3bWOE"
WATI_LOCAL_ID = "7c2d4e91-3b5a-4f08-9d6e-1a8b2c3f4e50"


async def rows(db: asyncpg.Connection, org: uuid.UUID) -> list[dict[str, Any]]:
    found = await db.fetch(
        "select bsp_msg_id, direction, msg_kind, from_phone, to_phone, body, customer_user_id, status,"
        " whatsapp_status, failed_reason, created_at from message_logs where org_id = $1 order by bsp_msg_id",
        org,
    )
    parked = await db.fetch(
        "select bsp_msg_id, status, ts from message_status_parked where org_id = $1 order by 1, 2", org
    )
    return [dict(r) for r in found] + [dict(r) for r in parked]


async def post_twice(http: TestClient, db: asyncpg.Connection, org: uuid.UUID, name: str) -> dict[str, object]:
    body = await post(http, org, payload(f"formats/{name}"))
    before = await rows(db, org)
    await post(http, org, payload(f"formats/{name}"))
    assert await rows(db, org) == before
    return body


async def test_gupshup_v2_statuses_find_the_message_logged_under_gupshups_id(
    http: TestClient, db: asyncpg.Connection, org: uuid.UUID
):
    await log_outbound(http, org, GUPSHUP_ID, 1727951400)
    await post_twice(http, db, org, "gupshup_v2_enqueued.json")
    body = await post_twice(http, db, org, "gupshup_v2_read.json")
    assert body["format"] == "gupshup"
    row = await fetch_row(db, org, GUPSHUP_ID)
    assert row is not None and row["status"] == "READ"
    assert row["whatsapp_status"] == {
        "enqueued": "2024-10-03T10:30:01Z",
        "sent": "2024-10-03T10:30:00Z",
        "delivered": "2024-10-03T10:31:00Z",
        "read": "2024-10-03T10:31:00Z",
    }
    assert await fetch_row(db, org, GUPSHUP_WAMID) is None  # the copy under WhatsApp's id stays parked


async def test_gupshup_v2_failed_records_code_and_reason(http: TestClient, db: asyncpg.Connection, org: uuid.UUID):
    await log_outbound(http, org, "8a2e6b17-41c9-4f3d-b5a0-7e9d1c6f2b38", 1727951500)
    await post_twice(http, db, org, "gupshup_v2_failed.json")
    row = await fetch_row(db, org, "8a2e6b17-41c9-4f3d-b5a0-7e9d1c6f2b38")
    assert row is not None and row["status"] == "FAILED"
    assert row["failed_reason"] == "Error 1002: Number Does Not Exists On WhatsApp"
    assert row["whatsapp_status"]["failed"] == "2024-10-03T10:32:00Z"


async def test_gupshup_v2_inbound_stores_phone_and_bsuid(http: TestClient, db: asyncpg.Connection, org: uuid.UUID):
    await post_twice(http, db, org, "gupshup_v2_inbound.json")
    row = await fetch_row(db, org, "ABEGkZiHZUMhAhCq7Lx2mQ9sRt4w")
    assert row is not None and row["direction"] == "INBOUND"
    assert (row["from_phone"], row["customer_user_id"], row["body"]) == (
        "+919876543210",
        "IN.2081978709342942",
        "Where is my parcel?",
    )


async def test_gupshup_v3_delivered_finds_the_message_by_gs_id(
    http: TestClient, db: asyncpg.Connection, org: uuid.UUID
):
    await log_outbound(http, org, "c4d81f0e-5a27-4b9c-a3e6-1f7b2d9e0c55", 1727951400)
    body = await post_twice(http, db, org, "gupshup_v3_delivered.json")
    assert body["format"] == "gupshup_v3"
    row = await fetch_row(db, org, "c4d81f0e-5a27-4b9c-a3e6-1f7b2d9e0c55")
    assert row is not None and row["status"] == "DELIVERED"
    assert row["whatsapp_status"] == {"sent": "2024-10-03T10:30:00Z", "delivered": "2024-10-03T10:30:05Z"}


async def test_wati_sent_and_delivered_merge_into_the_local_message(
    http: TestClient, db: asyncpg.Connection, org: uuid.UUID
):
    await log_outbound(http, org, WATI_LOCAL_ID, 1727951400)
    await post_twice(http, db, org, "wati_template_sent.json")
    await post_twice(http, db, org, "wati_delivered.json")
    row = await fetch_row(db, org, WATI_LOCAL_ID)
    assert row is not None and row["status"] == "DELIVERED"
    assert row["whatsapp_status"] == {"sent": "2024-10-03T10:30:00Z", "delivered": "2024-10-03T10:30:07Z"}


async def test_wati_failed_and_inbound(http: TestClient, db: asyncpg.Connection, org: uuid.UUID):
    await log_outbound(http, org, "0e9f8a7b-6c5d-4e3f-8a1b-2c3d4e5f6a70", 1727951500)
    await post_twice(http, db, org, "wati_failed.json")
    await post_twice(http, db, org, "wati_inbound.json")
    failed = await fetch_row(db, org, "0e9f8a7b-6c5d-4e3f-8a1b-2c3d4e5f6a70")
    assert failed is not None and failed["failed_reason"] == "Error 131026: Message undeliverable"
    inbound = await fetch_row(db, org, "wamid.HBgMOTE5ODc2NTQzMjEzFQIAEhgUM0E5QzFEMkUzRjRBNUI2QzdEOEUA")
    assert inbound is not None and (inbound["direction"], inbound["from_phone"]) == ("INBOUND", "+919876543213")


async def test_interakt_read_failed_and_received(http: TestClient, db: asyncpg.Connection, org: uuid.UUID):
    await log_outbound(http, org, "5d7f9b1c-3e5a-4c7e-9f1b-2d4f6a8c0e31", 1727951400)
    await log_outbound(http, org, "6e8a0c2d-4f6b-4d8f-a02c-3e5a7b9d1f42", 1727951550)
    await post_twice(http, db, org, "interakt_api_read.json")
    await post_twice(http, db, org, "interakt_api_failed.json")
    await post_twice(http, db, org, "interakt_received.json")
    read = await fetch_row(db, org, "5d7f9b1c-3e5a-4c7e-9f1b-2d4f6a8c0e31")
    assert read is not None and read["whatsapp_status"] == {
        "sent": "2024-10-03T10:30:00Z",
        "delivered": "2024-10-03T10:30:04Z",
        "read": "2024-10-03T10:31:09Z",
    }
    failed = await fetch_row(db, org, "6e8a0c2d-4f6b-4d8f-a02c-3e5a7b9d1f42")
    assert failed is not None and failed["status"] == "FAILED"
    assert failed["failed_reason"] == "Error 131049: Message not delivered to maintain healthy ecosystem engagement"
    inbound = await fetch_row(db, org, "7f9b1d3e-5a7c-4e9a-b13d-4f6b8d0f2a53")
    assert inbound is not None and inbound["body"] == "Yes, please deliver tomorrow"


async def test_onpremise_flat_message_is_an_inbound_row(http: TestClient, db: asyncpg.Connection, org: uuid.UUID):
    body = await post_twice(http, db, org, "dialog360_onpremise_inbound.json")
    assert body["format"] == "flat" and body["messages"] == 1
    row = await fetch_row(db, org, "ABGGFlA5FpafAgo6EhiLZ2Hd9S4t")
    assert row is not None and (row["direction"], row["from_phone"]) == ("INBOUND", "+919876543217")


async def test_smb_message_echo_is_an_outbound_row(http: TestClient, db: asyncpg.Connection, org: uuid.UUID):
    await post_twice(http, db, org, "meta_smb_message_echo.json")
    row = await fetch_row(db, org, "wamid.HBgLMTY1MDU1NTEyOTkVAgARGBI5QTNDQTVCM0Q0Q0Q2RTY3RTcA")
    assert row is not None and row["direction"] == "OUTBOUND"
    assert (row["to_phone"], row["customer_user_id"], row["msg_kind"]) == (
        "+16505551299",
        "US.13491208655302741918",
        "TEXT",
    )
    assert row["whatsapp_status"] == {"sent": "2025-06-18T16:23:20Z"} and row["status"] == "SENT"


async def test_aisensy_timeless_upper_case_status_and_message_created(
    http: TestClient, db: asyncpg.Connection, org: uuid.UUID
):
    msg_id = "wamid.HBgMOTE5ODc2NTQzMjE4FQIAERgSQjFDMkQzRTRGNUE2QjdDOEQ5AA=="
    await log_outbound(http, org, msg_id, 1727951400)
    await post_twice(http, db, org, "aisensy_status_upper_no_time.json")
    await post_twice(http, db, org, "aisensy_message_created.json")
    row = await fetch_row(db, org, msg_id)
    assert row is not None and row["status"] == "DELIVERED" and "delivered" in row["whatsapp_status"]
    inbound = await fetch_row(db, org, "wamid.HBgMOTE5ODc2NTQzMjE4FQIAEhgUNEMxRDJFM0Y0QTVCNkM3RDhFOUYA")
    assert inbound is not None and inbound["body"] == "Got it, thank you"
