"""Customer data on real Postgres: erasure, export and retention keep the delivery facts and remove the rest."""

from __future__ import annotations

import asyncio
import json
import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from bluetick import cli
from bluetick.customers import Customer, forget, parse_customer
from bluetick.events import Direction, GroupReceipt, IdentityLink, Message, Preference, StatusEvent
from bluetick.inbox import KeptBody
from bluetick.retention import run_retention
from bluetick.store import Store
from bluetick.store.postgres import PostgresStore
from tests.conftest import make_settings, start_client

PHONE = "+919876543210"
USER = "IN.2081978709342942"
PARENT = "IN.ENT.5573018492661009"  # the customer's parent BSUID
FORMER_PHONE = "+919800012345"  # the number the customer had before (user_changed_number)
OTHER_PHONE = "+919811111111"
SECRET_TEXTS = ("my address is 12 Lake Road", "refund to card 4242", "order 881 confirmed for you")
NOW = datetime.now(UTC).replace(microsecond=0)
OLD = NOW - timedelta(days=60)
FAILED = "Error 131026: Message undeliverable"


def out(org: uuid.UUID, msg_id: str, phone: str | None, body: str, at: datetime, **extra: Any) -> Message:
    return Message(org, msg_id, Direction.OUTBOUND, "TEXT", to_phone=phone, from_phone="+15550001111", body=body,
                   sent_at=at, **extra)  # fmt: skip


def inbound(org: uuid.UUID, msg_id: str, phone: str | None, body: str, at: datetime, **extra: Any) -> Message:
    return Message(org, msg_id, Direction.INBOUND, "TEXT", to_phone="+15550001111", from_phone=phone, body=body,
                   sent_at=at, **extra)  # fmt: skip


def status(org: uuid.UUID, msg_id: str, name: str, at: datetime, user: str | None = None, **extra: Any) -> StatusEvent:
    return StatusEvent(org, msg_id, name, at, user_id=user, **extra)


async def seed_customer(store: Store, org: uuid.UUID, at: datetime) -> None:
    """The customer (PHONE, with USER and PARENT seen beside it, formerly FORMER_PHONE) in `org`, with another
    customer beside them: messages, statuses, a kept body, a marketing preference, a group receipt and the link
    from their former number."""
    messages = [
        out(
            org,
            "c1",
            PHONE,
            SECRET_TEXTS[0],
            at,
            metadata={"note": f"call {PHONE}"},
            customer_user_id=USER,
            customer_parent_user_id=PARENT,
        ),
        inbound(org, "c2", PHONE, SECRET_TEXTS[1], at + timedelta(minutes=1)),
        inbound(org, "c3", None, SECRET_TEXTS[2], at + timedelta(minutes=2), customer_user_id=USER),
        out(org, "c4", PHONE, "failed one", at + timedelta(minutes=3)),
        out(org, "o1", OTHER_PHONE, "for someone else", at + timedelta(minutes=4)),
    ]
    statuses = [
        status(org, "c1", "read", at + timedelta(minutes=5), USER),
        status(org, "c4", "failed", at + timedelta(minutes=6), failed_reason=FAILED),
        status(org, "o1", "delivered", at + timedelta(minutes=7)),
        status(org, "never-logged", "sent", at + timedelta(minutes=8), USER, parent_user_id=PARENT),
    ]
    body = json.dumps({"entry": [{"from": PHONE.removeprefix("+"), "text": SECRET_TEXTS[1]}]}).encode()
    kept = KeptBody(org, at, "application/json", "unknown", "unknown", None, body)
    other = KeptBody(org, at, "application/json", "unknown", "unknown", None, b'{"from": "919811111111"}')
    facts = [
        Preference(
            org,
            at,
            "stop",
            "marketing_messages",
            customer_phone=PHONE,
            customer_user_id=USER,
            detail="User requested to stop marketing messages",
        ),
        Preference(org, at, "stop", "marketing_messages", customer_phone=OTHER_PHONE),
        GroupReceipt(
            org,
            "g1",
            "read",
            at + timedelta(minutes=9),
            group_id="grp1",
            participant_phone=PHONE,
            participant_user_id=USER,
            participant_parent_user_id=PARENT,
        ),
        GroupReceipt(org, "g1", "read", at + timedelta(minutes=9), group_id="grp1", participant_phone=OTHER_PHONE),
        IdentityLink(org, "phone", FORMER_PHONE, PHONE, at - timedelta(days=1), bsp_msg_id="sys1"),
    ]
    await store.apply_batch(messages, statuses, [kept, other], facts=facts)


