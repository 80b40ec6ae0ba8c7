-- message_status_timeline: one row per message, with each delivery stage as a timestamptz column.
-- Answers "when was this message sent, delivered, read or failed, and how long did each step take?"
-- without JSONB casts. Every other analytics view reads it. Rows are both directions; INBOUND rows have
-- no stage times. Events (reactions, edits, revokes, system messages) are rows too, with is_event true and
-- ref_bsp_msg_id naming the message they are about; every other view leaves them out. `customer` is the
-- customer's phone, else their BSUID (bluetick_customer); contact_phone is the phone only.
-- Columns added later go at the end, so `create or replace` keeps working and analysts' views survive. The merge keeps sent <= delivered <= read, and a `read` without `delivered` fills
-- `delivered` with the read time, so such a message shows seconds_to_read = 0.
--
-- Example: the last 20 outbound messages of one organisation, slowest delivery first.
--   select bsp_msg_id, customer, sent_at, delivered_at, read_at, seconds_to_deliver, seconds_to_read
--   from message_status_timeline
--   where org_id = '0b6b9c3e-4a51-4f39-9a57-1f0f5e7f2a10' and direction = 'OUTBOUND'
--     and created_at >= now() - interval '1 day'
--   order by seconds_to_deliver desc nulls last
--   limit 20;
create or replace view message_status_timeline
with (security_invoker = true) as
select
  m.org_id,
  m.id,
  m.bsp_msg_id,
  m.direction,
  m.msg_kind,
  bluetick_contact_phone(m.direction, m.to_phone, m.from_phone) as contact_phone,
  m.to_phone,
  m.from_phone,
  m.status,
  m.created_at,
  (m.created_at at time zone 'UTC')::date as day,
  t.sent_at,
  t.delivered_at,
  t.read_at,
  t.failed_at,
  extract(epoch from t.delivered_at - t.sent_at)::integer as seconds_to_deliver,
  extract(epoch from t.read_at - t.delivered_at)::integer as seconds_to_read,
  m.failed_reason,
  bluetick_error_code(m.failed_reason) as error_code,
  m.body,
  m.whatsapp_status,
  m.updated_at,
  m.customer_user_id,
  m.ref_bsp_msg_id,
  bluetick_customer(m.direction, m.to_phone, m.from_phone, m.customer_user_id) as customer,
  bluetick_is_event(m.msg_kind) as is_event,
  m.billable,
  m.pricing_category,
  m.pricing_type,
  m.pricing_at
from message_logs m
cross join lateral (
  select
    (m.whatsapp_status ->> 'sent')::timestamptz as sent_at,
    (m.whatsapp_status ->> 'delivered')::timestamptz as delivered_at,
    (m.whatsapp_status ->> 'read')::timestamptz as read_at,
    (m.whatsapp_status ->> 'failed')::timestamptz as failed_at
) t;

comment on view message_status_timeline is
  'One row per message (both directions): sent_at, delivered_at, read_at, failed_at as timestamptz, '
  'seconds_to_deliver (sent to delivered), seconds_to_read (delivered to read), error_code, day (UTC date of '
  'created_at), customer (phone, else BSUID), contact_phone (phone only), customer_user_id, is_event and '
  'ref_bsp_msg_id (reactions, edits, revokes, system messages), billable, pricing_category, pricing_type and '
  'pricing_at (Meta''s pricing, when it came). Filter by org_id.';
