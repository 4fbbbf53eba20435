-- Account webhooks.
--
-- write_model.webhooks: what the write side checks (the URL is unique in the
-- account) and the per-webhook signing secret, which is kept out of the event
-- log and the read model (the query service cannot read it).
--
-- Schema `webhooks`: the delivery process's own durable state. Pending
-- deliveries survive a restart; the attempts are the delivery log that
-- administrators read (the query service may SELECT the two log tables).

create sequence write_model.webhook_ids;

create table write_model.webhooks (
    id          bigint primary key,
    account_id  bigint not null references write_model.accounts (id),
    url         text not null,
    secret      text not null
);
create unique index webhooks_account_url_key on write_model.webhooks (account_id, url);

create schema if not exists webhooks;

-- The JetStream stream sequence of the last event turned into deliveries.
create table webhooks.consumer_state (
    id               smallint primary key default 1 check (id = 1),
    stream_sequence  bigint not null default 0
);
insert into webhooks.consumer_state (id) values (1) on conflict do nothing;

-- One row per (event, webhook, webhook event name); `id` is the delivery id
-- sent as X-Chatwoot-Delivery, derived from those three, so a redelivered
-- event enqueues nothing new.
create table webhooks.deliveries (
    id               uuid primary key,
    webhook_id       bigint not null,
    account_id       bigint not null,
    event_id         uuid not null,
    event            text not null,
    -- Deliveries of one webhook and one lane go out in `position` order.
    lane             text not null,
    position         bigint not null,
    -- Several webhook events of one logged event go out in this order.
    ordinal          smallint not null default 0,
    payload          jsonb not null,
    -- pending | delivered | failed (gave up after the last attempt)
    status           text not null default 'pending',
    attempts         integer not null default 0,
    next_attempt_at  timestamptz not null default now(),
    last_status_code integer,
    last_error       text,
    created_at       timestamptz not null default now(),
    finished_at      timestamptz
);
create index deliveries_due_idx on webhooks.deliveries (next_attempt_at) where status = 'pending';
create index deliveries_lane_idx on webhooks.deliveries (webhook_id, lane, position, ordinal) where status = 'pending';
create index deliveries_webhook_idx on webhooks.deliveries (webhook_id, created_at desc);

-- Every attempt: the delivery log.
create table webhooks.delivery_attempts (
    delivery_id  uuid not null references webhooks.deliveries (id) on delete cascade,
    attempt      integer not null,
    at           timestamptz not null default now(),
    status_code  integer,
    error        text,
    duration_ms  integer not null,
    primary key (delivery_id, attempt)
);

do $$
begin
    if exists (select from pg_roles where rolname = 'chatwoot_reader') then
        grant usage on schema webhooks to chatwoot_reader;
        grant select on webhooks.deliveries, webhooks.delivery_attempts to chatwoot_reader;
    end if;
end
$$;
