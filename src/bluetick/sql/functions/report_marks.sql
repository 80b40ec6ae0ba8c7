-- The report's marks: the triggers on message_logs that note which hours of which organisation the report's
-- rollups must recompute (docs/design.md, "The report's rollups"). The rollups themselves are in
-- sql/analytics/0108_report_rollups.sql.
-- A repeatable file (docs/design.md, Migrations): the one current definition of these functions, applied after
-- the versioned migrations and again whenever any repeatable file changes. Edit it in place; never restate a
-- function in a migration. Privileges granted to a function stay with it across `create or replace`.

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

-- A truncate of message_logs empties the rollups and their marks with it.
create or replace function bluetick_report_truncate()
returns trigger
language plpgsql
security definer
set search_path = public, pg_temp
as $$
begin
  truncate report_dirty, report_outbound, report_latency, report_failures, report_pricing, report_unanswered,
    report_latency_daily, report_days, report_campaigns, report_campaign_reads, report_campaign_errors,
    report_campaign_blocks, report_campaign_block_reads, report_campaign_block_errors;
  return null;
end
$$;
