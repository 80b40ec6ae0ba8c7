-- bench: fill message_logs with $1 generated rows in one INSERT ... SELECT generate_series.
-- $1 rows, $2 organisations (an equal share each), $3 the end of the window ("now"), $4 days of history.
-- Deterministic when the session ran `select setseed(...)` just before. Rows go in in created_at order, as a live
-- table's do. Shaped like what bluetick stores:
-- 10% inbound, and of outbound: 5% failed, 88% delivered (65% of those read), the rest only sent.
with drawn as (
  select g, random() as r_time, random() as r_dir, random() as r_fate, random() as r_deliver, random() as r_read,
         random() as r_kind
  from generate_series(1, $1::int) as g
), shaped as (
  select d.*,
         ('00000000-0000-4000-8000-' || lpad(to_hex(1 + g % $2::int), 12, '0'))::uuid as org_id,
         case when r_dir < 0.1 then 'INBOUND' else 'OUTBOUND' end as direction,
         date_trunc('second', $3::timestamptz - r_time * $4::int * interval '1 day') as created
  from drawn d
), staged as (
  select s.*,
         case when direction = 'OUTBOUND' and r_fate < 0.05
              then created + (1 + floor(r_deliver * 60)) * interval '1 second' end as failed_at,
         case when direction = 'OUTBOUND' and r_fate >= 0.05 and r_fate < 0.93
              then created + (1 + floor(r_deliver * 30)) * interval '1 second' end as delivered_at
  from shaped s
), timed as (
  select t.*,
         case when delivered_at is not null and r_read < 0.65
              then delivered_at + (2 + floor(r_read * 5000)) * interval '1 second' end as read_at
  from staged t
)
insert into message_logs
  (org_id, bsp_msg_id, direction, msg_kind, to_phone, from_phone, body, whatsapp_status, failed_reason,
   created_at, updated_at)
select
  org_id,
  'wamid.BENCH' || lpad(g::text, 10, '0'),
  direction,
  case when direction = 'INBOUND' then 'TEXT' when r_kind < 0.75 then 'AI_REPLY_FREEFORM' else 'TEMPLATE' end,
  case when direction = 'OUTBOUND' then '+9198' || lpad((g % 10000000)::text, 8, '0') else '+15550783881' end,
  case when direction = 'INBOUND' then '+9198' || lpad((g % 10000000)::text, 8, '0') end,
  case when direction = 'INBOUND' then 'Is my order on its way?' else 'Your order has shipped' end,
  case when direction = 'INBOUND' then '{}'::jsonb
       else jsonb_strip_nulls(jsonb_build_object(
              'sent', bluetick_ts_text(created),
              'delivered', bluetick_ts_text(coalesce(delivered_at, read_at)),
              'read', bluetick_ts_text(read_at),
              'failed', bluetick_ts_text(failed_at))) end,
  case when failed_at is not null then 'Error 131026: Message Undeliverable - Message Undeliverable '
       || '(Message failed to send because the recipient''s phone number is not on WhatsApp)' end,
  created,
  coalesce(read_at, failed_at, delivered_at, created)
from timed
order by created  -- in time order, as logging appends rows: a day's rows lie together, as in a live table
