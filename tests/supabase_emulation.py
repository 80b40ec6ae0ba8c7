"""Supabase's pieces that bluetick relies on, rebuilt on the real test Postgres.

- `emulate(dsn)`: the roles (anon, authenticated, service_role with BYPASSRLS), the `auth` schema with an
  `auth.jwt()` that reads `request.jwt.claims`, and the default grants Supabase gives those roles on `public`.
- `PostgrestStandIn`: PostgREST cannot be installed here, so this stands in for the one route bluetick
  uses, `POST /rest/v1/rpc/{function}`. Like Supabase's gateway it checks the `apikey` and
  `Authorization: Bearer` headers; like PostgREST it switches to the key's role, sets
  `request.jwt.claims`, and calls the function with the JSON body as named arguments, answering errors
  with PostgREST's JSON shape. The function runs on the real test Postgres: everything behind the HTTP
  call is real.
"""

from __future__ import annotations

import base64
import json
import re
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


async def emulate(admin_dsn: str, name: str) -> str:
    """Create database `name` set up like a new Supabase project; return its DSN."""
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
        function = request.match_info["function"]
        args = await request.json() if request.can_read_body else {}
        if not _NAME.match(function) or not isinstance(args, dict) or not all(map(_NAME.match, args)):
            return _error(404, "PGRST202", f"Could not find the function public.{function}")
        assert self._pool is not None
        try:
            result = await self._call(function, args, _KEY_ROLES[key])
        except LookupError:
            return _error(404, "PGRST202", f"Could not find the function public.{function}")
        except asyncpg.PostgresError as exc:
            return _error(403 if exc.sqlstate == "42501" else 400, exc.sqlstate or "", str(exc))
        return web.Response(text=result or "null", content_type="application/json")

    async def _call(self, function: str, args: dict[str, Any], role: str) -> str | None:
        """`function(args)` as `role`, in one transaction, as PostgREST runs it."""
        assert self._pool is not None
        async with self._pool.acquire() as conn, conn.transaction():
            # like PostgREST, an overloaded function is chosen by the names of the arguments given
            overloads = await conn.fetch(
                "select proargnames, proargtypes::regtype[]::text[] as types from pg_proc p"
                " join pg_namespace n on n.oid = p.pronamespace where n.nspname = 'public' and proname = $1",
                function,
            )
            found = next((f for f in overloads if sorted(f["proargnames"] or []) == sorted(args)), None)
            if found is None:
                raise LookupError(function)
            names = list(found["proargnames"] or [])
            arg_types = dict(zip(names, found["types"], strict=True))
            await conn.execute(f"set local role {role}")
            await conn.execute("select set_config('request.jwt.claims', $1, true)", json.dumps({"role": role}))
            call = ", ".join(f"{name} := {_argument(i, arg_types[name])}" for i, name in enumerate(args, 1))
            values = [
                v if v is None or (isinstance(v, str) and arg_types[k] != "jsonb") else json.dumps(v)
                for k, v in args.items()
            ]
            result: str | None = await conn.fetchval(f"select to_jsonb(public.{function}({call}))", *values)
            return result


def _argument(number: int, type_name: str) -> str:
    """Parameter `number` as an argument of `type_name`: a JSON array becomes an SQL array, as PostgREST's
    json_to_record makes it; anything else is cast from its text."""
    if type_name.endswith("[]"):
        return f"array(select jsonb_array_elements_text(${number}::jsonb))::{type_name}"
    return f"${number}::text::{type_name}"


def _error(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"code": code, "message": message, "details": None, "hint": None}, status=status)
