//! Campaign queries: create/update while draft, read, the state transitions of
//! [`CampaignAction`], and the counts a campaign's summary is made of.
//!
//! A transition is one guarded statement (`… WHERE id = ? AND state IN (from)`) whose rows
//! affected says whether it happened; cancelling also cancels the jobs still waiting, in the
//! same transaction. Times enter and leave as `DateTime<Utc>`.

use super::backend::{Backend as _, Cols, on_db};
use chrono::{DateTime, Utc};
use sqlx::{QueryBuilder, Row};

use super::{
    AttemptState, CallCounts, CampaignAction, CampaignState, JobCounts, JobState, Outcome, Store, StoreError, millis,
    push_in_list, stored_time,
};
use crate::config::CampaignSpec;

/// A campaign as stored.
#[derive(Debug, Clone)]
pub struct CampaignRow {
    pub id: String,
    pub name: String,
    pub state: CampaignState,
    pub spec_toml: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub paused_reason: Option<String>,
}

/// What the caps count now ([`Store::cap_usage`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CapUsage {
    pub minute: u32,
    pub hour: u32,
    pub day: u32,
    /// Calls dialing or in a call.
    pub open: u32,
}

/// What a campaign's sends did lately ([`Store::send_activity`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct SendActivity {
    /// When its last call was placed.
    pub last_dial: Option<DateTime<Utc>>,
    /// Sends Bland did not take (429, refused key, unreachable) in the period asked about.
    pub failed_sends: i64,
    /// Why the last of them failed.
    pub last_error: Option<String>,
}

/// What `save_campaign` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Saved {
    Created,
    Updated,
}

/// A new spec for a campaign, worked out by `campaigns::update`, as the store writes it.
#[derive(Debug)]
pub struct SpecChange<'a> {
    pub id: &'a str,
    /// The stored spec the change was worked out against: the write is refused if it changed.
    pub expected_toml: &'a str,
    pub name: &'a str,
    pub spec_toml: &'a str,
    pub spec_json: &'a str,
    /// Its `[compliance] subject` (the campaign id when it names none).
    pub subject: &'a str,
    /// The states the campaign may be in for the change.
    pub from_states: &'a [CampaignState],
    /// Who made the change, for the record.
    pub actor: &'a str,
    /// What changed, as a JSON array, for the record.
    pub changes_json: &'a str,
    /// The new `[retry]` policy, when it changed: jobs waiting for an attempt it no longer
    /// allows are finished.
    pub retry: Option<RetryChange>,
    /// The dialing window changed: queued jobs waiting for the old window's opening are due now.
    pub reopen_queue: bool,
}

/// The parts of a `[retry]` policy that decide whether a waiting job is tried again.
#[derive(Debug, Clone)]
pub struct RetryChange {
    pub max_attempts: u32,
    pub on: Vec<Outcome>,
}

/// What [`Store::update_campaign_spec`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SpecUpdated {
    /// The row in `campaign_changes`.
    pub change_id: i64,
    /// Jobs finished because the new retry policy allows them no further attempt.
    pub jobs_finished: u64,
    /// Queued jobs made due now, to be checked against the new window.
    pub jobs_requeued: u64,
}

/// A recorded change of a campaign's spec.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CampaignChange {
    pub id: i64,
    pub changed_at: DateTime<Utc>,
    pub actor: String,
    /// The campaign's state when it was changed.
    pub state: CampaignState,
    /// `[{"key", "old", "new"}]`.
    pub changes: serde_json::Value,
}

pub(super) fn row_to_campaign<R: Cols>(row: R) -> Result<CampaignRow, StoreError> {
    let time = |col: &str| -> Result<Option<DateTime<Utc>>, StoreError> {
        row.get::<Option<i64>>(col)?.map(|ms| stored_time(ms, col)).transpose()
    };
    let required = |col: &str| time(col)?.ok_or_else(|| StoreError::Corrupt(format!("campaigns.{col} is NULL")));
    Ok(CampaignRow {
        id: row.get("id")?,
        name: row.get("name")?,
        state: CampaignState::from_sql(row.get::<&str>("state")?)?,
        spec_toml: row.get("spec_toml")?,
        created_at: required("created_at")?,
        updated_at: required("updated_at")?,
        started_at: time("started_at")?,
        finished_at: time("finished_at")?,
        paused_reason: row.get("paused_reason")?,
    })
}

