-- The query service's database role: it may read the read model and nothing
-- else (projections::schema grants it USAGE and SELECT on `read_model` each
-- time that schema is created). Roles belong to the cluster, not to one
-- database, so this is idempotent and tolerates a concurrent creator.
-- It logs in without a password under trust auth; elsewhere set one with
-- `alter role chatwoot_reader password '...'` and put it in QUERY_DATABASE_URL.
do $$
begin
    if not exists (select from pg_roles where rolname = 'chatwoot_reader') then
        create role chatwoot_reader login nosuperuser nocreatedb nocreaterole noinherit;
    end if;
exception
    when duplicate_object or unique_violation then null;
end
$$;
