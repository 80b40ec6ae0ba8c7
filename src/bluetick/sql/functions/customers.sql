-- Customer data: erasure and export of one customer, and what keeps an erased row erased
-- (docs/design.md, "Customer data").
-- A repeatable file (docs/design.md, Migrations): the one current definition of these functions, applied after
-- the versioned migrations and again whenever any repeatable file changes. Edit it in place; never restate a
-- function in a migration. Privileges granted to a function stay with it across `create or replace`.

-- A status merged into an erased row must not bring the BSUID back (bluetick_apply_batch fills customer_user_id
-- from a status's user_id, merge rule 9). The WHEN clause is checked without calling the function.
create or replace function bluetick_keep_erased()
returns trigger
language plpgsql
as $$
begin
  new.customer_user_id := null;
  return new;
end
$$;

-- The customer named by p_phone (E.164) or p_user_id (BSUID), exactly one of them: every phone and BSUID that
-- identify them in p_org, the one given plus those seen beside it on one row (a row with both a phone and a BSUID
-- says they are the same person; one step, not a closure).
create or replace function bluetick_customer_identifiers(p_org uuid, p_phone text, p_user_id text,
                                                         out phones text[], out user_ids text[])
language plpgsql stable
set search_path = public, pg_temp
as $$
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
  if p_phone is not null then
    phones := array[p_phone];
    user_ids := array(
      select distinct m.customer_user_id from message_logs m
      where m.org_id = p_org and m.customer_user_id is not null
        and bluetick_customer(m.direction, m.to_phone, m.from_phone, m.customer_user_id) = p_phone);
  else
    user_ids := array[p_user_id];
    phones := array(
      select distinct bluetick_customer(m.direction, m.to_phone, m.from_phone, null) from message_logs m
      where m.org_id = p_org and m.customer_user_id = p_user_id
        and bluetick_customer(m.direction, m.to_phone, m.from_phone, null) is not null);
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
-- rows lose body, phones, BSUID and metadata; up to p_limit of their parked events lose the BSUID (the status itself
-- stays, so nothing acknowledged is lost); kept webhook bodies naming them are deleted. Takes the advisory locks of
-- every key it touches in ascending order before touching a row, as bluetick_apply_batch does, so the two cannot
-- deadlock; p_limit bounds them as BATCH_MAX bounds a batch's. Rows naming both a phone and a BSUID, which link the
-- customer's identifiers (bluetick_customer_identifiers), go last, so a later part still finds every identifier.
-- The first part (p_erasure_id null) writes the erasure record, unless it erased nothing and a record for this
-- identifier exists (a repeat: idempotent); later parts, given its id, add their counts to it.
-- Returns {"rows", "parked", "inbox", "more", "erasure_id", "customer_hash", "erased_at", "recorded"}; call again
-- with the same p_erasure_id while "more".
create or replace function bluetick_forget_customer(
  p_org uuid, p_phone text, p_user_id text, p_limit integer, p_erasure_id bigint)
returns jsonb
language plpgsql
set search_path = public, pg_temp
as $$
declare
  v_phones text[];
  v_users text[];
  v_msg_ids text[];
  v_parked_ids text[];
  v_rows integer;
  v_parked integer;
  v_inbox integer;
  v_salt bytea;
  v_hash text;
  v_id bigint := p_erasure_id;
  v_at timestamptz;
  v_recorded boolean := false;
begin
  select i.phones, i.user_ids into v_phones, v_users from bluetick_customer_identifiers(p_org, p_phone, p_user_id) i;

  v_msg_ids := array(
    select m.bsp_msg_id from message_logs m
    where m.org_id = p_org
      and (bluetick_customer(m.direction, m.to_phone, m.from_phone, m.customer_user_id) = any (v_phones)
           or m.customer_user_id = any (v_users))
    order by (m.customer_user_id is not null
              and bluetick_customer(m.direction, m.to_phone, m.from_phone, null) is not null), m.created_at
    limit p_limit);
  v_parked_ids := array(
    select distinct p.bsp_msg_id from message_status_parked p
    where p.org_id = p_org and p.user_id = any (v_users)
    limit p_limit);

  perform pg_advisory_xact_lock(k)
  from (
    select distinct bluetick_lock_key(p_org, id) as k from unnest(v_msg_ids || v_parked_ids) as id order by k
  ) keys;

  -- Only the keys locked: a row logged after the read above is logged after this part.
  update message_logs m
  set body = null, to_phone = null, from_phone = null, customer_user_id = null, metadata = '{}'::jsonb,
      erased_at = now()
  where m.org_id = p_org and m.bsp_msg_id = any (v_msg_ids)
    and (bluetick_customer(m.direction, m.to_phone, m.from_phone, m.customer_user_id) = any (v_phones)
         or m.customer_user_id = any (v_users));
  get diagnostics v_rows = row_count;

  update message_status_parked p set user_id = null
  where p.org_id = p_org and p.bsp_msg_id = any (v_parked_ids) and p.user_id = any (v_users);
  get diagnostics v_parked = row_count;

  delete from webhook_inbox w
  where w.org_id = p_org and bluetick_body_names(w.body, v_phones, v_users);
  get diagnostics v_inbox = row_count;

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
  elsif v_rows + v_parked + v_inbox > 0
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

  return jsonb_build_object('rows', v_rows, 'parked', v_parked, 'inbox', v_inbox,
                            'more', v_rows >= p_limit or v_parked >= p_limit, 'erasure_id', v_id,
                            'customer_hash', v_hash, 'erased_at', v_at, 'recorded', v_recorded);
end
$$;

-- Everything stored about one customer of p_org (by p_phone or p_user_id, exactly one), matched as
-- bluetick_forget_customer matches: {"messages": [message_logs rows in time order], "parked": [parked events
-- naming their BSUID], "inbox": [kept webhook bodies naming them, body in base64]}.
create or replace function bluetick_export_customer(p_org uuid, p_phone text, p_user_id text)
returns jsonb
language plpgsql stable
set search_path = public, pg_temp
as $$
declare
  v_phones text[];
  v_users text[];
  v_doc jsonb;
begin
  select i.phones, i.user_ids into v_phones, v_users from bluetick_customer_identifiers(p_org, p_phone, p_user_id) i;
  select jsonb_build_object(
    'messages', coalesce((
      select jsonb_agg(to_jsonb(m) order by m.created_at, m.bsp_msg_id) from message_logs m
      where m.org_id = p_org
        and (bluetick_customer(m.direction, m.to_phone, m.from_phone, m.customer_user_id) = any (v_phones)
             or m.customer_user_id = any (v_users))), '[]'::jsonb),
    'parked', coalesce((
      select jsonb_agg(to_jsonb(p) order by p.ts, p.bsp_msg_id, p.status) from message_status_parked p
      where p.org_id = p_org and p.user_id = any (v_users)), '[]'::jsonb),
    'inbox', coalesce((
      select jsonb_agg(jsonb_build_object(
               'id', w.id, 'received_at', w.received_at, 'content_type', w.content_type, 'format', w.format,
               'reason', w.reason, 'body', encode(w.body, 'base64')) order by w.received_at, w.id)
      from webhook_inbox w
      where w.org_id = p_org and bluetick_body_names(w.body, v_phones, v_users)), '[]'::jsonb))
  into v_doc;
  return v_doc;
end
$$;
