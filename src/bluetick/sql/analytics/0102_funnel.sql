-- The delivery funnel of outbound messages: how many were sent, delivered, read and failed, the rates,
-- and how fast. Events (bluetick_is_event: the business's reactions, edits, revokes) get statuses too but
-- are not messages, so the funnels leave them out, as the failures and read rates do. Counts are of stage times present in whatsapp_status, whatever the final status (a
-- message delivered and later failed counts in both). Every outbound message is logged as sent, so sent
-- equals outbound unless a row was written outside bluetick.
--   delivery_rate_pct = delivered / sent, read_rate_pct = read / delivered (NULL when the divisor is 0);
--   seconds to deliver = sent to delivered, seconds to read = delivered to read (median and p95).
-- A day is the UTC date of created_at; a function's window is [since, until) on created_at.

-- message_funnel_daily: the funnel per organisation and UTC day.
-- Example: the last 7 days of one organisation.
--   select * from message_funnel_daily
--   where org_id = '0b6b9c3e-4a51-4f39-9a57-1f0f5e7f2a10' and day > current_date - 7
--   order by day;
create or replace view message_funnel_daily
with (security_invoker = true) as
select
  t.org_id,
  t.day,
  count(*) as outbound,
  count(t.sent_at) as sent,
  count(t.delivered_at) as delivered,
  count(t.read_at) as read,
  count(t.failed_at) as failed,
  bluetick_pct(count(t.delivered_at), count(t.sent_at)) as delivery_rate_pct,
  bluetick_pct(count(t.read_at), count(t.delivered_at)) as read_rate_pct,
  round((percentile_cont(0.5) within group (order by t.seconds_to_deliver))::numeric, 1) as median_seconds_to_deliver,
  round((percentile_cont(0.95) within group (order by t.seconds_to_deliver))::numeric, 1) as p95_seconds_to_deliver,
  round((percentile_cont(0.5) within group (order by t.seconds_to_read))::numeric, 1) as median_seconds_to_read,
  round((percentile_cont(0.95) within group (order by t.seconds_to_read))::numeric, 1) as p95_seconds_to_read
from message_status_timeline t
where t.direction = 'OUTBOUND' and not t.is_event
group by t.org_id, t.day;

comment on view message_funnel_daily is
  'Outbound funnel per org_id and UTC day: outbound, sent, delivered, read, failed, delivery_rate_pct '
  '(delivered/sent), read_rate_pct (read/delivered), median and p95 seconds to deliver and to read.';

-- message_funnel_daily_by_kind: the same per organisation, UTC day and msg_kind (NULL kind is its own row).
-- Example: which kind of message was read least yesterday?
--   select msg_kind, outbound, read_rate_pct from message_funnel_daily_by_kind
--   where org_id = '0b6b9c3e-4a51-4f39-9a57-1f0f5e7f2a10' and day = current_date - 1
--   order by read_rate_pct nulls first;
create or replace view message_funnel_daily_by_kind
with (security_invoker = true) as
select
  t.org_id,
  t.day,
  t.msg_kind,
  count(*) as outbound,
  count(t.sent_at) as sent,
  count(t.delivered_at) as delivered,
  count(t.read_at) as read,
  count(t.failed_at) as failed,
  bluetick_pct(count(t.delivered_at), count(t.sent_at)) as delivery_rate_pct,
  bluetick_pct(count(t.read_at), count(t.delivered_at)) as read_rate_pct,
  round((percentile_cont(0.5) within group (order by t.seconds_to_deliver))::numeric, 1) as median_seconds_to_deliver,
  round((percentile_cont(0.95) within group (order by t.seconds_to_deliver))::numeric, 1) as p95_seconds_to_deliver,
  round((percentile_cont(0.5) within group (order by t.seconds_to_read))::numeric, 1) as median_seconds_to_read,
  round((percentile_cont(0.95) within group (order by t.seconds_to_read))::numeric, 1) as p95_seconds_to_read
from message_status_timeline t
where t.direction = 'OUTBOUND' and not t.is_event
group by t.org_id, t.day, t.msg_kind;

comment on view message_funnel_daily_by_kind is
  'message_funnel_daily split by msg_kind: one row per org_id, UTC day and msg_kind.';

-- bluetick_funnel(org, since, until): the funnel of one organisation's outbound messages created in
-- [since, until), as one row (zeros and NULL rates when there were none). Percentiles are over the whole
-- window, which the daily view's rows cannot give.
-- Example: yesterday and today (UTC).
--   select * from bluetick_funnel('0b6b9c3e-4a51-4f39-9a57-1f0f5e7f2a10', current_date - 1, 'infinity');
create or replace function bluetick_funnel(p_org uuid, p_since timestamptz, p_until timestamptz)
returns table (
  outbound bigint,
  sent bigint,
  delivered bigint,
  read bigint,
  failed bigint,
  delivery_rate_pct numeric,
  read_rate_pct numeric,
  median_seconds_to_deliver numeric,
  p95_seconds_to_deliver numeric,
  median_seconds_to_read numeric,
  p95_seconds_to_read numeric
)
language sql stable
as $$
  select
    count(*),
    count(t.sent_at),
    count(t.delivered_at),
    count(t.read_at),
    count(t.failed_at),
    bluetick_pct(count(t.delivered_at), count(t.sent_at)),
    bluetick_pct(count(t.read_at), count(t.delivered_at)),
    round((percentile_cont(0.5) within group (order by t.seconds_to_deliver))::numeric, 1),
    round((percentile_cont(0.95) within group (order by t.seconds_to_deliver))::numeric, 1),
    round((percentile_cont(0.5) within group (order by t.seconds_to_read))::numeric, 1),
    round((percentile_cont(0.95) within group (order by t.seconds_to_read))::numeric, 1)
  from message_status_timeline t
  where t.org_id = p_org and t.direction = 'OUTBOUND' and not t.is_event
    and t.created_at >= p_since and t.created_at < p_until
$$;

comment on function bluetick_funnel(uuid, timestamptz, timestamptz) is
  'Outbound funnel of one org over created_at in [since, until): one row of counts, rates (NULL when '
  'the divisor is 0) and median/p95 seconds to deliver and to read.';

-- bluetick_funnel_by_kind(org, since, until): bluetick_funnel split by msg_kind, busiest kind first.
-- Example: the last 7 days.
--   select * from bluetick_funnel_by_kind('0b6b9c3e-4a51-4f39-9a57-1f0f5e7f2a10', now() - interval '7 days', now());
create or replace function bluetick_funnel_by_kind(p_org uuid, p_since timestamptz, p_until timestamptz)
returns table (
  msg_kind text,
  outbound bigint,
  sent bigint,
  delivered bigint,
  read bigint,
  failed bigint,
  delivery_rate_pct numeric,
  read_rate_pct numeric,
  median_seconds_to_deliver numeric,
  p95_seconds_to_deliver numeric,
  median_seconds_to_read numeric,
  p95_seconds_to_read numeric
)
language sql stable
as $$
  select
    t.msg_kind,
    count(*),
    count(t.sent_at),
    count(t.delivered_at),
    count(t.read_at),
    count(t.failed_at),
    bluetick_pct(count(t.delivered_at), count(t.sent_at)),
    bluetick_pct(count(t.read_at), count(t.delivered_at)),
    round((percentile_cont(0.5) within group (order by t.seconds_to_deliver))::numeric, 1),
    round((percentile_cont(0.95) within group (order by t.seconds_to_deliver))::numeric, 1),
    round((percentile_cont(0.5) within group (order by t.seconds_to_read))::numeric, 1),
    round((percentile_cont(0.95) within group (order by t.seconds_to_read))::numeric, 1)
  from message_status_timeline t
  where t.org_id = p_org and t.direction = 'OUTBOUND' and not t.is_event
    and t.created_at >= p_since and t.created_at < p_until
  group by t.msg_kind
  order by count(*) desc, t.msg_kind nulls last
$$;

comment on function bluetick_funnel_by_kind(uuid, timestamptz, timestamptz) is
  'bluetick_funnel split by msg_kind (one row per kind, NULL kind included), busiest kind first.';
