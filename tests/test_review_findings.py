"""Regressions found in review: each test failed before its fix."""

from __future__ import annotations

import asyncio
import threading
import uuid
from datetime import UTC, datetime

import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from bluetick.app import SERVICE, create_app
from bluetick.auth import OrgSecrets, SecretBook, org_url_token, webhook_allowed
from bluetick.client import BluetickClient
from bluetick.events import StatusEvent
from bluetick.payloads import parse
from bluetick.store import ResourceError, Store
from bluetick.store.postgres import PostgresStore, migrate
from tests.conftest import fetch_row, make_settings, payload, start_client
from tests.dbproxy import DbProxy

AT = datetime(2024, 10, 3, 10, 30, tzinfo=UTC)


def aisensy(receipt: str, topic: str, msg_id: str) -> dict[str, object]:
    doc = payload("aisensy_inbound.json" if topic == "message.sender.user" else "aisensy_status_read.json")
    doc["id"] = receipt
    doc["data"]["message"]["messageId"] = msg_id  # type: ignore[index]
    return doc


async def test_a_reused_delivery_id_naming_another_message_does_not_stop_the_pipeline(
    http: TestClient, db: asyncpg.Connection, org: uuid.UUID
):
    assert (await http.post(f"/webhooks/{org}", json=aisensy("R1", "message.status.updated", "wamid.X"))).status == 200
    assert (await http.post(f"/webhooks/{org}", json=aisensy("R1", "message.sender.user", "wamid.Y"))).status == 200
    assert (await fetch_row(db, org, "wamid.Y"))["direction"] == "INBOUND"
    for n in range(3):  # both flush workers still serve
        assert (
            await http.post(f"/webhooks/{org}", json=aisensy(f"R{n + 2}", "message.sender.user", f"wamid.Z{n}"))
        ).status == 200


async def test_a_webhook_larger_than_the_database_lock_table_is_stored_in_parts(
    dsn: str, store: Store, db: asyncpg.Connection, org: uuid.UUID
):
    """25 000 statuses in one post used to exceed max_locks_per_transaction, and be retried for ever."""
    client = await start_client(make_settings(dsn, max_body_bytes=4_000_000), store)
    items = [{"id": f"w{i}", "status": "sent", "timestamp": 1727951400} for i in range(25_000)]
    try:
        resp = await client.post(f"/webhooks/{org}", json={"statuses": items})
        assert resp.status == 200
    finally:
        await client.close()
    assert await db.fetchval("select count(*) from message_status_parked where org_id = $1", org) == 25_000


async def test_a_transaction_over_the_lock_limit_is_a_resource_error_to_split(dsn: str, org: uuid.UUID):
    store = await PostgresStore.connect(dsn, pool_size=1, timeout_s=30)
    try:
        with pytest.raises(ResourceError, match="53200"):
            await store.apply_batch([], [StatusEvent(org, f"w{i}", "sent", AT) for i in range(30_000)])
    finally:
        await store.close()


async def test_a_frozen_database_link_cannot_hold_shutdown_or_readiness(dsn: str, org: uuid.UUID):
    relay = DbProxy(dsn)
    await relay.start()
    store = await PostgresStore.connect(relay.dsn, pool_size=2, timeout_s=1)
    settings = make_settings(relay.dsn, ack_mode="immediate", shutdown_drain_s=1)
    client = await start_client(settings, store)
    try:
        relay.freeze()
        assert (await client.post(f"/webhooks/{org}", json=payload("meta_status_delivered.json"))).status == 200
        async with asyncio.timeout(20):  # a bound on a hang, not a timing assertion
            assert (await client.get("/readyz")).status == 503
            await client.close()
    finally:
        relay.thaw()
        await relay.cut()
        await store.close()


async def test_an_analysts_open_transaction_does_not_block_a_booting_replica(dsn: str, pg: asyncpg.Connection):
    await pg.execute("begin; select count(*) from message_logs")
    try:
        async with asyncio.timeout(30):
            assert await migrate(dsn) == []  # installed version: nothing to do, no lock taken
    finally:
        await pg.execute("rollback")


def test_the_agent_helper_keeps_logging_across_event_loops(dsn: str) -> None:
    """A sync agent calling asyncio.run per message: every call logs, not only the first."""
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


def test_an_organisation_with_its_own_secret_refuses_the_global_url_token() -> None:
    org, other = uuid.uuid4(), uuid.uuid4()
    book = SecretBook(OrgSecrets(url_token="master"))
    book.replace({org: OrgSecrets(meta_app_secret="own")})
    token = {"token": org_url_token("master", org)}
    assert not webhook_allowed(book.for_org(org), b"{}", {}, token, allow_unsigned=False)
    assert not webhook_allowed(book.for_org(other), b"{}", {}, {"token": "master"}, allow_unsigned=False)
    assert not webhook_allowed(book.for_org(other), b"{}", {}, token, allow_unsigned=False)
    own_token = {"token": org_url_token("master", other)}
    assert webhook_allowed(book.for_org(other), b"{}", {}, own_token, allow_unsigned=False)


@pytest.mark.parametrize("business", ["PHONE_NUMBER", "1555", 42, None])
def test_an_unusable_business_number_does_not_cost_the_statuses(business: object) -> None:
    doc = payload("meta_status_delivered.json")
    doc["entry"][0]["changes"][0]["value"]["metadata"]["display_phone_number"] = business
    parsed = parse(uuid.uuid4(), doc)
    assert len(parsed.statuses) == 1 and parsed.errors == []
