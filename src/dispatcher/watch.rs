//! What operators did, as the daemon notices it: a campaign created, started, paused, resumed,
//! cancelled, completed or updated — by the CLI, another process, or the daemon itself — is
//! logged once, at info, when the run loop next looks (within a second). The log is then the
//! daemon's own account of every change of plan, beside the calls it made.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use tracing::info;

use super::engine::Dispatcher;
use crate::store::{CampaignState, StoreError};

/// A campaign as last seen: its state and when its row last changed.
pub(super) type Seen = HashMap<String, (CampaignState, DateTime<Utc>)>;

impl Dispatcher {
    /// Logs every campaign change since the last look; the first look only remembers.
    pub(super) async fn notice_campaign_changes(&self) -> Result<(), StoreError> {
        let now: Seen =
            self.store.campaign_states().await?.into_iter().map(|(id, state, at)| (id, (state, at))).collect();
        let before = self.lock().seen.replace(now.clone());
        let Some(before) = before else { return Ok(()) };
        for (id, (state, updated)) in &now {
            match before.get(id) {
                None => info!(campaign_id = %id, %state, "campaign created"),
                Some((was, _)) if was != state => {
                    let reason = self.store.campaign(id).await.ok().and_then(|c| c.paused_reason);
                    info!(campaign_id = %id, from = %was, to = %state, reason = reason.as_deref().unwrap_or("-"), "campaign {}", verb(*was, *state));
                }
                Some((_, at)) if at != updated => info!(campaign_id = %id, %state, "campaign updated"),
                Some(_) => {}
            }
        }
        Ok(())
    }
}

/// What moving from `from` to `to` is called.
fn verb(from: CampaignState, to: CampaignState) -> &'static str {
    match (from, to) {
        (CampaignState::Draft, CampaignState::Running) => "started",
        (CampaignState::Paused, CampaignState::Running) => "resumed",
        (_, CampaignState::Paused) => "paused",
        (_, CampaignState::Cancelled) => "cancelled",
        (_, CampaignState::Completed) => "completed",
        _ => "changed",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_move_is_named_as_an_operator_would() {
        use CampaignState::*;
        assert_eq!(verb(Draft, Running), "started");
        assert_eq!(verb(Paused, Running), "resumed");
        assert_eq!(verb(Running, Paused), "paused");
        assert_eq!(verb(Paused, Cancelled), "cancelled");
        assert_eq!(verb(Running, Completed), "completed");
    }
}
