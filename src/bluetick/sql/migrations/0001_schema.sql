-- bluetick schema: the message log, parked status events and seen webhook deliveries.
-- Safe to run again: every statement is "if not exists" or "or replace".

-- The furthest stage a whatsapp_status map has reached (docs/design.md, merge rule 3).
-- failed outranks everything; keys the service does not rank (deleted, warning, ...) are ignored.
create or replace function bluetick_status_of(ws jsonb)
returns text
language sql immutable parallel safe
as $$
  select case
    when ws ? 'failed' then 'FAILED'
    when ws ? 'read' then 'READ'
    when ws ? 'delivered' then 'DELIVERED'
    when ws ? 'sent' then 'SENT'
  end
$$;

create table if not exists message_logs (
  id              uuid primary key default gen_random_uuid(),
  org_id          uuid not null,
  bsp_msg_id      text not null,
  direction       text not null default 'OUTBOUND' check (direction in ('OUTBOUND', 'INBOUND')),
  msg_kind        text,
  to_phone        text,
  from_phone      text,
  body            text,
  -- Derived, so it can never disagree with whatsapp_status.
  status          text generated always as (bluetick_status_of(whatsapp_status)) stored,
  whatsapp_status jsonb not null default '{}'::jsonb,
  failed_reason   text,
  metadata        jsonb not null default '{}'::jsonb,
  created_at      timestamptz not null default now(),
  updated_at      timestamptz not null default now(),
  constraint message_logs_org_msg_key unique (org_id, bsp_msg_id)
);

comment on table message_logs is
  'One row per WhatsApp message (OUTBOUND from the business, INBOUND from the customer); '
  'whatsapp_status maps each delivery stage to its earliest UTC time.';

-- Lookups by (org_id, bsp_msg_id) use the unique constraint's index.
create index if not exists message_logs_org_created_idx on message_logs (org_id, created_at);
create index if not exists message_logs_whatsapp_status_gin on message_logs using gin (whatsapp_status);

-- Status events for messages not logged yet (merge rule 6), one row per stage with its earliest time.
create table if not exists message_status_parked (
  org_id        uuid not null,
  bsp_msg_id    text not null,
  status        text not null,
  ts            timestamptz not null,
  failed_reason text,
  parked_at     timestamptz not null default now(),
  primary key (org_id, bsp_msg_id, status)
);

create index if not exists message_status_parked_age_idx on message_status_parked (parked_at);

-- Which version of bluetick's SQL is installed (a digest of the files); the service skips its start-up
-- migration when it matches, so replicas that boot take no locks.
create table if not exists bluetick_schema (
  id         boolean primary key default true check (id),
  version    text not null,
  applied_at timestamptz not null default now()
);

-- Webhook deliveries already applied (AiSensy's envelope id), so a BSP retry is not processed twice.
create table if not exists webhook_receipts (
  org_id      uuid not null,
  receipt_id  text not null,
  received_at timestamptz not null default now(),
  primary key (org_id, receipt_id)
);

create index if not exists webhook_receipts_age_idx on webhook_receipts (received_at);