async def numbers(db: asyncpg.Connection, org: uuid.UUID) -> list[Any]:
    """What the analysts see of an organisation's whole history: the funnel, by kind, and the failures."""
    window = (org, NOW - timedelta(days=365), NOW + timedelta(days=1))
    found = []
    for query in (
        "select * from bluetick_funnel($1, $2, $3)",
        "select * from bluetick_funnel_by_kind($1, $2, $3)",
        "select * from bluetick_failures($1, $2, $3)",
        "select * from bluetick_failure_share($1, $2, $3)",
    ):
        found.append([dict(r) for r in await db.fetch(query, *window)])
    return found


async def traces(db: asyncpg.Connection, org: uuid.UUID, needles: list[str]) -> list[str]:
    """Every row of the organisation, in any table with an org_id, whose text, JSON or bytes hold a needle."""
    tables = await db.fetch(
        "select table_name from information_schema.columns"
        " where table_schema = 'public' and column_name = 'org_id' and table_name not in"
        " (select table_name from information_schema.views where table_schema = 'public')"
    )
    # to_jsonb writes bytea as hex: search the hex of each needle too
    patterns = [f"%{n}%" for n in needles] + [f"%{n.encode().hex()}%" for n in needles]
    found = []
    for (table,) in tables:
        hits = await db.fetch(
            f"select to_jsonb(t)::text as row from {table} t where t.org_id = $1 and to_jsonb(t)::text like any($2)",
            org,
            patterns,
        )
        found += [f"{table}: {h['row'][:200]}" for h in hits]
    return found


async def org_rows(db: asyncpg.Connection, org: uuid.UUID) -> list[str]:
    rows = await db.fetch("select to_jsonb(m)::text as row from message_logs m where org_id = $1 order by 1", org)
    return [r["row"] for r in rows]


NEEDLES = [PHONE.removeprefix("+"), USER, PARENT, FORMER_PHONE.removeprefix("+"), *SECRET_TEXTS, "failed one"]
FACT_TABLES = {"customer_preferences", "group_receipts", "customer_links"}


async def test_erasing_a_customer_leaves_no_trace_in_the_org_and_keeps_the_numbers(
    store: Store, db: asyncpg.Connection
):
    org, other_org = uuid.uuid4(), uuid.uuid4()
    await seed_customer(store, org, OLD)
    await seed_customer(store, other_org, OLD)
    before = await numbers(db, org)
    other_before = await org_rows(db, other_org)
    found = await traces(db, org, NEEDLES)
    assert {hit.split(":")[0] for hit in found} >= FACT_TABLES, "the search reaches the platform facts' tables"

    erasure = await forget(store, org, parse_customer("+91 98765-43210"), part_rows=3)  # two parts

    assert (erasure.rows, erasure.parked, erasure.inbox, erasure.recorded) == (4, 1, 1, True)
    assert (erasure.preferences, erasure.group_receipts, erasure.links) == (1, 1, 1)
    assert await traces(db, org, NEEDLES) == []
    assert await numbers(db, org) == before
    assert await org_rows(db, other_org) == other_before
    kept = await db.fetchrow("select body, to_phone from message_logs where org_id = $1 and bsp_msg_id = 'o1'", org)
    assert dict(kept) == {"body": "for someone else", "to_phone": OTHER_PHONE}
    parked = await db.fetchrow("select status, user_id from message_status_parked where org_id = $1", org)
    assert dict(parked) == {"status": "sent", "user_id": None}, "the parked status stays, without the BSUID"
    assert await db.fetchval("select count(*) from webhook_inbox where org_id = $1", org) == 1
    others = "select count(*) from {} where org_id = $1"
    assert await db.fetchval(others.format("customer_preferences"), org) == 1, "the other customer's stays"
    assert await db.fetchval(others.format("group_receipts"), org) == 1
    record = await db.fetchrow("select * from customer_erasures where org_id = $1", org)
    assert (record["customer_hash"], record["rows"], record["parked"], record["inbox"]) == (
        erasure.customer_hash, 4, 1, 1
    )  # fmt: skip
    assert PHONE.removeprefix("+") not in record["customer_hash"]

    again = await forget(store, org, Customer(phone=PHONE), part_rows=500)
    assert (again.rows, again.parked, again.inbox, again.recorded) == (0, 0, 0, False)
    assert again.customer_hash == erasure.customer_hash
    assert (again.preferences, again.group_receipts, again.links) == (0, 0, 0)
    assert await db.fetchval("select count(*) from customer_erasures where org_id = $1", org) == 1


