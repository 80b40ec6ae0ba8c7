"""Issue 25 over HTTP on every backend: an outbound message's template and campaign, and replies and button taps
linked to the message they answer in any arrival order (docs/design.md, Replies and clicks)."""

from __future__ import annotations

import copy
import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg
from aiohttp.test_utils import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bluetick.client import BluetickClient
from tests.conftest import fetch_row, payload
from tests.integration.test_payload_samples import post

CAMPAIGN_MSG = "wamid.HBgMOTE5ODc2NTQzMjEwFQIAERgSQ0FNUEFJR04wMDAxAA=="
REPLY_ID = "wamid.HBgMOTE5ODc2NTQzMjEwFQIAEhgUUkVQTFkwMDAxAA=="
TAP_ID = "wamid.HBgMOTE5ODc2NTQzMjEwFQIAEhgUQlVUVE9OMDAwMQA="
SENT_AT = 1733299000
TEMPLATE = {"name": "diwali_offer", "language": "en_US", "category": "MARKETING"}
CAMPAIGN = {"id": "cmp-42", "name": "Diwali 2024"}
STORED = "template_name, template_language, template_category, campaign_id, campaign_name"


def ts_text(unix: int) -> str:
    return datetime.fromtimestamp(unix, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def outbound(bsp_msg_id: str = CAMPAIGN_MSG, **extra: Any) -> dict[str, Any]:
    return {"bsp_msg_id": bsp_msg_id, "to_phone": "+919876543210", "msg_kind": "TEMPLATE", "sent_at": SENT_AT, **extra}


async def log(http: TestClient, org: uuid.UUID, doc: dict[str, Any]) -> dict[str, Any]:
    resp = await http.post(f"/v1/orgs/{org}/messages", json=doc)
    assert resp.status == 200, await resp.text()
    row: dict[str, Any] = await resp.json()
    return row


def reply(name: str, at: int, context_id: str = CAMPAIGN_MSG) -> dict[str, Any]:
    doc = copy.deepcopy(payload(f"campaigns/{name}"))
    item = doc["entry"][0]["changes"][0]["value"]["messages"][0]
    item["timestamp"] = str(at)
    item["context"]["id"] = context_id
    return doc


def meta_status(status: str, at: int) -> dict[str, Any]:
    item = {"id": CAMPAIGN_MSG, "status": status, "timestamp": str(at), "recipient_id": "919876543210"}
    return {"object": "whatsapp_business_account",
            "entry": [{"id": "1234567890987654", "changes": [{"field": "messages", "value": {
                "messaging_product": "whatsapp", "statuses": [item]}}]}]}  # fmt: skip


async def test_an_outbound_message_keeps_its_template_and_campaign(
    http: TestClient, db: asyncpg.Connection, org: uuid.UUID
):
    row = await log(http, org, outbound(template=TEMPLATE, campaign=CAMPAIGN))
    assert (row["template_name"], row["campaign_id"], row["campaign_name"]) == ("diwali_offer", "cmp-42", "Diwali 2024")
    stored = await db.fetchrow(f"select {STORED} from message_logs where org_id = $1", org)
    assert tuple(stored) == ("diwali_offer", "en_US", "MARKETING", "cmp-42", "Diwali 2024")
    again = await log(http, org, outbound(template={"name": "other"}, campaign="cmp-99"))  # merge rule 8
    assert (again["template_name"], again["campaign_id"]) == ("diwali_offer", "cmp-42")


async def test_the_client_sends_template_and_campaign(http: TestClient, db: asyncpg.Connection, org: uuid.UUID):
    client = BluetickClient(str(http.make_url("")), timeout_ms=5000)
    try:
        row = await client.log_outbound(
            org_id=org, bsp_msg_id="wamid.client.1", to_phone="+919876543210", template=TEMPLATE, campaign="cmp-7"
        )
        plain = await client.log_outbound(org_id=org, bsp_msg_id="wamid.client.2", to_phone="+919876543210")
    finally:
        await client.close()
    assert row is not None and (row["template_language"], row["campaign_id"], row["campaign_name"]) == (
        "en_US",
        "cmp-7",
        None,
    )
    assert plain is not None and (plain["template_name"], plain["campaign_id"]) == (None, None)


async def test_a_bad_template_or_campaign_is_refused_naming_it_and_nothing_is_stored(
    http: TestClient, db: asyncpg.Connection, org: uuid.UUID
):
    bad = [
        ({"template": "diwali_offer"}, "template"),
        ({"template": {"name": "x" * 513}}, "template.name"),
        ({"template": {"name": "ok", "language": 1}}, "template.language"),
        ({"campaign": ["cmp"]}, "campaign"),
        ({"campaign": "c" * 513}, "campaign"),
        ({"campaign": {"id": "cmp", "name": False}}, "campaign.name"),
        ({"campaign": {"name": "Diwali"}}, "campaign.id"),
    ]
    for extra, named in bad:
        resp = await http.post(f"/v1/orgs/{org}/messages", json=outbound(**extra))
        assert resp.status == 422, (extra, await resp.text())
        assert (await resp.json())["error"].startswith(f"{named} "), extra
    assert await db.fetchval("select count(*) from message_logs where org_id = $1", org) == 0


async def test_a_reply_to_an_unknown_message_parks_harmlessly(http: TestClient, db: asyncpg.Connection, org: uuid.UUID):
    await post(http, org, reply("meta_quick_reply_button.json", SENT_AT + 60, context_id="wamid.never.logged"))
    row = await fetch_row(db, org, TAP_ID)
    assert row is not None and row["direction"] == "INBOUND" and row["ref_bsp_msg_id"] == "wamid.never.logged"
    assert row["metadata"] == {"button_payload": "SHOP_NOW"} and row["body"] == "Shop now"
    assert await fetch_row(db, org, "wamid.never.logged") is None
    parked = await db.fetch(
        "select bsp_msg_id, status from message_status_parked where org_id = $1 order by status", org
    )
    assert [tuple(r) for r in parked] == [("wamid.never.logged", "clicked"), ("wamid.never.logged", "replied")]
    assert await db.fetchval("select count(*) from message_logs where org_id = $1", org) == 1


async def test_wati_replied_marks_the_logged_message_replied_and_leaves_its_status(
    http: TestClient, db: asyncpg.Connection, org: uuid.UUID
):
    local_id = "5b8e2f10-9c4d-4a7e-b1f3-6d2a8c9e0f71"
    await log(http, org, outbound(local_id))
    await post(http, org, payload("campaigns/wati_sent_message_replied.json"))
    row = await fetch_row(db, org, local_id)
    assert row is not None and row["status"] == "SENT"
    assert row["whatsapp_status"] == {"sent": ts_text(SENT_AT), "replied": ts_text(1733300300)}


async def test_a_gupshup_v2_button_reply_marks_the_message_clicked(
    http: TestClient, db: asyncpg.Connection, org: uuid.UUID
):
    gs_id = "9b71295f-f7af-4c1f-b2b4-31b4a4867bad"
    await post(http, org, payload("campaigns/gupshup_v2_button_reply.json"))  # before its message is logged
    await log(http, org, outbound(gs_id, sent_at=1580227700, campaign="cmp-gs"))
    row = await fetch_row(db, org, gs_id)
    assert row is not None and row["status"] == "SENT" and row["campaign_id"] == "cmp-gs"
    assert row["whatsapp_status"] == {"sent": ts_text(1580227700), "replied": ts_text(1580227826),
                                      "clicked": ts_text(1580227826)}  # fmt: skip


async def test_an_interakt_click_marks_the_message_clicked_and_leaves_its_status(
    http: TestClient, db: asyncpg.Connection, org: uuid.UUID
):
    interakt_id = "f6f22110-9eab-4282-9b2c-673c3bbaa0fa"
    await post(http, org, payload("campaigns/interakt_api_clicked.json"))  # parked until the message is logged
    await log(http, org, outbound(interakt_id, sent_at="2024-06-10T08:37:46Z"))
    row = await fetch_row(db, org, interakt_id)
    assert row is not None and row["status"] == "READ"
    assert row["whatsapp_status"] == {"sent": "2024-06-10T08:37:46Z", "delivered": "2024-06-10T08:37:48Z",
                                      "read": "2024-06-10T08:38:05Z", "clicked": "2024-06-10T08:38:08Z"}  # fmt: skip


WATI_LOCAL_ID = "0c3f9a52-7d1e-4b8a-9f60-2e5d7c4b1a93"
INTERAKT_ID = "a2b3c4d5-e6f7-4a8b-9c0d-1e2f3a4b5c6d"
INTERAKT_CAMPAIGN = "7c2e4f60-1b3d-4e5f-a6b7-c8d9e0f1a2b3"
LABELS = "template_name, template_language, campaign_id, campaign_name"


async def labels(db: asyncpg.Connection, org: uuid.UUID, bsp_msg_id: str) -> tuple[Any, ...]:
    row = await db.fetchrow(f"select {LABELS} from message_logs where org_id = $1 and bsp_msg_id = $2", org, bsp_msg_id)
    assert row is not None
    return tuple(row)


async def test_a_wati_template_status_fills_the_template_of_a_message_logged_without_one(
    http: TestClient, db: asyncpg.Connection, org: uuid.UUID
):
    await log(http, org, outbound(WATI_LOCAL_ID, campaign="cmp-w"))
    await post(http, org, payload("campaigns/wati_template_message_sent.json"))
    assert await labels(db, org, WATI_LOCAL_ID) == ("order_shipped", None, "cmp-w", None)  # merge rule 11


async def test_a_webhooks_template_and_campaign_never_replace_the_declared_ones(
    http: TestClient, db: asyncpg.Connection, org: uuid.UUID
):
    await log(http, org, outbound(WATI_LOCAL_ID, template=TEMPLATE, campaign=CAMPAIGN))
    await log(http, org, outbound(INTERAKT_ID, template={"name": "declared"}, campaign="cmp-declared"))
    await post(http, org, payload("campaigns/wati_template_message_sent.json"))
    await post(http, org, payload("campaigns/interakt_campaign_delivered.json"))
    assert await labels(db, org, WATI_LOCAL_ID) == ("diwali_offer", "en_US", "cmp-42", "Diwali 2024")
    assert await labels(db, org, INTERAKT_ID) == ("declared", None, "cmp-declared", None)
    row = await fetch_row(db, org, INTERAKT_ID)
    assert row is not None and row["status"] == "DELIVERED"  # the status itself merged as ever


async def test_an_interakt_campaign_status_parked_before_its_message_fills_campaign_and_template(
    http: TestClient, db: asyncpg.Connection, org: uuid.UUID
):
    await post(http, org, payload("campaigns/interakt_campaign_delivered.json"))  # parked until the message is logged
    parked = "select template_name, template_language, campaign_id from message_status_parked where org_id = $1"
    assert {tuple(r) for r in await db.fetch(parked, org)} == {("winter_sale", "hi", INTERAKT_CAMPAIGN)}
    await log(http, org, outbound(INTERAKT_ID, sent_at="2024-12-04T09:30:00Z"))
    assert await labels(db, org, INTERAKT_ID) == ("winter_sale", "hi", INTERAKT_CAMPAIGN, None)
    funnel = await db.fetch(
        "select campaign_id, template_name, outbound, delivered from bluetick_campaign_funnel($1, '-infinity',"
        " 'infinity')",
        org,
    )
    assert [tuple(r) for r in funnel] == [(INTERAKT_CAMPAIGN, "winter_sale", 1, 1)]


STEPS = ("log", "reply", "tap", "list", "delivered", "read", "reply_again")


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    order=st.permutations(STEPS),
    reply_at=st.integers(0, 600),
    tap_at=st.integers(0, 600),
    list_at=st.integers(0, 600),
    again_after=st.integers(0, 120),
    read_after=st.integers(0, 300),
)
async def test_replies_and_taps_link_to_their_message_in_any_order(
    http: TestClient,
    db: asyncpg.Connection,
    order: tuple[str, ...],
    reply_at: int,
    tap_at: int,
    list_at: int,
    again_after: int,
    read_after: int,
):
    org = uuid.uuid4()
    t = SENT_AT + 10
    bodies: dict[str, Any] = {
        "reply": reply("meta_reply_text.json", t + reply_at),
        "tap": reply("meta_quick_reply_button.json", t + tap_at),
        "list": reply("meta_interactive_list_reply.json", t + list_at),
        "reply_again": reply("meta_reply_text.json", t + reply_at + again_after),  # a BSP retry, later stamped
        "delivered": meta_status("delivered", t + 5),
        "read": meta_status("read", t + 5 + read_after),
    }
    for step in order:
        if step == "log":
            await log(http, org, outbound(template=TEMPLATE, campaign=CAMPAIGN))
        else:
            await post(http, org, bodies[step])

    row = await fetch_row(db, org, CAMPAIGN_MSG)
    assert row is not None
    assert row["status"] == "READ"  # as without the replies: unranked keys change no stage
    assert row["whatsapp_status"] == {
        "sent": ts_text(SENT_AT),
        "delivered": ts_text(t + 5),
        "read": ts_text(t + 5 + read_after),
        "replied": ts_text(t + min(reply_at, tap_at, list_at)),
        "clicked": ts_text(t + min(tap_at, list_at)),
    }
    assert (row["template_name"], row["campaign_id"]) == ("diwali_offer", "cmp-42")
    taps = await db.fetch(
        "select bsp_msg_id, ref_bsp_msg_id, metadata from message_logs where org_id = $1 and direction = 'INBOUND'"
        " order by bsp_msg_id",
        org,
    )
    assert {r["bsp_msg_id"]: r["ref_bsp_msg_id"] for r in taps} == dict.fromkeys(
        [REPLY_ID, TAP_ID, "wamid.HBgMOTE5ODc2NTQzMjEwFQIAEhgUTElTVDAwMDAwMQA="], CAMPAIGN_MSG
    )
    assert await db.fetchval("select count(*) from message_status_parked where org_id = $1", org) == 0
