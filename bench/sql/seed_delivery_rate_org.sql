-- SEED_QUERIES.md #1 scoped to one organisation ($2), as bluetick's analysts always scope it.
select round(100.0 * count(*) filter (where whatsapp_status ? 'delivered') / nullif(count(*), 0), 2)
       as delivery_rate_pct
from message_logs
where bsp_msg_id is not null
  and org_id = $2::uuid
  and created_at >= $1::timestamptz - interval '24 hours'
