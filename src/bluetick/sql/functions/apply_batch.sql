-- The merge: one call applies a batch of logged messages and status events, set-based, whatever their order
-- (docs/design.md, "Merge rules"). bluetick_status_of, which ranks a whatsapp_status map, is the one merge function
-- not here: the generated column message_logs.status is computed by it, and Postgres keeps the stored values when
-- a body is replaced, so it stays in migrations/0001_schema.sql and changes only by a migration that rewrites the
-- column.
-- A repeatable file (docs/design.md, Migrations): the one current definition of these functions, applied after
-- the versioned migrations and again whenever any repeatable file changes. Edit it in place; never restate a
-- function in a migration. Privileges granted to a function stay with it across `create or replace`.

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

-- Pricing and conversation in one canonical jsonb (the keys of Pricing.to_json, the time as bluetick_ts_text),
-- NULL when there is none: how a status event's pricing is compared, parked and stored.
create or replace function bluetick_pricing_json(
  billable boolean, pricing_model text, pricing_category text, pricing_type text,
  conversation_id text, conversation_origin text, conversation_expires_at timestamptz)
returns jsonb
language sql stable parallel safe
as $$
  select nullif(jsonb_strip_nulls(jsonb_build_object(
    'billable', billable, 'pricing_model', pricing_model, 'pricing_category', pricing_category,
    'pricing_type', pricing_type, 'conversation_id', conversation_id,
    'conversation_origin', conversation_origin,
    'conversation_expires_at', bluetick_ts_text(conversation_expires_at))), '{}'::jsonb)
$$;

-- Whether pricing `new` seen at `new_at` replaces pricing `cur` seen at `cur_at` (merge rule 10): the earliest
-- event wins, and on a tie the lesser jsonb text, so the result does not depend on the order of arrival.
create or replace function bluetick_pricing_wins(cur_at timestamptz, cur jsonb, new_at timestamptz, new jsonb)
returns boolean
language sql immutable parallel safe
as $$
  select new is not null and (cur_at is null or new_at < cur_at or (new_at = cur_at and new::text < cur::text))
$$;

-- One batch: log p_messages (insert, or fill what a row lacks), merge p_statuses into their rows or park those
-- whose message is not logged yet (merge rule 6), write the events of the organisations that use them (events.sql),
-- and return the logged rows and the counts {"messages", "updated", "parked", "events"}. Takes every key's advisory
-- lock in ascending order first. A batch of statuses only skips the insert into message_logs (and the report's
-- statement trigger) and the read of logged rows; an empty batch returns at once.
-- Events are written by the merge statement itself (docs/design.md, "Events"): the update reads each row's status
-- and failed_reason before the change through a second reference to the table (the statement's snapshot, so the
-- values before it), only when an organisation of the batch uses events (a one-time filter: other batches skip the
-- probe), and an event goes out for each row that is new in this batch, or whose status or failed_reason changed.
create or replace function bluetick_apply_batch(p_messages jsonb, p_statuses jsonb)
returns jsonb
language plpgsql
set search_path = public, pg_temp
as $$
declare
  v_fresh text[];
  v_updated integer;
  v_parked integer;
  v_rows jsonb := '[]'::jsonb;
  v_logs boolean;
  v_orgs uuid[];          -- the batch's organisations that use events
  v_evented boolean;      -- whether there is any
  v_new_orgs uuid[] := '{}'::uuid[];  -- the keys of rows this batch logged anew, of those organisations
  v_new_ids text[] := '{}'::text[];
  v_events integer;
  v_notify uuid[];
