-- Engagement: who reads what the business sends, and when sending works best.
-- read_rate_pct = read / delivered of outbound messages (NULL when none was delivered), as in the funnel.
-- A customer is bluetick_customer (the phone, else the BSUID); events (bluetick_is_event) are no
-- conversation turns and are left out of every count and time here.
-- A customer who changed number (or BSUID) is one customer (bluetick_customer_id, 0100_helpers.sql): their rows
-- under every identifier count on one row, keyed by the newest identifier, with contact_phone that identifier
-- when it is a phone their messages carry (else the least phone seen) and customer_user_id likewise. The links
-- are joined (customer_identities, bluetick_customer_links), not looked up per row; the view is a union of the
-- customers with one identifier and those with links, so a filter on `customer` still reaches the index on it.

-- contact_engagement: per organisation and customer, over all time: outbound messages, how many were
-- delivered and read, the read rate, how many messages the customer sent (inbound), first and last message.
-- contact_phone is the customer's phone (NULL for a customer known only by BSUID), customer_user_id their
-- BSUID where any row carries one.
-- Example: the 10 most engaged customers with more than 5 messages (seed query 4, all time).
--   select customer, outbound, read_rate_pct from contact_engagement
--   where org_id = '0b6b9c3e-4a51-4f39-9a57-1f0f5e7f2a10' and outbound > 5
--   order by read_rate_pct desc nulls last, outbound desc limit 10;
create or replace view contact_engagement
with (security_invoker = true) as
-- Customers of one identifier (nearly all); a filter on `customer` reaches the index on it.
select
  t.org_id,
  min(t.contact_phone) as contact_phone,
  count(*) filter (where t.direction = 'OUTBOUND') as outbound,
  count(t.delivered_at) filter (where t.direction = 'OUTBOUND') as delivered,
  count(t.read_at) filter (where t.direction = 'OUTBOUND') as read,
  bluetick_pct(count(t.read_at) filter (where t.direction = 'OUTBOUND'),
               count(t.delivered_at) filter (where t.direction = 'OUTBOUND')) as read_rate_pct,
  count(*) filter (where t.direction = 'INBOUND') as inbound,
  min(t.created_at) as first_message_at,
  max(t.created_at) as last_message_at,
  t.customer,
  min(t.customer_user_id) as customer_user_id
from message_status_timeline t
where t.customer is not null and not t.is_event
  and not exists (select 1 from customer_identities k where k.org_id = t.org_id and k.identifier = t.customer)
group by t.org_id, t.customer
union all
-- Customers who changed identifier: their rows under every identifier, on the newest one's row.
select
  k.org_id,
  coalesce(max(t.contact_phone) filter (where t.contact_phone = k.customer), min(t.contact_phone)),
  count(*) filter (where t.direction = 'OUTBOUND'),
  count(t.delivered_at) filter (where t.direction = 'OUTBOUND'),
  count(t.read_at) filter (where t.direction = 'OUTBOUND'),
  bluetick_pct(count(t.read_at) filter (where t.direction = 'OUTBOUND'),
               count(t.delivered_at) filter (where t.direction = 'OUTBOUND')),
  count(*) filter (where t.direction = 'INBOUND'),
  min(t.created_at),
  max(t.created_at),
  k.customer,
  coalesce(max(t.customer_user_id) filter (where t.customer_user_id = k.customer), min(t.customer_user_id))
from customer_identities k
join message_status_timeline t on t.org_id = k.org_id and t.customer = k.identifier
where not t.is_event
group by k.org_id, k.customer;

comment on view contact_engagement is
  'Per org_id and customer (phone, else BSUID; the newest across identifier changes), all time, events left '
  'out: outbound, delivered, read, '
  'read_rate_pct (read/delivered), inbound (messages from the customer), first_message_at, last_message_at, '
  'contact_phone (phone only), customer_user_id (BSUID).';

-- bluetick_contact_engagement(org, since, until): contact_engagement over messages created in
-- [since, until), most messages first. Its result gained `customer` and `customer_user_id`: the older
-- function is dropped once (see bluetick_unanswered).
-- Example: the last 7 days (seed query 4).
--   select * from bluetick_contact_engagement('0b6b9c3e-4a51-4f39-9a57-1f0f5e7f2a10', now() - interval '7 days', now())
--   where outbound > 5 order by read_rate_pct desc nulls last limit 10;
do $$
begin
  if exists (select 1 from pg_proc
             where oid = to_regprocedure('bluetick_contact_engagement(uuid, timestamptz, timestamptz)')
               and not ('customer' = any (proargnames))) then
    drop function bluetick_contact_engagement(uuid, timestamptz, timestamptz);
  end if;
