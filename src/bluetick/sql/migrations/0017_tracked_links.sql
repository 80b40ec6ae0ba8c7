-- Tracked links (docs/formats.md, "Tracked links"): a short URL on bluetick per link an agent puts in a message.
-- GET /l/{token} redirects to `url`, fixed here when the link is made (the token is random and carries nothing,
-- so there is no open redirect), counts the click and marks the message `clicked`. The url may hold customer
-- data: erasure, export and retention cover the table (sql/functions/customers.sql, retention.sql).

create table if not exists tracked_links (
  token          text        primary key,  -- 16 random bytes, urlsafe base64
  org_id         uuid        not null,
  bsp_msg_id     text        not null,     -- the message the link is in
  url            text        not null,     -- http(s), at most 2,048 characters
  created_at     timestamptz not null default now(),
  clicks         integer     not null default 0,
  first_click_at timestamptz,
  last_click_at  timestamptz
);
create index if not exists tracked_links_org_msg_idx on tracked_links (org_id, bsp_msg_id);
create index if not exists tracked_links_created_idx on tracked_links (created_at);  -- retention

-- Access: the organisation's own data (an `authenticated` Supabase user reads their organisation's, as
-- message_logs); written by the service only.
do $$
declare
  role_name text;
begin
  if not (select relrowsecurity from pg_class where oid = to_regclass('public.tracked_links')) then
    alter table tracked_links enable row level security;
  end if;
  foreach role_name in array array['anon', 'authenticated'] loop
    if exists (select 1 from pg_roles where rolname = role_name) then
      execute format('revoke all on tracked_links from %I', role_name);
    end if;
  end loop;
  if exists (select 1 from pg_roles where rolname = 'service_role') then
    grant select, insert, update, delete on tracked_links to service_role;
  end if;
  if to_regnamespace('auth') is not null and exists (select 1 from pg_roles where rolname = 'authenticated') then
    if not exists (select 1 from pg_policies where schemaname = 'public' and tablename = 'tracked_links'
                   and policyname = 'tracked_links_read_own_org') then
      create policy tracked_links_read_own_org on tracked_links
        for select to authenticated
        using (org_id::text = (select auth.jwt() ->> 'org_id'));
    end if;
    grant select on tracked_links to authenticated;
  end if;
end
$$;
