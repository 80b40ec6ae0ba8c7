"""Webhook subscriptions through the API (issue 24, push): made, listed with their delivery state, rotated, resumed
and deleted, each behind the API token and scoped to its organisation; bad input refused with a 400 that names the
problem and creates nothing; another organisation's subscription is a 404. On every backend."""

from __future__ import annotations

import asyncio
import base64
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import asyncpg
import pytest
from aiohttp.test_utils import TestClient, TestServer

from bluetick.app import SERVICE, create_app
from bluetick.delivery import DeliveryOptions, address_allowed
from bluetick.store import Store
from bluetick.subscriptions_api import SUBSCRIPTIONS
from tests.conftest import make_settings, start_client

# A public address written as a literal: nothing is resolved, and nothing is ever sent to it: the service of these
# tests runs no delivery worker, no event is written for these organisations (checked at teardown), and their
# subscriptions are deleted after each test.
PUBLIC_URL = "https://93.184.215.14/hooks/bluetick"


@pytest.fixture
async def http(dsn: str, store: Store) -> AsyncIterator[TestClient]:
    """The service, its deliverer with no worker: a subscription made here is never delivered to."""
    app = create_app(make_settings(dsn), store)
    app[SUBSCRIPTIONS].options = DeliveryOptions(workers=0)
    client = TestClient(TestServer(app))
    await client.start_server()
    await asyncio.wait_for(app[SERVICE].ready.wait(), 30)
    yield client
    await client.close()


@pytest.fixture
async def cleanup(db: asyncpg.Connection) -> AsyncIterator[list[uuid.UUID]]:
    """Organisations whose subscriptions are deleted after the test (the session's database is shared)."""
    orgs: list[uuid.UUID] = []
    yield orgs
    await db.execute("delete from webhook_subscriptions where org_id = any($1::uuid[])", orgs)
    assert await db.fetchval("select count(*) from bluetick_events where org_id = any($1::uuid[])", orgs) == 0


async def subscriptions(db: asyncpg.Connection, org: uuid.UUID) -> list[asyncpg.Record]:
    return await db.fetch("select * from webhook_subscriptions where org_id = $1 order by created_at", org)