macro_rules! campaign_columns {
    () => {
        "id, name, state, spec_toml, created_at, updated_at, started_at, finished_at, paused_reason"
    };
}

/// The columns [`row_to_campaign`] reads, for the store's other modules.
pub(super) const CAMPAIGN_COLUMNS: &str = campaign_columns!();

impl Store {
    /// Creates the campaign, or updates it while it is still a draft. A campaign that has been
    /// started is refused: its recipients may already have been called under the old spec.
    pub async fn save_campaign(
        &self,
        spec: &CampaignSpec,
        spec_toml: &str,
        spec_json: &str,
        now: DateTime<Utc>,
    ) -> Result<Saved, StoreError> {
        on_db!(&self.db, |pool| {
            let now_ms = millis(now);
            // Read and write in one write transaction: nothing can start the campaign in between.
            let mut tx = pool.begin_write("campaigns").await?;
            let state: Option<String> = sqlx::query_scalar("SELECT state FROM campaigns WHERE id = $1")
                .bind(spec.id.as_str())
                .fetch_optional(&mut *tx)
                .await?;
            let saved = match state.as_deref().map(CampaignState::from_sql).transpose()? {
                None => {
                    sqlx::query(
                        "INSERT INTO campaigns (id, name, state, spec_toml, spec_json, created_at, updated_at, subject)
                     VALUES ($1, $2, $5, $3, $4, $6, $6, $7)",
                    )
                    .bind(spec.id.as_str())
                    .bind(&spec.name)
                    .bind(spec_toml)
                    .bind(spec_json)
                    .bind(CampaignState::Draft.as_str())
                    .bind(now_ms)
                    .bind(spec.subject())
                    .execute(&mut *tx)
                    .await?;
                    Saved::Created
                }
                Some(CampaignState::Draft) => {
                    // `updated_at` moves forward even within a millisecond: it is what tells the
                    // daemon that the spec changed.
                    sqlx::query(
                    "UPDATE campaigns SET name = $2, spec_toml = $3, spec_json = $4, updated_at = CASE WHEN updated_at + 1 > $5 THEN updated_at + 1 ELSE $5 END,
                                          subject = $6
                     WHERE id = $1",
                )
                .bind(spec.id.as_str())
                .bind(&spec.name)
                .bind(spec_toml)
                .bind(spec_json)
                .bind(now_ms)
                .bind(spec.subject())
                .execute(&mut *tx)
                .await?;
                    Saved::Updated
                }
                Some(state) => {
                    return Err(StoreError::Conflict(format!(
                        "campaign `{}` is {state}, not draft: its spec can no longer change (create a new campaign with \
                     another id, or change its limits, hours or retry policy with `campaign update`)",
                        spec.id
                    )));
                }
            };
            tx.commit().await?;
            Ok(saved)
        })
    }

