-- Teams, team and inbox memberships, and the conversation facts the write
-- side needs for visibility, assignment and team deletion.

create sequence write_model.team_ids;

-- A deleted team's row is removed, which frees its name.
create table write_model.teams (
    id                 bigint primary key,
    account_id         bigint not null references write_model.accounts (id),
    name               text not null,
    allow_auto_assign  boolean not null default true,
    constraint teams_account_name_key unique (account_id, name)
);

create table write_model.team_members (
    team_id  bigint not null references write_model.teams (id) on delete cascade,
    user_id  bigint not null,
    primary key (team_id, user_id)
);

create table write_model.inbox_members (
    inbox_id    bigint not null references write_model.inboxes (id),
    user_id     bigint not null,
    account_id  bigint not null,
    primary key (inbox_id, user_id)
);
create index inbox_members_user_idx on write_model.inbox_members (account_id, user_id);

alter table write_model.conversations
    add column inbox_id     bigint,
    add column status       text not null default 'open',
    add column assignee_id  bigint,
    add column team_id      bigint;

-- Conversations written before this migration: their facts from the log.
update write_model.conversations c
   set inbox_id = (e.payload ->> 'inbox_id')::bigint,
       status = e.payload ->> 'status',
       assignee_id = (e.payload ->> 'assignee_id')::bigint,
       team_id = (e.payload ->> 'team_id')::bigint
  from event_store.events e
 where e.stream_id = 'conversation:' || c.id
   and e.event_type = 'ConversationCreated';

update write_model.conversations c
   set status = s.to_status
  from (select distinct on (stream_id) stream_id, payload ->> 'to' as to_status
          from event_store.events
         where event_type = 'ConversationStatusChanged'
         order by stream_id, stream_version desc) s
 where s.stream_id = 'conversation:' || c.id;

create index conversations_team_idx on write_model.conversations (account_id, team_id)
    where team_id is not null;
create index conversations_assignee_idx on write_model.conversations (account_id, assignee_id, status)
    where assignee_id is not null;
