//! Outcome classification, pure: what a call's details mean (human, voicemail, no answer, busy,
//! failed, unknown). Details enter from a webhook or a poll; the outcome leaves to the writer and
//! to the retry decision (`retry.rs`).

use crate::bland::{AnsweredBy, CallDetails, CallStatus};
use crate::config::Outcome;

// The retry decision lived here before it had a file of its own; its old path still works.
pub use super::retry::{Next, next_step};

/// The outcome the details show, or `None` while the call is not over.
pub fn classify(details: &CallDetails) -> Option<Outcome> {
    if !details.is_final() {
        return None;
    }
    match &details.answered_by {
        Some(AnsweredBy::Human) => return Some(Outcome::Human),
        Some(AnsweredBy::Voicemail) => return Some(Outcome::Voicemail),
        Some(AnsweredBy::NoAnswer) => return Some(Outcome::NoAnswer),
        _ => {}
    }
    match &details.status {
        Some(CallStatus::Busy) => return Some(Outcome::Busy),
        Some(CallStatus::NoAnswer) => return Some(Outcome::NoAnswer),
        Some(CallStatus::Failed | CallStatus::Canceled) => return Some(Outcome::Failed),
        _ => {}
    }
    if details.queue_status.as_ref().is_some_and(|q| q.is_error()) {
        return Some(Outcome::Failed);
    }
    let conversation = !details.transcripts.is_empty()
        || details.concatenated_transcript.as_deref().is_some_and(|t| !t.trim().is_empty());
    if details.answered_by.is_none() && conversation {
        return Some(Outcome::Human);
    }
    if details.error_message.as_deref().is_some_and(|e| !e.trim().is_empty()) && !conversation {
        return Some(Outcome::Failed);
    }
    Some(Outcome::Unknown)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn details(v: serde_json::Value) -> CallDetails {
        CallDetails::from_value(v).unwrap()
    }

    #[test]
    fn answered_by_decides_first() {
        let d = |a: &str| details(json!({"call_id": "c", "completed": true, "answered_by": a, "status": "completed"}));
        assert_eq!(classify(&d("human")), Some(Outcome::Human));
        assert_eq!(classify(&d("voicemail")), Some(Outcome::Voicemail));
        assert_eq!(classify(&d("no-answer")), Some(Outcome::NoAnswer));
    }

    #[test]
    fn telephony_statuses_and_errors_map_to_busy_no_answer_and_failed() {
        let busy = details(json!({"call_id": "c", "completed": true, "status": "busy"}));
        assert_eq!(classify(&busy), Some(Outcome::Busy));
        let na = details(json!({"call_id": "c", "completed": true, "status": "no-answer"}));
        assert_eq!(classify(&na), Some(Outcome::NoAnswer));
        let failed =
            details(json!({"call_id": "c", "completed": true, "status": "failed", "error_message": "carrier"}));
        assert_eq!(classify(&failed), Some(Outcome::Failed));
        let qerr = details(json!({"call_id": "c", "queue_status": "call_error"}));
        assert_eq!(classify(&qerr), Some(Outcome::Failed));
    }

    #[test]
    fn a_conversation_without_answered_by_is_human_and_silence_is_unknown() {
        let talk = details(json!({"call_id": "c", "completed": true, "status": "completed",
            "transcripts": [{"id": 1, "text": "hello", "user": "user"}]}));
        assert_eq!(classify(&talk), Some(Outcome::Human));
        let silent = details(json!({"call_id": "c", "completed": true, "status": "completed"}));
        assert_eq!(classify(&silent), Some(Outcome::Unknown));
        let unknown = details(json!({"call_id": "c", "completed": true, "answered_by": "unknown",
            "transcripts": [{"id": 1, "text": "hello", "user": "user"}]}));
        assert_eq!(classify(&unknown), Some(Outcome::Unknown));
    }

    #[test]
    fn a_call_still_running_has_no_outcome() {
        let live =
            details(json!({"call_id": "c", "completed": false, "status": "in-progress", "queue_status": "started"}));
        assert_eq!(classify(&live), None);
    }
}
