-- bluetick analytics: small helpers the views and functions share.
-- Safe to run again: every statement is "or replace". Conventions for every analytics object:
--   * a message belongs to the UTC day (and hour) of created_at, its own time: the agent's sent_at for an
--     outbound reply, the customer's message time for an inbound one; the session's TimeZone never matters;
--   * a rate is a percentage with two decimals, and NULL (not an error, not 0) when its denominator is 0;
--   * seconds are whole seconds (whatsapp_status holds whole seconds); medians and 95th percentiles are
--     percentile_cont (linear interpolation between the two nearest values), rounded to 0.1 s.

-- The customer's phone of a message: to_phone of an OUTBOUND one, from_phone of an INBOUND one.
-- Example: select bluetick_contact_phone('INBOUND', '+15550783881', '+919876543210');  -- +919876543210
create or replace function bluetick_contact_phone(direction text, to_phone text, from_phone text)
returns text
language sql immutable parallel safe
as $$
  select case when direction = 'INBOUND' then from_phone else to_phone end
$$;

comment on function bluetick_contact_phone(text, text, text) is
  'The customer''s phone of a message: to_phone when OUTBOUND, from_phone when INBOUND; NULL for a '
  'customer known only by BSUID (see bluetick_customer).';

-- The customer of a message, the one key every analytics object groups and pairs by: the customer's phone
-- when the row has one, else their business-scoped user id (BSUID), for a customer who adopted a username
-- and whose phone Meta withholds. A customer whose phone appears on some rows and only the BSUID on others
-- is two customers here; the phone and the BSUID of one row are not linked across rows.
-- Self-contained (no call to bluetick_contact_phone) because it is indexed
-- (message_logs_org_contact_created_idx): change it only together with that index, and rebuild it.
-- Example: select bluetick_customer('INBOUND', '+15550783881', null, 'IN.2081978709342942');  -- IN.2081978709342942
create or replace function bluetick_customer(direction text, to_phone text, from_phone text, customer_user_id text)
returns text
language sql immutable parallel safe
as $$
  select coalesce(nullif(case when direction = 'INBOUND' then from_phone else to_phone end, ''),
                  nullif(customer_user_id, ''))
$$;

comment on function bluetick_customer(text, text, text, text) is
  'The customer of a message: their phone (to_phone when OUTBOUND, from_phone when INBOUND) when known, '
  'else customer_user_id (BSUID). Indexed (message_logs_org_contact_created_idx).';

-- Whether a row is an event about another message rather than a message: a reaction, an edit, a revoke or a
-- system message ("customer changed number"). Events are never a customer message awaiting a reply, never a
-- reply, never a conversation turn, and not counted by the funnels; message_status_timeline shows them.
-- Example: select bluetick_is_event('REACTION'), bluetick_is_event('TEXT'), bluetick_is_event(null);  -- t, f, f
create or replace function bluetick_is_event(msg_kind text)
returns boolean
language sql immutable parallel safe
as $$
  select coalesce(msg_kind in ('REACTION', 'EDIT', 'REVOKE', 'SYSTEM'), false)
$$;

comment on function bluetick_is_event(text) is
  'True when msg_kind is REACTION, EDIT, REVOKE or SYSTEM: an event about a message, not a message.';

-- The error code of a failed_reason written `Error {code}: {title} - {message} ({details})`; NULL when the
-- reason carries no code (`Error: ...`) or is NULL.
-- Example: select bluetick_error_code('Error 131047: Re-engagement message');  -- 131047
create or replace function bluetick_error_code(failed_reason text)
returns text
language sql immutable parallel safe
as $$
  select substring(failed_reason from '^Error ([^:\s]+)')
$$;

comment on function bluetick_error_code(text) is
  'The code of a failed_reason "Error {code}: ...", as text; NULL when there is none.';

