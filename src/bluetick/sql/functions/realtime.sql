-- Supabase Realtime, "Broadcast from Database" (issue 26; docs/design.md, Events, "On Supabase: Realtime"). Realtime's Postgres
-- Changes cannot stream the outbox (a partitioned table without a primary key), so where Supabase's `realtime`
-- schema exists every event the outbox gets is also written to `realtime.messages`, the table Realtime reads to
-- broadcast: to the private channel `org:<org_id>:events`, its event named by the event's type, once per statement
-- (set-based, in the writer's transaction, so a rolled-back batch broadcasts nothing). An `authenticated` user whose
-- JWT carries org_id may join their own organisation's channel only (the policy below, which Realtime checks on
-- joining). A broadcast carries the event without the customer's identifiers and text (erasure's four keys), so
-- nothing in realtime.messages needs erasing: a subscriber that needs them reads the feed or the lookup. Does
-- nothing on a Postgres without `realtime.messages`.

-- The outbox's statement trigger on Supabase: this statement's new events as broadcasts. Dynamic SQL: the function
-- is made on every database, and realtime.messages exists only on Supabase's.
create or replace function bluetick_events_broadcast()
returns trigger
language plpgsql
security definer
set search_path = public, pg_temp
as $$
begin
  execute $sql$
    insert into realtime.messages (topic, extension, event, payload, private)
    select 'org:' || a.org_id || ':events', 'broadcast', a.type,
           jsonb_build_object('id', a.id, 'type', a.type, 'bsp_msg_id', a.bsp_msg_id, 'version', a.version,
                              'created_at', bluetick_ts_text(a.created_at),
                              'data', a.data - array['customer_phone', 'customer_user_id', 'customer_parent_user_id',
                                                     'body']),
           true
    from added a
  $sql$;
  return null;
end
$$;

select bluetick_service_only(array['bluetick_events_broadcast()']);

do $$
begin
  if to_regclass('realtime.messages') is null then
    return;
  end if;
  create or replace trigger bluetick_events_broadcast
    after insert on bluetick_events referencing new table as added
    for each statement execute function bluetick_events_broadcast();
  -- Realtime lets a user join a private channel when this select policy passes for the channel's topic
  -- (realtime.topic()): their JWT's org_id's channel, and no other; and a row is seen on its own channel only.
  if exists (select 1 from pg_roles where rolname = 'authenticated')
     and not exists (select 1 from pg_policies where schemaname = 'realtime' and tablename = 'messages'
                     and policyname = 'bluetick_org_events_receive') then
    create policy bluetick_org_events_receive on realtime.messages for select to authenticated
      using (extension = 'broadcast' and topic = realtime.topic()
             and realtime.topic() = 'org:' || (select auth.jwt() ->> 'org_id') || ':events');
  end if;
end
$$;