end
$$;

create or replace function bluetick_contact_engagement(p_org uuid, p_since timestamptz, p_until timestamptz)
returns table (
  contact_phone text,
  outbound bigint,
  delivered bigint,
  read bigint,
  read_rate_pct numeric,
  inbound bigint,
  first_message_at timestamptz,
  last_message_at timestamptz,
  customer text,
  customer_user_id text
)
language sql stable
as $$
  with links as materialized (
    select l.identifier, l.customer from bluetick_customer_links(p_org) l
  )
  select
    coalesce(max(t.contact_phone) filter (where t.contact_phone = coalesce(k.customer, t.customer)),
             min(t.contact_phone)),
    count(*) filter (where t.direction = 'OUTBOUND'),
    count(t.delivered_at) filter (where t.direction = 'OUTBOUND'),
    count(t.read_at) filter (where t.direction = 'OUTBOUND'),
    bluetick_pct(count(t.read_at) filter (where t.direction = 'OUTBOUND'),
                 count(t.delivered_at) filter (where t.direction = 'OUTBOUND')),
    count(*) filter (where t.direction = 'INBOUND'),
    min(t.created_at),
    max(t.created_at),
    coalesce(k.customer, t.customer),
    coalesce(max(t.customer_user_id) filter (where t.customer_user_id = coalesce(k.customer, t.customer)),
             min(t.customer_user_id))
  from message_status_timeline t
  left join links k on k.identifier = t.customer
  where t.org_id = p_org and t.customer is not null and not t.is_event
    and t.created_at >= p_since and t.created_at < p_until
  group by coalesce(k.customer, t.customer)
  order by count(*) desc, coalesce(k.customer, t.customer)
$$;

comment on function bluetick_contact_engagement(uuid, timestamptz, timestamptz) is
  'contact_engagement of one org over messages created in [since, until).';

-- read_rate_by_hour: per organisation and UTC hour of day (0-23) of sending, over all time: outbound
-- messages, delivered, read and the read rate. Only hours with outbound messages have a row.
-- Example: the best hours to send.
--   select hour_of_day, outbound, read_rate_pct from read_rate_by_hour
--   where org_id = '0b6b9c3e-4a51-4f39-9a57-1f0f5e7f2a10' order by read_rate_pct desc nulls last;
create or replace view read_rate_by_hour
with (security_invoker = true) as
select
  t.org_id,
  extract(hour from t.created_at at time zone 'UTC')::integer as hour_of_day,
  count(*) as outbound,
  count(t.delivered_at) as delivered,
  count(t.read_at) as read,
  bluetick_pct(count(t.read_at), count(t.delivered_at)) as read_rate_pct
from message_status_timeline t
where t.direction = 'OUTBOUND' and not t.is_event
group by t.org_id, extract(hour from t.created_at at time zone 'UTC')::integer;

comment on view read_rate_by_hour is
  'Per org_id and UTC hour_of_day of sending (0-23): outbound, delivered, read, read_rate_pct.';

-- bluetick_read_rate_by_hour(org, since, until, time_zone): the same over messages created in
-- [since, until), with the hour of day in `time_zone` (default 'UTC'; any name of pg_timezone_names),
-- so "the best hour" can be read in the customers' own time.
-- Example: the last 30 days, in India's time.
--   select * from bluetick_read_rate_by_hour('0b6b9c3e-4a51-4f39-9a57-1f0f5e7f2a10',
--                                            now() - interval '30 days', now(), 'Asia/Kolkata');
create or replace function bluetick_read_rate_by_hour(
  p_org uuid,
  p_since timestamptz,
  p_until timestamptz,
  p_time_zone text default 'UTC'
)
returns table (
  hour_of_day integer,
  outbound bigint,
  delivered bigint,
  read bigint,
  read_rate_pct numeric
)
language sql stable
as $$
  select
    extract(hour from t.created_at at time zone p_time_zone)::integer,
    count(*),
    count(t.delivered_at),
    count(t.read_at),
    bluetick_pct(count(t.read_at), count(t.delivered_at))
  from message_status_timeline t
  where t.org_id = p_org and t.direction = 'OUTBOUND' and not t.is_event
    and t.created_at >= p_since and t.created_at < p_until
  group by 1
  order by 1
$$;

comment on function bluetick_read_rate_by_hour(uuid, timestamptz, timestamptz, text) is
  'Read rate of one org''s outbound messages created in [since, until) per hour of day of sending, in '
  'time_zone (default UTC).';
