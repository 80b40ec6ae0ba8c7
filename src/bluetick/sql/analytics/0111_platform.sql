-- Platform facts for analysts: what Meta's other webhook fields said, from the history tables of migration
-- 0014_platform_facts.sql (written by bluetick_apply_facts, functions/platform.sql). Each table keeps every event;
-- the current state is computed here from the whole history, so it does not depend on the order the events
-- arrived in, and the same event posted twice (kept once) changes nothing. Every function is security invoker
-- and stable, like the others: on Supabase an `authenticated` user reads their own organisation's facts only.
--
-- Group messages. A message sent to a WhatsApp group is one row of message_logs, and the funnels, read rates and
-- failures count it once, as that row. Its stage times are the participants' receipts merged earliest-wins (merge
-- rule 1): `delivered` is when the first participant got it, `read` when the first participant read it,
-- `failed` the first failure, and status the furthest stage any participant reached. "Read" for a group message
-- therefore means "read by at least one participant", not by all. Who got and read it is in group_receipts,
-- one row per participant and stage, shown by bluetick_group_receipts below.
--
-- Examples:
--   select * from bluetick_marketing_preferences('0b6b9c3e-4a51-4f39-9a57-1f0f5e7f2a10') where preference = 'stop';
--   select * from bluetick_templates('0b6b9c3e-4a51-4f39-9a57-1f0f5e7f2a10') where status <> 'APPROVED';
--   select * from bluetick_account_events('0b6b9c3e-4a51-4f39-9a57-1f0f5e7f2a10', now() - interval '30 days', now());
--   select * from bluetick_group_receipts('0b6b9c3e-4a51-4f39-9a57-1f0f5e7f2a10', 'wamid.HBgLMTU1NTAx...');

-- bluetick_marketing_preferences(org): each customer's marketing preference (user_preferences, category
-- marketing_messages): the event with the latest changed_at, and on a tie `stop` wins over `resume` (a customer
-- who both stopped and resumed in the same second is not messaged). A customer who changed number is one
-- customer, keyed by their newest identifier (bluetick_customer_id): a stop under the old number holds for the
-- new one until a later resume. customer is the phone when Meta named one, else the BSUID.
-- Example: the customers not to send marketing to.
--   select customer, changed_at from bluetick_marketing_preferences('0b6b9c3e-4a51-4f39-9a57-1f0f5e7f2a10')
--   where preference = 'stop';
create or replace function bluetick_marketing_preferences(p_org uuid)
returns table (customer text, preference text, changed_at timestamptz, detail text)
language sql stable
as $$
  with links as materialized (
    select l.identifier, l.customer from bluetick_customer_links(p_org) l
  )
  select distinct on (coalesce(k.customer, p.customer))
         coalesce(k.customer, p.customer), p.preference, p.changed_at, p.detail
  from customer_preferences p
  left join links k on k.identifier = p.customer
  where p.org_id = p_org and p.category = 'marketing_messages'
  order by coalesce(k.customer, p.customer), p.changed_at desc, p.preference = 'stop' desc, p.preference,
           p.customer, p.detail
$$;

comment on function bluetick_marketing_preferences(uuid) is
  'One row per customer (newest identifier) of one org: the latest marketing_messages preference (stop | '
  'resume) with its time and detail; on a tie of times, stop wins.';

-- bluetick_templates(org): each template's current state, from its history of status, quality and category
-- events: status and reason from the latest status event, quality from the latest quality event, category from
-- the latest category event, name and language from the latest event that names them, changed_at the latest
-- event's time. Events of the same time and field are ordered by value text, the greatest winning, so the result
-- does not depend on arrival order. A field never reported is NULL.
-- Example: templates paused or rejected, newest change first.
--   select template_id, name, language, status, reason, changed_at
--   from bluetick_templates('0b6b9c3e-4a51-4f39-9a57-1f0f5e7f2a10')
--   where status in ('PAUSED', 'REJECTED', 'DISABLED') order by changed_at desc;
create or replace function bluetick_templates(p_org uuid)
returns table (
  template_id text,
  name text,
  language text,
  category text,
  status text,
  quality text,
  reason text,
  changed_at timestamptz
)
language sql stable
as $$
  select
    e.template_id,
    (array_agg(e.name order by e.changed_at desc, e.value desc, e.field, e.name)
       filter (where e.name is not null))[1],
    (array_agg(e.language order by e.changed_at desc, e.value desc, e.field, e.language)
       filter (where e.language is not null))[1],
    (array_agg(e.value order by e.changed_at desc, e.value desc) filter (where e.field = 'category'))[1],
    (array_agg(e.value order by e.changed_at desc, e.value desc) filter (where e.field = 'status'))[1],
    (array_agg(e.value order by e.changed_at desc, e.value desc) filter (where e.field = 'quality'))[1],
    (array_agg(e.reason order by e.changed_at desc, e.value desc) filter (where e.field = 'status'))[1],
    max(e.changed_at)
  from template_events e
  where e.org_id = p_org
  group by e.template_id
  order by e.template_id
