-- Who may call the service's own functions. Applied first of the repeatable files (by name), so the others can use it.
-- A repeatable file (docs/design.md, Migrations): the one current definition of these functions, applied after
-- the versioned migrations and again whenever any repeatable file changes. Edit it in place; never restate a
-- function in a migration. Privileges granted to a function stay with it across `create or replace`.

-- Make each of p_functions (a signature: 'name(argtypes)') the service's alone: no execute for PUBLIC, nor for
-- Supabase's `anon` and `authenticated` (its default privileges grant them execute on every new function), execute
-- for `service_role` (the REST backend's key) where that role exists. The writers and the readers of every
-- organisation's data, as 0004_access.sql made the first ones.
create or replace function bluetick_service_only(p_functions text[])
returns void
language plpgsql
set search_path = public, pg_temp
as $$
declare
  fn text;
  role_name text;
begin
  foreach fn in array p_functions loop
    execute format('revoke all on function %s from public', fn);
    foreach role_name in array array['anon', 'authenticated'] loop
      if exists (select 1 from pg_roles where rolname = role_name) then
        execute format('revoke all on function %s from %I', fn, role_name);
      end if;
    end loop;
    if exists (select 1 from pg_roles where rolname = 'service_role') then
      execute format('grant execute on function %s to service_role', fn);
    end if;
  end loop;
end
$$;

select bluetick_service_only(array['bluetick_service_only(text[])']);
