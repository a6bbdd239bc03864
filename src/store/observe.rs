//! What `/readyz`, `/metrics` and the dashboard ask the database that no other part needs:
//! whether it answers, whether its schema is the one this binary was built for, what a
//! campaign's calls cost, and its latest failed sends. Data enters from the pool; it leaves as
//! plain values.

use super::backend::on_db;
use chrono::{DateTime, Utc};
use sqlx::Row;

use super::{Store, StoreError, millis, stored_time};

/// A campaign's failed sends since some instant ([`Store::send_errors`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct SendErrors {
    /// Sends Bland turned away with a 429 (the account's rate or concurrency limit).
    pub rate_limited: i64,
    /// The latest failed sends, newest first.
    pub latest: Vec<SendErrorAt>,
}

/// One failed send.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct SendErrorAt {
    /// When it failed.
    pub at: DateTime<Utc>,
    /// Why, as the Bland client said it.
    pub error: String,
}

/// How the database's applied migrations compare with the binary's (`migrations/`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MigrationStatus {
    /// The binary's migrations not applied to the database.
    pub pending: Vec<i64>,
    /// Applied migrations the binary does not know (a newer switchboard migrated the database).
    pub unknown: Vec<i64>,
    /// Applied migrations whose text differs from the binary's, or that failed half-way.
    pub mismatched: Vec<i64>,
}

impl MigrationStatus {
    /// The database's schema is exactly the binary's.
    pub fn is_current(&self) -> bool {
        self.pending.is_empty() && self.unknown.is_empty() && self.mismatched.is_empty()
    }
}

impl std::fmt::Display for MigrationStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.is_current() {
            return f.write_str("current");
        }
        let mut parts = Vec::new();
        for (what, versions) in [
            ("not applied", &self.pending),
            ("unknown to this binary", &self.unknown),
            ("changed or failed", &self.mismatched),
        ] {
            if !versions.is_empty() {
                let list: Vec<String> = versions.iter().map(i64::to_string).collect();
                parts.push(format!("{what}: {}", list.join(", ")));
            }
        }
        f.write_str(&parts.join("; "))
    }
}

impl Store {
    /// One trivial query: the database answers.
    pub async fn ping(&self) -> Result<(), StoreError> {
        on_db!(&self.db, |pool| {
            sqlx::query("SELECT 1").execute(pool).await?;
            Ok(())
        })
    }

    /// The applied migrations against the binary's set.
    pub async fn migration_status(&self) -> Result<MigrationStatus, StoreError> {
        let migrator = self.migrator();
        on_db!(&self.db, |pool| {
            let rows = sqlx::query("SELECT version, checksum, success FROM _sqlx_migrations ORDER BY version")
                .fetch_all(pool)
                .await?;
            let mut status = MigrationStatus::default();
            let mut applied = std::collections::BTreeMap::new();
            for row in rows {
                let version: i64 = row.try_get("version")?;
                let checksum: Vec<u8> = row.try_get("checksum")?;
                let success: bool = row.try_get("success")?;
                applied.insert(version, (checksum, success));
            }
            for m in migrator.iter().filter(|m| !m.migration_type.is_down_migration()) {
                match applied.remove(&m.version) {
                    None => status.pending.push(m.version),
                    Some((checksum, success)) if !success || checksum != *m.checksum => {
                        status.mismatched.push(m.version)
                    }
                    Some(_) => {}
                }
            }
            status.unknown = applied.into_keys().collect();
            Ok(status)
        })
    }

