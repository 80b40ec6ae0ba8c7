-- Campaign rollups by blocks of hours (issue 25; docs/design.md, "Blocks of hours"). The hourly campaign rollups
-- (0018) summed again over aligned blocks of 2^level hours, level 1 to 12 (2 hours to 170 days): block b of level L
-- holds the UTC hours [b * 2^L, (b + 1) * 2^L) counted from 1970-01-01 00:00. bluetick_campaign_funnel covers the
-- window's rolled hours with the fewest such blocks (about 20 for 30 days, whatever the organisation's size), so it
-- reads a few rows per campaign and template instead of one per hour. The reads are counted by bucket of seconds
-- (bluetick_read_bucket): the funnel finds the bucket holding the median in these counts, then the median's exact
-- second among that bucket's hourly rows of report_campaign_reads, by the index below. Computed with the hours they
-- sum (bluetick_report_recompute_campaigns, analytics/0108_report_rollups.sql), whose new definition notes every
-- hour for the next refreshes, which fill these tables. Counts only: no customer's identifier or text is kept here.
create table if not exists report_campaign_blocks (
  org_id            uuid not null,
  level             smallint not null,
  block             integer not null,
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
  named_at          timestamptz,  -- as in report_campaigns: the block's newest message naming the campaign
  named_id          text,
  campaign_name     text
);
create index if not exists report_campaign_blocks_org_block_idx on report_campaign_blocks (org_id, level, block);

create table if not exists report_campaign_block_reads (
  org_id            uuid not null,
  level             smallint not null,
  block             integer not null,
  campaign_id       text,
  template_name     text,
  template_language text,
  bucket            integer not null,
  n                 integer not null
);
create index if not exists report_campaign_block_reads_org_block_idx
  on report_campaign_block_reads (org_id, level, block);

create table if not exists report_campaign_block_errors (
  org_id            uuid not null,
  level             smallint not null,
  block             integer not null,
  campaign_id       text,
  template_name     text,
  template_language text,
  error_code        text not null,
  n                 integer not null
);
create index if not exists report_campaign_block_errors_org_block_idx
  on report_campaign_block_errors (org_id, level, block);

-- An hour's reads by index (the funnel reads the hours outside any bigger block one by one), not its whole day's.
create index if not exists report_campaign_reads_org_day_hour_idx on report_campaign_reads (org_id, day, hour);
drop index if exists report_campaign_reads_org_day_idx;

-- A campaign's and template's reads in a range of seconds, without visiting the table (the funnel's second step).
-- A key's hole (NULL) is '' here, which no campaign, template or language can be (the logging API refuses it); the
-- funnel checks the columns themselves as well.
create index if not exists report_campaign_reads_org_group_seconds_idx on report_campaign_reads
  (org_id, coalesce(campaign_id, ''), coalesce(template_name, ''), coalesce(template_language, ''), seconds)
  include (day, hour, n, campaign_id, template_name, template_language);

-- Access as for the other campaign rollups (0018_campaign_rollups.sql): the service's alone, except that on Supabase
-- an `authenticated` user whose JWT carries org_id reads their own organisation's rows (the funnel is security
-- invoker).
do $$
declare
  t text;
  role_name text;
begin
  foreach t in array array['report_campaign_blocks', 'report_campaign_block_reads', 'report_campaign_block_errors'] loop
    execute format('alter table %I enable row level security', t);
    foreach role_name in array array['anon', 'authenticated'] loop
      if exists (select 1 from pg_roles where rolname = role_name) then
        execute format('revoke all on %I from %I', t, role_name);
      end if;
    end loop;
    if exists (select 1 from pg_roles where rolname = 'service_role') then
      execute format('grant select, insert, update, delete, truncate on %I to service_role', t);
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
