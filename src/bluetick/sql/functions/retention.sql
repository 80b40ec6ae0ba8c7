-- Retention: what bluetick deletes or strips as it ages (parked events, receipts, kept bodies) and each
-- organisation's retention of personal data (docs/design.md, "Customer data").
-- A repeatable file (docs/design.md, Migrations): the one current definition of these functions, applied after
-- the versioned migrations and again whenever any repeatable file changes. Edit it in place; never restate a
-- function in a migration. Privileges granted to a function stay with it across `create or replace`.

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

-- Delete kept bodies received more than p_max_age ago (INBOX_TTL).
create or replace function bluetick_purge_inbox(p_max_age interval)
returns jsonb
language plpgsql
set search_path = public, pg_temp
as $$
declare
  v_inbox integer;
begin
  delete from webhook_inbox where received_at < now() - p_max_age;
  get diagnostics v_inbox = row_count;
  return jsonb_build_object('inbox', v_inbox);
end
$$;

-- Days of retention of p_org: its org_settings.retention_days, else p_default_days; null = kept for ever.
create or replace function bluetick_retention_days(p_org uuid, p_default_days integer)
returns integer
language sql stable
set search_path = public, pg_temp
as $$
  select coalesce((select s.retention_days from org_settings s where s.org_id = p_org), p_default_days)
$$;

