//! What an export can be narrowed to: a recipient's outcome as the export names it, and a time
//! given as RFC 3339 or as a date. Parsed once at the edge; the rest of the export speaks in
//! these types.

use std::fmt;
use std::str::FromStr;

use crate::store::{JobState, Outcome};

/// A recipient's outcome as the export writes it and `--outcome` selects it: its last call's
/// outcome once it is finished (`done` or `failed`), `pending` while calls are still ahead or
/// in progress, `suppressed` (do-not-call) or `cancelled` (with its campaign) otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecipientOutcome {
    Call(Outcome),
    Pending,
    Suppressed,
    Cancelled,
}

impl RecipientOutcome {
    const OTHERS: [RecipientOutcome; 3] =
        [RecipientOutcome::Pending, RecipientOutcome::Suppressed, RecipientOutcome::Cancelled];

    /// Every value, as `--outcome` accepts them.
    pub fn names() -> Vec<&'static str> {
        Outcome::ALL.iter().map(|o| o.as_str()).chain(Self::OTHERS.iter().map(|o| o.as_str())).collect()
    }

    pub fn as_str(self) -> &'static str {
        match self {
            RecipientOutcome::Call(o) => o.as_str(),
            RecipientOutcome::Pending => "pending",
            RecipientOutcome::Suppressed => "suppressed",
            RecipientOutcome::Cancelled => "cancelled",
        }
    }

    /// The outcome of a recipient in `state` whose last call ended `last`. A failed recipient
    /// without a call (refused before dialling) is `failed`; a finished one without an outcome
    /// (which the state machine never leaves) has none.
    pub fn of(state: JobState, last: Option<Outcome>) -> Option<RecipientOutcome> {
        match state {
            JobState::Queued | JobState::Dialing | JobState::InCall | JobState::RetryWait => {
                Some(RecipientOutcome::Pending)
            }
            JobState::Suppressed => Some(RecipientOutcome::Suppressed),
            JobState::Cancelled => Some(RecipientOutcome::Cancelled),
            JobState::Failed => Some(RecipientOutcome::Call(last.unwrap_or(Outcome::Failed))),
            JobState::Done => last.map(RecipientOutcome::Call),
        }
    }
}

impl fmt::Display for RecipientOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for RecipientOutcome {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let wanted = s.trim().to_ascii_lowercase();
        if let Ok(o) = wanted.parse::<Outcome>() {
            return Ok(RecipientOutcome::Call(o));
        }
        Self::OTHERS
            .into_iter()
            .find(|o| o.as_str() == wanted)
            .ok_or_else(|| format!("`{s}` is not an outcome (expected one of {})", Self::names().join(", ")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_outcome_name_parses_and_an_unknown_one_lists_them_all() {
        for name in RecipientOutcome::names() {
            assert_eq!(name.parse::<RecipientOutcome>().unwrap().as_str(), name);
        }
        assert_eq!(" Human ".parse::<RecipientOutcome>().unwrap(), RecipientOutcome::Call(Outcome::Human));
        let e = "answered".parse::<RecipientOutcome>().unwrap_err();
        assert_eq!(
            e,
            "`answered` is not an outcome (expected one of human, voicemail, no_answer, busy, failed, unknown, pending, suppressed, cancelled)"
        );
    }

    #[test]
    fn a_recipient_is_pending_until_finished_then_its_last_calls_outcome() {
        use JobState::*;
        for s in [Queued, Dialing, InCall, RetryWait] {
            assert_eq!(RecipientOutcome::of(s, Some(Outcome::Voicemail)), Some(RecipientOutcome::Pending));
        }
        assert_eq!(
            RecipientOutcome::of(Done, Some(Outcome::Voicemail)),
            Some(RecipientOutcome::Call(Outcome::Voicemail))
        );
        assert_eq!(RecipientOutcome::of(Failed, None), Some(RecipientOutcome::Call(Outcome::Failed)));
        assert_eq!(RecipientOutcome::of(Suppressed, None), Some(RecipientOutcome::Suppressed));
        assert_eq!(RecipientOutcome::of(Cancelled, Some(Outcome::Busy)), Some(RecipientOutcome::Cancelled));
        assert_eq!(RecipientOutcome::of(Done, None), None);
    }

    #[test]
    fn since_is_an_rfc3339_instant_or_a_dates_midnight_in_utc() {
        let parse = crate::clock::parse_instant;
        assert_eq!(parse("2026-06-01T09:00:00-04:00").unwrap().to_rfc3339(), "2026-06-01T13:00:00+00:00");
        assert_eq!(parse("2026-06-01").unwrap().to_rfc3339(), "2026-06-01T00:00:00+00:00");
        assert!(parse("yesterday").unwrap_err().contains("`yesterday` is not a time"));
    }
}
