"""Versioned migrations: an installed database upgrades in place, each file is applied once, failures leave nothing."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sys
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from bluetick.store import SQL, embedded
from bluetick.store.migrations import (
    MIGRATION_LOCK,
    MigrationError,
    migrate,
    migration_files,
    schema_version,
    sql_files,
    write_supabase_layout,
)
from tests.supabase_emulation import emulate

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures"
DATA_TABLES = ("message_logs", "message_status_parked", "webhook_receipts", "org_secrets")
ORG_A, ORG_B = uuid.UUID("6f1c1f0e-0000-4000-8000-00000000000a"), uuid.UUID("6f1c1f0e-0000-4000-8000-00000000000b")
EVERY_FILE = [f.name for f in sql_files()]


async def new_database(dsn: str) -> str:
    """An empty database on the embedded server."""
    name = f"mig_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(dsn)
    try:
        await admin.execute(f'create database "{name}"')
    finally:
        await admin.close()
    return dsn.replace("/postgres?", f"/{name}?")


async def sql(url: str, query: str, *args: Any) -> Any:
    conn = await asyncpg.connect(url)
    try:
        return await conn.fetchval(query, *args)
    finally:
        await conn.close()


async def schema_dump(url: str) -> str:
    """`pg_dump --schema-only`, without the per-run random key of its \\restrict lines."""
    pg_dump = embedded.psql_path().parent / "pg_dump"
    proc = await asyncio.create_subprocess_exec(
        str(pg_dump), "--schema-only", "--dbname", url, stdout=asyncio.subprocess.PIPE
    )
    out, _ = await proc.communicate()
    assert proc.returncode == 0
    lines = out.decode().splitlines()
    return "\n".join(line for line in lines if not line.startswith(("\\restrict", "\\unrestrict")))


async def rows(url: str) -> dict[str, Any]:
    """Every row of bluetick's data tables, in a stable order."""
    return {
        table: json.loads(
            await sql(url, f"select coalesce(jsonb_agg(t order by to_jsonb(t)::text), '[]') from {table} t")
        )
        for table in DATA_TABLES
    }


def kept(after: dict[str, Any], before: dict[str, Any]) -> dict[str, Any]:
    """`after` reduced to the columns each table had in `before`, after checking every added column is NULL."""
    result = {}
    for table, old_rows in before.items():
        columns = set(old_rows[0]) if old_rows else set()
        for row in after[table]:
            assert all(row[c] is None for c in set(row) - columns), f"{table}: an added column is not NULL"
        projected = [{c: row[c] for c in columns} for row in after[table]]
        result[table] = sorted(projected, key=lambda r: json.dumps(r, sort_keys=True))
    return result


async def recorded(url: str) -> list[tuple[str, int | None, str]]:
    records = await sql(
        url, "select jsonb_agg(jsonb_build_array(name, version, checksum) order by name) from bluetick_migrations"
    )
    return [tuple(r) for r in json.loads(records)]


