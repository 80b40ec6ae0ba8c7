"""The outbox's expiry (issue 24, item 6: EVENTS_TTL): bluetick_events_maintain drops a day's partition whole once
the day is older than the TTL, deletes the default partition's rows that old, keeps the fresh ones and makes the
partitions of today and the next two days; the service runs it as soon as the database is ready and in each purge
round."""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import UTC, date, datetime, time, timedelta

import asyncpg
import pytest

from bluetick.service import Service
from bluetick.store import Store
from bluetick.store.postgres import PostgresStore
from tests.conftest import make_settings

TTL = timedelta(days=3)


def partition(day: date) -> str:
    return f"bluetick_events_{day:%Y%m%d}"


async def make_partition(db: asyncpg.Connection, day: date) -> None:
    start, end = datetime.combine(day, time(), UTC), datetime.combine(day + timedelta(days=1), time(), UTC)
    await db.execute(
        f"create table {partition(day)} partition of bluetick_events for values from ('{start.isoformat()}')"
        f" to ('{end.isoformat()}')"
    )


async def exists(db: asyncpg.Connection, table: str) -> bool:
    found: bool = await db.fetchval("select to_regclass('public.' || $1) is not null", table)
    return found


async def add_events(db: asyncpg.Connection, org: uuid.UUID, at: datetime, count: int, tag: str) -> None:
    await db.execute(
        "insert into bluetick_events (org_id, created_at, type, bsp_msg_id, data)"
        " select $1, $2, 'message.status', $3 || '-' || i, jsonb_build_object('status', 'SENT')"
        " from generate_series(1, $4) i",
        org,
        at,
        tag,
        count,
    )


async def tags(db: asyncpg.Connection, org: uuid.UUID) -> dict[str, int]:
    rows = await db.fetch(
        "select split_part(bsp_msg_id, '-', 1) as tag, count(*) as n from bluetick_events where org_id = $1"
        " group by 1 order by 1",
        org,
    )
    return {r["tag"]: r["n"] for r in rows}


async def test_maintain_drops_old_days_whole_deletes_old_default_rows_and_keeps_the_fresh(
    store: Store, db: asyncpg.Connection, org: uuid.UUID
):
    now = datetime.now(UTC)
    today = now.date()
    old_day, unpartitioned_day = today - timedelta(days=12), today - timedelta(days=11)
    await make_partition(db, old_day)
    assert not await exists(db, partition(unpartitioned_day))
    await add_events(db, org, datetime.combine(old_day, time(12), UTC), 3, "old")  # its own partition
    await add_events(db, org, datetime.combine(unpartitioned_day, time(12), UTC), 2, "olddefault")  # the default
    await add_events(db, org, now - TTL + timedelta(hours=1), 2, "edge")  # within the TTL, by an hour
    await add_events(db, org, now - timedelta(days=1), 1, "yesterday")
    await add_events(db, org, now, 1, "fresh")
    assert await db.fetchval(
        "select count(*) from bluetick_events_default where org_id = $1 and bsp_msg_id like 'olddefault-%'", org
    ) == 2  # fmt: skip

    done = await store.events_maintain(TTL)

    assert done["dropped"] >= 1 and done["deleted"] >= 2
    assert not await exists(db, partition(old_day)), "the old day's partition is dropped whole"
    assert await tags(db, org) == {"edge": 2, "fresh": 1, "yesterday": 1}
    for ahead in (1, 2):
        assert await exists(db, partition(today + timedelta(days=ahead)))
    today_in_default = await db.fetchval(
        "select exists (select 1 from bluetick_events_default where created_at >= $1 and created_at < $2)",
        datetime.combine(today, time(), UTC),
        datetime.combine(today + timedelta(days=1), time(), UTC),
    )
    assert await exists(db, partition(today)) or today_in_default, "today has its partition, unless rows wait"

    again = await store.events_maintain(TTL)

    assert again == {"created": 0, "dropped": 0, "deleted": 0}, "running it twice changes nothing"
    assert await tags(db, org) == {"edge": 2, "fresh": 1, "yesterday": 1}


async def test_a_day_within_the_ttl_keeps_its_partition(store: Store, db: asyncpg.Connection, org: uuid.UUID):
    """A day's partition goes only once the whole day is older than the TTL: its first rows are past it."""
    ttl = timedelta(days=5)  # a day no other test here writes to
    day = datetime.now(UTC).date() - ttl  # began more than the TTL ago, ended less
    if not await exists(db, partition(day)):
        await make_partition(db, day)
    await add_events(db, org, datetime.combine(day, time(0, 30), UTC), 1, "kept")

    await store.events_maintain(ttl)

    assert await exists(db, partition(day)) and await tags(db, org) == {"kept": 1}


async def test_the_service_expires_events_as_soon_as_the_database_is_ready(
    dsn: str, pg: asyncpg.Connection, org: uuid.UUID, caplog: pytest.LogCaptureFixture
):
    caplog.set_level(logging.INFO, "bluetick.service")
    day = datetime.now(UTC).date() - timedelta(days=20)
    await make_partition(pg, day)
    await add_events(pg, org, datetime.combine(day, time(8), UTC), 5, "ancient")
    store = await PostgresStore.connect(dsn, pool_size=2, timeout_s=10)
    try:
        async with Service(make_settings(dsn, events_ttl=TTL), store) as service:
            await asyncio.wait_for(service.ready.wait(), 30)
            for _ in range(100):
                if not await exists(pg, partition(day)):
                    break
                await asyncio.sleep(0.1)
            assert not await exists(pg, partition(day)), "dropped at start-up, not an hour later"
            assert await tags(pg, org) == {}
            assert "events expiry" in caplog.text and "partitions_dropped=" in caplog.text
            assert await service.expire_events() == {"created": 0, "dropped": 0, "deleted": 0}
    finally:
        await store.close()
