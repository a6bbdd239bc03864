//! The dispatcher's queries: claiming due jobs, committing attempts as `dialing` before the
//! POST, recording what the POST returned, and the ledger the caps are counted from.
//!
//! Every transition is guarded by the state it expects (`… WHERE id = ? AND state = 'dialing'`)
//! so a concurrent CLI command (cancel, DNC) or a webhook that got there first wins cleanly.

use super::backend::{Backend as _, Cols, Conn, on_conn, on_db};
use std::collections::HashMap;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use sqlx::{QueryBuilder, Row};

use super::{
    CapUsage, JobState, Store, StoreError, ZoneSource, millis, push_in_list, quoted, stored_phone, stored_regions,
    stored_time, stored_zones,
};
use crate::compliance::Region;
use crate::phone::PhoneNumber;

/// A job the dispatcher has claimed (now `dialing`, no attempt row yet).
#[derive(Debug, Clone)]
pub struct ClaimedJob {
    pub id: i64,
    pub campaign_id: String,
    pub phone: PhoneNumber,
    /// The recipient's other columns as stored (JSON), read only when a call is built.
    pub variables: String,
    /// The names of `variables` when it is an array of values (its import's columns).
    pub variable_names: Option<String>,
    /// The zones whose hours the call must respect.
    pub timezones: Vec<Tz>,
    pub zone_source: ZoneSource,
    /// The zones the number itself suggests, when it suggests any.
    pub number_zones: Option<Vec<Tz>>,
    /// The regions (states, provinces) whose rules apply.
    pub regions: Vec<Region>,
    /// Attempts made before this one.
    pub attempts: i64,
    /// The id of its last attempt when that was certainly never placed (voided): the next one
    /// is sent under it.
    pub resend_attempt_id: Option<String>,
}

/// A dial to a number, as the per-number and frequency caps count it.
#[derive(Debug, Clone, PartialEq)]
pub struct RecentDial {
    pub at: DateTime<Utc>,
    /// Its campaign's `[compliance] subject` (the campaign id when it names none).
    pub subject: String,
}

/// An attempt about to be sent: committed as `dialing` before the POST.
#[derive(Debug, Clone)]
pub struct NewAttempt {
    pub id: String,
    pub job_id: i64,
    pub campaign_id: String,
    pub phone: PhoneNumber,
    pub attempt_no: i64,
    /// Until when it holds a concurrency slot at most.
    pub expires_at: DateTime<Utc>,
    /// When the poller first asks Bland about it, if no webhook has settled it by then.
    pub poll_at: DateTime<Utc>,
    /// What it holds against the spend limits until Bland reports its price (its worst case).
    pub reserved_usd: f64,
    /// The rule set that allowed it (`RuleSet::version`, or `informational`).
    pub rules_version: String,
}

/// What to do with a claimed job that is not dialled now.
#[derive(Debug, Clone)]
pub enum Deferral {
    /// Back to the queue until `at` (window closed, per-number cap, 429 …).
    Requeue { job_id: i64, at: DateTime<Utc> },
    /// On the do-not-call list.
    Suppress { job_id: i64, reason: String },
    /// Cannot ever be dialled (e.g. a placeholder without a value).
    Fail { job_id: i64, reason: String },
}

impl Deferral {
    pub fn job_id(&self) -> i64 {
        match self {
            Deferral::Requeue { job_id, .. } | Deferral::Suppress { job_id, .. } | Deferral::Fail { job_id, .. } => {
                *job_id
            }
        }
    }
}

/// The lock every daemon's [`Store::commit_claims`] takes with an [`Admission`].
const DISPATCH_LOCK: &str = "dispatch";

/// What the caps are judged on inside [`Store::commit_claims`]: every daemon's committed dials.
#[derive(Debug, Clone, Copy, Default)]
pub struct AdmissionFacts {
    /// The campaign's dials in the last minute, hour and day, and its calls holding a slot.
    pub campaign: CapUsage,
    /// The same for the whole account.
    pub account: CapUsage,
    /// What the campaign's calls count against its spend limit (USD).
    pub campaign_spend: f64,
    /// What the account's calls of the last 24 hours count against its daily limit (USD).
    pub account_spend: f64,
}

/// The caps a commit is judged against (several daemons; see [`Store::commit_claims`]).
pub struct Admission<'a> {
    /// How many calls the caps leave room for, given the usage.
    pub room: &'a (dyn Fn(&AdmissionFacts) -> u32 + Send + Sync),
    /// The campaign's shared pacing, if it is paced.
    pub pace: Option<Pace>,
    /// How far back a number's dials count (the longest frequency cap's window, a day at least).
    pub lookback: chrono::Duration,
    /// The campaign's subject (what the state frequency caps count by).
    pub subject: &'a str,
    /// Whether the job's number may be dialled given its dials (every daemon's, across
    /// campaigns, oldest first): the per-number daily cap and the state frequency caps.
    pub number_allows: &'a (dyn Fn(i64, &[RecentDial]) -> bool + Send + Sync),
}

