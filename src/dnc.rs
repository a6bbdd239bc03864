//! The do-not-call use-cases, shared by the command line and the control API: add numbers
//! (each read as a phone number first, the whole list refused if one is not), list them.
//! Adding suppresses, in the same transaction, every queued job in any campaign that would
//! call one of them (see [`Store::dnc_add`]).

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::phone::PhoneNumber;
use crate::store::{DncEntry, Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum DncError {
    /// A number that is not one; nothing was added.
    #[error("`{number}` cannot be added: {why}")]
    NotANumber { number: String, why: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What adding numbers did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Added {
    /// Numbers new to the list.
    pub added: u64,
    /// Numbers that were on it already.
    pub already: u64,
    /// Queued jobs (in any campaign) now suppressed.
    pub jobs_suppressed: u64,
}

/// Adds `numbers` (as operators write them: national or E.164) with `reason`; one that is not
/// a phone number refuses the whole list.
pub async fn add(store: &Store, numbers: &[String], reason: &str, now: DateTime<Utc>) -> Result<Added, DncError> {
    let phones = numbers
        .iter()
        .map(|n| PhoneNumber::parse(n).map_err(|e| DncError::NotANumber { number: n.clone(), why: e.to_string() }))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(add_parsed(store, &phones, reason, now).await?)
}

/// [`add`] for numbers already read (a list file's).
pub async fn add_parsed(
    store: &Store,
    phones: &[PhoneNumber],
    reason: &str,
    now: DateTime<Utc>,
) -> Result<Added, StoreError> {
    let done = store.dnc_add(phones, reason, now).await?;
    Ok(Added { added: done.added, already: phones.len() as u64 - done.added, jobs_suppressed: done.jobs_suppressed })
}

/// Every number on the list, oldest first.
pub async fn list(store: &Store) -> Result<Vec<DncEntry>, StoreError> {
    store.dnc_list().await
}
