"""Stored times are the BSP's event time in UTC, whatever the time zone of the process or database."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator

import asyncpg
import pytest

from bluetick.store.migrations import migrate
from bluetick.store.postgres import PostgresStore
from tests.conftest import make_settings, payload, start_client

MSG_ID = "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBJDQjZCMzlEQUE4OTJBMTE4RTUA"


@pytest.fixture
def process_tz() -> Iterator[None]:
    """The service process in India (UTC+05:30), as the seed's servers were."""
    before = os.environ.get("TZ")
    os.environ["TZ"] = "Asia/Kolkata"
    time.tzset()
    yield
    if before is None:
        del os.environ["TZ"]
    else:
        os.environ["TZ"] = before
    time.tzset()


@pytest.fixture
async def tz_dsn(dsn: str) -> str:
    """A database whose default time zone is New York, migrated like any other."""
    name = f"tz_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(dsn)
    await admin.execute(f'create database "{name}"')
    await admin.execute(f"alter database \"{name}\" set timezone to 'America/New_York'")
    await admin.close()
    other = dsn.replace("/postgres?", f"/{name}?")
    await migrate(other)
    return other


@pytest.mark.usefixtures("process_tz")
async def test_timestamps_are_utc_whatever_the_server_time_zones(tz_dsn: str, org: uuid.UUID):
    store = await PostgresStore.connect(tz_dsn, pool_size=2, timeout_s=10)
    client = await start_client(make_settings(tz_dsn), store)
    try:
        resp = await client.post(
            f"/v1/orgs/{org}/messages",
            json={"bsp_msg_id": MSG_ID, "to_phone": "+16505551234", "sent_at": "2025-06-18T21:52:50+05:30"},
        )
        assert resp.status == 200
        await client.post(f"/webhooks/{org}", json=payload("meta_status_delivered.json"))
        conn = await asyncpg.connect(tz_dsn)
        assert await conn.fetchval("show timezone") == "America/New_York"
        stored = await conn.fetchval(
            "select whatsapp_status::text from message_logs where org_id = $1 and bsp_msg_id = $2", org, MSG_ID
        )
        await conn.close()
    finally:
        await client.close()
        await store.close()
    assert stored == '{"sent": "2025-06-18T16:22:50Z", "delivered": "2025-06-18T16:22:53Z"}'
