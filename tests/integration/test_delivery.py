"""Signed webhooks out (issue 24, push): a real receiver (an aiohttp server of the test on 127.0.0.1) gets every
event of its subscription, in order, each verified with the `standardwebhooks` package, through failures, timeouts
and a recovery; a 410 disables; failing past WEBHOOK_RETRY_FOR disables and a resume delivers the rest; a rotation
signs with both secrets during the overlap; a batch the database refuses delivers nothing; an event held back by an
older open transaction is delivered after it, not skipped; two replicas deliver every event once. On every backend
(the Supabase REST one through RPC functions, polling)."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from standardwebhooks import Webhook, WebhookVerificationError

from bluetick.app import SERVICE, create_app
from bluetick.delivery import DeliveryOptions
from bluetick.events import Direction, Message, StatusEvent
from bluetick.store import PermanentError, Store
from bluetick.subscriptions_api import SUBSCRIPTIONS
from tests.conftest import Backend, make_settings
from tests.integration.test_observability import sample

T0 = datetime(2026, 11, 20, 10, 0, 0, tzinfo=UTC)
FAST = DeliveryOptions(backoff_base_s=0.05, backoff_cap_s=0.2)
WAIT_S = 45.0  # a bound on a hang, not a timing assertion


@dataclasses.dataclass
class Delivery:
    headers: dict[str, str]
    body: bytes
    answered: int | str

    @property
    def doc(self) -> dict[str, Any]:
        doc: dict[str, Any] = json.loads(self.body)
        return doc

    @property
    def event_id(self) -> str:
        return self.headers["webhook-id"]


class Receiver:
    """A subscriber's endpoint on 127.0.0.1: each request is recorded, then answered as `script` says (its next
    entry, else `default`): a status code, "timeout" (answers after the deliverer's timeout) or "hang"."""

    def __init__(self, default: int | str = 200) -> None:
        self.default: int | str = default
        self.script: list[int | str] = []
        self.requests: list[Delivery] = []
        self.arrived = asyncio.Event()
        self.release = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def start(self, port: int = 0) -> str:
        app = web.Application()
        app.router.add_post("/hook", self._hook)
        self._runner = web.AppRunner(app, handler_cancellation=True)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", port)
        await site.start()
        bound = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{bound}/hook"
        return self.url

    async def close(self) -> None:
        self.release.set()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _hook(self, request: web.Request) -> web.Response:
        body = await request.read()
        behaviour = self.script.pop(0) if self.script else self.default
        self.requests.append(Delivery(dict(request.headers), body, behaviour))
        self.arrived.set()
        if behaviour == "timeout":
            await asyncio.sleep(1.5)  # past the tests' WEBHOOK_TIMEOUT_S of 1
            return web.Response(status=200)
        if behaviour == "hang":
            await self.release.wait()
            return web.Response(status=200)
        assert isinstance(behaviour, int)
        answer = "receiver says: nope, call +919800012345" if behaviour >= 300 else ""
        return web.Response(status=behaviour, text=answer)

    @property
    def accepted(self) -> list[Delivery]:
        """The deliveries answered 2xx, in arrival order."""
        return [d for d in self.requests if isinstance(d.answered, int) and 200 <= d.answered < 300]

    async def wait_for(self, count: int, timeout_s: float = WAIT_S) -> list[Delivery]:
        """Until `count` deliveries were accepted."""
        deadline = time.monotonic() + timeout_s
        while len(self.accepted) < count:
            assert time.monotonic() < deadline, f"{len(self.accepted)} of {count} accepted: {self.requests[-3:]}"
            await asyncio.sleep(0.05)
        return self.accepted


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    found = Receiver()
    await found.start()
    yield found
    await found.close()


@asynccontextmanager
async def delivering(
    dsn: str, store: Store, options: DeliveryOptions = FAST, **overrides: Any
) -> AsyncIterator[TestClient]:
    """The service with its deliverer (short backoff), allowed to deliver to 127.0.0.1 over http."""
    settings = make_settings(dsn, **{"subscriptions_allow_private": True, "webhook_timeout_s": 1, **overrides})
    app = create_app(settings, store)
    app[SUBSCRIPTIONS].options = options
    client = TestClient(TestServer(app, host="127.0.0.1"))
    await client.start_server()
    try:
        await asyncio.wait_for(app[SERVICE].ready.wait(), 30)
        yield client
    finally:
        await client.close()


@pytest.fixture
async def cleanup(db: asyncpg.Connection) -> AsyncIterator[list[uuid.UUID]]:
    """Organisations whose subscriptions are deleted after the test (the session's database is shared)."""
    orgs: list[uuid.UUID] = []
    yield orgs
    await db.execute("delete from webhook_subscriptions where org_id = any($1::uuid[])", orgs)


async def subscribe(client: TestClient, org: uuid.UUID, url: str, events: list[str] | None = None) -> dict[str, Any]:
    body = {"url": url, "events": events or ["message.status", "message.received"]}
    resp = await client.post(f"/v1/orgs/{org}/subscriptions", json=body)
    assert resp.status == 201, await resp.text()
    made: dict[str, Any] = await resp.json()
    return made


async def state(client: TestClient, org: uuid.UUID) -> dict[str, Any]:
    [sub] = (await (await client.get(f"/v1/orgs/{org}/subscriptions")).json())["subscriptions"]
    found: dict[str, Any] = sub
    return found


async def until_state(client: TestClient, org: uuid.UUID, key: str, value: Any) -> dict[str, Any]:
    """Until the organisation's subscription shows `key` == `value`; key "failing" means failing_since is set."""
    deadline = time.monotonic() + WAIT_S
    while True:
        found = await state(client, org)
        if (found["failing_since"] is not None if key == "failing" else found[key]) == value:
            return found
        assert time.monotonic() < deadline, found
        await asyncio.sleep(0.05)


async def until_metric(client: TestClient, series: str) -> None:
    """Until /metrics shows `series` above 0 (the subscriptions gauge is read from the database after a change)."""
    deadline = time.monotonic() + WAIT_S
    while True:
        text = await (await client.get("/metrics")).text()
        values = [line.rpartition(" ")[2] for line in text.splitlines() if line.startswith(series + " ")]
        if values and float(values[0]) > 0:
            return
        assert time.monotonic() < deadline, values
        await asyncio.sleep(0.05)


async def event_ids(db: asyncpg.Connection, org: uuid.UUID) -> list[str]:
    """The organisation's events in the order deliveries must follow."""
    rows = await db.fetch("select id from bluetick_events where org_id = $1 order by xid, id", org)
    return [str(r["id"]) for r in rows]


def verified(delivery: Delivery, secret: str) -> dict[str, Any]:
    doc: dict[str, Any] = Webhook(secret).verify(delivery.body, delivery.headers)
    return doc


async def write_changes(store: Store, org: uuid.UUID, messages: int) -> None:
    """Each message logged, then delivered and read, in separate batches; and a customer's message: 3 events a
    logged message, one the customer's."""
    for n in range(messages):
        await store.apply_batch([Message(org, f"wamid.d{n}", to_phone="+919800000101", sent_at=T0)], [])
    for status, at in (("delivered", 5), ("read", 9)):
        await store.apply_batch(
            [], [StatusEvent(org, f"wamid.d{n}", status, T0 + timedelta(seconds=at)) for n in range(messages)]
        )
    inbound = Message(org, "wamid.in", Direction.INBOUND, "TEXT", from_phone="+919800000101", body="hi", sent_at=T0)
    await store.apply_batch([inbound], [])


async def test_every_event_arrives_in_order_through_failures_and_a_timeout_each_verified(
    dsn: str, store: Store, db: asyncpg.Connection, org: uuid.UUID, receiver: Receiver, cleanup: list[uuid.UUID]
):
    cleanup.append(org)
    failed_before = sample("bluetick_webhook_deliveries_total", outcome="failed")
    timeouts_before = sample("bluetick_webhook_deliveries_total", outcome="timeout")
    lags_before = sample("bluetick_webhook_delivery_lag_seconds_count")
    async with delivering(dsn, store) as client:
        made = await subscribe(client, org, receiver.url)
        receiver.script = [500, 500, 503, "timeout"]
        await write_changes(store, org, 4)
        expected = await event_ids(db, org)
        assert len(expected) == 4 * 3 + 1
        accepted = await receiver.wait_for(len(expected))
        await until_state(client, org, "backlog", 0)
        sub = await until_state(client, org, "failing_since", None)
    assert [d.event_id for d in accepted] == expected  # each once, in (xid, id) order
    assert [d.answered for d in receiver.requests[:4]] == [500, 500, 503, "timeout"]
    assert {d.event_id for d in receiver.requests[:5]} == {expected[0]}  # the first event until it got through
    versions: dict[str, list[int]] = {}
    for delivery in accepted:
        doc = verified(delivery, made["secret"])
        assert set(doc) == {"type", "timestamp", "data"}
        assert doc["data"]["version"] == int(delivery.event_id)  # an event's version is its id
        versions.setdefault(doc["data"]["bsp_msg_id"], []).append(doc["data"]["version"])
    assert sorted(versions) == ["wamid.d0", "wamid.d1", "wamid.d2", "wamid.d3", "wamid.in"]
    for seen in versions.values():  # each message's events arrive oldest first
        assert seen == sorted(seen) and len(seen) == len(set(seen))
    statuses = [verified(d, made["secret"])["data"]["status"] for d in accepted if d.doc["type"] == "message.status"]
    assert statuses[:4] == ["SENT"] * 4 and statuses[-4:] == ["READ"] * 4
    received = [d.doc for d in accepted if d.doc["type"] == "message.received"]
    assert received[0]["data"]["body"] == "hi" and received[0]["data"]["customer_phone"] == "+919800000101"
    headers = accepted[0].headers
    assert headers["Content-Type"] == "application/json" and "Authorization" not in headers
    assert "Cookie" not in headers and headers["webhook-signature"].startswith("v1,")
    assert sub["last_success_at"] is not None and sub["last_error"] is None and sub["attempts"] == 0
    assert sample("bluetick_webhook_deliveries_total", outcome="failed") >= failed_before + 3
    assert sample("bluetick_webhook_deliveries_total", outcome="timeout") >= timeouts_before + 1
    assert sample("bluetick_webhook_delivery_lag_seconds_count") >= lags_before + len(expected)


async def test_only_the_types_asked_for_are_delivered_woken_by_listen_where_the_backend_can(
    dsn: str,
    store: Store,
    db: asyncpg.Connection,
    org: uuid.UUID,
    receiver: Receiver,
    cleanup: list[uuid.UUID],
    backend: Backend,
):
    cleanup.append(org)
    async with delivering(dsn, store) as client:
        deliverer = client.server.app[SUBSCRIPTIONS].deliverer
        assert deliverer is not None
        # asyncpg straight to Postgres LISTENs; PgBouncer in transaction mode and the REST API poll
        expected_mode = "listen" if backend.name == "postgres" else "poll"
        deadline = time.monotonic() + WAIT_S
        while deliverer.mode != expected_mode:
            assert time.monotonic() < deadline, deliverer.mode
            await asyncio.sleep(0.05)
        await subscribe(client, org, receiver.url, ["message.received"])
        await write_changes(store, org, 2)
        [only] = await receiver.wait_for(1)
        await until_state(client, org, "backlog", 0)
        await asyncio.sleep(0.3)
    assert only.doc["type"] == "message.received" and len(receiver.requests) == 1


async def test_a_lease_shorter_than_the_timeout_still_delivers_whole_batches(
    dsn: str, store: Store, db: asyncpg.Connection, org: uuid.UUID, receiver: Receiver, cleanup: list[uuid.UUID]
):
    cleanup.append(org)
    short = dataclasses.replace(FAST, lease=timedelta(seconds=1))  # the deliverer lengthens it to fit an attempt
    async with delivering(dsn, store, short) as client:
        await subscribe(client, org, receiver.url)
        await write_changes(store, org, 3)
        expected = await event_ids(db, org)
        accepted = await receiver.wait_for(len(expected))
        await until_state(client, org, "backlog", 0)
    assert [d.event_id for d in accepted] == expected


async def test_a_name_that_resolves_to_a_private_address_at_delivery_is_refused_without_connecting(
    dsn: str, store: Store, db: asyncpg.Connection, org: uuid.UUID, receiver: Receiver, cleanup: list[uuid.UUID]
):
    """DNS rebinding: a host that resolved to a public address when it was registered and to 127.0.0.1 now (made
    here below the route's check); with SUBSCRIPTIONS_ALLOW_PRIVATE off, the deliverer's resolver refuses it."""
    cleanup.append(org)
    port = receiver.url.split(":")[2].split("/")[0]
    await store.subscription_create(org, f"https://localhost:{port}/hook", ["message.received"], "whsec_" + "A" * 44)
    blocked_before = sample("bluetick_webhook_deliveries_total", outcome="blocked")
    async with delivering(dsn, store, subscriptions_allow_private=False) as client:
        inbound = Message(org, "wamid.rebind", Direction.INBOUND, "TEXT", from_phone="+919800000105", sent_at=T0)
        await store.apply_batch([inbound], [])
        # at least one refused attempt: with the fast test backoff (0.05 s) attempts may pass 1 between two reads
        sub = await until_state(client, org, "failing", True)
    assert sub["last_error"] == "refused: resolves to a non-public address" and sub["failing_since"] is not None
    assert receiver.requests == []
    assert sample("bluetick_webhook_deliveries_total", outcome="blocked") >= blocked_before + 1


async def test_a_410_disables_the_subscription(
    dsn: str, store: Store, db: asyncpg.Connection, org: uuid.UUID, receiver: Receiver, cleanup: list[uuid.UUID]
):
    cleanup.append(org)
    gone_before = sample("bluetick_webhook_deliveries_total", outcome="gone")
    async with delivering(dsn, store) as client:
        await subscribe(client, org, receiver.url)
        receiver.script = [410]
        await write_changes(store, org, 1)
        sub = await until_state(client, org, "disabled", True)
        assert sub["disabled_reason"] == "gone" and sub["last_error"].startswith("HTTP 410")
        assert "9800012345" not in sub["last_error"]  # a phone in the receiver's answer is masked
        await asyncio.sleep(0.5)
        assert len(receiver.requests) == 1  # nothing more is sent
        await until_metric(client, 'bluetick_webhook_subscriptions{state="gone"}')
    assert sample("bluetick_webhook_deliveries_total", outcome="gone") == gone_before + 1


async def test_failing_past_the_retry_period_disables_and_a_resume_delivers_the_rest(
    dsn: str, store: Store, db: asyncpg.Connection, org: uuid.UUID, receiver: Receiver, cleanup: list[uuid.UUID]
):
    cleanup.append(org)
    receiver.default = 503
    async with delivering(dsn, store, webhook_retry_for=timedelta(milliseconds=400)) as client:
        made = await subscribe(client, org, receiver.url)
        await write_changes(store, org, 2)
        expected = await event_ids(db, org)
        sub = await until_state(client, org, "disabled", True)
        assert sub["disabled_reason"] == "failing" and sub["failing_since"] is not None
        assert sub["last_error"].startswith("HTTP 503") and sub["backlog"] == len(expected)
        await until_metric(client, 'bluetick_webhook_subscriptions{state="failing"}')  # read after the disabling
        tried = len(receiver.requests)
        assert tried >= 2 and {d.event_id for d in receiver.requests} == {expected[0]}
        await asyncio.sleep(0.3)
        assert len(receiver.requests) == tried  # disabled: no more attempts
        receiver.default = 200
        resumed = await client.post(f"/v1/orgs/{org}/subscriptions/{made['id']}/resume")
        assert resumed.status == 200 and (await resumed.json())["disabled"] is False
        accepted = await receiver.wait_for(len(expected))
        await until_state(client, org, "backlog", 0)
    assert [d.event_id for d in accepted] == expected
    for delivery in accepted:
        verified(delivery, made["secret"])


async def test_a_rotation_signs_with_both_secrets_during_the_overlap_then_with_the_new_one(
    dsn: str, store: Store, db: asyncpg.Connection, org: uuid.UUID, receiver: Receiver, cleanup: list[uuid.UUID]
):
    cleanup.append(org)
    async with delivering(dsn, store, webhook_rotate_overlap=timedelta(seconds=2)) as client:
        made = await subscribe(client, org, receiver.url, ["message.received"])
        old = made["secret"]
        rotated = await client.post(f"/v1/orgs/{org}/subscriptions/{made['id']}/rotate")
        new = (await rotated.json())["secret"]
        rotated_at = time.monotonic()
        first = Message(org, "wamid.r1", Direction.INBOUND, "TEXT", from_phone="+919800000102", sent_at=T0)
        await store.apply_batch([first], [])
        [during] = await receiver.wait_for(1)
        assert time.monotonic() - rotated_at < 2, "the delivery came after the overlap: the test cannot tell"
        assert len(during.headers["webhook-signature"].split(" ")) == 2
        assert verified(during, new)["data"]["bsp_msg_id"] == "wamid.r1"
        assert verified(during, old)["data"]["bsp_msg_id"] == "wamid.r1"  # a receiver not yet updated
        await asyncio.sleep(max(0.0, 2.2 - (time.monotonic() - rotated_at)))
        second = Message(org, "wamid.r2", Direction.INBOUND, "TEXT", from_phone="+919800000102", sent_at=T0)
        await store.apply_batch([second], [])
        after = (await receiver.wait_for(2))[1]
    assert len(after.headers["webhook-signature"].split(" ")) == 1
    assert verified(after, new)["data"]["bsp_msg_id"] == "wamid.r2"
    with pytest.raises(WebhookVerificationError):
        verified(after, old)


async def test_a_batch_the_database_refuses_delivers_nothing(
    dsn: str, store: Store, db: asyncpg.Connection, org: uuid.UUID, receiver: Receiver, cleanup: list[uuid.UUID]
):
    cleanup.append(org)
    far_east = timezone(timedelta(hours=20))  # a valid offset in Python; Postgres refuses it (22009)
    async with delivering(dsn, store) as client:
        await subscribe(client, org, receiver.url)
        refused = Message(org, "wamid.refused", to_phone="+919800000103", sent_at=T0)
        with pytest.raises(PermanentError):
            await store.apply_batch(
                [refused], [StatusEvent(org, "wamid.refused", "delivered", T0.astimezone(far_east))]
            )
        await store.apply_batch([Message(org, "wamid.good", to_phone="+919800000103", sent_at=T0)], [])
        [good] = await receiver.wait_for(1)
        await until_state(client, org, "backlog", 0)
        await asyncio.sleep(0.3)
    assert good.doc["data"]["bsp_msg_id"] == "wamid.good" and len(receiver.requests) == 1
    assert await db.fetchval("select count(*) from bluetick_events where org_id = $1", org) == 1


async def test_an_event_held_back_by_an_older_open_transaction_is_delivered_first_once_it_commits(
    dsn: str, store: Store, db: asyncpg.Connection, org: uuid.UUID, receiver: Receiver, cleanup: list[uuid.UUID]
):
    cleanup.append(org)
    async with delivering(dsn, store) as client:
        await subscribe(client, org, receiver.url)
        early = Message(org, "wamid.early", to_phone="+919800000104", sent_at=T0)
        late = Message(org, "wamid.late", to_phone="+919800000104", sent_at=T0)
        open_tx = db.transaction()
        await open_tx.start()
        try:
            await db.fetchval("select bluetick_apply_batch($1::jsonb, $2::jsonb, $3::jsonb)", [early.to_json()], [], [])
            await store.apply_batch([late], [])  # commits first, with a later xid
            await asyncio.sleep(1.5)  # the deliverer runs meanwhile (polling backends too)
            assert receiver.requests == []  # held back behind the open transaction: not sent past it
        except BaseException:
            await open_tx.rollback()
            raise
        await open_tx.commit()
        accepted = await receiver.wait_for(2)
    assert [d.doc["data"]["bsp_msg_id"] for d in accepted] == ["wamid.early", "wamid.late"]


async def test_two_replicas_deliver_every_event_once(
    dsn: str, store: Store, db: asyncpg.Connection, receiver: Receiver, cleanup: list[uuid.UUID]
):
    orgs = [uuid.uuid4() for _ in range(4)]
    cleanup.extend(orgs)
    async with delivering(dsn, store) as one, delivering(dsn, store) as two:
        secrets = {}
        for n, org in enumerate(orgs):
            secrets[org] = (await subscribe(one if n % 2 else two, org, receiver.url))["secret"]
        await asyncio.gather(*(write_changes(store, org, 3) for org in orgs))
        expected = {org: await event_ids(db, org) for org in orgs}
        accepted = await receiver.wait_for(sum(map(len, expected.values())))
        await asyncio.sleep(0.5)  # a duplicate would come now
        assert len(receiver.requests) == len(accepted)
    for org in orgs:
        mine = [d for d in receiver.accepted if d.doc["data"]["org_id"] == str(org)]
        assert [d.event_id for d in mine] == expected[org]  # every event once, in order
        for delivery in mine:
            verified(delivery, secrets[org])


async def test_closing_the_service_with_a_delivery_in_flight_does_not_hang_and_gives_the_lease_back(
    dsn: str, store: Store, db: asyncpg.Connection, org: uuid.UUID, receiver: Receiver, cleanup: list[uuid.UUID]
):
    cleanup.append(org)
    receiver.default = "hang"
    async with delivering(dsn, store, webhook_timeout_s=30) as client:
        await subscribe(client, org, receiver.url, ["message.received"])
        inbound = Message(org, "wamid.held", Direction.INBOUND, "TEXT", from_phone="+919800000106", sent_at=T0)
        await store.apply_batch([inbound], [])
        await asyncio.wait_for(receiver.arrived.wait(), WAIT_S)
        leased = await db.fetchval("select lease_until > now() from webhook_subscriptions where org_id = $1", org)
        assert leased is True
        started = time.monotonic()
    assert time.monotonic() - started < 10  # the delivery in flight is cut short, not waited for (30 s)
    row = await db.fetchrow("select lease_until, cursor_id from webhook_subscriptions where org_id = $1", org)
    assert row["lease_until"] is None  # given back: a restart or another replica re-sends it at once
    assert row["cursor_id"] == 0  # not acknowledged, so not past it


async def test_the_deliverers_bookkeeping_alone_commits_without_waiting_for_the_disk(pg: asyncpg.Connection):
    """Claim, done, failed and release set synchronous_commit off for their own transaction (a crash of Postgres
    re-sends a batch at most; the events themselves are written durably by ingest), and ingest does not."""
    org = uuid.uuid4()
    made = await pg.fetchval(
        "select bluetick_subscription_create($1, 'http://127.0.0.1:9/hook', '{message.status}', 'whsec_eA==')", org
    )
    message = {"org_id": str(org), "bsp_msg_id": "wamid.sync", "to_phone": "+919800000001", "sent_at": T0.isoformat()}
    try:
        async with pg.transaction():
            await pg.fetchval("select bluetick_apply_batch($1::jsonb, '[]'::jsonb, null::jsonb)", [message])
            assert await pg.fetchval("show synchronous_commit") == "on"  # ingest stays durable
        async with pg.transaction():
            claim = await pg.fetchval("select bluetick_delivery_claim('1 minute', 1)")  # ours is due, at least
            assert claim is not None and "lease" in claim
            assert await pg.fetchval("show synchronous_commit") == "off"
        assert await pg.fetchval("show synchronous_commit") == "on"  # for its own transaction only
        calls = [
            ("select bluetick_delivery_done($1, $2, '1', 1)", (uuid.uuid4(), claim["lease"])),
            ("select bluetick_delivery_failed($1, $2, 'e', false, 1, '1 day')", (uuid.uuid4(), claim["lease"])),
            ("select bluetick_delivery_release($1, $2)", (uuid.UUID(claim["id"]), claim["lease"])),
        ]
        for query, args in calls:
            async with pg.transaction():
                await pg.fetchval(query, *args)
                assert await pg.fetchval("show synchronous_commit") == "off", query
            assert await pg.fetchval("show synchronous_commit") == "on"
    finally:
        await pg.execute("delete from webhook_subscriptions where id = $1", uuid.UUID(made["id"]))