/// A campaign's pacing shared by every daemon: a generic cell rate algorithm (GCRA) whose
/// theoretical arrival time is stored in `pacing`: one call every `interval_ms`, in bursts of
/// up to `burst`.
#[derive(Debug, Clone, Copy)]
pub struct Pace {
    pub interval_ms: i64,
    pub burst: u32,
}

impl Pace {
    /// How many calls may go at `now` given the stored arrival time `tat`.
    pub fn allowed(&self, tat: Option<i64>, now: i64) -> u32 {
        let interval = self.interval_ms.max(1);
        let tat = tat.unwrap_or(i64::MIN).max(now);
        // A call conforms while the arrival time it leaves is within the burst's tolerance.
        let tolerance = interval.saturating_mul(i64::from(self.burst));
        let free = now.saturating_add(tolerance).saturating_sub(tat);
        u32::try_from((free / interval).max(0)).unwrap_or(u32::MAX)
    }

    /// The arrival time after `n` calls at `now`.
    pub fn after(&self, tat: Option<i64>, now: i64, n: u32) -> i64 {
        tat.unwrap_or(i64::MIN).max(now).saturating_add(self.interval_ms.max(1).saturating_mul(i64::from(n)))
    }
}

/// Dials in the last minute, hour and day (sent or being sent), and calls holding a slot, of
/// one campaign or (`None`) the account, read inside a transaction. PostgreSQL only (the
/// admission is for several daemons).
async fn usage_in(conn: Conn<'_>, campaign_id: Option<&str>, now_ms: i64) -> Result<CapUsage, StoreError> {
    on_conn!(conn, |conn| {
        let row = sqlx::query(
            "SELECT COUNT(*) FILTER (WHERE dialed_at > $1) AS minute, COUNT(*) FILTER (WHERE dialed_at > $2) AS hour,
                COUNT(*) FILTER (WHERE dialed_at > $3) AS day,
                COUNT(*) FILTER (WHERE (state = 'dialing' OR state = 'in_call') AND expires_at > $5) AS open
         FROM attempts
         WHERE (dialed_at > $3 OR ((state = 'dialing' OR state = 'in_call') AND expires_at > $5))
           AND state != 'not_sent' AND (CAST($4 AS TEXT) IS NULL OR campaign_id = $4)",
        )
        .bind(now_ms - 60_000)
        .bind(now_ms - 3_600_000)
        .bind(now_ms - 86_400_000)
        .bind(campaign_id)
        .bind(now_ms)
        .fetch_one(&mut *conn)
        .await?;
        let n = |v: i64| u32::try_from(v).unwrap_or(u32::MAX);
        Ok(CapUsage {
            minute: n(row.try_get("minute")?),
            hour: n(row.try_get("hour")?),
            day: n(row.try_get("day")?),
            open: n(row.try_get("open")?),
        })
    })
}

/// What a campaign's calls count against its spend limit, or (`None`) the account's calls of
/// the last 24 hours against its daily limit (USD), as `Store::campaign_spend` and
/// `Store::spend_since` count them, read inside a transaction.
async fn spend_in(conn: Conn<'_>, campaign_id: Option<&str>, now_ms: i64) -> Result<f64, StoreError> {
    on_conn!(conn, |conn| {
        Ok(sqlx::query_scalar(
        "SELECT CAST(COALESCE(SUM(COALESCE(price, CASE WHEN state = 'failed' THEN 0 ELSE COALESCE(reserved_usd, 0) END)), 0)
                     AS DOUBLE PRECISION)
         FROM attempts
         WHERE state != 'not_sent' AND (CASE WHEN CAST($1 AS TEXT) IS NULL THEN dialed_at > $2 ELSE campaign_id = $1 END)",
    )
    .bind(campaign_id)
    .bind(now_ms - 86_400_000)
    .fetch_one(&mut *conn)
    .await?)
    })
}

/// An attempt still `dialing` with no send in progress: after a crash or an ambiguous failure.
#[derive(Debug, Clone)]
pub struct PendingAttempt {
    pub id: String,
    pub dialed_at: DateTime<Utc>,
    /// Its job, as a claim would return it (`attempts`: those before this one).
    pub job: ClaimedJob,
}

/// A [`ClaimedJob`] from a row with its columns (job id as `id`).
fn claimed_job<R: Cols>(r: &R) -> Result<ClaimedJob, StoreError> {
    Ok(ClaimedJob {
        id: r.get("id")?,
        campaign_id: r.get("campaign_id")?,
        phone: stored_phone(r.get("phone")?)?,
        variables: r.get("variables")?,
        variable_names: r.get("variable_names")?,
        timezones: stored_zones(r.get("timezones")?, "jobs.timezones")?,
        zone_source: ZoneSource::from_sql(r.get("zone_source")?)?,
        number_zones: r
            .get::<Option<&str>>("number_zones")?
            .map(|z| stored_zones(z, "jobs.number_zones"))
            .transpose()?,
        regions: stored_regions(r.get("regions")?)?,
        attempts: r.get("attempts")?,
        resend_attempt_id: r.get("resend_attempt_id")?,
    })
}

