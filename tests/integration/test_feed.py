"""The event feed over HTTP, on every backend: turned on and off, paged with opaque cursors, refused with 400 or
409 when asked wrongly, and long-polled (woken by LISTEN/NOTIFY where a session can LISTEN, else polling)."""

from __future__ import annotations

import asyncio
import base64
import copy
import uuid
from datetime import UTC, datetime
from typing import Any

import aiohttp
import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from bluetick.events import Message
from bluetick.feed_api import decode_cursor, encode_cursor
from bluetick.store import Store
from bluetick.store.postgres import PostgresStore
from tests.conftest import Backend, make_settings, payload, start_client
from tests.dbproxy import DbProxy

T0 = datetime(2026, 11, 20, 10, 0, 0, tzinfo=UTC)


async def feed_on(http: TestClient, org: uuid.UUID) -> None:
    resp = await http.put(f"/v1/orgs/{org}/events/feed", json={"enabled": True})
    assert resp.status == 200 and await resp.json() == {"enabled": True}


async def page(http: TestClient, org: uuid.UUID, **params: Any) -> dict[str, Any]:
    resp = await http.get(f"/v1/orgs/{org}/events", params={k: str(v) for k, v in params.items()})
    assert resp.status == 200, await resp.text()
    doc: dict[str, Any] = await resp.json()
    return doc


async def collect(http: TestClient, org: uuid.UUID, after: str, count: int, **params: Any) -> list[dict[str, Any]]:
    """`count` events after `after`, page by page. A page may hold fewer than are committed: one committed while an
    older transaction (a background task's) is still open is held back until it ends, and the wait reads again."""
    found: list[dict[str, Any]] = []
    while len(found) < count:
        got = await page(http, org, after=after, wait=5, **params)
        assert got["events"], f"no event after {len(found)}"
        assert got["next"] == got["events"][-1]["cursor"]
        found += got["events"]
        after = got["next"]
    return found


async def log(http: TestClient, org: uuid.UUID, bsp_msg_id: str) -> None:
    resp = await http.post(
        f"/v1/orgs/{org}/messages",
        json={"bsp_msg_id": bsp_msg_id, "direction": "OUTBOUND", "to_phone": "+919800000201", "body": "hi"},
    )
    assert resp.status == 200, await resp.text()


def inbound(wamid: str) -> dict[str, Any]:
    body = copy.deepcopy(payload("meta_inbound_text.json"))
    body["entry"][0]["changes"][0]["value"]["messages"][0]["id"] = wamid
    return body


def test_a_cursor_is_opaque_and_reads_back():
    cursor = encode_cursor(["18446744073709551615", 9223372036854775807])
    assert "=" not in cursor and decode_cursor(cursor) == ("18446744073709551615", 9223372036854775807)
    assert decode_cursor(encode_cursor(["741", 0])) == ("741", 0)
    too_big = encode_cursor(["18446744073709551616", 1])
    not_text = base64.urlsafe_b64encode(b"\xff\xfe:1").decode()
    for bad in (
        "",
        "!!!",
        "a" * 65,
        base64.urlsafe_b64encode(b"741").decode(),
        encode_cursor(["-1", 2]),
        too_big,
        not_text,
    ):
        with pytest.raises(ValueError):
            decode_cursor(bad)


async def test_the_feed_pages_the_organisations_events_after_its_cursor(http: TestClient, org: uuid.UUID):
    await feed_on(http, org)
    start = await page(http, org)  # no cursor: from the head, nothing yet
    assert start["events"] == []
    for i in range(3):
        await log(http, org, f"wamid.f{i}")
    await log(http, uuid.uuid4(), "wamid.other")  # another organisation's, without a feed: never here
    first = await page(http, org, after=start["next"], limit=2, wait=5)
    assert 1 <= len(first["events"]) <= 2
    found = await collect(http, org, start["next"], 3, limit=2)
    assert [(e["type"], e["bsp_msg_id"]) for e in found] == [
        ("message.status", "wamid.f0"),
        ("message.status", "wamid.f1"),
        ("message.status", "wamid.f2"),
    ]
    assert found[0]["data"]["status"] == "SENT" and len({e["id"] for e in found}) == 3
    assert [e["version"] for e in found] == sorted(e["version"] for e in found)
    again = await page(http, org, after=found[-1]["cursor"])  # nothing new: an empty page, the same cursor
    assert again == {"events": [], "next": found[-1]["cursor"]}
    resumed = await collect(http, org, found[0]["cursor"], 2)  # an event's own cursor resumes after it
    assert [e["bsp_msg_id"] for e in resumed] == ["wamid.f1", "wamid.f2"]


async def test_types_choose_the_events(http: TestClient, org: uuid.UUID):
    await feed_on(http, org)
    start = (await page(http, org))["next"]
    await log(http, org, "wamid.t1")
    resp = await http.post(f"/webhooks/{org}", json=inbound("wamid.t2"))
    assert resp.status == 200, await resp.text()
    both = await collect(http, org, start, 2, types="message.status,message.received")
    assert [e["bsp_msg_id"] for e in both] == ["wamid.t1", "wamid.t2"]
    received = await page(http, org, after=start, types="message.received")
    assert [(e["type"], e["bsp_msg_id"]) for e in received["events"]] == [("message.received", "wamid.t2")]
    assert received["events"][0]["data"]["body"] == "Is my order on its way?"


