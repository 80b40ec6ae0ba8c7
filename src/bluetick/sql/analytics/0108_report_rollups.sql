-- The analyst's report reads rollups (migrations/0012_report_rollups.sql), not every message of its window: the
-- functions below give what bluetick_funnel, message_funnel_daily, bluetick_funnel_by_kind,
-- bluetick_failure_share, bluetick_read_rate_by_weekday_hour, bluetick_response_times, response_times_daily,
-- bluetick_unanswered, bluetick_billable and bluetick_spend give for whole UTC days, equal to them as of the last
-- refresh (tests/integration/test_report_rollups.py checks that on the fixtures and on random histories).
--
-- The rollups are as of the last `select bluetick_report_refresh(org)`, which recomputes the hours changed since;
-- the service calls it every REPORT_REFRESH_S and before it builds a page. In the SQL editor:
--   select bluetick_report_refresh('0b6b9c3e-4a51-4f39-9a57-1f0f5e7f2a10');
--   select * from bluetick_report_funnel_daily('0b6b9c3e-4a51-4f39-9a57-1f0f5e7f2a10', current_date - 29, current_date);

-- bluetick_report_refresh(org, max_hours): recompute up to `max_hours` (default: all) of the organisation's hours
-- noted in report_dirty, newest first, and their days, in one transaction, from the analytics views; returns how
-- many hours. One refresh of an organisation runs at a time.
create or replace function bluetick_report_refresh(p_org uuid, p_max_hours integer default null)
returns integer
language plpgsql
as $$
begin
  perform pg_advisory_xact_lock(hashtext('bluetick_report'), hashtext(p_org::text));
  return bluetick_report_recompute(p_org, p_max_hours);
end
$$;

-- bluetick_report_refresh_some(orgs, max_hours, skip): bluetick_report_refresh(org, max_hours) for up to `orgs`
-- organisations with noted hours, those noted longest ago first, leaving out those in `skip` and any being
-- refreshed already; returns {"orgs": organisations looked at, "hours": hours recomputed, "done": [...]}. "done"
-- lists the organisations this call is finished with: each had no more than `max_hours` hours noted when it was
-- taken, or was being refreshed by another session. The service's round passes what earlier calls gave as done
-- in `skip`, so hours that ingest notes again meanwhile wait for the next round instead of keeping it going.
drop function if exists bluetick_report_refresh_some(integer, integer);
create or replace function bluetick_report_refresh_some(p_orgs integer, p_max_hours integer, p_skip uuid[] default '{}')
returns jsonb
language plpgsql
as $$
declare
  v_org uuid;
  v_orgs integer := 0;
  v_hours integer := 0;
  v_done uuid[] := '{}'::uuid[];
  v_noted integer;
begin
  -- message_logs before report_dirty, as in bluetick_report_recompute: read first, report_dirty would be held while
  -- the first recompute waits for message_logs, and a truncate of message_logs (whose trigger empties report_dirty)
  -- would deadlock with the round instead of waiting for it.
  lock table message_logs in access share mode;
  for v_org in
    select d.org_id from report_dirty d where d.org_id <> all(coalesce(p_skip, '{}'))
    group by d.org_id order by min(d.hour) limit p_orgs
  loop
    v_orgs := v_orgs + 1;
    if pg_try_advisory_xact_lock(hashtext('bluetick_report'), hashtext(v_org::text)) then
      select count(*) into v_noted
      from (select distinct d.hour from report_dirty d where d.org_id = v_org limit p_max_hours + 1) x;
      begin
        v_hours := v_hours + bluetick_report_recompute(v_org, p_max_hours);
        if p_max_hours is null or v_noted <= p_max_hours then
          v_done := v_done || v_org;
        end if;
      exception when others then  -- that organisation's notes stay for the next round; the others go on
        raise warning 'bluetick_report_refresh_some: organisation % not refreshed: %', v_org, sqlerrm;
        v_done := v_done || v_org;
      end;
    else
      v_done := v_done || v_org;
    end if;
  end loop;
  return jsonb_build_object('orgs', v_orgs, 'hours', v_hours, 'done', to_jsonb(v_done));
end
$$;

