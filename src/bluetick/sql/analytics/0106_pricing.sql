-- Pricing: what Meta says each message costs (the pricing columns a status's `pricing` fills, merge rule 10)
-- and what that adds up to under the organisation's rate card (pricing_rates, 0007_pricing_rates.sql).
-- A message counts on the UTC day of its created_at, like everywhere else; a window is [since, until).
-- Every row Meta priced counts, whatever its msg_kind: Meta decides what is billable, bluetick only adds up.
-- What is billable is one rule, bluetick_is_billable below, and every count of billable messages uses it
-- (bluetick_billable, bluetick_spend, bluetick_spend_by_kind, the report's rollups in 0108_report_rollups.sql).

-- The market of a customer: the ISO country code of their phone, from a calling-code list of the countries
-- Meta prices as markets of their own (+1 is North America, counted as US), else the two letters that start
-- their BSUID (IN.2081978709342942, US.ENT.11815799212886844830); NULL when neither tells, which only a
-- '*' rate then prices. The calling codes are prefix-free, so at most one matches.
-- Example: select bluetick_market('+919876543210', null), bluetick_market(null, 'US.ENT.11815799212886844830');  -- IN, US
create or replace function bluetick_market(phone text, customer_user_id text)
returns text
language sql immutable parallel safe
as $$
  select coalesce(
    (select c.market
     from (values ('1', 'US'), ('7', 'RU'), ('20', 'EG'), ('27', 'ZA'), ('31', 'NL'), ('33', 'FR'), ('34', 'ES'),
                  ('39', 'IT'), ('44', 'GB'), ('49', 'DE'), ('51', 'PE'), ('52', 'MX'), ('54', 'AR'), ('55', 'BR'),
                  ('56', 'CL'), ('57', 'CO'), ('60', 'MY'), ('62', 'ID'), ('90', 'TR'), ('91', 'IN'), ('92', 'PK'),
                  ('234', 'NG'), ('966', 'SA'), ('971', 'AE'), ('972', 'IL')) as c(calling_code, market)
     where phone like '+' || c.calling_code || '%'),
    substring(customer_user_id from '^([A-Z]{2})\.'))
$$;

comment on function bluetick_market(text, text) is
  'ISO country code of a customer: from the phone''s calling code (Meta''s own-rate markets; +1 is US), '
  'else the BSUID''s two-letter prefix; NULL when neither tells.';

-- bluetick_rate(org, category, market, day): the rate card's price of one message of `category` to `market` on
-- `day`: the newest rate valid by then for that market, else for '*' (any market); no row when there is none.
create or replace function bluetick_rate(p_org uuid, p_category text, p_market text, p_day date)
returns table (currency text, price_per_message numeric)
language sql stable
as $$
  select x.currency, x.price_per_message
  from pricing_rates x
  where x.org_id = p_org and x.category = p_category and x.market in (p_market, '*') and x.valid_from <= p_day
  order by x.market = '*', x.valid_from desc
  limit 1
$$;

comment on function bluetick_rate(uuid, text, text, date) is
  'Price and currency of one message of a pricing category to a market on a day: the newest valid rate for the '
  'market, else for ''*''; no row when the rate card has none.';

-- bluetick_is_billable(billable, pricing_type): whether Meta bills a message. Under per-message pricing (PMP,
-- since July 2025: pricing_model 'pmp', pricing_type 'regular', 'free_customer_service' or 'free_entry_point')
-- Meta documents `billable` as deprecated in favour of the type, so a status may carry the type alone. A message
-- is billable when billable is true, or when billable is absent (NULL) and pricing_type is 'regular'; otherwise
-- (billable false, or absent with a free type or no type) it is not. An explicit billable wins over the type.
-- Example: select bluetick_is_billable(null, 'regular'), bluetick_is_billable(null, 'free_entry_point');  -- t, f
create or replace function bluetick_is_billable(billable boolean, pricing_type text)
returns boolean
language sql immutable parallel safe
as $$
  select coalesce(billable, pricing_type = 'regular', false)
$$;

comment on function bluetick_is_billable(boolean, text) is
  'Whether a message is billable: billable when it is true, or when it is NULL and pricing_type is ''regular'' '
  '(Meta''s per-message pricing); never NULL.';

-- bluetick_billable(org, since, until): the messages Meta priced, per UTC day, pricing category, pricing type
-- and billable (bluetick_is_billable: true for a billable one, false for a free one, e.g. free_customer_service,
-- never NULL). Messages without pricing are not counted.
-- Example: last week, billable or not.
--   select * from bluetick_billable('0b6b9c3e-4a51-4f39-9a57-1f0f5e7f2a10', current_date - 7, current_date);
create or replace function bluetick_billable(p_org uuid, p_since timestamptz, p_until timestamptz)
returns table (
  day date,
  pricing_category text,
  pricing_type text,
  billable boolean,
  messages bigint
)
language sql stable
as $$
  select (m.created_at at time zone 'UTC')::date, m.pricing_category, m.pricing_type,
         bluetick_is_billable(m.billable, m.pricing_type), count(*)
  from message_logs m
  where m.org_id = p_org and m.pricing_at is not null
    and m.created_at >= p_since and m.created_at < p_until
  group by 1, 2, 3, 4
  order by 1, 2 nulls last, 3 nulls last, 4 nulls last
$$;

comment on function bluetick_billable(uuid, timestamptz, timestamptz) is
  'Messages of one org created in [since, until) that Meta priced, per UTC day, pricing_category, '
  'pricing_type and billable (bluetick_is_billable).';

-- bluetick_spend_by_kind(org, since, until): the cost of the billable messages (bluetick_is_billable), per UTC
-- day, msg_kind (as logged), pricing category and currency. A message's rate is the org's rate card row for its
-- category and market (bluetick_market of the customer) with the latest valid_from on or before the message's
-- day; a rate for the market itself wins over a '*' one. Billable messages with no such rate are counted on a row
-- with currency and spend NULL.
-- Example: what the AI agent's replies cost last week.
--   select currency, sum(messages) as messages, sum(spend) as spend
--   from bluetick_spend_by_kind('0b6b9c3e-4a51-4f39-9a57-1f0f5e7f2a10', current_date - 7, current_date)
--   where msg_kind = 'AI_REPLY_FREEFORM' group by currency order by currency nulls last;
create or replace function bluetick_spend_by_kind(p_org uuid, p_since timestamptz, p_until timestamptz)
returns table (
  day date,
  msg_kind text,
  pricing_category text,
  currency text,
  messages bigint,
  spend numeric
)
language sql stable
as $$
  select g.day, g.msg_kind, g.pricing_category, r.currency, sum(g.messages)::bigint,
         sum(g.messages * r.price_per_message)
  from (
    select (m.created_at at time zone 'UTC')::date as day, m.msg_kind, m.pricing_category,
           bluetick_market(bluetick_contact_phone(m.direction, m.to_phone, m.from_phone), m.customer_user_id)
             as market,
           count(*) as messages
    from message_logs m
    where m.org_id = p_org and bluetick_is_billable(m.billable, m.pricing_type)
      and m.created_at >= p_since and m.created_at < p_until
    group by 1, 2, 3, 4
  ) g
  left join lateral bluetick_rate(p_org, g.pricing_category, g.market, g.day) r on true
  group by g.day, g.msg_kind, g.pricing_category, r.currency
  order by g.day, g.msg_kind nulls last, g.pricing_category nulls last, r.currency nulls last
$$;

comment on function bluetick_spend_by_kind(uuid, timestamptz, timestamptz) is
  'Spend of one org''s billable messages (bluetick_is_billable) created in [since, until) per UTC day, msg_kind, '
  'pricing_category and currency under pricing_rates; those with no rate are a row with currency and spend NULL.';

-- bluetick_spend(org, since, until): bluetick_spend_by_kind added up over msg_kind: the cost of the billable
-- messages per UTC day, pricing category and currency, priced as above; billable messages with no rate are
-- counted on a row with currency and spend NULL.
-- Example: what marketing cost last week, and what is not priced yet.
--   select day, currency, messages, spend
--   from bluetick_spend('0b6b9c3e-4a51-4f39-9a57-1f0f5e7f2a10', current_date - 7, current_date)
--   where pricing_category = 'marketing' order by day;
create or replace function bluetick_spend(p_org uuid, p_since timestamptz, p_until timestamptz)
returns table (
  day date,
  pricing_category text,
  currency text,
  messages bigint,
  spend numeric
)
language sql stable
as $$
  select s.day, s.pricing_category, s.currency, sum(s.messages)::bigint, sum(s.spend)
  from bluetick_spend_by_kind(p_org, p_since, p_until) s
  group by s.day, s.pricing_category, s.currency
  order by s.day, s.pricing_category nulls last, s.currency nulls last
$$;

comment on function bluetick_spend(uuid, timestamptz, timestamptz) is
  'Spend of one org''s billable messages (bluetick_is_billable) created in [since, until) per UTC day, '
  'pricing_category and currency under pricing_rates; those with no rate are a row with currency and spend NULL.';
