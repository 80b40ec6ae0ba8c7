-- The org-scoped funnel over [since, until), written out here: used only when the database has no
-- bluetick_funnel(uuid, timestamptz, timestamptz) (sql/analytics not there yet).
select
  count(*) as outbound,
  count(*) filter (where whatsapp_status ? 'sent') as sent,
  count(*) filter (where whatsapp_status ? 'delivered') as delivered,
  count(*) filter (where whatsapp_status ? 'read') as read,
  count(*) filter (where whatsapp_status ? 'failed') as failed,
  round(100.0 * count(*) filter (where whatsapp_status ? 'delivered')
        / nullif(count(*) filter (where whatsapp_status ? 'sent'), 0), 2) as delivery_rate_pct,
  round(100.0 * count(*) filter (where whatsapp_status ? 'read')
        / nullif(count(*) filter (where whatsapp_status ? 'delivered'), 0), 2) as read_rate_pct,
  round((percentile_cont(0.5) within group (order by extract(epoch from
        (whatsapp_status ->> 'delivered')::timestamptz - (whatsapp_status ->> 'sent')::timestamptz)))::numeric, 1)
        as median_seconds_to_deliver
from message_logs
where org_id = $1::uuid and direction = 'OUTBOUND' and created_at >= $2::timestamptz and created_at < $3::timestamptz
