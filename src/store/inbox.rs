//! The webhook inbox: every delivery as received, for audit and replay. Deliveries enter from
//! the outcome transaction ([`store_deliveries`], called with the outcomes it applied) and leave
//! only by age ([`Store::prune_inbox`], run periodically by the daemon).
//!
//! A body is stored once per call and content (SHA-256): Bland's signature carries no timestamp
//! or nonce, so a captured delivery can be replayed at will, and each replay must cost a small
//! row, not another copy of a body of up to 2 MiB. The `webhook_inbox` view reads the inbox as
//! one row per delivery with its body.

use super::backend::{Conn, on_conn, on_db};
use sha2::{Digest, Sha256};
use sqlx::QueryBuilder;

use super::{Store, StoreError};

/// One delivery to store.
pub(crate) struct InboxRow<'a> {
    pub received_at: i64,
    pub call_id: &'a str,
    pub attempt_id: Option<&'a str>,
    pub body: &'a str,
    pub result: &'static str,
}

/// Most deliveries deleted in one transaction: the webhook writer waits for the write lock
/// while a prune holds it.
const PRUNE_CHUNK: i64 = 5_000;

/// Stores `rows` in `tx`, in order: each body once per (call, SHA-256), repeats counted, and one
/// delivery row each. The caller keeps a batch within SQLite's bound parameters (≈1000 rows).
pub(crate) async fn store_deliveries(tx: impl Into<Conn<'_>>, rows: &[InboxRow<'_>]) -> Result<(), StoreError> {
    let tx = tx.into();
    let greatest = match tx {
        Conn::Sqlite(_) => "MAX",
        Conn::Pg(_) => "GREATEST",
    };
    on_conn!(tx, |tx| {
        if rows.is_empty() {
            return Ok(());
        }
        let hashes: Vec<String> = rows.iter().map(|r| hex::encode(Sha256::digest(r.body.as_bytes()))).collect();
        // Each distinct body once per statement, with the repeats the batch itself holds: an upsert
        // may not meet the same key twice in one statement on PostgreSQL.
        let mut distinct: Vec<(&InboxRow<'_>, &str, i64, i64)> = Vec::new();
        let mut seen: std::collections::HashMap<(&str, &str), usize> = std::collections::HashMap::new();
        for (r, hash) in rows.iter().zip(&hashes) {
            match seen.entry((r.call_id, hash.as_str())) {
                std::collections::hash_map::Entry::Occupied(e) => {
                    let (_, _, last, repeats) = &mut distinct[*e.get()];
                    *last = (*last).max(r.received_at);
                    *repeats += 1;
                }
                std::collections::hash_map::Entry::Vacant(e) => {
                    e.insert(distinct.len());
                    distinct.push((r, hash.as_str(), r.received_at, 0));
                }
            }
        }
        let mut bodies = QueryBuilder::new(
            "INSERT INTO webhook_bodies (call_id, body_sha256, body, first_received_at, last_received_at, repeats) ",
        );
        bodies.push_values(&distinct, |mut b, (r, hash, last, repeats)| {
            b.push_bind(r.call_id)
                .push_bind(*hash)
                .push_bind(r.body)
                .push_bind(r.received_at)
                .push_bind(*last)
                .push_bind(*repeats);
        });
        bodies.push(format!(
            " ON CONFLICT (call_id, body_sha256) DO UPDATE SET \
         repeats = webhook_bodies.repeats + excluded.repeats + 1, \
         last_received_at = {}(webhook_bodies.last_received_at, excluded.last_received_at)",
            greatest
        ));
        bodies.build().execute(&mut *tx).await?;

        let mut deliveries = QueryBuilder::new(
            "INSERT INTO webhook_deliveries (received_at, call_id, attempt_id, result, body_id) VALUES ",
        );
        for (i, (r, hash)) in rows.iter().zip(&hashes).enumerate() {
            if i > 0 {
                deliveries.push(", ");
            }
            deliveries
                .push("(")
                .push_bind(r.received_at)
                .push(", ")
                .push_bind(r.call_id)
                .push(", ")
                .push_bind(r.attempt_id)
                .push(", ")
                .push_bind(r.result)
                .push(", (SELECT id FROM webhook_bodies WHERE call_id = ")
                .push_bind(r.call_id)
                .push(" AND body_sha256 = ")
                .push_bind(hash.as_str())
                .push("))");
        }
        deliveries.build().execute(&mut *tx).await?;
        Ok(())
    })
}

/// What a prune removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pruned {
    pub deliveries: u64,
    pub bodies: u64,
}