$$;

comment on function bluetick_templates(uuid) is
  'One row per template of one org: name, language, category, status (with its reason) and quality as of '
  'the latest event of each, changed_at the latest event''s time; ties go to the greatest value text.';

-- bluetick_account_events(org, since, until): the account and phone-number events (account_update,
-- phone_number_quality_update) with changed_at in [since, until), in time order (then field, event and the
-- event's text, so the order does not depend on arrival). detail is the change's whole value.
-- Example: the last 30 days.
--   select changed_at, field, event, detail ->> 'current_limit' as current_limit
--   from bluetick_account_events('0b6b9c3e-4a51-4f39-9a57-1f0f5e7f2a10', now() - interval '30 days', now());
create or replace function bluetick_account_events(
  p_org uuid,
  p_since timestamptz default '-infinity',
  p_until timestamptz default 'infinity'
)
returns table (changed_at timestamptz, field text, event text, detail jsonb)
language sql stable
as $$
  select a.changed_at, a.field, a.event, a.detail
  from account_events a
  where a.org_id = p_org and a.changed_at >= p_since and a.changed_at < p_until
  order by a.changed_at, a.field, a.event nulls first, a.detail_md5
$$;

comment on function bluetick_account_events(uuid, timestamptz, timestamptz) is
  'Account and phone-number events of one org with changed_at in [since, until) (default all time), in time '
  'order: changed_at, field, event, detail (the whole value).';

-- bluetick_group_receipts(org, bsp_msg_id): one row per participant of a group message, with the earliest time
-- of each stage. As the message merge does (merge rule 2), a later stage implies the earlier ones at its time:
-- a read with no delivery (or a later one) makes delivered the read time, and sent is at most delivered.
-- failed stands alone. participant is the phone when Meta named one, else the BSUID.
-- Example: who has not read a group message yet.
--   select participant from bluetick_group_receipts('0b6b9c3e-4a51-4f39-9a57-1f0f5e7f2a10', 'wamid.HBgL...')
--   where read is null;
create or replace function bluetick_group_receipts(p_org uuid, p_bsp_msg_id text)
returns table (
  participant text,
  participant_phone text,
  participant_user_id text,
  sent timestamptz,
  delivered timestamptz,
  read timestamptz,
  failed timestamptz
)
language sql stable
as $$
  select
    g.participant,
    g.participant_phone,
    g.participant_user_id,
    least(g.sent, g.delivered, g.read),
    least(g.delivered, g.read),
    g.read,
    g.failed
  from (
    select
      r.participant,
      min(r.participant_phone) as participant_phone,
      min(r.participant_user_id) as participant_user_id,
      min(r.ts) filter (where r.status = 'sent') as sent,
      min(r.ts) filter (where r.status = 'delivered') as delivered,
      min(r.ts) filter (where r.status = 'read') as read,
      min(r.ts) filter (where r.status = 'failed') as failed
    from group_receipts r
    where r.org_id = p_org and r.bsp_msg_id = p_bsp_msg_id
    group by r.participant
  ) g
  order by g.participant
$$;

comment on function bluetick_group_receipts(uuid, text) is
  'One row per participant of one group message: participant (phone, else BSUID), participant_phone, '
  'participant_user_id and the earliest sent, delivered, read and failed times (read implies delivered '
  'implies sent at the same time).';
