-- Events out (docs/design.md, "Events"): the outbox written with each batch, the feed's page, and expiry.
-- A repeatable file (docs/design.md, Migrations): the one current definition of these functions, applied after
-- the versioned migrations and again whenever any repeatable file changes. Edit it in place; never restate a
-- function in a migration. Privileges granted to a function stay with it across `create or replace`.

-- The organisations among p_orgs that use events: the feed turned on, or a subscription not disabled. One or two
-- index probes per organisation of a batch; a batch of organisations that use none writes no event.
create or replace function bluetick_event_orgs(p_orgs uuid[])
returns uuid[]
language sql stable
set search_path = public, pg_temp
as $$
  select coalesce(array_agg(o), '{}')
  from unnest(p_orgs) o
  where exists (select 1 from org_settings s where s.org_id = o and s.events_feed)
     or exists (select 1 from webhook_subscriptions w where w.org_id = o and w.disabled_at is null)
$$;

-- A message's event payload: its current state, the customer's identifiers and, for a customer's message, its text.
create or replace function bluetick_event_data(m message_logs)
returns jsonb
language sql stable
as $$
  select jsonb_strip_nulls(jsonb_build_object(
  'org_id', m.org_id, 'bsp_msg_id', m.bsp_msg_id, 'direction', m.direction, 'msg_kind', m.msg_kind,
  'status', m.status, 'whatsapp_status', m.whatsapp_status, 'failed_reason', m.failed_reason,
  'error_code', substring(m.failed_reason from '^Error ([0-9A-Za-z_.-]+)'),
  'customer_phone', case when m.direction = 'INBOUND' then m.from_phone else m.to_phone end,
  'customer_user_id', m.customer_user_id, 'ref_bsp_msg_id', m.ref_bsp_msg_id, 'group_id', m.group_id,
  'body', case when m.direction = 'INBOUND' then m.body end,
  'created_at', bluetick_ts_text(m.created_at)))
$$;

-- Replaced by the merge statement's own event write (apply_batch.sql): gone from databases that had them.
drop function if exists bluetick_event_keys(uuid[], jsonb, jsonb);
drop function if exists bluetick_event_state(uuid[], jsonb, jsonb);
drop function if exists bluetick_write_events(uuid[], jsonb, jsonb, jsonb);

-- One page of p_org's event feed after the cursor (p_after_xid, p_after_id), oldest first, at most p_limit, of
-- the types p_types (null: all). Only events of transactions older than every transaction still running are read
-- (pg_snapshot_xmin): a transaction that began before a later one committed may still commit events below it, and
-- reading past it would skip them. {"events": [...], "next": [xid, id] of the last one read (the cursor given when
-- none), "waiting": true when committed events of p_org lie beyond that horizon}.
create or replace function bluetick_events_page(p_org uuid, p_after_xid text, p_after_id bigint, p_limit integer,
                                                p_types text[] default null)
returns jsonb
language plpgsql stable
set search_path = public, pg_temp
as $$
declare
  v_horizon xid8 := pg_snapshot_xmin(pg_current_snapshot());
  v_after xid8 := coalesce(p_after_xid, '0')::xid8;
  v_events jsonb;
  v_next jsonb;
begin
  select coalesce(jsonb_agg(jsonb_build_object(
           'id', e.id::text, 'type', e.type, 'created_at', bluetick_ts_text(e.created_at), 'bsp_msg_id', e.bsp_msg_id,
           'version', e.version, 'data', e.data, 'cursor', jsonb_build_array(e.xid::text, e.id)) order by e.xid, e.id),
         '[]'::jsonb)
  into v_events
  from (
    select * from bluetick_events e
    where e.org_id = p_org and (e.xid, e.id) > (v_after, coalesce(p_after_id, 0)) and e.xid < v_horizon
      and (p_types is null or e.type = any (p_types))
    order by e.xid, e.id
    limit p_limit
  ) e;
  v_next := coalesce(v_events -> -1 -> 'cursor', jsonb_build_array(v_after::text, coalesce(p_after_id, 0)));
  return jsonb_build_object(
  'events', v_events, 'next', v_next,
  'waiting', exists (select 1 from bluetick_events e
                       where e.org_id = p_org and e.xid >= v_horizon
                         and (p_types is null or e.type = any (p_types))));
end
$$;

-- The newest cursor of the stream: where a new reader (a new subscription, a feed with no cursor) starts.
create or replace function bluetick_events_head()
returns jsonb
language sql stable
as $$
  select jsonb_build_array(pg_snapshot_xmin(pg_current_snapshot())::text, 0)
