"""Row-level security as Supabase applies it: each organisation reads only its own rows, only the service writes."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import asyncpg
import pytest

from bluetick.events import Message, StatusEvent
from bluetick.store.postgres import PostgresStore

AT = datetime(2024, 10, 3, 10, 30, tzinfo=UTC)


@pytest.fixture
async def two_orgs(supabase_dsn: str) -> AsyncIterator[tuple[uuid.UUID, uuid.UUID]]:
    """Messages of two organisations in the Supabase-like database, written by the service."""
    org_a, org_b = uuid.uuid4(), uuid.uuid4()
    store = await PostgresStore.connect(supabase_dsn, pool_size=2, timeout_s=10)
    for org in (org_a, org_b):
        await store.apply_batch(
            [Message(org, f"wamid.{org}", to_phone="+919876543210", sent_at=AT)],
            [StatusEvent(org, f"wamid.{org}", "read", AT), StatusEvent(org, "wamid.unlogged", "read", AT)],
        )
    await store.close()
    yield org_a, org_b


async def as_role(dsn: str, role: str, claims: dict[str, str], query: str) -> list[asyncpg.Record]:
    """Run `query` the way PostgREST runs a request: as `role`, with the JWT claims set."""
    conn = await asyncpg.connect(dsn)
    try:
        async with conn.transaction():
            await conn.execute(f"set local role {role}")
            await conn.execute("select set_config('request.jwt.claims', $1, true)", json.dumps(claims))
            return list(await conn.fetch(query))
    finally:
        await conn.close()


async def bluetick_views(dsn: str) -> list[str]:
    conn = await asyncpg.connect(dsn)
    try:
        return [
            r["viewname"]
            for r in await conn.fetch(
                "select viewname from pg_views v where schemaname = 'public' and exists (select 1 from"
                " information_schema.columns c where c.table_name = v.viewname and c.column_name = 'org_id')"
            )
        ]
    finally:
        await conn.close()


async def test_authenticated_user_sees_only_their_organisation(
    supabase_dsn: str, two_orgs: tuple[uuid.UUID, uuid.UUID]
):
    org_a, org_b = two_orgs
    claims = {"role": "authenticated", "org_id": str(org_a)}
    rows = await as_role(supabase_dsn, "authenticated", claims, "select distinct org_id from message_logs")
    assert [r["org_id"] for r in rows] == [org_a]
    service = await as_role(
        supabase_dsn, "service_role", {"role": "service_role"}, "select distinct org_id from message_logs"
    )
    assert {org_a, org_b} <= {r["org_id"] for r in service}
    for view in await bluetick_views(supabase_dsn):
        seen = await as_role(supabase_dsn, "authenticated", claims, f"select distinct org_id from {view}")
        assert {r["org_id"] for r in seen} <= {org_a}, view


async def test_every_view_obeys_the_callers_row_level_security(supabase_dsn: str):
    conn = await asyncpg.connect(supabase_dsn)
    try:
        options = await conn.fetch(
            "select c.relname, coalesce(c.reloptions, '{}') as opts from pg_class c"
            " join pg_namespace n on n.oid = c.relnamespace where n.nspname = 'public' and c.relkind = 'v'"
        )
    finally:
        await conn.close()
    assert all("security_invoker=true" in r["opts"] for r in options), options


@pytest.mark.parametrize(
    "table", ["message_logs", "message_status_parked", "webhook_receipts", "org_secrets", "webhook_inbox"]
)
async def test_anon_sees_nothing(supabase_dsn: str, two_orgs: tuple[uuid.UUID, uuid.UUID], table: str):
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await as_role(supabase_dsn, "anon", {"role": "anon"}, f"select * from {table}")


@pytest.mark.parametrize("table", ["message_status_parked", "webhook_receipts", "org_secrets", "webhook_inbox"])
async def test_authenticated_users_cannot_read_service_tables(
    supabase_dsn: str, two_orgs: tuple[uuid.UUID, uuid.UUID], table: str
):
    org_a, _ = two_orgs
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await as_role(supabase_dsn, "authenticated", {"org_id": str(org_a)}, f"select * from {table}")


@pytest.mark.parametrize("role", ["anon", "authenticated"])
async def test_only_the_service_may_write(supabase_dsn: str, two_orgs: tuple[uuid.UUID, uuid.UUID], role: str):
    org_a, _ = two_orgs
    for statement in (
        "select bluetick_apply_batch('[]', '[]')",
        "select bluetick_apply_batch('[]', '[]', '[]')",
        "select bluetick_inbox_kept(null, null, 0, 10)",
        "select bluetick_org_secrets()",
        f"insert into message_logs (org_id, bsp_msg_id) values ('{org_a}', 'wamid.forged')",
    ):
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await as_role(supabase_dsn, role, {"org_id": str(org_a)}, statement)
    rows = await as_role(supabase_dsn, "service_role", {"role": "service_role"}, "select bluetick_org_secrets()")
    assert rows
