-- The relay's wake-up moves out of the writing transaction (docs/adr/0002):
-- a NOTIFY inside a transaction that writes holds a cluster-wide lock from
-- its commit until the commit record is flushed, which serialised every
-- appending commit behind the one before (half the commit rate at 32
-- clients, measured with pgbench). The command service now notifies
-- `events_appended` after its commits, from a transaction of its own.

drop trigger events_notify_appended on event_store.events;
drop function event_store.notify_appended();
