"""Username-only customers, events about other messages and pricing, through the real service on every backend."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
from aiohttp.test_utils import TestClient

from tests.conftest import fetch_row

BSUID = "IN.2081978709342942"
EPOCH = 1727951400


def envelope(value: dict[str, Any]) -> dict[str, Any]:
    value = {"messaging_product": "whatsapp", "metadata": {"display_phone_number": "15550783881"}, **value}
    return {"object": "whatsapp_business_account", "entry": [{"changes": [{"field": "messages", "value": value}]}]}


def receipt(msg_id: str, stage: str, at: int, **extra: Any) -> dict[str, Any]:
    """A status naming the customer only by BSUID, as Meta sends it for a username-only customer."""
    return {"id": msg_id, "status": stage, "timestamp": str(at), "recipient_user_id": BSUID, **extra}


async def test_a_reply_to_a_username_only_customer_is_logged_and_read(
    http: TestClient, db: asyncpg.Connection, org: uuid.UUID
):
    reply = {"bsp_msg_id": "wamid.U1", "to_user_id": BSUID, "body": "Your order shipped", "sent_at": EPOCH}
    resp = await http.post(f"/v1/orgs/{org}/messages", json=reply)
    assert resp.status == 200, await resp.text()
    statuses = [receipt("wamid.U1", "delivered", EPOCH + 5), receipt("wamid.U1", "read", EPOCH + 60)]
    resp = await http.post(f"/webhooks/{org}", json=envelope({"statuses": statuses}))
    assert resp.status == 200 and (await resp.json())["stored"] is True
    row = await fetch_row(db, org, "wamid.U1")
    assert row is not None
    assert (row["status"], row["to_phone"], row["customer_user_id"]) == ("READ", None, BSUID)
    assert await db.fetchval("select count(*) from message_logs where org_id = $1", org) == 1


async def test_statuses_fill_the_bsuid_of_a_reply_logged_by_phone_even_when_they_come_first(
    http: TestClient, db: asyncpg.Connection, org: uuid.UUID
):
    resp = await http.post(f"/webhooks/{org}", json=envelope({"statuses": [receipt("wamid.P1", "delivered", EPOCH)]}))
    assert resp.status == 200
    reply = {"bsp_msg_id": "wamid.P1", "to_phone": "+919876543210", "sent_at": EPOCH - 5}
    row = await (await http.post(f"/v1/orgs/{org}/messages", json=reply)).json()
    assert (row["to_phone"], row["customer_user_id"], row["status"]) == ("+919876543210", BSUID, "DELIVERED")


async def test_a_reaction_an_edit_and_a_revoke_point_to_their_message_and_create_no_message(
    http: TestClient, db: asyncpg.Connection, org: uuid.UUID
):
    def event(msg_id: str, kind: str, content: dict[str, Any]) -> dict[str, Any]:
        return {"from": "919876543210", "id": msg_id, "timestamp": str(EPOCH + 30), "type": kind, kind: content}

    original = {
        "from": "919876543210",
        "id": "wamid.C1",
        "timestamp": str(EPOCH),
        "type": "text",
        "text": {"body": "hi"},
    }
    events = [
        event("wamid.E1", "reaction", {"message_id": "wamid.R1", "emoji": "👍"}),
        event("wamid.E2", "edit", {"original_message_id": "wamid.C1", "message": {"text": {"body": "hello"}}}),
        event("wamid.E3", "revoke", {"original_message_id": "wamid.C1"}),
    ]
    resp = await http.post(f"/webhooks/{org}", json=envelope({"messages": [original, *events]}))
    assert resp.status == 200 and (await resp.json())["messages"] == 4
    rows = await db.fetch(
        "select bsp_msg_id, msg_kind, ref_bsp_msg_id, body from message_logs where org_id = $1 order by bsp_msg_id",
        org,
    )
    assert [tuple(r) for r in rows] == [
        ("wamid.C1", "TEXT", None, "hi"),
        ("wamid.E1", "REACTION", "wamid.R1", "👍"),
        ("wamid.E2", "EDIT", "wamid.C1", "hello"),
        ("wamid.E3", "REVOKE", "wamid.C1", None),
    ]


async def test_pricing_is_stored_typed_from_the_earliest_status(
    http: TestClient, db: asyncpg.Connection, org: uuid.UUID
):
    await http.post(f"/v1/orgs/{org}/messages", json={"bsp_msg_id": "wamid.M1", "to_phone": "+919876543210"})
    priced = {"billable": True, "pricing_model": "PMP", "category": "marketing", "type": "regular"}
    later = {"billable": False, "pricing_model": "PMP", "category": "utility", "type": "free_entry_point"}
    statuses = [
        receipt("wamid.M1", "delivered", EPOCH + 9, pricing=later),
        receipt("wamid.M1", "sent", EPOCH + 1, pricing=priced, conversation={"id": "conv1", "origin": {"type": "x"}}),
    ]
    for item in statuses:  # the later one first, in its own batch
        assert (await http.post(f"/webhooks/{org}", json=envelope({"statuses": [item]}))).status == 200
    row = await fetch_row(db, org, "wamid.M1")
    assert row is not None
    assert (row["billable"], row["pricing_model"], row["pricing_category"], row["pricing_type"]) == (
        True,
        "pmp",
        "marketing",
        "regular",
    )
    assert (row["conversation_id"], row["conversation_origin"]) == ("conv1", "x")
