-- Customer data (docs/design.md, Customer data): retention per organisation, erasure and export of one customer.
-- Erasing a row nulls what a customer wrote and who they are (body, phones, BSUID, metadata) and keeps the delivery
-- facts (whatsapp_status, status, failed_reason, kind, direction, pricing, times), so the funnels and failure counts
-- of an erased period do not change. The row keeps its bsp_msg_id, so a status arriving later still merges.
--
-- Matching a customer uses the analytics' bluetick_customer (sql/analytics/0100_helpers.sql) and its index
-- message_logs_org_contact_created_idx; the functions calling it are plpgsql, resolved when they run, after the
-- analytics files are applied.

-- When a row's personal data was erased (by retention or by a customer's erasure); null while it holds it.
-- Nullable with no default: adding it does not rewrite message_logs.
alter table message_logs add column if not exists erased_at timestamptz;

comment on column message_logs.erased_at is
  'When body, phones, customer_user_id and metadata were erased (retention or a customer''s erasure); null = kept.';

-- The rows still holding personal data, by organisation and time: retention reads the oldest of them, never
-- the rows it erased before. (A plain CREATE INDEX blocks writes while it builds: on a large table, create it
-- first by hand with `create index concurrently if not exists`, the same definition.)
create index if not exists message_logs_org_unerased_idx on message_logs (org_id, created_at) where erased_at is null;

-- A customer known by BSUID, rows with a phone included (the analytics index finds a BSUID only where no phone is).
create index if not exists message_logs_org_user_idx
  on message_logs (org_id, customer_user_id) where customer_user_id is not null;

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

create or replace trigger message_logs_keep_erased
  before update of customer_user_id on message_logs
  for each row when (old.erased_at is not null and new.customer_user_id is not null)
  execute function bluetick_keep_erased();

-- Settings per organisation. retention_days: rows older than that lose their personal data (null = the global
-- RETENTION_DAYS, which unset keeps for ever). erasure_salt: random, made at the organisation's first erasure,
-- salts the hash of the identifier its erasure records keep.
create table if not exists org_settings (
  org_id         uuid primary key,
  retention_days integer check (retention_days > 0),
  erasure_salt   bytea,
  updated_at     timestamptz not null default now()
);

comment on table org_settings is
  'Per organisation: retention_days (null = RETENTION_DAYS) and the salt of its erasure records.';

-- Proof of each erasure: which organisation, a salted hash of the identifier asked for (never the identifier),
-- when, and what was erased.
create table if not exists customer_erasures (
  id            bigint generated always as identity primary key,
  org_id        uuid        not null,
  customer_hash text        not null,  -- hex sha256(org_settings.erasure_salt || the E.164 phone or BSUID)
  erased_at     timestamptz not null default now(),
  rows          integer     not null,  -- message_logs rows erased
  parked        integer     not null,  -- parked events whose BSUID was removed
  inbox         integer     not null   -- webhook_inbox bodies deleted
);

create index if not exists customer_erasures_org_hash_idx on customer_erasures (org_id, customer_hash);

comment on table customer_erasures is
  'One row per customer erasure: org, salted hash of the identifier, time and counts. Kept as proof.';

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

-- Whether a kept webhook body names one of these phones (its digits, as Meta's wa_id, E.164 or Twilio's
-- whatsapp%3A%2B... all hold them) or BSUIDs.
create or replace function bluetick_body_names(body bytea, phones text[], user_ids text[])
returns boolean
language sql immutable parallel safe
as $$
  select exists (
    select 1 from unnest(array(select ltrim(p, '+') from unnest(phones) p) || user_ids) as needle
    where position(convert_to(needle, 'UTF8') in body) > 0)
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
-- deleted and up to p_limit parked events that old lose their BSUID. Rows another transaction holds are skipped
-- (`for update skip locked`), so replicas running it at once share the work and it never waits for ingest.
-- Call it until every count is below p_limit; each call is one short transaction.
-- Returns {"rows", "inbox", "parked"}.
create or replace function bluetick_retention_batch(p_default_days integer, p_limit integer)
returns jsonb
language plpgsql
set search_path = public, pg_temp
as $$
declare
  v_rows integer;
  v_inbox integer;
  v_parked integer;
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
  set body = null, to_phone = null, from_phone = null, customer_user_id = null, metadata = '{}'::jsonb,
      erased_at = now()
  from picked
  where m.id = picked.id;
  get diagnostics v_rows = row_count;

  -- The shortest retention anywhere bounds the scans of the two small tables by their time index.
  select min(d) into v_shortest
  from (select s.retention_days as d from org_settings s union all select p_default_days) all_days;
  if v_shortest is null then
    return jsonb_build_object('rows', v_rows, 'inbox', 0, 'parked', 0);
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
  set user_id = null
  from (
    select q.org_id, q.bsp_msg_id, q.status from message_status_parked q
    where q.user_id is not null and q.parked_at < now() - make_interval(days => v_shortest)
      and q.parked_at < now() - make_interval(days => bluetick_retention_days(q.org_id, p_default_days))
    limit p_limit
    for update skip locked
  ) old
  where p.org_id = old.org_id and p.bsp_msg_id = old.bsp_msg_id and p.status = old.status;
  get diagnostics v_parked = row_count;

  return jsonb_build_object('rows', v_rows, 'inbox', v_inbox, 'parked', v_parked);
end
$$;

-- Access as for the service tables (0004_access.sql, 0008): row-level security on and no policy, so only the owner
-- and service_role see the settings and the erasure records; the functions are the service's alone.
do $$
declare
  t text;
  fn text;
  role_name text;
begin
  foreach t in array array['org_settings', 'customer_erasures'] loop
    if not (select relrowsecurity from pg_class where oid = to_regclass('public.' || t)) then
      execute format('alter table %I enable row level security', t);
    end if;
    foreach role_name in array array['anon', 'authenticated'] loop
      if exists (select 1 from pg_roles where rolname = role_name) then
        execute format('revoke all on %I from %I', t, role_name);
      end if;
    end loop;
    if exists (select 1 from pg_roles where rolname = 'service_role') then
      execute format('grant select, insert, update, delete on %I to service_role', t);
    end if;
  end loop;

  foreach fn in array array[
    'bluetick_customer_identifiers(uuid, text, text)', 'bluetick_forget_customer(uuid, text, text, integer, bigint)',
    'bluetick_export_customer(uuid, text, text)', 'bluetick_retention_days(uuid, integer)',
    'bluetick_retention_batch(integer, integer)', 'bluetick_keep_erased()'
  ] loop
    execute format('revoke all on function %s from public', fn);
    foreach role_name in array array['anon', 'authenticated'] loop
      if exists (select 1 from pg_roles where rolname = role_name) then
        execute format('revoke all on function %s from %I', fn, role_name);
      end if;
    end loop;
    if exists (select 1 from pg_roles where rolname = 'service_role') then
      execute format('grant execute on function %s to service_role', fn);
    end if;
  end loop;
end
$$;
