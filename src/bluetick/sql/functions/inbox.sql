-- The webhook inbox's reads: what is kept, and a replay's pages (docs/design.md, "The webhook inbox").
-- A repeatable file (docs/design.md, Migrations): the one current definition of these functions, applied after
-- the versioned migrations and again whenever any repeatable file changes. Edit it in place; never restate a
-- function in a migration. Privileges granted to a function stay with it across `create or replace`.

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
