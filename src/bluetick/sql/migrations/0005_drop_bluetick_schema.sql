-- bluetick_migrations (docs/design.md, Migrations) records each file applied; the single digest that
-- bluetick_schema kept for the whole set has no reader any more.
drop table if exists bluetick_schema;
