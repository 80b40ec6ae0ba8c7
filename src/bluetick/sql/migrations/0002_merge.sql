-- bluetick merge: every write the service makes is one call to bluetick_apply_batch.
-- Safe to run again: every statement is "or replace".

-- A timestamp as stored inside whatsapp_status: ISO 8601, UTC, whole seconds, with a Z.
create or replace function bluetick_ts_text(ts timestamptz)
returns text
language sql stable parallel safe
as $$
  select to_char(ts at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
$$;

-- Merge two whatsapp_status maps (merge rules 1 and 2): every key keeps its earliest time, and a
-- later stage implies the earlier ones (read => delivered => sent) at the same time.
-- Commutative, associative and idempotent, so the result depends only on the set of events.
-- (A loop over the patch's one to three keys: twice as fast as an aggregate over both maps.)
create or replace function bluetick_merge_status(cur jsonb, patch jsonb)
returns jsonb
language plpgsql stable parallel safe
as $$
declare
  merged jsonb := coalesce(cur, '{}'::jsonb);
  k text;
  v text;
  implied timestamptz;
begin
  for k, v in select key, value from jsonb_each_text(coalesce(patch, '{}'::jsonb)) loop
    if not merged ? k or v::timestamptz < (merged ->> k)::timestamptz then
      merged := merged || jsonb_build_object(k, v);
    end if;
  end loop;
  foreach k in array array['delivered', 'sent'] loop
    implied := case k when 'delivered' then (merged ->> 'read')::timestamptz
                      else least((merged ->> 'delivered')::timestamptz, (merged ->> 'read')::timestamptz) end;
    if implied is not null and (not merged ? k or implied < (merged ->> k)::timestamptz) then
      merged := merged || jsonb_build_object(k, bluetick_ts_text(implied));
    end if;
  end loop;
  return merged;
end
$$;

-- Lock key of one message; every writer locks its batch's keys in ascending order (no deadlocks),
-- so a batch that parks an event and a batch that logs the message always see each other.
create or replace function bluetick_lock_key(org_id uuid, bsp_msg_id text)
returns bigint
language sql immutable parallel safe
as $$
  select hashtextextended(org_id::text || '/' || bsp_msg_id, 0)
$$;

-- Apply one batch in one transaction.
--   p_messages: [{org_id, bsp_msg_id, direction, msg_kind, to_phone, from_phone, body, sent_at, metadata, receipt_id}]
--   p_statuses: [{org_id, bsp_msg_id, status, ts, failed_reason, receipt_id}]
-- Messages are inserted once per (org_id, bsp_msg_id) (a repeat changes nothing), parked events of
-- those messages are applied, and every status is merged into its row or parked until it is logged.
-- Statuses carrying a receipt_id already seen are skipped (a BSP's retry of a delivery); messages need
-- no such check, since logging one twice changes nothing.
-- Returns {"messages": [the stored rows of p_messages], "updated": rows merged, "parked": events parked}.
create or replace function bluetick_apply_batch(p_messages jsonb, p_statuses jsonb)
returns jsonb
language plpgsql
set search_path = public, pg_temp
as $$
declare
  v_fresh text[];
  v_updated integer;
  v_parked integer;
  v_rows jsonb;
begin
  p_messages := coalesce(p_messages, '[]'::jsonb);
  p_statuses := coalesce(p_statuses, '[]'::jsonb);

  perform pg_advisory_xact_lock(k)
  from (
    select distinct bluetick_lock_key((item ->> 'org_id')::uuid, item ->> 'bsp_msg_id') as k
    from (
      select jsonb_array_elements(p_messages) as item
      union all
      select jsonb_array_elements(p_statuses)
    ) items
    order by k
  ) keys;

  with claimed as (
    insert into webhook_receipts (org_id, receipt_id)
    select distinct (item ->> 'org_id')::uuid, item ->> 'receipt_id'
    from (
      select jsonb_array_elements(p_messages) as item
      union all
      select jsonb_array_elements(p_statuses)
    ) items
    where item ->> 'receipt_id' is not null
    on conflict do nothing
    returning org_id::text || '/' || receipt_id as claim
  )
  select coalesce(array_agg(claim), '{}') into v_fresh from claimed;

  insert into message_logs as m
    (org_id, bsp_msg_id, direction, msg_kind, to_phone, from_phone, body, whatsapp_status, metadata, created_at)
  select e.org_id, e.bsp_msg_id, coalesce(e.direction, 'OUTBOUND'), e.msg_kind, e.to_phone, e.from_phone, e.body,
         case when coalesce(e.direction, 'OUTBOUND') = 'OUTBOUND'
              then jsonb_build_object('sent', bluetick_ts_text(coalesce(e.sent_at, now())))
              else '{}'::jsonb end,
         coalesce(e.metadata, '{}'::jsonb),
         date_trunc('second', coalesce(e.sent_at, now()))
  from jsonb_to_recordset(p_messages) as e(
    org_id uuid, bsp_msg_id text, direction text, msg_kind text, to_phone text, from_phone text,
    body text, sent_at timestamptz, metadata jsonb)
  on conflict (org_id, bsp_msg_id) do nothing;

  with drained as (
    delete from message_status_parked p
    using (
      select distinct (item ->> 'org_id')::uuid as org_id, item ->> 'bsp_msg_id' as bsp_msg_id
      from jsonb_array_elements(p_messages) as item
    ) logged
    where p.org_id = logged.org_id and p.bsp_msg_id = logged.bsp_msg_id
    returning p.org_id, p.bsp_msg_id, p.status, p.ts, p.failed_reason
  ), events as (
    select e.org_id, e.bsp_msg_id, lower(e.status) as status, date_trunc('second', e.ts) as ts,
           e.failed_reason
    from jsonb_to_recordset(p_statuses) as e(
      org_id uuid, bsp_msg_id text, status text, ts timestamptz, failed_reason text, receipt_id text)
    where e.receipt_id is null or e.org_id::text || '/' || e.receipt_id = any (v_fresh)
    union all
    select org_id, bsp_msg_id, status, ts, failed_reason from drained
  ), per_stage as (
    -- failed_reason comes from the earliest failed event; on a tie, the least reason text.
    select org_id, bsp_msg_id, status, min(ts) as ts,
           (array_agg(failed_reason order by ts, failed_reason)
              filter (where status = 'failed'))[1] as failed_reason
    from events
    group by org_id, bsp_msg_id, status
  ), per_message as (
    select org_id, bsp_msg_id,
           jsonb_object_agg(status, bluetick_ts_text(ts)) as patch,
           min(ts) filter (where status = 'failed') as failed_ts,
           min(failed_reason) filter (where status = 'failed') as failed_reason
    from per_stage
    group by org_id, bsp_msg_id
  ), updated as (
    update message_logs m
    set whatsapp_status = bluetick_merge_status(m.whatsapp_status, p.patch),
        failed_reason = case
          when p.failed_ts is null then m.failed_reason
          when not (m.whatsapp_status ? 'failed')
            or p.failed_ts < (m.whatsapp_status ->> 'failed')::timestamptz then p.failed_reason
          when p.failed_ts = (m.whatsapp_status ->> 'failed')::timestamptz
            then least(m.failed_reason, p.failed_reason)
          else m.failed_reason
        end,
        updated_at = now()
    from per_message p
    where m.org_id = p.org_id and m.bsp_msg_id = p.bsp_msg_id
    returning m.org_id, m.bsp_msg_id
  ), parked as (
    insert into message_status_parked as q (org_id, bsp_msg_id, status, ts, failed_reason)
    select s.org_id, s.bsp_msg_id, s.status, s.ts, s.failed_reason
    from per_stage s
    where not exists (
      select 1 from updated u where u.org_id = s.org_id and u.bsp_msg_id = s.bsp_msg_id)
    on conflict (org_id, bsp_msg_id, status) do update
    set failed_reason = case
          when excluded.ts < q.ts then excluded.failed_reason
          when excluded.ts > q.ts then q.failed_reason
          else least(q.failed_reason, excluded.failed_reason)
        end,
        ts = least(q.ts, excluded.ts)
    returning 1
  )
  select (select count(*) from updated), (select count(*) from parked) into v_updated, v_parked;

  select coalesce(jsonb_agg(to_jsonb(m)), '[]'::jsonb) into v_rows
  from message_logs m
  join (
    select distinct (item ->> 'org_id')::uuid as org_id, item ->> 'bsp_msg_id' as bsp_msg_id
    from jsonb_array_elements(p_messages) as item
  ) logged on m.org_id = logged.org_id and m.bsp_msg_id = logged.bsp_msg_id;

  return jsonb_build_object('messages', v_rows, 'updated', v_updated, 'parked', v_parked);
end
$$;

-- Delete parked events and delivery receipts older than p_max_age (merge rule 6).
create or replace function bluetick_purge(p_max_age interval)
returns jsonb
language plpgsql
set search_path = public, pg_temp
as $$
declare
  v_parked integer;
  v_receipts integer;
begin
  delete from message_status_parked where parked_at < now() - p_max_age;
  get diagnostics v_parked = row_count;
  delete from webhook_receipts where received_at < now() - p_max_age;
  get diagnostics v_receipts = row_count;
  return jsonb_build_object('parked', v_parked, 'receipts', v_receipts);
end
$$;
