"""What the parsers refuse over HTTP (issue 22): a phone that is not a plausible E.164 number, a time in the future,
metadata nested too deep, and what a deeply nested body is answered."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from tests.conftest import fetch_row

CUSTOMER = "+919812345678"
JSON = "application/json"


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


FUTURE = ("4070908800", "2099-01-01T00:00:00Z", "9999-12-31T23:59:59+00:00")


@pytest.mark.parametrize("sent_at", FUTURE)
async def test_a_logged_message_sent_in_the_future_is_422_naming_sent_at(
    http: TestClient, db: asyncpg.Connection, org: uuid.UUID, sent_at: str
):
    doc = {"bsp_msg_id": "wamid.F1", "to_phone": CUSTOMER, "body": "kept for ever?", "sent_at": sent_at}
    resp = await http.post(f"/v1/orgs/{org}/messages", json=doc)
    assert resp.status == 422, await resp.text()
    assert "sent_at" in (await resp.json())["error"]
    assert await fetch_row(db, org, "wamid.F1") is None


@pytest.mark.parametrize("at", FUTURE)
async def test_a_webhook_status_or_message_in_the_future_is_skipped_and_kept_and_the_rest_stored(
    http: TestClient, db: asyncpg.Connection, org: uuid.UUID, at: str
):
    for bsp_msg_id in ("wamid.F2", "wamid.G2"):
        resp = await http.post(f"/v1/orgs/{org}/messages", json={"bsp_msg_id": bsp_msg_id, "to_phone": CUSTOMER})
        assert resp.status == 200
    statuses = [{"id": "wamid.F2", "status": "read", "timestamp": at}, {"id": "wamid.G2", "status": "read"}]
    messages = [{"from": "919876543210", "id": "wamid.IN.F", "timestamp": at, "type": "text", "text": {"body": "x"}}]
    doc = {"entry": [{"changes": [{"field": "messages", "value": {"statuses": statuses, "messages": messages}}]}]}
    resp = await http.post(f"/webhooks/{org}", json=doc)
    assert resp.status == 200, await resp.text()
    answer = await resp.json()
    assert (answer["statuses"], answer["messages"], answer["kept"]) == (1, 0, True)
    assert all("in the future" in s for s in answer["skipped"]) and len(answer["skipped"]) == 2
    future_row, good_row = await fetch_row(db, org, "wamid.F2"), await fetch_row(db, org, "wamid.G2")
    assert future_row is not None and "read" not in future_row["whatsapp_status"]
    assert good_row is not None and good_row["status"] == "READ"
    assert await fetch_row(db, org, "wamid.IN.F") is None
    assert await db.fetchval("select reason from webhook_inbox where org_id = $1", org) == "skipped"


async def test_an_aisensy_stage_time_in_the_future_skips_the_item(
    http: TestClient, db: asyncpg.Connection, org: uuid.UUID
):
    message = {"messageId": "wamid.A1", "status": "delivered", "delivered_at": "2099-01-01T00:00:00Z"}
    doc = {"id": "evt-1", "topic": "message.status.updated", "data": {"message": message}}
    resp = await http.post(f"/webhooks/{org}", json=doc)
    assert resp.status == 200
    answer = await resp.json()
    assert answer["statuses"] == 0 and "delivered_at" in answer["skipped"][0] and answer["kept"] is True


def nested(depth: int) -> Any:
    """An object `depth` objects deep, itself included."""
    value: Any = "leaf"
    for _ in range(depth):
        value = {"a": value}
    return value


@pytest.mark.parametrize("depth", [33, 980, 1_000, 5_000])
async def test_metadata_nested_deeper_than_the_limit_is_422_naming_metadata(
    http: TestClient, db: asyncpg.Connection, org: uuid.UUID, depth: int
):
    metadata = '{"a": ' * depth + '"leaf"' + "}" * depth  # json.dumps itself cannot write it
    body = f'{{"bsp_msg_id": "wamid.D1", "to_phone": "{CUSTOMER}", "metadata": {metadata}}}'
    resp = await http.post(f"/v1/orgs/{org}/messages", data=body, headers={"Content-Type": JSON})
    assert resp.status in (400, 422), await resp.text()  # past what any JSON reader here can read: not JSON
    assert ("metadata" if resp.status == 422 else "JSON") in (await resp.json())["error"]
    assert await fetch_row(db, org, "wamid.D1") is None
    assert (await http.get(f"/v1/orgs/{org}/customers/{CUSTOMER}")).status == 200


async def test_metadata_at_the_depth_limit_is_stored_and_exported(
    http: TestClient, db: asyncpg.Connection, org: uuid.UUID
):
    doc = {"bsp_msg_id": "wamid.D2", "to_phone": CUSTOMER, "metadata": nested(32)}
    resp = await http.post(f"/v1/orgs/{org}/messages", json=doc)
    assert resp.status == 200, await resp.text()
    row = await fetch_row(db, org, "wamid.D2")
    assert row is not None and row["metadata"] == nested(32)
    export = await http.get(f"/v1/orgs/{org}/customers/{CUSTOMER}")
    assert export.status == 200 and len((await export.json())["messages"]) == 1


@pytest.mark.parametrize("depth", [100, 1_000, 1_023, 1_100, 50_000])
async def test_a_deeply_nested_webhook_body_is_400_or_its_good_status_stored_never_a_503(
    http: TestClient, db: asyncpg.Connection, org: uuid.UUID, depth: int
):
    await http.post(f"/v1/orgs/{org}/messages", json={"bsp_msg_id": "wamid.G3", "to_phone": CUSTOMER})
    deep = "[" * depth + "]" * depth
    good = '{"id": "wamid.G3", "status": "read"}'
    body = f'{{"statuses": [{{"id": "wamid.X", "status": "read", "pricing": {deep}}}, {good}]}}'
    resp = await http.post(f"/webhooks/{org}", data=body, headers={"Content-Type": JSON})
    assert resp.status in (200, 400), await resp.text()
    if resp.status == 400:
        assert "JSON" in (await resp.json())["error"]
        return
    row = await fetch_row(db, org, "wamid.G3")
    assert row is not None and row["status"] == "READ"
