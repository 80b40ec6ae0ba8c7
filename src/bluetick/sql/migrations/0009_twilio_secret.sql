-- Each organisation's Twilio auth token, which checks X-Twilio-Signature on form-encoded callbacks.
-- A null token falls back to TWILIO_AUTH_TOKEN, like every column of org_secrets.

alter table org_secrets add column if not exists twilio_auth_token text;

comment on column org_secrets.twilio_auth_token is
  'checks X-Twilio-Signature: base64 HMAC-SHA1 of the full URL and the sorted POST fields';

-- Unchanged from 0003: to_jsonb(s) already carries the new column. Restated so the function that hands the
-- token to the service is read beside it; create or replace keeps the grants 0004 gave it.
create or replace function bluetick_org_secrets()
returns jsonb
language sql stable
set search_path = public, pg_temp
as $$
  select coalesce(jsonb_agg(to_jsonb(s) - 'updated_at'), '[]'::jsonb) from org_secrets s
$$;