async def installed_at_1f72b10(dsn: str) -> str:
    """A database installed by commit 1f72b10's migrate(), holding rows written through that version's SQL."""
    url = await new_database(dsn)
    messages = [
        {"org_id": str(ORG_A), "bsp_msg_id": "wamid.out1", "direction": "OUTBOUND", "msg_kind": "text",
         "to_phone": "+919800000001", "body": "Your order shipped", "sent_at": "2026-11-20T10:00:00+00:00",
         "metadata": {"agent": "a1"}},
        {"org_id": str(ORG_A), "bsp_msg_id": "wamid.in1", "direction": "INBOUND", "msg_kind": "text",
         "from_phone": "+919800000001", "body": "Where is it?", "sent_at": "2026-11-20T09:58:00+00:00"},
        {"org_id": str(ORG_B), "bsp_msg_id": "wamid.out1", "direction": "OUTBOUND", "msg_kind": "template",
         "to_phone": "+14155550100", "sent_at": "2026-11-20T11:00:00+00:00", "receipt_id": "r-log"},
    ]  # fmt: skip
    statuses = [
        {"org_id": str(ORG_A), "bsp_msg_id": "wamid.out1", "status": "read", "ts": "2026-11-20T10:05:00+00:00"},
        {"org_id": str(ORG_B), "bsp_msg_id": "wamid.out1", "status": "failed", "ts": "2026-11-20T11:00:05+00:00",
         "failed_reason": "Error 131026: Message undeliverable", "receipt_id": "r-1"},
        {"org_id": str(ORG_A), "bsp_msg_id": "wamid.later", "status": "delivered", "ts": "2026-11-20T12:00:00+00:00"},
    ]  # fmt: skip
    conn = await asyncpg.connect(url)
    try:
        await conn.execute((FIXTURES / "schema_1f72b10.sql").read_text())
        await conn.fetchval("select bluetick_apply_batch($1::jsonb, $2::jsonb)", json.dumps(messages), "[]")
        await conn.fetchval("select bluetick_apply_batch($1::jsonb, $2::jsonb)", "[]", json.dumps(statuses))
        await conn.execute(
            "insert into org_secrets (org_id, api_token, url_token) values ($1, 'tok-a', 'url-a')", ORG_A
        )
    finally:
        await conn.close()
    return url


SQL_934DAE0 = FIXTURES / "sql_934dae0"  # the package's sql/ at 934dae0, the last release with bodies in migrations


async def installed_at_934dae0(dsn: str) -> str:
    """A database installed by 934dae0's SQL files, holding rows written through that version's functions: logged
    messages, merged and parked statuses, a kept inbox body, an erased customer and the report's marks."""
    url = await new_database(dsn)
    assert await migrate(url, sql=SQL_934DAE0) == [
        f"{f.parent.name}/{f.name}"
        for d in ("migrations", "analytics")
        for f in sorted((SQL_934DAE0 / d).glob("*.sql"))
    ]
    messages = [
        {"org_id": str(ORG_A), "bsp_msg_id": "wamid.out1", "direction": "OUTBOUND", "msg_kind": "text",
         "to_phone": "+919800000001", "body": "Your order shipped", "sent_at": "2026-11-20T10:00:00+00:00"},
        {"org_id": str(ORG_A), "bsp_msg_id": "wamid.in1", "direction": "INBOUND", "msg_kind": "text",
         "from_phone": "+919800000002", "body": "Where is it?", "sent_at": "2026-11-20T09:58:00+00:00"},
    ]  # fmt: skip
    statuses = [
        {"org_id": str(ORG_A), "bsp_msg_id": "wamid.out1", "status": "read", "ts": "2026-11-20T10:05:00+00:00"},
        {"org_id": str(ORG_B), "bsp_msg_id": "wamid.later", "status": "delivered", "ts": "2026-11-20T12:00:00+00:00",
         "receipt_id": "r-1"},
    ]  # fmt: skip
    kept = [
        {"org_id": str(ORG_B), "received_at": "2026-11-20T12:00:01+00:00", "content_type": "application/json",
         "format": "unknown", "reason": "unknown", "detail": None, "body": "eyJhIjogMX0="},
    ]  # fmt: skip
    conn = await asyncpg.connect(url)
    try:
        apply = "select bluetick_apply_batch($1::jsonb, $2::jsonb, $3::jsonb)"
        await conn.fetchval(apply, json.dumps(messages), json.dumps(statuses), json.dumps(kept))
        await conn.fetchval("select bluetick_forget_customer($1, '+919800000002', null, 100, null)", ORG_A)
        await conn.execute("insert into org_secrets (org_id, api_token) values ($1, 'tok-a')", ORG_A)
    finally:
        await conn.close()
    return url