    /// Replaces the spec of a campaign in one of `change.from_states`, provided its stored spec
    /// is still `change.expected_toml` (the one the change was worked out against), records the
    /// change in `campaign_changes`, and moves its jobs as the new spec requires — all in one
    /// transaction. `updated_at` always moves forward (by at least a millisecond), since the
    /// daemon re-reads a campaign's plan when it changes.
    pub async fn update_campaign_spec(
        &self,
        change: &SpecChange<'_>,
        now: DateTime<Utc>,
    ) -> Result<SpecUpdated, StoreError> {
        on_db!(&self.db, |pool| {
            let now_ms = millis(now);
            let mut tx = pool.begin_write("campaigns").await?;
            let mut q: QueryBuilder<_> = QueryBuilder::new("UPDATE campaigns SET name = ");
            q.push_bind(change.name).push(", spec_toml = ").push_bind(change.spec_toml);
            q.push(", spec_json = ").push_bind(change.spec_json);
            q.push(", subject = ").push_bind(change.subject);
            q.push(", updated_at = CASE WHEN updated_at + 1 > ").push_bind(now_ms);
            q.push(" THEN updated_at + 1 ELSE ").push_bind(now_ms).push(" END");
            q.push(" WHERE id = ").push_bind(change.id).push(" AND spec_toml = ").push_bind(change.expected_toml);
            q.push(" AND state IN ");
            push_in_list(&mut q, change.from_states.iter().map(|s| s.as_str()));
            q.push(" RETURNING state");
            let state: Option<String> = q.build_query_scalar().fetch_optional(&mut *tx).await?;
            let Some(state) = state else {
                tx.rollback().await?;
                let current = self.campaign(change.id).await?;
                if !change.from_states.contains(&current.state) {
                    return Err(StoreError::Conflict(format!(
                        "campaign `{}` is {}: its spec can no longer change",
                        change.id, current.state
                    )));
                }
                return Err(StoreError::Conflict(format!(
                    "campaign `{}` was changed by someone else meanwhile: read it again and retry",
                    change.id
                )));
            };
            let change_id: i64 = sqlx::query_scalar(
            "INSERT INTO campaign_changes (campaign_id, changed_at, actor, state, changes) VALUES ($1, $2, $3, $4, $5)
             RETURNING id",
        )
        .bind(change.id)
        .bind(now_ms)
        .bind(change.actor)
        .bind(&state)
        .bind(change.changes_json)
        .fetch_one(&mut *tx)
        .await?;
            let mut out = SpecUpdated { change_id, ..SpecUpdated::default() };
            if let Some(retry) = &change.retry {
                // What the retry decision would now say of the jobs waiting for another attempt: a
                // job whose attempts are used up, or whose last outcome is no longer retried, is
                // finished as that decision finishes it (failed after a failed call, else done).
                let mut q: QueryBuilder<_> = QueryBuilder::new(
                    "UPDATE jobs SET state = CASE WHEN outcome = 'failed' THEN 'failed' ELSE 'done' END, reason = ",
                );
                q.push_bind("no further attempt under the updated [retry] policy");
                q.push(", updated_at = ").push_bind(now_ms);
                q.push(" WHERE campaign_id = ").push_bind(change.id);
                q.push(
                    " AND state IN ('queued', 'retry_wait') AND attempts > 0 AND outcome IS NOT NULL AND (attempts >= ",
                );
                q.push_bind(i64::from(retry.max_attempts)).push(" OR outcome NOT IN ");
                if retry.on.is_empty() {
                    q.push("('')");
                } else {
                    push_in_list(&mut q, retry.on.iter().map(|o| o.as_str()));
                }
                q.push(")");
                out.jobs_finished = q.build().execute(&mut *tx).await?.rows_affected();
            }
            if change.reopen_queue {
                // Queued jobs wait for the opening of the window they were last checked against;
                // due now, each is checked against the new one at its next claim.
                out.jobs_requeued = sqlx::query(
                    "UPDATE jobs SET next_attempt_at = $2
                 WHERE campaign_id = $1 AND state = 'queued' AND next_attempt_at > $2",
                )
                .bind(change.id)
                .bind(now_ms)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            }
            tx.commit().await?;
            Ok(out)
        })
    }

    /// The campaign's recorded spec changes, oldest first.
    pub async fn campaign_changes(&self, id: &str) -> Result<Vec<CampaignChange>, StoreError> {
        on_db!(&self.db, |pool| {
            sqlx::query(
                "SELECT id, changed_at, actor, state, changes FROM campaign_changes WHERE campaign_id = $1 ORDER BY id",
            )
            .bind(id)
            .fetch_all(pool)
            .await?
            .into_iter()
            .map(|r| {
                let changes: String = r.try_get("changes")?;
                Ok(CampaignChange {
                    id: r.try_get("id")?,
                    changed_at: stored_time(r.try_get("changed_at")?, "campaign_changes.changed_at")?,
                    actor: r.try_get("actor")?,
                    state: CampaignState::from_sql(r.try_get("state")?)?,
                    changes: serde_json::from_str(&changes)
                        .map_err(|e| StoreError::Corrupt(format!("campaign_changes.changes is not JSON: {e}")))?,
                })
            })
            .collect()
        })
    }

    pub async fn campaign(&self, id: &str) -> Result<CampaignRow, StoreError> {
        on_db!(&self.db, |pool| {
            let row = sqlx::query(concat!("SELECT ", campaign_columns!(), " FROM campaigns WHERE id = $1"))
                .bind(id)
                .fetch_optional(pool)
                .await?
                .ok_or_else(|| StoreError::no_campaign(id))?;
            row_to_campaign(row)
        })
    }

