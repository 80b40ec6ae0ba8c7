-- Indexes for the analytics views, chosen from EXPLAIN (ANALYZE, BUFFERS) on a generated message_logs of
-- 1,000,000 rows: 10 organisations, one busy one with 700,000 rows (70% outbound, 50,000 customers,
-- 90 days, inserted in time order as the service writes them), on Postgres 18, 2 vCPU, shared_buffers
-- 128MB, work_mem 4MB, warm cache. Times are for the busy organisation.
--
-- What the schema already had, and what it serves:
--   message_logs_org_created_idx (org_id, created_at): every function's window [since, until), e.g.
--   bluetick_funnel over 7 days (38k messages) in ~120 ms, bluetick_failures in ~20 ms; the views'
--   created_at filters; seed query 7 (newest failures first, limit 100) in < 1 ms walking it backwards.
--
-- 1. message_logs_org_contact_created_idx (org_id, bluetick_customer(...), created_at). Measured on
--    bluetick_contact_phone, the phone alone; since customers may be known by BSUID only, it is on
--    bluetick_customer (the phone, else the BSUID), the expression every view pairs by, same shape.
--    "The next outbound message to this customer after this time" is one probe of this index per
--    customer message. Without it the planner walks (org_id, created_at) from the customer message on
--    through every later message of the organisation: response_times_daily and bluetick_response_times
--    over 7 days did not finish in 30 s; with it, 207 ms and 139 ms (16k probes, nested loop). It also
--    turns bluetick_unanswered over 48 h from a hash anti join over all 490k outbound rows (521 ms) into
--    4.8k probes (53 ms), a conversation with one customer (seed 14) from 160 ms to 0.2 ms and
--    contact_engagement of one customer from 162 ms to 0.1 ms. One index on the customer's phone in
--    either direction serves all of these; a partial index on (org_id, to_phone, created_at) where
--    direction = 'OUTBOUND' would be ~30% smaller but would serve the replies only.
--
-- 2. message_logs_org_utc_day_idx (org_id, (created_at at time zone 'UTC')::date).
--    The daily views are filtered by `day`, an expression on created_at the (org_id, created_at) index
--    cannot serve: without this index, message_funnel_daily for the last 7 days is a parallel scan of
--    the whole table (266 ms at 1M rows, growing with the table), message_failures_daily for one day
--    173 ms; with it, a bitmap scan of those days' rows only: 156 ms (most of it the four percentile
--    sorts) and 2.5 ms; message_failures_daily for 7 days 175 -> 20 ms. It is small (7 MB at 1M rows).
--
-- Not indexed: the stage times inside whatsapp_status (they are read per row after the org and time
-- filters, and change with every status), and whole-history aggregates such as message_funnel_daily
-- over all 90 days of the busy organisation (1.7 s, a read of all its rows by nature).
--
-- Cost. When these were measured, every status merge rewrote its row outside HOT (whatsapp_status was in a
-- GIN index), so each index here got an entry per status update: 20,000 status merges in batches of 500
-- through bluetick_apply_batch took 2.85-2.92 s without these two indexes and 2.97-3.24 s with them (about
-- +6%); 20,000 message inserts, 1.0-1.5 s either way (noise). Since migration 0010 a merge is a HOT update
-- (no index on a column it changes but customer_user_id, set once), so they cost at insert only. Sizes at 1M rows: 56 MB and 7 MB.
-- Building them took 2.1 s and 0.7 s at 1M rows; a plain CREATE INDEX blocks writes meanwhile, and the
-- migrations run at start-up in a transaction. On a large existing table, create them first by hand
-- with `create index concurrently if not exists` (the same definitions); the statements below then do
-- nothing.

-- The index was first on bluetick_contact_phone: an index of that definition is dropped once, then built
-- again on bluetick_customer under the same name.
do $$
begin
  if exists (select 1 from pg_indexes
             where schemaname = current_schema() and indexname = 'message_logs_org_contact_created_idx'
               and indexdef not like '%bluetick_customer(%') then
    drop index message_logs_org_contact_created_idx;
  end if;
end
$$;

create index if not exists message_logs_org_contact_created_idx
  on message_logs (org_id, bluetick_customer(direction, to_phone, from_phone, customer_user_id), created_at);

create index if not exists message_logs_org_utc_day_idx
  on message_logs (org_id, ((created_at at time zone 'UTC')::date));

comment on index message_logs_org_contact_created_idx is
  'Analytics: a customer''s messages in time order (replies, unanswered messages, conversations).';
comment on index message_logs_org_utc_day_idx is
  'Analytics: the daily views filtered by UTC day.';
