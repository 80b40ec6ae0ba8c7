-- A status that names its message's template or campaign (Wati's templateName, Interakt's raw_template and
-- campaign_id; issue 25) fills the log's own where it has none (docs/design.md, merge rule 11). A status parked
-- before its message is logged keeps them until then. Labels, not customer data.
alter table message_status_parked add column if not exists template_name text;
alter table message_status_parked add column if not exists template_language text;
alter table message_status_parked add column if not exists campaign_id text;
