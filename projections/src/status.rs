//! Where the projection stands: its checkpoint, its lag behind the log, and
//! how many events it parked (`projections status`).

use chrono::{DateTime, Utc};
use sqlx::PgPool;

/// A snapshot of the live read model's progress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    /// The read model's shape version.
    pub version: i32,
    /// Writing transaction of the last applied event (relay order).
    pub last_txid: i64,
    /// Its log position.
    pub last_position: i64,
    /// Events applied (first applications only).
    pub applied: i64,
    /// When the projection last applied something.
    pub updated_at: DateTime<Utc>,
    /// Events in the log.
    pub log_events: i64,
    /// Highest position in the log.
    pub log_max_position: i64,
    /// Events parked (poison, and those held behind it).
    pub parked: i64,
}

impl Status {
    /// Log events neither applied nor parked yet.
    pub fn pending(&self) -> i64 {
        (self.log_events - self.applied - self.parked).max(0)
    }

    /// Distance in positions between the log's head and the last applied
    /// event. Positions are drawn at insert, not commit, so this is a guide,
    /// not an exact count (see [`Status::pending`]).
    pub fn position_lag(&self) -> i64 {
        (self.log_max_position - self.last_position).max(0)
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "read model version  {}", self.version)?;
        writeln!(f, "applied             {}", self.applied)?;
        writeln!(f, "last txid           {}", self.last_txid)?;
        writeln!(f, "last position       {}", self.last_position)?;
        writeln!(f, "updated at          {}", self.updated_at.to_rfc3339())?;
        writeln!(f, "log events          {}", self.log_events)?;
        writeln!(f, "log max position    {}", self.log_max_position)?;
        writeln!(f, "position lag        {}", self.position_lag())?;
        writeln!(f, "pending events      {}", self.pending())?;
        write!(f, "parked events       {}", self.parked)
    }
}

/// Reads the status of `read_model`.
pub async fn status(pool: &PgPool) -> anyhow::Result<Status> {
    let (version, last_txid, last_position, applied, updated_at): (
        i32,
        i64,
        i64,
        i64,
        DateTime<Utc>,
    ) = sqlx::query_as(
        "select version, last_txid::text::bigint, last_position, applied, updated_at \
             from read_model.projection_state where id = 1",
    )
    .fetch_one(pool)
    .await?;
    let (log_events, log_max_position): (i64, i64) =
        sqlx::query_as("select count(*), coalesce(max(position), 0) from event_store.events")
            .fetch_one(pool)
            .await?;
    let parked: i64 = sqlx::query_scalar("select count(*) from read_model.parked_events")
        .fetch_one(pool)
        .await?;
    Ok(Status {
        version,
        last_txid,
        last_position,
        applied,
        updated_at,
        log_events,
        log_max_position,
        parked,
    })
}
