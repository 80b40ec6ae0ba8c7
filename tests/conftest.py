"""One real Postgres (the embedded server) per test session; each test uses fresh org ids."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestClient, TestServer

from bluetick.app import READY, create_app
from bluetick.config import Settings
from bluetick.store import embedded
from bluetick.store.postgres import PostgresStore, migrate

# Copies of ../shared/payloads, so a clone runs alone; test_samples_match_shared keeps them equal.
PAYLOADS = Path(__file__).resolve().parent / "payloads"
SHARED_PAYLOADS = Path(__file__).resolve().parents[2] / "shared" / "payloads"


@pytest.fixture(scope="session")
def dsn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The embedded Postgres, started once, migrated twice (migrations must be rerunnable)."""
    url = embedded.start(tmp_path_factory.mktemp("bluetick"))
    asyncio.run(migrate(url))
    asyncio.run(migrate(url))
    yield url


@pytest.fixture
async def store(dsn: str) -> AsyncIterator[PostgresStore]:
    s = await PostgresStore.connect(dsn, pool_size=4, timeout_s=10)
    yield s
    await s.close()


@pytest.fixture
async def db(dsn: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(dsn)
    await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")
    yield conn
    await conn.close()


@pytest.fixture
def org() -> uuid.UUID:
    return uuid.uuid4()


def make_settings(dsn: str, **overrides: Any) -> Settings:
    """Settings for a test service: unsigned webhooks and an open API unless a test says otherwise."""
    base = Settings(database_url=dsn, batch_interval_ms=1, allow_unsigned_webhooks=True, open_api=True)
    return dataclasses.replace(base, **overrides)


async def start_client(settings: Settings, store: PostgresStore) -> TestClient:
    """A running service; returns once its bootstrap has made it ready."""
    app = create_app(settings, store)
    client = TestClient(TestServer(app))
    await client.start_server()
    await asyncio.wait_for(app[READY].wait(), 30)
    return client


@pytest.fixture
async def http(dsn: str, store: PostgresStore) -> AsyncIterator[TestClient]:
    """The service in durable mode on the test database."""
    client = await start_client(make_settings(dsn), store)
    yield client
    await client.close()


def payload(name: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((PAYLOADS / name).read_text())
    return doc


async def fetch_row(db: asyncpg.Connection, org: uuid.UUID, bsp_msg_id: str) -> asyncpg.Record | None:
    return await db.fetchrow(
        "select * from message_logs where org_id = $1 and bsp_msg_id = $2", org, bsp_msg_id
    )
