-- Response times: how fast the business answers its customers. The reply to an INBOUND message is the
-- first OUTBOUND message of the same organisation to the same customer (bluetick_customer: the phone, else
-- the BSUID, so a customer known only by username is answered like any other) created at or after it;
-- created_at has whole seconds, so an agent answering within the same second counts as 0 s rather than as
-- unanswered. Any outbound message counts, a failed one included (the business did answer). When a customer
-- sends several messages before a reply, each of them waits until that reply. Events (bluetick_is_event)
-- count on neither side: a customer's reaction, edit, revoke or system message awaits no reply, and the
-- business's reaction is no reply.
-- A customer who changed number (or BSUID) is one customer (bluetick_customer_id, 0100_helpers.sql): `customer`
-- is their newest identifier, and a message to any of their identifiers answers a message from any of them
-- (the old number's last question is answered by the reply to the new one). customer_phone stays the phone
-- the message came from. The links are joined (customer_identities, bluetick_customer_links), not looked up
-- per row: for an organisation with none, the reply is still one probe of message_logs_org_contact_created_idx,
-- and the view is a union of the customers with one identifier and those with links, so a filter on `customer`
-- still reaches that index (measured in README.md, "Platform facts").

-- message_response_times: one row per inbound message, with its reply (NULL while unanswered).
-- Example: response time per customer over the last 7 days (seed query 15).
--   select customer, count(*) as messages, avg(seconds_to_reply), min(seconds_to_reply), max(seconds_to_reply)
--   from message_response_times
--   where org_id = '0b6b9c3e-4a51-4f39-9a57-1f0f5e7f2a10' and received_at >= now() - interval '7 days'
--   group by customer;
create or replace view message_response_times
with (security_invoker = true) as
-- A customer of one identifier (nearly all): one probe of the index for their next outbound message. A filter
-- on `customer` reaches that index here too.
select
  i.org_id,
  i.id,
  i.bsp_msg_id,
  i.contact_phone as customer_phone,
  i.created_at as received_at,
  i.day,
  r.bsp_msg_id as reply_bsp_msg_id,
  r.created_at as replied_at,
  extract(epoch from r.created_at - i.created_at)::integer as seconds_to_reply,
  i.customer
from message_status_timeline i
left join lateral (
  select o.bsp_msg_id, o.created_at
  from message_logs o
  where o.org_id = i.org_id
    and bluetick_customer(o.direction, o.to_phone, o.from_phone, o.customer_user_id) = i.customer
    and o.direction = 'OUTBOUND' and not bluetick_is_event(o.msg_kind)
    and o.created_at >= i.created_at
  order by o.created_at
  limit 1
) r on true
where i.direction = 'INBOUND' and not i.is_event
  and not exists (select 1 from customer_identities k where k.org_id = i.org_id and k.identifier = i.customer)
union all
-- A customer who changed identifier: one probe per identifier, the earliest reply of them all.
select
  i.org_id,
  i.id,
  i.bsp_msg_id,
  i.contact_phone,
  i.created_at,
  i.day,
  r.bsp_msg_id,
  r.created_at,
  extract(epoch from r.created_at - i.created_at)::integer,
  k.customer
from customer_identities k
join message_status_timeline i on i.org_id = k.org_id and i.customer = k.identifier
left join lateral (
  select o.bsp_msg_id, o.created_at
  from unnest(k.identifiers) as c(customer)
  cross join lateral (
    select o.bsp_msg_id, o.created_at
    from message_logs o
    where o.org_id = i.org_id
      and bluetick_customer(o.direction, o.to_phone, o.from_phone, o.customer_user_id) = c.customer
      and o.direction = 'OUTBOUND' and not bluetick_is_event(o.msg_kind)
      and o.created_at >= i.created_at
    order by o.created_at
    limit 1
  ) o
  order by o.created_at, o.bsp_msg_id
  limit 1
) r on true
where i.direction = 'INBOUND' and not i.is_event;

comment on view message_response_times is
  'One row per customer message (events left out): customer (phone, else BSUID; the newest across '
  'identifier changes), customer_phone (the message''s phone only), received_at, the first outbound message '
  'to that customer (any of their identifiers) at or after it (reply_bsp_msg_id, replied_at) and '
  'seconds_to_reply; NULL reply while unanswered.';

-- response_times_daily: per organisation and UTC day of the inbound message: how many customer messages
-- came, how many have been answered (whenever the reply came), and median / p95 seconds to reply.
-- Example:
--   select * from response_times_daily
--   where org_id = '0b6b9c3e-4a51-4f39-9a57-1f0f5e7f2a10' and day > current_date - 7 order by day;
create or replace view response_times_daily
with (security_invoker = true) as
select
  r.org_id,
  r.day,
  count(*) as inbound,
  count(r.replied_at) as answered,
  count(*) - count(r.replied_at) as unanswered,
  round((percentile_cont(0.5) within group (order by r.seconds_to_reply))::numeric, 1) as median_seconds_to_reply,
  round((percentile_cont(0.95) within group (order by r.seconds_to_reply))::numeric, 1) as p95_seconds_to_reply
from message_response_times r
group by r.org_id, r.day;

comment on view response_times_daily is
  'Per org_id and UTC day of the customer message: inbound, answered, unanswered, median and p95 '
  'seconds to reply.';

-- bluetick_response_times(org, since, until): the same over customer messages received in [since, until).
-- Example: the last 7 days.
--   select * from bluetick_response_times('0b6b9c3e-4a51-4f39-9a57-1f0f5e7f2a10', now() - interval '7 days', now());
create or replace function bluetick_response_times(p_org uuid, p_since timestamptz, p_until timestamptz)
returns table (
  inbound bigint,
  answered bigint,
  unanswered bigint,
  median_seconds_to_reply numeric,
  p95_seconds_to_reply numeric
)
language sql stable
as $$
  select
    count(*),
    count(r.replied_at),
    count(*) - count(r.replied_at),
    round((percentile_cont(0.5) within group (order by r.seconds_to_reply))::numeric, 1),
    round((percentile_cont(0.95) within group (order by r.seconds_to_reply))::numeric, 1)
  from message_response_times r
  where r.org_id = p_org and r.received_at >= p_since and r.received_at < p_until
$$;

comment on function bluetick_response_times(uuid, timestamptz, timestamptz) is
  'Response times of one org to customer messages received in [since, until): inbound, answered, '
  'unanswered, median and p95 seconds to reply.';

-- bluetick_unanswered(org, since, min_wait, as_of): customer messages received since `since` that had no
-- reply by `as_of` (default now()) and have waited at least `min_wait` (default 0), oldest first.
-- Its result gained `customer`; a function's result cannot change in place, so the older one is dropped
-- once (an analyst's view calling it then stops the migration, which rolls back, until that view is dropped).
-- Example: unanswered for more than 15 minutes, over the last 48 hours.
--   select customer, received_at, round(seconds_waiting / 3600.0, 1) as hours_waiting, body
--   from bluetick_unanswered('0b6b9c3e-4a51-4f39-9a57-1f0f5e7f2a10', now() - interval '48 hours', interval '15 minutes');
do $$
begin
  if exists (select 1 from pg_proc
             where oid = to_regprocedure('bluetick_unanswered(uuid, timestamptz, interval, timestamptz)')
               and not ('customer' = any (proargnames))) then
    drop function bluetick_unanswered(uuid, timestamptz, interval, timestamptz);
  end if;
end
$$;

create or replace function bluetick_unanswered(
  p_org uuid,
  p_since timestamptz,
  p_min_wait interval default interval '0',
  p_as_of timestamptz default now()
)
returns table (
  id uuid,
  bsp_msg_id text,
  customer_phone text,
  received_at timestamptz,
  seconds_waiting integer,
  body text,
  customer text
)
language sql stable
as $$
  with links as materialized (
    select l.identifier, l.customer, l.identifiers from bluetick_customer_links(p_org) l
  )
  select
    i.id,
    i.bsp_msg_id,
    i.contact_phone,
    i.created_at,
    extract(epoch from p_as_of - i.created_at)::integer,
    i.body,
    coalesce(k.customer, i.customer)
  from message_status_timeline i
  left join links k on k.identifier = i.customer
  where i.org_id = p_org and i.direction = 'INBOUND' and not i.is_event
    and i.created_at >= p_since and i.created_at <= p_as_of - p_min_wait
    and not exists (  -- a reply under the identifier of the message
      select 1
      from message_logs o
      where o.org_id = p_org
        and bluetick_customer(o.direction, o.to_phone, o.from_phone, o.customer_user_id) = i.customer
        and o.direction = 'OUTBOUND' and not bluetick_is_event(o.msg_kind)
        and o.created_at >= i.created_at and o.created_at <= p_as_of
    )
    and not exists (  -- a reply under another identifier of the customer (none for most)
      select 1
      from message_logs o
      where o.org_id = p_org
        and bluetick_customer(o.direction, o.to_phone, o.from_phone, o.customer_user_id) = any (k.identifiers)
        and o.direction = 'OUTBOUND' and not bluetick_is_event(o.msg_kind)
        and o.created_at >= i.created_at and o.created_at <= p_as_of
    )
  order by i.created_at, i.bsp_msg_id
$$;

comment on function bluetick_unanswered(uuid, timestamptz, interval, timestamptz) is
  'Customer messages (events left out) of one org received since `since` with no reply by as_of (default '
  'now()) that have waited at least min_wait (default 0), with seconds_waiting and customer (the newest '
  'identifier across identifier changes; a reply to any of them answers), oldest first.';
