-- Tracked links (docs/formats.md, "Tracked links"): made by POST /v1/orgs/{org}/links, followed by GET /l/{token}.
-- A repeatable file (docs/design.md, Migrations): the one current definition of these functions, applied after
-- the versioned migrations and again whenever any repeatable file changes. Edit it in place.

-- Store a new link of p_org: p_token (random, made by the service) redirects to p_url and names message
-- p_bsp_msg_id. Returns {"token", "created_at"}.
create or replace function bluetick_link_create(p_org uuid, p_token text, p_bsp_msg_id text, p_url text)
returns jsonb
language sql
set search_path = public, pg_temp
as $$
  insert into tracked_links (token, org_id, bsp_msg_id, url) values (p_token, p_org, p_bsp_msg_id, p_url)
  returning jsonb_build_object('token', token, 'created_at', bluetick_ts_text(created_at))
$$;

-- Follow link p_token: with p_count, one more click (clicks + 1, first_click_at the earliest, last_click_at the
-- latest), in one statement; without (a preview fetch, HEAD), only read. Returns {"org_id", "bsp_msg_id", "url",
-- "clicks", "first_click_at", "last_click_at"}, or null for an unknown token. Takes the link's row lock only (no
-- message's advisory lock: the click's status goes through bluetick_apply_batch in its own transaction), so it
-- never waits for a batch and an erasure holding a message's lock never waits for it in turn.
create or replace function bluetick_link_follow(p_token text, p_count boolean)
returns jsonb
language plpgsql
set search_path = public, pg_temp
as $$
declare
  v_link tracked_links;
begin
  if p_count then
    update tracked_links l
    set clicks = l.clicks + 1,
        first_click_at = least(coalesce(l.first_click_at, now()), now()),
        last_click_at = greatest(coalesce(l.last_click_at, now()), now())
    where l.token = p_token
    returning l.* into v_link;
  else
    select l.* into v_link from tracked_links l where l.token = p_token;
  end if;
  if v_link.token is null then
    return null;
  end if;
  return jsonb_build_object('org_id', v_link.org_id, 'bsp_msg_id', v_link.bsp_msg_id, 'url', v_link.url,
                            'clicks', v_link.clicks, 'first_click_at', bluetick_ts_text(v_link.first_click_at),
                            'last_click_at', bluetick_ts_text(v_link.last_click_at));
end
$$;

-- The service's alone, as the other writers of the organisations' data.
select bluetick_service_only(array[
  'bluetick_link_create(uuid, text, text, text)', 'bluetick_link_follow(text, boolean)'
]);
