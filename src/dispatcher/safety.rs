//! Automatic safety stops: a running campaign pauses itself, with the reason in `show`, the
//! log and `switchboard_safety_stops_total`, when its recent calls say something is wrong —
//! most of them fail, hardly anyone answers any more (the caller number is likely flagged as
//! spam), or Bland has been answering 429 for a long time. Resuming is the operator's choice;
//! a resumed (or updated) campaign is judged on the calls it makes after that, not before.
//!
//! [`verdict`] is the pure rule over the outcomes of a campaign's last calls; the dispatcher
//! asks the store for those every [`CHECK_EVERY`] and pauses what it condemns.

use chrono::{DateTime, Duration, Utc};
use tracing::warn;

use super::engine::Dispatcher;
use crate::config::Outcome;
use crate::config::daemon::SafetySection;
use crate::store::{CampaignAction, CampaignRow, StoreError};

/// How often the running campaigns' last calls are looked at.
pub const CHECK_EVERY: Duration = Duration::seconds(5);

/// The outcomes of a campaign's last calls (at most `[safety] window`, most recent first).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Recent {
    pub calls: u32,
    pub failed: u32,
    pub human: u32,
}

/// Why the campaign must stop, or `None`. Judged only on a full window of calls.
pub fn verdict(recent: Recent, safety: &SafetySection) -> Option<String> {
    if recent.calls == 0 || recent.calls < safety.window {
        return None;
    }
    let share = |n: u32| f64::from(n) / f64::from(recent.calls);
    let pct = |x: f64| format!("{:.0} %", 100.0 * x);
    if share(recent.failed) > safety.max_failure_share {
        return Some(format!(
            "safety stop: {} of the last {} calls failed ({}; the limit is {}, [safety] max_failure_share)",
            recent.failed,
            recent.calls,
            pct(share(recent.failed)),
            pct(safety.max_failure_share)
        ));
    }
    if share(recent.human) < safety.min_human_share {
        return Some(format!(
            "safety stop: only {} of the last {} calls reached a person ({}; the minimum is {}, [safety] \
             min_human_share): the caller number may be flagged as spam",
            recent.human,
            recent.calls,
            pct(share(recent.human)),
            pct(safety.min_human_share)
        ));
    }
    None
}

impl Dispatcher {
    /// Pauses every running campaign the safety rules condemn (at most every [`CHECK_EVERY`]);
    /// `true` when it paused one.
    pub(super) async fn safety_check(&self, campaigns: &[CampaignRow], now: DateTime<Utc>) -> Result<bool, StoreError> {
        {
            let mut state = self.lock();
            if state.safety_checked_at.is_some_and(|t| t <= now && now - t < CHECK_EVERY) {
                return Ok(false);
            }
            state.safety_checked_at = Some(now);
        }
        let throttled = {
            let mut state = self.lock();
            match state.slowdown.throttled_since() {
                Some(since) if now - since >= self.cfg.safety.max_throttled => {
                    // A fresh storm must last as long again before the next stop.
                    state.slowdown.restart_storm_clock(now);
                    Some(since)
                }
                _ => None,
            }
        };
        let mut paused = false;
        for row in campaigns {
            let reason = match throttled {
                Some(since) => Some(format!(
                    "safety stop: Bland has answered 429 (rate limited) since {} ({} or more, [safety] max_throttled)",
                    since.format("%Y-%m-%d %H:%M:%S UTC"),
                    crate::config::format_duration(self.cfg.safety.max_throttled)
                )),
                None => {
                    let counts = self.store.recent_outcomes(&row.id, row.updated_at, self.cfg.safety.window).await?;
                    let get = |o: Outcome| counts.iter().find(|(x, _)| *x == o).map_or(0, |(_, n)| *n);
                    let recent = Recent {
                        calls: counts.iter().map(|(_, n)| n).sum(),
                        failed: get(Outcome::Failed),
                        human: get(Outcome::Human),
                    };
                    verdict(recent, &self.cfg.safety)
                }
            };
            if let Some(reason) = reason {
                warn!(campaign_id = %row.id, %reason, "campaign paused by a safety stop");
                let kind = if throttled.is_some() { "throttled" } else { "calls" };
                self.metrics.safety_stop(&row.id, kind);
                self.store.apply_campaign_action(&row.id, CampaignAction::Pause, Some(&reason), now).await?;
                paused = true;
            }
        }
        Ok(paused)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn safety() -> SafetySection {
        SafetySection {
            window: 20,
            max_failure_share: 0.5,
            min_human_share: 0.05,
            max_throttled: Duration::minutes(10),
        }
    }

    #[test]
    fn a_window_of_mostly_failed_calls_stops_the_campaign_and_says_so() {
        let r = Recent { calls: 20, failed: 11, human: 5 };
        let reason = verdict(r, &safety()).expect("11 of 20 failed is over half");
        assert_eq!(
            reason,
            "safety stop: 11 of the last 20 calls failed (55 %; the limit is 50 %, [safety] max_failure_share)"
        );
        assert_eq!(verdict(Recent { failed: 10, ..r }, &safety()), None, "exactly half is not over it");
    }

    #[test]
    fn a_collapse_of_human_answers_stops_the_campaign() {
        let r = Recent { calls: 20, failed: 0, human: 0 };
        assert!(verdict(r, &safety()).is_some_and(|m| m.contains("flagged as spam")));
        assert_eq!(verdict(Recent { human: 1, ..r }, &safety()), None, "1 of 20 is 5 %, the minimum");
    }

    #[test]
    fn fewer_calls_than_the_window_are_not_judged() {
        assert_eq!(verdict(Recent { calls: 19, failed: 19, human: 0 }, &safety()), None);
        assert_eq!(verdict(Recent::default(), &safety()), None);
    }
}
