-- What the write side must know synchronously, updated in the same
-- transaction as the events it follows from.
create schema if not exists write_model;

create sequence write_model.account_ids;
create sequence write_model.user_ids;
create sequence write_model.platform_app_ids;
create sequence write_model.account_user_ids;
create sequence write_model.inbox_ids;
create sequence write_model.web_widget_channel_ids;
create sequence write_model.api_channel_ids;
create sequence write_model.contact_ids;
create sequence write_model.contact_inbox_ids;
create sequence write_model.conversation_ids;

-- token hash -> principal. Only hashes are stored.
create table write_model.access_tokens (
    token_hash  text primary key,
    owner_type  text not null check (owner_type in ('user', 'agent_bot', 'platform_app')),
    owner_id    bigint not null,
    constraint access_tokens_owner_key unique (owner_type, owner_id)
);

create table write_model.accounts (
    id       bigint primary key,
    deleted  boolean not null default false
);

create table write_model.users (
    id       bigint primary key,
    email    text not null,
    deleted  boolean not null default false
);
create unique index users_email_key on write_model.users (email) where not deleted;

create table write_model.account_users (
    account_id  bigint not null references write_model.accounts (id),
    user_id     bigint not null references write_model.users (id),
    role        text not null check (role in ('agent', 'administrator')),
    primary key (account_id, user_id)
);

create table write_model.platform_grants (
    app_id       bigint not null,
    target_kind  text not null,
    target_id    bigint not null,
    primary key (app_id, target_kind, target_id)
);

create table write_model.inboxes (
    id            bigint primary key,
    account_id    bigint not null references write_model.accounts (id),
    channel_type  text not null,
    has_agent_bot boolean not null default false
);

create table write_model.contacts (
    id            bigint primary key,
    account_id    bigint not null references write_model.accounts (id),
    email         text,
    phone_number  text,
    identifier    text
);
create unique index contacts_account_email_key on write_model.contacts (account_id, email) where email is not null;
create unique index contacts_account_phone_key on write_model.contacts (account_id, phone_number) where phone_number is not null;
create unique index contacts_account_identifier_key on write_model.contacts (account_id, identifier) where identifier is not null;

create table write_model.contact_inboxes (
    id          bigint primary key,
    account_id  bigint not null,
    contact_id  bigint not null references write_model.contacts (id),
    inbox_id    bigint not null references write_model.inboxes (id),
    source_id   text not null,
    constraint contact_inboxes_inbox_source_key unique (inbox_id, source_id)
);

-- display_id is drawn from a per-account sequence write_model.conv_dpid_seq_<account id>
-- created with the account: it starts at 1, never repeats, and takes no row lock.
create table write_model.conversations (
    id          bigint primary key,
    account_id  bigint not null references write_model.accounts (id),
    display_id  bigint not null,
    constraint conversations_account_display_key unique (account_id, display_id)
);

-- Idempotency-Key: the first answer to a POST, replayed for retries.
create table write_model.idempotency_keys (
    principal     text not null,
    key           text not null,
    request_hash  text not null,
    status        smallint not null,
    body          jsonb not null,
    created_at    timestamptz not null default now(),
    primary key (principal, key)
);
create index idempotency_keys_created_idx on write_model.idempotency_keys (created_at);