async def test_a_database_installed_by_934dae0_upgrades_to_a_fresh_install_keeping_every_row(dsn: str):
    old = await installed_at_934dae0(dsn)
    before = await rows(old)
    assert len(before["message_logs"]) == 2 and len(before["message_status_parked"]) == 1
    erased = await sql(old, "select count(*) from message_logs where erased_at is not null")
    inbox = await sql(old, "select count(*) from webhook_inbox")

    applied = await migrate(old)
    since = [f.name for f in sql_files() if f.version is not None and f.version > 13]
    assert since == [
        "migrations/0014_platform_facts.sql",
        "migrations/0015_events.sql",
        "migrations/0016_campaigns.sql",
        "migrations/0017_tracked_links.sql",
        "migrations/0018_campaign_rollups.sql",
        "migrations/0019_realtime.sql",
        "migrations/0020_campaign_blocks.sql",
        "migrations/0021_status_labels.sql",
    ]
    assert applied == since + [f.name for f in sql_files() if f.version is None], "the new migrations, every function"
    fresh = await new_database(dsn)
    await migrate(fresh)

    assert kept(await rows(old), before) == kept(before, before)  # the columns added since are NULL
    assert await sql(old, "select count(*) from message_logs where erased_at is not null") == erased == 1
    assert await sql(old, "select count(*) from webhook_inbox") == inbox == 1
    assert await schema_dump(old) == await schema_dump(fresh)
    assert await recorded(old) == await recorded(fresh)
    assert await migrate(old) == []


async def test_0018_on_a_live_database_notes_the_hours_of_the_campaign_messages_already_logged(dsn: str):
    """A database with campaign messages and no campaign rollups (as before 0018) gets the tables, and the hours of
    those messages are noted, so the next refresh computes them and the funnel reads them."""
    url = await new_database(dsn)
    await migrate(url)
    org = uuid.uuid4()
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(
            """insert into message_logs (org_id, bsp_msg_id, direction, to_phone, whatsapp_status, created_at,
                                         campaign_id, template_name, template_language)
               select $1, 'wamid.c' || n, 'OUTBOUND', '+919800000001',
                      jsonb_build_object('sent', '2024-11-05T10:00:00Z', 'read', '2024-11-05T10:00:0' || n || 'Z'),
                      '2024-11-05 10:00:00+00'::timestamptz + make_interval(hours => n), 'diwali', 'promo', 'en'
               from generate_series(1, 3) n""",
            org,
        )
        # the database before 0018 (so before 0019 too, which changes nothing on plain Postgres): no campaign
        # rollups, none of its notes
        await conn.execute("drop table report_campaigns, report_campaign_reads, report_campaign_errors")
        await conn.execute("delete from bluetick_migrations where version >= 18")
        await conn.execute("delete from report_dirty")
    finally:
        await conn.close()
    applied = await migrate(url)
    assert [name for name in applied if name.startswith("migrations/")] == [
        "migrations/0018_campaign_rollups.sql",
        "migrations/0019_realtime.sql",
        "migrations/0020_campaign_blocks.sql",
        "migrations/0021_status_labels.sql",
    ]
    noted = await sql(url, "select count(*) from report_dirty where org_id = $1", org)
    assert noted == 3
    await sql(url, "select bluetick_report_refresh($1)", org)
    assert await sql(url, "select sum(outbound) from report_campaigns where org_id = $1", org) == 3
    funnel = await sql(
        url, "select row(outbound, read, median_seconds_sent_to_read)::text from bluetick_campaign_funnel($1, "
        "'2024-11-05', '2024-11-06')", org,
    )  # fmt: skip
    assert funnel == "(3,3,2.0)"


