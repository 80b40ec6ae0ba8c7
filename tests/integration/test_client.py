"""The agent helper logs through the real service, and never raises or stalls when it cannot."""

from __future__ import annotations

import asyncio
import gc
import socket
import threading
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client import REGISTRY

from bluetick.app import SERVICE, create_app
from bluetick.client import BluetickClient, BluetickError
from bluetick.store import Store
from bluetick.store.postgres import PostgresStore
from tests.conftest import fetch_row, make_settings, start_client


def failures(reason: str) -> float:
    return REGISTRY.get_sample_value("bluetick_client_failures_total", {"reason": reason}) or 0.0


@pytest.fixture
async def silent_server() -> AsyncIterator[str]:
    """A real HTTP server that accepts the request and never answers it."""

    async def hang(request: web.Request) -> web.Response:
        await asyncio.sleep(3600)
        return web.Response()

    app = web.Application()
    app.router.add_post("/v1/orgs/{org_id}/messages", hang)
    server = TestServer(app)
    await server.start_server()
    yield str(server.make_url("")).rstrip("/")
    await server.close()


async def test_log_outbound_stores_the_reply_and_returns_the_row(
    http: TestClient, db: asyncpg.Connection, org: uuid.UUID
):
    client = BluetickClient(str(http.make_url("")), timeout_ms=5000)
    try:
        row = await client.log_outbound(
            org_id=org,
            bsp_msg_id="wamid.agent.1",
            to_phone="+91 98765 43210",
            body="Your order has shipped",
            sent_at=1727951400,
        )
        inbound = await client.log_inbound(
            org_id=org, bsp_msg_id="wamid.agent.2", from_phone="919876543210", body="thanks"
        )
    finally:
        await client.close()
    assert row is not None and row["status"] == "SENT" and row["to_phone"] == "+919876543210"
    stored = await fetch_row(db, org, "wamid.agent.1")
    assert stored["msg_kind"] == "AI_REPLY_FREEFORM"
    assert stored["whatsapp_status"] == {"sent": "2024-10-03T10:30:00Z"}
    assert inbound is not None and inbound["direction"] == "INBOUND"


async def test_log_outbound_returns_none_within_its_bound_when_the_service_hangs(silent_server: str):
    client = BluetickClient(silent_server, timeout_ms=200)
    before = failures("timeout")
    try:
        # the guard only catches a helper that ignores its bound; it is not a timing assertion
        row = await asyncio.wait_for(
            client.log_outbound(org_id=uuid.uuid4(), bsp_msg_id="wamid.x", to_phone="+919876543210"), 30
        )
    finally:
        await client.close()
    assert row is None
    assert failures("timeout") == before + 1


async def test_log_outbound_returns_none_when_the_service_is_down():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = BluetickClient(f"http://127.0.0.1:{port}", timeout_ms=2000)
    try:
        row = await client.log_outbound(org_id=uuid.uuid4(), bsp_msg_id="wamid.x", to_phone="+919876543210")
    finally:
        await client.close()
    assert row is None


async def test_log_outbound_returns_none_when_the_service_refuses_the_message(http: TestClient, org: uuid.UUID):
    client = BluetickClient(str(http.make_url("")), timeout_ms=5000)
    before = failures("http_422")
    try:
        row = await client.log_outbound(org_id=org, bsp_msg_id="wamid.x", to_phone="not a phone")
    finally:
        await client.close()
    assert row is None
    assert failures("http_422") == before + 1


async def test_a_malformed_client_setting_is_logged_and_counted_never_raised(monkeypatch: pytest.MonkeyPatch):
    from bluetick import client

    monkeypatch.setenv("BLUETICK_TIMEOUT_MS", "soon")
    monkeypatch.setattr(client, "_default", None)
    before = failures("config_error")
    stored = await client.log_outbound(org_id=uuid.uuid4(), bsp_msg_id="wamid.cfg", to_phone="+919876543210")
    assert stored is None
    assert failures("config_error") == before + 1


def test_the_agent_helper_keeps_logging_across_event_loops(dsn: str, caplog: pytest.LogCaptureFixture) -> None:
    """A sync agent calling asyncio.run per message: every call logs, not only the first, and each loop's
    session is closed with its loop."""
    ready = threading.Event()
    holder: dict[str, object] = {}

    def serve() -> None:
        async def main() -> None:
            store = await PostgresStore.connect(dsn, pool_size=2, timeout_s=10)
            app = create_app(make_settings(dsn), store)
            runner = web.AppRunner(app)
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            await app[SERVICE].ready.wait()
            holder["url"] = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"  # type: ignore[union-attr]
            holder["stop"] = asyncio.Event()
            holder["loop"] = asyncio.get_running_loop()
            ready.set()
            await holder["stop"].wait()  # type: ignore[union-attr]
            await runner.cleanup()
            await store.close()

        asyncio.run(main())

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    assert ready.wait(30)
    client = BluetickClient(str(holder["url"]), timeout_ms=5000)
    org = uuid.uuid4()
    rows = [
        asyncio.run(client.log_outbound(org_id=org, bsp_msg_id=f"wamid.loop{i}", to_phone="+919876543210"))
        for i in range(3)
    ]
    loop: asyncio.AbstractEventLoop = holder["loop"]  # type: ignore[assignment]
    loop.call_soon_threadsafe(holder["stop"].set)  # type: ignore[union-attr]
    thread.join(30)
    assert [r is not None for r in rows] == [True, True, True]
    del client
    gc.collect()
    assert not [r for r in caplog.records if "Unclosed" in r.getMessage()]


