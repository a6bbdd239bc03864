//! The do-not-call list: numbers never dialled in any campaign.

use super::backend::{Backend as _, Conn, on_conn, on_db};
use sqlx::{QueryBuilder, Row};

use chrono::{DateTime, Utc};

use super::{Store, StoreError, millis, push_in_list, stored_time};
use crate::phone::PhoneNumber;

#[derive(Debug, Clone)]
pub struct DncEntry {
    pub phone: String,
    pub reason: String,
    pub added_at: chrono::DateTime<chrono::Utc>,
}

/// What adding numbers to the DNC list did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DncAdded {
    /// Numbers new to the list.
    pub added: u64,
    /// Jobs (in any campaign) that were waiting to be called and are now suppressed.
    pub jobs_suppressed: u64,
}

const ROWS_PER_STATEMENT: usize = 8000;

impl Store {
    /// Adds E.164 numbers to the list and, in the same transaction, suppresses every job that
    /// would still call one of them.
    pub async fn dnc_add(
        &self,
        phones: &[PhoneNumber],
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<DncAdded, StoreError> {
        on_db!(&self.db, |pool| {
            let now_ms = millis(now);
            let mut tx = pool.begin_write(super::imports::DNC_LOCK).await?;
            let phones: Vec<&str> = phones.iter().map(PhoneNumber::as_str).collect();
            let out = insert(&mut tx, &phones, reason, now_ms).await?;
            tx.commit().await?;
            Ok(out)
        })
    }

    pub async fn dnc_list(&self) -> Result<Vec<DncEntry>, StoreError> {
        on_db!(&self.db, |pool| {
            sqlx::query("SELECT phone, reason, added_at FROM dnc ORDER BY added_at, phone")
                .fetch_all(pool)
                .await?
                .into_iter()
                .map(|r| {
                    Ok(DncEntry {
                        phone: r.try_get("phone")?,
                        reason: r.try_get("reason")?,
                        added_at: stored_time(r.try_get("added_at")?, "dnc.added_at")?,
                    })
                })
                .collect()
        })
    }
}

/// Adds numbers (E.164) to the list and suppresses every job that would still call one of them,
/// inside the caller's transaction: [`Store::dnc_add`], and an opt-out recorded with its call's
/// outcome.
pub(super) async fn insert(
    tx: impl Into<Conn<'_>>,
    phones: &[&str],
    reason: &str,
    now_ms: i64,
) -> Result<DncAdded, StoreError> {
    on_conn!(tx.into(), |tx| {
        let mut out = DncAdded::default();
        for chunk in phones.chunks(ROWS_PER_STATEMENT) {
            let mut q: QueryBuilder<_> = QueryBuilder::new("INSERT INTO dnc (phone, reason, added_at) ");
            q.push_values(chunk, |mut b, p| {
                b.push_bind(*p).push_bind(reason).push_bind(now_ms);
            });
            q.push(" ON CONFLICT (phone) DO NOTHING");
            out.added += q.build().execute(&mut *tx).await?.rows_affected();

            let mut q: QueryBuilder<_> = QueryBuilder::new("UPDATE jobs SET state = 'suppressed', reason = ");
            q.push_bind(format!("do-not-call: {reason}"));
            q.push(", updated_at = ").push_bind(now_ms);
            // Through the (campaign_id, phone) index, one campaign at a time.
            q.push(
                " WHERE campaign_id IN (SELECT id FROM campaigns) AND state IN ('queued', 'retry_wait') AND phone IN ",
            );
            push_in_list(&mut q, chunk.iter().copied());
            out.jobs_suppressed += q.build().execute(&mut *tx).await?.rows_affected();
        }
        Ok(out)
    })
}
