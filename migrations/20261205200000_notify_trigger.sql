-- The relay's wake-up (docs/adr/0002): every transaction that appends events
-- notifies `events_appended` when it commits. A statement trigger instead of
-- a `select pg_notify(...)` from each command saves a round trip per write,
-- and covers every writer of the log. Postgres folds identical notifications
-- of one transaction into one, delivered at commit (none on rollback).

create function event_store.notify_appended() returns trigger
language plpgsql as $$
begin
    perform pg_notify('events_appended', '');
    return null;
end;
$$;

create trigger events_notify_appended
    after insert on event_store.events
    for each statement execute function event_store.notify_appended();
