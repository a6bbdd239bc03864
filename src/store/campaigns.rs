//! Campaign rows: create/update while draft, list, show with job counts.

use std::collections::BTreeMap;
use std::fmt;

use sqlx::Row;

use super::{Store, StoreError, from_millis};
use crate::config::CampaignSpec;

/// Every job state, in the order reports list them.
pub const JOB_STATES: [&str; 8] =
    ["queued", "dialing", "in_call", "retry_wait", "done", "failed", "cancelled", "suppressed"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CampaignState {
    Draft,
    Running,
    Paused,
    Completed,
    Cancelled,
}

impl CampaignState {
    pub fn as_str(self) -> &'static str {
        match self {
            CampaignState::Draft => "draft",
            CampaignState::Running => "running",
            CampaignState::Paused => "paused",
            CampaignState::Completed => "completed",
            CampaignState::Cancelled => "cancelled",
        }
    }

    fn parse(s: &str) -> Result<Self, StoreError> {
        Ok(match s {
            "draft" => CampaignState::Draft,
            "running" => CampaignState::Running,
            "paused" => CampaignState::Paused,
            "completed" => CampaignState::Completed,
            "cancelled" => CampaignState::Cancelled,
            other => {
                return Err(StoreError::Conflict(format!("unknown campaign state `{other}` in the database")));
            }
        })
    }
}

impl fmt::Display for CampaignState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone)]
pub struct CampaignRow {
    pub id: String,
    pub name: String,
    pub state: CampaignState,
    pub spec_toml: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
    pub paused_reason: Option<String>,
}

/// What `save_campaign` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Saved {
    Created,
    Updated,
}

fn row_to_campaign(row: sqlx::sqlite::SqliteRow) -> Result<CampaignRow, StoreError> {
    Ok(CampaignRow {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        state: CampaignState::parse(row.try_get::<&str, _>("state")?)?,
        spec_toml: row.try_get("spec_toml")?,
        created_at: from_millis(row.try_get("created_at")?),
        updated_at: from_millis(row.try_get("updated_at")?),
        paused_reason: row.try_get("paused_reason")?,
    })
}

macro_rules! campaign_columns {
    () => {
        "id, name, state, spec_toml, created_at, updated_at, paused_reason"
    };
}

impl Store {
    /// Creates the campaign, or updates it while it is still a draft. A campaign that has been
    /// started is refused: its recipients may already have been called under the old spec.
    pub async fn save_campaign(
        &self,
        spec: &CampaignSpec,
        spec_toml: &str,
        spec_json: &str,
        now_ms: i64,
    ) -> Result<Saved, StoreError> {
        // One statement: insert, or update only while draft; RETURNING tells which happened.
        let created_at: Option<i64> = sqlx::query_scalar(
            "INSERT INTO campaigns (id, name, state, spec_toml, spec_json, created_at, updated_at)
             VALUES (?1, ?2, 'draft', ?3, ?4, ?5, ?5)
             ON CONFLICT (id) DO UPDATE SET name = excluded.name, spec_toml = excluded.spec_toml,
                 spec_json = excluded.spec_json, updated_at = excluded.updated_at
             WHERE campaigns.state = 'draft'
             RETURNING created_at",
        )
        .bind(spec.id.as_str())
        .bind(&spec.name)
        .bind(spec_toml)
        .bind(spec_json)
        .bind(now_ms)
        .fetch_optional(&self.pool)
        .await?;
        match created_at {
            Some(t) if t == now_ms => return Ok(Saved::Created),
            Some(_) => return Ok(Saved::Updated),
            None => {}
        }
        let current = self.campaign(spec.id.as_str()).await?;
        Err(StoreError::Conflict(format!(
            "campaign `{}` is {}, not draft: its spec can no longer change (create a new campaign with another id)",
            spec.id, current.state
        )))
    }

    pub async fn campaign(&self, id: &str) -> Result<CampaignRow, StoreError> {
        let row = sqlx::query(concat!("SELECT ", campaign_columns!(), " FROM campaigns WHERE id = ?"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| StoreError::no_campaign(id))?;
        row_to_campaign(row)
    }

    pub async fn campaigns(&self) -> Result<Vec<CampaignRow>, StoreError> {
        sqlx::query(concat!("SELECT ", campaign_columns!(), " FROM campaigns ORDER BY created_at, id"))
            .fetch_all(&self.pool)
            .await?
            .into_iter()
            .map(row_to_campaign)
            .collect()
    }

    /// Jobs of the campaign by state; every state is present, zero when it has none.
    pub async fn job_counts(&self, campaign_id: &str) -> Result<BTreeMap<String, i64>, StoreError> {
        let mut counts: BTreeMap<String, i64> = JOB_STATES.iter().map(|s| (s.to_string(), 0)).collect();
        let rows = sqlx::query("SELECT state, COUNT(*) AS n FROM jobs WHERE campaign_id = ? GROUP BY state")
            .bind(campaign_id)
            .fetch_all(&self.pool)
            .await?;
        for row in rows {
            counts.insert(row.try_get("state")?, row.try_get("n")?);
        }
        Ok(counts)
    }
}
