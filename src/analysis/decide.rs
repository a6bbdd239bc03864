//! The worker's decisions, as pure functions of what the store and Bland said and `now`: how
//! many requests the spend limit lets out ([`claim_decision`]), what a request is expected to
//! cost ([`estimate`]), whether an answer can be stored ([`check_answers`]), and what becomes of
//! a row whose request failed ([`after_failure`]).

use chrono::{DateTime, Duration, Utc};

use crate::bland::{AnalyzeResponse, BlandError};
use crate::store::{AnalysisSpend, ClaimDecision};

/// The estimate of one request before any has been priced: Bland documents the cost of
/// analysing one call as roughly 0.003 base plus 0.0015 per call, in USD.
pub const DEFAULT_PRICE_ESTIMATE_USD: f64 = 0.0045;

/// Slack for the sum of a few thousand float prices compared with a limit.
const EPSILON_USD: f64 = 1e-9;

/// What the next request of a campaign is expected to cost: the mean of the prices Bland
/// returned for its analyses, or [`DEFAULT_PRICE_ESTIMATE_USD`] before the first (or when
/// Bland priced them all at nothing, which would make the limit meaningless).
pub fn estimate(spend: &AnalysisSpend) -> f64 {
    if spend.priced > 0 && spend.spent_usd > 0.0 {
        spend.spent_usd / spend.priced as f64
    } else {
        DEFAULT_PRICE_ESTIMATE_USD
    }
}

/// How many of `want` requests may be made now. Each must fit under `limit` with what was spent
/// and the requests in flight, each of those at the [`estimate`]. When none fits and none is in
/// flight the limit is reached for good (`Stop`, with the reason stored on the rows); while some
/// are in flight their real prices may still leave room (`Wait`).
pub fn claim_decision(limit: Option<f64>, spend: &AnalysisSpend, want: u32) -> ClaimDecision {
    let Some(limit) = limit else { return ClaimDecision::Claim(want) };
    let each = estimate(spend);
    let committed = spend.spent_usd + spend.in_flight as f64 * each;
    let room = ((limit - committed + EPSILON_USD) / each).floor();
    // `room` is a float; anything beyond `want` is as good as `want`.
    let fits = if room >= f64::from(want) {
        want
    } else if room >= 1.0 {
        room as u32
    } else {
        0
    };
    match fits {
        0 if spend.in_flight > 0 => ClaimDecision::Wait,
        0 => ClaimDecision::Stop(format!(
            "spend limit reached: ${:.4} spent on analysis of max_spend_usd ${limit:.4}; the next request \
             (about ${each:.4}) would cross it",
            spend.spent_usd
        )),
        n => ClaimDecision::Claim(n),
    }
}

/// The answers can be stored only one per question, aligned with them.
pub fn check_answers(resp: &AnalyzeResponse, questions: usize) -> Result<(), String> {
    if resp.raw.get("status").and_then(|s| s.as_str()) == Some("error") {
        let message = resp.message.as_deref().unwrap_or("no message");
        return Err(format!("Bland answered status error: {}", message.chars().take(300).collect::<String>()));
    }
    if resp.answers.len() != questions {
        return Err(format!(
            "Bland returned {} answers for {questions} questions; they cannot be matched to the questions",
            resp.answers.len()
        ));
    }
    Ok(())
}

/// How a failed row is tried again: the delay doubles from `min_backoff` up to `max_backoff`
/// (backon's exponential schedule), at most `max_tries` claims in all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetrySchedule {
    pub max_tries: u32,
    pub min_backoff: Duration,
    pub max_backoff: Duration,
}

impl RetrySchedule {
    /// The wait after the `tries`-th failed claim.
    pub fn delay(&self, tries: i64) -> Duration {
        use backon::BackoffBuilder;
        let (min, max) = (self.min_backoff.to_std().unwrap_or_default(), self.max_backoff.to_std().unwrap_or_default());
        let nth = usize::try_from(tries.saturating_sub(1)).unwrap_or(0).min(64);
        let wait = backon::ExponentialBuilder::default()
            .with_min_delay(min)
            .with_max_delay(max)
            .with_factor(2.0)
            .without_max_times()
            .build()
            .nth(nth)
            .unwrap_or(max);
        Duration::from_std(wait.min(max)).unwrap_or(self.max_backoff)
    }
}

