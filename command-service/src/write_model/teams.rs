//! Write-side lookups for teams, team and inbox memberships, and the
//! conversation facts (inbox, status, assignee, team) that visibility,
//! assignment and team deletion decide on. Updates take the command's
//! connection so they commit with its events.

use sqlx::{PgConnection, PgExecutor};

/// A team of the account: `Some(allow_auto_assign)`, or `None` if it is not there.
pub async fn team_in_account(
    conn: &mut PgConnection,
    account_id: i64,
    team_id: i64,
) -> Result<Option<bool>, sqlx::Error> {
    sqlx::query_scalar(
        "select allow_auto_assign from write_model.teams where id = $1 and account_id = $2",
    )
    .bind(team_id)
    .bind(account_id)
    .fetch_optional(conn)
    .await
}

/// Whether a team of the account other than `except` has this (normalized) name.
pub async fn team_name_taken(
    conn: &mut PgConnection,
    account_id: i64,
    name: &str,
    except: Option<i64>,
) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "select exists(select 1 from write_model.teams \
         where account_id = $1 and name = $2 and id <> coalesce($3, -1))",
    )
    .bind(account_id)
    .bind(name)
    .bind(except)
    .fetch_one(conn)
    .await
}

/// Records a team or its new name and auto-assign flag (the unique name
/// constraint `teams_account_name_key` catches races).
pub async fn upsert_team(
    conn: &mut PgConnection,
    team_id: i64,
    account_id: i64,
    name: &str,
    allow_auto_assign: bool,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "insert into write_model.teams (id, account_id, name, allow_auto_assign) values ($1, $2, $3, $4) \
         on conflict (id) do update set name = excluded.name, allow_auto_assign = excluded.allow_auto_assign",
    )
    .bind(team_id)
    .bind(account_id)
    .bind(name)
    .bind(allow_auto_assign)
    .execute(conn)
    .await
    .map(|_| ())
}

/// Forgets a team (its memberships cascade) and frees its name.
pub async fn delete_team(conn: &mut PgConnection, team_id: i64) -> Result<(), sqlx::Error> {
    sqlx::query("delete from write_model.teams where id = $1")
        .bind(team_id)
        .execute(conn)
        .await
        .map(|_| ())
}

/// Applies a membership change to `write_model.team_members`.
pub async fn change_team_members(
    conn: &mut PgConnection,
    team_id: i64,
    added: &[i64],
    removed: &[i64],
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "insert into write_model.team_members (team_id, user_id) \
         select $1, u from unnest($2::bigint[]) u on conflict do nothing",
    )
    .bind(team_id)
    .bind(added)
    .execute(&mut *conn)
    .await?;
    sqlx::query("delete from write_model.team_members where team_id = $1 and user_id = any($2)")
        .bind(team_id)
        .bind(removed)
        .execute(conn)
        .await
        .map(|_| ())
}

/// Applies a membership change to `write_model.inbox_members`.
pub async fn change_inbox_members(
    conn: &mut PgConnection,
    inbox_id: i64,
    account_id: i64,
    added: &[i64],
    removed: &[i64],
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "insert into write_model.inbox_members (inbox_id, user_id, account_id) \
         select $1, u, $2 from unnest($3::bigint[]) u on conflict do nothing",
    )
    .bind(inbox_id)
    .bind(account_id)
    .bind(added)
    .execute(&mut *conn)
    .await?;
    sqlx::query("delete from write_model.inbox_members where inbox_id = $1 and user_id = any($2)")
        .bind(inbox_id)
        .bind(removed)
        .execute(conn)
        .await
        .map(|_| ())
}

/// Which of `user_ids` are not members of the account.
pub async fn not_account_members<'e>(
    db: impl PgExecutor<'e>,
    account_id: i64,
    user_ids: &[i64],
) -> Result<Vec<i64>, sqlx::Error> {
    sqlx::query_scalar(
        "select u from unnest($2::bigint[]) u \
         where not exists (select 1 from write_model.account_users au \
                           where au.account_id = $1 and au.user_id = u) \
         order by u",
    )
    .bind(account_id)
    .bind(user_ids)
    .fetch_all(db)
    .await
}

/// Whether the user may work the inbox: an administrator of its account, or
/// a member of the inbox.
pub async fn has_inbox_access<'e>(
    db: impl PgExecutor<'e>,
    account_id: i64,
    inbox_id: i64,
    user_id: i64,
) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "select exists(select 1 from write_model.account_users au \
                       where au.account_id = $1 and au.user_id = $3 and au.role = 'administrator') \
             or exists(select 1 from write_model.inbox_members m \
                       join write_model.account_users au \
                         on au.account_id = m.account_id and au.user_id = m.user_id \
                       where m.inbox_id = $2 and m.user_id = $3 and m.account_id = $1)",
    )
    .bind(account_id)
    .bind(inbox_id)
    .bind(user_id)
    .fetch_one(db)
    .await
}

/// Records a conversation's inbox, status, assignee and team.
pub async fn set_conversation_facts(
    conn: &mut PgConnection,
    conversation: &domain::conversation::Conversation,
) -> Result<(), sqlx::Error> {
    let Some((id, _, _)) = conversation.ids else {
        return Ok(());
    };
    sqlx::query(
        "update write_model.conversations set inbox_id = $2, status = coalesce($3, status), \
           assignee_id = $4, team_id = $5 where id = $1",
    )
    .bind(id)
    .bind(conversation.inbox_id)
    .bind(conversation.status.map(|s| s.as_str()))
    .bind(conversation.assignee_id)
    .bind(conversation.team_id)
    .execute(conn)
    .await
    .map(|_| ())
}

/// The account's conversations that have the team.
pub async fn conversations_of_team(
    conn: &mut PgConnection,
    account_id: i64,
    team_id: i64,
) -> Result<Vec<i64>, sqlx::Error> {
    sqlx::query_scalar(
        "select id from write_model.conversations where account_id = $1 and team_id = $2 order by id",
    )
    .bind(account_id)
    .bind(team_id)
    .fetch_all(conn)
    .await
}

/// Who an auto-assigning team hands a conversation of `inbox_id` to: a team
/// member who is a member of the account and of the inbox, with the fewest
/// open conversations assigned, ties by lowest user id.
pub async fn auto_assignee(
    conn: &mut PgConnection,
    account_id: i64,
    team_id: i64,
    inbox_id: i64,
) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar(
        "select tm.user_id from write_model.team_members tm \
         join write_model.account_users au on au.account_id = $1 and au.user_id = tm.user_id \
         join write_model.inbox_members im on im.inbox_id = $3 and im.user_id = tm.user_id \
         where tm.team_id = $2 \
         order by (select count(*) from write_model.conversations c \
                   where c.account_id = $1 and c.assignee_id = tm.user_id and c.status = 'open'), \
                  tm.user_id \
         limit 1",
    )
    .bind(account_id)
    .bind(team_id)
    .bind(inbox_id)
    .fetch_optional(conn)
    .await
}
