//! What `/readyz` and `/metrics` ask the database that no other part needs: whether it answers,
//! whether its schema is the one this binary was built for, and what a campaign's calls cost.
//! Data enters from the pool; it leaves as plain values.

use sqlx::Row;

use super::{MIGRATOR, Store, StoreError};

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
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// The applied migrations against the binary's set.
    pub async fn migration_status(&self) -> Result<MigrationStatus, StoreError> {
        let rows = sqlx::query("SELECT version, checksum, success FROM _sqlx_migrations ORDER BY version")
            .fetch_all(&self.pool)
            .await?;
        let mut status = MigrationStatus::default();
        let mut applied = std::collections::BTreeMap::new();
        for row in rows {
            let version: i64 = row.try_get("version")?;
            let checksum: Vec<u8> = row.try_get("checksum")?;
            let success: bool = row.try_get("success")?;
            applied.insert(version, (checksum, success));
        }
        for m in MIGRATOR.iter().filter(|m| !m.migration_type.is_down_migration()) {
            match applied.remove(&m.version) {
                None => status.pending.push(m.version),
                Some((checksum, success)) if !success || checksum != *m.checksum => status.mismatched.push(m.version),
                Some(_) => {}
            }
        }
        status.unknown = applied.into_keys().collect();
        Ok(status)
    }

    /// What the campaign's calls have cost, in USD: the sum of the prices Bland reported.
    pub async fn call_spend_usd(&self, campaign_id: &str) -> Result<f64, StoreError> {
        Ok(sqlx::query_scalar("SELECT TOTAL(price) FROM attempts WHERE campaign_id = ?")
            .bind(campaign_id)
            .fetch_one(&self.pool)
            .await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_fresh_database_is_current_and_a_newer_or_changed_migration_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("m.db")).await.unwrap();
        store.ping().await.unwrap();
        let status = store.migration_status().await.unwrap();
        assert!(status.is_current(), "{status:?}");
        assert_eq!(status.to_string(), "current");

        let first = MIGRATOR.iter().next().unwrap().version;
        sqlx::query(
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time)
             VALUES (9999, 'from a newer switchboard', 1, x'00', 0)",
        )
        .execute(&store.pool)
        .await
        .unwrap();
        sqlx::query("UPDATE _sqlx_migrations SET checksum = x'01' WHERE version = ?")
            .bind(first)
            .execute(&store.pool)
            .await
            .unwrap();
        let status = store.migration_status().await.unwrap();
        assert_eq!(status, MigrationStatus { pending: vec![], unknown: vec![9999], mismatched: vec![first] });
        assert!(!status.is_current());
        assert!(status.to_string().contains("unknown to this binary: 9999"), "{status}");

        sqlx::query("DELETE FROM _sqlx_migrations WHERE version = ?").bind(first).execute(&store.pool).await.unwrap();
        assert_eq!(store.migration_status().await.unwrap().pending, vec![first]);
    }
}