/// What becomes of a row whose request failed.
#[derive(Debug, Clone, PartialEq)]
pub enum AfterFailure {
    /// Ask again at `at`; `count_try: false` gives the claim back (the request was refused
    /// before anything was done: a 429, a refused key).
    Retry { at: DateTime<Utc>, count_try: bool },
    /// Give up, with the reason kept on the row.
    Fail(String),
}

/// The time `delay` after `now`, checked (a delay past the end of time is the end of time).
fn after(now: DateTime<Utc>, delay: Duration) -> DateTime<Utc> {
    now.checked_add_signed(delay).unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// What to do with a row after its `tries`-th claim failed with `err`: rate limits and a refused
/// key wait without using a try (they say nothing about the call); transient failures and
/// unreadable answers are tried again on the schedule until `max_tries`; anything else Bland
/// refuses for good (no such call, a bad request) fails at once.
pub fn after_failure(err: &BlandError, tries: i64, schedule: &RetrySchedule, now: DateTime<Utc>) -> AfterFailure {
    match err {
        BlandError::RateLimited { retry_after, .. } => {
            let wait = retry_after.and_then(|d| Duration::from_std(d).ok()).unwrap_or_default();
            AfterFailure::Retry { at: after(now, wait.max(schedule.delay(tries))), count_try: false }
        }
        BlandError::Permanent { status: 401 | 403, .. } => {
            AfterFailure::Retry { at: after(now, schedule.max_backoff), count_try: false }
        }
        BlandError::Permanent { .. } => AfterFailure::Fail(err.to_string()),
        BlandError::Transient { .. } | BlandError::Decode { .. } => {
            give_up_or_retry(&err.to_string(), tries, schedule, now)
        }
    }
}

/// A failure worth another try, until the tries run out.
pub fn give_up_or_retry(error: &str, tries: i64, schedule: &RetrySchedule, now: DateTime<Utc>) -> AfterFailure {
    if tries >= i64::from(schedule.max_tries) {
        AfterFailure::Fail(format!("gave up after {tries} tries; the last: {error}"))
    } else {
        AfterFailure::Retry { at: after(now, schedule.delay(tries)), count_try: true }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::bland::{ApiErrorBody, TransientKind};

    fn spend(spent_usd: f64, priced: i64, in_flight: i64) -> AnalysisSpend {
        AnalysisSpend { spent_usd, priced, in_flight }
    }

    fn t0() -> DateTime<Utc> {
        DateTime::from_timestamp(1_780_000_000, 0).unwrap()
    }

    #[test]
    fn the_estimate_is_the_mean_recorded_price_or_the_documented_default() {
        assert_eq!(estimate(&spend(0.0, 0, 3)), DEFAULT_PRICE_ESTIMATE_USD);
        assert!((estimate(&spend(0.03, 3, 0)) - 0.01).abs() < 1e-12);
        assert_eq!(estimate(&spend(0.0, 5, 0)), DEFAULT_PRICE_ESTIMATE_USD, "free answers do not lift the limit");
    }

    #[test]
    fn without_a_limit_everything_wanted_may_go() {
        assert_eq!(claim_decision(None, &spend(1e6, 10, 50), 20), ClaimDecision::Claim(20));
    }

    #[test]
    fn requests_go_only_while_spent_plus_in_flight_plus_this_one_fit_under_the_limit() {
        // $0.02 at $0.0045 each: four fit ($0.018), a fifth would make $0.0225.
        assert_eq!(claim_decision(Some(0.02), &spend(0.0, 0, 0), 20), ClaimDecision::Claim(4));
        assert_eq!(claim_decision(Some(0.02), &spend(0.0, 0, 3), 20), ClaimDecision::Claim(1), "three in flight");
        assert_eq!(claim_decision(Some(0.02), &spend(0.009, 2, 1), 20), ClaimDecision::Claim(1));
        assert_eq!(claim_decision(Some(0.02), &spend(0.0, 0, 0), 2), ClaimDecision::Claim(2), "never more than wanted");
        // Exactly at the limit after float sums: four times 0.0045 is not quite 0.018.
        let four: f64 = [0.0045; 4].iter().sum();
        assert_eq!(claim_decision(Some(four + 0.0045), &spend(four, 4, 0), 20), ClaimDecision::Claim(1));
    }

    #[test]
    fn a_reached_limit_waits_for_requests_in_flight_and_then_stops_with_the_reason() {
        let ClaimDecision::Stop(reason) = claim_decision(Some(0.02), &spend(0.018, 4, 0), 20) else {
            panic!("expected a stop")
        };
        assert!(reason.contains("spend limit reached: $0.0180 spent") && reason.contains("$0.0200"), "{reason}");
        assert_eq!(claim_decision(Some(0.02), &spend(0.0135, 3, 1), 20), ClaimDecision::Wait);
        // The largest limit and the largest want stay in range.
        assert_eq!(claim_decision(Some(100_000.0), &spend(0.0, 0, 0), u32::MAX), ClaimDecision::Claim(22_222_222));
        assert_eq!(claim_decision(Some(100_000.0), &spend(0.0, 0, 0), 20), ClaimDecision::Claim(20));
    }

    #[test]
    fn answers_must_be_one_per_question() {
        let resp = |v| AnalyzeResponse::from_value(v).unwrap();
        assert!(check_answers(&resp(json!({"status": "success", "answers": [true, null]})), 2).is_ok());
        let e = check_answers(&resp(json!({"status": "success", "answers": [true]})), 2).unwrap_err();
        assert!(e.contains("1 answers for 2 questions"), "{e}");
        let e = check_answers(&resp(json!({"status": "error", "message": "no transcript"})), 0).unwrap_err();
        assert!(e.contains("no transcript"), "{e}");
    }

    fn schedule() -> RetrySchedule {
        RetrySchedule { max_tries: 4, min_backoff: Duration::seconds(30), max_backoff: Duration::minutes(5) }
    }

    #[test]
    fn the_retry_delay_doubles_up_to_its_cap() {
        let s = schedule();
        let delays: Vec<i64> = (1..=7).map(|n| s.delay(n).num_seconds()).collect();
        assert_eq!(delays, [30, 60, 120, 240, 300, 300, 300]);
        assert_eq!(s.delay(i64::MAX), Duration::minutes(5));
        assert_eq!(s.delay(0), Duration::seconds(30));
    }

    #[test]
    fn transient_failures_retry_until_the_tries_run_out_and_refusals_fail_at_once() {
        let s = schedule();
        let transient = BlandError::Transient {
            op: "analyze call",
            kind: TransientKind::Server,
            status: Some(500),
            detail: "boom".into(),
        };
        assert_eq!(
            after_failure(&transient, 1, &s, t0()),
            AfterFailure::Retry { at: t0() + Duration::seconds(30), count_try: true }
        );
        let AfterFailure::Fail(reason) = after_failure(&transient, 4, &s, t0()) else { panic!("expected a failure") };
        assert!(reason.starts_with("gave up after 4 tries; the last: analyze call failed transiently"), "{reason}");
        let not_found = BlandError::Permanent {
            op: "analyze call",
            status: 404,
            body: ApiErrorBody::parse(b"{\"message\":\"x\"}"),
        };
        assert!(matches!(after_failure(&not_found, 1, &s, t0()), AfterFailure::Fail(r) if r.contains("404")));
    }

    #[test]
    fn rate_limits_and_a_refused_key_wait_without_using_a_try() {
        let s = schedule();
        let limited =
            BlandError::RateLimited { op: "analyze call", retry_after: Some(std::time::Duration::from_secs(90)) };
        assert_eq!(
            after_failure(&limited, 4, &s, t0()),
            AfterFailure::Retry { at: t0() + Duration::seconds(240), count_try: false },
            "the longer of Retry-After and the schedule, even on the last try"
        );
        let refused = BlandError::Permanent { op: "analyze call", status: 401, body: ApiErrorBody::parse(b"") };
        assert_eq!(
            after_failure(&refused, 1, &s, t0()),
            AfterFailure::Retry { at: t0() + Duration::minutes(5), count_try: false }
        );
        assert_eq!(
            give_up_or_retry("x", 1, &s, DateTime::<Utc>::MAX_UTC),
            AfterFailure::Retry { at: DateTime::<Utc>::MAX_UTC, count_try: true },
            "time arithmetic is checked"
        );
    }
}
