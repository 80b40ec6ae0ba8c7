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

-- Which definitions the rollups were computed with (a hash kept by analytics/0108_report_rollups.sql): when a
-- view or function they follow changes, every hour is noted again.
create table if not exists report_definitions (
  hash text not null
);

-- After each statement that inserts, updates or deletes rows: their hours. A deleted outbound message also changes
-- the reply of the customer messages it answered, which only the writer can still find (bluetick_report_reply_hours
-- from its own row); an added one is found by the refresh, which looks at the outbound messages of the hours it
-- recomputes. Security definer, so any role that may write message_logs may note its hours.
create or replace function bluetick_report_mark()
returns trigger
language plpgsql
security definer
set search_path = public, pg_temp
as $$
begin
  insert into report_dirty (org_id, hour)
  select distinct c.org_id, date_trunc('hour', c.created_at at time zone 'UTC') from changed c;
  if tg_op = 'DELETE' then
    insert into report_dirty (org_id, hour)
    select r.org_id, r.hour
    from (
      select array_agg(c.org_id) as orgs,
             array_agg(bluetick_customer(c.direction, c.to_phone, c.from_phone, c.customer_user_id)) as customers,
             array_agg(c.created_at) as ats
      from changed c
      where c.direction = 'OUTBOUND' and not bluetick_is_event(c.msg_kind)
    ) x
    cross join lateral bluetick_report_reply_hours(x.orgs, x.customers, x.ats) r;
  end if;
  return null;
end
$$;

-- A row whose organisation, direction, kind, customer or time changed: its old hour, and the hours of the customer
-- messages its old self answered (its new hour is noted by bluetick_report_mark).
create or replace function bluetick_report_mark_moved()
returns trigger
language plpgsql
security definer
set search_path = public, pg_temp
as $$
begin
  insert into report_dirty (org_id, hour) values (old.org_id, date_trunc('hour', old.created_at at time zone 'UTC'));
  if old.direction = 'OUTBOUND' and not bluetick_is_event(old.msg_kind) then
    insert into report_dirty (org_id, hour)
    select r.org_id, r.hour
    from bluetick_report_reply_hours(
      array[old.org_id], array[bluetick_customer(old.direction, old.to_phone, old.from_phone, old.customer_user_id)],
      array[old.created_at]) r;
  end if;
  return null;
end
$$;

create or replace function bluetick_report_truncate()
returns trigger
language plpgsql
security definer
set search_path = public, pg_temp
as $$
begin
  truncate report_dirty, report_outbound, report_latency, report_failures, report_pricing, report_unanswered,
    report_latency_daily, report_days;
  return null;
end
$$;

create or replace trigger message_logs_report_insert
  after insert on message_logs referencing new table as changed
  for each statement execute function bluetick_report_mark();
create or replace trigger message_logs_report_update
  after update on message_logs referencing new table as changed
  for each statement execute function bluetick_report_mark();
create or replace trigger message_logs_report_delete
  after delete on message_logs referencing old table as changed
  for each statement execute function bluetick_report_mark();
-- The customer is the contact phone, else the BSUID (bluetick_customer): a new BSUID beside a phone, as a status
-- merge brings, changes nothing here.
create or replace trigger message_logs_report_moved
  after update on message_logs
  for each row when ((old.org_id, old.direction, old.msg_kind, old.to_phone, old.from_phone, old.created_at)
                     is distinct from (new.org_id, new.direction, new.msg_kind, new.to_phone, new.from_phone,
                                       new.created_at)
                     or (old.customer_user_id is distinct from new.customer_user_id
                         and coalesce(case when new.direction = 'INBOUND' then new.from_phone else new.to_phone end,
                                      '') = ''))
  execute function bluetick_report_mark_moved();
create or replace trigger message_logs_report_truncate
  after truncate on message_logs
  for each statement execute function bluetick_report_truncate();

-- Access as for the service tables (0004_access.sql, 0008, 0011): row-level security on and no policy, so only the
-- owner and service_role (which writes message_logs, and so fires the triggers) reach the rollups.
do $$
declare
  t text;
  fn text;
  role_name text;
begin
  foreach t in array array['report_dirty', 'report_outbound', 'report_latency', 'report_failures', 'report_pricing',
                           'report_unanswered', 'report_latency_daily', 'report_days', 'report_definitions'] loop
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

  foreach fn in array array['bluetick_report_mark()', 'bluetick_report_mark_moved()', 'bluetick_report_truncate()'] loop
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
