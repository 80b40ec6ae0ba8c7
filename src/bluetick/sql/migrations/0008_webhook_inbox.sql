-- The webhook inbox: every body bluetick did not turn completely into events (an unknown shape or topic, an item
-- skipped), kept exactly as received, written in the batch's transaction (docs/design.md, The webhook inbox).

create table if not exists webhook_inbox (
  id           bigint generated always as identity primary key,
  org_id       uuid        not null,
  received_at  timestamptz not null,
  content_type text,
  format       text        not null,  -- the format detected: meta, aisensy, ... or unknown
  reason       text        not null,  -- why it was kept: unknown, skipped or unread
  detail       text,                  -- the first item skipped or part unread, as the parser named it
  body         bytea       not null,  -- the raw body, byte for byte
  body_sha256  bytea       not null generated always as (sha256(body)) stored,
  kept_at      timestamptz not null default now(),
  replayed_at  timestamptz            -- when a replay turned the whole body into events; null while kept
);

-- The same body posted again (a BSP's retry, a batch retried after an unanswered commit) is kept once.
create unique index if not exists webhook_inbox_org_body_key on webhook_inbox (org_id, body_sha256);
create index if not exists webhook_inbox_org_received_idx on webhook_inbox (org_id, received_at);
create index if not exists webhook_inbox_received_idx on webhook_inbox (received_at);

comment on table webhook_inbox is
  'Webhook bodies not turned completely into events, kept as received for `bluetick inbox replay`; '
  'purged after INBOX_TTL.';

-- Apply one batch and keep its inbox bodies, in one transaction.
--   p_inbox: [{org_id, received_at, content_type, format, reason, detail, body (base64)}] are kept (a body kept
--            already is left as it is); [{id, format, reason, detail, replayed}] update a kept row after a
--            replay: its new reason, and replayed_at when the body now parses completely.
-- The events go to the two-argument bluetick_apply_batch, which older replicas still call during a deploy.
create or replace function bluetick_apply_batch(p_messages jsonb, p_statuses jsonb, p_inbox jsonb)
returns jsonb
language plpgsql
set search_path = public, pg_temp
as $$
declare
  v_result jsonb;
  v_kept integer;
  v_replayed integer;
begin
  v_result := bluetick_apply_batch(p_messages, p_statuses);

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

-- What is kept, grouped by format and reason: counts, oldest and newest, for `bluetick inbox`.
create or replace function bluetick_inbox_summary(p_org_id uuid, p_since timestamptz)
returns jsonb
language sql stable
set search_path = public, pg_temp
as $$
  select coalesce(jsonb_agg(g order by g.format, g.reason), '[]'::jsonb)
  from (
    select format, reason, count(*) filter (where replayed_at is null) as kept,
           count(*) filter (where replayed_at is not null) as replayed,
           min(received_at) as oldest, max(received_at) as newest
    from webhook_inbox
    where (p_org_id is null or org_id = p_org_id) and (p_since is null or received_at >= p_since)
    group by format, reason
  ) g
$$;

-- Up to p_limit kept bodies (not replayed yet) with an id above p_after, oldest id first: a replay's next page.
create or replace function bluetick_inbox_kept(p_org_id uuid, p_since timestamptz, p_after bigint, p_limit integer)
returns jsonb
language sql stable
set search_path = public, pg_temp
as $$
  select coalesce(jsonb_agg(jsonb_build_object(
           'id', id, 'org_id', org_id, 'received_at', received_at, 'content_type', content_type,
           'format', format, 'reason', reason, 'detail', detail, 'body', encode(body, 'base64'))
         order by id), '[]'::jsonb)
  from (
    select * from webhook_inbox
    where replayed_at is null and id > p_after and (p_org_id is null or org_id = p_org_id)
      and (p_since is null or received_at >= p_since)
    order by id
    limit p_limit
  ) w
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

-- Access as for the service tables of 0004_access.sql: row-level security on and no policy, so only the owner and
-- service_role see the inbox (a body may hold secrets or personal data); the functions are the service's alone.
do $$
declare
  fn text;
  role_name text;
begin
  if not (select relrowsecurity from pg_class where oid = to_regclass('public.webhook_inbox')) then
    alter table webhook_inbox enable row level security;
  end if;

  foreach fn in array array[
    'bluetick_apply_batch(jsonb, jsonb, jsonb)', 'bluetick_inbox_summary(uuid, timestamptz)',
    'bluetick_inbox_kept(uuid, timestamptz, bigint, integer)', 'bluetick_purge_inbox(interval)'
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

  foreach role_name in array array['anon', 'authenticated'] loop
    if exists (select 1 from pg_roles where rolname = role_name) then
      execute format('revoke all on webhook_inbox from %I', role_name);
    end if;
  end loop;
  if exists (select 1 from pg_roles where rolname = 'service_role') then
    grant select, insert, update, delete on webhook_inbox to service_role;
  end if;
end
$$;
