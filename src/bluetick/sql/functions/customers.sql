-- Customer data: erasure and export of one customer, and what keeps an erased row erased
-- (docs/design.md, "Customer data").
-- A repeatable file (docs/design.md, Migrations): the one current definition of these functions, applied after
-- the versioned migrations and again whenever any repeatable file changes. Edit it in place; never restate a
-- function in a migration. Privileges granted to a function stay with it across `create or replace`.

-- A status merged into an erased row must not bring the BSUID back (bluetick_apply_batch fills customer_user_id
-- from a status's user_id, merge rule 9, and customer_parent_user_id from its parent_user_id in the same update).
-- The WHEN clause is checked without calling the function.
create or replace function bluetick_keep_erased()
returns trigger
language plpgsql
as $$
begin
  new.customer_user_id := null;
  new.customer_parent_user_id := null;
  return new;
end
$$;

-- p_ids and every identifier linked to them through customer_links (Meta's user_changed_number and
-- user_changed_user_id: old_id and new_id are one customer), in either direction and transitively, so a chain of
-- changes is one customer. At most 32 links away from p_ids: a cycle ends as soon as it adds nothing new, and a
-- chain longer than that (no customer changes number so often) stops there.
create or replace function bluetick_linked_identifiers(p_org uuid, p_ids text[])
returns text[]
language plpgsql stable
set search_path = public, pg_temp
as $$
declare
  v_known text[] := array(select distinct i from unnest(p_ids) i where i is not null);
  v_new text[] := v_known;
begin
  for step in 1..32 loop
    exit when cardinality(v_new) = 0;
    v_new := array(
      select l.new_id from customer_links l where l.org_id = p_org and l.old_id = any (v_new)
      union
      select l.old_id from customer_links l where l.org_id = p_org and l.new_id = any (v_new)
      except
      select unnest(v_known));
    v_known := v_known || v_new;
  end loop;
  return v_known;
end
$$;

-- The customer named by p_phone (E.164) or p_user_id (BSUID), exactly one of them: every phone and BSUID that
-- identify them in p_org. First the identifier given and those linked to it (bluetick_linked_identifiers); then
-- those seen beside one of these on one row (a message, a preference, a group receipt or a parked event naming a
-- phone and a BSUID, or a BSUID and its parent BSUID, says they are the same person; one step, not a closure);
-- then those linked to these. A BSUID is an identifier that starts with two capitals and a dot; every other one
-- is a phone.
create or replace function bluetick_customer_identifiers(p_org uuid, p_phone text, p_user_id text,
                                                         out phones text[], out user_ids text[])
language plpgsql stable
set search_path = public, pg_temp
as $$
declare
  v_ids text[];
  v_beside text[];
begin
  if (p_phone is null) = (p_user_id is null) then
    raise exception 'name the customer by exactly one of a phone or a BSUID' using errcode = '22023';
  end if;
  if p_phone is not null and p_phone !~ '^\+[0-9]{6,15}$' then
    raise exception 'the phone must be E.164, like +919876543210' using errcode = '22023';
  end if;
  if p_user_id is not null and p_user_id !~ '^[A-Z]{2}(\.ENT)?\.[A-Za-z0-9]{1,128}$' then
    raise exception 'the BSUID must look like IN.2081978709342942' using errcode = '22023';
  end if;

  v_ids := bluetick_linked_identifiers(p_org, array[coalesce(p_phone, p_user_id)]);
  phones := array(select i from unnest(v_ids) i where i !~ '^[A-Z]{2}\.');
  user_ids := array(select i from unnest(v_ids) i where i ~ '^[A-Z]{2}\.');

  v_beside := array(
    select distinct b.id
    from (
      select x.id from message_logs m
      cross join lateral (values (bluetick_customer(m.direction, m.to_phone, m.from_phone, null)),
                                 (m.customer_user_id), (m.customer_parent_user_id)) x(id)
      where m.org_id = p_org
        and (bluetick_customer(m.direction, m.to_phone, m.from_phone, m.customer_user_id) = any (phones)
             or m.customer_user_id = any (user_ids))
      union all
      select x.id from customer_preferences c
      cross join lateral (values (c.customer_phone), (c.customer_user_id)) x(id)
      where c.org_id = p_org and (c.customer = any (v_ids) or c.customer_user_id = any (user_ids))
      union all
      select x.id from group_receipts g
      cross join lateral (values (g.participant_phone), (g.participant_user_id), (g.participant_parent_user_id)) x(id)
      where g.org_id = p_org
        and (g.participant = any (v_ids) or g.participant_user_id = any (user_ids)
             or g.participant_parent_user_id = any (user_ids))
      union all
      select x.id from message_status_parked p
      cross join lateral (values (p.user_id), (p.parent_user_id)) x(id)
      where p.org_id = p_org and (p.user_id = any (user_ids) or p.parent_user_id = any (user_ids))
    ) b
    where b.id is not null and not b.id = any (v_ids));

  if cardinality(v_beside) > 0 then
    v_ids := v_ids || array(select i from unnest(bluetick_linked_identifiers(p_org, v_beside)) i
                            where not i = any (v_ids));
    phones := array(select i from unnest(v_ids) i where i !~ '^[A-Z]{2}\.');
    user_ids := array(select i from unnest(v_ids) i where i ~ '^[A-Z]{2}\.');
  end if;
end
$$;

-- Whether a kept webhook body names one of these phones or BSUIDs as a whole token: a phone's digits (as Meta's
-- wa_id, E.164 or Twilio's whatsapp%3A%2B... hold them) with no digit on either side, a BSUID with no letter, digit
-- or dot on either side. Never a substring of a longer number, such as a timestamp. The body is read as text with
-- every byte outside printable ASCII escaped, so a body that is not UTF-8 is matched too.
create or replace function bluetick_body_names(body bytea, phones text[], user_ids text[])
returns boolean
language sql immutable parallel safe
as $$
  select exists (
    select 1
    from (
      select '(^|[^0-9])' || ltrim(p, '+') || '($|[^0-9])' as pattern from unnest(phones) p
      where ltrim(p, '+') ~ '^[0-9]+$'
      union all
      select '(^|[^A-Za-z0-9.])' || regexp_replace(u, '([^A-Za-z0-9])', '\\\1', 'g') || '($|[^A-Za-z0-9.])'
      from unnest(user_ids) u
    ) needles
    where encode(body, 'escape') ~ needles.pattern)
$$;

-- Erase one customer of p_org (by p_phone or p_user_id, exactly one), one part per call: up to p_limit of their
-- rows lose body, phones, BSUIDs and metadata; up to p_limit of their parked events lose the BSUIDs (the status
-- itself stays, so nothing acknowledged is lost); kept webhook bodies naming them are deleted; their preferences
-- and group receipts are deleted. Takes the advisory locks of every key it touches in ascending order before
-- touching a row, as bluetick_apply_batch does, so the two cannot deadlock; p_limit bounds them as BATCH_MAX bounds
-- a batch's. What links the customer's identifiers (bluetick_customer_identifiers) goes last, so a later part still
-- finds every identifier: rows naming two of them (a phone and a BSUID, a BSUID and its parent) after the others,
-- and the preferences and group receipts naming two, and the customer_links touching them, in the last part only
-- (the one that finds fewer rows and parked events than p_limit). Facts need no advisory lock (row locks take no
-- room in the shared lock table), so they are not bounded by p_limit; they come after every advisory lock, in the
-- order bluetick_apply_facts writes them (preferences, group receipts, links, each in key order).
-- Events (bluetick_events, the outbox) whose data names one of the identifiers lose the customer's identifiers and
-- text (customer_phone, customer_user_id, customer_parent_user_id, body; the delivery facts stay), in the last part,
-- while every identifier is still found: first the whole scan of the organisation's events, before any advisory
-- lock (so it never delays a batch); then, once the part's keys are locked and their rows erased, again over only
-- the events of transactions the scan could not see (xid at or past the horizon read before it: an index range of
-- (org_id, xid)), which catches an event a batch committed about one of these keys meanwhile. An event about a row
-- erased by an earlier part was committed before that part took its key's lock, so the scan sees it; one written
-- after a row's erasure is built from the erased row and names no one. Batches only insert events and an insert
-- waits for no row lock, so these updates wait for no batch. Because the scan's row locks come before the keys',
-- the last part first takes its organisation's erasure lock (an advisory lock of the two-int4 key space, which no
-- batch takes): two last parts of one organisation run one after the other, so one never holds events the other
-- waits for while waiting for a key it holds. The events' row locks are taken in (xid, id) order.
-- Tracked links (tracked_links: the url may hold customer data) of the part's messages, logged or parked, are
-- deleted in that part, once their keys are locked (a later part no longer finds a message erased before it). A
-- click takes the link's row lock and no message's lock, so it never holds what this part waits for.
-- The first part (p_erasure_id null) writes the erasure record, unless it erased nothing and a record for this
-- identifier exists (a repeat: idempotent); later parts, given its id, add their counts to it (the record counts
-- rows, parked events and bodies; the facts and the events are counted in the answer only).
-- Returns {"rows", "parked", "inbox", "preferences", "group_receipts", "links", "tracked_links", "events", "more",
-- "erasure_id", "customer_hash", "erased_at", "recorded"}; call again with the same p_erasure_id while "more".
create or replace function bluetick_forget_customer(
  p_org uuid, p_phone text, p_user_id text, p_limit integer, p_erasure_id bigint)