async def test_0020_on_a_live_database_fills_the_blocks_from_the_next_refresh(dsn: str):
    """A database with hourly campaign rollups and no blocks (as before 0020) gets the block tables; the new
    definition of the rollups' function notes every hour, so the next refresh fills the blocks, and the funnel, which
    reads them, gives the messages' numbers."""
    url = await new_database(dsn)
    await migrate(url)
    org = uuid.uuid4()
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(
            """insert into message_logs (org_id, bsp_msg_id, direction, to_phone, whatsapp_status, created_at,
                                         campaign_id, template_name, template_language)
               select $1, 'wamid.c' || n, 'OUTBOUND', '+919800000001',
                      jsonb_build_object('sent', '2024-11-05T10:00:00Z', 'read', '2024-11-05T10:00:' || 10 + n || 'Z'),
                      '2024-11-05 10:00:00+00'::timestamptz + make_interval(hours => 5 * n), 'diwali', 'promo', 'en'
               from generate_series(1, 9) n""",
            org,
        )
        await conn.execute("select bluetick_report_refresh($1)", org)
        # the database before 0020: hourly rollups up to date, no blocks, the rollups' function as it was
        await conn.execute(
            "drop table report_campaign_blocks, report_campaign_block_reads, report_campaign_block_errors"
        )
        await conn.execute(
            "drop index report_campaign_reads_org_group_seconds_idx, report_campaign_reads_org_day_hour_idx"
        )
        await conn.execute("create index report_campaign_reads_org_day_idx on report_campaign_reads (org_id, day)")
        await conn.execute("delete from bluetick_migrations where version >= 20")
        await conn.execute("update report_definitions set hash = 'before 0020'")
        assert await conn.fetchval("select count(*) from report_dirty where org_id = $1", org) == 0
    finally:
        await conn.close()
    applied = await migrate(url)
    assert [name for name in applied if name.startswith("migrations/")] == [
        "migrations/0020_campaign_blocks.sql",
        "migrations/0021_status_labels.sql",
    ]
    assert await sql(url, "select count(*) from report_dirty where org_id = $1", org) == 9
    await sql(url, "select bluetick_report_refresh($1)", org)
    assert await sql(url, "select count(*) from report_campaign_blocks where org_id = $1 and level = 12", org) == 1
    funnel = await sql(
        url, "select row(outbound, read, median_seconds_sent_to_read)::text from bluetick_campaign_funnel($1, "
        "'2024-11-01', '2024-12-01')", org,
    )  # fmt: skip
    assert funnel == "(9,9,15.0)"  # reads 11 s to 19 s after sent
    fresh = await new_database(dsn)
    await migrate(fresh)
    assert await schema_dump(url) == await schema_dump(fresh)


async def push_layout(url: str, folder: Path, done: set[str]) -> None:
    """What `supabase db push` does with a layout: each file not pushed yet, in version order, in a transaction."""
    conn = await asyncpg.connect(url)
    try:
        for name, text in layout_files(folder):
            if name not in done:
                async with conn.transaction():
                    await conn.execute(text)
                done.add(name)
    finally:
        await conn.close()


def layout_files(folder: Path) -> list[tuple[str, str]]:
    paths = sorted(folder.glob("*.sql"), key=lambda p: int(p.name.partition("_")[0]))
    return [(path.name, path.read_text()) for path in paths]


async def test_pushing_the_supabase_layout_of_934dae0_then_this_one_equals_a_fresh_migrate(dsn: str, tmp_path: Path):
    """The real CLI is driven by test_supabase_cli.py where it is installed; this applies its files the same way."""
    folder, done = tmp_path / "supabase" / "migrations", set[str]()
    folder.mkdir(parents=True)
    for sub in ("migrations", "analytics"):
        for source in sorted((SQL_934DAE0 / sub).glob("*.sql")):
            number, _, rest = source.name.partition("_")
            (folder / f"{20250101000000 + int(number)}_{rest}").symlink_to(source)
    pushed = await new_database(dsn)
    await push_layout(pushed, folder, done)
    write_supabase_layout(folder)
    await push_layout(pushed, folder, done)
    fresh = await new_database(dsn)
    await migrate(fresh)

    assert await schema_dump(pushed) == await schema_dump(fresh)
    assert await migrate(pushed) == [], "the layout recorded every file it applied"
    assert await recorded(pushed) == await recorded(fresh)


def sql_copy(tmp_path: Path) -> Path:
    """A copy of the package's sql/ that a test may add files to or edit."""
    assert isinstance(SQL, Path)
    return Path(shutil.copytree(SQL, tmp_path / "sql"))