-- part / whole as a percentage with two decimals; NULL when whole is 0 (a rate of nothing is unknown).
-- Example: select bluetick_pct(2, 3), bluetick_pct(0, 0);  -- 66.67, NULL
create or replace function bluetick_pct(part bigint, whole bigint)
returns numeric
language sql immutable parallel safe
as $$
  select round(100.0 * part / nullif(whole, 0), 2)
$$;

comment on function bluetick_pct(bigint, bigint) is
  'part / whole as a percentage rounded to two decimals; NULL when whole is 0.';

-- The bucket of a number of seconds from sent to read, for the campaign funnel's median (migration
-- 0020_campaign_blocks.sql): under 16 seconds each second is its own bucket; above, each power of two is cut in 8
-- equal buckets (16-17, 18-19, ..., 30-31, then 32-35, ...), so a bucket spans at most an eighth of its values and
-- its number grows with the seconds. bluetick_read_bucket_floor(b) is bucket b's first second: b holds
-- [floor(b), floor(b + 1)).
-- Example: select bluetick_read_bucket(17), bluetick_read_bucket(1643), bluetick_read_bucket_floor(68);  -- 16, 68, 1536
create or replace function bluetick_read_bucket(p_seconds integer)
returns integer
language sql immutable parallel safe
as $$
  select case when p_seconds < 16 then p_seconds
              else 8 * (s.octave - 3) + (p_seconds >> (s.octave - 3)) end
  from (  -- the power of two at or under p_seconds (2 ^ octave), exactly, by the count of powers at or under it
    select width_bucket(p_seconds, array[1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768,
                                         65536, 131072, 262144, 524288, 1048576, 2097152, 4194304, 8388608, 16777216,
                                         33554432, 67108864, 134217728, 268435456, 536870912, 1073741824]) - 1
             as octave
  ) s
$$;

comment on function bluetick_read_bucket(integer) is
  'The campaign funnel''s bucket of a number of seconds: the number itself under 16, else one of 8 equal parts of '
  'its power of two; grows with the seconds.';

create or replace function bluetick_read_bucket_floor(p_bucket integer)
returns bigint  -- the bucket after the last is 2 ^ 31
language sql immutable parallel safe
as $$
  select case when p_bucket < 16 then p_bucket
              else (p_bucket - 8 * (p_bucket / 8 - 1))::bigint << (p_bucket / 8 - 1) end
$$;

comment on function bluetick_read_bucket_floor(integer) is
  'The first second of a bluetick_read_bucket bucket: bucket b holds [floor(b), floor(b + 1)).';

-- One customer across identifier changes. customer_links (migration 0014) holds each change a customer's
-- system message announced (user_changed_number: phone to phone; user_changed_user_id: BSUID to BSUID).
-- Every analytics object that groups or pairs by customer follows them to the customer's newest identifier,
-- so a customer who changed number is one customer, keyed by the number they have now.
-- The walk, from an identifier x reached at time t (the start at -infinity): take the link out of x with the
-- latest changed_at that is at or after t (on a tie, the greatest new_id), go on from its new_id at its time;
-- stop where no link goes on, after 16 steps, or where the link is of the same time as the step before and leads
-- to an identifier already on the path (a cycle of links of one time: the walk ends where it would repeat).
-- The result is the last identifier reached. Going forward in time only, a customer who changed A to B and
-- later B back to A is A from both ends, and an older link out of a number does not reach a later holder's
-- changes. The mapping is per identifier, not per message: a recycled number, linked, is the new holder's
-- history too. Links join phones to phones and BSUIDs to BSUIDs; a customer keyed by phone
-- (bluetick_customer) follows phone links only.
-- bluetick_customer_walk(org, identifiers): each given identifier with the customer (newest identifier) it
-- reaches; the one definition of the walk.
-- Example: select * from bluetick_customer_walk('0b6b9c3e-4a51-4f39-9a57-1f0f5e7f2a10', array['+919800000001']);
create or replace function bluetick_customer_walk(p_org uuid, p_identifiers text[])
returns table (identifier text, customer text)
language sql stable
as $$
  with recursive walk (start, id, at, path, depth) as (
    select distinct s.id, s.id, '-infinity'::timestamptz, array[s.id], 0
    from unnest(p_identifiers) as s(id)
    where s.id is not null
    union all
    select w.start, n.new_id, n.changed_at, w.path || n.new_id, w.depth + 1
    from walk w
    cross join lateral (
      select l.new_id, l.changed_at
      from customer_links l
      where l.org_id = p_org and l.old_id = w.id and l.changed_at >= w.at
      order by l.changed_at desc, l.new_id desc
      limit 1
    ) n
    where w.depth < 16 and (n.changed_at > w.at or n.new_id <> all (w.path))
  )
  select distinct on (w.start) w.start, w.id
  from walk w
  order by w.start, w.depth desc
