-- The read models behind every GET. Names are unqualified: this file is run
-- with search_path set to the target schema, `read_model` for the live copy or
-- `read_model_next` while a rebuild fills a fresh one (docs/adr/0004).
-- Changing this file means bumping READ_MODEL_VERSION in projections and
-- rebuilding; read models are always derivable from the log.

create table projection_state (
    id                 smallint primary key default 1 check (id = 1),
    version            integer not null,
    last_txid          xid8 not null default '0'::xid8,
    last_position      bigint not null default 0,
    applied            bigint not null default 0,
    -- NATS stream sequence of the last message the live worker applied; it
    -- resumes its consumer after it (projections::worker).
    stream_sequence    bigint not null default 0,
    updated_at         timestamptz not null default now()
);

-- The read-model generation of each account (0: rows of no account, such
-- as users): the id of the last transaction that changed the account's
-- read model (projections::batch). The query service keeps rendered pages
-- while it stays the same (docs/adr/0009).
create table account_generations (
    account_id  bigint primary key,
    generation  bigint not null
);

-- Applied-version guard: an event whose stream_version is not above the
-- stream's recorded version has been applied already and is skipped.
create table stream_versions (
    stream_id  text primary key,
    version    bigint not null
);

-- Events a projection could not apply (poison), parked with their error.
create table parked_events (
    position    bigint primary key,
    stream_id   text not null,
    event_type  text not null,
    error       text not null,
    envelope    jsonb not null,
    parked_at   timestamptz not null default now()
);
-- A stream with a parked event holds its later events: looked up per event.
create index parked_events_stream_idx on parked_events (stream_id, position);

create table access_tokens (
    token_hash  text primary key,
    owner_type  text not null,
    owner_id    bigint not null
);
create index access_tokens_owner_idx on access_tokens (owner_type, owner_id);

create table accounts (
    id                 bigint primary key,
    name               text not null,
    locale             text not null,
    domain             text,
    support_email      text,
    custom_attributes  jsonb not null default '{}',
    created_at         timestamptz not null,
    updated_at         timestamptz not null
);

create table users (
    id                 bigint primary key,
    name               text not null,
    display_name       text,
    email              text not null,
    custom_attributes  jsonb not null default '{}',
    created_at         timestamptz not null,
    updated_at         timestamptz not null
);

create table account_users (
    id          bigint primary key,
    account_id  bigint not null,
    user_id     bigint not null,
    role        text not null,
    inviter_id  bigint,
    created_at  timestamptz not null,
    updated_at  timestamptz not null,
    active_at   timestamptz,
    unique (account_id, user_id)
);
create index account_users_user_idx on account_users (user_id);

create table platform_app_permissibles (
    app_id       bigint not null,
    target_kind  text not null,
    target_id    bigint not null,
    primary key (app_id, target_kind, target_id)
);

create table inboxes (
    id                      bigint primary key,
    account_id              bigint not null,
    channel_id              bigint not null,
    channel_type            text not null,
    name                    text not null,
    channel                 jsonb not null,
    settings                jsonb not null,
    created_at              timestamptz not null,
    updated_at              timestamptz not null
);
create index inboxes_account_idx on inboxes (account_id, lower(name));

create table inbox_members (
    inbox_id    bigint not null,
    user_id     bigint not null,
    account_id  bigint not null,
    primary key (inbox_id, user_id)
);
create index inbox_members_user_idx on inbox_members (account_id, user_id);

create table contacts (
    id                     bigint primary key,
    account_id             bigint not null,
    name                   text not null,
    email                  text,
    phone_number           text,
    identifier             text,
    additional_attributes  jsonb not null default '{}',
    custom_attributes      jsonb not null default '{}',
    conversations_count    bigint not null default 0,
    last_activity_at       timestamptz,
    created_at             timestamptz not null,
    updated_at             timestamptz not null
);
create index contacts_account_idx on contacts (account_id, id);

create table contact_inboxes (
    id          bigint primary key,
    account_id  bigint not null,
    contact_id  bigint not null,
    inbox_id    bigint not null,
    source_id   text not null,
    created_at  timestamptz not null
);
create index contact_inboxes_contact_idx on contact_inboxes (contact_id);
create index contact_inboxes_source_idx on contact_inboxes (account_id, source_id);

