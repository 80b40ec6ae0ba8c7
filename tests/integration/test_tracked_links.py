"""Tracked links over HTTP, on every backend: made by the API, followed by /l/{token} (302, a click counted once
per person, the message marked `clicked` at its earliest time, parked when not logged yet), previews that do not
count, forged tokens, bad input, the rate limit, and the links in erasure, export and retention."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from bluetick import links_api
from bluetick.customers import forget, parse_customer
from bluetick.links_api import LINKS, RateLimiter
from bluetick.store import Store
from tests.conftest import make_settings, start_client

PHONE = "+919800000301"
TARGET = "https://shop.example/offer?c=42&who=%2B919800000301"


async def log(http: TestClient, org: uuid.UUID, bsp_msg_id: str, phone: str = PHONE) -> None:
    resp = await http.post(
        f"/v1/orgs/{org}/messages",
        json={"bsp_msg_id": bsp_msg_id, "direction": "OUTBOUND", "to_phone": phone, "body": "see the offer"},
    )
    assert resp.status == 200, await resp.text()


async def make_link(http: TestClient, org: uuid.UUID, bsp_msg_id: str, url: str = TARGET) -> dict[str, Any]:
    resp = await http.post(f"/v1/orgs/{org}/links", json={"bsp_msg_id": bsp_msg_id, "url": url})
    assert resp.status == 201, await resp.text()
    doc: dict[str, Any] = await resp.json()
    return doc


async def follow(http: TestClient, token: str, method: str = "GET", agent: str = "Mozilla/5.0 (Linux; Android 14)"):
    return await http.request(method, f"/l/{token}", allow_redirects=False, headers={"User-Agent": agent})


async def link_row(db: asyncpg.Connection, token: str) -> asyncpg.Record:
    row = await db.fetchrow("select * from tracked_links where token = $1", token)
    assert row is not None
    return row


async def whatsapp_status(db: asyncpg.Connection, org: uuid.UUID, bsp_msg_id: str) -> dict[str, Any]:
    row = await db.fetchrow(
        "select whatsapp_status, status from message_logs where org_id = $1 and bsp_msg_id = $2", org, bsp_msg_id
    )
    assert row is not None
    return {"whatsapp_status": row["whatsapp_status"], "status": row["status"]}


async def test_a_link_redirects_and_counts_each_click_keeping_the_first_time(
    http: TestClient, db: asyncpg.Connection, org: uuid.UUID
):
    await log(http, org, "wamid.link1")
    made = await make_link(http, org, "wamid.link1")
    token = made["token"]
    assert len(token) >= 22 and made["url"] == f"http://{http.host}:{http.port}/l/{token}"
    row = await link_row(db, token)
    assert (row["org_id"], row["bsp_msg_id"], row["url"], row["clicks"]) == (org, "wamid.link1", TARGET, 0)
    assert row["first_click_at"] is None

    first = await follow(http, token)
    assert first.status == 302 and first.headers["Location"] == TARGET
    row = await link_row(db, token)
    assert row["clicks"] == 1 and row["first_click_at"] is not None
    assert row["first_click_at"] == row["last_click_at"]
    seen = await whatsapp_status(db, org, "wamid.link1")
    assert "clicked" in seen["whatsapp_status"]
    assert seen["status"] != "clicked", "clicked is unranked: the funnel's status is unchanged"
    clicked_at = seen["whatsapp_status"]["clicked"]

    second = await follow(http, token)
    assert second.status == 302 and second.headers["Location"] == TARGET
    again = await link_row(db, token)
    assert again["clicks"] == 2
    assert again["first_click_at"] == row["first_click_at"] and again["last_click_at"] >= row["last_click_at"]
    assert (await whatsapp_status(db, org, "wamid.link1"))["whatsapp_status"]["clicked"] == clicked_at


@pytest.mark.parametrize(
    "agent",
    [
        "WhatsApp/2.23.20.0 A",
        "WhatsApp/2.24.1.75 i",
        "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
        "TelegramBot (like TwitterBot)",
        "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
    ],
)
async def test_a_preview_fetch_redirects_without_counting(
    http: TestClient, db: asyncpg.Connection, org: uuid.UUID, agent: str
):
    await log(http, org, "wamid.preview")
    token = (await make_link(http, org, "wamid.preview"))["token"]
    preview = await follow(http, token, agent=agent)
    assert preview.status == 302 and preview.headers["Location"] == TARGET
    head = await follow(http, token, method="HEAD")
    assert head.status == 302 and head.headers["Location"] == TARGET
    row = await link_row(db, token)
    assert row["clicks"] == 0 and row["first_click_at"] is None
    assert "clicked" not in (await whatsapp_status(db, org, "wamid.preview"))["whatsapp_status"]


async def test_an_unknown_or_forged_token_is_404(http: TestClient, db: asyncpg.Connection, org: uuid.UUID):
    token = (await make_link(http, org, "wamid.forged"))["token"]
    forged = token[:-1] + ("A" if token[-1] != "A" else "B")
    for path in (forged, "A" * 22, "short", "..%2F..%2Fetc", "x" * 300):
        resp = await http.get(f"/l/{path}", allow_redirects=False)
        assert resp.status == 404, path
        assert "Location" not in resp.headers
    assert (await link_row(db, token))["clicks"] == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"bsp_msg_id": "wamid.bad", "url": "javascript:alert(1)"}, "url"),
        ({"bsp_msg_id": "wamid.bad", "url": "ftp://files.example/x"}, "url"),
        ({"bsp_msg_id": "wamid.bad", "url": "//shop.example/x"}, "url"),
        ({"bsp_msg_id": "wamid.bad", "url": "https://"}, "url"),
        ({"bsp_msg_id": "wamid.bad", "url": "https://shop.example/" + "a" * 2030}, "url"),
        ({"bsp_msg_id": "wamid.bad", "url": "https://shop.example/a b"}, "url"),
        ({"bsp_msg_id": "wamid.bad", "url": "https://shop.example/\r\nSet-Cookie: x=1"}, "url"),
        ({"bsp_msg_id": "wamid.bad", "url": 42}, "url"),
        ({"bsp_msg_id": "wamid.bad"}, "url"),
        ({"url": TARGET}, "bsp_msg_id"),
        ({"bsp_msg_id": "", "url": TARGET}, "bsp_msg_id"),
        ({"bsp_msg_id": "x" * 2000, "url": TARGET}, "bsp_msg_id"),
        ({"bsp_msg_id": ["wamid.bad"], "url": TARGET}, "bsp_msg_id"),
        (["wamid.bad", TARGET], "body"),
    ],
)
async def test_bad_input_is_400_naming_the_field_and_stores_nothing(
    http: TestClient, db: asyncpg.Connection, org: uuid.UUID, body: Any, field: str
):
    resp = await http.post(f"/v1/orgs/{org}/links", json=body)
    assert resp.status == 400, await resp.text()
    doc = await resp.json()
    assert doc["field"] == field and field in doc["error"]
    assert await db.fetchval("select count(*) from tracked_links where org_id = $1", org) == 0


async def test_a_url_of_exactly_2048_characters_is_taken(http: TestClient, org: uuid.UUID):
    url = "https://shop.example/" + "a" * (2048 - len("https://shop.example/"))
    made = await make_link(http, org, "wamid.long", url)
    resp = await follow(http, made["token"])
    assert resp.status == 302 and resp.headers["Location"] == url


async def test_making_a_link_needs_the_api_token(dsn: str, store: Store, org: uuid.UUID):
    client = await start_client(make_settings(dsn, open_api=False, api_token="links-token"), store)
    try:
        body = {"bsp_msg_id": "wamid.auth", "url": TARGET}
        assert (await client.post(f"/v1/orgs/{org}/links", json=body)).status == 401
        resp = await client.post(f"/v1/orgs/{org}/links", json=body, headers={"Authorization": "Bearer links-token"})
        assert resp.status == 201
        token = (await resp.json())["token"]
        assert (await client.get(f"/l/{token}", allow_redirects=False)).status == 302  # following needs none
    finally:
        await client.close()


async def test_public_url_starts_the_link(dsn: str, store: Store, org: uuid.UUID):
    client = await start_client(make_settings(dsn, public_url="https://t.example.com/"), store)
    try:
        made = await make_link(client, org, "wamid.public")
        assert made["url"] == f"https://t.example.com/l/{made['token']}"
    finally:
        await client.close()


async def test_following_is_rate_limited_per_client_address(http: TestClient, org: uuid.UUID):
    token = (await make_link(http, org, "wamid.rate"))["token"]
    http.app[LINKS].limiter = RateLimiter(per_minute=3, clock=lambda: 100.0)  # a clock that stands still
    answers = [(await follow(http, token, method="HEAD")).status for _ in range(4)]
    assert answers == [302, 302, 302, 429]
    assert (await http.get("/l/" + "A" * 22, allow_redirects=False)).status == 429  # unknown tokens use it up too


def test_the_bucket_refills_at_its_rate_and_keeps_clients_apart():
    now = [0.0]
    limiter = RateLimiter(per_minute=30, clock=lambda: now[0])
    assert all(limiter.allow("10.0.0.1") for _ in range(30))
    assert not limiter.allow("10.0.0.1")
    assert limiter.allow("10.0.0.2"), "another address has its own bucket"
    now[0] = 2.0  # 30 a minute: one more every 2 s
    assert limiter.allow("10.0.0.1")
    assert not limiter.allow("10.0.0.1")


def test_the_limiter_forgets_full_buckets_when_too_many_clients(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(links_api, "MAX_TRACKED_CLIENTS", 10)
    now = [0.0]
    limiter = RateLimiter(per_minute=30, clock=lambda: now[0])
    for i in range(10):
        assert limiter.allow(f"10.0.0.{i}")
    now[0] = 60.0  # every bucket is full again
    assert limiter.allow("10.0.1.1")
    assert len(limiter._buckets) == 1


async def test_a_click_before_the_message_is_logged_is_parked_then_applied(
    http: TestClient, db: asyncpg.Connection, org: uuid.UUID
):
    token = (await make_link(http, org, "wamid.later"))["token"]
    assert (await follow(http, token)).status == 302
    parked = await db.fetch(
        "select status from message_status_parked where org_id = $1 and bsp_msg_id = 'wamid.later'", org
    )
    assert [r["status"] for r in parked] == ["clicked"]
    first_click = (await link_row(db, token))["first_click_at"]

    await log(http, org, "wamid.later")
    seen = await whatsapp_status(db, org, "wamid.later")
    assert seen["whatsapp_status"]["clicked"] == first_click.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert await db.fetchval("select count(*) from message_status_parked where org_id = $1", org) == 0


async def test_erasure_deletes_the_customers_links_and_export_includes_them(
    http: TestClient, db: asyncpg.Connection, org: uuid.UUID
):
    other = "+919800000399"
    await log(http, org, "wamid.mine", PHONE)
    await log(http, org, "wamid.theirs", other)
    mine = await make_link(http, org, "wamid.mine")
    theirs = await make_link(http, org, "wamid.theirs", "https://shop.example/other")
    assert (await follow(http, mine["token"])).status == 302

    exported = await http.get(f"/v1/orgs/{org}/customers/{PHONE.replace('+', '%2B')}")
    assert exported.status == 200
    links = (await exported.json())["tracked_links"]
    assert [(x["token"], x["bsp_msg_id"], x["url"], x["clicks"]) for x in links] == [
        (mine["token"], "wamid.mine", TARGET, 1)
    ]
    assert links[0]["first_click_at"] is not None

    erased = await http.delete(f"/v1/orgs/{org}/customers/{PHONE.replace('+', '%2B')}")
    assert erased.status == 200, await erased.text()
    assert (await erased.json())["tracked_links"] == 1  # the answer counts them
    assert await db.fetchval("select count(*) from tracked_links where token = $1", mine["token"]) == 0
    assert (await link_row(db, theirs["token"]))["url"] == "https://shop.example/other"
    assert (await http.get(f"/l/{mine['token']}", allow_redirects=False)).status == 404
    again = await http.get(f"/v1/orgs/{org}/customers/{PHONE.replace('+', '%2B')}")
    assert (await again.json())["tracked_links"] == []


async def test_erasure_in_parts_deletes_the_links_of_every_part(
    store: Store, http: TestClient, db: asyncpg.Connection, org: uuid.UUID
):
    for i in range(5):
        await log(http, org, f"wamid.part{i}")
        await make_link(http, org, f"wamid.part{i}", f"https://shop.example/{i}")
    await log(http, org, "wamid.parked-elsewhere", "+919800000398")
    await make_link(http, org, "wamid.parked-elsewhere")
    erasure = await forget(store, org, parse_customer(PHONE), 2)
    assert erasure.tracked_links == 5  # summed over the parts
    left = await db.fetch("select bsp_msg_id from tracked_links where org_id = $1", org)
    assert [r["bsp_msg_id"] for r in left] == ["wamid.parked-elsewhere"]


async def test_retention_deletes_links_older_than_the_period(
    store: Store, http: TestClient, db: asyncpg.Connection, org: uuid.UUID
):
    keeping = uuid.uuid4()
    old = await make_link(http, org, "wamid.old")
    new = await make_link(http, org, "wamid.new")
    kept_old = await make_link(http, keeping, "wamid.old")
    await db.execute(
        "update tracked_links set created_at = now() - interval '40 days' where token = any ($1::text[])",
        [old["token"], kept_old["token"]],
    )
    await db.execute("insert into org_settings (org_id, retention_days) values ($1, 30)", org)
    await store.retention_batch(None, 1000)  # (the service's own purge round may take them first)
    assert await db.fetchval("select count(*) from tracked_links where token = $1", old["token"]) == 0
    assert await db.fetchval("select count(*) from tracked_links where token = $1", new["token"]) == 1
    assert await db.fetchval("select count(*) from tracked_links where token = $1", kept_old["token"]) == 1, (
        "an organisation with no retention keeps its links"
    )


async def test_concurrent_clicks_each_count_once_and_mark_only_their_organisations_message(
    http: TestClient, db: asyncpg.Connection, org: uuid.UUID
):
    other = uuid.uuid4()
    for o in (org, other):
        await log(http, o, "wamid.shared")  # one bsp_msg_id in two organisations
    token = (await make_link(http, org, "wamid.shared"))["token"]
    answers = await asyncio.gather(*(follow(http, token) for _ in range(10)))
    assert [a.status for a in answers] == [302] * 10
    row = await link_row(db, token)
    assert row["clicks"] == 10 and row["first_click_at"] <= row["last_click_at"]
    assert "clicked" in (await whatsapp_status(db, org, "wamid.shared"))["whatsapp_status"]
    assert "clicked" not in (await whatsapp_status(db, other, "wamid.shared"))["whatsapp_status"]
