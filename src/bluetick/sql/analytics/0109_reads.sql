-- Reads of the analytics that bluetick's own commands make through its store: each is one call answering jsonb,
-- so asyncpg and Supabase's REST API carry it alike.

-- bluetick_text_numbers: a jsonb object whose numbers become their text as Postgres writes them, for a caller
-- that prints them: a rate of 60.00 stays 60.00 and a median of 20.0 stays 20.0, where a JSON reader would see
-- the doubles 60 and 20.
-- Example: select bluetick_text_numbers('{"read_rate_pct": 60.00, "day": "2024-10-03"}');
create or replace function bluetick_text_numbers(p_row jsonb)
returns jsonb
language sql immutable parallel safe
as $$
  select coalesce(
    jsonb_object_agg(key, case jsonb_typeof(value) when 'number' then to_jsonb(value #>> '{}') else value end),
    '{}')
  from jsonb_each(p_row)
$$;

-- bluetick_stats_funnel: what `bluetick stats` prints, the funnel of one organisation's outbound messages over the
-- UTC days p_first to p_last: `total` (the row of bluetick_funnel, null when it has none) and `rows`, one per day
-- (message_funnel_daily, by day) or, with p_by 'kind', per msg_kind (bluetick_funnel_by_kind, in its order);
-- every number as its text.
-- Example: select bluetick_stats_funnel('0b6b9c3e-4a51-4f39-9a57-1f0f5e7f2a10', current_date - 6, current_date, 'day');
create or replace function bluetick_stats_funnel(p_org uuid, p_first date, p_last date, p_by text)
returns jsonb
language sql stable
as $$
  with bounds as (
    select p_first::timestamp at time zone 'UTC' as since, (p_last + 1)::timestamp at time zone 'UTC' as until
  )
  select jsonb_build_object(
    'total', (select bluetick_text_numbers(to_jsonb(t)) from bounds b, bluetick_funnel(p_org, b.since, b.until) t),
    'rows', case when p_by = 'kind' then
      (select coalesce(jsonb_agg(bluetick_text_numbers(to_jsonb(k) - 'ordinality') order by k.ordinality), '[]')
       from bounds b, bluetick_funnel_by_kind(p_org, b.since, b.until) with ordinality k)
    else
      (select coalesce(jsonb_agg(bluetick_text_numbers(to_jsonb(d)) order by d.day), '[]')
       from message_funnel_daily d where d.org_id = p_org and d.day >= p_first and d.day < p_last + 1)
    end)
$$;

-- bluetick_report_table: one chart's rows for bluetick_report_data, from `p_rows` (json_agg of the rows of the
-- function `p_function`, in order): `columns` (those of the first row, none without rows), `types` (each one's
-- declared type in p_function's result) and `rows`, each an array of its values as text, so a reader turns them
-- back into exact values whichever transport carried them (60.00 stays 60.00, a date stays a date).
-- Example: select bluetick_report_table('bluetick_report_kinds', '[{"msg_kind": "TEMPLATE", "outbound": 3}]');
create or replace function bluetick_report_table(p_function text, p_rows json)
returns jsonb
language sql stable
set search_path = public, pg_temp
as $$
  select jsonb_build_object(
    'columns', coalesce((select jsonb_agg(c.key order by c.n) from json_each(p_rows -> 0) with ordinality c(key, v, n)),
                        '[]'),
    'types', coalesce(
      (select jsonb_agg(format_type(a.t, null) order by c.n)
       from json_each(p_rows -> 0) with ordinality c(key, v, n)
       join pg_proc p on p.oid = to_regproc(p_function)
       cross join lateral unnest(p.proargnames, p.proallargtypes, p.proargmodes) a(name, t, mode)
       where a.mode = 't' and a.name = c.key),
      '[]'),
    'rows', coalesce(
      (select jsonb_agg((select jsonb_agg(v.value order by v.n) from json_each_text(r.row) with ordinality v(key, value, n))
                        order by r.n)
       from json_array_elements(p_rows) with ordinality r(row, n)),
      '[]'))
$$;

-- bluetick_report_data: every chart of the report page of one organisation over the UTC days p_first to p_last,
-- read in one statement (one snapshot, so the charts agree): `pending_hours` (hours written since the rollups were
-- computed) and `tables` by chart id, each a bluetick_report_table. The statements are those report/data.py
-- shows on the page (QUERIES); p_tz is the heatmap's time zone, p_as_of when seconds waiting are counted to.
-- Example: select bluetick_report_data('0b6b9c3e-4a51-4f39-9a57-1f0f5e7f2a10', current_date - 29, current_date, 'UTC',
--                                      now(), 10, 20);
create or replace function bluetick_report_data(p_org uuid, p_first date, p_last date, p_tz text, p_as_of timestamptz,
                                                p_top_failures integer, p_unanswered_shown integer)
returns jsonb
language plpgsql volatile
set search_path = public, pg_temp
set timezone = 'UTC'  -- times as ISO text in UTC
as $$
begin
  -- message_logs before the rollups, in the order a truncate of message_logs takes them (no deadlock)
  lock table message_logs in access share mode;
  return jsonb_build_object(
    'pending_hours', (select count(distinct hour) from report_dirty where org_id = p_org),
    'tables', jsonb_build_object(
      'funnel-total', bluetick_report_table('bluetick_report_funnel',
        (select json_agg(t) from (select * from bluetick_report_funnel(p_org, p_first, p_last)) t)),
      'funnel-daily', bluetick_report_table('bluetick_report_funnel_daily',
        (select json_agg(t) from (
          select day, outbound, sent, delivered, read, failed, delivery_rate_pct, read_rate_pct,
                 median_seconds_to_deliver, p95_seconds_to_deliver, median_seconds_to_read, p95_seconds_to_read
          from bluetick_report_funnel_daily(p_org, p_first, p_last)) t)),
      'failures', bluetick_report_table('bluetick_report_failures',
        (select json_agg(t) from (
          select error_code, error_title, failures, share_pct from bluetick_report_failures(p_org, p_first, p_last)
          limit p_top_failures) t)),
      'read-heatmap', bluetick_report_table('bluetick_report_read_heatmap',
        (select json_agg(t) from (select * from bluetick_report_read_heatmap(p_org, p_first, p_last, p_tz)) t)),
      'responses-total', bluetick_report_table('bluetick_report_responses',
        (select json_agg(t) from (select * from bluetick_report_responses(p_org, p_first, p_last)) t)),
      'responses-daily', bluetick_report_table('bluetick_report_responses_daily',
        (select json_agg(t) from (
          select day, inbound, answered, unanswered, median_seconds_to_reply, p95_seconds_to_reply
          from bluetick_report_responses_daily(p_org, p_first, p_last)) t)),
      'unanswered', bluetick_report_table('bluetick_report_unanswered',
        (select json_agg(t) from (
          select received_at, customer, seconds_waiting, waiting
          from bluetick_report_unanswered(p_org, p_first, p_last, p_as_of, p_unanswered_shown)) t)),
      'kinds', bluetick_report_table('bluetick_report_kinds',
        (select json_agg(t) from (
          select msg_kind, outbound, delivered, read, failed, delivery_rate_pct, read_rate_pct
          from bluetick_report_kinds(p_org, p_first, p_last)) t)),
      'billable', bluetick_report_table('bluetick_report_billable',
        (select json_agg(t) from (select * from bluetick_report_billable(p_org, p_first, p_last)) t)),
      'spend', bluetick_report_table('bluetick_report_spend',
        (select json_agg(t) from (select * from bluetick_report_spend(p_org, p_first, p_last)) t)),
      'campaigns', bluetick_report_table('bluetick_campaign_funnel',
        (select json_agg(t) from (
          select campaign_id, campaign_name, template_name, template_language, outbound, delivered, read, replied,
                 clicked, failed, read_pct, replied_pct, clicked_pct, failed_pct, median_seconds_sent_to_read,
                 top_error_code, opted_out
          from bluetick_campaign_funnel(p_org, p_first::timestamp at time zone 'UTC',
                                        (p_last + 1)::timestamp at time zone 'UTC')) t)),
      'templates', bluetick_report_table('bluetick_report_templates',
        (select json_agg(t) from (select * from bluetick_report_templates(p_org, p_first, p_last)) t))));
end
$$;
