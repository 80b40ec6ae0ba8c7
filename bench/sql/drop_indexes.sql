-- bench: drop every index of message_logs but its primary key (and the constraints behind them).
do $$
declare
  r record;
begin
  for r in
    select i.indexrelid::regclass::text as idx, c.conname
    from pg_index i
    left join pg_constraint c on c.conindid = i.indexrelid and c.conrelid = i.indrelid
    where i.indrelid = 'message_logs'::regclass and not i.indisprimary
  loop
    if r.conname is not null then
      execute format('alter table message_logs drop constraint %I', r.conname);
    else
      execute format('drop index %s', r.idx);
    end if;
  end loop;
end
$$;
