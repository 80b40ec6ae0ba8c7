-- What the service itself reads: its organisations' secrets, and a ping that proves the schema is there.
-- A repeatable file (docs/design.md, Migrations): the one current definition of these functions, applied after
-- the versioned migrations and again whenever any repeatable file changes. Edit it in place; never restate a
-- function in a migration. Privileges granted to a function stay with it across `create or replace`.

-- Every organisation's secrets, one object each (every column of org_secrets), loaded by the service at start and
-- every SECRETS_REFRESH.
create or replace function bluetick_org_secrets()
returns jsonb
language sql stable
set search_path = public, pg_temp
as $$
  select coalesce(jsonb_agg(to_jsonb(s) - 'updated_at'), '[]'::jsonb) from org_secrets s
$$;

-- A cheap call that proves the schema is in place (used by the Supabase backend's readiness check).
create or replace function bluetick_ping()
returns boolean
language sql stable
set search_path = public, pg_temp
as $$ select to_regclass('public.message_logs') is not null $$;
