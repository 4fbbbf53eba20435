-- The event log: append-only, one row per event, the source of truth.
create schema if not exists event_store;

create table event_store.events (
    position        bigint generated always as identity primary key,
    event_id        uuid not null,
    stream_id       text not null,
    stream_version  bigint not null check (stream_version > 0),
    account_id      bigint,
    event_type      text not null,
    schema_version  integer not null,
    payload         jsonb not null,
    metadata        jsonb not null,
    occurred_at     timestamptz not null,
    recorded_at     timestamptz not null default clock_timestamp(),
    -- The writing transaction's id. The relay only reads rows whose writer is
    -- older than every transaction still running (see docs/adr/0002).
    txid            xid8 not null default pg_current_xact_id(),
    constraint events_event_id_key unique (event_id),
    constraint events_stream_version_key unique (stream_id, stream_version)
);

create index events_txid_position_idx on event_store.events (txid, position);
create index events_account_idx on event_store.events (account_id, position);

create function event_store.refuse_change() returns trigger
language plpgsql as $$
begin
    raise exception 'event_store.events is append-only: % refused', tg_op
        using errcode = 'insufficient_privilege';
end
$$;

create trigger events_append_only
    before update or delete on event_store.events
    for each row execute function event_store.refuse_change();

create trigger events_no_truncate
    before truncate on event_store.events
    for each statement execute function event_store.refuse_change();

-- Where the relay has published up to: the (txid, position) of the last event
-- acknowledged by JetStream. One row.
create table event_store.relay_checkpoint (
    id             smallint primary key default 1 check (id = 1),
    last_txid      xid8 not null default '0'::xid8,
    last_position  bigint not null default 0,
    published      bigint not null default 0,
    updated_at     timestamptz not null default now()
);
insert into event_store.relay_checkpoint (id) values (1);

-- Per-stream order in the relay's (txid, position) order: an event may only
-- follow its predecessor in the stream if its writing transaction has a larger
-- txid. A transaction that took its txid before the predecessor's writer did
-- (it wrote something else first) is refused with a serialization failure and
-- the command service retries it in a new transaction, whose txid is larger.
-- So the relay can never publish version n+1 of a stream before version n.
create function event_store.check_stream_order() returns trigger
language plpgsql as $$
declare
    previous xid8;
begin
    if new.stream_version > 1 then
        select txid into previous from event_store.events
        where stream_id = new.stream_id and stream_version = new.stream_version - 1;
        if previous is not null and previous > pg_current_xact_id() then
            raise exception 'stream % version % would precede its predecessor in commit order',
                new.stream_id, new.stream_version
                using errcode = 'serialization_failure';
        end if;
    end if;
    return new;
end
$$;

create trigger events_stream_order
    before insert on event_store.events
    for each row execute function event_store.check_stream_order();
