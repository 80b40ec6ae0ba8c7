-- SEED_QUERIES.md #1 as the seeds ran it: delivery rate over the last 24 hours, every organisation.
-- $1 is "now" (the end of the generated window).
select round(100.0 * count(*) filter (where whatsapp_status ? 'delivered') / nullif(count(*), 0), 2)
       as delivery_rate_pct
from message_logs
where bsp_msg_id is not null
  and created_at >= $1::timestamptz - interval '24 hours'
