-- Signed webhooks out (docs/design.md, "Events"): subscriptions, and the deliveries' claim, result and release.
-- A repeatable file (docs/design.md, Migrations): the one current definition of these functions, applied after
-- the versioned migrations and again whenever any repeatable file changes. Edit it in place; never restate a
-- function in a migration. Privileges granted to a function stay with it across `create or replace`.
--
-- Each subscription reads the event stream of its organisation from its own cursor (cursor_xid, cursor_id), the
-- types it asked for, oldest first, and never past the oldest transaction still running (pg_snapshot_xmin, the
-- rule of bluetick_events_page): an event committed late by a transaction that began early is never skipped.
-- A deliverer claims one due subscription with a lease (for update skip locked, then lease_until), POSTs its
-- events one at a time in (xid, id) order and records each result: the cursor moves past an event only after a
-- 2xx (bluetick_delivery_done), so a crash re-sends, never skips. The lease (its lease_until, given back as an
-- opaque token) fences the results: one recorded by a deliverer whose lease expired, or was cleared by a resume, is
-- ignored and that deliverer stops.

-- A subscription's state as GET /v1/orgs/{org}/subscriptions answers it: never its secrets. The backlog counts the
-- events after its cursor of its types, at most p_backlog_cap.
create or replace function bluetick_subscription_json(s webhook_subscriptions, p_backlog_cap integer)
returns jsonb
language sql stable
set search_path = public, pg_temp
as $$
  select jsonb_build_object(
  'id', s.id, 'url', s.url, 'events', to_jsonb(s.events), 'created_at', bluetick_ts_text(s.created_at),
  'last_success_at', bluetick_ts_text(s.last_success_at), 'failing_since', bluetick_ts_text(s.failing_since),
  'attempts', s.attempts, 'next_attempt_at', bluetick_ts_text(s.next_attempt_at), 'last_error', s.last_error,
  'disabled', s.disabled_at is not null, 'disabled_at', bluetick_ts_text(s.disabled_at),
  'disabled_reason', s.disabled_reason,
  'previous_secret_until', case when s.previous_until > now() then bluetick_ts_text(s.previous_until) end,
  'backlog', (select count(*) from (
                  select 1 from bluetick_events e
                  where e.org_id = s.org_id and (e.xid, e.id) > (s.cursor_xid, s.cursor_id) and e.type = any (s.events)
                  limit p_backlog_cap) b),
  'backlog_capped_at', p_backlog_cap)
$$;

-- A new subscription of p_org to p_events at p_url, signed with p_secret (whsec_...): it starts at the head of the
-- stream (bluetick_events_head), so it is sent what is committed from now on. Returns {"id", "url", "events"}.
create or replace function bluetick_subscription_create(p_org uuid, p_url text, p_events text[], p_secret text)
returns jsonb
language sql
set search_path = public, pg_temp
as $$
  insert into webhook_subscriptions (org_id, url, events, secret, cursor_xid, cursor_id)
  select p_org, p_url, p_events, p_secret, (h ->> 0)::xid8, (h ->> 1)::bigint
  from bluetick_events_head() h
  returning jsonb_build_object('id', id, 'url', url, 'events', to_jsonb(events))
$$;

-- p_org's subscriptions, oldest first, with their delivery state (bluetick_subscription_json).
create or replace function bluetick_subscriptions_list(p_org uuid, p_backlog_cap integer)
returns jsonb
language sql stable
set search_path = public, pg_temp
as $$
  select coalesce(jsonb_agg(bluetick_subscription_json(s, p_backlog_cap) order by s.created_at, s.id), '[]'::jsonb)
  from webhook_subscriptions s
  where s.org_id = p_org
$$;

-- Delete p_org's subscription p_id; whether there was one. A deliverer holding it finds it gone at its next result.
create or replace function bluetick_subscription_delete(p_org uuid, p_id uuid)
returns boolean
language sql
set search_path = public, pg_temp
as $$
  with gone as (delete from webhook_subscriptions where org_id = p_org and id = p_id returning 1)
  select exists (select 1 from gone)
$$;

-- A new secret p_secret for p_org's subscription p_id; the one it replaces still signs until now() + p_overlap
-- (deliveries carry both signatures meanwhile). Whether there was one.
create or replace function bluetick_subscription_rotate(p_org uuid, p_id uuid, p_secret text, p_overlap interval)
returns boolean
language sql
set search_path = public, pg_temp
as $$
  with rotated as (
    update webhook_subscriptions
    set previous_secret = secret, previous_until = now() + p_overlap, secret = p_secret
    where org_id = p_org and id = p_id
    returning 1)
  select exists (select 1 from rotated)
$$;

