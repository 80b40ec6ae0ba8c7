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