async def test_get_message_reads_back_the_logged_row_and_none_when_there_is_none(http: TestClient, org: uuid.UUID):
    client = BluetickClient(str(http.make_url("")), timeout_ms=5000)
    try:
        row = await client.log_outbound(org_id=org, bsp_msg_id="wamid.get/1+=", to_phone="+919876543210")
        found = await client.get_message(org, "wamid.get/1+=")
        missing = await client.get_message(org, "wamid.nowhere")
    finally:
        await client.close()
    assert row is not None and found == row
    assert missing is None


async def test_get_message_raises_when_refused_rather_than_saying_none(dsn: str, store: Store, org: uuid.UUID):
    service = await start_client(make_settings(dsn, open_api=False, api_token="tok-" + "c" * 28), store)
    client = BluetickClient(str(service.make_url("")), timeout_ms=5000, api_token="wrong-" + "d" * 26)
    try:
        with pytest.raises(BluetickError) as refused:
            await client.get_message(org, "wamid.x")
    finally:
        await client.close()
        await service.close()
    assert refused.value.status == 401


async def test_events_yields_each_event_once_keeping_its_cursor(http: TestClient, org: uuid.UUID):
    assert (await http.put(f"/v1/orgs/{org}/events/feed", json={"enabled": True})).status == 200
    start = (await (await http.get(f"/v1/orgs/{org}/events")).json())["next"]
    client = BluetickClient(str(http.make_url("")), timeout_ms=5000)
    try:
        stream = client.events(org, after=start, wait_s=5)
        assert stream.cursor == start
        first = asyncio.create_task(anext(stream))
        await asyncio.sleep(0.2)
        await client.log_outbound(org_id=org, bsp_msg_id="wamid.ev1", to_phone="+919876543210")
        event = await asyncio.wait_for(first, 30)
        assert event["bsp_msg_id"] == "wamid.ev1" and stream.cursor == event["cursor"]
        saved = stream.cursor
        for i in (2, 3):
            await client.log_outbound(org_id=org, bsp_msg_id=f"wamid.ev{i}", to_phone="+919876543210")
        got = []
        async for event in stream:
            got.append(event["bsp_msg_id"])
            if len(got) == 2:
                break
        assert got == ["wamid.ev2", "wamid.ev3"]
        resumed = client.events(org, after=saved, wait_s=5, types=["message.status"])  # as after a restart
        assert [(await anext(resumed))["bsp_msg_id"] for _ in range(2)] == ["wamid.ev2", "wamid.ev3"]
    finally:
        await client.close()


async def test_events_raises_when_the_feed_is_off(http: TestClient, org: uuid.UUID):
    client = BluetickClient(str(http.make_url("")), timeout_ms=5000)
    try:
        with pytest.raises(BluetickError) as off:
            await anext(client.events(org, wait_s=1))
    finally:
        await client.close()
    assert off.value.status == 409


async def test_events_retries_a_service_that_cannot_answer_from_the_same_cursor():
    """A feed answering 503 twice, then a page: the stream waits and asks again with the same cursor."""
    asked: list[str | None] = []

    async def feed(request: web.Request) -> web.Response:
        asked.append(request.query.get("after"))
        if len(asked) <= 2:
            return web.json_response({"error": "cannot read now, retry later"}, status=503)
        event = {"id": "7", "type": "message.status", "bsp_msg_id": "wamid.r", "cursor": "Nzo3"}
        return web.json_response({"events": [event], "next": "Nzo3"})

    app = web.Application()
    app.router.add_get("/v1/orgs/{org_id}/events", feed)
    server = TestServer(app)
    await server.start_server()
    client = BluetickClient(str(server.make_url("")).rstrip("/"), timeout_ms=2000)
    try:
        stream = client.events(uuid.uuid4(), after="Nzox", wait_s=1)
        event = await asyncio.wait_for(anext(stream), 30)
    finally:
        await client.close()
        await server.close()
    assert event["bsp_msg_id"] == "wamid.r" and stream.cursor == "Nzo3"
    assert asked == ["Nzox", "Nzox", "Nzox"]
