-- Campaigns and templates (issue 25): an outbound message's declared template (name, language, category) and the
-- campaign it was sent in (id, name), as logged (merge rule 8: the first log's stay). Meta's pricing category stays
-- in pricing_category beside the declared template_category. Replies and clicks need no column: they are unranked
-- keys of whatsapp_status (merge rule 5). The partial indexes serve the per-campaign and per-template analytics over
-- a time range without costing the rows that carry neither.

alter table message_logs add column if not exists template_name text;
alter table message_logs add column if not exists template_language text;
alter table message_logs add column if not exists template_category text;
alter table message_logs add column if not exists campaign_id text;
alter table message_logs add column if not exists campaign_name text;

create index if not exists message_logs_campaign_idx
  on message_logs (org_id, campaign_id, created_at) where campaign_id is not null;
create index if not exists message_logs_template_idx
  on message_logs (org_id, template_name, created_at) where template_name is not null;
