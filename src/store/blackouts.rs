//! Emergency blackouts (`switchboard blackout add|list|remove`): nobody in a region (state,
//! province) or a time zone is dialled until they end. Rows are kept after they end or are
//! removed, as the record of what stopped dialling and why.

use super::backend::{Cols, on_db};
use chrono::{DateTime, Utc};
use sqlx::Row;

use super::{Store, StoreError, millis, stored_time};
use crate::compliance::Region;
use crate::window::Blackout;

/// A blackout as listed: the rule, and when it was added and removed.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct BlackoutRecord {
    pub id: i64,
    /// A two-letter region code, or `None` for a zone's blackout.
    pub region: Option<String>,
    pub zone: Option<String>,
    pub starts_at: DateTime<Utc>,
    pub until: DateTime<Utc>,
    pub reason: String,
    pub created_at: DateTime<Utc>,
    pub removed_at: Option<DateTime<Utc>>,
}

impl Store {
    /// Adds a blackout (exactly one of `region` and `zone`); returns its id.
    pub async fn blackout_add(
        &self,
        region: Option<Region>,
        zone: Option<chrono_tz::Tz>,
        starts_at: DateTime<Utc>,
        until: DateTime<Utc>,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<i64, StoreError> {
        on_db!(&self.db, |pool| {
            if region.is_some() == zone.is_some() {
                return Err(StoreError::Conflict("a blackout names exactly one region or one zone".into()));
            }
            if until <= starts_at {
                return Err(StoreError::Conflict("a blackout must end after it starts".into()));
            }
            let id: i64 = sqlx::query_scalar(
            "INSERT INTO blackouts (region, zone, starts_at, until, reason, created_at) VALUES ($1, $2, $3, $4, $5, $6)
             RETURNING id",
        )
        .bind(region.map(Region::code))
        .bind(zone.map(|z| z.name()))
        .bind(millis(starts_at))
        .bind(millis(until))
        .bind(reason)
        .bind(millis(now))
        .fetch_one(pool)
        .await?;
            Ok(id)
        })
    }

    /// Ends a blackout now; `false` when no blackout in force or ahead has that id.
    pub async fn blackout_remove(&self, id: i64, now: DateTime<Utc>) -> Result<bool, StoreError> {
        on_db!(&self.db, |pool| {
            Ok(sqlx::query("UPDATE blackouts SET removed_at = $2 WHERE id = $1 AND removed_at IS NULL AND until > $2")
                .bind(id)
                .bind(millis(now))
                .execute(pool)
                .await?
                .rows_affected()
                == 1)
        })
    }

    /// Every blackout, newest first; with `current`, only those in force or ahead.
    pub async fn blackout_list(&self, current: bool, now: DateTime<Utc>) -> Result<Vec<BlackoutRecord>, StoreError> {
        on_db!(&self.db, |pool| {
            sqlx::query(
                "SELECT id, region, zone, starts_at, until, reason, created_at, removed_at FROM blackouts
             WHERE NOT $1 OR (removed_at IS NULL AND until > $2) ORDER BY id DESC",
            )
            .bind(current)
            .bind(millis(now))
            .fetch_all(pool)
            .await?
            .iter()
            .map(|r| {
                Ok(BlackoutRecord {
                    id: r.try_get("id")?,
                    region: r.try_get("region")?,
                    zone: r.try_get("zone")?,
                    starts_at: stored_time(r.try_get("starts_at")?, "blackouts.starts_at")?,
                    until: stored_time(r.try_get("until")?, "blackouts.until")?,
                    reason: r.try_get("reason")?,
                    created_at: stored_time(r.try_get("created_at")?, "blackouts.created_at")?,
                    removed_at: r
                        .try_get::<Option<i64>, _>("removed_at")?
                        .map(|t| stored_time(t, "blackouts.removed_at"))
                        .transpose()?,
                })
            })
            .collect()
        })
    }

    /// The blackouts in force at `now` or ahead of it, as the window applies them.
    pub async fn active_blackouts(&self, now: DateTime<Utc>) -> Result<Vec<Blackout>, StoreError> {
        on_db!(&self.db, |pool| {
            sqlx::query(
                "SELECT id, region, zone, starts_at, until, reason FROM blackouts
             WHERE removed_at IS NULL AND until > $1 ORDER BY id",
            )
            .bind(millis(now))
            .fetch_all(pool)
            .await?
            .iter()
            .map(blackout)
            .collect()
        })
    }
}

fn blackout<R: Cols>(r: &R) -> Result<Blackout, StoreError> {
    let corrupt = |what: &str| StoreError::Corrupt(format!("blackouts.{what}"));
    Ok(Blackout {
        id: r.get("id")?,
        region: r
            .get::<Option<&str>>("region")?
            .map(|g| Region::parse(g).map_err(|_| corrupt("region")))
            .transpose()?,
        zone: r.get::<Option<&str>>("zone")?.map(|z| z.parse().map_err(|_| corrupt("zone"))).transpose()?,
        start: stored_time(r.get("starts_at")?, "blackouts.starts_at")?,
        until: stored_time(r.get("until")?, "blackouts.until")?,
        reason: r.get("reason")?,
    })
}
