-- Campaigns and templates (issue 25): how a campaign and a template did, and who got each campaign's messages.
-- Outbound messages carry the template they were sent with (template_name, template_language) and the campaign they
-- were sent in (campaign_id, campaign_name), as logged (migration 0016_campaigns.sql). A customer's reply to a
-- message and a tap on one of its buttons (or a tracked link) are the unranked keys `replied` and `clicked` of its
-- whatsapp_status, each the earliest time (merge rule 5): they never change `status`, so the other funnels keep
-- their numbers. As everywhere in sql/analytics: outbound messages only, events (bluetick_is_event) left out, a
-- window is [from, to) on created_at, a day is the UTC date of created_at, rates are percentages with two decimals
-- (NULL when the denominator is 0), medians are percentile_cont rounded to 0.1 s. Every function is security
-- invoker and stable: on Supabase an `authenticated` user sees their own organisation only.
--
-- Examples:
--   select * from bluetick_campaign_funnel('0b6b9c3e-4a51-4f39-9a57-1f0f5e7f2a10', now() - interval '30 days', now());
--   select * from bluetick_template_health('0b6b9c3e-4a51-4f39-9a57-1f0f5e7f2a10', current_date - 7, current_date + 1);
--   select jsonb_array_length(bluetick_campaign_recipients('0b6b9c3e-4a51-4f39-9a57-1f0f5e7f2a10', 'diwali-24',
--                                                          null, null, 1000));