create table conversations (
    id                     bigint primary key,
    account_id             bigint not null,
    display_id             bigint not null,
    inbox_id               bigint not null,
    contact_id             bigint not null,
    contact_inbox_id       bigint not null,
    status                 text not null,
    assignee_id            bigint,
    team_id                bigint,
    snoozed_until          timestamptz,
    additional_attributes  jsonb not null default '{}',
    custom_attributes      jsonb not null default '{}',
    labels                 text[] not null default '{}',
    agent_last_seen_at     timestamptz,
    contact_last_seen_at   timestamptz,
    last_activity_at       timestamptz not null,
    created_at             timestamptz not null,
    updated_at             timestamptz not null,
    unique (account_id, display_id)
);
create index conversations_list_idx on conversations (account_id, status, last_activity_at desc, id desc);
create index conversations_inbox_idx on conversations (account_id, inbox_id, status, last_activity_at desc);
create index conversations_contact_idx on conversations (contact_id);

-- List counters, maintained per event so a list costs the same on an account
-- with a million conversations as on an empty one. assignee_id and team_id use
-- 0 for "none".
create table conversation_counts (
    account_id   bigint not null,
    inbox_id     bigint not null,
    status       text not null,
    assignee_id  bigint not null,
    team_id      bigint not null,
    n            bigint not null,
    primary key (account_id, inbox_id, status, assignee_id, team_id)
);

-- ---- messages and labels ----
-- Messages of conversations: posted ones (id from write_model.message_ids)
-- and activity messages derived from conversation events by the projection
-- (ids ACTIVITY_ID_BASE + 4 * event position + k, projections::activity).
-- message_type: 0 incoming, 1 outgoing, 2 activity, 3 template.
create table messages (
    id                  bigint primary key,
    account_id          bigint not null,
    conversation_id     bigint not null,
    inbox_id            bigint not null,
    message_type        smallint not null,
    content             text,
    content_type        text not null,
    content_attributes  jsonb not null default '{}',
    private             boolean not null default false,
    sender_type         text,
    sender_id           bigint,
    source_id           text,
    created_at          timestamptz not null,
    updated_at          timestamptz not null
);
create index messages_conversation_idx on messages (conversation_id, created_at, id);
create index messages_account_idx on messages (account_id);
-- ---- teams, members, assignments ----
create table teams (
    id                 bigint primary key,
    account_id         bigint not null,
    name               text not null,
    description        text,
    allow_auto_assign  boolean not null,
    created_at         timestamptz not null,
    updated_at         timestamptz not null
);
create index teams_account_idx on teams (account_id, name);

create table team_members (
    team_id     bigint not null,
    user_id     bigint not null,
    account_id  bigint not null,
    primary key (team_id, user_id)
);
create index team_members_user_idx on team_members (account_id, user_id);
-- ---- agent bots and sso ----
-- account_id null: a global bot.
create table agent_bots (
    id            bigint primary key,
    account_id    bigint,
    name          text not null,
    description   text,
    outgoing_url  text,
    bot_type      text not null,
    bot_config    jsonb not null default '{}',
    created_at    timestamptz not null,
    updated_at    timestamptz not null
);
create index agent_bots_account_idx on agent_bots (account_id, id);

-- The bot connected to an inbox: one row per inbox that has one.
create table agent_bot_inboxes (
    inbox_id      bigint primary key,
    agent_bot_id  bigint not null,
    account_id    bigint not null,
    created_at    timestamptz not null
);
create index agent_bot_inboxes_bot_idx on agent_bot_inboxes (agent_bot_id);
-- ---- integrations ----
create table hooks (
    id          bigint primary key,
    account_id  bigint not null,
    app_id      text not null,
    inbox_id    bigint,
    hook_type   text not null,
    status      boolean not null,
    settings    jsonb not null default '{}',
    created_at  timestamptz not null,
    updated_at  timestamptz not null
);
create index hooks_account_idx on hooks (account_id, app_id, id);
-- ---- attachments and avatars ----
-- Blob references only; the bytes are in the blob store.
create table attachments (
    id            bigint primary key,
    account_id    bigint not null,
    message_id    bigint not null,
    position      integer not null,
    file_type     text not null,
    blob_key      text not null unique,
    content_type  text not null,
    file_name     text not null,
    byte_size     bigint not null,
    checksum      text not null,
    created_at    timestamptz not null
);
create index attachments_message_idx on attachments (message_id, position);
create index attachments_account_idx on attachments (account_id);