async def test_a_subscription_is_made_listed_rotated_resumed_and_deleted(
    http: TestClient, db: asyncpg.Connection, org: uuid.UUID, cleanup: list[uuid.UUID]
):
    cleanup.append(org)
    resp = await http.post(f"/v1/orgs/{org}/subscriptions", json={"url": PUBLIC_URL, "events": ["message.status"]})
    assert resp.status == 201, await resp.text()
    made = await resp.json()
    assert set(made) == {"id", "url", "events", "secret"}
    assert made["url"] == PUBLIC_URL and made["events"] == ["message.status"]
    assert made["secret"].startswith("whsec_") and len(base64.b64decode(made["secret"][6:])) == 32
    row = (await subscriptions(db, org))[0]
    head = await db.fetchval("select bluetick_events_head()")
    assert int(row["cursor_xid"]) <= int(head[0]) and row["cursor_id"] == 0  # it starts at the head
    assert row["secret"] == made["secret"]

    listed = await (await http.get(f"/v1/orgs/{org}/subscriptions")).json()
    [sub] = listed["subscriptions"]
    assert sub["id"] == made["id"] and sub["url"] == PUBLIC_URL and sub["events"] == ["message.status"]
    assert sub["disabled"] is False and sub["backlog"] == 0 and sub["failing_since"] is None
    assert sub["last_success_at"] is None and sub["last_error"] is None
    assert "whsec_" not in str(listed)  # never a secret

    rotated = await http.post(f"/v1/orgs/{org}/subscriptions/{made['id']}/rotate")
    assert rotated.status == 200
    secret = (await rotated.json())["secret"]
    assert secret.startswith("whsec_") and secret != made["secret"]
    row = (await subscriptions(db, org))[0]
    assert (row["secret"], row["previous_secret"]) == (secret, made["secret"])
    overlap = row["previous_until"] - await db.fetchval("select now()")
    assert timedelta(hours=23) < overlap <= timedelta(hours=24)  # WEBHOOK_ROTATE_OVERLAP's default
    assert "whsec_" not in await (await http.get(f"/v1/orgs/{org}/subscriptions")).text()

    await db.execute(
        "update webhook_subscriptions set disabled_at = now(), disabled_reason = 'gone', failing_since = now(),"
        " attempts = 7, last_error = 'HTTP 410' where org_id = $1",
        org,
    )
    [sub] = (await (await http.get(f"/v1/orgs/{org}/subscriptions")).json())["subscriptions"]
    assert (sub["disabled"], sub["disabled_reason"], sub["last_error"]) == (True, "gone", "HTTP 410")
    resumed = await http.post(f"/v1/orgs/{org}/subscriptions/{made['id']}/resume")
    assert resumed.status == 200, await resumed.text()
    state = await resumed.json()
    assert (state["disabled"], state["disabled_reason"], state["failing_since"], state["attempts"]) == (
        False, None, None, 0,
    )  # fmt: skip
    cursor = base64.urlsafe_b64encode(b"5:7").decode().rstrip("=")  # a feed cursor: "<xid>:<id>"
    resumed = await http.post(f"/v1/orgs/{org}/subscriptions/{made['id']}/resume", json={"after": cursor})
    assert resumed.status == 200
    row = (await subscriptions(db, org))[0]
    assert (str(row["cursor_xid"]), row["cursor_id"]) == ("5", 7)

    gone = await http.delete(f"/v1/orgs/{org}/subscriptions/{made['id']}")
    assert gone.status == 204
    assert await subscriptions(db, org) == []
    assert (await http.delete(f"/v1/orgs/{org}/subscriptions/{made['id']}")).status == 404


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ({"url": PUBLIC_URL, "events": ["message.status", "message.sent"]}, "unknown event type 'message.sent'"),
        ({"url": PUBLIC_URL, "events": []}, "events must be a non-empty list"),
        ({"url": PUBLIC_URL}, "events must be a non-empty list"),
        ({"url": PUBLIC_URL, "events": "message.status"}, "events must be a non-empty list"),
        ({"url": PUBLIC_URL, "events": [7]}, "unknown event type 'int'"),
        ({"events": ["message.status"]}, "url must be"),
        ({"url": "http://93.184.215.14/hook", "events": ["message.status"]}, "url must be https"),
        ({"url": "ftp://93.184.215.14/hook", "events": ["message.status"]}, "url must be https"),
        ({"url": "https:///nohost", "events": ["message.status"]}, "url has no host"),
        ({"url": "https://127.0.0.1/hook", "events": ["message.status"]}, "127.0.0.1"),
        ({"url": "https://localhost:8443/hook", "events": ["message.status"]}, "non-public address"),
        ({"url": "https://10.1.2.3/hook", "events": ["message.status"]}, "10.1.2.3"),
        ({"url": "https://192.168.0.10/hook", "events": ["message.status"]}, "192.168.0.10"),
        ({"url": "https://169.254.169.254/latest", "events": ["message.status"]}, "169.254.169.254"),
        ({"url": "https://[::1]/hook", "events": ["message.status"]}, "::1"),
        ({"url": "https://[fe80::1]/hook", "events": ["message.status"]}, "fe80::1"),
        ({"url": "https://[::ffff:10.0.0.1]/hook", "events": ["message.status"]}, "non-public address"),
        ({"url": "https://224.0.0.251/hook", "events": ["message.status"]}, "224.0.0.251"),
        ({"url": "https://0.0.0.0/hook", "events": ["message.status"]}, "0.0.0.0"),
        ({"url": "https://240.0.0.1/hook", "events": ["message.status"]}, "240.0.0.1"),
        ({"url": "https://user:pw@93.184.215.14/hook", "events": ["message.status"]}, "credentials"),
        ({"url": PUBLIC_URL, "events": ["message.status"], "secret": "mine"}, "unknown field 'secret'"),
        (["not", "an", "object"], "body must be a JSON object"),
    ],
)
async def test_bad_input_is_refused_naming_the_problem_and_nothing_is_made(
    http: TestClient, db: asyncpg.Connection, org: uuid.UUID, body: object, named: str
):
    resp = await http.post(f"/v1/orgs/{org}/subscriptions", json=body)
    assert resp.status == 400, await resp.text()
    assert named in (await resp.json())["error"]
    assert await subscriptions(db, org) == []