-- Enable p_org's subscription p_id again (one disabled as failing or gone, or one retrying), due now, from its
-- cursor or, given p_after_xid, from the cursor (p_after_xid, p_after_id). Any lease is cleared, so a deliverer
-- still holding it stops at its next result. Returns its state (bluetick_subscription_json), or null when there is
-- none.
create or replace function bluetick_subscription_resume(p_org uuid, p_id uuid, p_after_xid text, p_after_id bigint,
                                                        p_backlog_cap integer)
returns jsonb
language sql
set search_path = public, pg_temp
as $$
  update webhook_subscriptions s
  set disabled_at = null, disabled_reason = null, attempts = 0, failing_since = null, last_error = null,
      next_attempt_at = now(), lease_until = null,
      cursor_xid = coalesce(p_after_xid::xid8, s.cursor_xid),
      cursor_id = case when p_after_xid is null then s.cursor_id else coalesce(p_after_id, 0) end
  where s.org_id = p_org and s.id = p_id
  returning bluetick_subscription_json(s, p_backlog_cap)
$$;

-- The deliverer's claim: one subscription enabled, due (next_attempt_at passed), not leased, with events of its
-- types after its cursor below the horizon, the longest due first, taken with for update skip locked (replicas
-- skip each other's) and leased for p_lease. Returns {"id", "org_id", "url", "secret", "previous_secret" (while
-- the rotation overlaps, else null), "attempts", "lease" (the token its results give back), "events": up to
-- p_limit in (xid, id) order, each {"id", "xid", "type", "timestamp", "created_s" (its epoch, for the lag),
-- "data" (with the message's version)}}.
-- None claimable: {"waiting": true} when a due subscription has events held back by an older transaction still
-- running (read again shortly), else null.
create or replace function bluetick_delivery_claim(p_lease interval, p_limit integer)
returns jsonb
language plpgsql
set search_path = public, pg_temp
as $$
declare
  v_horizon xid8 := pg_snapshot_xmin(pg_current_snapshot());
  v_sub webhook_subscriptions;
  v_events jsonb;
begin
  select * into v_sub
  from webhook_subscriptions s
  where s.disabled_at is null and s.next_attempt_at <= now() and (s.lease_until is null or s.lease_until < now())
    and exists (select 1 from bluetick_events e
                where e.org_id = s.org_id and (e.xid, e.id) > (s.cursor_xid, s.cursor_id) and e.xid < v_horizon
                  and e.type = any (s.events))
  order by s.next_attempt_at
  limit 1
  for update skip locked;
  if not found then
    if exists (select 1 from webhook_subscriptions s
               where s.disabled_at is null and s.next_attempt_at <= now()
                 and (s.lease_until is null or s.lease_until < now())
                 and exists (select 1 from bluetick_events e
                             where e.org_id = s.org_id and e.xid >= v_horizon and e.type = any (s.events))) then
      return jsonb_build_object('waiting', true);
    end if;
    return null;
  end if;
  perform set_config('synchronous_commit', 'off', true);  -- see bluetick_delivery_done
  update webhook_subscriptions set lease_until = now() + p_lease where id = v_sub.id returning * into v_sub;
  select coalesce(jsonb_agg(jsonb_build_object(
           'id', e.id::text, 'xid', e.xid::text, 'type', e.type, 'timestamp', bluetick_ts_text(e.created_at),
           'created_s', extract(epoch from e.created_at)::float8,
           'data', case when e.version is null then e.data else e.data || jsonb_build_object('version', e.version) end)
           order by e.xid, e.id), '[]'::jsonb)
  into v_events
  from (
    select * from bluetick_events e
    where e.org_id = v_sub.org_id and (e.xid, e.id) > (v_sub.cursor_xid, v_sub.cursor_id) and e.xid < v_horizon
      and e.type = any (v_sub.events)
    order by e.xid, e.id
    limit p_limit
  ) e;
  return jsonb_build_object(
  'id', v_sub.id, 'org_id', v_sub.org_id, 'url', v_sub.url, 'secret', v_sub.secret,
  'previous_secret', case when v_sub.previous_until > now() then v_sub.previous_secret end,
  'attempts', v_sub.attempts, 'lease', v_sub.lease_until, 'events', v_events);
end
$$;

-- Event (p_xid, p_event) was answered 2xx by subscription p_id's receiver: its cursor moves past it, and it is
-- healthy again (last_success_at now, no failure). Only under the lease p_lease; false when that lease is lost (it
-- expired and another deliverer took over, or a resume or a delete cleared it): the deliverer stops its batch.
-- The deliverer's bookkeeping (claim, done, failed, release) commits without waiting for its WAL to reach the disk
-- (synchronous_commit off, for its own transaction only): a crash of Postgres may lose the last of these writes,
-- which re-sends a batch already delivered (at least once, as a crash of the service does) but loses no event, as
-- the events are committed by ingest's own, durable, transactions. Ingest then does not wait behind the
-- deliverer's WAL flushes (the events bench: LWLock:WALWrite beside IO:WalSync).
create or replace function bluetick_delivery_done(p_id uuid, p_lease text, p_xid text, p_event bigint)
returns boolean
language sql
set search_path = public, pg_temp
as $$
  select set_config('synchronous_commit', 'off', true);
  with done as (
    update webhook_subscriptions
    set cursor_xid = p_xid::xid8, cursor_id = p_event, last_success_at = now(), attempts = 0, failing_since = null,
        last_error = null, next_attempt_at = now()
    where id = p_id and lease_until = p_lease::timestamptz and disabled_at is null
      and (cursor_xid, cursor_id) < (p_xid::xid8, p_event)
    returning 1)
  select exists (select 1 from done)
$$;

-- A delivery of subscription p_id failed (p_error: a short reason): one more attempt, the next in p_delay_s
-- seconds (the deliverer's backoff with jitter), failing since now unless it was already; the lease is released.
-- p_gone (the receiver answered 410) disables it as 'gone'; failing for longer than p_retry_for, as 'failing'.
-- Only under the lease p_lease. Returns {"recorded": bool, "attempts": n, "disabled_reason": reason or null}.
create or replace function bluetick_delivery_failed(p_id uuid, p_lease text, p_error text, p_gone boolean,
                                                    p_delay_s double precision, p_retry_for interval)
returns jsonb
language sql
set search_path = public, pg_temp
as $$
  select set_config('synchronous_commit', 'off', true);  -- see bluetick_delivery_done
  with failed as (
    update webhook_subscriptions s
    set attempts = s.attempts + 1,
        next_attempt_at = now() + make_interval(secs => greatest(p_delay_s, 0)),
        failing_since = coalesce(s.failing_since, now()),
        last_error = left(p_error, 200),
        lease_until = null,
        disabled_at = case when p_gone or now() - coalesce(s.failing_since, now()) > p_retry_for then now() end,
        disabled_reason = case when p_gone then 'gone'
                               when now() - coalesce(s.failing_since, now()) > p_retry_for then 'failing' end
    where s.id = p_id and s.lease_until = p_lease::timestamptz and s.disabled_at is null
    returning s.attempts, s.disabled_reason)
  select coalesce((select jsonb_build_object('recorded', true, 'attempts', attempts, 'disabled_reason', disabled_reason)
                   from failed),
                  jsonb_build_object('recorded', false))
$$;

-- The deliverer is through with subscription p_id for now (its batch delivered, or it is stopping): the lease is
-- released so any deliverer may claim it again at once. Whether it still held the lease.
create or replace function bluetick_delivery_release(p_id uuid, p_lease text)
returns boolean
language sql
set search_path = public, pg_temp
as $$
  select set_config('synchronous_commit', 'off', true);  -- see bluetick_delivery_done
  with released as (
    update webhook_subscriptions set lease_until = null
    where id = p_id and lease_until = p_lease::timestamptz
    returning 1)
  select exists (select 1 from released)
$$;

-- The subscriptions of every organisation by delivery state, for /metrics: {"ok", "retrying" (failing, still
-- retried), "failing" (disabled after WEBHOOK_RETRY_FOR), "gone" (disabled by a 410)}.
create or replace function bluetick_subscriptions_health()
returns jsonb
language sql stable
set search_path = public, pg_temp
as $$
  select jsonb_build_object(
  'ok', count(*) filter (where disabled_at is null and failing_since is null),
  'retrying', count(*) filter (where disabled_at is null and failing_since is not null),
  'failing', count(*) filter (where disabled_reason = 'failing'),
  'gone', count(*) filter (where disabled_reason = 'gone'))
  from webhook_subscriptions
$$;

-- The service's alone: subscriptions hold secrets (0015_events.sql), like org_secrets.
select bluetick_service_only(array[
  'bluetick_subscription_json(webhook_subscriptions, integer)',
  'bluetick_subscription_create(uuid, text, text[], text)', 'bluetick_subscriptions_list(uuid, integer)',
  'bluetick_subscription_delete(uuid, uuid)', 'bluetick_subscription_rotate(uuid, uuid, text, interval)',
  'bluetick_subscription_resume(uuid, uuid, text, bigint, integer)', 'bluetick_delivery_claim(interval, integer)',
  'bluetick_delivery_done(uuid, text, text, bigint)',
  'bluetick_delivery_failed(uuid, text, text, boolean, double precision, interval)',
  'bluetick_delivery_release(uuid, text)', 'bluetick_subscriptions_health()'
]);