/// The start of an update for jobs just put back to wait (queued, or waiting to retry; the
/// caller pushes which ones): a job whose campaign was cancelled meanwhile is cancelled too, not
/// left waiting in a campaign that will never run again — the same jobs cancelling a campaign
/// cancels.
pub(super) fn cancel_if_campaign_cancelled<DB>(now_ms: i64) -> QueryBuilder<DB>
where
    DB: sqlx::Database,
    for<'t> i64: sqlx::Encode<'t, DB> + sqlx::Type<DB>,
{
    let mut q = QueryBuilder::new("UPDATE jobs SET state = 'cancelled', reason = 'campaign cancelled', updated_at = ");
    q.push_bind(now_ms).push(
        " WHERE state IN ('queued', 'retry_wait') AND campaign_id IN (SELECT id FROM campaigns WHERE state = 'cancelled') AND ",
    );
    q
}

/// The attempts [`Store::pending_attempts`] returns. `state IN ('dialing', 'in_call')` is the
/// partial index `attempts_open`'s own condition, written out so that SQLite searches the few
/// `dialing` attempts through it: without it, the `OR` made SQLite walk every attempt ever
/// made in `dialed_at` order, at every dispatcher step (10 ms a step at 100,000 attempts).
const PENDING_ATTEMPTS: &str = "SELECT a.id AS attempt_id, a.dialed_at, a.job_id AS id, a.campaign_id, a.phone,
        a.attempt_no - 1 AS attempts, j.variables, j.timezones, j.zone_source, j.number_zones, j.regions,
        NULL AS resend_attempt_id,
        i.columns AS variable_names
 FROM attempts a JOIN jobs j ON j.id = a.job_id LEFT JOIN imports i ON i.id = j.import_id
 WHERE a.state IN ('dialing', 'in_call') AND a.state = 'dialing'
   AND (a.dialed_at < $1 OR a.lookup_at <= $2)
   AND (CAST($3 AS TEXT) IS NULL OR a.owner IS NULL OR a.owner = $3)
 ORDER BY a.dialed_at";

impl Store {
    /// Retry waits that are due go back to the queue.
    pub async fn release_due_retries(&self, campaign_id: &str, now: DateTime<Utc>) -> Result<u64, StoreError> {
        on_db!(&self.db, |pool| {
            let now_ms = millis(now);
            Ok(sqlx::query(
                "UPDATE jobs SET state = 'queued', updated_at = $3
             WHERE campaign_id = $1 AND state = 'retry_wait' AND next_attempt_at <= $2",
            )
            .bind(campaign_id)
            .bind(now_ms)
            .bind(now_ms)
            .execute(pool)
            .await?
            .rows_affected())
        })
    }