async def test_a_body_that_is_not_json_is_refused(http: TestClient, db: asyncpg.Connection, org: uuid.UUID):
    resp = await http.post(f"/v1/orgs/{org}/subscriptions", data=b"{url", headers={"Content-Type": "application/json"})
    assert resp.status == 400 and "JSON" in (await resp.json())["error"]
    assert await subscriptions(db, org) == []


async def test_another_organisations_subscription_or_a_malformed_id_is_a_404(
    http: TestClient, db: asyncpg.Connection, org: uuid.UUID, cleanup: list[uuid.UUID]
):
    cleanup.append(org)
    made = await (
        await http.post(f"/v1/orgs/{org}/subscriptions", json={"url": PUBLIC_URL, "events": ["message.received"]})
    ).json()
    other = uuid.uuid4()
    for path in (f"/v1/orgs/{other}/subscriptions/{made['id']}", f"/v1/orgs/{org}/subscriptions/not-a-uuid"):
        assert (await http.delete(path)).status == 404
        for action in ("rotate", "resume"):
            resp = await http.post(f"{path}/{action}")
            assert resp.status == 404 and "error" in await resp.json()
    assert (await (await http.get(f"/v1/orgs/{other}/subscriptions")).json()) == {"subscriptions": []}
    [row] = await subscriptions(db, org)
    assert row["secret"] == made["secret"] and row["previous_secret"] is None  # nothing was rotated


async def test_a_malformed_resume_cursor_is_a_400(
    http: TestClient, db: asyncpg.Connection, org: uuid.UUID, cleanup: list[uuid.UUID]
):
    cleanup.append(org)
    made = await (
        await http.post(f"/v1/orgs/{org}/subscriptions", json={"url": PUBLIC_URL, "events": ["message.status"]})
    ).json()
    before = (await subscriptions(db, org))[0]
    for after in ("not a cursor", base64.urlsafe_b64encode(b"12:x").decode(), 42, "A" * 100):
        resp = await http.post(f"/v1/orgs/{org}/subscriptions/{made['id']}/resume", json={"after": after})
        assert resp.status == 400 and "after is not a cursor" in (await resp.json())["error"]
    assert (await subscriptions(db, org))[0]["cursor_xid"] == before["cursor_xid"]


async def test_the_routes_need_the_api_token(dsn: str, store: Store, org: uuid.UUID):
    client = await start_client(make_settings(dsn, api_token="sub-token", open_api=False), store)
    try:
        body = {"url": PUBLIC_URL, "events": ["message.status"]}
        assert (await client.post(f"/v1/orgs/{org}/subscriptions", json=body)).status == 401
        assert (await client.get(f"/v1/orgs/{org}/subscriptions")).status == 401
        ok = await client.get(f"/v1/orgs/{org}/subscriptions", headers={"Authorization": "Bearer sub-token"})
        assert ok.status == 200
    finally:
        await client.close()


async def test_private_addresses_and_http_are_allowed_when_the_setting_says_so(
    dsn: str, store: Store, db: asyncpg.Connection, org: uuid.UUID, cleanup: list[uuid.UUID]
):
    cleanup.append(org)
    client = await start_client(make_settings(dsn, subscriptions_allow_private=True), store)
    try:
        resp = await client.post(
            f"/v1/orgs/{org}/subscriptions", json={"url": "http://127.0.0.1:9/hook", "events": ["message.status"]}
        )
        assert resp.status == 201, await resp.text()
        bad = await client.post(
            f"/v1/orgs/{org}/subscriptions", json={"url": "ftp://127.0.0.1/x", "events": ["message.status"]}
        )
        assert bad.status == 400
    finally:
        await client.close()
    assert len(await subscriptions(db, org)) == 1


def test_the_address_policy():
    assert address_allowed("93.184.215.14") and address_allowed("2606:2800:21f:cb07:6820:80da:af6b:8b2c")
    for address in ("127.0.0.1", "10.0.0.1", "172.16.5.4", "192.168.1.1", "169.254.169.254", "100.64.0.1",
                    "0.0.0.0", "224.0.0.1", "255.255.255.255", "::1", "::", "fe80::1%eth0", "fc00::1",
                    "::ffff:127.0.0.1", "ff02::1", "not an address"):  # fmt: skip
        assert not address_allowed(address), address
