//! The retry decision, pure: after attempt number `attempt_no` of a job ended with `outcome` at
//! `ended`, the campaign's `[retry]` policy and dialing window say whether the job is done,
//! failed, or tried again, and when (the delay, then moved into the recipient's window). The
//! outcome enters from the classifier (`policy.rs`); the answer leaves to the writer, which
//! moves the job in the same transaction that records the outcome.

use crate::config::{Outcome, RetrySpec};
use crate::window::{DialWindow, Recipient};
use chrono::{DateTime, Duration, Utc};

/// Where a job goes after an attempt's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// Finished with this outcome (reached, or retries exhausted / not wanted).
    Done,
    /// Failed for good.
    Failed,
    /// Try again at this instant (already moved into the recipient's window).
    Retry(DateTime<Utc>),
}

/// The retry policy: `outcome` of attempt number `attempt_no`.
pub fn next_step(
    retry: &RetrySpec,
    outcome: Outcome,
    attempt_no: u32,
    window: &DialWindow,
    recipient: &Recipient<'_>,
    ended: DateTime<Utc>,
) -> Next {
    if outcome == Outcome::Human {
        return Next::Done;
    }
    let wanted = retry.on.contains(&outcome) && attempt_no < retry.max_attempts;
    if !wanted {
        return if outcome == Outcome::Failed { Next::Failed } else { Next::Done };
    }
    // Delays are bounded at parse (≤ 30 days); checked all the same, so no setting can panic
    // the outcome path (an outcome that cannot be recorded is lost).
    let due = ended.checked_add_signed(retry.delay_before(attempt_no + 1).max(Duration::zero()));
    match due.and_then(|due| window.next_opening_for(recipient, due)) {
        Some(at) => Next::Retry(at),
        // The schedule has no opening left: nothing more can be tried.
        None => {
            if outcome == Outcome::Failed {
                Next::Failed
            } else {
                Next::Done
            }
        }
    }
}

#[cfg(test)]
mod tests {
    // The retry policy against real windows, built the way the daemon builds them.

    use chrono_tz::America::{Los_Angeles, New_York};

    use super::*;
    use crate::config::CampaignSpec;
    use crate::window::Compliance;

    fn at(rfc3339: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(rfc3339).unwrap().to_utc()
    }

    /// A campaign open every day 09:00-20:00 (New York by default) with this `[retry]` table
    /// and extra `[schedule]` lines.
    fn campaign(retry: &str, schedule: &str) -> (RetrySpec, DialWindow) {
        let text = format!(
            "name = \"Retries\"\n[call]\ntask = \"Hello\"\n[schedule]\ntimezone = \"America/New_York\"\n\
             hours = {{ \"mon-sun\" = \"09:00-20:00\" }}\n{schedule}\n[retry]\n{retry}\n"
        );
        let compliance = Compliance::default();
        let spec = CampaignSpec::parse("retry.toml", &text, &compliance).unwrap();
        let window = spec.dial_window(compliance);
        (spec.retry, window)
    }

    const VOICEMAIL_1H: &str = "max_attempts = 3\non = [\"voicemail\", \"no_answer\", \"busy\"]\ndelays = [\"1h\"]";

    #[test]
    fn a_retry_inside_the_window_is_due_exactly_after_its_delay() {
        let (retry, window) = campaign(VOICEMAIL_1H, "");
        // Tuesday 12:00 in New York.
        let next = next_step(
            &retry,
            Outcome::Voicemail,
            1,
            &window,
            &Recipient::zones(&[New_York]),
            at("2026-06-02T16:00:00Z"),
        );
        assert_eq!(next, Next::Retry(at("2026-06-02T17:00:00Z")));
    }

