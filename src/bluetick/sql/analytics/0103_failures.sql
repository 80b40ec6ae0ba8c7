-- Failures by error code: which errors the BSP reported, how often, and the newest reason text (Meta
-- sometimes changes the wording of one code). The code is parsed from failed_reason `Error {code}: ...`
-- (bluetick_error_code); a reason without a code groups under error_code NULL. A failure counts on the
-- UTC day of its message's created_at, so each day's failures add up to message_funnel_daily.failed.
-- Events (a failed reaction, edit or revoke) are left out, as in the funnel.

-- message_failures_daily: per organisation, UTC day and error code.
-- Example: the last 7 days, most frequent first.
--   select day, error_code, failures, newest_reason from message_failures_daily
--   where org_id = '0b6b9c3e-4a51-4f39-9a57-1f0f5e7f2a10' and day > current_date - 7
--   order by day desc, failures desc;
create or replace view message_failures_daily
with (security_invoker = true) as
select
  t.org_id,
  t.day,
  t.error_code,
  count(*) as failures,
  max(t.failed_at) as last_failed_at,
  (array_agg(t.failed_reason order by t.failed_at desc, t.failed_reason))[1] as newest_reason
from message_status_timeline t
where t.status = 'FAILED' and not t.is_event
group by t.org_id, t.day, t.error_code;

comment on view message_failures_daily is
  'Failed messages per org_id, UTC day and error_code (parsed from failed_reason), with the time and '
  'reason text of the newest failure.';

-- bluetick_failures(org, since, until): failures of messages created in [since, until) by error code,
-- most frequent first.
-- Example: the last 24 hours.
--   select * from bluetick_failures('0b6b9c3e-4a51-4f39-9a57-1f0f5e7f2a10', now() - interval '24 hours', now());
create or replace function bluetick_failures(p_org uuid, p_since timestamptz, p_until timestamptz)
returns table (
  error_code text,
  failures bigint,
  last_failed_at timestamptz,
  newest_reason text
)
language sql stable
as $$
  select
    t.error_code,
    count(*),
    max(t.failed_at),
    (array_agg(t.failed_reason order by t.failed_at desc, t.failed_reason))[1]
  from message_status_timeline t
  where t.org_id = p_org and t.status = 'FAILED' and not t.is_event
    and t.created_at >= p_since and t.created_at < p_until
  group by t.error_code
  order by count(*) desc, t.error_code nulls last
$$;

comment on function bluetick_failures(uuid, timestamptz, timestamptz) is
  'Failures of one org''s messages created in [since, until), per error_code, with the newest reason.';
