-- The org-scoped funnel over [since, until) through sql/analytics' bluetick_funnel.
select * from bluetick_funnel($1::uuid, $2::timestamptz, $3::timestamptz)
