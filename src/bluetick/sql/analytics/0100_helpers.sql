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