create table inbox_avatars (
    inbox_id      bigint primary key,
    account_id    bigint not null,
    blob_key      text not null unique,
    content_type  text not null,
    file_name     text not null,
    byte_size     bigint not null,
    checksum      text not null,
    updated_at    timestamptz not null
);
create index inbox_avatars_account_idx on inbox_avatars (account_id);
-- ---- audit ----
-- Every applied event, with who did it and through which request (from the
-- envelope's metadata), for the history and audit endpoints. One row per
-- (stream, version), so applying twice changes nothing. `conversation_id`
-- (global id) is set for the conversation's own stream and for events that
-- name a conversation (its messages); `contact_id` for the contact's stream.
create table history (
    stream_id        text not null,
    stream_version   bigint not null,
    position         bigint not null,
    account_id       bigint,
    event_type       text not null,
    schema_version   integer not null,
    payload          jsonb not null,
    actor_type       text not null,
    actor_id         bigint,
    correlation_id   text not null,
    causation_id     text,
    occurred_at      timestamptz not null,
    conversation_id  bigint,
    contact_id       bigint,
    primary key (stream_id, stream_version)
);
create index history_conversation_idx on history (conversation_id, position) where conversation_id is not null;
create index history_contact_idx on history (contact_id, position) where contact_id is not null;
create index history_account_idx on history (account_id, position);
-- ---- reports ----
-- Facts behind GET /api/v2/accounts/{id}/reports (docs/reports.md); the
-- query service aggregates them per request. One row per conversation: a
-- message may be applied before its conversation, so the row can exist with
-- only first_response_* set (created_at null) until ConversationCreated
-- fills the rest; first_response_at only ever moves earlier (least()).
create table report_conversations (
    conversation_id     bigint primary key,
    account_id          bigint not null,
    inbox_id            bigint not null,
    assignee_id         bigint,
    team_id             bigint,
    created_at          timestamptz,
    first_response_at   timestamptz,
    -- The user who sent the first response (ties on time: the lower message id).
    first_responder_id  bigint,
    first_response_id   bigint
);
create index report_conversations_created_idx on report_conversations (account_id, created_at);
create index report_conversations_response_idx on report_conversations (account_id, first_response_at);

-- Incoming and outgoing messages (not activity, not templates), by the time
-- they were posted. sender_user_id: the user who sent it, if a user did.
create table report_messages (
    message_id       bigint primary key,
    account_id       bigint not null,
    conversation_id  bigint not null,
    inbox_id         bigint not null,
    message_type     smallint not null,
    private          boolean not null,
    sender_user_id   bigint,
    created_at       timestamptz not null
);
create index report_messages_account_idx on report_messages (account_id, created_at);

-- One row per resolution (a conversation reopened and resolved again has
-- two), keyed by the conversation stream's version of the status change.
-- assignee_id and team_id are the conversation's at the resolution; seconds
-- is the time from the conversation's creation to the resolution.
create table report_resolutions (
    conversation_id  bigint not null,
    stream_version   bigint not null,
    account_id       bigint not null,
    inbox_id         bigint not null,
    assignee_id      bigint,
    team_id          bigint,
    resolved_at      timestamptz not null,
    seconds          double precision not null,
    primary key (conversation_id, stream_version)
);
create index report_resolutions_account_idx on report_resolutions (account_id, resolved_at);
-- ---- webhooks ----
-- Account webhooks (no secret: that stays in the write model).
create table webhooks (
    id             bigint primary key,
    account_id     bigint not null,
    name           text,
    url            text not null,
    subscriptions  jsonb not null default '[]',
    created_at     timestamptz not null,
    updated_at     timestamptz not null
);
create index webhooks_account_idx on webhooks (account_id, id);
