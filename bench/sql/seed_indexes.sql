-- bench: the seeds' indexes on message_logs: only bsp_msg_id, and a GIN on whatsapp_status
-- (beside the primary key on id, which every Supabase table has).
create index message_logs_bsp_msg_id_idx on message_logs (bsp_msg_id);
create index message_logs_whatsapp_status_gin on message_logs using gin (whatsapp_status);
