-- The agent's read side (docs/design.md, "Events"): one message looked up, and the event feed's page.
-- A repeatable file (docs/design.md, Migrations): the one current definition of these functions, applied after
-- the versioned migrations and again whenever any repeatable file changes. Edit it in place.

-- p_org's stored row of p_bsp_msg_id, as the log call answers it (to_jsonb of the row, bluetick_apply_batch's
-- rows), or null when there is none.
create or replace function bluetick_message(p_org uuid, p_bsp_msg_id text)
returns jsonb
language sql stable
set search_path = public, pg_temp
as $$
  select to_jsonb(m) from message_logs m where m.org_id = p_org and m.bsp_msg_id = p_bsp_msg_id
$$;

-- One page of p_org's event feed for GET /v1/orgs/{org}/events: {"enabled": false} while the feed is off (the
-- route answers 409), else bluetick_events_page after the cursor (p_after_xid, p_after_id), or after the head of
-- the stream (bluetick_events_head) when p_after_xid is null, plus "enabled": true. One call, one snapshot. p_types
-- null or empty: every type (a REST client may send an absent array as an empty one).
create or replace function bluetick_feed_page(p_org uuid, p_after_xid text, p_after_id bigint, p_limit integer,
                                              p_types text[] default null)
returns jsonb
language plpgsql stable
set search_path = public, pg_temp
as $$
declare
  v_head jsonb;
  v_types text[] := nullif(p_types, '{}'::text[]);
begin
  if not exists (select 1 from org_settings s where s.org_id = p_org and s.events_feed) then
    return jsonb_build_object('enabled', false);
  end if;
  if p_after_xid is null then
    v_head := bluetick_events_head();
    return bluetick_events_page(p_org, v_head ->> 0, (v_head ->> 1)::bigint, p_limit, v_types)
           || jsonb_build_object('enabled', true);
  end if;
  return bluetick_events_page(p_org, p_after_xid, p_after_id, p_limit, v_types) || jsonb_build_object('enabled', true);
end
$$;

-- The service's alone, as the other readers of the organisations' data.
select bluetick_service_only(array[
  'bluetick_message(uuid, text)', 'bluetick_feed_page(uuid, text, bigint, integer, text[])'
]);