    /// Jobs left `dialing` with no attempt being dialled: the process died (or a step failed)
    /// between claiming them and committing their attempts. Nothing was sent for them — a send
    /// goes out only after its attempt is committed — so they go back to the queue, due at once
    /// (or are cancelled with their campaign). Returns how many were released.
    ///
    /// Only for a moment when no claim of this daemon is outstanding (the dispatcher calls it
    /// between steps). Another daemon's claims (PostgreSQL) are released only once their lease
    /// has expired on the database's clock: that daemon died or stalled, and its commit is
    /// fenced off by the claim (see [`Store::commit_claims`]).
    pub async fn release_orphaned_claims(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        on_db!(&self.db, |pool| {
            let now_ms = millis(now);
            // Read first: a write would take the write lock on every call, and there is rarely
            // anything to release. `a.state != 'not_sent'` lets SQLite use the partial index on
            // (job_id, attempt_no).
            let orphaned = format!(
                "jobs.state = 'dialing' AND NOT EXISTS (
                SELECT 1 FROM attempts a WHERE a.job_id = jobs.id AND a.state != 'not_sent' AND a.state = 'dialing')
             AND (jobs.claimed_by IS NULL OR jobs.claimed_by = {} OR jobs.claim_until < {})",
                quoted(&self.node),
                pool.db_now()
            );
            let orphaned = orphaned.as_str();
            let ids: Vec<i64> = QueryBuilder::new(
                // CROSS JOIN: campaign by campaign through `jobs_due`, never a scan of every job.
                format!(
                "SELECT jobs.id FROM campaigns {} jobs ON jobs.campaign_id = campaigns.id AND jobs.state = 'dialing'
             WHERE ",
                pool.cross_join()
            ),
            )
            .push(orphaned)
            .build_query_scalar()
            .fetch_all(pool)
            .await?;
            if ids.is_empty() {
                return Ok(0);
            }
            let mut tx = pool.begin().await?;
            let mut released = 0;
            // In chunks well inside SQLite's limit on bound parameters (many campaigns' claims).
            for chunk in ids.chunks(10_000) {
                let ids_in = |q: &mut QueryBuilder<_>| {
                    q.push("id IN ");
                    push_in_list(q, chunk.iter().copied());
                };
                let mut q: QueryBuilder<_> = QueryBuilder::new("UPDATE jobs SET state = 'queued', updated_at = ");
                q.push_bind(now_ms).push(" WHERE ");
                ids_in(&mut q);
                q.push(" AND ").push(orphaned);
                released += q.build().execute(&mut *tx).await?.rows_affected();
                let mut q = cancel_if_campaign_cancelled(now_ms);
                ids_in(&mut q);
                q.build().execute(&mut *tx).await?;
            }
            tx.commit().await?;
            Ok(released)
        })
    }

    /// Claims up to `limit` due jobs of one campaign, oldest due first, in one statement.
    pub async fn claim_due(
        &self,
        campaign_id: &str,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<ClaimedJob>, StoreError> {
        on_db!(&self.db, |pool| {
            let now_ms = millis(now);
            if limit == 0 {
                return Ok(Vec::new());
            }
            // Each claim is this daemon's, on a lease: daemons side by side skip each other's rows
            // (PostgreSQL), and a claim whose daemon died is released when its lease expires.
            //
            // On PostgreSQL the rows are picked in a CTE, which runs once: as `id IN (subquery)`
            // the planner may run a `SKIP LOCKED` subquery again and claim more than `limit`.
            let returning = "RETURNING jobs.id, jobs.campaign_id, jobs.phone, jobs.variables, jobs.timezones,
                       jobs.zone_source, jobs.number_zones, jobs.regions, jobs.attempts, jobs.resend_attempt_id,
                       (SELECT columns FROM imports WHERE imports.id = jobs.import_id) AS variable_names";
            let sql = if self.is_shared() {
                format!(
                    "WITH picked AS (SELECT id FROM jobs
                                     WHERE campaign_id = $1 AND state = 'queued' AND next_attempt_at <= $2
                                     ORDER BY next_attempt_at LIMIT $3 FOR UPDATE SKIP LOCKED)
                     UPDATE jobs SET state = 'dialing', updated_at = $2, claimed_by = $4, claim_until = {now} + $5
                     FROM picked WHERE jobs.id = picked.id AND jobs.state = 'queued'
                     {returning}",
                    now = pool.db_now(),
                )
            } else {
                format!(
                    "UPDATE jobs SET state = 'dialing', updated_at = $2, claimed_by = $4, claim_until = {now} + $5
                     WHERE id IN (SELECT id FROM jobs
                                  WHERE campaign_id = $1 AND state = 'queued' AND next_attempt_at <= $2
                                  ORDER BY next_attempt_at LIMIT $3)
                     {}",
                    returning.replace("jobs.", "").replace("imports.id = import_id", "imports.id = jobs.import_id"),
                    now = pool.db_now(),
                )
            };
            let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(campaign_id)
                .bind(now_ms)
                .bind(limit as i64)
                .bind(&*self.node)
                .bind(self.lease_ms)
                .fetch_all(pool)
                .await?;
            rows.iter().map(claimed_job).collect()
        })
    }

    /// For claimed jobs: commits the attempts to dial (as `dialing`) and puts every other
    /// claimed job where it belongs, in one transaction. Returns the ids of the attempts
    /// committed: only those may be sent.
    ///
    /// A job is committed only while this daemon's claim on it holds (a claim released after
    /// its lease expired is someone else's now: nothing is written for it). With `admission`
    /// (several daemons on PostgreSQL), the caps are judged again inside the transaction, under
    /// a lock every daemon's commit takes, on the usage every daemon has committed: attempts
    /// beyond the room left (or over a number's daily cap) are not committed and their jobs go
    /// back to the queue, due at once. Nothing in the transaction waits on the network.
    pub async fn commit_claims(
        &self,
        attempts: &[NewAttempt],
        deferrals: &[Deferral],
        now: DateTime<Utc>,
        admission: Option<&Admission<'_>>,
    ) -> Result<Vec<String>, StoreError> {
        let now_ms = millis(now);
        on_db!(&self.db, |pool| {
            let mut tx = match admission {
                Some(_) => pool.begin_write(DISPATCH_LOCK).await?,
                None => pool.begin().await?,
            };
            // The claims still ours: every write below is for these jobs only.
            let claimed: Vec<i64> =
                attempts.iter().map(|a| a.job_id).chain(deferrals.iter().map(Deferral::job_id)).collect();
            let mut ours: std::collections::HashSet<i64> = std::collections::HashSet::new();
            for chunk in claimed.chunks(5000) {
                let mut q: QueryBuilder<_> =
                    QueryBuilder::new("SELECT id FROM jobs WHERE state = 'dialing' AND claimed_by = ");
                q.push_bind(&*self.node).push(" AND id IN ");
                push_in_list(&mut q, chunk.iter().copied());
                let ids: Vec<i64> = q.build_query_scalar().fetch_all(&mut *tx).await?;
                ours.extend(ids);
            }
            let mut admitted: Vec<&NewAttempt> = attempts.iter().filter(|a| ours.contains(&a.job_id)).collect();
            let mut requeued: Vec<i64> = Vec::new();
            if let Some(admission) = admission
                && let Some(first) = admitted.first()
            {
                let campaign_id = first.campaign_id.clone();
                let facts = AdmissionFacts {
                    campaign: usage_in((&mut tx).into(), Some(&campaign_id), now_ms).await?,
                    account: usage_in((&mut tx).into(), None, now_ms).await?,
                    campaign_spend: spend_in((&mut tx).into(), Some(&campaign_id), now_ms).await?,
                    account_spend: spend_in((&mut tx).into(), None, now_ms).await?,
                };
                let mut room = (admission.room)(&facts) as usize;
                let tat: Option<i64> = match admission.pace {
                    Some(_) => {
                        sqlx::query_scalar("SELECT tat FROM pacing WHERE campaign_id = $1")
                            .bind(&campaign_id)
                            .fetch_optional(&mut *tx)
                            .await?
                    }
                    None => None,
                };
                if let Some(pace) = admission.pace {
                    room = room.min(pace.allowed(tat, now_ms) as usize);
                }
                // Each number's caps (daily, state frequency), on every daemon's dials.
                let phones: Vec<&str> = admitted.iter().map(|a| a.phone.as_str()).collect();
                let since_ms = millis(now - admission.lookback);
                let mut dials: HashMap<String, Vec<RecentDial>> = HashMap::new();
                for chunk in phones.chunks(5000) {
                    let mut q: QueryBuilder<_> = QueryBuilder::new(
                        "SELECT a.phone, a.dialed_at, COALESCE(c.subject, c.id) AS subject
                     FROM attempts a JOIN campaigns c ON c.id = a.campaign_id WHERE a.dialed_at >= ",
                    );
                    q.push_bind(since_ms).push(" AND a.state != 'not_sent' AND a.phone IN ");
                    push_in_list(&mut q, chunk.iter().copied());
                    q.push(" ORDER BY a.phone, a.dialed_at");
                    for r in q.build().fetch_all(&mut *tx).await? {
                        let at = stored_time(r.try_get("dialed_at")?, "attempts.dialed_at")?;
                        dials
                            .entry(r.try_get("phone")?)
                            .or_default()
                            .push(RecentDial { at, subject: r.try_get("subject")? });
                    }
                }
                let mut kept = Vec::with_capacity(admitted.len());
                for a in admitted {
                    let number = dials.entry(a.phone.as_str().to_string()).or_default();
                    if kept.len() < room && (admission.number_allows)(a.job_id, number) {
                        number.push(RecentDial { at: now, subject: admission.subject.to_string() });
                        kept.push(a);
                    } else {
                        requeued.push(a.job_id);
                    }
                }
                admitted = kept;
                if let Some(pace) = admission.pace
                    && !admitted.is_empty()
                {
                    sqlx::query(
                        "INSERT INTO pacing (campaign_id, tat) VALUES ($1, $2)
                     ON CONFLICT (campaign_id) DO UPDATE SET tat = excluded.tat",
                    )
                    .bind(&campaign_id)
                    .bind(pace.after(tat, now_ms, admitted.len() as u32))
                    .execute(&mut *tx)
                    .await?;
                }
            }
            for chunk in admitted.chunks(3000) {
                // A resend under the id of a voided attempt replaces that attempt's row.
                let mut q: QueryBuilder<_> =
                    QueryBuilder::new("DELETE FROM attempts WHERE state = 'not_sent' AND id IN ");
                push_in_list(&mut q, chunk.iter().map(|a| a.id.as_str()));
                q.build().execute(&mut *tx).await?;
                let mut q: QueryBuilder<_> = QueryBuilder::new(
                "INSERT INTO attempts (id, job_id, campaign_id, phone, attempt_no, state, dialed_at, expires_at, poll_at,
                                       reserved_usd, rules_version, owner, lease_until) ",
            );
                q.push_values(chunk, |mut b, a| {
                    b.push_bind(&a.id)
                        .push_bind(a.job_id)
                        .push_bind(&a.campaign_id)
                        .push_bind(a.phone.as_str())
                        .push_bind(a.attempt_no)
                        .push("'dialing'")
                        .push_bind(now_ms)
                        .push_bind(millis(a.expires_at))
                        .push_bind(millis(a.poll_at))
                        .push_bind(a.reserved_usd)
                        .push_bind(&a.rules_version)
                        .push_bind(&*self.node)
                        .push(pool.db_now())
                        .push_unseparated(" + ")
                        .push_bind_unseparated(self.lease_ms);
                });
                q.build().execute(&mut *tx).await?;
                let mut q: QueryBuilder<_> = QueryBuilder::new(
                    "UPDATE jobs SET attempts = attempts + 1, resend_attempt_id = NULL WHERE state = 'dialing' AND id IN ",
                );
                push_in_list(&mut q, chunk.iter().map(|a| a.job_id));
                q.build().execute(&mut *tx).await?;
            }
            let requeues = requeued.iter().map(|&job_id| Deferral::Requeue { job_id, at: now });
            for d in deferrals.iter().filter(|d| ours.contains(&d.job_id())).cloned().chain(requeues) {
                // A requeue keeps the job's reason; a suppression or a failure keeps its due time.
                let (job_id, state, reason, at) = match &d {
                    Deferral::Requeue { job_id, at } => (*job_id, JobState::Queued, None, Some(millis(*at))),
                    Deferral::Suppress { job_id, reason } => {
                        (*job_id, JobState::Suppressed, Some(reason.as_str()), None)
                    }
                    Deferral::Fail { job_id, reason } => (*job_id, JobState::Failed, Some(reason.as_str()), None),
                };
                sqlx::query(
                "UPDATE jobs SET state = $2, reason = COALESCE($3, reason), next_attempt_at = COALESCE($4, next_attempt_at),
                        updated_at = $5
                 WHERE id = $1 AND state = 'dialing'",
            )
            .bind(job_id)
            .bind(state.as_str())
            .bind(reason)
            .bind(at)
            .bind(now_ms)
            .execute(&mut *tx)
            .await?;
            }
            tx.commit().await?;
            Ok(admitted.into_iter().map(|a| a.id.clone()).collect())
        })
    }

    /// What the caps count now, of one campaign or (`None`) the account: dials in the last
    /// minute, hour and day, and calls holding a slot (not expired) — every daemon's, as
    /// [`Store::commit_claims`] judges them.
    pub async fn usage(&self, campaign_id: Option<&str>, now: DateTime<Utc>) -> Result<CapUsage, StoreError> {
        on_db!(&self.db, |pool| {
            let mut conn = pool.acquire().await?;
            usage_in((&mut conn).into(), campaign_id, millis(now)).await
        })
    }

    /// Just before sending: renews the lease of this daemon's committed attempts about to be
    /// sent and marks them as being sent, provided each is still its own, still `dialing`, and
    /// its lease has not expired on the database's clock (an expired one may already be another
    /// daemon's). Returns those ids: only they may be sent. One this refuses (the daemon stalled
    /// past its lease) was never sent, and whoever took it over may void it without asking Bland.
    pub async fn start_sends(&self, ids: &[&str]) -> Result<Vec<String>, StoreError> {
        on_db!(&self.db, |pool| {
            let mut started = Vec::with_capacity(ids.len());
            for chunk in ids.chunks(5000) {
                let mut q: QueryBuilder<_> = QueryBuilder::new(format!(
                    "UPDATE attempts SET send_started_at = {now}, lease_until = {now} + ",
                    now = pool.db_now()
                ));
                q.push_bind(self.lease_ms);
                q.push(" WHERE state = 'dialing' AND owner = ").push_bind(&*self.node);
                q.push(format!(" AND lease_until > {}", pool.db_now()));
                q.push(" AND id IN ");
                push_in_list(&mut q, chunk.iter().copied());
                q.push(" RETURNING id");
                let ids: Vec<String> = q.build_query_scalar().fetch_all(pool).await?;
                started.extend(ids);
            }
            Ok(started)
        })
    }

    /// Numbers among `phones` on the do-not-call list, with the reason.
    pub async fn dnc_reasons(&self, phones: &[&str]) -> Result<HashMap<String, String>, StoreError> {
        on_db!(&self.db, |pool| {
            let mut out = HashMap::new();
            for chunk in phones.chunks(5000) {
                let mut q: QueryBuilder<_> = QueryBuilder::new("SELECT phone, reason FROM dnc WHERE phone IN ");
                push_in_list(&mut q, chunk.iter().copied());
                for r in q.build().fetch_all(pool).await? {
                    out.insert(r.try_get("phone")?, r.try_get("reason")?);
                }
            }
            Ok(out)
        })
    }

    /// Per number: the dials at or after `since`, across all campaigns, oldest first, each with the
    /// subject of its campaign (what the state frequency caps count by).
    pub async fn recent_dials_by_number(
        &self,
        phones: &[&str],
        since: DateTime<Utc>,
    ) -> Result<HashMap<String, Vec<RecentDial>>, StoreError> {
        on_db!(&self.db, |pool| {
            let since_ms = millis(since);
            let mut out: HashMap<String, Vec<RecentDial>> = HashMap::new();
            for chunk in phones.chunks(5000) {
                let mut q: QueryBuilder<_> = QueryBuilder::new(
                    "SELECT a.phone, a.dialed_at, COALESCE(c.subject, c.id) AS subject
                 FROM attempts a JOIN campaigns c ON c.id = a.campaign_id WHERE a.dialed_at >= ",
                );
                q.push_bind(since_ms);
                q.push(" AND a.state != 'not_sent' AND a.phone IN ");
                push_in_list(&mut q, chunk.iter().copied());
                q.push(" ORDER BY a.phone, a.dialed_at");
                for r in q.build().fetch_all(pool).await? {
                    let at = stored_time(r.try_get("dialed_at")?, "attempts.dialed_at")?;
                    out.entry(r.try_get("phone")?).or_default().push(RecentDial { at, subject: r.try_get("subject")? });
                }
            }
            Ok(out)
        })
    }

    /// Every counted dial since `since`: (campaign, time), oldest first — the caps' ledger.
    pub async fn dials_since(&self, since: DateTime<Utc>) -> Result<Vec<(String, DateTime<Utc>)>, StoreError> {
        on_db!(&self.db, |pool| {
            sqlx::query("SELECT campaign_id, dialed_at FROM attempts WHERE dialed_at > $1 AND state != 'not_sent' ORDER BY dialed_at")
            .bind(millis(since))
            .fetch_all(pool)
            .await?
            .into_iter()
            .map(|r| Ok((r.try_get("campaign_id")?, stored_time(r.try_get("dialed_at")?, "attempts.dialed_at")?)))
            .collect()
        })
    }

    /// Calls holding a concurrency slot now, per campaign.
    pub async fn open_calls(&self, now: DateTime<Utc>) -> Result<HashMap<String, u32>, StoreError> {
        on_db!(&self.db, |pool| {
            let now_ms = millis(now);
            let rows = sqlx::query(
                "SELECT campaign_id, COUNT(*) AS n FROM attempts
             WHERE state IN ('dialing', 'in_call') AND expires_at > $1 GROUP BY campaign_id",
            )
            .bind(now_ms)
            .fetch_all(pool)
            .await?;
            rows.into_iter().map(|r| Ok((r.try_get("campaign_id")?, r.try_get::<i64, _>("n")? as u32))).collect()
        })
    }

    /// Bland accepted the call: remember its id. The attempt may already have an outcome (a
    /// webhook can arrive before the send response), so only the id is unconditional.
    pub async fn record_sent(&self, attempt_id: &str, call_id: &str, now: DateTime<Utc>) -> Result<(), StoreError> {
        self.record_sent_many(&[(attempt_id, call_id)], now).await
    }

    /// [`record_sent`](Self::record_sent) for many calls (attempt id, call id) in one
    /// transaction: at thousands of calls a second, one commit per call would be the bottleneck.
    pub async fn record_sent_many(&self, sent: &[(&str, &str)], now: DateTime<Utc>) -> Result<(), StoreError> {
        on_db!(&self.db, |pool| {
            let now_ms = millis(now);
            if sent.is_empty() {
                return Ok(());
            }
            let mut tx = pool.begin().await?;
            for chunk in sent.chunks(1000) {
                let mut q: QueryBuilder<_> = QueryBuilder::new("WITH sent (id, call_id) AS (VALUES ");
                let mut rows = q.separated(", ");
                for (attempt_id, call_id) in chunk {
                    rows.push("(").push_bind_unseparated(*attempt_id).push_unseparated(", ");
                    rows.push_bind_unseparated(*call_id).push_unseparated(")");
                }
                q.push(
                    ") UPDATE attempts SET call_id = COALESCE(attempts.call_id, sent.call_id),
                        sent_at = COALESCE(sent_at, ",
                )
                .push_bind(now_ms)
                .push(
                    "), send_error = NULL,
                        state = CASE WHEN state = 'dialing' THEN 'in_call' ELSE state END
                 FROM sent WHERE attempts.id = sent.id",
                );
                q.build().execute(&mut *tx).await?;
                let mut q: QueryBuilder<_> = QueryBuilder::new("UPDATE jobs SET state = 'in_call', updated_at = ");
                q.push_bind(now_ms)
                    .push(" WHERE state = 'dialing' AND id IN (SELECT job_id FROM attempts WHERE id IN ");
                push_in_list(&mut q, chunk.iter().map(|(attempt_id, _)| *attempt_id));
                q.push(")");
                q.build().execute(&mut *tx).await?;
            }
            tx.commit().await?;
            Ok(())
        })
    }

    /// Bland refused the call for good (400, …): the attempt and the job fail, with its words.
    pub async fn record_rejected(&self, attempt_id: &str, message: &str, now: DateTime<Utc>) -> Result<(), StoreError> {
        on_db!(&self.db, |pool| {
            let now_ms = millis(now);
            let mut tx = pool.begin().await?;
            let failed = sqlx::query(
                "UPDATE attempts SET state = 'failed', outcome = 'failed', error_message = $2, ended_at = $3
             WHERE id = $1 AND state = 'dialing' AND (CAST($4 AS TEXT) IS NULL OR owner IS NULL OR owner = $4)",
            )
            .bind(attempt_id)
            .bind(message)
            .bind(now_ms)
            .bind(self.fence_node())
            .execute(&mut *tx)
            .await?;
            if failed.rows_affected() == 0 {
                // Settled meanwhile, or no longer this daemon's to settle.
                return Ok(());
            }
            sqlx::query(
                "UPDATE jobs SET state = 'failed', outcome = 'failed', reason = $2, updated_at = $3
             WHERE id = (SELECT job_id FROM attempts WHERE id = $1) AND state = 'dialing'",
            )
            .bind(attempt_id)
            .bind(message)
            .bind(now_ms)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(())
        })
    }

    /// The call was certainly not placed (429, 401, connection refused, proven absent): the
    /// attempt is void and costs nothing, and the job waits in the queue until `retry_at` (or is
    /// cancelled, if its campaign was meanwhile). Returns whether it was voided (it was still
    /// `dialing`).
    pub async fn record_not_sent(
        &self,
        attempt_id: &str,
        why: &str,
        retry_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        on_db!(&self.db, |pool| {
            let retry_at = millis(retry_at);
            let now_ms = millis(now);
            let mut tx = pool.begin().await?;
            let voided = sqlx::query(
                "UPDATE attempts SET state = 'not_sent', send_error = $2, ended_at = $3
             WHERE id = $1 AND state = 'dialing' AND (CAST($4 AS TEXT) IS NULL OR owner IS NULL OR owner = $4)",
            )
            .bind(attempt_id)
            .bind(why)
            .bind(now_ms)
            .bind(self.fence_node())
            .execute(&mut *tx)
            .await?;
            if voided.rows_affected() == 1 {
                sqlx::query(
                    "UPDATE jobs SET state = 'queued', attempts = attempts - 1, next_attempt_at = $2, updated_at = $3,
                            resend_attempt_id = $1
                 WHERE id = (SELECT job_id FROM attempts WHERE id = $1) AND state = 'dialing'",
                )
                .bind(attempt_id)
                .bind(retry_at)
                .bind(now_ms)
                .execute(&mut *tx)
                .await?;
                let mut q = cancel_if_campaign_cancelled(now_ms);
                q.push("id = (SELECT job_id FROM attempts WHERE id = ").push_bind(attempt_id).push(")");
                q.build().execute(&mut *tx).await?;
            }
            tx.commit().await?;
            Ok(voided.rows_affected() == 1)
        })
    }

    /// The send failed in a way that leaves it unknown whether Bland placed the call (5xx,
    /// timeout): the attempt stays `dialing` until the reconciler has looked it up.
    pub async fn record_send_unknown(
        &self,
        attempt_id: &str,
        why: &str,
        lookup_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        on_db!(&self.db, |pool| {
            sqlx::query(
                "UPDATE attempts SET send_error = $1, lookup_at = $2
             WHERE id = $3 AND state = 'dialing' AND (CAST($4 AS TEXT) IS NULL OR owner IS NULL OR owner = $4)",
            )
            .bind(why)
            .bind(millis(lookup_at))
            .bind(attempt_id)
            .bind(self.fence_node())
            .execute(pool)
            .await?;
            Ok(())
        })
    }

    /// Attempts still `dialing` that were committed before `before`, or whose ambiguous send's
    /// lookup time has come by `due` (see `record_send_unknown`).
    pub async fn pending_attempts(
        &self,
        before: DateTime<Utc>,
        due: DateTime<Utc>,
    ) -> Result<Vec<PendingAttempt>, StoreError> {
        on_db!(&self.db, |pool| {
            let before_ms = millis(before);
            sqlx::query(PENDING_ATTEMPTS)
                .bind(before_ms)
                .bind(millis(due))
                .bind(self.fence_node())
                .fetch_all(pool)
                .await?
                .into_iter()
                .map(|r| {
                    Ok(PendingAttempt {
                        id: r.try_get("attempt_id")?,
                        dialed_at: stored_time(r.try_get("dialed_at")?, "attempts.dialed_at")?,
                        job: claimed_job(&r)?,
                    })
                })
                .collect()
        })
    }
}

#[cfg(test)]
mod tests {
    use sqlx::Row;

    use super::PENDING_ATTEMPTS;
    use crate::store::Store;

    #[tokio::test]
    async fn the_reconcilers_query_searches_the_open_attempts_index_and_never_walks_every_attempt() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("p.db")).await.unwrap();
        let plan = sqlx::query(sqlx::AssertSqlSafe(format!("EXPLAIN QUERY PLAN {PENDING_ATTEMPTS}")))
            .bind(0_i64)
            .bind(0_i64)
            .bind(None::<String>)
            .fetch_all(store.sqlite_pool())
            .await
            .unwrap()
            .iter()
            .map(|r| r.get::<String, _>("detail"))
            .collect::<Vec<_>>()
            .join("\n");
        assert!(plan.contains("SEARCH a USING INDEX attempts_open"), "{plan}");
        assert!(!plan.contains("SCAN a"), "{plan}");
    }
}