async def test_the_feed_off_is_409_saying_how_to_turn_it_on(http: TestClient, org: uuid.UUID):
    resp = await http.get(f"/v1/orgs/{org}/events")
    assert resp.status == 409 and "PUT /v1/orgs/{org_id}/events/feed" in (await resp.json())["error"]
    await feed_on(http, org)
    assert (await http.get(f"/v1/orgs/{org}/events")).status == 200
    off = await http.put(f"/v1/orgs/{org}/events/feed", json={"enabled": False})
    assert off.status == 200 and await off.json() == {"enabled": False}
    assert (await http.get(f"/v1/orgs/{org}/events", params={"wait": "3"})).status == 409


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"after": "not a cursor!"}, "after"),
        ({"after": base64.urlsafe_b64encode(b"12:x").decode()}, "after"),
        ({"limit": "0"}, "limit"),
        ({"limit": "1001"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"wait": "-1"}, "wait"),
        ({"wait": "61"}, "wait"),
        ({"wait": "1.5"}, "wait"),
        ({"types": "message.status,message.sent"}, "message.sent"),
        ({"types": ""}, "type"),
    ],
)
async def test_bad_feed_input_is_400_naming_it(http: TestClient, org: uuid.UUID, params: dict[str, str], named: str):
    await feed_on(http, org)
    resp = await http.get(f"/v1/orgs/{org}/events", params=params)
    assert resp.status == 400
    assert named in (await resp.json())["error"]


@pytest.mark.parametrize("body", [b"{}", b'{"enabled": "yes"}', b"[true]", b"not json"])
async def test_a_bad_feed_switch_is_400(http: TestClient, org: uuid.UUID, body: bytes):
    resp = await http.put(f"/v1/orgs/{org}/events/feed", data=body, headers={"Content-Type": "application/json"})
    assert resp.status == 400


async def test_a_long_poll_returns_the_event_a_webhook_stores(http: TestClient, org: uuid.UUID, backend: Backend):
    await feed_on(http, org)
    start = await http.get(f"/v1/orgs/{org}/events")
    assert start.headers["Bluetick-Feed-Wait"] == ("listen" if backend.name == "postgres" else "poll")
    cursor = (await start.json())["next"]
    quiet = await page(http, org, after=cursor, wait=1)  # no change: empty, the same cursor
    assert quiet == {"events": [], "next": cursor}
    waiting = asyncio.create_task(page(http, org, after=cursor, wait=5))
    await asyncio.sleep(0.3)
    resp = await http.post(f"/webhooks/{org}", json=inbound("wamid.lp1"))
    assert resp.status == 200, await resp.text()
    got = await asyncio.wait_for(waiting, 30)  # a guard, not a timing assertion
    assert [(e["type"], e["bsp_msg_id"]) for e in got["events"]] == [("message.received", "wamid.lp1")]
    assert got["next"] == got["events"][-1]["cursor"]


async def test_a_long_poll_is_not_woken_by_another_organisations_event(http: TestClient, org: uuid.UUID):
    other = uuid.uuid4()
    await feed_on(http, org)
    await feed_on(http, other)
    cursor = (await page(http, org))["next"]
    waiting = asyncio.create_task(page(http, org, after=cursor, wait=2))
    await asyncio.sleep(0.2)
    await log(http, other, "wamid.elsewhere")
    assert await asyncio.wait_for(waiting, 30) == {"events": [], "next": cursor}


async def test_a_long_poll_held_back_by_an_older_open_transaction_returns_both_once_it_commits(
    http: TestClient, db: asyncpg.Connection, org: uuid.UUID
):
    """A transaction that began first and commits last: the later commit is held back (not skipped past) until
    the older one ends, and the waiting request then returns both, the older first."""
    await feed_on(http, org)
    cursor = (await page(http, org))["next"]
    early = Message(org, "wamid.early", to_phone="+919800000202", sent_at=T0).to_json()
    tx = db.transaction()
    await tx.start()
    try:
        await db.fetchval("select bluetick_apply_batch($1::jsonb, '[]'::jsonb, '[]'::jsonb)", [early])
        await log(http, org, "wamid.late")  # commits while the early one is open
        assert await page(http, org, after=cursor) == {"events": [], "next": cursor}  # held back, not skipped
        waiting = asyncio.create_task(page(http, org, after=cursor, wait=10))
        await asyncio.sleep(0.3)
    finally:
        await tx.commit()
    got = await asyncio.wait_for(waiting, 30)
    assert [e["bsp_msg_id"] for e in got["events"]] == ["wamid.early", "wamid.late"]