-- bluetick_campaign_funnel(org, from, to): the funnel of one organisation's outbound messages created in [from, to)
-- per campaign and template: one row per (campaign_id, template_name, template_language) among the messages that
-- name a campaign or a template (a template sent outside any campaign has campaign_id NULL; a campaign message with
-- no template, template_name NULL; messages naming neither are left out). campaign_name is the name the campaign's
-- newest message in the window that has one carries, the same on each of its rows (a campaign renamed midway stays
-- one campaign).
--   outbound, and the messages with each stage time in whatsapp_status: sent, delivered, read, replied, clicked,
--   failed (whatever the final status, as the other funnels count); *_pct: each of them over outbound;
--   median_seconds_sent_to_read: median of read - sent over the messages read (whole seconds, percentile_cont,
--   0.1 s); top_error_code: the most frequent bluetick_error_code of the failed messages (on a tie the smallest
--   code text; NULL when none has a code); opted_out: distinct customers messaged in the row who stopped marketing
--   messages (customer_preferences, marketing_messages, `stop`) in [created_at, created_at + 24 hours) of one of
--   those messages, whatever they chose later; customers are followed across identifier changes
--   (bluetick_customer_links), as bluetick_marketing_preferences does; 0 when none.
-- How: the whole UTC hours of the window whose rollups are current (no note in report_dirty) are read from the
-- campaign rollups, covered by the fewest aligned blocks of 2^level hours (0020: about 20 blocks for 30 days, single
-- hours among them); the rest (the window's ragged ends, and the hours written since their last refresh) from the
-- messages. Counts add up; the top code is found in the codes' counts; the median in two steps: the bucket of
-- seconds (bluetick_read_bucket) holding each of percentile_cont's two ranks, from the blocks' counts by bucket, then
-- the second at that rank among the bucket's hourly rows (0018) and messages. So the numbers are the messages' own
-- at any time, and a 30-day window costs a few hundred rows per campaign and template, whatever the organisation's
-- size. opted_out starts from the few customers who stopped, each looked up by index.
-- Example: the last 30 days, the campaigns with the most opt-outs first.
--   select campaign_id, campaign_name, template_name, template_language, outbound, read_pct, replied_pct, opted_out
--   from bluetick_campaign_funnel('0b6b9c3e-4a51-4f39-9a57-1f0f5e7f2a10', now() - interval '30 days', now());
create or replace function bluetick_campaign_funnel(p_org uuid, p_from timestamptz, p_to timestamptz)
returns table (
  campaign_id text,
  campaign_name text,
  template_name text,
  template_language text,
  outbound bigint,
  sent bigint,
  delivered bigint,
  read bigint,
  replied bigint,
  clicked bigint,
  failed bigint,
  sent_pct numeric,
  delivered_pct numeric,
  read_pct numeric,
  replied_pct numeric,
  clicked_pct numeric,
  failed_pct numeric,
  median_seconds_sent_to_read numeric,
  top_error_code text,
  opted_out bigint
)
language sql stable
as $$
  with span as materialized (
    -- the whole UTC hours [first_hour, end_hour) inside the window (none when end_hour = first_hour)
    select s.first_hour, greatest(date_trunc('hour', p_to at time zone 'UTC'), s.first_hour) as end_hour
    from (
      select case when date_trunc('hour', p_from at time zone 'UTC') = p_from at time zone 'UTC'
                  then p_from at time zone 'UTC'
                  else date_trunc('hour', p_from at time zone 'UTC') + interval '1 hour' end as first_hour
    ) s
  ),
  dirty as materialized (  -- hours written since their rollups were computed: read from the messages
    select distinct d.hour
    from report_dirty d, span s
    where d.org_id = p_org and d.hour >= s.first_hour and d.hour < s.end_hour
  ),
  hours as materialized (  -- the other whole hours, as hours since 1970-01-01 00:00 UTC, those with rollups only
    select (extract(epoch from g)::bigint / 3600)::integer as h
    from span s
    cross join lateral (  -- the organisation's first and last day with rollups: an unbounded window ends there
      select min(r.day)::timestamp as first_day, (max(r.day) + 1)::timestamp as end_day
      from report_campaigns r where r.org_id = p_org
    ) k
    cross join lateral generate_series(
      case when k.first_day is null then timestamp 'epoch' else greatest(s.first_hour, k.first_day) end,
      case when k.first_day is null then timestamp 'epoch' else least(s.end_hour, k.end_day) end - interval '1 hour',
      interval '1 hour') g
    where g not in (select d.hour from dirty d)
  ),
  full_blocks as materialized (  -- every aligned block of level 0 (an hour) to 12 all of whose hours are there
    select l.level, x.h >> l.level as block
    from hours x cross join generate_series(0, 12) l(level)
    group by 1, 2
    having count(*) = 1 << l.level
  ),
  blocks as materialized (  -- the fewest of them that hold every hour (migrations/0020_campaign_blocks.sql)
    select f.level, f.block
    from full_blocks f
    where not exists (select 1 from full_blocks p where p.level = f.level + 1 and p.block = f.block >> 1)
  ),
  hourly as materialized (  -- the blocks of one hour, as report_campaigns' day and hour
    select (timestamp '1970-01-01' + make_interval(hours => b.block))::date as day,
           extract(hour from timestamp '1970-01-01' + make_interval(hours => b.block))::smallint as hour
    from blocks b where b.level = 0
  ),
  rolled as materialized (  -- the rollup rows of the blocks
    select r.campaign_id, r.template_name, r.template_language, r.outbound, r.sent, r.delivered, r.read, r.replied,
           r.clicked, r.failed, r.named_at, r.named_id, r.campaign_name
    from hourly h join report_campaigns r on r.org_id = p_org and r.day = h.day and r.hour = h.hour
    union all
    select r.campaign_id, r.template_name, r.template_language, r.outbound, r.sent, r.delivered, r.read, r.replied,
           r.clicked, r.failed, r.named_at, r.named_id, r.campaign_name
    from blocks b join report_campaign_blocks r on r.org_id = p_org and r.level = b.level and r.block = b.block
    where b.level > 0
  ),
  raw as materialized (  -- the messages of the window's ends and of the noted hours
    select c.*
    from span s
    cross join lateral (
      select p_from as lo, least(s.first_hour at time zone 'UTC', p_to) as hi
      union all
      select greatest(s.end_hour at time zone 'UTC', p_from), p_to
      union all
      select d.hour at time zone 'UTC', (d.hour + interval '1 hour') at time zone 'UTC' from dirty d
    ) r
    cross join lateral (
      select c.* from campaign_messages c
      where c.org_id = p_org and c.created_at >= r.lo and c.created_at < r.hi
        and c.created_at >= p_from and c.created_at < p_to
      offset 0  -- planned per range, so each reaches the index on (org_id, created_at)
    ) c
  ),
  raw_reads as materialized (  -- the messages' reads per group and second, with the second's bucket
    select c.campaign_id, c.template_name, c.template_language, c.seconds_sent_to_read as seconds,
           bluetick_read_bucket(c.seconds_sent_to_read) as bucket, count(*) as n
    from raw c
    where c.seconds_sent_to_read is not null
    group by 1, 2, 3, 4
  ),
  groups as (
    select x.campaign_id, x.template_name, x.template_language, sum(x.outbound)::bigint as outbound,
           sum(x.sent)::bigint as sent, sum(x.delivered)::bigint as delivered, sum(x.read)::bigint as read,
           sum(x.replied)::bigint as replied, sum(x.clicked)::bigint as clicked, sum(x.failed)::bigint as failed
    from (
      select r.campaign_id, r.template_name, r.template_language, r.outbound, r.sent, r.delivered, r.read, r.replied,
             r.clicked, r.failed
      from rolled r
      union all
      select c.campaign_id, c.template_name, c.template_language, 1, (c.sent_at is not null)::integer,
             (c.delivered_at is not null)::integer, (c.read_at is not null)::integer,
             (c.replied_at is not null)::integer, (c.clicked_at is not null)::integer,
             (c.failed_at is not null)::integer
      from raw c
    ) x
    group by 1, 2, 3
  ),
  buckets as (  -- per group, how many reads fell in each bucket of seconds (bluetick_read_bucket)
    select x.campaign_id, x.template_name, x.template_language, x.bucket, sum(x.n)::bigint as n
    from (
      select r.campaign_id, r.template_name, r.template_language, bluetick_read_bucket(r.seconds) as bucket, r.n
      from hourly h join report_campaign_reads r on r.org_id = p_org and r.day = h.day and r.hour = h.hour
      union all
      select r.campaign_id, r.template_name, r.template_language, r.bucket, r.n
      from blocks b join report_campaign_block_reads r on r.org_id = p_org and r.level = b.level and r.block = b.block
      where b.level > 0
      union all
      select c.campaign_id, c.template_name, c.template_language, c.bucket, c.n
      from raw_reads c
    ) x
    group by 1, 2, 3, 4
  ),
  targets as materialized (
    -- per group, percentile_cont(0.5)'s two ranks (0-based, x50 between them; one when x50 is whole), each with the
    -- bucket holding it and the number of reads below that bucket
    select b.campaign_id, b.template_name, b.template_language, b.x50, k.rank, b.bucket, b.upto - b.n as below
    from (
      select b.*, sum(b.n) over w as upto,
             0.5::float8 * ((sum(b.n) over (partition by b.campaign_id, b.template_name, b.template_language)) - 1)::float8
               as x50
      from buckets b
      window w as (partition by b.campaign_id, b.template_name, b.template_language order by b.bucket)
    ) b
    cross join lateral (select floor(b.x50) union select ceil(b.x50)) k(rank)
    where k.rank >= b.upto - b.n and k.rank < b.upto
  ),
  raw_seconds as materialized (  -- the messages' reads in the target buckets, per group, bucket and second
    select t.campaign_id, t.template_name, t.template_language, t.bucket, c.seconds, c.n
    from (select distinct k.campaign_id, k.template_name, k.template_language, k.bucket from targets k) t
    join raw_reads c on coalesce(c.campaign_id, '') = coalesce(t.campaign_id, '')  -- hashed ('' is no key's value)
      and coalesce(c.template_name, '') = coalesce(t.template_name, '')
      and coalesce(c.template_language, '') = coalesce(t.template_language, '')
      and c.bucket = t.bucket
      and c.campaign_id is not distinct from t.campaign_id and c.template_name is not distinct from t.template_name
      and c.template_language is not distinct from t.template_language
  ),
  at_rank as (
    -- the second at each target rank: the reads of its bucket second by second, numbered on from the reads below the
    -- bucket, from the hourly rows of the rolled hours (by the index on the group and the seconds; a hole in a key is
    -- '' there) and from the messages; the first second whose number passes the rank
    select t.campaign_id, t.template_name, t.template_language, t.x50, t.rank, v.seconds
    from targets t
    cross join lateral (
      select x.seconds
      from (
        select e.seconds, t.below + sum(sum(e.n)) over (order by e.seconds) as upto
        from (
          select r.seconds, r.n
          from report_campaign_reads r
          where r.org_id = p_org
            and coalesce(r.campaign_id, '') = coalesce(t.campaign_id, '')
            and coalesce(r.template_name, '') = coalesce(t.template_name, '')
            and coalesce(r.template_language, '') = coalesce(t.template_language, '')
            and r.seconds >= bluetick_read_bucket_floor(t.bucket)
            and r.seconds < bluetick_read_bucket_floor(t.bucket + 1)
            and r.campaign_id is not distinct from t.campaign_id
            and r.template_name is not distinct from t.template_name
            and r.template_language is not distinct from t.template_language
            and ((r.day - date '1970-01-01') * 24 + r.hour) in (select x.h from hours x)
          union all
          select c.seconds, c.n
          from raw_seconds c
          where c.campaign_id is not distinct from t.campaign_id
            and c.template_name is not distinct from t.template_name
            and c.template_language is not distinct from t.template_language and c.bucket = t.bucket
        ) e
        group by e.seconds
      ) x
      where x.upto > t.rank
      order by x.seconds
      limit 1
    ) v
  ),
  medians as (
    select a.campaign_id, a.template_name, a.template_language,
           round((min(a.seconds) + (min(a.x50) - floor(min(a.x50))) * (max(a.seconds) - min(a.seconds)))::numeric, 1)
             as median
    from at_rank a
    group by 1, 2, 3
  ),
  top_errors as (  -- the most frequent code, on a tie the smallest
    select distinct on (e.campaign_id, e.template_name, e.template_language)
           e.campaign_id, e.template_name, e.template_language, e.error_code
    from (
      select x.campaign_id, x.template_name, x.template_language, x.error_code, sum(x.n) as n
      from (
        select r.campaign_id, r.template_name, r.template_language, r.error_code, r.n
        from hourly h join report_campaign_errors r on r.org_id = p_org and r.day = h.day and r.hour = h.hour
        union all
        select r.campaign_id, r.template_name, r.template_language, r.error_code, r.n
        from blocks b
        join report_campaign_block_errors r on r.org_id = p_org and r.level = b.level and r.block = b.block
        where b.level > 0
        union all
        select c.campaign_id, c.template_name, c.template_language, c.error_code, 1
        from raw c
        where c.error_code is not null
      ) x
      group by 1, 2, 3, 4
    ) e
    order by e.campaign_id, e.template_name, e.template_language, e.n desc, e.error_code
  ),
  names as (  -- each campaign's name: that of its newest message in the window that has one
    select distinct on (x.campaign_id) x.campaign_id, x.campaign_name
    from (
      select r.campaign_id, r.named_at, r.named_id, r.campaign_name from rolled r where r.named_at is not null
      union all
      select c.campaign_id, c.created_at, c.bsp_msg_id, c.campaign_name
      from raw c
      where c.campaign_name is not null and c.campaign_id is not null
    ) x
    where x.campaign_id is not null
    order by x.campaign_id, x.named_at desc, x.named_id desc
  ),
  links as materialized (
    select l.identifier, l.customer, l.identifiers from bluetick_customer_links(p_org) l
  ),
  -- every identifier of each customer who stopped marketing messages within reach of the window (from `from` to 24 h
  -- after `to`), with the customer (newest identifier) and all of their identifiers: a small set, from which each
  -- customer's messages of the window are found by index (message_logs_org_contact_created_idx)
  watched as materialized (
    select distinct i.identifier, s.customer, s.identifiers
    from (
      select distinct coalesce(k.customer, p.customer) as customer,
                      coalesce(k.identifiers, array[p.customer]) as identifiers
      from customer_preferences p
      left join links k on k.identifier = p.customer
      where p.org_id = p_org and p.category = 'marketing_messages' and p.preference = 'stop'
        and p.changed_at >= p_from and p.changed_at < p_to + interval '24 hours'
    ) s
    cross join unnest(s.identifiers) as i(identifier)
  ),
  -- the distinct customers of each group who stopped within 24 hours of one of its messages
  opted as (
    select m.campaign_id, m.template_name, m.template_language, count(distinct w.customer) as opted_out
    from watched w
    cross join lateral (
      select m.* from message_logs m
      where m.org_id = p_org
        and bluetick_customer(m.direction, m.to_phone, m.from_phone, m.customer_user_id) = w.identifier
        and m.created_at >= p_from and m.created_at < p_to
      offset 0
    ) m
    where m.direction = 'OUTBOUND' and not bluetick_is_event(m.msg_kind)
      and (m.campaign_id is not null or m.template_name is not null)
      and exists (
        select 1 from customer_preferences p
        where p.org_id = p_org and p.customer = any (w.identifiers) and p.category = 'marketing_messages'
          and p.preference = 'stop'
          and p.changed_at >= m.created_at and p.changed_at < m.created_at + interval '24 hours')
    group by m.campaign_id, m.template_name, m.template_language
  )
  select
    g.campaign_id,
    n.campaign_name,
    g.template_name,
    g.template_language,
    g.outbound,
    g.sent,
    g.delivered,
    g.read,
    g.replied,
    g.clicked,
    g.failed,
    bluetick_pct(g.sent, g.outbound),
    bluetick_pct(g.delivered, g.outbound),
    bluetick_pct(g.read, g.outbound),
    bluetick_pct(g.replied, g.outbound),
    bluetick_pct(g.clicked, g.outbound),
    bluetick_pct(g.failed, g.outbound),
    md.median,
    t.error_code,
    coalesce(o.opted_out, 0)
  from groups g
  left join names n on n.campaign_id = g.campaign_id
  left join medians md on md.campaign_id is not distinct from g.campaign_id
    and md.template_name is not distinct from g.template_name
    and md.template_language is not distinct from g.template_language
  left join top_errors t on t.campaign_id is not distinct from g.campaign_id
    and t.template_name is not distinct from g.template_name
    and t.template_language is not distinct from g.template_language
  left join opted o on o.campaign_id is not distinct from g.campaign_id
    and o.template_name is not distinct from g.template_name
    and o.template_language is not distinct from g.template_language
  order by g.campaign_id nulls last, g.template_name nulls last, g.template_language nulls last
$$;

comment on function bluetick_campaign_funnel(uuid, timestamptz, timestamptz) is
  'Outbound funnel of one org over created_at in [from, to) per campaign_id and template (name, language): '
  'outbound, sent, delivered, read, replied, clicked, failed, each as *_pct of outbound, median seconds sent to '
  'read, the most frequent error code, and opted_out (customers who stopped marketing within 24 h of a message).';

-- bluetick_template_health(org, from, to): per template (template_name, template_language) and UTC day of the
-- outbound messages created in [from, to) that name a template: sent (the template messages sent: every outbound
-- message is logged as sent), delivered, read, failed, read_rate_pct (read / delivered, as everywhere),
-- failure_share_pct (failed / sent), and the template's current status and quality as Meta's template webhooks told
-- (bluetick_templates, matched by name and language; of several templates of that name and language, the one changed
-- last); NULL where no event named it.
-- Example: the last 7 UTC days of templates whose read rate fell under 50 %.
--   select day, template_name, template_language, sent, read_rate_pct, failure_share_pct, status, quality
--   from bluetick_template_health('0b6b9c3e-4a51-4f39-9a57-1f0f5e7f2a10', current_date - 6, current_date + 1)
--   where read_rate_pct < 50
--   order by day, template_name;
create or replace function bluetick_template_health(p_org uuid, p_from timestamptz, p_to timestamptz)
returns table (
  day date,
  template_name text,
  template_language text,
  sent bigint,
  delivered bigint,
  read bigint,
  failed bigint,
  read_rate_pct numeric,
  failure_share_pct numeric,
  status text,
  quality text
)
language sql stable
as $$
  with daily as (
    select
      (m.created_at at time zone 'UTC')::date as day,
      m.template_name,
      m.template_language,
      count(*) as sent,
      count(m.whatsapp_status -> 'delivered') as delivered,
      count(m.whatsapp_status -> 'read') as read,
      count(m.whatsapp_status -> 'failed') as failed
    from message_logs m
    where m.org_id = p_org and m.direction = 'OUTBOUND' and not bluetick_is_event(m.msg_kind)
      and m.template_name is not null
      and m.created_at >= p_from and m.created_at < p_to
    group by 1, 2, 3
  ),
  current_templates as (
    select distinct on (t.name, t.language) t.name, t.language, t.status, t.quality
    from bluetick_templates(p_org) t
    where t.name is not null
    order by t.name, t.language, t.changed_at desc, t.template_id
  )
  select
    d.day,
    d.template_name,
    d.template_language,
    d.sent,
    d.delivered,
    d.read,
    d.failed,
    bluetick_pct(d.read, d.delivered),
    bluetick_pct(d.failed, d.sent),
    c.status,
    c.quality
  from daily d
  left join current_templates c on c.name = d.template_name and c.language is not distinct from d.template_language
  order by d.day, d.template_name, d.template_language nulls last
$$;

comment on function bluetick_template_health(uuid, timestamptz, timestamptz) is
  'Per template (name, language) and UTC day of one org''s outbound messages created in [from, to): sent, '
  'delivered, read, failed, read_rate_pct (read/delivered), failure_share_pct (failed/sent), and the template''s '
  'current status and quality (bluetick_templates, by name and language) where known.';

-- bluetick_campaign_recipients(org, campaign, after_created, after_id, limit): one page of the recipients of a
-- campaign, for the CSV export (GET /v1/orgs/{org}/campaigns/{campaign}/recipients.csv, `campaign-recipients`): up
-- to p_limit of the campaign's outbound messages (events left out) in (created_at, bsp_msg_id) order after the
-- position (p_after_created, p_after_id), from the start when p_after_created is NULL (keyset pagination: a page
-- costs the same wherever it is). jsonb, so asyncpg and Supabase's REST API carry it alike: an array of objects
-- {customer (phone, else BSUID), bsp_msg_id, status (the furthest stage), created_at (UTC, microseconds: the next
-- page's p_after_created), sent, delivered, read, failed, replied, clicked (each stage's time, UTC, whole seconds,
-- "YYYY-MM-DDTHH:MI:SSZ", or null), failed_reason}. An unknown campaign has no page: [].
-- Example: the first 100 recipients, then the next 100 after the last one given.
--   select bluetick_campaign_recipients('0b6b9c3e-4a51-4f39-9a57-1f0f5e7f2a10', 'diwali-24', null, null, 100);
--   select bluetick_campaign_recipients('0b6b9c3e-4a51-4f39-9a57-1f0f5e7f2a10', 'diwali-24',
--                                       '2024-11-01T10:00:00.000000Z', 'wamid.HBgL...', 100);
create or replace function bluetick_campaign_recipients(p_org uuid, p_campaign text, p_after_created timestamptz,
                                                        p_after_id text, p_limit integer)
returns jsonb
language sql stable
as $$
  select coalesce(jsonb_agg(jsonb_build_object(
           'customer', bluetick_customer(r.direction, r.to_phone, r.from_phone, r.customer_user_id),
           'bsp_msg_id', r.bsp_msg_id,
           'status', r.status,
           'created_at', to_char(r.created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
           'sent',
             to_char((r.whatsapp_status ->> 'sent')::timestamptz at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
           'delivered',
             to_char((r.whatsapp_status ->> 'delivered')::timestamptz at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
           'read',
             to_char((r.whatsapp_status ->> 'read')::timestamptz at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
           'failed',
             to_char((r.whatsapp_status ->> 'failed')::timestamptz at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
           'replied',
             to_char((r.whatsapp_status ->> 'replied')::timestamptz at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
           'clicked',
             to_char((r.whatsapp_status ->> 'clicked')::timestamptz at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
           'failed_reason', r.failed_reason)
         order by r.created_at, r.bsp_msg_id), '[]'::jsonb)
  from (
    select m.direction, m.to_phone, m.from_phone, m.customer_user_id, m.bsp_msg_id, m.status, m.created_at,
           m.whatsapp_status, m.failed_reason
    from message_logs m
    where m.org_id = p_org and m.campaign_id = p_campaign
      and m.direction = 'OUTBOUND' and not bluetick_is_event(m.msg_kind)
      and m.created_at >= coalesce(p_after_created, '-infinity')
      and (m.created_at, m.bsp_msg_id) > (coalesce(p_after_created, '-infinity'), coalesce(p_after_id, ''))
    order by m.created_at, m.bsp_msg_id
    limit greatest(p_limit, 0)
  ) r
$$;

comment on function bluetick_campaign_recipients(uuid, text, timestamptz, text, integer) is
  'One page (jsonb array) of a campaign''s outbound messages after (p_after_created, p_after_id) in (created_at, '
  'bsp_msg_id) order: customer, bsp_msg_id, status, created_at, each stage''s UTC time (sent, delivered, read, '
  'failed, replied, clicked) and failed_reason; [] when none.';
