-- Idempotency keys become claims (command-service/src/idempotency.rs): a row
-- is inserted pending when a keyed write starts, marked committed in the
-- transaction that appends its events, and given the answer afterwards.
alter table write_model.idempotency_keys
    alter column status drop not null,
    alter column body drop not null,
    add column committed boolean not null default false;