-- One batch of retention: up to p_limit rows older than their organisation's retention (org_settings, else
-- p_default_days) lose their personal data as an erasure does, up to p_limit kept webhook bodies that old are
-- deleted, up to p_limit parked events that old lose their BSUIDs, and up to p_limit each of the customer
-- preferences, group receipts and customer links that old are deleted (their key names the customer, and they hold
-- nothing else an analyst counts: a group message's own row keeps its statuses), and up to p_limit tracked links
-- made that long ago (a link is made for the message it is in, so it is as old as its message; its url may hold
-- customer data). Rows another transaction holds are
-- skipped (`for update skip locked`), so replicas running it at once share the work and it never waits for ingest.
-- Call it until every count is below p_limit; each call is one short transaction.
-- Returns {"rows", "inbox", "parked", "preferences", "group_receipts", "links", "tracked_links"}.
create or replace function bluetick_retention_batch(p_default_days integer, p_limit integer)
returns jsonb
language plpgsql
set search_path = public, pg_temp
as $$
declare
  v_rows integer;
  v_inbox integer;
  v_parked integer;
  v_preferences integer;
  v_receipts integer;
  v_links integer;
  v_tracked integer;
  v_shortest integer;
begin
  -- Each organisation with rows still holding personal data: a skip scan of message_logs_org_unerased_idx.
  with recursive orgs as (
    (select m.org_id from message_logs m where m.erased_at is null order by m.org_id limit 1)
    union all
    select (select m.org_id from message_logs m where m.erased_at is null and m.org_id > o.org_id
            order by m.org_id limit 1)
    from orgs o where o.org_id is not null
  ), cutoffs as (
    select o.org_id, now() - make_interval(days => d.days) as cutoff
    from orgs o cross join lateral (select bluetick_retention_days(o.org_id, p_default_days) as days) d
    where o.org_id is not null and d.days is not null
  ), picked as (
    select x.id
    from cutoffs c
    cross join lateral (
      select m.id from message_logs m
      where m.org_id = c.org_id and m.erased_at is null and m.created_at < c.cutoff
      order by m.created_at
      limit p_limit
      for update skip locked
    ) x
    limit p_limit
  )
  update message_logs m
  set body = null, to_phone = null, from_phone = null, customer_user_id = null, customer_parent_user_id = null,
      metadata = '{}'::jsonb, erased_at = now()
  from picked
  where m.id = picked.id;
  get diagnostics v_rows = row_count;

  -- The shortest retention anywhere bounds the scans of the small tables by their time index.
  select min(d) into v_shortest
  from (select s.retention_days as d from org_settings s union all select p_default_days) all_days;
  if v_shortest is null then
    return jsonb_build_object('rows', v_rows, 'inbox', 0, 'parked', 0, 'preferences', 0, 'group_receipts', 0,
                              'links', 0, 'tracked_links', 0);
  end if;

  delete from webhook_inbox w
  where w.id in (
    select k.id from webhook_inbox k
    where k.received_at < now() - make_interval(days => v_shortest)
      and k.received_at < now() - make_interval(days => bluetick_retention_days(k.org_id, p_default_days))
    order by k.received_at
    limit p_limit
    for update skip locked);
  get diagnostics v_inbox = row_count;

  update message_status_parked p
  set user_id = null, parent_user_id = null
  from (
    select q.org_id, q.bsp_msg_id, q.status from message_status_parked q
    where (q.user_id is not null or q.parent_user_id is not null)
      and q.parked_at < now() - make_interval(days => v_shortest)
      and q.parked_at < now() - make_interval(days => bluetick_retention_days(q.org_id, p_default_days))
    limit p_limit
    for update skip locked
  ) old
  where p.org_id = old.org_id and p.bsp_msg_id = old.bsp_msg_id and p.status = old.status;
  get diagnostics v_parked = row_count;

  -- Preferences by the time of the change, per organisation (a skip scan of customer_preferences_org_changed_idx,
  -- then that index up to the organisation's cutoff).
  with recursive orgs as (
    (select c.org_id from customer_preferences c order by c.org_id limit 1)
    union all
    select (select c.org_id from customer_preferences c where c.org_id > o.org_id order by c.org_id limit 1)
    from orgs o where o.org_id is not null
  ), picked as (
    select x.*
    from orgs o
    cross join lateral (select bluetick_retention_days(o.org_id, p_default_days) as days) d
    cross join lateral (
      select c.org_id, c.customer, c.category, c.changed_at, c.preference from customer_preferences c
      where c.org_id = o.org_id and c.changed_at < now() - make_interval(days => d.days)
        and c.changed_at < now() - make_interval(days => v_shortest)
      order by c.changed_at
      limit p_limit
      for update skip locked
    ) x
    where o.org_id is not null and d.days is not null
    limit p_limit
  )
  delete from customer_preferences c
  using picked
  where c.org_id = picked.org_id and c.customer = picked.customer and c.category = picked.category
    and c.changed_at = picked.changed_at and c.preference = picked.preference;
  get diagnostics v_preferences = row_count;

  -- Group receipts by the receipt's time, per organisation (group_receipts_org_ts_idx).
  with recursive orgs as (
    (select g.org_id from group_receipts g order by g.org_id limit 1)
    union all
    select (select g.org_id from group_receipts g where g.org_id > o.org_id order by g.org_id limit 1)
    from orgs o where o.org_id is not null
  ), picked as (
    select x.*
    from orgs o
    cross join lateral (select bluetick_retention_days(o.org_id, p_default_days) as days) d
    cross join lateral (
      select g.org_id, g.bsp_msg_id, g.participant, g.status from group_receipts g
      where g.org_id = o.org_id and g.ts < now() - make_interval(days => d.days)
        and g.ts < now() - make_interval(days => v_shortest)
      order by g.ts
      limit p_limit
      for update skip locked
    ) x
    where o.org_id is not null and d.days is not null
    limit p_limit
  )
  delete from group_receipts g
  using picked
  where g.org_id = picked.org_id and g.bsp_msg_id = picked.bsp_msg_id and g.participant = picked.participant
    and g.status = picked.status;
  get diagnostics v_receipts = row_count;

  -- Links by the time of the change (a customer changes number rarely: a small table, read whole).
  delete from customer_links l
  using (
    select k.org_id, k.old_id, k.new_id from customer_links k
    where k.changed_at < now() - make_interval(days => v_shortest)
      and k.changed_at < now() - make_interval(days => bluetick_retention_days(k.org_id, p_default_days))
    limit p_limit
    for update skip locked
  ) old
  where l.org_id = old.org_id and l.old_id = old.old_id and l.new_id = old.new_id;
  get diagnostics v_links = row_count;

  -- Tracked links by the time they were made (tracked_links_created_idx, up to the shortest retention).
  delete from tracked_links t
  using (
    select k.token from tracked_links k
    where k.created_at < now() - make_interval(days => v_shortest)
      and k.created_at < now() - make_interval(days => bluetick_retention_days(k.org_id, p_default_days))
    order by k.created_at
    limit p_limit
    for update skip locked
  ) old
  where t.token = old.token;
  get diagnostics v_tracked = row_count;

  return jsonb_build_object('rows', v_rows, 'inbox', v_inbox, 'parked', v_parked, 'preferences', v_preferences,
                            'group_receipts', v_receipts, 'links', v_links, 'tracked_links', v_tracked);
end
$$;
