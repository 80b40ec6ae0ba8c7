"""One real Postgres (the embedded server) per test session; each test uses fresh org ids.

The behavioural tests (those using the `store`, `db` and `http` fixtures) run once per backend:
- `postgres`: asyncpg on the embedded server, as the embedded default and DATABASE_URL do;
- `postgres-pooled`: through a real PgBouncer in transaction mode, as behind Supabase's pooler (asyncpg's
  statement cache off); where pgbouncer is not installed, directly with the cache off;
- `supabase`: the official supabase client over HTTP to a PostgREST stand-in (tests/supabase_emulation.py)
  on a second database set up like a Supabase project (roles, auth.jwt(), row-level security).
"""

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

from bluetick.app import SERVICE, create_app
from bluetick.config import Settings
from bluetick.store import Store, embedded
from bluetick.store.migrations import migrate
from bluetick.store.postgres import PostgresStore
from bluetick.store.supabase import SupabaseStore
from tests import pgbouncer
from tests.supabase_emulation import SERVICE_KEY, PostgrestStandIn, emulate

# Copies of ../shared/payloads, so a clone runs alone; test_samples_match_shared keeps them equal.
PAYLOADS = Path(__file__).resolve().parent / "payloads"
SHARED_PAYLOADS = Path(__file__).resolve().parents[2] / "shared" / "payloads"


@pytest.fixture(scope="session")
def dsn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The embedded Postgres, started once, migrated twice (the second run must find nothing to apply)."""
    url = embedded.start(tmp_path_factory.mktemp("bluetick"))
    asyncio.run(migrate(url))
    assert asyncio.run(migrate(url)) == []
    yield url


@pytest.fixture(scope="session")
def supabase_dsn(dsn: str) -> str:
    """A second database set up like a new Supabase project, then migrated twice."""
    url = asyncio.run(emulate(dsn, "supabase_project"))
    asyncio.run(migrate(url))
    assert asyncio.run(migrate(url)) == []
    return url


@pytest.fixture(scope="session")
def bouncer(dsn: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[pgbouncer.Bouncer | None]:
    """PgBouncer in transaction mode for the session, or None where pgbouncer is not installed."""
    started = pgbouncer.start(dsn, tmp_path_factory.mktemp("pgbouncer"))
    yield started
    if started is not None:
        started.stop()


@pytest.fixture
def pooler_dsn(bouncer: pgbouncer.Bouncer | None) -> str | None:
    """A DSN through PgBouncer (started again if it died during an earlier test), or None without it."""
    if bouncer is None:
        return None
    assert bouncer.ensure(), "pgbouncer did not start again"
    return bouncer.url


@dataclasses.dataclass(frozen=True)
class Backend:
    name: str
    db_dsn: str  # where the backend's rows live
    store_dsn: str  # how the store reaches them


@pytest.fixture(params=["postgres", "postgres-pooled", "supabase"])
def backend(request: pytest.FixtureRequest, dsn: str) -> Backend:
    if request.param == "supabase":
        url = request.getfixturevalue("supabase_dsn")
        return Backend(request.param, url, url)
    if request.param == "postgres-pooled":
        return Backend(request.param, dsn, request.getfixturevalue("pooler_dsn") or dsn)
    return Backend(request.param, dsn, dsn)


@pytest.fixture
async def store(backend: Backend) -> AsyncIterator[Store]:
    if backend.name != "supabase":
        pg = await PostgresStore.connect(
            backend.store_dsn, pool_size=4, timeout_s=10, pooled=backend.name == "postgres-pooled"
        )
        yield pg
        await pg.close()
        return
    standin = PostgrestStandIn(backend.db_dsn)
    url = await standin.start()
    supa = await SupabaseStore.connect(url, SERVICE_KEY, timeout_s=10)
    yield supa
    await supa.close()
    await standin.close()


async def connect(dsn: str) -> asyncpg.Connection:
    conn = await asyncpg.connect(dsn)
    await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")
    return conn


@pytest.fixture
async def db(backend: Backend) -> AsyncIterator[asyncpg.Connection]:
    """A connection to the database the backend under test writes to."""
    conn = await connect(backend.db_dsn)
    yield conn
    await conn.close()


@pytest.fixture
async def pg(dsn: str) -> AsyncIterator[asyncpg.Connection]:
    """A connection to the embedded test database, for tests that drive Postgres directly."""
    conn = await connect(dsn)
    yield conn
    await conn.close()


@pytest.fixture
def org() -> uuid.UUID:
    return uuid.uuid4()


def make_settings(dsn: str, **overrides: Any) -> Settings:
    """Settings for a test service: unsigned webhooks and an open API unless a test says otherwise."""
    base = Settings(database_url=dsn, batch_interval_ms=1, allow_unsigned_webhooks=True, open_api=True)
    return dataclasses.replace(base, **overrides)


async def start_client(settings: Settings, store: Store) -> TestClient:
    """A running service; returns once its bootstrap has made it ready."""
    app = create_app(settings, store)
    client = TestClient(TestServer(app))
    await client.start_server()
    await asyncio.wait_for(app[SERVICE].ready.wait(), 30)
    return client


@pytest.fixture
async def http(dsn: str, store: Store) -> AsyncIterator[TestClient]:
    """The service in durable mode on the test database."""
    client = await start_client(make_settings(dsn), store)
    yield client
    await client.close()


def payload(name: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((PAYLOADS / name).read_text())
    return doc


async def fetch_row(db: asyncpg.Connection, org: uuid.UUID, bsp_msg_id: str) -> asyncpg.Record | None:
    return await db.fetchrow("select * from message_logs where org_id = $1 and bsp_msg_id = $2", org, bsp_msg_id)
