"""Issue 23's shapes over HTTP, on every backend: each sample (tests/payloads/platform/, written from the page cited
beside its test; the pages are listed in docs/formats.md) posted twice to a fresh organisation gives the rows its
docs imply, and the second post changes nothing."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
from aiohttp.test_utils import TestClient

from tests.conftest import fetch_row
from tests.integration.test_payload_samples import log_outbound

SAMPLES = Path(__file__).resolve().parents[1] / "payloads" / "platform"
TABLES = ("message_logs", "message_status_parked", "customer_preferences", "template_events", "account_events",
          "group_receipts", "customer_links", "webhook_inbox")  # fmt: skip
FILLED = ("recorded_at", "updated_at", "id", "kept_at", "detail_md5", "body_sha256")  # written by the database


def at(unix: int) -> datetime:
    return datetime.fromtimestamp(unix, UTC)


async def state(db: asyncpg.Connection, org: uuid.UUID) -> dict[str, list[str]]:
    """Every row of `org` in every table a webhook writes, without the columns the database stamps."""
    found = {}
    for table in TABLES:
        rows = await db.fetch(f"select * from {table} where org_id = $1", org)
        found[table] = sorted(repr({k: v for k, v in dict(r).items() if k not in FILLED}) for r in rows)
    return found


async def post_twice(http: TestClient, db: asyncpg.Connection, org: uuid.UUID, name: str) -> dict[str, Any]:
    """Post sample `name` twice (a .txt sample is a form, one field a line); the second post changes no row."""
    path = SAMPLES / name
    if path.suffix == ".txt":
        fields = [tuple(line.split("=", 1)) for line in path.read_text().splitlines() if line.strip()]
        send: dict[str, Any] = {"data": dict(fields)}
    else:
        send = {"json": json.loads(path.read_text())}
    answers = []
    for _ in range(2):
        resp = await http.post(f"/webhooks/{org}", **send)
        assert resp.status == 200, await resp.text()
        answers.append(await resp.json())
        if len(answers) == 1:
            first = await state(db, org)
    assert await state(db, org) == first, f"posting {name} again changed rows"
    return dict(answers[0])


async def table(db: asyncpg.Connection, name: str, org: uuid.UUID, columns: str) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in await db.fetch(f"select {columns} from {name} where org_id = $1 order by 1, 2", org)]


# https://developers.facebook.com/docs/whatsapp/cloud-api/webhooks/reference/user_preferences
async def test_user_preferences_record_each_stop_and_resume(http: TestClient, db: asyncpg.Connection, org: uuid.UUID):
    answer = await post_twice(http, db, org, "meta_user_preferences_stop.json")
    assert (answer["facts"], answer["kept"]) == (1, False)
    await post_twice(http, db, org, "meta_user_preferences_resume.json")
    rows = await table(db, "customer_preferences", org, "changed_at, preference, customer, customer_user_id, category")
    assert [r[1:3] for r in rows] == [("stop", "+919876543210"), ("resume", "+16505551234")]
    assert rows[0][2:] == ("+919876543210", "IN.20583917746102958371", "marketing_messages")
    assert rows[0][0] == at(1756214530)


# https://developers.facebook.com/docs/whatsapp/business-management-api/webhooks/components (template webhooks)
async def test_template_status_quality_and_category_updates_are_kept_at_the_entry_time(
    http: TestClient, db: asyncpg.Connection, org: uuid.UUID
):
    for name in ("meta_template_status_update.json", "meta_template_quality_update.json",
                 "meta_template_category_update.json"):  # fmt: skip
        answer = await post_twice(http, db, org, name)
        assert (answer["facts"], answer["kept"]) == (1, False)
    rows = await table(db, "template_events", org, "template_id, field, value, changed_at, name, language, reason")
    assert rows == [
        ("1029384756102938", "category", "MARKETING", at(1757003390), "cart_reminder", "en_US", None),
        ("1184502297736401", "quality", "YELLOW", at(1756480211), "order_shipped_v3", "en_US", None),
        ("1184502297736401", "status", "REJECTED", at(1755872044), "order_shipped_v3", "en_US", "INCORRECT_CATEGORY"),
    ]


# https://developers.facebook.com/docs/whatsapp/business-management-api/webhooks/components (account_update,
# phone_number_quality_update)
async def test_account_and_phone_number_events_are_kept_whole(http: TestClient, db: asyncpg.Connection, org: uuid.UUID):
    await post_twice(http, db, org, "meta_account_update.json")
    await post_twice(http, db, org, "meta_phone_number_quality_update.json")
    rows = await table(db, "account_events", org, "changed_at, field, event, detail")
    assert [(r[0], r[1], r[2]) for r in rows] == [
        (at(1757310877), "account_update", "ACCOUNT_VIOLATION"),
        (at(1757408800), "phone_number_quality_update", "UPGRADE"),
    ]
    assert rows[1][3]["current_limit"] == "TIER_1K"


# https://developers.facebook.com/docs/whatsapp/cloud-api/webhooks/reference/calls (and history,
# smb_app_state_sync, a messages change of errors only): not read, kept whole in the inbox
async def test_fields_bluetick_does_not_read_are_kept_in_the_inbox(
    http: TestClient, db: asyncpg.Connection, org: uuid.UUID
):
    for name in ("meta_calls.json", "meta_history.json", "meta_smb_app_state_sync.json",
                 "meta_messages_errors_only.json"):  # fmt: skip
        answer = await post_twice(http, db, org, name)
        assert answer["kept"] is True and answer["stored"] is True
    rows = await table(db, "webhook_inbox", org, "reason, detail")
    assert [r[0] for r in rows] == ["unread"] * 4
    details = " ".join(r[1] for r in rows)
    assert all(f in details for f in ("'calls'", "'history'", "'smb_app_state_sync'", "errors"))
    assert await fetch_row(db, org, "wacid.HBgLMTY1MDU1NTEyMzQVAgARGBI") is None  # a call's status is no message's


# https://developers.facebook.com/docs/whatsapp/cloud-api/groups (group message statuses and inbound)
async def test_a_group_message_stays_one_row_and_keeps_each_participants_receipt(
    http: TestClient, db: asyncpg.Connection, org: uuid.UUID
):
    wamid = "wamid.HBgjY2FwaV9ncm91cDoxNTU1NzY1NDMyMRUCABEYEjNFQjBDNzYyRDk4QTE0NkYyOQA="
    await log_outbound(http, org, wamid, 1757700000)
    await post_twice(http, db, org, "meta_group_status_delivered.json")
    await post_twice(http, db, org, "meta_group_status_read.json")
    row = await fetch_row(db, org, wamid)
    assert row is not None and row["status"] == "READ"
    assert row["customer_user_id"] is None, "a participant's BSUID is not the message's customer"
    receipts = await table(db, "group_receipts", org, "participant, status, ts, participant_user_id")
    assert receipts == [
        ("+16505551234", "delivered", at(1757700031), "US.13491208655302741918"),
        ("+16505551234", "read", at(1757700410), "US.13491208655302741918"),
        ("IN.20583917746102958371", "delivered", receipts[2][2], "IN.20583917746102958371"),
    ]
    group = await post_twice(http, db, org, "meta_group_inbound.json")
    assert group["messages"] == 1
    inbound = await fetch_row(db, org, "wamid.HBgjY2FwaV9ncm91cDoxNTU1NzY1NDMyMRUCABIYFDNBN0Y5QzJFMTE0QjZEMDg4RjE1AA==")
    assert inbound is not None and inbound["group_id"] == "Y2FwaV9ncm91cDoxNTU1NzY1NDMyMToxMjAzNjM0MDQ2OTQyMzM4MjAZD"


# https://developers.facebook.com/docs/whatsapp/cloud-api/business-scoped-user-ids (system messages, parent ids)
async def test_identifier_changes_link_the_old_and_new_identifiers(
    http: TestClient, db: asyncpg.Connection, org: uuid.UUID
):
    await post_twice(http, db, org, "meta_system_user_changed_number.json")
    await post_twice(http, db, org, "meta_system_user_changed_user_id.json")
    links = await table(db, "customer_links", org, "old_id, new_id, link")
    assert links == [
        ("+919876543210", "+919812345678", "phone"),
        ("IN.20583917746102958371", "IN.48210573390128846127", "user_id"),
        ("US.13491208655302741918", "US.70264913385017722649", "user_id"),
    ]
    await post_twice(http, db, org, "meta_inbound_with_parent_user_id.json")
    row = await fetch_row(db, org, "wamid.HBgLMTY1MDU1NTEyMzQVAgASGBQzQTRCNjU5OUFFRTAzODEwMTQ0RgA=")
    assert row is not None
    assert (row["customer_user_id"], row["customer_parent_user_id"]) == (
        "US.13491208655302741918",
        "US.ENT.11815799212886844830",
    )


# On-Premises API statuses (deleted); Gupshup v2 message-event `deleted`; Cloud API revoke messages
async def test_a_deleted_status_is_stored_as_the_revoke_it_is(http: TestClient, db: asyncpg.Connection, org: uuid.UUID):
    await post_twice(http, db, org, "onprem_status_deleted.json")
    row = await fetch_row(db, org, "gBEGkZiHZUMhAglDW5ulzmBYVtw#deleted")
    assert row is not None
    assert (row["direction"], row["msg_kind"], row["ref_bsp_msg_id"], row["from_phone"], row["created_at"]) == (
        "INBOUND", "REVOKE", "gBEGkZiHZUMhAglDW5ulzmBYVtw", "+919876543210", at(1754903120),
    )  # fmt: skip
    await post_twice(http, db, org, "meta_revoke.json")
    await post_twice(http, db, org, "gupshup_v2_deleted.json")
    revokes = await table(db, "message_logs", org, "ref_bsp_msg_id, msg_kind, direction")
    original = "wamid.HBgMOTE5ODc2NTQzMjEwFQIAEhgUM0VCMDBBQjI3RkQ1QzlDRjlFNzEA"
    assert revokes.count((original, "REVOKE", "INBOUND")) == 2, "the Cloud API's revoke and Gupshup's deleted alike"


# https://developers.facebook.com/docs/whatsapp/pricing/updates-to-pricing (per-message pricing)
async def test_per_message_pricing_is_stored_with_its_type(http: TestClient, db: asyncpg.Connection, org: uuid.UUID):
    regular = "wamid.HBgLMTY1MDU1NTEyMzQVAgARGBI3QTk0MEI1QzgyRjE2RDA0RTUA"
    free = "wamid.HBgMOTE5ODc2NTQzMjEwFQIAERgSMkQ3RjA1QjE5QzZFMzhBMDRBAA=="
    await log_outbound(http, org, regular, 1758206100)
    await log_outbound(http, org, free, 1758207300)
    await post_twice(http, db, org, "meta_status_pmp_regular.json")
    await post_twice(http, db, org, "meta_status_pmp_free_service.json")
    priced = await table(db, "message_logs", org, "bsp_msg_id, pricing_model, pricing_type, pricing_category, billable")
    assert sorted(p[1:] for p in priced) == [
        ("pmp", "free_customer_service", "service", False),
        ("pmp", "regular", "marketing_lite", None),
    ]
    billable = await db.fetch("select billable, messages from bluetick_billable($1, '2025-01-01', '2026-01-01')", org)
    assert [(r["billable"], r["messages"]) for r in sorted(billable, key=lambda r: r["billable"])] == [
        (False, 1),
        (True, 1),
    ], "regular with no billable flag is billable (PMP)"


# Wati message_bsuid; Twilio WhatsApp incoming with a BSUID sender; AiSensy message.created; a Twilio-compatible
# status callback (no AccountSid)
async def test_other_bsps_bsuids_and_tolerance(http: TestClient, db: asyncpg.Connection, org: uuid.UUID):
    await post_twice(http, db, org, "wati_inbound_bsuid.json")
    wati = await fetch_row(db, org, "wamid.HBgMOTE5ODc2NTQzMjEwFQIAEhgUM0E1RjcxQzk4QjJEMDQ2RTE1QjcA")
    assert wati is not None and wati["from_phone"] == "+919876543210" and wati["customer_user_id"] is not None
    twilio = await post_twice(http, db, org, "twilio_inbound_bsuid.txt")
    assert twilio["format"] == "twilio" and twilio["kept"] is False
    row = await fetch_row(db, org, "SM4f2c8e1a9b7d6035c2e1f0a9b8c7d6e5")
    assert row is not None and (row["from_phone"], row["customer_user_id"]) == (None, "US.13491208655302741918")
    aisensy = await post_twice(http, db, org, "aisensy_message_created_contact_mobile.json")
    assert aisensy["messages"] == 1
    row = await fetch_row(db, org, "wamid.HBgMOTE5ODc2NTQzMjEwFQIAEhgUM0E2QzlEMTA0RjI4QjNFNTcwOUQA")
    assert row is not None and row["from_phone"] == "+919876543210"
    compatible = await post_twice(http, db, org, "twilio_compatible_status.txt")
    assert (compatible["format"], compatible["statuses"]) == ("twilio", 1)
