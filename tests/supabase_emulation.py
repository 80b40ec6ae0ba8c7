"""Supabase's pieces that bluetick relies on, rebuilt on the real test Postgres.

- `emulate(dsn)`: the roles (anon, authenticated, service_role with BYPASSRLS), the `auth` schema with an
  `auth.jwt()` that reads `request.jwt.claims`, the default grants Supabase gives those roles on `public`, and
  (`realtime=True`) the empty `supabase_realtime` publication every Supabase project has, with the `realtime`
  schema's `messages` table and `topic()` function (REALTIME_SQL).
- `PostgrestStandIn`: PostgREST cannot be installed here, so this stands in for the one route bluetick
  uses, `POST /rest/v1/rpc/{function}`, with the request shapes PostgREST documents for it. Like Supabase's
  gateway it checks the `apikey` and `Authorization: Bearer` headers. Like PostgREST it takes a JSON object
  body (`Content-Type: application/json`) whose keys are the function's argument names, in the schema the
  `Content-Profile` header names (only `public` is exposed: any other is 406 PGRST106); it picks the function
  whose arguments those names are (those left out must have defaults; none or several: 404 PGRST202 or 300
  PGRST203), switches to the key's role, sets `request.jwt.claims`, and calls it as PostgREST does: each
  argument read from the body by `json_to_record` with the function's own argument types, the result as
  `json_agg(...)->0`. Errors come back in PostgREST's JSON shape with the database's SQLSTATE as the code.
  The function runs on the real test Postgres: everything behind the HTTP call is real.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import asyncpg
from aiohttp import web
from aiohttp.test_utils import TestServer


def jwt(claims: dict[str, Any]) -> str:
    """An unsigned JWT-shaped key carrying `claims` (the stand-in compares keys, it does not verify)."""

    def part(doc: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(doc).encode()).decode().rstrip("=")

    return f"{part({'alg': 'HS256', 'typ': 'JWT'})}.{part(claims)}.c2lnbmF0dXJl"


SERVICE_KEY = jwt({"role": "service_role", "iss": "supabase"})
ANON_KEY = jwt({"role": "anon", "iss": "supabase"})

ROLES_SQL = """
do $$ begin
  if not exists (select 1 from pg_roles where rolname = 'anon') then create role anon nologin; end if;
  if not exists (select 1 from pg_roles where rolname = 'authenticated') then create role authenticated nologin; end if;
  if not exists (select 1 from pg_roles where rolname = 'service_role') then
    create role service_role nologin bypassrls;
  end if;
end $$;
"""

AUTH_SQL = """
create schema if not exists auth;
create or replace function auth.jwt() returns jsonb language sql stable as $$
  select coalesce(nullif(current_setting('request.jwt.claims', true), ''), '{}')::jsonb
$$;
grant usage on schema auth to anon, authenticated, service_role;
grant execute on function auth.jwt() to anon, authenticated, service_role;
grant usage on schema public to anon, authenticated, service_role;
alter default privileges in schema public grant all on tables to anon, authenticated, service_role;
alter default privileges in schema public grant all on functions to anon, authenticated, service_role;
alter default privileges in schema public grant all on sequences to anon, authenticated, service_role;
"""


# As Supabase provisions Realtime: the empty `supabase_realtime` publication (every action), and the `realtime` schema
# pieces a database-side broadcast touches: `realtime.messages` (the columns Realtime's own migrations give it,
# partitioned by day of inserted_at, with row-level security and no policy of its own) and `realtime.topic()`, the
# channel's topic that Realtime sets (`realtime.topic`) while it checks a user's policies on joining. Realtime's
# server, which reads that table and sends on the websocket, is not here (it cannot be installed); what a test can
# check is what bluetick writes there and what the policies let each user see.
REALTIME_SQL = """
create publication supabase_realtime;
create schema if not exists realtime;
create table realtime.messages (
  topic text not null,
  extension text not null,
  payload jsonb,
  event text,
  private boolean default false,
  updated_at timestamp without time zone not null default now(),
  inserted_at timestamp without time zone not null default now(),
  id uuid not null default gen_random_uuid()
) partition by range (inserted_at);
create table realtime.messages_default partition of realtime.messages default;
alter table realtime.messages enable row level security;
create or replace function realtime.topic() returns text language sql stable as $$
  select nullif(current_setting('realtime.topic', true), '')::text
