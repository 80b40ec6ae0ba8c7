"""The real Supabase CLI: `supabase db push` of 934dae0's layout, then of this one, leaves a fresh install's schema.

Debian's Postgres 15 with two databases set up like Supabase projects (tests/supabase_emulation.py); the CLI
pinned by .ci/run (tests/supabase_cli.py). Skips, saying what is missing, where either is not installed.
"""

from __future__ import annotations

import asyncio
import difflib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from bluetick.store.migrations import migrate, write_supabase_layout
from tests import supabase_cli
from tests.supabase_emulation import emulate

ORG = "6f1c1f0e-0000-4000-8000-0000000000c1"


@pytest.fixture(scope="module")
def server() -> Iterator[supabase_cli.Server]:
    reason = supabase_cli.missing()
    if reason is not None:
        pytest.skip(reason)
    with supabase_cli.postgres15() as running:
        yield running


async def _fetch(url: str, query: str, *args: Any) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(url)
    try:
        return list(await conn.fetch(query, *args))
    finally:
        await conn.close()


def fetch(url: str, query: str, *args: Any) -> list[tuple[Any, ...]]:
    return [tuple(row) for row in asyncio.run(_fetch(url, query, *args))]


def pushed_versions(url: str) -> list[str]:
    """The versions the CLI recorded as applied, in order."""
    return [v for (v,) in fetch(url, "select version from supabase_migrations.schema_migrations order by version")]


def versions(folder: Path) -> list[str]:
    return sorted(path.name.partition("_")[0] for path in folder.glob("*.sql"))


def recorded(url: str) -> list[tuple[Any, ...]]:
    return fetch(url, "select name, version, checksum from bluetick_migrations order by name")


def assert_same_schema(pushed: str, fresh: str) -> None:
    if pushed != fresh:
        diff = difflib.unified_diff(
            fresh.splitlines(),
            pushed.splitlines(),
            "fresh install (bluetick migrate)",
            "pushed by supabase",
            lineterm="",
        )
        pytest.fail("the pushed schema differs from a fresh install's:\n" + "\n".join(diff), pytrace=False)


def test_pushing_934dae0s_layout_then_this_ones_with_the_cli_equals_a_fresh_migrate(
    server: supabase_cli.Server, tmp_path: Path
) -> None:
    # both with the `supabase_realtime` publication every Supabase project has, which 0019 joins the outbox to
    pushed = asyncio.run(emulate(server.url(), "pushed", realtime=True))
    fresh = asyncio.run(emulate(server.url(), "fresh", realtime=True))
    project = tmp_path / "project"
    folder = project / "supabase" / "migrations"

    # 934dae0's layout, as projects pushed it: 0001-0013 and analytics 0100-0108, 0110.
    old = supabase_cli.layout_934dae0(folder)
    assert len(old) == 23
    printed = supabase_cli.push(project, pushed)
    assert pushed_versions(pushed) == versions(folder), printed
    # a message and its read status, written through that release's batch function
    messages = [
        {"org_id": ORG, "bsp_msg_id": "wamid.cli1", "direction": "OUTBOUND", "msg_kind": "text",
         "to_phone": "+919800000001", "body": "Your order shipped", "sent_at": "2026-11-20T10:00:00+00:00"},
    ]  # fmt: skip
    statuses = [{"org_id": ORG, "bsp_msg_id": "wamid.cli1", "status": "read", "ts": "2026-11-20T10:05:00+00:00"}]
    fetch(pushed, "select bluetick_apply_batch($1::jsonb, $2::jsonb, '[]'::jsonb)", json.dumps(messages), "[]")
    fetch(pushed, "select bluetick_apply_batch('[]'::jsonb, $1::jsonb, '[]'::jsonb)", json.dumps(statuses))

    # this release's layout, written over the same folder, pushed again
    written = write_supabase_layout(folder)
    new = sorted(set(versions(folder)) - {p.name.partition("_")[0] for p in old})
    assert new, f"the layout added no version to 934dae0's folder (wrote {[p.name for p in written]})"
    printed = supabase_cli.push(project, pushed)
    assert pushed_versions(pushed) == versions(folder), printed
    assert all(f"Applying migration {v}_" in printed for v in new), printed

    # a new project gets the same schema from `bluetick migrate`
    asyncio.run(migrate(fresh))
    dump = supabase_cli.schema_dump(pushed)
    assert_same_schema(dump, supabase_cli.schema_dump(fresh))
    assert recorded(pushed) == recorded(fresh), "the layout records every file as `bluetick migrate` does"
    realtime = "select tablename from pg_publication_tables where pubname = 'supabase_realtime'"
    assert fetch(pushed, realtime) == [("bluetick_events",)], "0019 publishes the outbox through its root"

    # `bluetick migrate` on the pushed project finds nothing to apply and changes nothing
    assert asyncio.run(migrate(pushed)) == []
    assert supabase_cli.schema_dump(pushed) == dump

    # the row written before the upgrade is there, merged, and the new functions keep merging into it
    delivered = [{"org_id": ORG, "bsp_msg_id": "wamid.cli1", "status": "delivered", "ts": "2026-11-20T10:01:00+00:00"}]
    fetch(pushed, "select bluetick_apply_batch('[]'::jsonb, $1::jsonb, '[]'::jsonb)", json.dumps(delivered))
    [(status, stages)] = fetch(
        pushed, "select status, whatsapp_status from message_logs where bsp_msg_id = 'wamid.cli1'"
    )
    assert status == "READ", status
    assert set(json.loads(stages)) >= {"delivered", "read"}, stages

    # the layout written again with nothing changed adds nothing, and the CLI finds nothing to push
    assert write_supabase_layout(folder) == []
    assert "Remote database is up to date" in supabase_cli.push(project, pushed)