-- bluetick_report_reply_hours(orgs, customers, ats): the hours of the customer messages whose first reply is, or
-- was, an outbound message to customers[k] at ats[k] (in orgs[k]): those received after the customer's previous
-- outbound message and no later than it (message_response_times' rule).
create or replace function bluetick_report_reply_hours(p_orgs uuid[], p_customers text[], p_ats timestamptz[])
returns table (org_id uuid, hour timestamp)
language sql stable
as $$
  select distinct i.org_id, date_trunc('hour', i.created_at at time zone 'UTC')
  from unnest(p_orgs, p_customers, p_ats) as c(org_id, customer, at)
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
  where c.customer is not null
$$;

-- campaign_messages: the outbound messages (events left out) that name a campaign or a template, one row each, with
-- each stage's time, the whole seconds from sent to read and, for a failed one, its error code: what the campaign
-- funnel counts, whether from the messages themselves or from their hourly rollups.
create or replace view campaign_messages
with (security_invoker = true) as
select
  m.org_id,
  m.bsp_msg_id,
  m.created_at,
  m.campaign_id,
  m.campaign_name,
  m.template_name,
  m.template_language,
  s.sent_at,
  s.delivered_at,
  s.read_at,
  s.replied_at,
  s.clicked_at,
  s.failed_at,
  extract(epoch from s.read_at - s.sent_at)::integer as seconds_sent_to_read,
  case when s.failed_at is not null then bluetick_error_code(m.failed_reason) end as error_code
from message_logs m
cross join lateral (
  select
    (m.whatsapp_status ->> 'sent')::timestamptz as sent_at,
    (m.whatsapp_status ->> 'delivered')::timestamptz as delivered_at,
    (m.whatsapp_status ->> 'read')::timestamptz as read_at,
    (m.whatsapp_status ->> 'replied')::timestamptz as replied_at,
    (m.whatsapp_status ->> 'clicked')::timestamptz as clicked_at,
    (m.whatsapp_status ->> 'failed')::timestamptz as failed_at
) s
where m.direction = 'OUTBOUND' and not bluetick_is_event(m.msg_kind)
  and (m.campaign_id is not null or m.template_name is not null);

comment on view campaign_messages is
  'Outbound messages naming a campaign or a template: each stage''s time (sent, delivered, read, replied, clicked, '
  'failed), seconds from sent to read, and a failed one''s error code.';

-- bluetick_report_recompute_campaigns(org, hours): the campaign rollups of p_org's UTC hours p_hours computed again
-- from campaign_messages (migrations/0018_campaign_rollups.sql), and the blocks of hours holding them (0020).
-- Called by bluetick_report_recompute for the hours it recomputes, in its transaction, after it took the hours' notes.
create or replace function bluetick_report_recompute_campaigns(p_org uuid, p_hours timestamp[])
returns void
language plpgsql
as $$
declare
  v_blocks integer[];  -- hours since 1970-01-01 00:00 UTC, then the blocks of each level holding them
begin
  delete from report_campaigns r using unnest(p_hours) h
  where r.org_id = p_org and r.day = h::date and r.hour = extract(hour from h);
  delete from report_campaign_reads r using unnest(p_hours) h
  where r.org_id = p_org and r.day = h::date and r.hour = extract(hour from h);
  delete from report_campaign_errors r using unnest(p_hours) h
  where r.org_id = p_org and r.day = h::date and r.hour = extract(hour from h);

  with c as materialized (
    select (c.created_at at time zone 'UTC')::date as day, extract(hour from c.created_at at time zone 'UTC')::smallint
             as hour, c.*
    from unnest(p_hours) h
    cross join lateral (
      select c.* from campaign_messages c
      where c.org_id = p_org and c.created_at >= h at time zone 'UTC'
        and c.created_at < (h + interval '1 hour') at time zone 'UTC'
      offset 0  -- planned per hour, so the hour's range reaches the index on (org_id, created_at)
    ) c
  ), counts as (
    insert into report_campaigns (org_id, day, hour, campaign_id, template_name, template_language, outbound, sent,
                                  delivered, read, replied, clicked, failed, named_at, named_id, campaign_name)
    select p_org, c.day, c.hour, c.campaign_id, c.template_name, c.template_language, count(*), count(c.sent_at),
           count(c.delivered_at), count(c.read_at), count(c.replied_at), count(c.clicked_at), count(c.failed_at),
           (array_agg(c.created_at order by c.created_at desc, c.bsp_msg_id desc)
              filter (where c.campaign_name is not null))[1],
           (array_agg(c.bsp_msg_id order by c.created_at desc, c.bsp_msg_id desc)
              filter (where c.campaign_name is not null))[1],
           (array_agg(c.campaign_name order by c.created_at desc, c.bsp_msg_id desc)
              filter (where c.campaign_name is not null))[1]
    from c
    group by 2, 3, 4, 5, 6
  ), reads as (
    insert into report_campaign_reads (org_id, day, hour, campaign_id, template_name, template_language, seconds, n)
    select p_org, c.day, c.hour, c.campaign_id, c.template_name, c.template_language, c.seconds_sent_to_read, count(*)
    from c
    where c.seconds_sent_to_read is not null
    group by 2, 3, 4, 5, 6, 7
  )
  insert into report_campaign_errors (org_id, day, hour, campaign_id, template_name, template_language, error_code, n)
  select p_org, c.day, c.hour, c.campaign_id, c.template_name, c.template_language, c.error_code, count(*)
  from c
  where c.error_code is not null
  group by 2, 3, 4, 5, 6, 7;

  -- the blocks of hours holding them (0020), level by level, each summed again from the two it holds (at level 1,
  -- from the two hours' rows); the reads by bucket of seconds (bluetick_read_bucket)
  v_blocks := array(select distinct (extract(epoch from h)::bigint / 3600)::integer from unnest(p_hours) h);
  for v_level in 1..12 loop
    v_blocks := array(select distinct b >> 1 from unnest(v_blocks) b);
    delete from report_campaign_blocks r where r.org_id = p_org and r.level = v_level and r.block = any (v_blocks);
    delete from report_campaign_block_reads r where r.org_id = p_org and r.level = v_level and r.block = any (v_blocks);
    delete from report_campaign_block_errors r where r.org_id = p_org and r.level = v_level and r.block = any (v_blocks);

    insert into report_campaign_blocks (org_id, level, block, campaign_id, template_name, template_language, outbound,
                                        sent, delivered, read, replied, clicked, failed, named_at, named_id,
                                        campaign_name)
    select p_org, v_level, c.block, c.campaign_id, c.template_name, c.template_language, sum(c.outbound),
           sum(c.sent), sum(c.delivered), sum(c.read), sum(c.replied), sum(c.clicked), sum(c.failed),
           (array_agg(c.named_at order by c.named_at desc, c.named_id desc) filter (where c.named_at is not null))[1],
           (array_agg(c.named_id order by c.named_at desc, c.named_id desc) filter (where c.named_at is not null))[1],
           (array_agg(c.campaign_name order by c.named_at desc, c.named_id desc)
              filter (where c.named_at is not null))[1]
    from (
      select b.block, r.campaign_id, r.template_name, r.template_language, r.outbound, r.sent, r.delivered, r.read,
             r.replied, r.clicked, r.failed, r.named_at, r.named_id, r.campaign_name
      from unnest(v_blocks) b(block)
      cross join lateral (select timestamp '1970-01-01' + make_interval(hours => b.block * 2) as first) t
      join report_campaigns r on r.org_id = p_org and r.day = t.first::date
        and r.hour in (extract(hour from t.first), extract(hour from t.first) + 1)
      where v_level = 1
      union all
      select b.block, r.campaign_id, r.template_name, r.template_language, r.outbound, r.sent, r.delivered, r.read,
             r.replied, r.clicked, r.failed, r.named_at, r.named_id, r.campaign_name
      from unnest(v_blocks) b(block)
      join report_campaign_blocks r on r.org_id = p_org and r.level = v_level - 1
        and r.block in (b.block * 2, b.block * 2 + 1)
      where v_level > 1
    ) c
    group by 3, 4, 5, 6;

    insert into report_campaign_block_reads (org_id, level, block, campaign_id, template_name, template_language,
                                             bucket, n)
    select p_org, v_level, c.block, c.campaign_id, c.template_name, c.template_language, c.bucket, sum(c.n)
    from (
      select b.block, r.campaign_id, r.template_name, r.template_language, bluetick_read_bucket(r.seconds) as bucket,
             r.n
      from unnest(v_blocks) b(block)
      cross join lateral (select timestamp '1970-01-01' + make_interval(hours => b.block * 2) as first) t
      join report_campaign_reads r on r.org_id = p_org and r.day = t.first::date
        and r.hour in (extract(hour from t.first), extract(hour from t.first) + 1)
      where v_level = 1
      union all
      select b.block, r.campaign_id, r.template_name, r.template_language, r.bucket, r.n
      from unnest(v_blocks) b(block)
      join report_campaign_block_reads r on r.org_id = p_org and r.level = v_level - 1
        and r.block in (b.block * 2, b.block * 2 + 1)
      where v_level > 1
    ) c
    group by 3, 4, 5, 6, 7;

    insert into report_campaign_block_errors (org_id, level, block, campaign_id, template_name, template_language,
                                              error_code, n)
    select p_org, v_level, c.block, c.campaign_id, c.template_name, c.template_language, c.error_code, sum(c.n)
    from (
      select b.block, r.campaign_id, r.template_name, r.template_language, r.error_code, r.n
      from unnest(v_blocks) b(block)
      cross join lateral (select timestamp '1970-01-01' + make_interval(hours => b.block * 2) as first) t
      join report_campaign_errors r on r.org_id = p_org and r.day = t.first::date
        and r.hour in (extract(hour from t.first), extract(hour from t.first) + 1)
      where v_level = 1
      union all
      select b.block, r.campaign_id, r.template_name, r.template_language, r.error_code, r.n
      from unnest(v_blocks) b(block)
      join report_campaign_block_errors r on r.org_id = p_org and r.level = v_level - 1
        and r.block in (b.block * 2, b.block * 2 + 1)
      where v_level > 1
    ) c
    group by 3, 4, 5, 6, 7;
  end loop;
end
$$;

-- The work of a refresh, under its lock: take up to `max_hours` noted hours, newest first (only the notes of
-- committed writes are visible, and so are their rows below), add the hours of the customer messages the outbound
-- messages of those hours answer, compute their rollup rows again from the messages of those hours, then their
-- days' from the hours' rollup rows.
create or replace function bluetick_report_recompute(p_org uuid, p_max_hours integer)
returns integer
language plpgsql
as $$
declare
  v_hours timestamp[];
  v_days date[];
begin
  -- message_logs before the rollups, in the order a truncate of message_logs takes them (its trigger empties the
  -- rollups), so the two wait for each other instead of deadlocking.
  lock table message_logs in access share mode;
  select array_agg(x.hour) into v_hours
  from (select distinct d.hour from report_dirty d where d.org_id = p_org order by d.hour desc limit p_max_hours) x;
  if v_hours is null then
    return 0;
  end if;
  -- A reply may answer a customer message of an earlier hour, logged by a writer that could not see the reply.
  select array_agg(distinct x.hour) into v_hours
  from (
    select h as hour from unnest(v_hours) h
    union
    select r.hour
    from (
      select array_agg(o.org_id) as orgs,
             array_agg(bluetick_customer(o.direction, o.to_phone, o.from_phone, o.customer_user_id)) as customers,
             array_agg(o.created_at) as ats
      from unnest(v_hours) h
      cross join lateral (
        select o.* from message_logs o
        where o.org_id = p_org and o.created_at >= h at time zone 'UTC'
          and o.created_at < (h + interval '1 hour') at time zone 'UTC'
          and o.direction = 'OUTBOUND' and not bluetick_is_event(o.msg_kind)
        offset 0
      ) o
    ) y
    cross join lateral bluetick_report_reply_hours(y.orgs, y.customers, y.ats) r
  ) x;
  delete from report_dirty where org_id = p_org and hour = any (v_hours);
  select array_agg(distinct h::date) into v_days from unnest(v_hours) h;

  delete from report_outbound r using unnest(v_hours) h
  where r.org_id = p_org and r.day = h::date and r.slot / 4 = extract(hour from h);
  delete from report_latency r using unnest(v_hours) h
  where r.org_id = p_org and r.day = h::date and r.hour = extract(hour from h);
  delete from report_failures r using unnest(v_hours) h
  where r.org_id = p_org and r.day = h::date and r.hour = extract(hour from h);
  delete from report_pricing r using unnest(v_hours) h
  where r.org_id = p_org and r.day = h::date and r.hour = extract(hour from h);
  delete from report_unanswered r using unnest(v_hours) h
  where r.org_id = p_org and r.received_at >= h at time zone 'UTC'
    and r.received_at < (h + interval '1 hour') at time zone 'UTC';

  with t as materialized (
    select t.day, extract(hour from t.created_at at time zone 'UTC')::smallint as hour, t.created_at, t.direction,
           t.msg_kind, t.status, t.is_event, t.sent_at, t.delivered_at, t.read_at, t.failed_at, t.seconds_to_deliver,
           t.seconds_to_read, t.error_code, t.failed_reason, t.billable, t.pricing_category, t.pricing_type,
           t.pricing_at, t.contact_phone, t.customer_user_id
    from unnest(v_hours) h
    cross join lateral (
      select t.* from message_status_timeline t
      where t.org_id = p_org and t.created_at >= h at time zone 'UTC'
        and t.created_at < (h + interval '1 hour') at time zone 'UTC'
    ) t
  ), outbound as (
    insert into report_outbound (org_id, day, slot, msg_kind, outbound, sent, delivered, read, failed)
    select p_org, t.day, (t.hour * 4 + floor(extract(minute from t.created_at at time zone 'UTC') / 15))::smallint,
           t.msg_kind, count(*), count(t.sent_at), count(t.delivered_at), count(t.read_at), count(t.failed_at)
    from t
    where t.direction = 'OUTBOUND' and not t.is_event
    group by 2, 3, 4
  ), latency as (
    insert into report_latency (org_id, day, hour, metric, seconds, n)
    select p_org, t.day, t.hour, m.metric, m.seconds, count(*)
    from t
    cross join lateral (values ('deliver', t.seconds_to_deliver), ('read', t.seconds_to_read)) as m(metric, seconds)
    where t.direction = 'OUTBOUND' and not t.is_event and m.seconds is not null
    group by 2, 3, 4, 5
  ), pricing as (
    insert into report_pricing (org_id, day, hour, pricing_category, pricing_type, billable, priced, market, messages)
    select p_org, t.day, t.hour, t.pricing_category, t.pricing_type, t.billable, t.pricing_at is not null,
           bluetick_market(t.contact_phone, t.customer_user_id), count(*)
    from t
    where t.pricing_at is not null or bluetick_is_billable(t.billable, t.pricing_type)
    group by 2, 3, 4, 5, 6, 7, 8
  )
  insert into report_failures (org_id, day, hour, error_code, failures, newest_at, newest_reason)
  select p_org, t.day, t.hour, t.error_code, count(*),
         (array_agg(t.failed_at order by t.failed_at desc, t.failed_reason))[1],
         (array_agg(t.failed_reason order by t.failed_at desc, t.failed_reason))[1]
  from t
  where t.status = 'FAILED' and not t.is_event
  group by 2, 3, 4;

  with r as materialized (
    select r.id, r.day, extract(hour from r.received_at at time zone 'UTC')::smallint as hour, r.received_at,
           r.replied_at, r.seconds_to_reply
    from unnest(v_hours) h
    cross join lateral (
      select r.* from message_response_times r
      where r.org_id = p_org and r.received_at >= h at time zone 'UTC'
        and r.received_at < (h + interval '1 hour') at time zone 'UTC'
      offset 0  -- planned per hour, so the hour's range reaches the index on (org_id, created_at)
    ) r
  ), unanswered as (
    insert into report_unanswered (org_id, received_at, id)
    select p_org, r.received_at, r.id from r where r.replied_at is null
  )
  insert into report_latency (org_id, day, hour, metric, seconds, n)
  select p_org, r.day, r.hour, 'reply', r.seconds_to_reply, count(*)
  from r
  where r.seconds_to_reply is not null
  group by 2, 3, 5;

  -- The campaigns' and templates' rollups of the same hours (bluetick_report_recompute_campaigns, above).
  perform bluetick_report_recompute_campaigns(p_org, v_hours);

  -- The days, from their hours.
  delete from report_latency_daily where org_id = p_org and day = any (v_days);
  insert into report_latency_daily (org_id, day, metric, seconds, n)
  select p_org, l.day, l.metric, l.seconds, sum(l.n)
  from report_latency l
  where l.org_id = p_org and l.day = any (v_days)
  group by 2, 3, 4;

  delete from report_days where org_id = p_org and day = any (v_days);
  insert into report_days (org_id, day, inbound, answered, median_seconds_to_deliver, p95_seconds_to_deliver,
                           median_seconds_to_read, p95_seconds_to_read, median_seconds_to_reply, p95_seconds_to_reply)
  select p_org, d.day, a.answered + u.waiting, a.answered, dl.median, dl.p95, rd.median, rd.p95, rp.median, rp.p95
  from unnest(v_days) d(day)
  cross join lateral (
    select coalesce(sum(l.n), 0)::integer as answered
    from report_latency_daily l
    where l.org_id = p_org and l.day = d.day and l.metric = 'reply'
  ) a
  cross join lateral (
    select count(*)::integer as waiting
    from report_unanswered x
    where x.org_id = p_org and x.received_at >= d.day::timestamp at time zone 'UTC'
      and x.received_at < (d.day + 1)::timestamp at time zone 'UTC'
  ) u
  left join lateral bluetick_report_percentiles(p_org, d.day, d.day, 'deliver', true) dl on true
  left join lateral bluetick_report_percentiles(p_org, d.day, d.day, 'read', true) rd on true
  left join lateral bluetick_report_percentiles(p_org, d.day, d.day, 'reply', true) rp on true;

  return cardinality(v_hours);
end
$$;

-- bluetick_report_percentiles(org, first, last, metric, daily): median and p95 of report_latency_daily's seconds for
-- `metric` over the UTC days first..last, per day when `daily`, else over them all (day NULL). The same numbers as
-- round(percentile_cont(...)::numeric, 1) over the messages themselves: the ranks are found in the counts, and
-- the value between two ranks is interpolated in double precision as percentile_cont does.
create or replace function bluetick_report_percentiles(
  p_org uuid, p_first date, p_last date, p_metric text, p_daily boolean
)
returns table (day date, median numeric, p95 numeric)
language sql stable
as $$
  with h as (
    select case when p_daily then l.day end as day, l.seconds, sum(l.n)::bigint as n
    from report_latency_daily l
    where l.org_id = p_org and l.metric = p_metric and l.day between p_first and p_last
    group by 1, 2
  ), c as (
    select h.day, h.seconds,
           (sum(h.n) over (partition by h.day order by h.seconds))::bigint - h.n as below,
           (sum(h.n) over (partition by h.day order by h.seconds))::bigint as upto,
           (0.5::float8 * ((sum(h.n) over (partition by h.day)) - 1)::float8) as x50,
           (0.95::float8 * ((sum(h.n) over (partition by h.day)) - 1)::float8) as x95
    from h
  ), v as (
    select c.day, max(c.x50) as x50, max(c.x95) as x95,
           max(c.seconds) filter (where floor(c.x50) >= c.below and floor(c.x50) < c.upto)::float8 as lo50,
           max(c.seconds) filter (where ceil(c.x50) >= c.below and ceil(c.x50) < c.upto)::float8 as hi50,
           max(c.seconds) filter (where floor(c.x95) >= c.below and floor(c.x95) < c.upto)::float8 as lo95,
           max(c.seconds) filter (where ceil(c.x95) >= c.below and ceil(c.x95) < c.upto)::float8 as hi95
    from c
    group by c.day
  )
  select v.day,
         round((v.lo50 + (v.x50 - floor(v.x50)) * (v.hi50 - v.lo50))::numeric, 1),
         round((v.lo95 + (v.x95 - floor(v.x95)) * (v.hi95 - v.lo95))::numeric, 1)
  from v
$$;

comment on function bluetick_report_percentiles(uuid, date, date, text, boolean) is
  'Median and p95 seconds of report_latency_daily''s metric (deliver, read, reply) over UTC days first..last, per day '
  'when daily, else one row with day NULL.';

-- bluetick_report_funnel(org, first, last): bluetick_funnel over the UTC days first..last, from the rollups.
create or replace function bluetick_report_funnel(p_org uuid, p_first date, p_last date)
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
  select f.outbound, f.sent, f.delivered, f.read, f.failed,
         bluetick_pct(f.delivered, f.sent), bluetick_pct(f.read, f.delivered),
         d.median, d.p95, r.median, r.p95
  from (
    select coalesce(sum(o.outbound), 0)::bigint as outbound, coalesce(sum(o.sent), 0)::bigint as sent,
           coalesce(sum(o.delivered), 0)::bigint as delivered, coalesce(sum(o.read), 0)::bigint as read,
           coalesce(sum(o.failed), 0)::bigint as failed
    from report_outbound o
    where o.org_id = p_org and o.day between p_first and p_last
  ) f
  left join bluetick_report_percentiles(p_org, p_first, p_last, 'deliver', false) d on true
  left join bluetick_report_percentiles(p_org, p_first, p_last, 'read', false) r on true
$$;

-- bluetick_report_funnel_daily(org, first, last): message_funnel_daily's rows of the UTC days first..last.
create or replace function bluetick_report_funnel_daily(p_org uuid, p_first date, p_last date)
returns table (
  day date,
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
  select f.day, f.outbound, f.sent, f.delivered, f.read, f.failed,
         bluetick_pct(f.delivered, f.sent), bluetick_pct(f.read, f.delivered),
         d.median_seconds_to_deliver, d.p95_seconds_to_deliver, d.median_seconds_to_read, d.p95_seconds_to_read
  from (
    select o.day, sum(o.outbound)::bigint as outbound, sum(o.sent)::bigint as sent,
           sum(o.delivered)::bigint as delivered, sum(o.read)::bigint as read, sum(o.failed)::bigint as failed
    from report_outbound o
    where o.org_id = p_org and o.day between p_first and p_last
    group by o.day
  ) f
  left join report_days d on d.org_id = p_org and d.day = f.day
  order by f.day
$$;

-- bluetick_report_kinds(org, first, last): bluetick_funnel_by_kind's counts and rates, busiest kind first.
create or replace function bluetick_report_kinds(p_org uuid, p_first date, p_last date)
returns table (
  msg_kind text,
  outbound bigint,
  sent bigint,
  delivered bigint,
  read bigint,
  failed bigint,
  delivery_rate_pct numeric,
  read_rate_pct numeric
)
language sql stable
as $$
  select k.msg_kind, k.outbound, k.sent, k.delivered, k.read, k.failed,
         bluetick_pct(k.delivered, k.sent), bluetick_pct(k.read, k.delivered)
  from (
    select o.msg_kind, sum(o.outbound)::bigint as outbound, sum(o.sent)::bigint as sent,
           sum(o.delivered)::bigint as delivered, sum(o.read)::bigint as read, sum(o.failed)::bigint as failed
    from report_outbound o
    where o.org_id = p_org and o.day between p_first and p_last
    group by o.msg_kind
  ) k
  order by k.outbound desc, k.msg_kind nulls last
$$;

-- bluetick_report_read_heatmap(org, first, last, time_zone): bluetick_read_rate_by_weekday_hour over the UTC days
-- first..last, each 15-minute slot read in `time_zone`.
create or replace function bluetick_report_read_heatmap(p_org uuid, p_first date, p_last date,
                                                        p_time_zone text default 'UTC')
returns table (
  day_of_week integer,
  hour_of_day integer,
  outbound bigint,
  delivered bigint,
  read bigint,
  read_rate_pct numeric
)
language sql stable
as $$
  select extract(isodow from x.local)::integer, extract(hour from x.local)::integer,
         sum(o.outbound)::bigint, sum(o.delivered)::bigint, sum(o.read)::bigint,
         bluetick_pct(sum(o.read)::bigint, sum(o.delivered)::bigint)
  from report_outbound o
  cross join lateral (
    select ((o.day + o.slot * interval '15 minutes') at time zone 'UTC') at time zone p_time_zone as local
  ) x
  where o.org_id = p_org and o.day between p_first and p_last
  group by 1, 2
  order by 1, 2
$$;

-- bluetick_report_failures(org, first, last): bluetick_failure_share over the UTC days first..last.
create or replace function bluetick_report_failures(p_org uuid, p_first date, p_last date)
returns table (
  error_code text,
  error_title text,
  failures bigint,
  share_pct numeric,
  newest_reason text
)
language sql stable
as $$
  select f.error_code, bluetick_error_title(f.newest_reason), f.failures,
         bluetick_pct(f.failures, (sum(f.failures) over ())::bigint), f.newest_reason
  from (
    select r.error_code, sum(r.failures)::bigint as failures,
           (array_agg(r.newest_reason order by r.newest_at desc, r.newest_reason))[1] as newest_reason
    from report_failures r
    where r.org_id = p_org and r.day between p_first and p_last
    group by r.error_code
  ) f
  order by f.failures desc, f.error_code nulls last
$$;

-- bluetick_report_responses(org, first, last): bluetick_response_times over the UTC days first..last.
create or replace function bluetick_report_responses(p_org uuid, p_first date, p_last date)
returns table (
  inbound bigint,
  answered bigint,
  unanswered bigint,
  median_seconds_to_reply numeric,
  p95_seconds_to_reply numeric
)
language sql stable
as $$
  select r.inbound, r.answered, r.inbound - r.answered, p.median, p.p95
  from (
    select coalesce(sum(x.inbound), 0)::bigint as inbound, coalesce(sum(x.answered), 0)::bigint as answered
    from report_days x
    where x.org_id = p_org and x.day between p_first and p_last
  ) r
  left join bluetick_report_percentiles(p_org, p_first, p_last, 'reply', false) p on true
$$;

-- bluetick_report_responses_daily(org, first, last): response_times_daily's rows of the UTC days first..last.
create or replace function bluetick_report_responses_daily(p_org uuid, p_first date, p_last date)
returns table (
  day date,
  inbound bigint,
  answered bigint,
  unanswered bigint,
  median_seconds_to_reply numeric,
  p95_seconds_to_reply numeric
)
language sql stable
as $$
  select x.day, x.inbound::bigint, x.answered::bigint, (x.inbound - x.answered)::bigint, x.median_seconds_to_reply,
         x.p95_seconds_to_reply
  from report_days x
  where x.org_id = p_org and x.day between p_first and p_last and x.inbound > 0
  order by x.day
$$;

-- bluetick_report_unanswered(org, first, last, as_of, limit): the oldest `limit` customer messages of the UTC days
-- first..last with no reply by the refresh (as bluetick_unanswered), with seconds waiting by `as_of`, and `waiting`,
-- how many there are in all.
create or replace function bluetick_report_unanswered(p_org uuid, p_first date, p_last date, p_as_of timestamptz,
                                                      p_limit integer)
returns table (
  received_at timestamptz,
  customer text,
  seconds_waiting integer,
  waiting bigint
)
language sql stable
as $$
  select u.received_at, m.customer, extract(epoch from p_as_of - u.received_at)::integer,
         (select coalesce(sum(x.inbound - x.answered), 0)::bigint
          from report_days x
          where x.org_id = p_org and x.day between p_first and p_last)
  from (
    select x.received_at, x.id
    from report_unanswered x
    where x.org_id = p_org and x.received_at >= p_first::timestamp at time zone 'UTC'
      and x.received_at < (p_last + 1)::timestamp at time zone 'UTC'
    order by x.received_at
    fetch first p_limit rows with ties
  ) u
  join message_status_timeline m on m.id = u.id
  order by u.received_at, m.bsp_msg_id
  limit p_limit
$$;

-- bluetick_report_billable(org, first, last): bluetick_billable over the UTC days first..last. report_pricing keeps
-- Meta's billable flag as it came; what is billable is bluetick_is_billable's rule (0106_pricing.sql), applied here.
create or replace function bluetick_report_billable(p_org uuid, p_first date, p_last date)
returns table (
  day date,
  pricing_category text,
  pricing_type text,
  billable boolean,
  messages bigint
)
language sql stable
as $$
  select p.day, p.pricing_category, p.pricing_type, bluetick_is_billable(p.billable, p.pricing_type),
         sum(p.messages)::bigint
  from report_pricing p
  where p.org_id = p_org and p.day between p_first and p_last and p.priced
  group by 1, 2, 3, 4
  order by 1, 2 nulls last, 3 nulls last, 4 nulls last
$$;

-- bluetick_report_spend(org, first, last): bluetick_spend over the UTC days first..last (rates as they are now),
-- of the messages bluetick_is_billable calls billable.
create or replace function bluetick_report_spend(p_org uuid, p_first date, p_last date)
returns table (
  day date,
  pricing_category text,
  currency text,
  messages bigint,
  spend numeric
)
language sql stable
as $$
  select p.day, p.pricing_category, r.currency, sum(p.messages)::bigint, sum(p.messages * r.price_per_message)
  from report_pricing p
  left join lateral bluetick_rate(p_org, p.pricing_category, p.market, p.day) r on true
  where p.org_id = p_org and p.day between p_first and p_last and bluetick_is_billable(p.billable, p.pricing_type)
  group by p.day, p.pricing_category, r.currency
  order by p.day, p.pricing_category nulls last, r.currency nulls last
$$;

-- bluetick_report_templates(org, first, last): bluetick_template_health's counts and rates over the UTC days
-- first..last, from the campaign rollups (report_campaigns, summed over campaigns): per day and template, sent,
-- delivered, read, failed, read_rate_pct (read / delivered) and failure_share_pct (failed / sent).
create or replace function bluetick_report_templates(p_org uuid, p_first date, p_last date)
returns table (
  day date,
  template_name text,
  template_language text,
  sent bigint,
  delivered bigint,
  read bigint,
  failed bigint,
  read_rate_pct numeric,
  failure_share_pct numeric
)
language sql stable
as $$
  select t.day, t.template_name, t.template_language, t.sent, t.delivered, t.read, t.failed,
         bluetick_pct(t.read, t.delivered), bluetick_pct(t.failed, t.sent)
  from (
    select r.day, r.template_name, r.template_language, sum(r.outbound)::bigint as sent,
           sum(r.delivered)::bigint as delivered, sum(r.read)::bigint as read, sum(r.failed)::bigint as failed
    from report_campaigns r
    where r.org_id = p_org and r.day between p_first and p_last and r.template_name is not null
    group by 1, 2, 3
  ) t
  order by t.day, t.template_name, t.template_language nulls last
$$;


-- The rollups follow the definitions above and in 0100..0106: when one of them changes, every stored hour is noted,
-- so the refreshes compute the rollups again (pages say how many hours they lack until then).
do $$
declare
  v_hash text;
begin
  select md5(string_agg(x.definition, E'\n' order by x.n)) into v_hash
  from (
    select 0 as n, pg_get_viewdef('message_status_timeline'::regclass) as definition
    union all
    select 1, pg_get_viewdef('message_response_times'::regclass)
    union all
    select 2, pg_get_viewdef('campaign_messages'::regclass)
    union all
    select 2 + f.n, pg_get_functiondef(to_regprocedure(f.signature))
    from unnest(array[
      'bluetick_report_recompute(uuid, integer)', 'bluetick_report_reply_hours(uuid[], text[], timestamptz[])',
      'bluetick_report_percentiles(uuid, date, date, text, boolean)', 'bluetick_customer(text, text, text, text)',
      'bluetick_contact_phone(text, text, text)', 'bluetick_is_event(text)', 'bluetick_error_code(text)',
      'bluetick_market(text, text)', 'bluetick_status_of(jsonb)', 'bluetick_is_billable(boolean, text)',
      'bluetick_report_recompute_campaigns(uuid, timestamp without time zone[])', 'bluetick_read_bucket(integer)'
    ]) with ordinality as f(signature, n)
  ) x;
  if v_hash is distinct from (select d.hash from report_definitions d) then
    insert into report_dirty (org_id, hour)
    select distinct m.org_id, date_trunc('hour', m.created_at at time zone 'UTC') from message_logs m;
    delete from report_definitions;
    insert into report_definitions (hash) values (v_hash);
  end if;
end
$$;
