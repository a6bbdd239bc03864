//! Session locks on PostgreSQL: a lock held by a connection of its own for as long as that
//! connection lives (an advisory lock), released by the server however the process ends.

use std::time::Duration;

use sqlx::Connection;

use super::{Db, Store, StoreError};

/// A held session advisory lock. While it is held, a task checks every few seconds that its
/// connection is alive; if the connection is lost (the server restarted, an operator ran
/// `pg_terminate_backend`), so is the lock, and another process may take it at once: the
/// process stops rather than go on acting as the lock's holder.
#[derive(Debug)]
pub struct SessionLock {
    watch: tokio::task::JoinHandle<()>,
}

impl Drop for SessionLock {
    fn drop(&mut self) {
        // The connection goes with the task, and the server releases the lock with it.
        self.watch.abort();
    }
}

/// How often the lock's connection is checked.
const CHECK_EVERY: Duration = Duration::from_secs(2);

impl Store {
    /// Takes the session advisory lock `name` when it is free: `None` when another session holds
    /// it. On SQLite there are no sessions: [`StoreError::Conflict`].
    pub async fn session_lock(&self, name: &str) -> Result<Option<SessionLock>, StoreError> {
        let Db::Pg(pool) = &self.db else {
            return Err(StoreError::Conflict("session locks are PostgreSQL's".into()));
        };
        let mut conn = pool.acquire().await?.detach();
        let got: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock(hashtextextended($1, 0))")
            .bind(name)
            .fetch_one(&mut conn)
            .await?;
        if !got {
            conn.close().await.ok();
            return Ok(None);
        }
        let name = name.to_string();
        let watch = tokio::spawn(async move {
            loop {
                tokio::time::sleep(CHECK_EVERY).await;
                if let Err(e) = conn.ping().await {
                    tracing::error!(
                        lock = %name,
                        error = %e,
                        "lost the connection holding the lock: stopping, so that no other process acts while this one \
                         still believes it holds it"
                    );
                    std::process::exit(75);
                }
            }
        });
        Ok(Some(SessionLock { watch }))
    }
}