async def test_a_database_installed_by_1f72b10_upgrades_to_a_fresh_install_keeping_every_row(dsn: str):
    old = await installed_at_1f72b10(dsn)
    before = await rows(old)
    assert len(before["message_logs"]) == 3 and len(before["message_status_parked"]) == 1
    assert len(before["webhook_receipts"]) == 2 and len(before["org_secrets"]) == 1

    assert await migrate(old) == EVERY_FILE
    fresh = await new_database(dsn)
    await migrate(fresh)

    assert kept(await rows(old), before) == kept(before, before)
    assert await schema_dump(old) == await schema_dump(fresh)
    assert await recorded(old) == await recorded(fresh)
    assert await sql(old, "select to_regclass('bluetick_schema')") is None


async def test_migrating_an_upgraded_database_again_changes_nothing(dsn: str):
    old = await installed_at_1f72b10(dsn)
    await migrate(old)
    every_record = "select jsonb_agg(m order by name) from bluetick_migrations m"
    dump, before, records = await schema_dump(old), await rows(old), await sql(old, every_record)

    assert await migrate(old) == []
    assert await schema_dump(old) == dump
    assert await rows(old) == before
    assert await sql(old, every_record) == records, "nothing recorded again, not even a new applied_at"


async def test_replicas_migrating_a_new_database_together_apply_each_file_once(dsn: str):
    url = await new_database(dsn)
    runs = await asyncio.gather(*(migrate(url) for _ in range(4)))
    assert sorted(runs, key=len) == [[], [], [], EVERY_FILE]
    assert await sql(url, "select count(*) from bluetick_migrations") == len(EVERY_FILE)


async def test_an_up_to_date_database_is_checked_without_taking_the_migration_lock(dsn: str, tmp_path: Path):
    url = await new_database(dsn)
    await migrate(url)
    copy = sql_copy(tmp_path)
    (copy / "migrations" / "9000_next.sql").write_text("create table bluetick_next (id int);\n")
    holder = await asyncpg.connect(url)
    try:
        await holder.execute("select pg_advisory_lock($1)", MIGRATION_LOCK)
        async with asyncio.timeout(10):
            assert await migrate(url) == []
        waiting = asyncio.create_task(migrate(url, sql=copy))
        await asyncio.sleep(1)
        assert not waiting.done(), "a pending migration waits for the lock"
        await holder.execute("select pg_advisory_unlock($1)", MIGRATION_LOCK)
        assert await waiting == ["migrations/9000_next.sql", *(f.name for f in sql_files() if f.version is None)]
    finally:
        await holder.close()


async def test_a_failing_migration_rolls_back_and_records_nothing(dsn: str, tmp_path: Path):
    url = await new_database(dsn)
    await migrate(url)
    dump, before = await schema_dump(url), await recorded(url)
    copy = sql_copy(tmp_path)
    (copy / "migrations" / "9000_broken.sql").write_text(
        "create table bluetick_leftover (id int);\nalter table message_logs add column leftover text;\nselect 1 / 0;\n"
    )
    with pytest.raises(asyncpg.DivisionByZeroError):
        await migrate(url, sql=copy)
    assert await schema_dump(url) == dump
    assert await recorded(url) == before

    empty = await new_database(dsn)
    with pytest.raises(asyncpg.DivisionByZeroError):
        await migrate(empty, sql=copy)
    assert await sql(empty, "select count(*) from pg_class where relnamespace = 'public'::regnamespace") == 0


async def test_an_edited_released_migration_is_refused_naming_the_file(dsn: str, tmp_path: Path):
    url = await new_database(dsn)
    await migrate(url)
    before = await recorded(url)
    copy = sql_copy(tmp_path)
    merge = copy / "migrations" / "0002_merge.sql"
    merge.write_text(merge.read_text() + "-- a fix slipped into a released file\n")
    with pytest.raises(MigrationError, match=r"migrations/0002_merge\.sql was edited after it was applied"):
        await migrate(url, sql=copy)
    assert await recorded(url) == before


