-- The rate card: what one billable message of a pricing category costs an organisation in a market, from a
-- date on. Read by bluetick_spend (sql/analytics/0106_pricing.sql); filled by hand from Meta's published
-- rates (sql/analytics/README.md, Pricing). Rerunnable.
--   category: Meta's pricing category as its webhooks write it (marketing, utility, authentication, ...);
--   market:   the customer's country, ISO 3166 two letters (bluetick_market), or '*' for every market
--             without a rate of its own;
--   a rate holds from valid_from until the next valid_from of the same (org, category, market).
create table if not exists pricing_rates (
  org_id            uuid    not null,
  category          text    not null check (category ~ '^[a-z][a-z_]*$'),
  market            text    not null check (market ~ '^([A-Z]{2}|\*)$'),
  currency          text    not null check (currency ~ '^[A-Z]{3}$'),
  price_per_message numeric not null check (price_per_message >= 0),
  valid_from        date    not null,
  primary key (org_id, category, market, valid_from)
);

comment on table pricing_rates is
  'Rate card per organisation: price_per_message in currency for a pricing category in a market (ISO '
  'country code, or * for any other), from valid_from on.';

-- Access as for message_logs (0004_access.sql): row-level security on; on Supabase an `authenticated` user
-- reads their own organisation's rates and writes none, `anon` reads nothing. The owner (SQL editor) and
-- service_role fill it.
do $$
begin
  if not (select relrowsecurity from pg_class where oid = to_regclass('public.pricing_rates')) then
    alter table pricing_rates enable row level security;
  end if;

  if to_regnamespace('auth') is null or not exists (select 1 from pg_roles where rolname = 'authenticated') then
    return;  -- plain Postgres: no Supabase roles, nothing more to do
  end if;

  if not exists (select 1 from pg_policies
                 where schemaname = 'public' and tablename = 'pricing_rates' and policyname = 'pricing_rates_read_own_org') then
    create policy pricing_rates_read_own_org on pricing_rates
      for select to authenticated
      using (org_id::text = (select auth.jwt() ->> 'org_id'));
  end if;

  revoke all on pricing_rates from anon, authenticated;
  grant select on pricing_rates to authenticated;
end
$$;
