//! The metadata contract: what switchboard puts in a call's `metadata` so that the call can be
//! matched back to its attempt. The dispatcher writes it into every send
//! ([`AttemptMetadata::to_value`]); Bland echoes it in webhooks, call details and call lists,
//! where the outcome tracker and the reconciler read it back
//! ([`AttemptMetadata::attempt_id_in`], [`AttemptMetadata::campaign_id_in`]). The key names are
//! a contract with calls already placed: renaming one orphans every call in flight.

use serde_json::{Value, json};

/// The key that carries switchboard's attempt id through Bland and back.
pub const ATTEMPT_KEY: &str = "switchboard_attempt_id";
const CAMPAIGN_KEY: &str = "switchboard_campaign_id";
const JOB_KEY: &str = "switchboard_job_id";

/// What travels in a call's `metadata`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttemptMetadata<'a> {
    pub attempt_id: &'a str,
    pub campaign_id: &'a str,
    pub job_id: i64,
}

impl AttemptMetadata<'_> {
    /// The `metadata` object sent with the call.
    pub fn to_value(&self) -> Value {
        json!({
            ATTEMPT_KEY: self.attempt_id,
            CAMPAIGN_KEY: self.campaign_id,
            JOB_KEY: self.job_id,
        })
    }

    /// The attempt id a call's metadata carries back. Keys are read one by one, not as a whole:
    /// a delivery may carry only some of them (a call placed by hand, an older version), and
    /// what it does carry still helps match it.
    pub fn attempt_id_in(metadata: &Value) -> Option<&str> {
        metadata.get(ATTEMPT_KEY).and_then(Value::as_str)
    }

    /// The job id a call's metadata carries back (see [`AttemptMetadata::attempt_id_in`]).
    pub fn job_id_in(metadata: &Value) -> Option<i64> {
        metadata.get(JOB_KEY).and_then(Value::as_i64)
    }

    /// The campaign id a call's metadata carries back (see [`AttemptMetadata::attempt_id_in`]).
    pub fn campaign_id_in(metadata: &Value) -> Option<&str> {
        metadata.get(CAMPAIGN_KEY).and_then(Value::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_the_dispatcher_writes_is_what_outcomes_read_back() {
        let sent = AttemptMetadata { attempt_id: "a-1", campaign_id: "spring", job_id: 7 }.to_value();
        assert_eq!(
            sent,
            json!({"switchboard_attempt_id": "a-1", "switchboard_campaign_id": "spring", "switchboard_job_id": 7})
        );
        assert_eq!(AttemptMetadata::attempt_id_in(&sent), Some("a-1"));
        assert_eq!(AttemptMetadata::campaign_id_in(&sent), Some("spring"));
    }

    #[test]
    fn metadata_without_our_keys_matches_nothing() {
        let foreign = json!({"order": 12, "switchboard_attempt_id": 5});
        assert_eq!(AttemptMetadata::attempt_id_in(&foreign), None);
        assert_eq!(AttemptMetadata::campaign_id_in(&Value::Null), None);
    }
}