begin
  p_messages := coalesce(p_messages, '[]'::jsonb);
  p_statuses := coalesce(p_statuses, '[]'::jsonb);
  v_logs := jsonb_array_length(p_messages) > 0;
  if not v_logs and jsonb_array_length(p_statuses) = 0 then
    return jsonb_build_object('messages', '[]'::jsonb, 'updated', 0, 'parked', 0, 'events', 0);
  end if;

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
  v_orgs := bluetick_event_orgs(array(
    select distinct (item ->> 'org_id')::uuid
    from (select jsonb_array_elements(p_messages) as item union all select jsonb_array_elements(p_statuses)) items));
  v_evented := cardinality(v_orgs) > 0;

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

  if v_logs then  -- a batch of statuses only (most of them) runs no insert, so no insert trigger either
  with inserted as (
  insert into message_logs as m
    (org_id, bsp_msg_id, direction, msg_kind, to_phone, from_phone, body, whatsapp_status, metadata, created_at,
     customer_user_id, ref_bsp_msg_id, customer_parent_user_id, group_id, template_name, template_language,
     template_category, campaign_id, campaign_name)
  select e.org_id, e.bsp_msg_id, coalesce(e.direction, 'OUTBOUND'), e.msg_kind, e.to_phone, e.from_phone, e.body,
         case when coalesce(e.direction, 'OUTBOUND') = 'OUTBOUND'
              then jsonb_build_object('sent', bluetick_ts_text(coalesce(e.sent_at, now())))
              else '{}'::jsonb end,
         coalesce(e.metadata, '{}'::jsonb),
         date_trunc('second', coalesce(e.sent_at, now())),
         e.customer_user_id, e.ref_bsp_msg_id, e.customer_parent_user_id, e.group_id, e.template_name,
         e.template_language, e.template_category, e.campaign_id, e.campaign_name
  from jsonb_to_recordset(p_messages) as e(
    org_id uuid, bsp_msg_id text, direction text, msg_kind text, to_phone text, from_phone text,
    body text, sent_at timestamptz, metadata jsonb, customer_user_id text, ref_bsp_msg_id text,
    customer_parent_user_id text, group_id text, template_name text, template_language text,
    template_category text, campaign_id text, campaign_name text)
  on conflict (org_id, bsp_msg_id) do nothing
  returning m.org_id, m.bsp_msg_id
  )
  select coalesce(array_agg(i.org_id), '{}'), coalesce(array_agg(i.bsp_msg_id), '{}') into v_new_orgs, v_new_ids
  from inserted i
  where i.org_id = any (v_orgs);
  end if;

  with drained as (
    delete from message_status_parked p
    using (
      select distinct (item ->> 'org_id')::uuid as org_id, item ->> 'bsp_msg_id' as bsp_msg_id
      from jsonb_array_elements(p_messages) as item
    ) logged
    where p.org_id = logged.org_id and p.bsp_msg_id = logged.bsp_msg_id
    returning p.org_id, p.bsp_msg_id, p.status, p.ts, p.failed_reason, p.user_id, p.pricing, p.pricing_at,
              p.parent_user_id, p.template_name, p.template_language, p.campaign_id
  ), received as (
    select e.org_id, e.bsp_msg_id, lower(e.status) as status, date_trunc('second', e.ts) as ts,
           e.failed_reason, e.user_id, e.parent_user_id, e.template_name, e.template_language, e.campaign_id,
           bluetick_pricing_json((e.pricing ->> 'billable')::boolean, e.pricing ->> 'pricing_model',
                                 e.pricing ->> 'pricing_category', e.pricing ->> 'pricing_type',
                                 e.pricing ->> 'conversation_id', e.pricing ->> 'conversation_origin',
                                 (e.pricing ->> 'conversation_expires_at')::timestamptz) as pricing
    from jsonb_to_recordset(p_statuses) as e(
      org_id uuid, bsp_msg_id text, status text, ts timestamptz, failed_reason text, receipt_id text,
      user_id text, pricing jsonb, parent_user_id text, template_name text, template_language text,
      campaign_id text)
    where e.receipt_id is null or e.org_id::text || '/' || e.receipt_id = any (v_fresh)
  ), events as (
    select r.*, case when r.pricing is not null then r.ts end as pricing_ts from received r
    union all
    select org_id, bsp_msg_id, status, ts, failed_reason, user_id, parent_user_id, template_name, template_language,
           campaign_id, pricing, pricing_at
    from drained
  ), per_stage as (
    -- failed_reason comes from the earliest failed event; on a tie, the least reason text. The pricing is
    -- the earliest event's that carries one, on a tie the lesser text (merge rule 10).
    select org_id, bsp_msg_id, status, min(ts) as ts,
           (array_agg(failed_reason order by ts, failed_reason)
              filter (where status = 'failed'))[1] as failed_reason,
           min(user_id) as user_id, min(parent_user_id) as parent_user_id,
           min(template_name) as template_name,
           (array_agg(template_language order by template_name, template_language)
              filter (where template_name is not null))[1] as template_language,
           min(campaign_id) as campaign_id,
           (array_agg(pricing order by pricing_ts, pricing::text) filter (where pricing is not null))[1] as pricing,
           min(pricing_ts) as pricing_ts
    from events
    group by org_id, bsp_msg_id, status
  ), per_message as (
    select org_id, bsp_msg_id,
           jsonb_object_agg(status, bluetick_ts_text(ts)) as patch,
           min(ts) filter (where status = 'failed') as failed_ts,
           min(failed_reason) filter (where status = 'failed') as failed_reason,
           min(user_id) as user_id, min(parent_user_id) as parent_user_id,
           min(template_name) as template_name,
           (array_agg(template_language order by template_name, template_language)
              filter (where template_name is not null))[1] as template_language,
           min(campaign_id) as campaign_id,
           (array_agg(pricing order by pricing_ts, pricing::text) filter (where pricing is not null))[1] as pricing,
           min(pricing_ts) as pricing_ts
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
        customer_user_id = least(m.customer_user_id, p.user_id),
        customer_parent_user_id = least(m.customer_parent_user_id, p.parent_user_id),
        -- a template or campaign a webhook names fills the log's hole (merge rule 11): name and language together
        (template_name, template_language) = (
          select case when m.template_name is null then p.template_name else m.template_name end,
                 case when m.template_name is null then p.template_language else m.template_language end),
        campaign_id = coalesce(m.campaign_id, p.campaign_id),
        (billable, pricing_model, pricing_category, pricing_type, conversation_id, conversation_origin,
         conversation_expires_at, pricing_at) = (
          select case when w.wins then (p.pricing ->> 'billable')::boolean else m.billable end,
                 case when w.wins then p.pricing ->> 'pricing_model' else m.pricing_model end,
                 case when w.wins then p.pricing ->> 'pricing_category' else m.pricing_category end,
                 case when w.wins then p.pricing ->> 'pricing_type' else m.pricing_type end,
                 case when w.wins then p.pricing ->> 'conversation_id' else m.conversation_id end,
                 case when w.wins then p.pricing ->> 'conversation_origin' else m.conversation_origin end,
                 case when w.wins then (p.pricing ->> 'conversation_expires_at')::timestamptz
                      else m.conversation_expires_at end,
                 case when w.wins then p.pricing_ts else m.pricing_at end
          from (select case when p.pricing is null then false  -- most statuses carry no pricing: skip the test
                            else bluetick_pricing_wins(
                              m.pricing_at,
                              bluetick_pricing_json(m.billable, m.pricing_model, m.pricing_category, m.pricing_type,
                                                    m.conversation_id, m.conversation_origin,
                                                    m.conversation_expires_at),
                              p.pricing_ts, p.pricing) end as wins) w
        ),
        updated_at = now()
    from per_message p
    left join message_logs o  -- the row before this statement, read only for a batch with events
      on v_evented and o.org_id = p.org_id and o.bsp_msg_id = p.bsp_msg_id
    where m.org_id = p.org_id and m.bsp_msg_id = p.bsp_msg_id
    returning m.org_id, m.bsp_msg_id, m.direction, o.org_id is not null as evented,
              case when o.org_id is not null then bluetick_event_data(m) end as data,  -- columns read once
              m.status is distinct from o.status or m.failed_reason is distinct from o.failed_reason as moved
  ), changed as (
    -- the rows this statement changed whose status or failed_reason moved, and those logged anew by this batch
    select u.org_id, u.bsp_msg_id, u.direction, u.data,
           (u.org_id, u.bsp_msg_id) in (select * from unnest(v_new_orgs, v_new_ids)) as fresh
    from updated u
    where u.evented and u.org_id = any (v_orgs)
      and (u.moved or (u.org_id, u.bsp_msg_id) in (select * from unnest(v_new_orgs, v_new_ids)))
    union all
    select l.org_id, l.bsp_msg_id, l.direction, bluetick_event_data(l), true  -- logged anew, unchanged since
    from unnest(v_new_orgs, v_new_ids) n(org_id, bsp_msg_id)
    join message_logs l on l.org_id = n.org_id and l.bsp_msg_id = n.bsp_msg_id
    where not exists (select 1 from updated u where u.org_id = n.org_id and u.bsp_msg_id = n.bsp_msg_id)
  ), numbered as (
    select c.*, nextval('bluetick_events_id_seq') as id from changed c
  ), evented as (
    insert into bluetick_events (org_id, id, type, bsp_msg_id, version, data)
    select c.org_id, c.id,
           case when c.fresh and c.direction = 'INBOUND' then 'message.received' else 'message.status' end,
           c.bsp_msg_id, c.id, c.data || jsonb_build_object('version', c.id)
    from numbered c
    returning org_id
  ), parked as (
    insert into message_status_parked as q
      (org_id, bsp_msg_id, status, ts, failed_reason, user_id, pricing, pricing_at, parent_user_id, template_name,
       template_language, campaign_id)
    select s.org_id, s.bsp_msg_id, s.status, s.ts, s.failed_reason, s.user_id, s.pricing, s.pricing_ts,
           s.parent_user_id, s.template_name, s.template_language, s.campaign_id
    from per_stage s
    where not exists (  -- an index probe: the batch holds every key's lock, so no row appears meanwhile
      select 1 from message_logs l where l.org_id = s.org_id and l.bsp_msg_id = s.bsp_msg_id)
    on conflict (org_id, bsp_msg_id, status) do update
    set failed_reason = case
          when excluded.ts < q.ts then excluded.failed_reason
          when excluded.ts > q.ts then q.failed_reason
          else least(q.failed_reason, excluded.failed_reason)
        end,
        user_id = least(q.user_id, excluded.user_id),
        parent_user_id = least(q.parent_user_id, excluded.parent_user_id),
        (template_name, template_language) = (
          select case when excluded.template_name < q.template_name or q.template_name is null
                      then excluded.template_name else q.template_name end,
                 case when excluded.template_name < q.template_name or q.template_name is null
                      then excluded.template_language else q.template_language end),
        campaign_id = least(q.campaign_id, excluded.campaign_id),
        pricing = case when bluetick_pricing_wins(q.pricing_at, q.pricing, excluded.pricing_at, excluded.pricing)
                       then excluded.pricing else q.pricing end,
        pricing_at = case when bluetick_pricing_wins(q.pricing_at, q.pricing, excluded.pricing_at, excluded.pricing)
                          then excluded.pricing_at else q.pricing_at end,
        ts = least(q.ts, excluded.ts)
    returning 1
  )
  select (select count(*) from updated), (select count(*) from parked), (select count(*) from evented),
         (select array_agg(distinct org_id) from evented)
  into v_updated, v_parked, v_events, v_notify;
  -- every organisation that got an event, once (sent at commit): the feed's and the deliverers' wake-up
  perform pg_notify('bluetick_events', o::text) from unnest(v_notify) o;

  if v_logs then
  select coalesce(jsonb_agg(to_jsonb(m)), '[]'::jsonb) into v_rows
  from message_logs m
  join (
    select distinct (item ->> 'org_id')::uuid as org_id, item ->> 'bsp_msg_id' as bsp_msg_id
    from jsonb_array_elements(p_messages) as item
  ) logged on m.org_id = logged.org_id and m.bsp_msg_id = logged.bsp_msg_id;
  end if;

  return jsonb_build_object('messages', v_rows, 'updated', v_updated, 'parked', v_parked, 'events', v_events);
