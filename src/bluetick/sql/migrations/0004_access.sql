-- Access control, Supabase-ready. Safe to run again, on Supabase or on plain Postgres.
--
-- Row-level security is on for every bluetick table. The service writes as the table owner (plain
-- Postgres) or as service_role (Supabase, which bypasses RLS). Where Supabase's auth schema exists, an
-- `authenticated` user may read message_logs rows of the organisation named in their JWT
-- (auth.jwt() ->> 'org_id') and nothing else; `anon` reads nothing. Parked events, receipts and
-- secrets have no policy at all: only the service sees them.

-- Only what is missing is altered: ALTER TABLE locks out readers, so it must not run on every start.
do $$
declare
  t text;
begin
  foreach t in array array['message_logs', 'message_status_parked', 'webhook_receipts', 'org_secrets',
                           'bluetick_schema'] loop
    if not (select relrowsecurity from pg_class where oid = to_regclass('public.' || t)) then
      execute format('alter table %I enable row level security', t);
    end if;
  end loop;
end
$$;

-- A cheap call that proves the schema is in place (used by the Supabase backend's readiness check).
create or replace function bluetick_ping()
returns boolean
language sql stable
set search_path = public, pg_temp
as $$ select to_regclass('public.message_logs') is not null $$;

do $$
declare
  writer text;
  role_name text;
begin
  -- The functions that write or read secrets: never callable by the public, anon or authenticated.
  foreach writer in array array[
    'bluetick_apply_batch(jsonb, jsonb)', 'bluetick_purge(interval)', 'bluetick_org_secrets()', 'bluetick_ping()'
  ] loop
    execute format('revoke all on function %s from public', writer);
    foreach role_name in array array['anon', 'authenticated'] loop
      if exists (select 1 from pg_roles where rolname = role_name) then
        execute format('revoke all on function %s from %I', writer, role_name);
      end if;
    end loop;
    if exists (select 1 from pg_roles where rolname = 'service_role') then
      execute format('grant execute on function %s to service_role', writer);
    end if;
  end loop;

  if to_regnamespace('auth') is null or not exists (select 1 from pg_roles where rolname = 'authenticated') then
    return;  -- plain Postgres: no Supabase roles, nothing more to do
  end if;

  if not exists (select 1 from pg_policies
                 where schemaname = 'public' and tablename = 'message_logs' and policyname = 'message_logs_read_own_org') then
    create policy message_logs_read_own_org on message_logs
      for select to authenticated
      using (org_id::text = (select auth.jwt() ->> 'org_id'));
  end if;

  revoke all on message_logs, message_status_parked, webhook_receipts, org_secrets, bluetick_schema
    from anon, authenticated;
  grant select on message_logs to authenticated;
end
$$;