    /// The campaign's sends that failed after `since`: how many were 429s (their error holds
    /// `rate_limited_mark`), and the latest `limit` errors. Both read the attempts of that period
    /// only (by campaign and dial time).
    pub async fn send_errors(
        &self,
        campaign_id: &str,
        since: DateTime<Utc>,
        limit: u32,
        rate_limited_mark: &str,
    ) -> Result<SendErrors, StoreError> {
        on_db!(&self.db, |pool| {
            let rate_limited: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM attempts
             WHERE campaign_id = $1 AND dialed_at > $2 AND state = 'not_sent' AND send_error LIKE '%' || $3 || '%'",
            )
            .bind(campaign_id)
            .bind(millis(since))
            .bind(rate_limited_mark)
            .fetch_one(pool)
            .await?;
            let rows = sqlx::query(
                "SELECT COALESCE(ended_at, dialed_at) AS at, send_error FROM attempts
             WHERE campaign_id = $1 AND dialed_at > $2 AND send_error IS NOT NULL
             ORDER BY dialed_at DESC LIMIT $3",
            )
            .bind(campaign_id)
            .bind(millis(since))
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await?;
            let mut latest = Vec::with_capacity(rows.len());
            for row in rows {
                latest.push(SendErrorAt {
                    at: stored_time(row.try_get("at")?, "attempts.ended_at")?,
                    error: row.try_get("send_error")?,
                });
            }
            Ok(SendErrors { rate_limited, latest })
        })
    }

    /// What the campaign's calls have cost, in USD: the sum of the prices Bland reported (from
    /// the counters of migrations/0009_report_counters.sql, not the attempts).
    pub async fn call_spend_usd(&self, campaign_id: &str) -> Result<f64, StoreError> {
        on_db!(&self.db, |pool| {
            Ok(sqlx::query_scalar(
                "SELECT CAST(COALESCE(SUM(cost), 0) AS DOUBLE PRECISION) FROM dial_counters WHERE campaign_id = $1",
            )
            .bind(campaign_id)
            .fetch_one(pool)
            .await?)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn send_errors_count_the_period_s_429s_and_list_its_latest_errors_newest_first() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("e.db")).await.unwrap();
        for sql in [
            "INSERT INTO campaigns (id, name, state, spec_toml, spec_json, created_at, updated_at)
             VALUES ('c', 'C', 'running', '', '{}', 0, 0), ('d', 'D', 'running', '', '{}', 0, 0)",
            "INSERT INTO jobs (id, campaign_id, phone, timezones, zone_source, updated_at)
             VALUES (1, 'c', '+14155550001', 'America/New_York', 'default', 0),
                    (2, 'd', '+14155550002', 'America/New_York', 'default', 0)",
            // (attempt, campaign, state, dialled at, error): minute 0 is before the period asked.
            "INSERT INTO attempts (id, job_id, campaign_id, phone, attempt_no, state, dialed_at, expires_at, ended_at, send_error)
             VALUES ('a0', 1, 'c', '+14155550001', 1, 'not_sent', 0, 0, 0, 'Bland rate-limited send call (HTTP 429), retry after 3s'),
                    ('a1', 1, 'c', '+14155550001', 1, 'not_sent', 60000, 0, 61000, 'Bland rate-limited send call (HTTP 429), no Retry-After given'),
                    ('a2', 1, 'c', '+14155550001', 1, 'not_sent', 120000, 0, 121000, 'send call failed transiently (Connect): refused'),
                    ('a3', 1, 'c', '+14155550001', 1, 'ended', 180000, 0, 240000, NULL),
                    ('a4', 2, 'd', '+14155550002', 1, 'not_sent', 90000, 0, 91000, 'Bland rate-limited send call (HTTP 429), retry after 1s')",
        ] {
            sqlx::query(sql).execute(store.sqlite_pool()).await.unwrap();
        }
        let since = DateTime::from_timestamp_millis(30_000).unwrap();
        let at = |ms| DateTime::from_timestamp_millis(ms).unwrap();

        let errors = store.send_errors("c", since, 5, "(HTTP 429)").await.unwrap();

        assert_eq!(errors.rate_limited, 1, "a1 only: a0 is before the period, a4 another campaign's");
        let latest: Vec<(DateTime<Utc>, &str)> = errors.latest.iter().map(|e| (e.at, e.error.as_str())).collect();
        assert_eq!(
            latest,
            vec![
                (at(121_000), "send call failed transiently (Connect): refused"),
                (at(61_000), "Bland rate-limited send call (HTTP 429), no Retry-After given"),
            ]
        );
        assert_eq!(store.send_errors("c", since, 1, "(HTTP 429)").await.unwrap().latest.len(), 1, "at most `limit`");
    }

    #[tokio::test]
    async fn a_fresh_database_is_current_and_a_newer_or_changed_migration_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("m.db")).await.unwrap();
        store.ping().await.unwrap();
        let status = store.migration_status().await.unwrap();
        assert!(status.is_current(), "{status:?}");
        assert_eq!(status.to_string(), "current");

        let first = super::super::MIGRATOR.iter().next().unwrap().version;
        sqlx::query(
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time)
             VALUES (9999, 'from a newer switchboard', 1, x'00', 0)",
        )
        .execute(store.sqlite_pool())
        .await
        .unwrap();
        sqlx::query("UPDATE _sqlx_migrations SET checksum = x'01' WHERE version = $1")
            .bind(first)
            .execute(store.sqlite_pool())
            .await
            .unwrap();
        let status = store.migration_status().await.unwrap();
        assert_eq!(status, MigrationStatus { pending: vec![], unknown: vec![9999], mismatched: vec![first] });
        assert!(!status.is_current());
        assert!(status.to_string().contains("unknown to this binary: 9999"), "{status}");

        sqlx::query("DELETE FROM _sqlx_migrations WHERE version = $1")
            .bind(first)
            .execute(store.sqlite_pool())
            .await
            .unwrap();
        assert_eq!(store.migration_status().await.unwrap().pending, vec![first]);
    }
}