$$;

comment on function bluetick_customer_walk(uuid, text[]) is
  'Each identifier with the newest identifier customer_links lead it to (newest link at or after the time '
  'reached, cycle-safe, at most 16 steps); an unlinked identifier maps to itself.';

-- bluetick_customer_id(org, customer): the customer's newest identifier, p_customer itself when unlinked.
-- For one customer at a time; the views and functions join bluetick_customer_links instead of calling this per
-- row (same walk).
-- Example: select bluetick_customer_id('0b6b9c3e-4a51-4f39-9a57-1f0f5e7f2a10', '+919800000001');
create or replace function bluetick_customer_id(p_org uuid, p_customer text)
returns text
language sql stable
as $$
  select coalesce((select w.customer from bluetick_customer_walk(p_org, array[p_customer]) w), p_customer)
$$;

comment on function bluetick_customer_id(uuid, text) is
  'The newest identifier of a customer across identifier changes (customer_links), p_customer when unlinked; '
  'the key every analytics object groups and pairs customers by.';

-- bluetick_customer_links(org): every identifier named by one of the org's links, with its customer (newest
-- identifier) and all the identifiers of that customer (identifiers, sorted, the customer's own included).
-- Identifiers not listed are customers of their own. Empty, at the cost of one index probe, for an org with no
-- links: joined (a hash join on a small set) rather than called per row.
-- Example: select * from bluetick_customer_links('0b6b9c3e-4a51-4f39-9a57-1f0f5e7f2a10');
create or replace function bluetick_customer_links(p_org uuid)
returns table (identifier text, customer text, identifiers text[])
language sql stable
as $$
  select w.identifier, w.customer,
         array_agg(w.identifier) over (partition by w.customer order by w.identifier
                                       rows between unbounded preceding and unbounded following)
  from (select array_agg(distinct x.id) as ids
        from customer_links l
        cross join lateral (values (l.old_id), (l.new_id)) as x(id)
        where l.org_id = p_org) s
  cross join lateral bluetick_customer_walk(p_org, s.ids) w  -- inlined: no subquery among its arguments
$$;

comment on function bluetick_customer_links(uuid) is
  'Each identifier of one org''s customer_links with its customer (bluetick_customer_id) and all the '
  'identifiers of that customer; an identifier not listed is a customer of its own.';

-- customer_identities: bluetick_customer_links of every organisation with links, for the views (which cannot
-- take an org argument); filtered by org_id, it computes that organisation's only.
-- Example: select * from customer_identities where org_id = '0b6b9c3e-4a51-4f39-9a57-1f0f5e7f2a10';
create or replace view customer_identities
with (security_invoker = true) as
select o.org_id, l.identifier, l.customer, l.identifiers
from (select distinct c.org_id from customer_links c) o
cross join lateral bluetick_customer_links(o.org_id) l;

comment on view customer_identities is
  'Per org_id: each identifier named by customer_links, its customer (newest identifier) and all the '
  'identifiers of that customer (bluetick_customer_links).';
