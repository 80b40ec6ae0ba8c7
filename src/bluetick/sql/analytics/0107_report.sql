-- What the analyst's report (`python main.py report`, GET /v1/orgs/{org_id}/report) shows that the other
-- files do not compute: each failure code's title and share of all failures, and the read rate per weekday
-- and hour of sending in a time zone. Every other chart of the report reads a view or function of the
-- files before this one.

-- The title of a failed_reason written `Error {code}: {title} - {message} ({details})`: the text after the
-- colon, up to ` - ` or ` (`; NULL when the reason is NULL.
-- Example: select bluetick_error_title('Error 131047: Re-engagement message - More than 24 hours');  -- Re-engagement message
create or replace function bluetick_error_title(failed_reason text)
returns text
language sql immutable parallel safe
as $$
  select nullif(btrim(split_part(split_part(regexp_replace(failed_reason, '^Error[^:]*:\s*', ''), ' - ', 1), ' (', 1)), '')
$$;

comment on function bluetick_error_title(text) is
  'The title of a failed_reason "Error {code}: {title} - {message} ({details})"; NULL when there is none.';

-- bluetick_failure_share(org, since, until): bluetick_failures with each code's title (of its newest reason)
-- and its share of all the window's failures, most frequent first.
-- Example: the top 10 of the last 30 days.
--   select * from bluetick_failure_share('0b6b9c3e-4a51-4f39-9a57-1f0f5e7f2a10', now() - interval '30 days', now())
--   limit 10;
create or replace function bluetick_failure_share(p_org uuid, p_since timestamptz, p_until timestamptz)
returns table (
  error_code text,
  error_title text,
  failures bigint,
  share_pct numeric,
  newest_reason text
)
language sql stable
as $$
  select
    f.error_code,
    bluetick_error_title(f.newest_reason),
    f.failures,
    bluetick_pct(f.failures, (sum(f.failures) over ())::bigint),
    f.newest_reason
  from bluetick_failures(p_org, p_since, p_until) f
  order by f.failures desc, f.error_code nulls last
$$;

comment on function bluetick_failure_share(uuid, timestamptz, timestamptz) is
  'Failures of one org''s messages created in [since, until) per error_code (as bluetick_failures), with '
  'error_title and share_pct of all the window''s failures, most frequent first.';

-- bluetick_read_rate_by_weekday_hour(org, since, until, time_zone): bluetick_read_rate_by_hour split by ISO
-- day of week (1 = Monday) too, both read in `time_zone` (default 'UTC'; any name of pg_timezone_names).
-- Only the weekday and hour pairs with outbound messages have a row.
-- Example: the last 30 days, in India's time, best first.
--   select * from bluetick_read_rate_by_weekday_hour('0b6b9c3e-4a51-4f39-9a57-1f0f5e7f2a10',
--                                                    now() - interval '30 days', now(), 'Asia/Kolkata')
--   order by read_rate_pct desc nulls last;
create or replace function bluetick_read_rate_by_weekday_hour(
  p_org uuid,
  p_since timestamptz,
  p_until timestamptz,
  p_time_zone text default 'UTC'
)
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
  select
    extract(isodow from t.created_at at time zone p_time_zone)::integer,
    extract(hour from t.created_at at time zone p_time_zone)::integer,
    count(*),
    count(t.delivered_at),
    count(t.read_at),
    bluetick_pct(count(t.read_at), count(t.delivered_at))
  from message_status_timeline t
  where t.org_id = p_org and t.direction = 'OUTBOUND' and not t.is_event
    and t.created_at >= p_since and t.created_at < p_until
  group by 1, 2
  order by 1, 2
$$;

comment on function bluetick_read_rate_by_weekday_hour(uuid, timestamptz, timestamptz, text) is
  'Read rate of one org''s outbound messages created in [since, until) per ISO day_of_week (1 = Monday) '
  'and hour_of_day of sending, in time_zone (default UTC).';