async def test_a_changed_analytics_file_is_applied_again_with_every_repeatable_file(dsn: str, tmp_path: Path):
    url = await new_database(dsn)
    await migrate(url)
    copy = sql_copy(tmp_path)
    timeline = copy / "analytics" / "0101_timeline.sql"
    timeline.write_text(timeline.read_text() + "-- reworded\n")
    assert await migrate(url, sql=copy) == [f.name for f in sql_files() if f.version is None]
    assert await migrate(url, sql=copy) == []
    checksum = await sql(url, "select checksum from bluetick_migrations where name = 'analytics/0101_timeline.sql'")
    assert checksum == next(f.checksum for f in sql_files(copy) if f.name == "analytics/0101_timeline.sql")


async def test_a_database_migrated_by_newer_code_is_left_alone(dsn: str, tmp_path: Path):
    url = await new_database(dsn)
    newer = sql_copy(tmp_path)
    (newer / "migrations" / "9000_next.sql").write_text("create table bluetick_next (id int);\n")
    await migrate(url, sql=newer)
    timeline = newer / "analytics" / "0101_timeline.sql"
    timeline.write_text(timeline.read_text() + "-- newer wording\n")
    await migrate(url, sql=newer)
    assert await migrate(url) == [], "an older replica in a rolling deploy neither fails nor rolls analytics back"


async def test_a_new_migration_numbered_below_an_applied_one_is_refused(dsn: str, tmp_path: Path):
    url = await new_database(dsn)
    copy = sql_copy(tmp_path)
    (copy / "migrations" / "9000_next.sql").write_text("create table bluetick_next (id int);\n")
    await migrate(url, sql=copy)
    (copy / "migrations" / "8000_other_branch.sql").write_text("create table bluetick_other (id int);\n")
    with pytest.raises(MigrationError, match=r"migrations/8000_other_branch\.sql is numbered below version 9000"):
        await migrate(url, sql=copy)


def test_the_shipped_migrations_are_numbered_once_and_mirrored_in_order():
    versions = [f.version for f in sql_files() if f.version is not None]
    assert versions == sorted(set(versions))
    assert [f.name.partition("/")[2] for f in sql_files()] == [p.name for p in migration_files()]


async def test_the_migrate_command_prints_what_it_applied_then_up_to_date(dsn: str):
    url = await new_database(dsn)
    env = {**os.environ, "DATABASE_URL": url, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])}

    async def run() -> list[str]:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "main.py", "migrate", cwd=ROOT, env=env, stdout=asyncio.subprocess.PIPE
        )
        out, _ = await proc.communicate()
        assert proc.returncode == 0
        return out.decode().splitlines()

    first = await run()
    assert first == [f"applied {name}" for name in EVERY_FILE] + [f"migrated to version {schema_version()}"]
    assert await run() == [f"up to date at version {schema_version()}"]


@pytest.mark.parametrize("supabase_like", [False, True], ids=["plain-postgres", "supabase-like"])
async def test_migrations_run_twice_with_and_without_an_auth_schema(dsn: str, supabase_like: bool):
    name = f"migrate_{uuid.uuid4().hex[:8]}"
    if supabase_like:
        target = await emulate(dsn, name)
    else:
        admin = await asyncpg.connect(dsn)
        await admin.execute(f'create database "{name}"')
        await admin.close()
        target = dsn.replace("/postgres?", f"/{name}?")
    first, again = await migrate(target), await migrate(target)
    assert again == [], "an installed version is not migrated again"
    assert len(first) >= 4
    conn = await asyncpg.connect(target)
    try:
        policies = await conn.fetchval("select count(*) from pg_policies where tablename = 'message_logs'")
        rls = await conn.fetchval("select relrowsecurity from pg_class where relname = 'message_logs'")
    finally:
        await conn.close()
    assert rls is True
    assert policies == (1 if supabase_like else 0)


async def test_an_analysts_open_transaction_does_not_block_a_booting_replica(dsn: str, pg: asyncpg.Connection):
    await pg.execute("begin; select count(*) from message_logs")
    try:
        async with asyncio.timeout(30):
            assert await migrate(dsn) == []  # installed version: nothing to do, no lock taken
    finally:
        await pg.execute("rollback")