    #[test]
    fn a_voicemail_at_19_50_with_a_one_hour_delay_retries_at_the_next_opening_not_at_20_50() {
        let (retry, window) = campaign(VOICEMAIL_1H, "");
        // Tuesday 19:50 EDT; 20:50 is after the 20:00 close.
        let next = next_step(
            &retry,
            Outcome::Voicemail,
            1,
            &window,
            &Recipient::zones(&[New_York]),
            at("2026-06-02T23:50:00Z"),
        );
        assert_eq!(next, Next::Retry(at("2026-06-03T13:00:00Z")), "Wednesday 09:00 EDT");
    }

    #[test]
    fn a_retry_that_falls_after_the_close_before_spring_forward_opens_at_09_00_daylight_time() {
        let (retry, window) = campaign(VOICEMAIL_1H, "");
        // Saturday 2026-03-07 19:30 EST; clocks go forward that night. 09:00 EDT is 13:00Z, not
        // the 14:00Z that 09:00 at the old offset would be.
        let next = next_step(
            &retry,
            Outcome::NoAnswer,
            1,
            &window,
            &Recipient::zones(&[New_York]),
            at("2026-03-08T00:30:00Z"),
        );
        assert_eq!(next, Next::Retry(at("2026-03-08T13:00:00Z")));
    }

    #[test]
    fn a_one_day_delay_across_spring_forward_is_24_hours_and_still_lands_inside_the_window() {
        let (retry, window) = campaign("on = [\"voicemail\"]\ndelays = [\"1d\"]", "");
        // Saturday 12:00 EST + 24 h = Sunday 13:00 EDT: an instant delay, open there.
        let next = next_step(
            &retry,
            Outcome::Voicemail,
            1,
            &window,
            &Recipient::zones(&[New_York]),
            at("2026-03-07T17:00:00Z"),
        );
        assert_eq!(next, Next::Retry(at("2026-03-08T17:00:00Z")));
        // Saturday 19:30 EST + 24 h = Sunday 20:30 EDT: closed, so Monday 09:00 EDT.
        let next = next_step(
            &retry,
            Outcome::Voicemail,
            1,
            &window,
            &Recipient::zones(&[New_York]),
            at("2026-03-08T00:30:00Z"),
        );
        assert_eq!(next, Next::Retry(at("2026-03-09T13:00:00Z")));
    }

    #[test]
    fn a_retry_that_falls_after_the_close_before_fall_back_opens_at_09_00_standard_time() {
        let (retry, window) = campaign(VOICEMAIL_1H, "");
        // Saturday 2026-10-31 19:50 EDT; clocks go back that night: 09:00 EST is 14:00Z.
        let next =
            next_step(&retry, Outcome::Busy, 1, &window, &Recipient::zones(&[New_York]), at("2026-10-31T23:50:00Z"));
        assert_eq!(next, Next::Retry(at("2026-11-01T14:00:00Z")));
    }

    #[test]
    fn a_retry_waits_until_every_plausible_zone_is_open() {
        let (retry, window) = campaign(VOICEMAIL_1H, "");
        // Ends 19:00 New York / 16:00 Los Angeles; due at 20:00 New York, closed there. New
        // York opens at 09:00 = 06:00 in LA, still closed; both are open from 09:00 LA (16:00Z).
        let zones = [New_York, Los_Angeles];
        let next =
            next_step(&retry, Outcome::Voicemail, 1, &window, &Recipient::zones(&zones), at("2026-06-02T23:00:00Z"));
        assert_eq!(next, Next::Retry(at("2026-06-03T16:00:00Z")));
    }

    #[test]
    fn a_retry_due_on_a_blackout_date_moves_past_it() {
        let (retry, window) = campaign(VOICEMAIL_1H, "blackout_dates = [\"2026-12-24\", \"2026-12-25\"]");
        // Wednesday 23 December 19:30 EST: the next two days are blacked out.
        let next = next_step(
            &retry,
            Outcome::Voicemail,
            1,
            &window,
            &Recipient::zones(&[New_York]),
            at("2026-12-24T00:30:00Z"),
        );
        assert_eq!(next, Next::Retry(at("2026-12-26T14:00:00Z")));
    }