    /// Every campaign's state and when its row last changed: what the daemon's run loop watches
    /// for operator actions, without reading every spec each time round.
    pub async fn campaign_states(&self) -> Result<Vec<(String, CampaignState, DateTime<Utc>)>, StoreError> {
        on_db!(&self.db, |pool| {
            sqlx::query("SELECT id, state, updated_at FROM campaigns")
                .fetch_all(pool)
                .await?
                .into_iter()
                .map(|r| {
                    Ok((
                        r.try_get("id")?,
                        CampaignState::from_sql(r.try_get("state")?)?,
                        stored_time(r.try_get("updated_at")?, "campaigns.updated_at")?,
                    ))
                })
                .collect()
        })
    }

    pub async fn campaigns(&self) -> Result<Vec<CampaignRow>, StoreError> {
        on_db!(&self.db, |pool| {
            sqlx::query(concat!("SELECT ", campaign_columns!(), " FROM campaigns ORDER BY created_at, id"))
                .fetch_all(pool)
                .await?
                .into_iter()
                .map(row_to_campaign)
                .collect()
        })
    }

    pub async fn campaigns_in_state(&self, state: CampaignState) -> Result<Vec<CampaignRow>, StoreError> {
        on_db!(&self.db, |pool| {
            sqlx::query(concat!(
                "SELECT ",
                campaign_columns!(),
                " FROM campaigns WHERE state = $1 ORDER BY created_at, id"
            ))
            .bind(state.as_str())
            .fetch_all(pool)
            .await?
            .into_iter()
            .map(row_to_campaign)
            .collect()
        })
    }

