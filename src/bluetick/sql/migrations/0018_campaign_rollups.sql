-- Campaign and template rollups (issue 25; docs/design.md, "The report's rollups"): per organisation, UTC hour,
-- campaign and template, what bluetick_campaign_funnel counts, kept like the report's rollups (0012): the hours a
-- write touches are noted in report_dirty by the triggers of message_logs, and bluetick_report_recompute computes
-- them again (analytics/0112_campaigns.sql). Counts only: no customer's identifier or text is kept here. A hole
-- in a key (no campaign, or no template) is NULL, as in message_logs.

-- The funnel's counts, and the hour's newest message that names its campaign (the campaign's name is the newest).
create table if not exists report_campaigns (
  org_id            uuid not null,
  day               date not null,
  hour              smallint not null,
  campaign_id       text,
  template_name     text,
  template_language text,
  outbound          integer not null,
  sent              integer not null,
  delivered         integer not null,
  read              integer not null,
  replied           integer not null,
  clicked           integer not null,
  failed            integer not null,
  named_at          timestamptz,  -- created_at and bsp_msg_id of the newest message naming the campaign, and its name
  named_id          text,
  campaign_name     text
);
create index if not exists report_campaigns_org_day_idx on report_campaigns (org_id, day);

-- How many messages read took each whole number of seconds from sent to read (the median's counts).
create table if not exists report_campaign_reads (
  org_id            uuid not null,
  day               date not null,
  hour              smallint not null,
  campaign_id       text,
  template_name     text,
  template_language text,
  seconds           integer not null,
  n                 integer not null
);
create index if not exists report_campaign_reads_org_day_idx on report_campaign_reads (org_id, day);

-- Failed messages per error code (the top error code's counts; a failure without a code is not counted here).
create table if not exists report_campaign_errors (
  org_id            uuid not null,
  day               date not null,
  hour              smallint not null,
  campaign_id       text,
  template_name     text,
  template_language text,
  error_code        text not null,
  n                 integer not null
);
create index if not exists report_campaign_errors_org_day_idx on report_campaign_errors (org_id, day);

-- The hours of the messages already logged with a campaign or a template: computed by the next refreshes.
insert into report_dirty (org_id, hour)
select distinct m.org_id, date_trunc('hour', m.created_at at time zone 'UTC')
from message_logs m
where m.campaign_id is not null or m.template_name is not null;

-- Access as for the report's rollups (0012), the service's alone, except that on Supabase an `authenticated` user
-- whose JWT carries org_id reads their own organisation's rows of these tables and of report_dirty:
-- bluetick_campaign_funnel is security invoker and reads them (rollups for the hours not noted, the messages for
-- the rest), as the analytics functions do under row-level security.
do $$
declare
  t text;
  role_name text;
begin
  foreach t in array array['report_campaigns', 'report_campaign_reads', 'report_campaign_errors', 'report_dirty'] loop
    if not (select relrowsecurity from pg_class where oid = to_regclass('public.' || t)) then
      execute format('alter table %I enable row level security', t);
    end if;
    if t <> 'report_dirty' then  -- 0012 set report_dirty's grants
      foreach role_name in array array['anon', 'authenticated'] loop
        if exists (select 1 from pg_roles where rolname = role_name) then
          execute format('revoke all on %I from %I', t, role_name);
        end if;
      end loop;
      if exists (select 1 from pg_roles where rolname = 'service_role') then
        execute format('grant select, insert, update, delete, truncate on %I to service_role', t);
      end if;
    end if;
    if to_regnamespace('auth') is not null and exists (select 1 from pg_roles where rolname = 'authenticated') then
      if not exists (select 1 from pg_policies
                     where schemaname = 'public' and tablename = t and policyname = t || '_read_own_org') then
        execute format('create policy %I on %I for select to authenticated '
                       'using (org_id::text = (select auth.jwt() ->> ''org_id''))', t || '_read_own_org', t);
      end if;
      execute format('grant select on %I to authenticated', t);
    end if;
  end loop;
end
$$;
