"""Migration 0019 (Supabase Realtime): the outbox joins a `supabase_realtime` publication where one exists, published
through its root, its writes (erasure's updates, expiry's deletes) still allowed; nothing happens on plain Postgres;
an `authenticated` user reads only the events of the organisation their JWT names, and no partition serves them
past that."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from bluetick.events import Message, StatusEvent
from bluetick.store.migrations import migrate
from bluetick.store.postgres import PostgresStore
from tests.integration.test_access import as_role
from tests.integration.test_migrations import new_database, schema_dump, sql_copy
from tests.supabase_emulation import emulate

PARTITIONS = "select inhrelid::regclass::text from pg_inherits where inhparent = 'bluetick_events'::regclass"


async def fetch(dsn: str, query: str, *args: Any) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(dsn)
    try:
        return list(await conn.fetch(query, *args))
    finally:
        await conn.close()


async def published(dsn: str) -> list[str]:
    rows = await fetch(
        dsn,
        "select schemaname || '.' || tablename as t from pg_publication_tables"
        " where pubname = 'supabase_realtime' order by 1",
    )
    return [r["t"] for r in rows]


async def replica_identities(dsn: str) -> dict[str, str]:
    rows = await fetch(
        dsn,
        f"select c.relname, c.relreplident from pg_class c where c.oid = 'bluetick_events'::regclass"
        f" or c.oid::regclass::text in ({PARTITIONS})",
    )
    return {r["relname"]: r["relreplident"].decode() for r in rows}


async def add_events(dsn: str, *orgs: uuid.UUID) -> None:
    """One event of each organisation, written as the service writes them (the table's owner)."""
    conn = await asyncpg.connect(dsn)
    try:
        for org in orgs:
            await conn.execute(
                "insert into bluetick_events (org_id, type, bsp_msg_id, data) values ($1, 'message.status', $2, $3)",
                org,
                f"wamid.{org}",
                json.dumps({"status": "read"}),
            )
    finally:
        await conn.close()


@pytest.fixture
async def realtime_project(dsn: str) -> AsyncIterator[str]:
    """A new Supabase-like project with its `supabase_realtime` publication, where the user already publishes a
    table of their own; migrated."""
    url = await emulate(dsn, f"realtime_{uuid.uuid4().hex[:8]}", realtime=True)
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("create table notes (id int primary key, body text)")
        await conn.execute("alter publication supabase_realtime add table notes")
    finally:
        await conn.close()
    await migrate(url)
    yield url


async def test_on_plain_postgres_0019_changes_nothing(dsn: str, tmp_path: Path):
    before = sql_copy(tmp_path)
    (before / "migrations" / "0019_realtime.sql").unlink()
    without, with_it = await new_database(dsn), await new_database(dsn)
    await migrate(without, sql=before)
    await migrate(with_it)
    assert await schema_dump(with_it) == await schema_dump(without)
    assert await fetch(with_it, "select * from pg_publication") == []


async def test_without_the_publication_nothing_is_published(dsn: str):
    url = await emulate(dsn, f"norealtime_{uuid.uuid4().hex[:8]}")
    await migrate(url)
    assert await fetch(url, "select * from pg_publication") == []
    assert set((await replica_identities(url)).values()) == {"d"}


async def test_with_the_publication_the_outbox_is_published_through_its_root(realtime_project: str):
    assert await published(realtime_project) == ["public.bluetick_events", "public.notes"]
    [pub] = await fetch(realtime_project, "select * from pg_publication where pubname = 'supabase_realtime'")
    assert pub["pubviaroot"] and pub["pubinsert"] and pub["pubupdate"] and pub["pubdelete"]
    identities = await replica_identities(realtime_project)
    assert "bluetick_events_default" in identities and set(identities.values()) == {"f"}
    assert await migrate(realtime_project) == []


async def test_a_published_outbox_still_takes_erasures_and_expiry(realtime_project: str):
    """Postgres refuses UPDATE and DELETE on a published table that cannot identify its rows: 0019 gives every
    partition REPLICA IDENTITY FULL, so erasure (an update) and the default partition's expiry (a delete) go on."""
    org = uuid.uuid4()
    await add_events(realtime_project, org)
    conn = await asyncpg.connect(realtime_project)
    try:
        assert await conn.execute("update bluetick_events set bsp_msg_id = null where org_id = $1", org) == "UPDATE 1"
        assert await conn.execute("delete from bluetick_events_default where org_id = $1", org) == "DELETE 1"
    finally:
        await conn.close()


async def test_a_partition_made_after_0019_takes_updates_and_deletes_too(realtime_project: str):
    conn = await asyncpg.connect(realtime_project)
    try:
        await conn.fetchval("select bluetick_events_maintain(interval '7 days')")
        assert len(await conn.fetch(PARTITIONS)) > 1
        await conn.execute("update bluetick_events set bsp_msg_id = null where org_id = $1", uuid.uuid4())
        await conn.execute("delete from bluetick_events where org_id = $1", uuid.uuid4())
    finally:
        await conn.close()


async def test_an_authenticated_user_reads_only_their_organisations_events(supabase_dsn: str):
    a, b = uuid.uuid4(), uuid.uuid4()
    await add_events(supabase_dsn, a, b)
    query = f"select distinct org_id from bluetick_events where org_id in ('{a}', '{b}')"
    as_a = await as_role(supabase_dsn, "authenticated", {"role": "authenticated", "org_id": str(a)}, query)
    assert [r["org_id"] for r in as_a] == [a]
    assert await as_role(supabase_dsn, "authenticated", {"role": "authenticated"}, query) == []
    service = await as_role(supabase_dsn, "service_role", {"role": "service_role"}, query)
    assert {r["org_id"] for r in service} == {a, b}
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await as_role(supabase_dsn, "anon", {"role": "anon"}, query)


@pytest.mark.parametrize("role", ["anon", "authenticated"])
async def test_no_partition_serves_events_past_the_policy(supabase_dsn: str, role: str):
    """Supabase's default privileges gave anon and authenticated every right on the default partition, which had no
    row-level security: 0019 takes them back, so the REST API cannot read any organisation's events through it."""
    a = uuid.uuid4()
    await add_events(supabase_dsn, a)
    await fetch(supabase_dsn, "select bluetick_events_maintain(interval '7 days')")
    claims = {"role": role, "org_id": str(a)}
    today = datetime.now(UTC).strftime("%Y%m%d")
    # the default partition and those bluetick_events_maintain makes (today on); test_events_expiry makes older days'
    # partitions by hand in the same database, as stand-ins, not as the service makes them
    made = [r[0] for r in await fetch(supabase_dsn, PARTITIONS) if not r[0][-8:].isdigit() or r[0][-8:] >= today]
    assert "bluetick_events_default" in made
    for partition in made:
        try:
            seen = await as_role(supabase_dsn, role, claims, f"select org_id from {partition}")
        except asyncpg.InsufficientPrivilegeError:
            continue
        assert seen == [], partition  # a partition made later: row-level security on, no policy
    rls = "select relrowsecurity from pg_class where relname = 'bluetick_events_default'"
    [default] = await fetch(supabase_dsn, rls)
    assert default["relrowsecurity"]


# --------------------------------------------------------------------- Broadcast from Database (functions/realtime.sql)

BROADCASTS = "select topic, extension, event, payload, private from realtime.messages order by payload ->> 'id'"


async def test_the_merges_events_are_broadcast_to_each_organisations_private_channel(realtime_project: str):
    """Events written by the merge itself (an organisation with the feed on) reach realtime.messages in the same
    transaction: one broadcast each, on `org:<org_id>:events`, named by the event's type, private, without the
    customer's phone or text. A rolled-back write broadcasts nothing; an organisation without events, nothing."""
    a, quiet = uuid.uuid4(), uuid.uuid4()
    conn = await asyncpg.connect(realtime_project)
    try:
        await conn.execute("insert into org_settings (org_id, events_feed) values ($1, true)", a)
    finally:
        await conn.close()
    store = await PostgresStore.connect(realtime_project, pool_size=1, timeout_s=None)
    try:
        sent = datetime(2024, 12, 4, 10, 0, tzinfo=UTC)
        for org in (a, quiet):
            await store.apply_batch(
                [Message(org_id=org, bsp_msg_id="wamid.rt1", to_phone="+919800000001", body="hello", sent_at=sent)],
                [StatusEvent(org_id=org, bsp_msg_id="wamid.rt1", status="delivered", ts=sent)],
            )
    finally:
        await store.close()
    rows = await fetch(realtime_project, BROADCASTS)
    events = await fetch(realtime_project, "select id, type from bluetick_events where org_id = $1 order by id", a)
    assert len(events) >= 1 and len(rows) == len(events)
    for row, event in zip(rows, events, strict=True):
        payload = json.loads(row["payload"])
        assert (row["topic"], row["extension"], row["event"], row["private"]) == (
            f"org:{a}:events",
            "broadcast",
            event["type"],
            True,
        )
        assert (payload["id"], payload["bsp_msg_id"], payload["data"]["status"]) == (
            event["id"],
            "wamid.rt1",
            "DELIVERED",
        )
        assert not {"customer_phone", "customer_user_id", "customer_parent_user_id", "body"} & set(payload["data"])

    conn = await asyncpg.connect(realtime_project)
    try:
        async with conn.transaction():
            await conn.execute(
                "insert into bluetick_events (org_id, type, bsp_msg_id, data) values ($1, 'message.status', 'x', '{}')",
                a,
            )
            assert await conn.fetchval("select count(*) from realtime.messages") == len(rows) + 1
            await conn.execute("select 1/0")  # the writer's transaction fails: its broadcast goes with it
    except asyncpg.DivisionByZeroError:
        pass
    finally:
        await conn.close()
    assert len(await fetch(realtime_project, BROADCASTS)) == len(rows)


async def test_a_user_may_join_only_their_organisations_channel(realtime_project: str):
    """What Realtime checks when a user joins a private channel: their select on realtime.messages with the channel's
    topic set (realtime.topic()) and their JWT's claims. Org A's user sees A's broadcasts on A's channel, nothing on
    B's; no org claim, nothing; anon has no right at all."""
    a, b = uuid.uuid4(), uuid.uuid4()
    await add_events(realtime_project, a, b)
    await add_events(realtime_project, a)

    async def seen(role: str, claims: dict[str, str], topic: str) -> list[str]:
        conn = await asyncpg.connect(realtime_project)
        try:
            async with conn.transaction():
                await conn.execute("select set_config('realtime.topic', $1, true)", topic)
                await conn.execute(f"set local role {role}")
                await conn.execute("select set_config('request.jwt.claims', $1, true)", json.dumps(claims))
                return [r["topic"] for r in await conn.fetch("select topic from realtime.messages")]
        finally:
            await conn.close()

    user_a = {"role": "authenticated", "org_id": str(a)}
    assert await seen("authenticated", user_a, f"org:{a}:events") == [f"org:{a}:events"] * 2
    assert await seen("authenticated", user_a, f"org:{b}:events") == []
    assert await seen("authenticated", {"role": "authenticated"}, f"org:{a}:events") == []
    assert await seen("authenticated", {"role": "authenticated", "org_id": str(b)}, f"org:{b}:events") == [
        f"org:{b}:events"
    ]
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await seen("anon", {"role": "anon", "org_id": str(a)}, f"org:{a}:events")


async def test_without_realtime_messages_there_is_no_broadcast_trigger(dsn: str):
    url = await emulate(dsn, f"nobroadcast_{uuid.uuid4().hex[:8]}")
    await migrate(url)
    triggers = "select tgname from pg_trigger where tgrelid = 'bluetick_events'::regclass and not tgisinternal"
    assert await fetch(url, triggers) == []
