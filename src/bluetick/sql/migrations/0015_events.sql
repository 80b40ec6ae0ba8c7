-- Events out (docs/design.md, "Events"): a transactional outbox, the feed's cursor and signed webhook subscriptions.
-- bluetick_events holds each change that matters (a message's status, a customer message stored, a preference, a
-- template's status) of the organisations that use events, written by the batch that makes the change, in its
-- transaction. It is partitioned by day on created_at, so expiry drops a day whole (bluetick_events_maintain);
-- the default partition catches a row whose day has no partition yet. `xid` is the writing transaction's id: the
-- feed and the deliveries read in (xid, id) order and never past the oldest transaction still running, so an
-- event committed late by a transaction that began early is never skipped.

create sequence if not exists bluetick_events_id_seq;

create table if not exists bluetick_events (
  org_id     uuid        not null,
  id         bigint      not null default nextval('bluetick_events_id_seq'),
  xid        xid8        not null default pg_current_xact_id(),
  created_at timestamptz not null default now(),
  type       text        not null,  -- message.status | message.received | customer.preferences | template.status
  bsp_msg_id text,
  version    bigint,                 -- a message event's version: its id, which grows with each event of one message
                                     -- (written under the message's lock); a receiver drops one older than it has
  data       jsonb       not null
) partition by range (created_at);

-- Every reader (the feed, deliveries, erasure, export) reads one organisation: one index, one entry per event.
create index if not exists bluetick_events_org_xid_idx on bluetick_events (org_id, xid, id);
create table if not exists bluetick_events_default partition of bluetick_events default;

-- An organisation turns the feed on (PUT /v1/orgs/{org}/events/feed); one with a subscription writes events too.
alter table org_settings add column if not exists events_feed boolean not null default false;

-- Signed webhooks out (Standard Webhooks). Each subscription reads the event stream from its own cursor
-- (cursor_xid, cursor_id): a delivery advances it only after a 2xx, so a crash re-sends, never skips. A replica
-- claims a subscription by its lease (lease_until, taken with for update skip locked).
create table if not exists webhook_subscriptions (
  id              uuid        primary key default gen_random_uuid(),
  org_id          uuid        not null,
  url             text        not null,
  events          text[]      not null,
  secret          text        not null,  -- whsec_...
  previous_secret text,                  -- also signed with until previous_until (rotation)
  previous_until  timestamptz,
  created_at      timestamptz not null default now(),
  cursor_xid      xid8        not null,
  cursor_id       bigint      not null default 0,
  attempts        integer     not null default 0,  -- failed attempts since the last success
  next_attempt_at timestamptz not null default now(),
  lease_until     timestamptz,
  last_success_at timestamptz,
  failing_since   timestamptz,
  last_error      text,
  disabled_at     timestamptz,
  disabled_reason text                   -- failing (retried past WEBHOOK_RETRY_FOR) | gone (answered 410)
);
create index if not exists webhook_subscriptions_org_idx on webhook_subscriptions (org_id);
create index if not exists webhook_subscriptions_due_idx on webhook_subscriptions (next_attempt_at)
  where disabled_at is null;

-- Access: the events are the organisation's own data (an `authenticated` Supabase user reads their
-- organisation's, as message_logs); subscriptions hold secrets: the service only, like org_secrets.
do $$
declare
  t text;
  role_name text;
begin
  foreach t in array array['bluetick_events', 'webhook_subscriptions'] loop
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
  end loop;
  if exists (select 1 from pg_roles where rolname = 'service_role') then
    grant usage on sequence bluetick_events_id_seq to service_role;
  end if;
  if to_regnamespace('auth') is not null and exists (select 1 from pg_roles where rolname = 'authenticated') then
    if not exists (select 1 from pg_policies where schemaname = 'public' and tablename = 'bluetick_events'
                   and policyname = 'bluetick_events_read_own_org') then
      create policy bluetick_events_read_own_org on bluetick_events
        for select to authenticated
        using (org_id::text = (select auth.jwt() ->> 'org_id'));
    end if;
    grant select on bluetick_events to authenticated;
  end if;
end
$$;