    /// Takes `action` on the campaign if it is in one of the action's from-states; returns
    /// whether it did. `reason` is kept (and shown) with a pause; any other action clears it.
    /// Cancelling also cancels the jobs still waiting, in the same transaction.
    pub async fn apply_campaign_action(
        &self,
        id: &str,
        action: CampaignAction,
        reason: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        on_db!(&self.db, |pool| {
            let now_ms = millis(now);
            let to = action.to();
            let mut q: QueryBuilder<_> = QueryBuilder::new("UPDATE campaigns SET state = ");
            q.push_bind(to.as_str())
                .push(", paused_reason = ")
                .push_bind(reason.filter(|_| to == CampaignState::Paused));
            q.push(", updated_at = ").push_bind(now_ms);
            if to == CampaignState::Running {
                q.push(", started_at = COALESCE(started_at, ").push_bind(now_ms).push(")");
            }
            if matches!(to, CampaignState::Cancelled | CampaignState::Completed) {
                q.push(", finished_at = ").push_bind(now_ms);
            }
            q.push(" WHERE id = ").push_bind(id).push(" AND state IN ");
            push_in_list(&mut q, action.from_states().iter().map(|s| s.as_str()));
            let mut tx = pool.begin().await?;
            let changed = q.build().execute(&mut *tx).await?.rows_affected() == 1;
            if changed && to == CampaignState::Cancelled {
                sqlx::query(
                    "UPDATE jobs SET state = 'cancelled', reason = 'campaign cancelled', updated_at = $1
                 WHERE campaign_id = $2 AND state IN ('queued', 'retry_wait')",
                )
                .bind(now_ms)
                .bind(id)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            Ok(changed)
        })
    }

    /// Stops every running campaign (e.g. Bland refused the API key), with the reason shown by
    /// `campaign show`.
    pub async fn pause_all_running(&self, reason: &str, now: DateTime<Utc>) -> Result<u64, StoreError> {
        on_db!(&self.db, |pool| {
            Ok(sqlx::query(
                "UPDATE campaigns SET state = 'paused', paused_reason = $1, updated_at = $2 WHERE state = 'running'",
            )
            .bind(reason)
            .bind(millis(now))
            .execute(pool)
            .await?
            .rows_affected())
        })
    }

    /// Running campaigns none of whose jobs can progress any more become `completed`. A call
    /// still due a poll (an outcome recorded without `answered_by`, rechecked after the grace)
    /// may yet send its job back to `retry_wait`, so it holds the campaign open too. (`+` keeps
    /// that lookup on the small partial index of pending polls, not on the campaign's attempts.)
    pub async fn complete_finished_campaigns(&self, now: DateTime<Utc>) -> Result<Vec<String>, StoreError> {
        on_db!(&self.db, |pool| {
            Ok(sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                "UPDATE campaigns SET state = 'completed', finished_at = $1, updated_at = $1
             WHERE state = 'running'
               AND EXISTS (SELECT 1 FROM jobs j WHERE j.campaign_id = campaigns.id)
               AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.campaign_id = campaigns.id
                               AND j.state IN ('queued', 'dialing', 'in_call', 'retry_wait'))
               AND NOT EXISTS (SELECT 1 FROM attempts a WHERE a.poll_at IS NOT NULL
                               AND {}a.campaign_id = campaigns.id AND a.call_id IS NOT NULL)
             RETURNING id",
                pool.no_index()
            )))
            .bind(millis(now))
            .fetch_all(pool)
            .await?)
        })
    }

    /// When the campaign next has something to do: `None` while calls are open or jobs are
    /// due now, else the earliest due time of a waiting job (`None` too when none waits).
    pub async fn campaign_idle_until(
        &self,
        campaign_id: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        on_db!(&self.db, |pool| {
            let open: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM jobs WHERE campaign_id = $1 AND state IN ('dialing', 'in_call')",
            )
            .bind(campaign_id)
            .fetch_one(pool)
            .await?;
            let polls: i64 =
                sqlx::query_scalar("SELECT COUNT(*) FROM attempts WHERE campaign_id = $1 AND poll_at IS NOT NULL")
                    .bind(campaign_id)
                    .fetch_one(pool)
                    .await?;
            if open > 0 || polls > 0 {
                return Ok(None);
            }
            let next = self.next_due(campaign_id).await?;
            Ok(next.filter(|t| *t > now))
        })
    }

    /// The earliest due time of the campaign's waiting jobs (queued or waiting to retry).
    pub async fn next_due(&self, campaign_id: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
        on_db!(&self.db, |pool| {
            let next: Option<i64> = sqlx::query_scalar(
                "SELECT MIN(next_attempt_at) FROM jobs WHERE campaign_id = $1 AND state IN ('queued', 'retry_wait')",
            )
            .bind(campaign_id)
            .fetch_one(pool)
            .await?;
            next.map(|ms| stored_time(ms, "jobs.next_attempt_at")).transpose()
        })
    }

    /// What the campaign's sends did lately: the last call placed, and the sends Bland did not
    /// take since `since` with the last reason — so a campaign that dials nothing says why.
    pub async fn send_activity(&self, campaign_id: &str, since: DateTime<Utc>) -> Result<SendActivity, StoreError> {
        on_db!(&self.db, |pool| {
            let last_dial: Option<i64> = sqlx::query_scalar(
                "SELECT MAX(dialed_at) FROM attempts WHERE campaign_id = $1 AND state != 'not_sent'",
            )
            .bind(campaign_id)
            .fetch_one(pool)
            .await?;
            let row = sqlx::query(
                "SELECT COUNT(*) AS n, MAX(ended_at) AS last FROM attempts
             WHERE campaign_id = $1 AND state = 'not_sent' AND dialed_at > $2",
            )
            .bind(campaign_id)
            .bind(millis(since))
            .fetch_one(pool)
            .await?;
            let failed_sends: i64 = row.try_get("n")?;
            let last_error = if failed_sends > 0 {
                sqlx::query_scalar(
                "SELECT send_error FROM attempts WHERE campaign_id = $1 AND dialed_at > $2 AND send_error IS NOT NULL
                 ORDER BY dialed_at DESC LIMIT 1",
            )
            .bind(campaign_id)
            .bind(millis(since))
            .fetch_optional(pool)
            .await?
            } else {
                None
            };
            Ok(SendActivity {
                last_dial: last_dial.map(|ms| stored_time(ms, "attempts.dialed_at")).transpose()?,
                failed_sends,
                last_error,
            })
        })
    }

    /// Calls of a campaign that Bland may still be running (for `cancel --stop-active`).
    pub async fn active_call_ids(&self, campaign_id: &str) -> Result<Vec<String>, StoreError> {
        on_db!(&self.db, |pool| {
            Ok(sqlx::query_scalar(
                "SELECT call_id FROM attempts WHERE campaign_id = $1 AND state = 'in_call' AND call_id IS NOT NULL",
            )
            .bind(campaign_id)
            .fetch_all(pool)
            .await?)
        })
    }

    /// Jobs of the campaign by state.
    pub async fn job_counts(&self, campaign_id: &str) -> Result<JobCounts, StoreError> {
        on_db!(&self.db, |pool| {
            let mut counts = JobCounts::default();
            // The counters the transactions that move jobs keep (migrations/0006_job_counters.sql).
            let rows = sqlx::query(
                "SELECT state, CAST(SUM(n) AS BIGINT) AS n FROM job_counters WHERE campaign_id = $1 GROUP BY state",
            )
            .bind(campaign_id)
            .fetch_all(pool)
            .await?;
            for row in rows {
                counts.set(JobState::from_sql(row.try_get("state")?)?, row.try_get("n")?);
            }
            Ok(counts)
        })
    }

    /// Jobs of the campaign by last outcome (done or failed jobs, and jobs waiting to retry).
    pub async fn outcome_counts(
        &self,
        campaign_id: &str,
    ) -> Result<std::collections::BTreeMap<Outcome, i64>, StoreError> {
        on_db!(&self.db, |pool| {
            sqlx::query(
            "SELECT outcome, CAST(SUM(n) AS BIGINT) AS n FROM job_counters WHERE campaign_id = $1 AND outcome != '' GROUP BY outcome
             HAVING SUM(n) > 0",
        )
        .bind(campaign_id)
        .fetch_all(pool)
        .await?
        .into_iter()
        .map(|r| Ok((Outcome::from_sql(r.try_get("outcome")?)?, r.try_get("n")?)))
        .collect()
        })
    }

    /// Queued and retry-waiting jobs of the campaign by their zones, from the job counters.
    pub async fn waiting_by_zone(&self, campaign_id: &str) -> Result<Vec<crate::waiting::ZoneJobs>, StoreError> {
        on_db!(&self.db, |pool| {
            sqlx::query(
                "SELECT timezones, regions, state, CAST(SUM(n) AS BIGINT) AS n FROM job_counters
             WHERE campaign_id = $1 AND state IN ('queued', 'retry_wait') GROUP BY timezones, regions, state
             HAVING SUM(n) > 0",
            )
            .bind(campaign_id)
            .fetch_all(pool)
            .await?
            .into_iter()
            .map(|r| {
                Ok(crate::waiting::ZoneJobs {
                    zones: super::stored_zones(r.try_get("timezones")?, "job_counters.timezones")?,
                    regions: super::stored_regions(r.try_get("regions")?)?,
                    state: JobState::from_sql(r.try_get("state")?)?,
                    jobs: r.try_get("n")?,
                })
            })
            .collect()
        })
    }

    /// Calls dialled in the minute, hour and day before `now`, of one campaign or (`None`) of
    /// the account, and the calls holding a slot (dialing or in a call): what the caps count.
    pub async fn cap_usage(&self, campaign_id: Option<&str>, now: DateTime<Utc>) -> Result<CapUsage, StoreError> {
        on_db!(&self.db, |pool| {
            let ms = millis(now);
            let row = sqlx::query(
            "SELECT COUNT(*) FILTER (WHERE dialed_at > $1) AS minute, COUNT(*) FILTER (WHERE dialed_at > $2) AS hour,
                    COUNT(*) AS day
             FROM attempts WHERE dialed_at > $3 AND state != 'not_sent' AND ($4 IS NULL OR campaign_id = $4)",
        )
        .bind(ms - 60_000)
        .bind(ms - 3_600_000)
        .bind(ms - 86_400_000)
        .bind(campaign_id)
        .fetch_one(pool)
        .await?;
            let open: i64 = sqlx::query_scalar(
                "SELECT CAST(COALESCE(SUM(n), 0) AS BIGINT) FROM dial_counters
             WHERE state IN ('dialing', 'in_call') AND ($1 IS NULL OR campaign_id = $1)",
            )
            .bind(campaign_id)
            .fetch_one(pool)
            .await?;
            let n = |v: i64| u32::try_from(v).unwrap_or(u32::MAX);
            Ok(CapUsage {
                minute: n(row.try_get("minute")?),
                hour: n(row.try_get("hour")?),
                day: n(row.try_get("day")?),
                open: n(open),
            })
        })
    }

    /// The outcomes of the campaign's last `limit` calls dialled at or after `since` (most recent
    /// first), counted by outcome: what the safety stops judge.
    pub async fn recent_outcomes(
        &self,
        campaign_id: &str,
        since: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<(Outcome, u32)>, StoreError> {
        on_db!(&self.db, |pool| {
            sqlx::query(
                "SELECT outcome, COUNT(*) AS n FROM (
                 SELECT outcome FROM attempts
                 WHERE campaign_id = $1 AND dialed_at >= $2 AND outcome IS NOT NULL AND state != 'not_sent'
                 ORDER BY dialed_at DESC LIMIT $3) AS recent
             GROUP BY outcome",
            )
            .bind(campaign_id)
            .bind(millis(since))
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await?
            .into_iter()
            .map(|r| {
                let n: i64 = r.try_get("n")?;
                Ok((Outcome::from_sql(r.try_get("outcome")?)?, u32::try_from(n).unwrap_or(u32::MAX)))
            })
            .collect()
        })
    }

    /// What the campaign's calls count against its spend limit (USD): the prices Bland
    /// reported, and for calls without one yet their reservations (the counters of
    /// migrations/0009_report_counters.sql).
    pub async fn campaign_spend(&self, campaign_id: &str) -> Result<f64, StoreError> {
        on_db!(&self.db, |pool| {
            Ok(sqlx::query_scalar(
                "SELECT CAST(COALESCE(SUM(spend), 0) AS DOUBLE PRECISION) FROM (
                 SELECT SUM(spend) AS spend FROM dial_counters WHERE campaign_id = $1 AND state != 'not_sent'
                 GROUP BY attempt_no, state, outcome, bucket HAVING SUM(n) > 0) AS counted",
            )
            .bind(campaign_id)
            .fetch_one(pool)
            .await?)
        })
    }

    /// What the calls dialled after `since` count against the account's daily spend limit
    /// (USD), as [`Store::campaign_spend`] counts them.
    pub async fn spend_since(&self, since: DateTime<Utc>) -> Result<f64, StoreError> {
        on_db!(&self.db, |pool| {
            // The expression is dial_counters' `spend` (migrations/0009_report_counters.sql).
            Ok(sqlx::query_scalar(
            "SELECT CAST(COALESCE(SUM(COALESCE(price, CASE WHEN state = 'failed' THEN 0 ELSE COALESCE(reserved_usd, 0) END)), 0) AS DOUBLE PRECISION)
             FROM attempts WHERE dialed_at > $1 AND state != 'not_sent'",
        )
        .bind(millis(since))
        .fetch_one(pool)
        .await?)
        })
    }

    /// Calls of the campaign (attempts that reached Bland, not those proven never sent), by
    /// outcome, and those without one yet by state.
    pub async fn call_counts(&self, campaign_id: &str) -> Result<CallCounts, StoreError> {
        on_db!(&self.db, |pool| {
            let rows = sqlx::query(
            // The counters the transactions that write attempts keep (0009_report_counters.sql).
            "SELECT NULLIF(outcome, '') AS outcome, state, CAST(CAST(SUM(n) AS BIGINT) AS BIGINT) AS n FROM dial_counters
             WHERE campaign_id = $1 AND state != 'not_sent' GROUP BY outcome, state HAVING SUM(n) > 0",
        )
        .bind(campaign_id)
        .fetch_all(pool)
        .await?;
            let mut counts = CallCounts::default();
            for r in rows {
                let n: i64 = r.try_get("n")?;
                match r.try_get::<Option<&str>, _>("outcome")? {
                    Some(o) => *counts.by_outcome.entry(Outcome::from_sql(o)?).or_insert(0) += n,
                    None => *counts.open.entry(AttemptState::from_sql(r.try_get("state")?)?).or_insert(0) += n,
                }
            }
            Ok(counts)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("c.db")).await.unwrap();
        (dir, store)
    }

    #[tokio::test]
    async fn an_unknown_stored_state_is_a_corrupt_row_not_a_default() {
        let (_dir, store) = store().await;
        // The CHECK constraint guards writes through the schema; a row written around it (an
        // older or foreign tool with checks off) must still not be read as some valid state.
        let mut conn = store.sqlite_pool().acquire().await.unwrap();
        sqlx::query("PRAGMA ignore_check_constraints = ON").execute(&mut *conn).await.unwrap();
        sqlx::query(
            "INSERT INTO campaigns (id, name, state, spec_toml, spec_json, created_at, updated_at)
             VALUES ('x', 'X', 'runing', '', '{}', 0, 0)",
        )
        .execute(&mut *conn)
        .await
        .unwrap();
        drop(conn);
        let err = store.campaign("x").await.unwrap_err();
        assert!(matches!(&err, StoreError::Corrupt(m) if m.contains("unknown campaign state `runing`")), "{err:?}");
    }
}
