-- Integration hooks: what the write side checks (the hook's account, and at
-- most one hook per account for apps that allow one).

create sequence write_model.hook_ids;

create table write_model.hooks (
    id          bigint primary key,
    account_id  bigint not null references write_model.accounts (id),
    app_id      text not null,
    inbox_id    bigint,
    -- The app allows one hook per account: the unique index below holds it.
    single      boolean not null
);
create unique index hooks_single_app_key on write_model.hooks (account_id, app_id) where single;
create index hooks_inbox_idx on write_model.hooks (inbox_id, app_id) where inbox_id is not null;