async def test_a_status_for_an_erased_message_still_merges_without_bringing_the_bsuid_back(
    store: Store, db: asyncpg.Connection, org: uuid.UUID
):
    await store.apply_batch([out(org, "m1", PHONE, "hello", OLD, customer_user_id=USER)], [])
    await forget(store, org, Customer(user_id=USER), part_rows=500)
    await store.apply_batch([], [status(org, "m1", "read", OLD + timedelta(minutes=2), USER)])
    row = await db.fetchrow("select * from message_logs where org_id = $1 and bsp_msg_id = 'm1'", org)
    assert row["status"] == "READ" and "read" in row["whatsapp_status"]
    assert (row["customer_user_id"], row["to_phone"], row["body"]) == (None, None, None)
    assert row["erased_at"] is not None


async def test_an_erasure_in_parts_still_finds_the_bsuid_only_rows_after_the_row_linking_them(
    store: Store, db: asyncpg.Connection, org: uuid.UUID
):
    """The one row naming both the phone and the BSUID is the oldest; the BSUID-only row is the newest."""
    linking = out(org, "link", PHONE, "linking", OLD, customer_user_id=USER)
    by_phone = [out(org, f"p{i}", PHONE, f"phone {i}", OLD + timedelta(minutes=i + 1)) for i in range(3)]
    only_user = inbound(org, "u", None, "bsuid only", OLD + timedelta(minutes=9), customer_user_id=USER)
    await store.apply_batch([linking, *by_phone, only_user], [])

    erasure = await forget(store, org, Customer(phone=PHONE), part_rows=2)

    assert erasure.rows == 5
    assert await traces(db, org, [PHONE.removeprefix("+"), USER, "linking", "phone 0", "phone 2", "bsuid only"]) == []
    assert await db.fetchval("select rows from customer_erasures where id = $1", erasure.erasure_id) == 5


async def test_export_returns_every_row_of_the_customer_in_time_order(store: Store, org: uuid.UUID):
    other_org = uuid.uuid4()
    await seed_customer(store, org, OLD)
    await seed_customer(store, other_org, OLD)

    doc = await store.export_customer(org, parse_customer("91 98765 43210"))

    assert [m["bsp_msg_id"] for m in doc["messages"]] == ["c1", "c2", "c3", "c4"]
    assert {m["org_id"] for m in doc["messages"]} == {str(org)}
    assert doc["messages"][0]["body"] == SECRET_TEXTS[0] and doc["messages"][0]["whatsapp_status"]["read"]
    assert [p["bsp_msg_id"] for p in doc["parked"]] == ["never-logged"]
    assert len(doc["inbox"]) == 1
    assert [(c["customer"], c["preference"]) for c in doc["preferences"]] == [(PHONE, "stop")]
    assert [(g["bsp_msg_id"], g["participant"], g["participant_parent_user_id"]) for g in doc["group_receipts"]] == [
        ("g1", PHONE, PARENT)
    ]
    assert [(x["old_id"], x["new_id"]) for x in doc["links"]] == [(FORMER_PHONE, PHONE)]
    by_user = await store.export_customer(org, Customer(user_id=USER))
    assert [m["bsp_msg_id"] for m in by_user["messages"]] == ["c1", "c2", "c3", "c4"]
    nobody = await store.export_customer(org, Customer(phone="+14155550100"))
    assert nobody == {"messages": [], "parked": [], "inbox": [], "preferences": [], "group_receipts": [], "links": [],
                      "events": [], "tracked_links": []}  # fmt: skip


