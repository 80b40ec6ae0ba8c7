"""GET /v1/orgs/{org_id}/messages/{bsp_msg_id}: the stored row, as the log call answers it; 404 when none."""

from __future__ import annotations

import uuid

from aiohttp.test_utils import TestClient

from bluetick.store import Store
from tests.conftest import make_settings, payload, start_client


async def test_a_logged_message_reads_back_as_the_log_call_answered(http: TestClient, org: uuid.UUID):
    logged = await http.post(
        f"/v1/orgs/{org}/messages",
        json={"bsp_msg_id": "wamid.look/1+=", "direction": "OUTBOUND", "to_phone": "+919800000101", "body": "hi"},
    )
    assert logged.status == 200
    row = await logged.json()
    found = await http.get(f"/v1/orgs/{org}/messages/wamid.look%2F1%2B%3D")
    assert found.status == 200
    assert await found.json() == row
    assert row["bsp_msg_id"] == "wamid.look/1+=" and row["status"] == "SENT"


async def test_a_status_arrived_since_shows_in_the_lookup(http: TestClient, org: uuid.UUID):
    body = payload("meta_status_delivered.json")
    wamid = body["entry"][0]["changes"][0]["value"]["statuses"][0]["id"]
    await http.post(
        f"/v1/orgs/{org}/messages",
        json={"bsp_msg_id": wamid, "direction": "OUTBOUND", "to_phone": "+16505551234", "sent_at": 1750263700},
    )
    resp = await http.post(f"/webhooks/{org}", json=body)
    assert resp.status == 200, await resp.text()
    found = await (await http.get(f"/v1/orgs/{org}/messages/{wamid}")).json()
    assert found["status"] == "DELIVERED"


async def test_no_such_message_is_404(http: TestClient, org: uuid.UUID):
    resp = await http.get(f"/v1/orgs/{org}/messages/wamid.none")
    assert resp.status == 404
    assert "error" in await resp.json()


async def test_another_organisations_message_is_not_found(http: TestClient, org: uuid.UUID):
    await http.post(
        f"/v1/orgs/{org}/messages",
        json={"bsp_msg_id": "wamid.mine", "direction": "OUTBOUND", "to_phone": "+919800000103"},
    )
    resp = await http.get(f"/v1/orgs/{uuid.uuid4()}/messages/wamid.mine")
    assert resp.status == 404


async def test_the_lookup_needs_the_organisations_api_token(dsn: str, store: Store, org: uuid.UUID):
    client = await start_client(make_settings(dsn, open_api=False, api_token="tok-" + "a" * 28), store)
    try:
        assert (await client.get(f"/v1/orgs/{org}/messages/wamid.x")).status == 401
        wrong = {"Authorization": "Bearer " + "b" * 32}
        assert (await client.get(f"/v1/orgs/{org}/messages/wamid.x", headers=wrong)).status == 401
        right = {"Authorization": "Bearer tok-" + "a" * 28}
        assert (await client.get(f"/v1/orgs/{org}/messages/wamid.x", headers=right)).status == 404
    finally:
        await client.close()


async def test_an_id_the_database_cannot_hold_is_400_not_a_server_error(http: TestClient, org: uuid.UUID):
    resp = await http.get(f"/v1/orgs/{org}/messages/wamid%00x")
    assert resp.status == 400 and "bsp_msg_id" in (await resp.json())["error"]
