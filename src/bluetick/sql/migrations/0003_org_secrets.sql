-- Per-organisation secrets: webhook signing secrets, URL token, Meta verify token, API token.
-- A column left null falls back to the environment's global value (META_APP_SECRET, ...).
-- Safe to run again.

create table if not exists org_secrets (
  org_id          uuid primary key,
  meta_app_secret text,   -- checks X-Hub-Signature-256: sha256=<hmac of the raw body>
  aisensy_secret  text,   -- checks X-AiSensy-Signature: <hex hmac of the raw body>
  url_token       text,   -- ?token=... for accounts that cannot sign
  verify_token    text,   -- Meta's GET handshake (hub.verify_token)
  api_token       text,   -- Authorization: Bearer ... on /v1/orgs/{org_id}/messages
  updated_at      timestamptz not null default now()
);

comment on table org_secrets is
  'Secrets per organisation; bluetick reloads them every SECRETS_REFRESH. Never readable by analysts.';

-- Every organisation's secrets, as one JSON array (the service keeps a snapshot in memory).
create or replace function bluetick_org_secrets()
returns jsonb
language sql stable
set search_path = public, pg_temp
as $$
  select coalesce(jsonb_agg(to_jsonb(s) - 'updated_at'), '[]'::jsonb) from org_secrets s
$$;
