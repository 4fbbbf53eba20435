//! The read-model schema: created from `sql/read_model.sql`, which names its
//! tables unqualified so the same file fills `read_model` (live) or
//! `read_model_next` (a rebuild in progress). See docs/adr/0004.

use anyhow::Context;
use sqlx::{Executor, PgConnection, PgPool};

/// The shape version of `sql/read_model.sql`; bump it with every change to
/// the file and roll the change out with `projections rebuild`.
pub const READ_MODEL_VERSION: i32 = 10;

/// The read-model DDL, unqualified names.
pub const READ_MODEL_SQL: &str = include_str!("../sql/read_model.sql");

/// The live schema the query service reads.
pub const LIVE_SCHEMA: &str = "read_model";

/// Advisory-lock key that serialises schema creation between starters ("rmschema").
const SCHEMA_LOCK: i64 = 0x72_6d_73_63_68_65_6d_61;

/// Creates schema `read_model` if it does not exist, with its
/// `projection_state` row. Concurrent starters are serialised by a
/// transaction-level advisory lock, so exactly one of them creates it.
pub async fn ensure(pool: &PgPool) -> anyhow::Result<()> {
    let mut tx = pool
        .begin()
        .await
        .context("opening the schema transaction")?;
    sqlx::query("select pg_advisory_xact_lock($1)")
        .bind(SCHEMA_LOCK)
        .execute(&mut *tx)
        .await?;
    if exists(&mut tx, LIVE_SCHEMA).await? {
        let version: Option<i32> =
            sqlx::query_scalar("select version from read_model.projection_state where id = 1")
                .fetch_optional(&mut *tx)
                .await
                .context("reading the read model's version")?;
        match version {
            Some(v) if v == READ_MODEL_VERSION => {}
            other => tracing::warn!(
                found = ?other,
                expected = READ_MODEL_VERSION,
                "the read model has another shape version; run `projections rebuild`"
            ),
        }
    } else {
        create_in(&mut tx, LIVE_SCHEMA).await?;
        tracing::info!(schema = LIVE_SCHEMA, "created the read model");
    }
    // Also for a read model created before the role existed.
    grant_reader(&mut tx, LIVE_SCHEMA).await?;
    tx.commit()
        .await
        .context("committing the read-model schema")?;
    Ok(())
}

/// The database role the query service connects as (see the migration
/// `reader_role`): it may only read the read model.
pub const READER_ROLE: &str = "chatwoot_reader";

/// Lets [`READER_ROLE`], if the cluster has it, read every table of
/// `schema_name` (and nothing else: it gets no other grant anywhere).
pub async fn grant_reader(conn: &mut PgConnection, schema_name: &str) -> anyhow::Result<()> {
    let schema = identifier(schema_name)?;
    let role_exists: bool =
        sqlx::query_scalar("select exists (select from pg_roles where rolname = $1)")
            .bind(READER_ROLE)
            .fetch_one(&mut *conn)
            .await?;
    if role_exists {
        conn.execute(
            format!(
                "grant usage on schema {schema} to {READER_ROLE}; \
                 grant select on all tables in schema {schema} to {READER_ROLE};"
            )
            .as_str(),
        )
        .await
        .with_context(|| format!("granting {READER_ROLE} read access to {schema}"))?;
    }
    Ok(())
}

/// Creates schema `schema_name` with the read-model tables and its
/// `projection_state` row at [`READ_MODEL_VERSION`].
///
/// Run it inside a transaction: it leaves `search_path` set to the new schema
/// (`SET LOCAL`) for the rest of that transaction.
pub async fn create_in(conn: &mut PgConnection, schema_name: &str) -> anyhow::Result<()> {
    let schema = identifier(schema_name)?;
    conn.execute(format!("create schema {schema}; set local search_path to {schema};").as_str())
        .await
        .with_context(|| format!("creating schema {schema}"))?;
    conn.execute(READ_MODEL_SQL)
        .await
        .with_context(|| format!("creating the read-model tables in {schema}"))?;
    sqlx::query("insert into projection_state (id, version) values (1, $1)")
        .bind(READ_MODEL_VERSION)
        .execute(&mut *conn)
        .await?;
    // Grants follow the schema through a rebuild's rename.
    grant_reader(conn, schema_name).await
}

/// `VACUUM (ANALYZE)` of every table of `schema_name` (outside a
/// transaction, as `VACUUM` must be): statistics for the planner and the
/// visibility map for index-only scans, after a rebuild or a bulk load.
pub async fn vacuum_analyze(pool: &PgPool, schema_name: &str) -> anyhow::Result<()> {
    let tables = tables(pool, schema_name).await?;
    let tables: Vec<&str> = tables.iter().map(String::as_str).collect();
    vacuum_analyze_tables(pool, schema_name, &tables).await
}

/// The names of the tables of `schema_name`, in order.
pub async fn tables(pool: &PgPool, schema_name: &str) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar("select tablename::text from pg_tables where schemaname = $1 order by 1")
        .bind(schema_name)
        .fetch_all(pool)
        .await
}

/// [`vacuum_analyze`] of some tables of `schema_name`, in one statement.
pub async fn vacuum_analyze_tables(
    pool: &PgPool,
    schema_name: &str,
    tables: &[&str],
) -> anyhow::Result<()> {
    if tables.is_empty() {
        return Ok(());
    }
    let schema = identifier(schema_name)?;
    let names = tables
        .iter()
        .map(|t| identifier(t).map(|t| format!("{schema}.{t}")))
        .collect::<anyhow::Result<Vec<_>>>()?;
    pool.execute(format!("vacuum (analyze) {}", names.join(", ")).as_str())
        .await
        .with_context(|| format!("vacuuming and analyzing {schema_name}"))?;
    Ok(())
}

/// Whether a schema of that name exists.
pub async fn exists(conn: &mut PgConnection, schema_name: &str) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("select exists(select 1 from pg_namespace where nspname = $1)")
        .bind(schema_name)
        .fetch_one(conn)
        .await
}

/// Sets `search_path` to `schema_name` for the rest of the current
/// transaction, so the unqualified names of the apply code land there.
pub async fn use_schema(conn: &mut PgConnection, schema_name: &str) -> anyhow::Result<()> {
    let schema = identifier(schema_name)?;
    conn.execute(format!("set local search_path to {schema}").as_str())
        .await?;
    Ok(())
}

/// A schema, table or constraint name that is safe to splice into SQL:
/// lowercase letters, digits and underscores, not starting with a digit.
/// These names are ours (never user input), so refusing anything else is
/// enough.
pub(crate) fn identifier(name: &str) -> anyhow::Result<&str> {
    let mut chars = name.chars();
    let valid = chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && name.len() < 64;
    anyhow::ensure!(
        valid,
        "{name:?} is not a schema, table or constraint name this crate uses"
    );
    Ok(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_schema_names_are_accepted() {
        assert!(identifier("read_model_next").is_ok());
        assert!(identifier("read_model_old_1732500000000").is_ok());
        assert!(identifier("").is_err());
        assert!(identifier("1abc").is_err());
        assert!(identifier("read_model; drop table x").is_err());
        assert!(identifier("Read_Model").is_err());
    }
}