returns jsonb
language plpgsql
set search_path = public, pg_temp
as $$
declare
  v_phones text[];
  v_users text[];
  v_ids text[];
  v_msg_ids text[];
  v_parked_ids text[];
  v_last boolean;
  v_rows integer;
  v_parked integer;
  v_inbox integer;
  v_preferences integer;
  v_receipts integer;
  v_links integer := 0;
  v_tracked integer := 0;
  v_events integer := 0;
  v_more_events integer := 0;
  v_horizon xid8;
  v_salt bytea;
  v_hash text;
  v_id bigint := p_erasure_id;
  v_at timestamptz;
  v_recorded boolean := false;
begin
  select i.phones, i.user_ids into v_phones, v_users from bluetick_customer_identifiers(p_org, p_phone, p_user_id) i;
  v_ids := v_phones || v_users;

  v_msg_ids := array(
    select m.bsp_msg_id from message_logs m
    where m.org_id = p_org
      and (bluetick_customer(m.direction, m.to_phone, m.from_phone, m.customer_user_id) = any (v_phones)
           or m.customer_user_id = any (v_users))
    order by (m.customer_user_id is not null
              and (bluetick_customer(m.direction, m.to_phone, m.from_phone, null) is not null
                   or m.customer_parent_user_id is not null)), m.created_at
    limit p_limit);
  v_parked_ids := array(
    select p.bsp_msg_id from message_status_parked p
    where p.org_id = p_org and (p.user_id = any (v_users) or p.parent_user_id = any (v_users))
    group by p.bsp_msg_id
    order by bool_or(p.user_id is not null and p.parent_user_id is not null), p.bsp_msg_id
    limit p_limit);
  v_last := cardinality(v_msg_ids) < p_limit and cardinality(v_parked_ids) < p_limit;

  if v_last then  -- the events' scan, before any key's lock (see above)
    perform pg_advisory_xact_lock(24, hashtext(p_org::text));
    v_horizon := pg_snapshot_xmin(pg_current_snapshot());
    update bluetick_events e
    set data = e.data - array['customer_phone', 'customer_user_id', 'customer_parent_user_id', 'body']
    from (
      select k.org_id, k.xid, k.id from bluetick_events k
      where k.org_id = p_org
        and (k.data ->> 'customer_phone' = any (v_phones) or k.data ->> 'customer_user_id' = any (v_users)
             or k.data ->> 'customer_parent_user_id' = any (v_users))
      order by k.xid, k.id
      for update
    ) mine
    where e.org_id = mine.org_id and e.xid = mine.xid and e.id = mine.id;
    get diagnostics v_events = row_count;
  end if;

  perform pg_advisory_xact_lock(k)
  from (
    select distinct bluetick_lock_key(p_org, id) as k from unnest(v_msg_ids || v_parked_ids) as id order by k
  ) keys;

  -- Only the keys locked: a row logged after the read above is logged after this part.
  update message_logs m
  set body = null, to_phone = null, from_phone = null, customer_user_id = null, customer_parent_user_id = null,
      metadata = '{}'::jsonb, erased_at = now()
  where m.org_id = p_org and m.bsp_msg_id = any (v_msg_ids)
    and (bluetick_customer(m.direction, m.to_phone, m.from_phone, m.customer_user_id) = any (v_phones)
         or m.customer_user_id = any (v_users));
  get diagnostics v_rows = row_count;

  update message_status_parked p set user_id = null, parent_user_id = null
  where p.org_id = p_org and p.bsp_msg_id = any (v_parked_ids)
    and (p.user_id = any (v_users) or p.parent_user_id = any (v_users));
  get diagnostics v_parked = row_count;

  delete from tracked_links t
  using (
    select k.token from tracked_links k
    where k.org_id = p_org and k.bsp_msg_id = any (v_msg_ids || v_parked_ids)
    order by k.token
    for update
  ) mine
  where t.token = mine.token;
  get diagnostics v_tracked = row_count;

  delete from webhook_inbox w
  where w.org_id = p_org and bluetick_body_names(w.body, v_phones, v_users);
  get diagnostics v_inbox = row_count;

  delete from customer_preferences c
  using (
    select k.customer, k.category, k.changed_at, k.preference from customer_preferences k
    where k.org_id = p_org and (k.customer = any (v_ids) or k.customer_user_id = any (v_users))
      and (v_last or num_nonnulls(k.customer_phone, k.customer_user_id) < 2)
    order by k.customer, k.category, k.changed_at, k.preference
    for update
  ) mine
  where c.org_id = p_org and c.customer = mine.customer and c.category = mine.category
    and c.changed_at = mine.changed_at and c.preference = mine.preference;
  get diagnostics v_preferences = row_count;

  delete from group_receipts g
  using (
    select k.bsp_msg_id, k.participant, k.status from group_receipts k
    where k.org_id = p_org
      and (k.participant = any (v_ids) or k.participant_user_id = any (v_users)
           or k.participant_parent_user_id = any (v_users))
      and (v_last or num_nonnulls(k.participant_phone, k.participant_user_id, k.participant_parent_user_id) < 2)
    order by k.bsp_msg_id, k.participant, k.status
    for update
  ) mine
  where g.org_id = p_org and g.bsp_msg_id = mine.bsp_msg_id and g.participant = mine.participant
    and g.status = mine.status;
  get diagnostics v_receipts = row_count;

  if v_last then
    delete from customer_links l
    using (
      select k.old_id, k.new_id from customer_links k
      where k.org_id = p_org and (k.old_id = any (v_ids) or k.new_id = any (v_ids))
      order by k.old_id, k.new_id
      for update
    ) mine
    where l.org_id = p_org and l.old_id = mine.old_id and l.new_id = mine.new_id;
    get diagnostics v_links = row_count;
  end if;

  if v_last then  -- the events the scan could not see: committed since, by a batch holding one of these keys
    update bluetick_events e
    set data = e.data - array['customer_phone', 'customer_user_id', 'customer_parent_user_id', 'body']
    from (
      select k.org_id, k.xid, k.id from bluetick_events k
      where k.org_id = p_org and k.xid >= v_horizon
        and (k.data ->> 'customer_phone' = any (v_phones) or k.data ->> 'customer_user_id' = any (v_users)
             or k.data ->> 'customer_parent_user_id' = any (v_users))
      order by k.xid, k.id
      for update
    ) mine
    where e.org_id = mine.org_id and e.xid = mine.xid and e.id = mine.id;
    get diagnostics v_more_events = row_count;
    v_events := v_events + v_more_events;
  end if;

  insert into org_settings as s (org_id, erasure_salt)
  values (p_org, decode(replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', ''), 'hex'))
  on conflict (org_id) do update set erasure_salt = coalesce(s.erasure_salt, excluded.erasure_salt)
  returning s.erasure_salt into v_salt;
  v_hash := encode(sha256(v_salt || convert_to(coalesce(p_phone, p_user_id), 'UTF8')), 'hex');

  if v_id is not null then
    update customer_erasures e
    set rows = e.rows + v_rows, parked = e.parked + v_parked, inbox = e.inbox + v_inbox
    where e.id = v_id and e.org_id = p_org and e.customer_hash = v_hash
    returning e.erased_at into v_at;
    if not found then
      raise exception 'erasure record % is not this customer''s', v_id using errcode = '22023';
    end if;
  elsif v_rows + v_parked + v_inbox + v_preferences + v_receipts + v_links + v_tracked + v_events > 0
        or not exists (select 1 from customer_erasures e where e.org_id = p_org and e.customer_hash = v_hash) then
    insert into customer_erasures (org_id, customer_hash, rows, parked, inbox)
    values (p_org, v_hash, v_rows, v_parked, v_inbox)
    returning id, erased_at into v_id, v_at;
    v_recorded := true;
  else
    select e.id, e.erased_at into v_id, v_at from customer_erasures e
    where e.org_id = p_org and e.customer_hash = v_hash
    order by e.erased_at desc, e.id desc
    limit 1;
  end if;

  return jsonb_build_object('rows', v_rows, 'parked', v_parked, 'inbox', v_inbox, 'preferences', v_preferences,
                            'group_receipts', v_receipts, 'links', v_links, 'tracked_links', v_tracked,
                            'events', v_events,
                            'more', v_rows >= p_limit or v_parked >= p_limit or not v_last,
                            'erasure_id', v_id,
                            'customer_hash', v_hash, 'erased_at', v_at, 'recorded', v_recorded);
end
$$;

-- Everything stored about one customer of p_org (by p_phone or p_user_id, exactly one), matched as
-- bluetick_forget_customer matches: {"messages": [message_logs rows in time order], "parked": [parked events
-- naming their BSUIDs], "inbox": [kept webhook bodies naming them, body in base64], "preferences": [their
-- customer_preferences rows in time order], "group_receipts": [their group_receipts rows in time order],
-- "links": [the customer_links rows touching their identifiers in time order], "events": [the outbox's events
-- whose data names them (bluetick_events: id, type, created_at, data) in time order], "tracked_links": [the
-- tracked links of their messages (token, bsp_msg_id, url, created_at, clicks, first_click_at, last_click_at) in
-- time order]}.
create or replace function bluetick_export_customer(p_org uuid, p_phone text, p_user_id text)
returns jsonb
language plpgsql stable
set search_path = public, pg_temp
as $$
declare
  v_phones text[];
  v_users text[];
  v_ids text[];
  v_doc jsonb;
begin
  select i.phones, i.user_ids into v_phones, v_users from bluetick_customer_identifiers(p_org, p_phone, p_user_id) i;
  v_ids := v_phones || v_users;
  select jsonb_build_object(
    'messages', coalesce((
      select jsonb_agg(to_jsonb(m) order by m.created_at, m.bsp_msg_id) from message_logs m
      where m.org_id = p_org
        and (bluetick_customer(m.direction, m.to_phone, m.from_phone, m.customer_user_id) = any (v_phones)
             or m.customer_user_id = any (v_users))), '[]'::jsonb),
    'parked', coalesce((
      select jsonb_agg(to_jsonb(p) order by p.ts, p.bsp_msg_id, p.status) from message_status_parked p
      where p.org_id = p_org and (p.user_id = any (v_users) or p.parent_user_id = any (v_users))), '[]'::jsonb),
    'inbox', coalesce((
      select jsonb_agg(jsonb_build_object(
               'id', w.id, 'received_at', w.received_at, 'content_type', w.content_type, 'format', w.format,
               'reason', w.reason, 'body', encode(w.body, 'base64')) order by w.received_at, w.id)
      from webhook_inbox w
      where w.org_id = p_org and bluetick_body_names(w.body, v_phones, v_users)), '[]'::jsonb),
    'preferences', coalesce((
      select jsonb_agg(to_jsonb(c) order by c.changed_at, c.customer, c.category, c.preference)
      from customer_preferences c
      where c.org_id = p_org and (c.customer = any (v_ids) or c.customer_user_id = any (v_users))), '[]'::jsonb),
    'group_receipts', coalesce((
      select jsonb_agg(to_jsonb(g) order by g.ts, g.bsp_msg_id, g.participant, g.status) from group_receipts g
      where g.org_id = p_org
        and (g.participant = any (v_ids) or g.participant_user_id = any (v_users)
             or g.participant_parent_user_id = any (v_users))), '[]'::jsonb),
    'links', coalesce((
      select jsonb_agg(to_jsonb(l) order by l.changed_at, l.old_id, l.new_id) from customer_links l
      where l.org_id = p_org and (l.old_id = any (v_ids) or l.new_id = any (v_ids))), '[]'::jsonb),
    'events', coalesce((
      select jsonb_agg(jsonb_build_object('id', e.id::text, 'type', e.type,
                                          'created_at', bluetick_ts_text(e.created_at), 'data', e.data)
                       order by e.created_at, e.id)
      from bluetick_events e
      where e.org_id = p_org
        and (e.data ->> 'customer_phone' = any (v_phones) or e.data ->> 'customer_user_id' = any (v_users)
             or e.data ->> 'customer_parent_user_id' = any (v_users))), '[]'::jsonb),
    'tracked_links', coalesce((
      select jsonb_agg(jsonb_build_object('token', t.token, 'bsp_msg_id', t.bsp_msg_id, 'url', t.url,
                                          'created_at', bluetick_ts_text(t.created_at), 'clicks', t.clicks,
                                          'first_click_at', bluetick_ts_text(t.first_click_at),
                                          'last_click_at', bluetick_ts_text(t.last_click_at))
                       order by t.created_at, t.token)
      from tracked_links t
      where t.org_id = p_org
        and t.bsp_msg_id in (
          select m.bsp_msg_id from message_logs m
          where m.org_id = p_org
            and (bluetick_customer(m.direction, m.to_phone, m.from_phone, m.customer_user_id) = any (v_phones)
                 or m.customer_user_id = any (v_users)))), '[]'::jsonb))
  into v_doc;
  return v_doc;
end
$$;

-- bluetick_linked_identifiers is the service's alone, as the other customer-data functions (0011_customer_data.sql).
select bluetick_service_only(array['bluetick_linked_identifiers(uuid, text[])']);
