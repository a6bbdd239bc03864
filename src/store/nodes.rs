//! What several daemons on one database (PostgreSQL) share beyond the rows themselves: the
//! leases of singleton duties, the takeover of attempts whose daemon's lease expired, and the
//! account's slowdown after Bland's 429s. On SQLite the same calls work for the one daemon.

use chrono::{DateTime, Utc};
use sqlx::Row;

use super::backend::{Backend as _, Db, on_db};
use super::{Store, StoreError, millis, stored_time};

/// A call Bland placed for an attempt the database does not have ([`Store::adopt_lost_call`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LostCall {
    pub attempt_id: String,
    pub job_id: i64,
    pub campaign_id: String,
    pub call_id: String,
    pub created_at: DateTime<Utc>,
}

/// The lease of the daemon that runs the singleton duties ([`Store::is_leader`]).
pub const LEADER_LEASE: &str = "leader";

impl Store {
    /// The node name writes are fenced by on PostgreSQL; on SQLite one daemon owns every
    /// attempt (its lock file), including those a previous run of it committed.
    pub(super) fn fence_node(&self) -> Option<&str> {
        self.is_shared().then_some(&*self.node)
    }

    /// Takes or renews the lease `name` for `ttl` on the database's clock: true while this
    /// daemon holds it. A lease another daemon holds is taken only once it has expired (that
    /// daemon died or stalled). The duties it guards are idempotent, so the moment two daemons
    /// both believe they hold it (one stalled past its lease) does no harm.
    pub async fn hold_lease(&self, name: &str, ttl: chrono::Duration) -> Result<bool, StoreError> {
        on_db!(&self.db, |pool| {
            let held: Option<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                "INSERT INTO leases (name, holder, until) VALUES ($1, $2, {now} + $3)
                 ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, until = excluded.until
                   WHERE leases.holder = excluded.holder OR leases.until < {now}
                 RETURNING holder",
                now = pool.db_now()
            )))
            .bind(name)
            .bind(&*self.node)
            .bind(ttl.num_milliseconds())
            .fetch_optional(pool)
            .await?;
            Ok(held.is_some())
        })
    }

    /// Whether this daemon is the leader now: the one of several daemons on PostgreSQL that
    /// holds the leader's lease (taken or renewed by this call, for `[store] lease`) and so runs
    /// the singleton duties — settling other daemons' expired attempts, completing campaigns,
    /// pruning the inbox. Always true on SQLite (one daemon). The duties are idempotent: a
    /// daemon stalled past its lease that still believes it leads does no harm.
    pub async fn is_leader(&self) -> Result<bool, StoreError> {
        if !self.is_shared() {
            return Ok(true);
        }
        self.hold_lease(LEADER_LEASE, chrono::Duration::milliseconds(self.lease_ms)).await
    }

    /// Folds each counter key's rows into one (the leader's duty, on PostgreSQL, where the
    /// report's and `campaign show`'s counters are written as deltas so that no two daemons'
    /// transactions wait on one counter row: migrations_pg/0003_counter_deltas.sql). Readers sum
    /// a key's rows, so a fold changes no figure; it keeps the tables the size of their keys.
    /// Nothing to do on SQLite, which keeps one row per key.
    pub async fn fold_counters(&self) -> Result<(), StoreError> {
        match &self.db {
            Db::Sqlite(_) => {}
            Db::Pg(pool) => {
                sqlx::query("SELECT fold_counters()").execute(pool).await?;
            }
        }
        Ok(())
    }

    /// Who holds the lease `name`, and until when (the database's clock).
    pub async fn lease_holder(&self, name: &str) -> Result<Option<(String, DateTime<Utc>)>, StoreError> {
        on_db!(&self.db, |pool| {
            let row =
                sqlx::query("SELECT holder, until FROM leases WHERE name = $1").bind(name).fetch_optional(pool).await?;
            row.map(|r| Ok((r.try_get("holder")?, stored_time(r.try_get("until")?, "leases.until")?))).transpose()
        })
    }

    /// Attempts still `dialing` whose daemon's lease has expired (it died, or stalled past it):
    /// this daemon takes each over (so that their old owner's writes are fenced off from now
    /// on) and returns them with whether their old owner had started sending them. One it had
    /// not was never sent: it may be voided without asking Bland. One it had is looked up.
    pub async fn take_over_expired(&self) -> Result<Vec<(String, bool)>, StoreError> {
        on_db!(&self.db, |pool| {
            let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
                "UPDATE attempts SET owner = $1, lease_until = {now} + $2
                 WHERE state = 'dialing' AND owner IS NOT NULL AND owner != $1 AND lease_until < {now}
                 RETURNING id, send_started_at",
                now = pool.db_now()
            )))
            .bind(&*self.node)
            .bind(self.lease_ms)
            .fetch_all(pool)
            .await?;
            rows.into_iter()
                .map(|r| Ok((r.try_get("id")?, r.try_get::<Option<i64>, _>("send_started_at")?.is_some())))
                .collect()
        })
    }

    /// Gives a campaign's shared pacing back one call (a send that was never placed; see
    /// `Pacer::refund`). Bounded like the bucket's refunds: a theoretical arrival time in the
    /// past counts as now, so refunds never make a burst larger than `pace.burst`.
    pub async fn refund_pace(&self, campaign_id: &str, pace: super::Pace) -> Result<(), StoreError> {
        on_db!(&self.db, |pool| {
            sqlx::query("UPDATE pacing SET tat = tat - $2 WHERE campaign_id = $1")
                .bind(campaign_id)
                .bind(pace.interval_ms.max(1))
                .execute(pool)
                .await?;
            Ok(())
        })
    }

    /// Of `attempt_ids`, those the database has.
    pub async fn known_attempts(&self, attempt_ids: &[&str]) -> Result<std::collections::HashSet<String>, StoreError> {
        on_db!(&self.db, |pool| {
            let mut known = std::collections::HashSet::new();
            for chunk in attempt_ids.chunks(5000) {
                let mut q: sqlx::QueryBuilder<_> = sqlx::QueryBuilder::new("SELECT id FROM attempts WHERE id IN ");
                super::push_in_list(&mut q, chunk.iter().copied());
                let ids: Vec<String> = q.build_query_scalar().fetch_all(pool).await?;
                known.extend(ids);
            }
            Ok(known)
        })
    }

    /// A call Bland placed whose attempt the database lost (a failover to a standby that had not
    /// received the last commits): written back as an attempt in a call, its job with it, so
    /// that its job is not dialled again and its outcome is polled at once. Only a job still
    /// waiting (queued or waiting to retry) takes it; returns whether it did.
    pub async fn adopt_lost_call(&self, lost: &LostCall, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let now_ms = millis(now);
        on_db!(&self.db, |pool| {
            let mut tx = pool.begin().await?;
            let job = sqlx::query(
                "UPDATE jobs SET state = 'in_call', attempts = attempts + 1, updated_at = $3
                 WHERE id = $1 AND campaign_id = $2 AND (state = 'queued' OR state = 'retry_wait')
                 RETURNING attempts, phone",
            )
            .bind(lost.job_id)
            .bind(&lost.campaign_id)
            .bind(now_ms)
            .fetch_optional(&mut *tx)
            .await?;
            let Some(job) = job else {
                return Ok(false);
            };
            let attempt_no: i64 = job.try_get("attempts")?;
            let phone: String = job.try_get("phone")?;
            sqlx::query(
                "INSERT INTO attempts (id, job_id, campaign_id, phone, attempt_no, state, call_id, dialed_at, sent_at,
                                       expires_at, poll_at, rules_version, owner)
                 VALUES ($1, $2, $3, $4, $5, 'in_call', $6, $7, $8, $9, $8, 'recovered', $10)",
            )
            .bind(&lost.attempt_id)
            .bind(lost.job_id)
            .bind(&lost.campaign_id)
            .bind(phone)
            .bind(attempt_no)
            .bind(&lost.call_id)
            .bind(millis(lost.created_at))
            .bind(now_ms)
            .bind(now_ms + 30 * 60_000)
            .bind(&*self.node)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(true)
        })
    }

    /// Until when every daemon holds its sends back after Bland's 429s, if that is ahead of `now`.
    pub async fn shared_slowdown(&self, now: DateTime<Utc>) -> Result<Option<DateTime<Utc>>, StoreError> {
        on_db!(&self.db, |pool| {
            let until: Option<i64> =
                sqlx::query_scalar("SELECT not_before FROM account_slowdown WHERE id = 1").fetch_optional(pool).await?;
            Ok(until.filter(|&t| t > millis(now)).map(|t| stored_time(t, "account_slowdown.not_before")).transpose()?)
        })
    }

    /// Every daemon holds its sends back until at least `until` (a 429 one of them met).
    pub async fn share_slowdown(&self, until: DateTime<Utc>) -> Result<(), StoreError> {
        on_db!(&self.db, |pool| {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "INSERT INTO account_slowdown (id, not_before) VALUES (1, $1)
                 ON CONFLICT (id) DO UPDATE SET not_before = {}(account_slowdown.not_before, excluded.not_before)",
                pool.greatest()
            )))
            .bind(millis(until))
            .execute(pool)
            .await?;
            Ok(())
        })
    }
}