    #[test]
    fn delays_are_taken_in_order_and_the_last_one_repeats_for_later_attempts() {
        let (retry, window) = campaign("max_attempts = 5\non = [\"no_answer\"]\ndelays = [\"1h\", \"3h\"]", "");
        let ended = at("2026-06-02T13:00:00Z"); // 09:00 EDT: every delay below stays inside the day
        let after = |attempt_no| {
            next_step(&retry, Outcome::NoAnswer, attempt_no, &window, &Recipient::zones(&[New_York]), ended)
        };
        assert_eq!(after(1), Next::Retry(ended + Duration::hours(1)));
        assert_eq!(after(2), Next::Retry(ended + Duration::hours(3)));
        assert_eq!(after(3), Next::Retry(ended + Duration::hours(3)));
        assert_eq!(after(4), Next::Retry(ended + Duration::hours(3)), "the retry before the last attempt");
        assert_eq!(after(5), Next::Done, "the last attempt is never retried");
    }

    #[test]
    fn exhausted_attempts_end_the_job_done_or_failed_by_outcome() {
        let (retry, window) = campaign("max_attempts = 2\non = [\"voicemail\", \"failed\"]", "");
        let now = at("2026-06-02T16:00:00Z");
        assert!(matches!(
            next_step(&retry, Outcome::Voicemail, 1, &window, &Recipient::zones(&[New_York]), now),
            Next::Retry(_)
        ));
        assert_eq!(next_step(&retry, Outcome::Voicemail, 2, &window, &Recipient::zones(&[New_York]), now), Next::Done);
        assert!(matches!(
            next_step(&retry, Outcome::Failed, 1, &window, &Recipient::zones(&[New_York]), now),
            Next::Retry(_)
        ));
        assert_eq!(next_step(&retry, Outcome::Failed, 2, &window, &Recipient::zones(&[New_York]), now), Next::Failed);
    }

    #[test]
    fn outcomes_not_in_retry_on_end_the_job_and_only_failed_fails_it() {
        let (retry, window) = campaign("max_attempts = 3\non = [\"voicemail\"]", "");
        let now = at("2026-06-02T16:00:00Z");
        let step = |o| next_step(&retry, o, 1, &window, &Recipient::zones(&[New_York]), now);
        assert_eq!(step(Outcome::Failed), Next::Failed);
        assert_eq!(step(Outcome::NoAnswer), Next::Done);
        assert_eq!(step(Outcome::Busy), Next::Done);
        assert_eq!(step(Outcome::Unknown), Next::Done);
        assert!(matches!(step(Outcome::Voicemail), Next::Retry(_)));
    }

    #[test]
    fn a_person_reached_ends_the_job_whatever_the_policy() {
        let every = "max_attempts = 5\non = [\"voicemail\", \"no_answer\", \"busy\", \"failed\", \"unknown\"]";
        let (retry, window) = campaign(every, "");
        let now = at("2026-06-02T16:00:00Z");
        assert_eq!(next_step(&retry, Outcome::Human, 1, &window, &Recipient::zones(&[New_York]), now), Next::Done);
        assert!(matches!(
            next_step(&retry, Outcome::Unknown, 1, &window, &Recipient::zones(&[New_York]), now),
            Next::Retry(_)
        ));
    }

    #[test]
    fn a_retry_that_would_fall_after_the_campaign_end_ends_the_job() {
        let (retry, window) = campaign("on = [\"voicemail\", \"failed\"]", "end = \"2026-06-03T00:00:00-04:00\"");
        // Tuesday 19:30 EDT: the next opening would be Wednesday, after the end.
        let late = at("2026-06-02T23:30:00Z");
        assert_eq!(next_step(&retry, Outcome::Voicemail, 1, &window, &Recipient::zones(&[New_York]), late), Next::Done);
        assert_eq!(next_step(&retry, Outcome::Failed, 1, &window, &Recipient::zones(&[New_York]), late), Next::Failed);
    }
}