async def test_a_quiet_long_poll_waits_on_the_notification_not_in_a_read_loop(
    http: TestClient, store: Store, org: uuid.UUID, backend: Backend, monkeypatch: pytest.MonkeyPatch
):
    """Where a session can LISTEN, a wait with nothing to wake it reads the page three times however long it is
    (before the LISTEN is up, once it is, and when the wait ends); elsewhere it reads again each second."""
    await feed_on(http, org)
    cursor = (await page(http, org))["next"]
    reads: list[int] = []
    feed_page = store.feed_page

    async def counted(*args: Any, **kwargs: Any) -> dict[str, Any]:
        reads.append(1)
        return await feed_page(*args, **kwargs)

    monkeypatch.setattr(store, "feed_page", counted)
    assert await page(http, org, after=cursor, wait=3) == {"events": [], "next": cursor}
    if backend.name == "postgres":
        assert len(reads) == 3
    else:
        assert len(reads) >= 4


async def test_a_lost_listen_connection_is_opened_again(
    http: TestClient, pg: asyncpg.Connection, org: uuid.UUID, backend: Backend
):
    if backend.name != "postgres":
        pytest.skip("only the direct backend LISTENs")
    listening = "select pid from pg_stat_activity where query ilike 'listen %bluetick_events%'"
    await feed_on(http, org)
    cursor = (await page(http, org))["next"]
    await page(http, org, after=cursor, wait=1)  # opens the LISTEN session
    before = [r["pid"] for r in await pg.fetch(listening)]
    assert before
    for pid in before:
        await pg.execute("select pg_terminate_backend($1)", pid)
    waiting = asyncio.create_task(page(http, org, after=cursor, wait=10))
    await asyncio.sleep(0.5)
    await log(http, org, "wamid.after.loss")
    got = await asyncio.wait_for(waiting, 30)
    assert [e["bsp_msg_id"] for e in got["events"]] == ["wamid.after.loss"]
    after = [r["pid"] for r in await pg.fetch(listening)]
    assert after and not set(after) & set(before)


async def test_closing_the_service_answers_the_waiting_requests(dsn: str, store: Store, org: uuid.UUID):
    service = await start_client(make_settings(dsn), store)
    async with aiohttp.ClientSession() as session:
        try:
            await feed_on(service, org)
            cursor = (await page(service, org))["next"]
            url = service.make_url(f"/v1/orgs/{org}/events")
            waiting = asyncio.create_task(session.get(url, params={"after": cursor, "wait": "60"}))
            await asyncio.sleep(0.3)
        finally:
            await asyncio.wait_for(service.server.close(), 30)  # a guard: a wait of 60 s must not hold the shutdown
            await service.close()
        answer = await asyncio.wait_for(waiting, 5)
        assert answer.status == 200 and await answer.json() == {"events": [], "next": cursor}


async def test_a_database_gone_mid_wait_is_503_and_the_feed_resumes_when_it_is_back(dsn: str, org: uuid.UUID):
    """The LISTEN session and the pool go with the database: the waiting request answers 503 (retry), never a 500;
    once the database is back the next wait opens a new session and is woken by the next commit."""
    proxy = DbProxy(dsn)
    await proxy.start()
    store = await PostgresStore.connect(proxy.dsn, pool_size=2, timeout_s=2)
    service = await start_client(make_settings(proxy.dsn), store)
    try:
        await feed_on(service, org)
        cursor = (await page(service, org))["next"]
        waiting = asyncio.create_task(service.get(f"/v1/orgs/{org}/events", params={"after": cursor, "wait": "30"}))
        await asyncio.sleep(0.5)
        await proxy.cut()
        gone = await asyncio.wait_for(waiting, 30)
        assert gone.status == 503 and "retry" in (await gone.json())["error"]
        assert (await service.get(f"/v1/orgs/{org}/messages/wamid.x")).status == 503
        await proxy.restore()
        for _ in range(100):  # the pool's connections dropped by the cut are replaced on use
            if (await service.get(f"/v1/orgs/{org}/events", params={"after": cursor})).status == 200:
                break
            await asyncio.sleep(0.05)
        back = asyncio.create_task(page(service, org, after=cursor, wait=10))
        await asyncio.sleep(1.5)  # past the pause after a failed LISTEN connection
        await log(service, org, "wamid.back")
        got = await asyncio.wait_for(back, 30)
        assert [e["bsp_msg_id"] for e in got["events"]] == ["wamid.back"]
    finally:
        await service.close()
        await store.close()
        await proxy.cut()


async def test_a_cursor_from_one_replica_reads_on_another_after_the_first_is_gone(
    dsn: str, store: Store, org: uuid.UUID
):
    """A cursor is a position in the database's stream, not in a process: another replica (a restart) reads on."""
    first = await start_client(make_settings(dsn), store)
    try:
        await feed_on(first, org)
        cursor = (await page(first, org, limit=1000, wait=0))["next"]
        await log(first, org, "wamid.r1")
        got = await collect(first, org, cursor, 1)
        await log(first, org, "wamid.r2")
    finally:
        await first.close()
    second = await start_client(make_settings(dsn), store)
    try:
        rest = await collect(second, org, got[-1]["cursor"], 1)
        assert [e["bsp_msg_id"] for e in got + rest] == ["wamid.r1", "wamid.r2"]
        assert (await page(second, org, after=""))["events"] == []  # an empty `after`: the head, as none
    finally:
        await second.close()
