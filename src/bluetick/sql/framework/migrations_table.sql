-- The record of the SQL files applied (docs/design.md, Migrations). migrate() runs this before any
-- migration, under its advisory lock, so that the first ones can be recorded too. Safe to run again.
create table if not exists bluetick_migrations (
  name       text primary key,       -- the file under sql/: migrations/0001_schema.sql, analytics/0101_timeline.sql
  version    integer unique,         -- a versioned migration's number; null for a repeatable (analytics) file
  checksum   text not null,          -- sha256 of the file as applied
  applied_at timestamptz not null default now()
);

-- Only the service reads it: row-level security on, no policy, and nothing for Supabase's API roles.
do $$
declare
  role_name text;
begin
  if not (select relrowsecurity from pg_class where oid = to_regclass('public.bluetick_migrations')) then
    alter table bluetick_migrations enable row level security;
  end if;
  foreach role_name in array array['anon', 'authenticated'] loop
    if exists (select 1 from pg_roles where rolname = role_name) then
      execute format('revoke all on bluetick_migrations from %I', role_name);
    end if;
  end loop;
end
$$;