end
$$;

-- The batch above, plus the webhook inbox in the same transaction (docs/design.md, "The webhook inbox"): keeps
-- the new bodies of p_inbox (no id; a body kept before is not kept twice) and updates the replayed ones (with id).
-- Adds {"kept", "marked"} to the result; a batch that keeps no body skips both statements.
create or replace function bluetick_apply_batch(p_messages jsonb, p_statuses jsonb, p_inbox jsonb)
returns jsonb
language plpgsql
set search_path = public, pg_temp
as $$
declare
  v_result jsonb;
  v_kept integer := 0;
  v_replayed integer := 0;
begin
  v_result := bluetick_apply_batch(p_messages, p_statuses);
  if p_inbox is null or jsonb_array_length(p_inbox) = 0 then  -- most batches keep no body
    return v_result || jsonb_build_object('kept', 0, 'marked', 0);
  end if;

  insert into webhook_inbox (org_id, received_at, content_type, format, reason, detail, body)
  select k.org_id, k.received_at, k.content_type, k.format, k.reason, k.detail, decode(k.body, 'base64')
  from jsonb_to_recordset(coalesce(p_inbox, '[]'::jsonb)) as k(
    id bigint, org_id uuid, received_at timestamptz, content_type text, format text, reason text, detail text,
    body text)
  where k.id is null
  on conflict (org_id, body_sha256) do nothing;
  get diagnostics v_kept = row_count;

  update webhook_inbox w
  set format = k.format, reason = k.reason, detail = k.detail,
      replayed_at = case when k.replayed then coalesce(w.replayed_at, now()) end
  from jsonb_to_recordset(coalesce(p_inbox, '[]'::jsonb)) as k(
    id bigint, format text, reason text, detail text, replayed boolean)
  where w.id = k.id;
  get diagnostics v_replayed = row_count;

  return v_result || jsonb_build_object('kept', v_kept, 'marked', v_replayed);
end
$$;

-- A batch that carries facts: the three-argument bluetick_apply_batch (messages, statuses, inbox bodies), then
-- the facts, in one transaction. Adds {"facts": N stored anew} to its result. The service calls this one only
-- for a batch with facts, so a batch without (most of them) costs what it did.
create or replace function bluetick_apply_batch(p_messages jsonb, p_statuses jsonb, p_inbox jsonb, p_facts jsonb)
returns jsonb
language plpgsql
set search_path = public, pg_temp
as $$
begin
  return bluetick_apply_batch(p_messages, p_statuses, p_inbox)
         || jsonb_build_object('facts', bluetick_apply_facts(p_facts));
end
$$;