impl Store {
    /// Deletes the deliveries received before `before`, then the bodies no delivery refers to
    /// any more, a chunk per transaction.
    pub async fn prune_inbox(&self, before: chrono::DateTime<chrono::Utc>) -> Result<Pruned, StoreError> {
        on_db!(&self.db, |pool| {
            let before_ms = super::millis(before);
            let mut pruned = Pruned::default();
            loop {
                let n = sqlx::query(
                    "DELETE FROM webhook_deliveries WHERE id IN
                   (SELECT id FROM webhook_deliveries WHERE received_at < $1 LIMIT $2)",
                )
                .bind(before_ms)
                .bind(PRUNE_CHUNK)
                .execute(pool)
                .await?
                .rows_affected();
                pruned.deliveries += n;
                if n < PRUNE_CHUNK as u64 {
                    break;
                }
            }
            // A body last received before the cutoff has no delivery after it; the NOT EXISTS
            // guards against a clock that went backwards.
            loop {
                let n = sqlx::query(
                    "DELETE FROM webhook_bodies WHERE id IN
                   (SELECT b.id FROM webhook_bodies b WHERE b.last_received_at < $1
                      AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.body_id = b.id) LIMIT $2)",
                )
                .bind(before_ms)
                .bind(PRUNE_CHUNK)
                .execute(pool)
                .await?
                .rows_affected();
                pruned.bodies += n;
                if n < PRUNE_CHUNK as u64 {
                    break;
                }
            }
            Ok(pruned)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Applied, Delivery};

    async fn deliver(store: &Store, call_id: &str, body: &str, now_ms: i64) -> Applied {
        let now = chrono::DateTime::from_timestamp_millis(now_ms).unwrap();
        let d = Delivery { attempt_id: None, call_id, inbox_body: Some(body), now };
        store.apply_call_details(d, |_| unreachable!("no attempt matches")).await.unwrap()
    }

    async fn count(store: &Store, sql: &str) -> i64 {
        sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_string())).fetch_one(store.sqlite_pool()).await.unwrap()
    }

    #[tokio::test]
    async fn a_replayed_body_is_stored_once_with_its_repeats_and_every_delivery_keeps_a_row() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.db")).await.unwrap();
        for i in 0..3 {
            assert_eq!(deliver(&store, "c1", r#"{"call_id":"c1"}"#, 1_000 + i).await, Applied::Unmatched);
        }
        deliver(&store, "c2", r#"{"call_id":"c1"}"#, 1_000).await;
        assert_eq!(count(&store, "SELECT COUNT(*) FROM webhook_inbox").await, 4, "one row per delivery");
        assert_eq!(count(&store, "SELECT COUNT(*) FROM webhook_bodies").await, 2, "one body per call and content");
        assert_eq!(count(&store, "SELECT repeats FROM webhook_bodies WHERE call_id = 'c1'").await, 2);
        assert_eq!(count(&store, "SELECT last_received_at FROM webhook_bodies WHERE call_id = 'c1'").await, 1_002);
    }

    #[tokio::test]
    async fn pruning_deletes_deliveries_and_bodies_older_than_the_cutoff_only() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.db")).await.unwrap();
        deliver(&store, "old", "a", 100).await;
        deliver(&store, "kept", "b", 100).await;
        deliver(&store, "kept", "b", 5_000).await; // replayed recently: the body stays
        deliver(&store, "new", "c", 6_000).await;
        let pruned = store.prune_inbox(chrono::DateTime::from_timestamp_millis(1_000).unwrap()).await.unwrap();
        assert_eq!(pruned, Pruned { deliveries: 2, bodies: 1 });
        let left: Vec<(String, i64)> = sqlx::query_as("SELECT call_id, received_at FROM webhook_inbox ORDER BY id")
            .fetch_all(store.sqlite_pool())
            .await
            .unwrap();
        assert_eq!(left, [("kept".to_string(), 5_000), ("new".to_string(), 6_000)]);
        assert_eq!(
            store.prune_inbox(chrono::DateTime::from_timestamp_millis(1_000).unwrap()).await.unwrap(),
            Pruned::default()
        );
    }
}
