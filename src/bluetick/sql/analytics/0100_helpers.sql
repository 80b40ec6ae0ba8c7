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
  'The customer''s phone of a message: to_phone when OUTBOUND, from_phone when INBOUND. '
  'Indexed (message_logs_org_contact_created_idx); change it only together with that index.';

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