async def test_retention_erases_text_and_identifiers_past_the_period_and_keeps_the_numbers(
    store: Store, db: asyncpg.Connection, org: uuid.UUID
):
    keeping_org = uuid.uuid4()
    for o in (org, keeping_org):
        await seed_customer(store, o, OLD)
        await store.apply_batch(
            [out(o, "new", PHONE, "recent text", NOW - timedelta(days=1))],
            [status(o, "new", "delivered", NOW)],
        )  # fmt: skip
    await db.execute("insert into org_settings (org_id, retention_days) values ($1, 30)", org)
    before = await numbers(db, org)
    keeping_before = await org_rows(db, keeping_org)

    _, batches = await run_retention(store, None, batch=2, pause_s=0)
    assert batches == 3  # 5 old rows, 2 at a time

    assert await numbers(db, org) == before
    old_left = await db.fetchval(
        "select count(*) from message_logs where org_id = $1 and created_at < now() - interval '30 days'"
        " and (body is not null or to_phone is not null or from_phone is not null or customer_user_id is not null"
        "      or metadata <> '{}' or erased_at is null)",
        org,
    )
    assert old_left == 0
    assert await db.fetchval("select count(*) from webhook_inbox where org_id = $1", org) == 0
    assert await traces(db, org, list(SECRET_TEXTS)) == []
    recent = await db.fetchrow("select body, to_phone from message_logs where org_id = $1 and bsp_msg_id = 'new'", org)
    assert dict(recent) == {"body": "recent text", "to_phone": PHONE}
    assert await org_rows(db, keeping_org) == keeping_before, "an organisation with no retention keeps everything"
    assert await db.fetchval("select bluetick_retention_days($1, 90)", keeping_org) == 90
    assert await db.fetchval("select bluetick_retention_days($1, 90)", org) == 30


async def test_the_periodic_purge_runs_retention_and_counts_it_in_metrics(
    dsn: str, store: Store, db: asyncpg.Connection, org: uuid.UUID
):
    await seed_customer(store, org, OLD)
    await db.execute("insert into org_settings (org_id, retention_days) values ($1, 30)", org)
    settings = make_settings(dsn, purge_interval=timedelta(milliseconds=100))
    client = await start_client(settings, store)
    try:
        for _ in range(100):
            if not await db.fetchval("select count(*) from message_logs where org_id = $1 and erased_at is null", org):
                break
            await asyncio.sleep(0.1)
        text = await (await client.get("/metrics")).text()
    finally:
        await client.close()
    assert await db.fetchval("select count(*) from message_logs where org_id = $1 and erased_at is null", org) == 0
    counted = [line for line in text.splitlines() if line.startswith('bluetick_retention_total{table="message_logs"}')]
    assert counted and float(counted[0].split()[-1]) >= 5


async def test_the_customer_routes_erase_and_export_behind_the_token_and_refuse_bad_input(
    dsn: str, store: Store, db: asyncpg.Connection, org: uuid.UUID
):
    settings = make_settings(dsn, api_token="agent-token", open_api=False)
    client = await start_client(settings, store)
    auth = {"Authorization": "Bearer agent-token"}
    try:
        logged = await client.post(
            f"/v1/orgs/{org}/messages",
            json={"bsp_msg_id": "api1", "to_phone": "+91 98765 43210", "body": SECRET_TEXTS[0]},
            headers=auth,
        )
        assert logged.status == 200
        path = f"/v1/orgs/{org}/customers/%2B91%2098765-43210"
        assert (await client.get(path)).status == 401
        assert (await client.delete(path, headers={"Authorization": "Bearer wrong"})).status == 401
        bad = await client.delete(f"/v1/orgs/{org}/customers/hello", headers=auth)
        assert bad.status == 400 and "phone number" in (await bad.json())["error"]
        assert (await client.delete("/v1/orgs/not-a-uuid/customers/919876543210", headers=auth)).status == 404
        assert await db.fetchval("select body from message_logs where org_id = $1", org) == SECRET_TEXTS[0]

        exported = await client.get(path, headers=auth)
        assert exported.status == 200
        assert [m["body"] for m in (await exported.json())["messages"]] == [SECRET_TEXTS[0]]
        erased = await client.delete(f"/v1/orgs/{org}/customers/919876543210", headers=auth)
        assert erased.status == 200
        answer = await erased.json()
        assert (answer["rows"], answer["parked"], answer["inbox"], answer["recorded"]) == (1, 0, 0, True)
        assert await db.fetchval("select body from message_logs where org_id = $1", org) is None
        assert (await (await client.get(path, headers=auth)).json())["messages"] == []
    finally:
        await client.close()


