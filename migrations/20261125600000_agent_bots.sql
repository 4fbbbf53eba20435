-- Agent bots, the bot connected to each inbox, and single-use SSO login tokens.

create sequence write_model.agent_bot_ids;

-- account_id null: a global bot (made by a platform app).
create table write_model.agent_bots (
    id          bigint primary key,
    account_id  bigint references write_model.accounts (id),
    deleted     boolean not null default false
);
create index agent_bots_account_idx on write_model.agent_bots (account_id) where not deleted;

-- The bot connected to an inbox (has_agent_bot follows it).
alter table write_model.inboxes add column agent_bot_id bigint;
create index inboxes_agent_bot_idx on write_model.inboxes (agent_bot_id, account_id)
    where agent_bot_id is not null;

-- SSO login tokens: only the SHA-256 is stored; each is redeemed at most once
-- (used_at) and only before expires_at.
create table write_model.sso_tokens (
    token_hash  text primary key,
    user_id     bigint not null,
    expires_at  timestamptz not null,
    used_at     timestamptz
);
create index sso_tokens_user_idx on write_model.sso_tokens (user_id);
