"""Every plpgsql function of bluetick checked by plpgsql_check (issue 26), on Debian's Postgres 15 with Debian's
`postgresql-15-plpgsql-check` (both installed by .ci/run; the test skips, saying what is missing, without them).

The SQL is most of bluetick's logic; its plpgsql functions were only checked by running them. After the service's own
`migrate` (the versioned migrations, the repeatable functions and the analytics), plpgsql_check reads each function's
every statement against the schema, without running it: a misspelt column, a wrong type, a dead variable. Trigger
functions are checked against the table of each trigger that calls them, with that trigger's transition tables. The
test asserts no error and no warning (extra warnings included); performance hints (implicit casts in a query) are
not asserted. A function made broken on purpose shows that the check finds what it should.
"""

from __future__ import annotations

import os
import pwd
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest

from bluetick.store.migrations import migrate
from tests.supabase_cli import PG_BIN, PG_PROGRAMS, Server, postgres15
from tests.supabase_emulation import emulate

EXTENSION = Path("/usr/share/postgresql/15/extension/plpgsql_check.control")

# Each function of schema public written in plpgsql, with the table and transition tables of each trigger calling it
# (a function that is not a trigger once, with NULLs).
TARGETS = """
select p.oid::regprocedure::text as function, t.tgrelid::regclass::text as relation, t.tgoldtable, t.tgnewtable,
       p.oid as fn, t.tgrelid as rel
from pg_proc p
join pg_language l on l.oid = p.prolang
join pg_namespace n on n.oid = p.pronamespace
left join pg_trigger t on t.tgfoid = p.oid and not t.tgisinternal
where l.lanname = 'plpgsql' and n.nspname = 'public'
order by 1, 2
"""
CHECK = """
select level, lineno, message, statement
from plpgsql_check_function_tb($1::oid::regprocedure, coalesce($2::oid, 0)::regclass, fatal_errors => false,
                               other_warnings => true, extra_warnings => true, performance_warnings => false,
                               oldtable => $3::name, newtable => $4::name)
"""


def missing() -> str | None:
    """Why the check cannot run here (the skip message), or None."""
    absent = [name for name in PG_PROGRAMS if not (PG_BIN / name).is_file()]
    if absent:
        return (
            f"Debian's Postgres 15 is not installed (no {', '.join(absent)} in {PG_BIN}): apt-get install postgresql-15"
        )
    if not EXTENSION.is_file():
        return f"plpgsql_check is not installed (no {EXTENSION}): install postgresql-15-plpgsql-check"
    if os.geteuid() == 0:
        if shutil.which("runuser") is None:
            return "running as root without runuser, to start Postgres 15 as the postgres user"
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root and there is no `postgres` user to start Postgres 15 as"
    return None


pytestmark = pytest.mark.skipif(missing() is not None, reason=missing() or "")


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    with postgres15() as running:
        yield running


@pytest.fixture
async def checked(server: Server) -> AsyncIterator[asyncpg.Connection]:
    """A connection to Postgres 15 migrated as the service migrates, with plpgsql_check: a database set up like a
    Supabase project with Realtime (tests/supabase_emulation.py), so the functions and triggers made only there
    (functions/realtime.sql's) are checked too; the rest is as on plain Postgres."""
    url = server.url("plcheck")
    admin = await asyncpg.connect(server.url())
    try:
        exists = await admin.fetchval("select 1 from pg_database where datname = 'plcheck'")
    finally:
        await admin.close()
    if not exists:
        await emulate(server.url(), "plcheck", realtime=True)
    await migrate(url)
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("create extension if not exists plpgsql_check")
        yield conn
    finally:
        await conn.close()


async def findings(conn: asyncpg.Connection) -> tuple[list[str], list[str]]:
    """(every function checked, each as `function` or `function on relation`; every finding, one line each)."""
    checked: list[str] = []
    found: list[str] = []
    for target in await conn.fetch(TARGETS):
        name = target["function"] + (f" on {target['relation']}" if target["relation"] else "")
        checked.append(name)
        for row in await conn.fetch(CHECK, target["fn"], target["rel"], target["tgoldtable"], target["tgnewtable"]):
            found.append(f"{name}: {row['level']} at line {row['lineno']}: {row['message']} ({row['statement']})")
    return checked, found


async def test_every_plpgsql_function_checks_with_no_error_and_no_warning(checked: asyncpg.Connection):
    functions, found = await findings(checked)
    assert len(functions) >= 25, functions  # the merge, events, deliveries, customers, retention, report, ...
    assert any(" on " in name for name in functions), "the trigger functions are checked with their tables"
    assert found == []


async def test_the_check_reports_a_function_broken_on_purpose(checked: asyncpg.Connection):
    async with checked.transaction():
        await checked.execute(
            """
            create function bluetick_broken_on_purpose(p_org uuid) returns integer language plpgsql as $$
            declare
              v_unused text;
            begin
              return (select count(*) from message_logs m where m.org_id = p_org and m.no_such_column);
            end
            $$"""
        )
        try:
            _, found = await findings(checked)
        finally:
            await checked.execute("drop function bluetick_broken_on_purpose(uuid)")
    mine = [line for line in found if line.startswith("bluetick_broken_on_purpose")]
    assert any("column m.no_such_column does not exist" in line for line in mine), mine
    assert any("unused variable" in line and "v_unused" in line for line in mine), mine
