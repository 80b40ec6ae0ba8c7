-- Supabase Realtime (docs/design.md, "Events on Supabase"). Does nothing on a Postgres without Supabase's roles and
-- `supabase_realtime` publication.
--
-- 1. Where Supabase's auth schema and roles exist: every partition of the outbox is closed to anon and authenticated. Rows are read
--    through bluetick_events, whose policy (0015) lets an authenticated user read their JWT's org_id's events only;
--    but Supabase's default privileges gave both roles every right on the default partition, which had no row-level
--    security, so the REST API served every organisation's events from it to any key. Each existing partition gets
--    row-level security (no policy: nothing through it) and loses those rights.
-- 2. Where the `supabase_realtime` publication exists (every Supabase project has one): bluetick_events joins it.
--    The publication publishes through the partition root (publish_via_partition_root, a setting of the whole
--    publication): a change in a day's partition is published as a change of bluetick_events, the table a
--    subscriber names and whose policy applies. A published table must say how an updated or deleted row is
--    identified, or Postgres refuses every UPDATE and DELETE on it (erasure strips events, expiry deletes from the
--    default partition); the outbox has no primary key, so the table and each partition get REPLICA IDENTITY FULL,
--    which costs only where wal_level is logical and only on an update or a delete. A partition made later must get
--    it too (bluetick_events_maintain).
do $$
declare
  part regclass;
  role_name text;
  pub record;
begin
  if to_regnamespace('auth') is not null and exists (select 1 from pg_roles where rolname in ('anon', 'authenticated'))
  then
    for part in select inhrelid::regclass from pg_inherits where inhparent = 'public.bluetick_events'::regclass loop
      if not (select relrowsecurity from pg_class where oid = part) then
        execute format('alter table %s enable row level security', part);
      end if;
      foreach role_name in array array['anon', 'authenticated'] loop
        if exists (select 1 from pg_roles where rolname = role_name) then
          execute format('revoke all on %s from %I', part, role_name);
        end if;
      end loop;
    end loop;
  end if;

  select oid, puballtables, pubviaroot into pub from pg_publication where pubname = 'supabase_realtime';
  if not found then
    return;
  end if;
  for part in
    select 'public.bluetick_events'::regclass
    union all
    select inhrelid::regclass from pg_inherits where inhparent = 'public.bluetick_events'::regclass
  loop
    if (select relreplident from pg_class where oid = part) <> 'f' then
      execute format('alter table %s replica identity full', part);
    end if;
  end loop;
  if not pub.pubviaroot then
    raise notice 'supabase_realtime now publishes partitioned tables through their root (publish_via_partition_root)';
    alter publication supabase_realtime set (publish_via_partition_root = true);
  end if;
  if not pub.puballtables
     and not exists (select 1 from pg_publication_rel
                     where prpubid = pub.oid and prrelid = 'public.bluetick_events'::regclass)
     and not exists (select 1 from pg_publication_namespace
                     where pnpubid = pub.oid and pnnspid = 'public'::regnamespace) then
    alter publication supabase_realtime add table bluetick_events;
  end if;
end
$$;
