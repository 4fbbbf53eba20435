-- Admissions kept by the command service (docs/adr/0011) are forgotten when
-- any table the admission statement reads changes: every transaction that
-- writes one notifies `admissions_changed`, delivered at its commit (none
-- on rollback; Postgres folds a transaction's identical notifications into
-- one). Statement triggers cover every writer, in any process. These tables
-- change seldom (accounts, users' tokens, memberships, inboxes), so the
-- cluster-wide lock a notifying commit holds through its flush (see
-- 20261205300000) is taken seldom; no table of the message path has one.

create function write_model.notify_admissions_changed() returns trigger
language plpgsql as $$
begin
    perform pg_notify('admissions_changed', '');
    return null;
end;
$$;

create trigger access_tokens_admissions_changed
    after insert or update or delete or truncate on write_model.access_tokens
    for each statement execute function write_model.notify_admissions_changed();

create trigger accounts_admissions_changed
    after insert or update or delete or truncate on write_model.accounts
    for each statement execute function write_model.notify_admissions_changed();

create trigger account_users_admissions_changed
    after insert or update or delete or truncate on write_model.account_users
    for each statement execute function write_model.notify_admissions_changed();

create trigger inboxes_admissions_changed
    after insert or update or delete or truncate on write_model.inboxes
    for each statement execute function write_model.notify_admissions_changed();
