-- Platform facts (docs/design.md, "Platform facts"): what Meta's other webhook fields say, stored by the batch that
-- carries them, in its transaction, into the tables of migrations/0014_platform_facts.sql.
-- A repeatable file (docs/design.md, Migrations): the one current definition of these functions, applied after
-- the versioned migrations and again whenever any repeatable file changes. Edit it in place; never restate a
-- function in a migration. Privileges granted to a function stay with it across `create or replace`.

-- Store p_facts, an array of facts each with its `kind` (events.py: preference, template, account, group_receipt,
-- identity_link). Every table is a history merged order-free: the same fact again changes nothing, a group
-- receipt or an identity link keeps its earliest time. Rows are inserted in key order, so two batches holding the
-- same facts wait for each other instead of deadlocking. Returns the number of facts stored anew.
create or replace function bluetick_apply_facts(p_facts jsonb)
returns integer
language plpgsql
set search_path = public, pg_temp
as $$
declare
  v_count integer := 0;
  v_rows integer;
  v_orgs uuid[];  -- the organisations that use events (events.sql): a new preference or template change is one
begin
  if p_facts is null or jsonb_array_length(p_facts) = 0 then
    return 0;
  end if;
  v_orgs := bluetick_event_orgs(array(select distinct (f ->> 'org_id')::uuid from jsonb_array_elements(p_facts) f));

  with stored as (
  insert into customer_preferences
    (org_id, customer, category, preference, changed_at, customer_phone, customer_user_id, detail)
  select distinct on (f.org_id, coalesce(f.customer_phone, f.customer_user_id), f.category, f.ts, f.preference)
         f.org_id, coalesce(f.customer_phone, f.customer_user_id), f.category, f.preference,
         date_trunc('second', f.ts), f.customer_phone, f.customer_user_id, f.detail
  from jsonb_to_recordset(p_facts) as f(
    kind text, org_id uuid, ts timestamptz, preference text, category text, customer_phone text,
    customer_user_id text, detail text)
  where f.kind = 'preference' and coalesce(f.customer_phone, f.customer_user_id) is not null
  order by f.org_id, coalesce(f.customer_phone, f.customer_user_id), f.category, f.ts, f.preference, f.detail
  on conflict do nothing
  returning *
  ), evented as (
    insert into bluetick_events (org_id, type, data)
    select s.org_id, 'customer.preferences', jsonb_strip_nulls(jsonb_build_object(
             'org_id', s.org_id, 'customer_phone', s.customer_phone, 'customer_user_id', s.customer_user_id,
             'category', s.category, 'preference', s.preference, 'changed_at', bluetick_ts_text(s.changed_at),
             'detail', s.detail))
    from stored s where s.org_id = any (v_orgs)
  )
  select count(*) into v_rows from stored;
  v_count := v_count + v_rows;

  with stored as (
  insert into template_events (org_id, template_id, field, value, changed_at, name, language, reason, detail)
  select distinct on (f.org_id, f.template_id, f.field, date_trunc('second', f.ts), f.value)
         f.org_id, f.template_id, f.field, f.value, date_trunc('second', f.ts), f.name, f.language, f.reason,
         coalesce(f.detail, '{}'::jsonb)
  from jsonb_to_recordset(p_facts) as f(
    kind text, org_id uuid, template_id text, field text, value text, ts timestamptz, name text, language text,
    reason text, detail jsonb)
  where f.kind = 'template'
  order by f.org_id, f.template_id, f.field, date_trunc('second', f.ts), f.value, f.detail::text
  on conflict do nothing
  returning *
  ), evented as (  -- a template's status, quality or category changed: one type, the field says which
    insert into bluetick_events (org_id, type, data)
    select s.org_id, 'template.status', jsonb_strip_nulls(jsonb_build_object(
             'org_id', s.org_id, 'template_id', s.template_id, 'name', s.name, 'language', s.language,
             'field', s.field, 'value', s.value, 'reason', s.reason, 'changed_at', bluetick_ts_text(s.changed_at)))
    from stored s where s.org_id = any (v_orgs)
  )
  select count(*) into v_rows from stored;
  v_count := v_count + v_rows;
  if cardinality(v_orgs) > 0 then
    perform pg_notify('bluetick_events', o::text) from unnest(v_orgs) o;
  end if;

  insert into account_events (org_id, field, event, changed_at, detail)
  select distinct on (f.org_id, f.field, date_trunc('second', f.ts), md5(coalesce(f.detail, '{}'::jsonb)::text))
         f.org_id, f.field, f.event, date_trunc('second', f.ts), coalesce(f.detail, '{}'::jsonb)
  from jsonb_to_recordset(p_facts) as f(kind text, org_id uuid, field text, event text, ts timestamptz, detail jsonb)
  where f.kind = 'account'
  order by f.org_id, f.field, date_trunc('second', f.ts), md5(coalesce(f.detail, '{}'::jsonb)::text)
  on conflict do nothing;
  get diagnostics v_rows = row_count;
  v_count := v_count + v_rows;

  -- Per (message, participant, stage): the earliest time; the identifiers of that participant are the least
  -- seen, so the result is the same in any order.
  insert into group_receipts as g
    (org_id, bsp_msg_id, participant, status, ts, group_id, participant_phone, participant_user_id,
     participant_parent_user_id)
  select f.org_id, f.bsp_msg_id, coalesce(f.participant_phone, f.participant_user_id), lower(f.status),
         min(date_trunc('second', f.ts)), min(f.group_id), min(f.participant_phone), min(f.participant_user_id),
         min(f.participant_parent_user_id)
  from jsonb_to_recordset(p_facts) as f(
    kind text, org_id uuid, bsp_msg_id text, status text, ts timestamptz, group_id text, participant_phone text,
    participant_user_id text, participant_parent_user_id text)
  where f.kind = 'group_receipt' and coalesce(f.participant_phone, f.participant_user_id) is not null
  group by f.org_id, f.bsp_msg_id, coalesce(f.participant_phone, f.participant_user_id), lower(f.status)
  order by f.org_id, f.bsp_msg_id, coalesce(f.participant_phone, f.participant_user_id), lower(f.status)
  on conflict (org_id, bsp_msg_id, participant, status) do update  -- least() passes over nulls
  set ts = least(g.ts, excluded.ts),
      group_id = least(g.group_id, excluded.group_id),
      participant_phone = least(g.participant_phone, excluded.participant_phone),
      participant_user_id = least(g.participant_user_id, excluded.participant_user_id),
      participant_parent_user_id = least(g.participant_parent_user_id, excluded.participant_parent_user_id)
  where (g.ts, g.group_id, g.participant_phone, g.participant_user_id, g.participant_parent_user_id)
        is distinct from (least(g.ts, excluded.ts), least(g.group_id, excluded.group_id),
                          least(g.participant_phone, excluded.participant_phone),
                          least(g.participant_user_id, excluded.participant_user_id),
                          least(g.participant_parent_user_id, excluded.participant_parent_user_id));
  get diagnostics v_rows = row_count;
  v_count := v_count + v_rows;

  insert into customer_links as l (org_id, link, old_id, new_id, changed_at, bsp_msg_id)
  select f.org_id, min(f.link), f.old_id, f.new_id, min(date_trunc('second', f.ts)),
         (array_agg(f.bsp_msg_id order by f.ts, f.bsp_msg_id))[1]
  from jsonb_to_recordset(p_facts) as f(
    kind text, org_id uuid, link text, old_id text, new_id text, ts timestamptz, bsp_msg_id text)
  where f.kind = 'identity_link' and f.old_id <> f.new_id
  group by f.org_id, f.old_id, f.new_id
  order by f.org_id, f.old_id, f.new_id
  on conflict (org_id, old_id, new_id) do update
  set changed_at = excluded.changed_at, bsp_msg_id = excluded.bsp_msg_id
  where excluded.changed_at < l.changed_at
     or (excluded.changed_at = l.changed_at and excluded.bsp_msg_id < l.bsp_msg_id);
  get diagnostics v_rows = row_count;
  v_count := v_count + v_rows;

  return v_count;
end
$$;

-- The service's alone, as the other writers (0004_access.sql, 0008_webhook_inbox.sql); the four-argument
-- bluetick_apply_batch is in apply_batch.sql, applied before this file.
select bluetick_service_only(array[
  'bluetick_apply_facts(jsonb)', 'bluetick_apply_batch(jsonb, jsonb, jsonb, jsonb)'
]);
