-- What Meta's other webhook fields say, kept in tables of their own (docs/design.md, "Platform facts"): customers'
-- marketing preferences, template status/quality/category changes, account and phone-number events, each group
-- participant's receipt, and the links between a customer's old and new identifiers. Each table is a history of
-- events, written by bluetick_apply_facts (sql/functions/platform.sql) in the batch's transaction; the current
-- state (the latest preference, a template's status) is computed from it by the analytics functions, so it does
-- not depend on the order the events arrived in. message_logs gains the group a message was sent in and the
-- customer's parent BSUID.

alter table message_logs add column if not exists group_id text;
alter table message_logs add column if not exists customer_parent_user_id text;
alter table message_status_parked add column if not exists parent_user_id text;

-- A customer stopped or resumed a category of messages (user_preferences). `customer` is the key analytics use:
-- the phone when Meta names one, else the BSUID (bluetick_customer's rule).
create table if not exists customer_preferences (
  org_id           uuid        not null,
  customer         text        not null,
  category         text        not null,  -- marketing_messages
  preference       text        not null,  -- stop | resume
  changed_at       timestamptz not null,
  customer_phone   text,
  customer_user_id text,
  detail           text,
  recorded_at      timestamptz not null default now(),
  primary key (org_id, customer, category, changed_at, preference)
);
create index if not exists customer_preferences_org_changed_idx on customer_preferences (org_id, changed_at);

-- A template's status, quality or category changed (message_template_status_update,
-- message_template_quality_update, template_category_update); `detail` is the change's whole value.
create table if not exists template_events (
  org_id      uuid        not null,
  template_id text        not null,
  field       text        not null,  -- status | quality | category
  value       text        not null,
  changed_at  timestamptz not null,
  name        text,
  language    text,
  reason      text,
  detail      jsonb       not null default '{}'::jsonb,
  recorded_at timestamptz not null default now(),
  primary key (org_id, template_id, field, changed_at, value)
);

-- The business's account and phone numbers (account_update, phone_number_quality_update): each event whole. The
-- same event posted twice is kept once (detail_md5: jsonb's text is canonical).
create table if not exists account_events (
  id          bigint generated always as identity primary key,
  org_id      uuid        not null,
  field       text        not null,
  event       text,
  changed_at  timestamptz not null,
  detail      jsonb       not null,
  detail_md5  text        not null generated always as (md5(detail::text)) stored,
  recorded_at timestamptz not null default now()
);
create unique index if not exists account_events_org_event_key
  on account_events (org_id, field, changed_at, detail_md5);

-- Each participant's receipt of a message sent to a group: the earliest time of each stage, whatever the order.
-- `participant` is the key: the participant's phone when named, else their BSUID.
create table if not exists group_receipts (
  org_id                     uuid        not null,
  bsp_msg_id                 text        not null,
  participant                text        not null,
  status                     text        not null,
  ts                         timestamptz not null,
  group_id                   text,
  participant_phone          text,
  participant_user_id        text,
  participant_parent_user_id text,
  primary key (org_id, bsp_msg_id, participant, status)
);
create index if not exists group_receipts_org_ts_idx on group_receipts (org_id, ts);
-- Erasure and export find a participant's receipts by phone or BSUID.
create index if not exists group_receipts_org_participant_idx on group_receipts (org_id, participant);

-- A customer's identifier changed: `old_id` and `new_id` (both phones, or both BSUIDs) are one customer. The
-- earliest time a link was seen is kept.
create table if not exists customer_links (
  org_id     uuid        not null,
  link       text        not null,  -- phone | user_id
  old_id     text        not null,
  new_id     text        not null,
  changed_at timestamptz not null,
  bsp_msg_id text,
  primary key (org_id, old_id, new_id)
);
create index if not exists customer_links_org_new_idx on customer_links (org_id, new_id);

-- Access as for message_logs (0004_access.sql): row-level security on everywhere; on Supabase an `authenticated`
-- user reads their own organisation's rows (auth.jwt() ->> 'org_id') and writes none, `anon` reads nothing. The
-- owner (SQL editor) and service_role write.
do $$
declare
  t text;
  role_name text;
begin
  foreach t in array array['customer_preferences', 'template_events', 'account_events', 'group_receipts',
                           'customer_links'] loop
    if not (select relrowsecurity from pg_class where oid = to_regclass('public.' || t)) then
      execute format('alter table %I enable row level security', t);
    end if;
    foreach role_name in array array['anon', 'authenticated'] loop
      if exists (select 1 from pg_roles where rolname = role_name) then
        execute format('revoke all on %I from %I', t, role_name);
      end if;
    end loop;
    if exists (select 1 from pg_roles where rolname = 'service_role') then
      execute format('grant select, insert, update, delete on %I to service_role', t);
    end if;
    if to_regnamespace('auth') is not null and exists (select 1 from pg_roles where rolname = 'authenticated') then
      if not exists (select 1 from pg_policies
                     where schemaname = 'public' and tablename = t and policyname = t || '_read_own_org') then
        execute format('create policy %I on %I for select to authenticated '
                       'using (org_id::text = (select auth.jwt() ->> ''org_id''))', t || '_read_own_org', t);
      end if;
      execute format('grant select on %I to authenticated', t);
    end if;
  end loop;
end
$$;

-- An erased row keeps its parent BSUID null as well as its BSUID (bluetick_keep_erased, functions/customers.sql):
-- a status naming only the parent BSUID fires the trigger too. The WHEN clause is still checked without calling
-- the function.
create or replace trigger message_logs_keep_erased
  before update of customer_user_id, customer_parent_user_id on message_logs
  for each row when (old.erased_at is not null
                     and (new.customer_user_id is not null or new.customer_parent_user_id is not null))
  execute function bluetick_keep_erased();