$$;

-- Turn p_org's event feed on or off; returns whether it is on.
create or replace function bluetick_events_feed(p_org uuid, p_enabled boolean)
returns boolean
language sql
set search_path = public, pg_temp
as $$
  insert into org_settings as s (org_id, events_feed) values (p_org, p_enabled)
  on conflict (org_id) do update set events_feed = excluded.events_feed, updated_at = now()
  returning s.events_feed
$$;

-- Expiry: a partition per UTC day, made ahead for today and the next two days (a day the default partition already
-- holds rows of stays there); partitions whose day ended more than p_ttl ago are dropped whole, and the default
-- partition's rows that old deleted. Returns {"created": N, "dropped": N, "deleted": N}. Security definer: making
-- and dropping partitions takes the table owner's rights, which Supabase's service_role (the REST backend) lacks;
-- only the service may call it (grants below) and its search_path is fixed.
create or replace function bluetick_events_maintain(p_ttl interval)
returns jsonb
language plpgsql
security definer
set search_path = public, pg_temp
as $$
declare
  v_day date;
  v_name text;
  v_created integer := 0;
  v_dropped integer := 0;
  v_deleted integer := 0;
  v_part record;
  v_role text;
begin
  -- one replica at a time (the other skips this round); a partition's create or drop locks the whole table, so it
  -- gives up after 2 s rather than hold every batch's event insert behind a long transaction (next round retries)
  if not pg_try_advisory_xact_lock(25, 0) then  -- (24, org) is the erasure of events (customers.sql)
    return jsonb_build_object('created', 0, 'dropped', 0, 'deleted', 0);
  end if;
  perform set_config('lock_timeout', '2s', true);
  for v_day in select generate_series((now() at time zone 'UTC')::date, (now() at time zone 'UTC')::date + 2, '1 day')
  loop
    v_name := 'bluetick_events_' || to_char(v_day, 'YYYYMMDD');
    if to_regclass('public.' || v_name) is null
       and not exists (select 1 from bluetick_events_default d
                       where d.created_at >= v_day::timestamp at time zone 'UTC'
                         and d.created_at < (v_day + 1)::timestamp at time zone 'UTC') then
      execute format('create table %I partition of bluetick_events for values from (%L) to (%L)', v_name,
                     v_day::timestamp at time zone 'UTC', (v_day + 1)::timestamp at time zone 'UTC');
      execute format('alter table %I enable row level security', v_name);
      -- as 0019_realtime.sql did for the partitions before it: where the table is published (supabase_realtime),
      -- each partition identifies its rows whole, or Postgres refuses erasure's update and expiry's delete; on
      -- Supabase, anon and authenticated lose the rights its default privileges gave them on the new table
      if exists (select 1 from pg_publication_rel pr join pg_publication p on p.oid = pr.prpubid
                 where p.pubname = 'supabase_realtime' and pr.prrelid = 'public.bluetick_events'::regclass) then
        execute format('alter table %I replica identity full', v_name);
      end if;
      if to_regnamespace('auth') is not null then
        foreach v_role in array array['anon', 'authenticated'] loop
          if exists (select 1 from pg_roles where rolname = v_role) then
            execute format('revoke all on %I from %I', v_name, v_role);
          end if;
        end loop;
      end if;
      v_created := v_created + 1;
    end if;
  end loop;
  for v_part in
    select c.relname
    from pg_inherits i join pg_class c on c.oid = i.inhrelid
    where i.inhparent = 'public.bluetick_events'::regclass and c.relname ~ '^bluetick_events_[0-9]{8}$'
      and to_date(right(c.relname, 8), 'YYYYMMDD') + 1 < (now() - p_ttl) at time zone 'UTC'
  loop
    execute format('drop table %I', v_part.relname);
    v_dropped := v_dropped + 1;
  end loop;
  delete from bluetick_events_default d where d.created_at < now() - p_ttl;
  get diagnostics v_deleted = row_count;
  return jsonb_build_object('created', v_created, 'dropped', v_dropped, 'deleted', v_deleted);
end
$$;

-- The service's alone, as the other writers (0004_access.sql, 0008_webhook_inbox.sql).
select bluetick_service_only(array[
  'bluetick_event_orgs(uuid[])', 'bluetick_event_data(message_logs)',
  'bluetick_events_page(uuid, text, bigint, integer, text[])', 'bluetick_events_head()',
  'bluetick_events_feed(uuid, boolean)', 'bluetick_events_maintain(interval)'
]);
