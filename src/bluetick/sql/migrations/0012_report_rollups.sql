-- The report's rollups: what the analyst's page shows, kept per organisation and UTC hour or day of created_at, so
-- a page reads a few thousand rollup rows instead of every message of its window (docs/design.md, "The report's
-- rollups"). The rows are not written by ingest: statement triggers on message_logs only note which
-- (org_id, hour) changed, in report_dirty, and bluetick_report_refresh (analytics/0108_report_rollups.sql)
-- recomputes those hours from message_logs with the analytics views' own definitions, then their days from the
-- hours. The service refreshes every REPORT_REFRESH_S and before it builds a page.

-- The UTC hours that changed since their rollup was computed. Append only: a writer inserts, never updates, so two
-- batches never wait for each other here; the refresh deletes the rows it has seen.
create table if not exists report_dirty (
  org_id uuid not null,
  hour   timestamp not null  -- date_trunc('hour', created_at at time zone 'UTC')
);
create index if not exists report_dirty_org_idx on report_dirty (org_id);

-- Per UTC hour, the unit a refresh recomputes:

-- Outbound messages (events left out) per 15-minute slot of the UTC day (0..95; the hour is slot / 4) and msg_kind:
-- the funnel's counts. A slot lies in one local hour of every time zone whose offset is a multiple of 15 minutes
-- (all of today's), so the heatmap can be read in any of them.
create table if not exists report_outbound (
  org_id    uuid not null,
  day       date not null,
  slot      smallint not null,
  msg_kind  text,
  outbound  integer not null,
  sent      integer not null,
  delivered integer not null,
  read      integer not null,
  failed    integer not null
);
create index if not exists report_outbound_org_day_idx on report_outbound (org_id, day);

-- How many messages took each whole number of seconds: metric 'deliver' (sent to delivered), 'read' (delivered to
-- read), 'reply' (customer message to the first reply; by the customer message's hour).
create table if not exists report_latency (
  org_id  uuid not null,
  day     date not null,
  hour    smallint not null,
  metric  text not null check (metric in ('deliver', 'read', 'reply')),
  seconds integer not null,
  n       integer not null
);
create index if not exists report_latency_org_day_idx on report_latency (org_id, day, hour);

-- Failed messages (status FAILED, events left out) per error_code, with the newest failure's time and reason.
create table if not exists report_failures (
  org_id         uuid not null,
  day            date not null,
  hour           smallint not null,
  error_code     text,
  failures       integer not null,
  last_failed_at timestamptz,
  newest_at      timestamptz,  -- failed_at of the row newest_reason was taken from (null first, as array_agg's order)
  newest_reason  text
);
create index if not exists report_failures_org_day_idx on report_failures (org_id, day);

-- Priced or billable messages per pricing category, type, billable flag and market (for the rates).
create table if not exists report_pricing (
  org_id           uuid not null,
  day              date not null,
  hour             smallint not null,
  pricing_category text,
  pricing_type     text,
  billable         boolean,
  priced           boolean not null,  -- pricing_at is not null
  market           text,
  messages         integer not null
);
create index if not exists report_pricing_org_day_idx on report_pricing (org_id, day);

-- Customer messages with no reply by the refresh, by their id (the customer is read from message_logs, so
-- erasing a customer leaves nothing of theirs here).
create table if not exists report_unanswered (
  org_id      uuid not null,
  received_at timestamptz not null,
  id          uuid not null
);
create index if not exists report_unanswered_org_received_idx on report_unanswered (org_id, received_at);

-- Per UTC day, computed from its hours:

-- report_latency summed over the day's hours: exact percentiles of any set of days come from these counts.
create table if not exists report_latency_daily (
  org_id  uuid not null,
  day     date not null,
  metric  text not null check (metric in ('deliver', 'read', 'reply')),
  seconds integer not null,
  n       integer not null
);
create index if not exists report_latency_daily_org_day_idx on report_latency_daily (org_id, day);

-- The day's customer messages (events left out) and those with a reply by the refresh, and its median and p95
-- seconds to deliver, to read (of its outbound messages) and to reply (to its customer messages).
create table if not exists report_days (
  org_id                    uuid not null,
  day                       date not null,
  inbound                   integer not null,
  answered                  integer not null,
  median_seconds_to_deliver numeric,
  p95_seconds_to_deliver    numeric,
  median_seconds_to_read    numeric,
  p95_seconds_to_read       numeric,
  median_seconds_to_reply   numeric,
  p95_seconds_to_reply      numeric,
  primary key (org_id, day)
);

comment on table report_dirty is
  'Hours (org_id, UTC hour) whose report rollups are out of date; bluetick_report_refresh(org) recomputes them.';
comment on table report_outbound is
  'Report rollup: outbound messages per org_id, UTC day, 15-minute slot and msg_kind (bluetick_report_refresh).';
comment on table report_latency is
  'Report rollup: messages per org_id, UTC day and hour, metric (deliver, read, reply) and whole seconds taken.';
comment on table report_failures is 'Report rollup: failed messages per org_id, UTC day and hour, and error_code.';
comment on table report_pricing is
  'Report rollup: priced messages per org_id, UTC day and hour, pricing_category, pricing_type, billable, market.';
comment on table report_unanswered is 'Report rollup: the id of each customer message with no reply by the refresh.';
comment on table report_latency_daily is 'Report rollup: report_latency summed per org_id, UTC day and metric.';
comment on table report_days is
  'Report rollup per org_id and UTC day: customer messages, those answered, and median and p95 seconds to deliver, '
  'to read and to reply.';

-- The hours of the customer messages whose first reply changes when an outbound message to `customer` at `at` is
-- added or removed: those received after the customer's previous outbound message and no later than `at`.
create or replace function bluetick_report_mark_replies(p_org uuid[], p_customer text[], p_at timestamptz[])
returns void
language plpgsql
as $$
begin
  insert into report_dirty (org_id, hour)
  select distinct i.org_id, date_trunc('hour', i.created_at at time zone 'UTC')
  from unnest(p_org, p_customer, p_at) as c(org_id, customer, at)
  left join lateral (
    select o.created_at
    from message_logs o
    where o.org_id = c.org_id
      and bluetick_customer(o.direction, o.to_phone, o.from_phone, o.customer_user_id) = c.customer
      and o.created_at < c.at and o.direction = 'OUTBOUND' and not bluetick_is_event(o.msg_kind)
    order by o.created_at desc
    limit 1
  ) prev on true
  join message_logs i
    on i.org_id = c.org_id
   and bluetick_customer(i.direction, i.to_phone, i.from_phone, i.customer_user_id) = c.customer
   and i.created_at <= c.at and (prev.created_at is null or i.created_at > prev.created_at)
   and i.direction = 'INBOUND' and not bluetick_is_event(i.msg_kind)
  where c.customer is not null;
end
$$;

-- After each statement that inserts, updates or deletes rows: their hours, and for inserted or deleted outbound
-- messages the hours of the customer messages they answer. An update that changes who or when a row is about is
-- handled row by row (bluetick_report_mark_moved), so a status merge pays for one small insert per statement.
create or replace function bluetick_report_mark()
returns trigger
language plpgsql
as $$
begin
  if tg_op = 'DELETE' then
    insert into report_dirty (org_id, hour)
    select distinct org_id, date_trunc('hour', created_at at time zone 'UTC') from old_rows;
    perform bluetick_report_mark_replies(array_agg(org_id), array_agg(bluetick_customer(direction, to_phone,
                                           from_phone, customer_user_id)), array_agg(created_at))
    from old_rows where direction = 'OUTBOUND' and not bluetick_is_event(msg_kind);
  else
    insert into report_dirty (org_id, hour)
    select distinct org_id, date_trunc('hour', created_at at time zone 'UTC') from new_rows;
    if tg_op = 'INSERT' then
      perform bluetick_report_mark_replies(array_agg(org_id), array_agg(bluetick_customer(direction, to_phone,
                                             from_phone, customer_user_id)), array_agg(created_at))
      from new_rows where direction = 'OUTBOUND' and not bluetick_is_event(msg_kind);
    end if;
  end if;
  return null;
end
$$;

-- A row whose organisation, direction, kind, customer or time changed: its old hour too, and the customer messages
-- its old and new self answered.
create or replace function bluetick_report_mark_moved()
returns trigger
language plpgsql
as $$
begin
  insert into report_dirty (org_id, hour) values (old.org_id, date_trunc('hour', old.created_at at time zone 'UTC'));
  if old.direction = 'OUTBOUND' and not bluetick_is_event(old.msg_kind) then
    perform bluetick_report_mark_replies(
      array[old.org_id], array[bluetick_customer(old.direction, old.to_phone, old.from_phone, old.customer_user_id)],
      array[old.created_at]);
  end if;
  if new.direction = 'OUTBOUND' and not bluetick_is_event(new.msg_kind) then
    perform bluetick_report_mark_replies(
      array[new.org_id], array[bluetick_customer(new.direction, new.to_phone, new.from_phone, new.customer_user_id)],
      array[new.created_at]);
  end if;
  return null;
end
$$;

create or replace function bluetick_report_truncate()
returns trigger
language plpgsql
as $$
begin
  truncate report_dirty, report_outbound, report_latency, report_failures, report_pricing, report_unanswered,
    report_latency_daily, report_days;
  return null;
end
$$;

create or replace trigger message_logs_report_insert
  after insert on message_logs referencing new table as new_rows
  for each statement execute function bluetick_report_mark();
create or replace trigger message_logs_report_update
  after update on message_logs referencing new table as new_rows
  for each statement execute function bluetick_report_mark();
create or replace trigger message_logs_report_delete
  after delete on message_logs referencing old table as old_rows
  for each statement execute function bluetick_report_mark();
create or replace trigger message_logs_report_moved
  after update on message_logs
  for each row when ((old.org_id, old.direction, old.msg_kind, old.to_phone, old.from_phone, old.customer_user_id,
                      old.created_at)
                     is distinct from (new.org_id, new.direction, new.msg_kind, new.to_phone, new.from_phone,
                                       new.customer_user_id, new.created_at))
  execute function bluetick_report_mark_moved();
create or replace trigger message_logs_report_truncate
  after truncate on message_logs
  for each statement execute function bluetick_report_truncate();

-- Every hour already stored is out of date: the first refresh computes it.
insert into report_dirty (org_id, hour)
select distinct org_id, date_trunc('hour', created_at at time zone 'UTC') from message_logs;

-- Access as for the service tables (0004_access.sql, 0008, 0011): row-level security on and no policy, so only the
-- owner and service_role (which writes message_logs, and so fires the triggers) reach the rollups.
do $$
declare
  t text;
  fn text;
  role_name text;
begin
  foreach t in array array['report_dirty', 'report_outbound', 'report_latency', 'report_failures', 'report_pricing',
                           'report_unanswered', 'report_latency_daily', 'report_days'] loop
    if not (select relrowsecurity from pg_class where oid = to_regclass('public.' || t)) then
      execute format('alter table %I enable row level security', t);
    end if;
    foreach role_name in array array['anon', 'authenticated'] loop
      if exists (select 1 from pg_roles where rolname = role_name) then
        execute format('revoke all on %I from %I', t, role_name);
      end if;
    end loop;
    if exists (select 1 from pg_roles where rolname = 'service_role') then
      execute format('grant select, insert, update, delete, truncate on %I to service_role', t);
    end if;
  end loop;

  foreach fn in array array[
    'bluetick_report_mark_replies(uuid[], text[], timestamptz[])', 'bluetick_report_mark()',
    'bluetick_report_mark_moved()', 'bluetick_report_truncate()'
  ] loop
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