$$;
grant usage on schema realtime to anon, authenticated, service_role;
grant select on realtime.messages to authenticated;
"""


async def emulate(admin_dsn: str, name: str, realtime: bool = False) -> str:
    """Create database `name` set up like a new Supabase project (with its `supabase_realtime` publication when
    `realtime`); return its DSN."""
    admin = await asyncpg.connect(admin_dsn)
    try:
        await admin.execute(ROLES_SQL)
        await admin.execute(f'create database "{name}"')
    finally:
        await admin.close()
    dsn = admin_dsn.replace("/postgres?", f"/{name}?")
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(AUTH_SQL)
        if realtime:
            await conn.execute(REALTIME_SQL)
    finally:
        await conn.close()
    return dsn


_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")
_KEY_ROLES = {SERVICE_KEY: "service_role", ANON_KEY: "anon"}


class PostgrestStandIn:
    def __init__(self, dsn: str, accepted_keys: tuple[str, ...] = (SERVICE_KEY, ANON_KEY)) -> None:
        self._dsn = dsn
        self._keys = accepted_keys
        self._pool: asyncpg.Pool | None = None
        self._server: TestServer | None = None

    async def start(self) -> str:
        self._pool = await asyncpg.create_pool(self._dsn, min_size=1, max_size=4)
        app = web.Application()
        app.router.add_post("/rest/v1/rpc/{function}", self._rpc)
        self._server = TestServer(app)
        await self._server.start_server()
        return str(self._server.make_url("")).rstrip("/")

    async def close(self) -> None:
        if self._server is not None:
            await self._server.close()
        if self._pool is not None:
            await self._pool.close()

    async def _rpc(self, request: web.Request) -> web.Response:
        key = request.headers.get("apikey", "")
        if key not in self._keys or request.headers.get("Authorization") != f"Bearer {key}":
            return web.json_response({"message": "Invalid API key"}, status=401)
        profile = request.headers.get("Content-Profile", "public")
        if profile != "public":
            return _error(406, "PGRST106", f"The schema must be one of the following: public (got {profile})")
        if request.content_type != "application/json":
            return _error(415, "PGRST107", f"The Content-Type {request.content_type!r} is not acceptable")
        function = request.match_info["function"]
        try:
            args = await request.json() if request.can_read_body else {}
        except ValueError:
            return _error(400, "PGRST102", "Empty or invalid json")
        if not isinstance(args, dict):
            return _error(400, "PGRST102", "The body of a call is a JSON object of its arguments")
        if not _NAME.match(function) or not all(map(_NAME.match, args)):
            return _error(404, "PGRST202", f"Could not find the function public.{function}")
        assert self._pool is not None
        try:
            result = await self._call(function, args, _KEY_ROLES[key])
        except _Ambiguous:
            return _error(300, "PGRST203", f"Could not choose the best candidate function public.{function}")
        except LookupError:
            return _error(404, "PGRST202", f"Could not find the function public.{function}({', '.join(args)})")
        except asyncpg.PostgresError as exc:
            return _error(403 if exc.sqlstate == "42501" else 400, exc.sqlstate or "", str(exc))
        return web.Response(text=result, content_type="application/json")

    async def _call(self, function: str, args: dict[str, Any], role: str) -> str:
        """`function(args)` as `role`, in one transaction, as PostgREST runs it."""
        assert self._pool is not None
        async with self._pool.acquire() as conn, conn.transaction():
            # the function whose input arguments are the names given, those left out having defaults
            overloads = await conn.fetch(
                "select coalesce(proargnames[1:pronargs], '{}') as names, pronargdefaults as defaults,"
                " array(select format_type(t, null) from unnest(proargtypes) t) as types"
                " from pg_proc p join pg_namespace n on n.oid = p.pronamespace"
                " where n.nspname = 'public' and proname = $1",
                function,
            )
            found = [
                f
                for f in overloads
                if set(args) <= set(f["names"]) and set(f["names"][: len(f["names"]) - f["defaults"]]) <= set(args)
            ]
            if not found:
                raise LookupError(function)
            if len(found) > 1:
                raise _Ambiguous(function)
            arg_types = dict(zip(found[0]["names"], found[0]["types"], strict=True))
            await conn.execute(f"set local role {role}")
            await conn.execute("select set_config('request.jwt.claims', $1, true)", json.dumps({"role": role}))
            # PostgREST's shape: the body read once by json_to_record, with the arguments' own types
            call = ", ".join(f'"{name}" := pgrst_args."{name}"' for name in args)
            record = ", ".join(f'"{name}" {arg_types[name]}' for name in args)
            body = "$1::json"  # the request's body, one parameter; a call without arguments reads nothing of it
            source = f" from json_to_record({body}) as pgrst_args({record})" if args else f" where {body} is not null"
            result: str = await conn.fetchval(
                "select coalesce(json_agg(t.pgrst_scalar) -> 0, 'null')::text"
                f" from (select public.{function}({call}) as pgrst_scalar{source}) t",
                json.dumps(args),
            )
            return result


@contextmanager
def standin_in_thread(dsn: str) -> Iterator[str]:
    """A PostgREST stand-in on `dsn` served by an event loop of its own thread, for code that runs its own loop (a
    command's `asyncio.run`); yields its URL."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    standin = PostgrestStandIn(dsn)
    try:
        yield asyncio.run_coroutine_threadsafe(standin.start(), loop).result(30)
    finally:
        asyncio.run_coroutine_threadsafe(standin.close(), loop).result(30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(30)
        loop.close()


class _Ambiguous(LookupError):
    """More than one function takes the arguments given."""


def _error(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"code": code, "message": message, "details": None, "hint": None}, status=status)
