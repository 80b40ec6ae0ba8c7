"""What the parsers refuse over HTTP (issue 22): a phone that is not a plausible E.164 number."""

from __future__ import annotations

import uuid

import asyncpg
from aiohttp.test_utils import TestClient

from tests.conftest import fetch_row

CUSTOMER = "+919812345678"


async def test_six_digits_are_not_a_customer_so_erasing_them_is_400_and_erases_nothing(
    http: TestClient, db: asyncpg.Connection, org: uuid.UUID
):
    logged = {"bsp_msg_id": "wamid.P1", "to_phone": CUSTOMER, "body": "order 172795 shipped", "sent_at": 1727951400}
    assert (await http.post(f"/v1/orgs/{org}/messages", json=logged)).status == 200
    for raw in ("172795", "%2B172795", "0919812345678"):
        resp = await http.delete(f"/v1/orgs/{org}/customers/{raw}")
        assert resp.status == 400, (raw, await resp.text())
        assert "E.164" in (await resp.json())["error"]
        assert (await http.get(f"/v1/orgs/{org}/customers/{raw}")).status == 400
    row = await fetch_row(db, org, "wamid.P1")
    assert row is not None and row["body"] == "order 172795 shipped" and row["erased_at"] is None


async def test_a_logged_phone_of_six_digits_is_422_naming_the_field(http: TestClient, org: uuid.UUID):
    resp = await http.post(f"/v1/orgs/{org}/messages", json={"bsp_msg_id": "wamid.P2", "to_phone": "172795"})
    assert resp.status == 422
    assert "to_phone" in (await resp.json())["error"]


async def test_a_webhook_customer_of_six_digits_is_stored_without_a_phone_and_noted(
    http: TestClient, db: asyncpg.Connection, org: uuid.UUID
):
    message = {"from": "172795", "id": "wamid.IN.P3", "timestamp": "1727951400", "type": "text", "text": {"body": "hi"}}
    doc = {"entry": [{"changes": [{"field": "messages", "value": {"messages": [message]}}]}]}
    resp = await http.post(f"/webhooks/{org}", json=doc)
    assert resp.status == 200, await resp.text()
    answer = await resp.json()
    assert answer["messages"] == 1 and answer["kept"] is True
    row = await fetch_row(db, org, "wamid.IN.P3")
    assert row is not None and row["from_phone"] is None and row["body"] == "hi"
    reason = await db.fetchval("select reason from webhook_inbox where org_id = $1", org)
    assert reason == "unread"