def test_the_forget_and_export_commands_print_json_and_refuse_a_bad_customer(
    dsn: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    org = uuid.uuid4()

    async def seed() -> None:
        pg = await PostgresStore.connect(dsn, pool_size=1, timeout_s=10)
        await seed_customer(pg, org, OLD)
        await pg.close()

    asyncio.run(seed())
    monkeypatch.setenv("DATABASE_URL", dsn)
    assert cli.main(["export", "--org", str(org), "--customer", "+919876543210"]) == 0
    exported = json.loads(capsys.readouterr().out)
    assert [m["bsp_msg_id"] for m in exported["messages"]] == ["c1", "c2", "c3", "c4"]
    assert cli.main(["forget", "--org", str(org), "--customer", USER]) == 0
    assert json.loads(capsys.readouterr().out)["rows"] == 4
    with pytest.raises(SystemExit) as refused:
        cli.main(["forget", "--org", str(org), "--customer", "not-a-customer"])
    assert refused.value.code == 2
    assert "BSUID" in capsys.readouterr().err


async def test_erasure_while_webhooks_for_the_customer_keep_arriving_loses_no_status(
    dsn: str, pg: asyncpg.Connection, org: uuid.UUID
):
    """Two stores apply statuses (and log new messages) for the customer while a third erases them again and
    again: nothing deadlocks, every acknowledged status is merged, and rows logged after the erasure are kept."""
    ids = [f"w{i}" for i in range(150)]
    setup = await PostgresStore.connect(dsn, pool_size=2, timeout_s=30)
    await setup.apply_batch([out(org, i, PHONE, f"text {i}", OLD, customer_user_id=USER) for i in ids], [])
    late = [f"late{i}" for i in range(30)]  # their statuses come first and are parked
    stores = [await PostgresStore.connect(dsn, pool_size=2, timeout_s=30) for _ in range(2)]
    events = [status(org, i, name, OLD + timedelta(minutes=k + 1), USER)
              for i in ids + late for k, name in enumerate(("delivered", "read"))]  # fmt: skip
    random.Random(7).shuffle(events)
    acknowledged: list[StatusEvent] = []

    async def ingest(store: PostgresStore, share: list[StatusEvent]) -> None:
        for start in range(0, len(share), 15):
            part = sorted(share[start : start + 15], key=lambda e: e.bsp_msg_id, reverse=start % 2 == 0)
            await store.apply_batch([], part)
            acknowledged.extend(part)

    async def erase() -> int:
        erased = 0
        for _ in range(6):
            erased += (await forget(setup, org, Customer(phone=PHONE), part_rows=40)).rows
            await asyncio.sleep(0.01)
        return erased

    try:
        results = await asyncio.wait_for(
            asyncio.gather(ingest(stores[0], events[0::2]), ingest(stores[1], events[1::2]), erase()), 60
        )
        assert results[2] == len(ids)
        await stores[0].apply_batch([out(org, i, PHONE, f"late text {i}", OLD) for i in late], [])
    finally:
        for s in (setup, *stores):
            await s.close()

    assert len(acknowledged) == len(events)
    rows = {r["bsp_msg_id"]: r for r in await pg.fetch("select * from message_logs where org_id = $1", org)}
    for event in acknowledged:
        assert event.status in rows[event.bsp_msg_id]["whatsapp_status"], event
    assert all(rows[i]["to_phone"] is None and rows[i]["customer_user_id"] is None for i in ids)
    assert all(rows[i]["to_phone"] == PHONE and rows[i]["body"] == f"late text {i}" for i in late)
    assert await pg.fetchval("select count(*) from message_status_parked where org_id = $1", org) == 0
