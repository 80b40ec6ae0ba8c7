"""Twilio's form-encoded WhatsApp callbacks over HTTP, signed with the organisation's auth token."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlencode

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from bluetick.auth import twilio_signature
from bluetick.store import Store
from tests.conftest import fetch_row, make_settings, start_client
from tests.twilio_callbacks import SID, callback

SENT_AT = "2025-06-18T16:22:50Z"
TOKEN = "org-auth-token"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


@pytest.fixture
async def twilio(dsn: str, store: Store, db: asyncpg.Connection, org: uuid.UUID) -> AsyncIterator[TestClient]:
    """A service refusing unsigned webhooks, where `org` has the Twilio auth token `org-auth-token`."""
    await db.execute("insert into org_secrets (org_id, twilio_auth_token) values ($1, $2)", org, TOKEN)
    client = await start_client(make_settings(dsn, allow_unsigned_webhooks=False), store)
    yield client
    await client.close()


async def post_form(
    client: TestClient, org: uuid.UUID, fields: dict[str, str], token: str | None, path: str = ""
) -> tuple[int, dict[str, Any]]:
    url = f"/webhooks/{org}{path}"
    headers = dict(FORM)
    if token is not None:
        headers["X-Twilio-Signature"] = twilio_signature(token, str(client.make_url(url)), fields.items())
    resp = await client.post(url, data=urlencode(fields).encode(), headers=headers)
    return resp.status, await resp.json()


async def log_outbound(client: TestClient, org: uuid.UUID) -> None:
    doc = {"bsp_msg_id": SID, "to_phone": "+15017122661", "msg_kind": "TEMPLATE", "sent_at": SENT_AT}
    resp = await client.post(f"/v1/orgs/{org}/messages", json=doc)
    assert resp.status == 200, await resp.text()


async def test_signed_status_callbacks_take_the_logged_message_to_read_and_a_repeat_changes_nothing(
    twilio: TestClient, db: asyncpg.Connection, org: uuid.UUID
):
    await log_outbound(twilio, org)
    for stage in ("sent", "delivered", "read"):
        status, body = await post_form(twilio, org, callback(stage), TOKEN)
        assert (status, body["format"], body["statuses"]) == (200, "twilio", 1), body
    row = await fetch_row(db, org, SID)
    assert row is not None and row["status"] == "READ"
    assert row["whatsapp_status"]["sent"] == SENT_AT
    assert set(row["whatsapp_status"]) == {"sent", "delivered", "read"}
    status, _ = await post_form(twilio, org, callback("read"), TOKEN)
    assert status == 200
    again = await fetch_row(db, org, SID)
    assert again is not None
    assert {**again, "updated_at": None} == {**row, "updated_at": None}  # updated_at is the last merge: moved


async def test_a_wrong_or_missing_twilio_signature_is_refused(
    twilio: TestClient, db: asyncpg.Connection, org: uuid.UUID
):
    await log_outbound(twilio, org)
    assert (await post_form(twilio, org, callback("read"), "another-token"))[0] == 401
    assert (await post_form(twilio, org, callback("read"), None))[0] == 401
    fields = callback("read")
    signature = twilio_signature(TOKEN, str(twilio.make_url(f"/webhooks/{org}")), fields.items())
    tampered = urlencode(fields | {"MessageStatus": "failed"}).encode()
    resp = await twilio.post(f"/webhooks/{org}", data=tampered, headers=FORM | {"X-Twilio-Signature": signature})
    assert resp.status == 401
    row = await fetch_row(db, org, SID)
    assert row is not None and row["whatsapp_status"] == {"sent": SENT_AT}


async def test_the_signature_covers_the_query_string_as_sent(
    twilio: TestClient, db: asyncpg.Connection, org: uuid.UUID
):
    status, body = await post_form(twilio, org, callback("delivered"), TOKEN, path="?b=2&a=1")
    assert (status, body["statuses"]) == (200, 1)


async def test_undelivered_with_an_error_code_fails_the_message_with_the_reason(
    twilio: TestClient, db: asyncpg.Connection, org: uuid.UUID
):
    await log_outbound(twilio, org)
    fields = callback("undelivered", ErrorCode="63016", ErrorMessage="Outside the allowed window")
    assert (await post_form(twilio, org, fields, TOKEN))[0] == 200
    row = await fetch_row(db, org, SID)
    assert row is not None and row["status"] == "FAILED"
    assert row["failed_reason"] == "Error 63016: Outside the allowed window"
    assert set(row["whatsapp_status"]) == {"sent", "failed"}


async def test_the_global_twilio_token_covers_organisations_without_their_own(
    dsn: str, store: Store, db: asyncpg.Connection, org: uuid.UUID
):
    client = await start_client(make_settings(dsn, twilio_auth_token="global-twilio"), store)
    try:
        await log_outbound(client, org)
        assert (await post_form(client, org, callback("delivered"), None))[0] == 401
        assert (await post_form(client, org, callback("delivered"), "global-twilio"))[0] == 200
        row = await fetch_row(db, org, SID)
        assert row is not None and row["status"] == "DELIVERED"
    finally:
        await client.close()


async def test_an_incoming_whatsapp_message_is_stored_inbound(http: TestClient, db: asyncpg.Connection, org: uuid.UUID):
    fields = {
        "SmsMessageSid": "SM8d4fb7e1f0b5c2f7a9e4b1d2c3a4f5e6",
        "NumMedia": "0",
        "ProfileName": "Ana",
        "MessageType": "text",
        "WaId": "14155550123",
        "SmsStatus": "received",
        "Body": "Is my order on its way?",
        "To": "whatsapp:+14155238886",
        "MessageSid": "SM8d4fb7e1f0b5c2f7a9e4b1d2c3a4f5e6",
        "AccountSid": "ACXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX",
        "From": "whatsapp:+14155550123",
    }
    status, body = await post_form(http, org, fields, None)
    assert (status, body["messages"]) == (200, 1)
    row = await fetch_row(db, org, "SM8d4fb7e1f0b5c2f7a9e4b1d2c3a4f5e6")
    assert row is not None
    assert (row["direction"], row["from_phone"], row["body"]) == ("INBOUND", "+14155550123", "Is my order on its way?")
