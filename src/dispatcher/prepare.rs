//! The decision to dial a job now, as one pure function of the job, its campaign's plan, what
//! the store knows about the number ([`Facts`]) and `now`. The claim path
//! ([`Dispatcher::step`](super::Dispatcher::step)) asks it for every claimed job and the
//! reconciler for an attempt proven absent at Bland before sending it again, so a resend passes
//! exactly the checks a first send does. It answers [`Prepared::Send`] (the filled call, ready
//! to address with the attempt's metadata) or [`Prepared::Defer`] with the reason and, when the
//! job may be tried again, the time.

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use serde_json::{Map, Value};

use super::metadata::AttemptMetadata;
use super::plan::CampaignPlan;
use crate::bland::SendCallRequest;
use crate::compliance::{Region, rolling_cap_allows, rolling_cap_next_allowed};
use crate::store::ClaimedJob;
use crate::template::{Variables, fill_call};
use crate::window::Recipient;

/// Everything besides the job and its campaign that the decision depends on, gathered by the
/// caller from the store and the daemon config.
#[derive(Debug, Clone, Copy)]
pub struct Facts<'a> {
    /// The zones the recipient must be inside their window in (see
    /// [`recipient_zones`](super::plan::recipient_zones)).
    pub zones: &'a [Tz],
    /// The regions (states, provinces) whose rules apply to the recipient.
    pub regions: &'a [Region],
    /// Why the number is on the do-not-call list, if it is.
    pub dnc_reason: Option<&'a str>,
    /// Dials to this number in the last 24 hours (oldest first), across campaigns.
    pub recent_dials: &'a [DateTime<Utc>],
    /// Dials to this number (oldest first) by campaigns with this campaign's subject, as far
    /// back as the state frequency caps look: what those caps count.
    pub subject_dials: &'a [DateTime<Utc>],
    /// `[compliance] max_calls_per_number_per_day`.
    pub max_calls_per_number_per_day: u32,
}

/// What to do with a job now.
#[derive(Debug, Clone, PartialEq)]
pub enum Prepared {
    Send(Ready),
    Defer(Deferral),
}

/// Why a job is not dialled now.
#[derive(Debug, Clone, PartialEq)]
pub enum Deferral {
    /// Not dialable now; due again at `at` (it costs no cap allowance meanwhile).
    Requeue { at: DateTime<Utc>, why: Wait },
    /// On the do-not-call list: never dialled.
    Suppress(String),
    /// Can never be dialled as it stands (no opening left, a template that does not fill).
    Fail(String),
}

/// What a requeued job waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wait {
    /// The recipient's window is closed; `at` is its next opening.
    WindowClosed,
    /// The number had its day's calls; `at` is when the oldest of them leaves the 24 hours.
    NumberCap,
    /// A state's rolling frequency cap on calls about this subject (FL, OK, MD: 3 in 24 h);
    /// `at` is when another call fits under it.
    FrequencyCap,
}

/// A call to place: the campaign's `[call]` table filled for the recipient, and the
/// recipient's variables as `request_data`.
#[derive(Debug, Clone, PartialEq)]
pub struct Ready {
    call: Map<String, Value>,
    request_data: Value,
}

/// Decides for one job. The checks run in this order, and the first that holds decides:
/// do-not-call (suppressed even while the window is closed), the window — federal guard ∩
/// campaign hours ∩ state rules ∩ blackouts, in every zone and region of the recipient
/// (requeued at its next opening) —, the per-number daily cap, the state frequency cap, then
/// the templates.
pub fn prepare(job: &ClaimedJob, plan: &CampaignPlan, facts: &Facts<'_>, now: DateTime<Utc>) -> Prepared {
    let defer = Prepared::Defer;
    if let Some(reason) = facts.dnc_reason {
        return defer(Deferral::Suppress(format!("do-not-call: {reason}")));
    }
    let recipient = Recipient { zones: facts.zones, regions: facts.regions };
    if !plan.window.is_open_for(&recipient, now) {
        return defer(match plan.window.next_opening_for(&recipient, now) {
            Some(at) => Deferral::Requeue { at, why: Wait::WindowClosed },
            None => Deferral::Fail("the campaign's schedule has no opening left for this recipient".into()),
        });
    }
    if let Some(held) = number_held(plan, facts, now) {
        return defer(held);
    }
    let vars = Variables::from_stored(&job.variables, job.variable_names.as_deref());
    let mut call = plan.spec.call.clone();
    let next_attempt = job.attempts as u32 + 1;
    if next_attempt >= plan.spec.retry.max_attempts
        && let Some(msg) = &plan.spec.retry.last_attempt_voicemail_message
    {
        call.insert("voicemail_message".into(), Value::String(msg.clone()));
    }
    match fill_call(&call, &vars) {
        Ok(call) => Prepared::Send(Ready { call, request_data: vars.to_request_data() }),
        Err(e) => defer(Deferral::Fail(e.to_string())),
    }
}

/// The per-number daily cap and the state frequency cap: `Some` (a requeue until the number may
/// be dialled again) when either holds it back now. The one judgement of both: `prepare` makes
/// it on the dials read before the claim, and with several daemons the commit makes it again on
/// every daemon's dials (`Store::commit_claims`). Only `regions`, `recent_dials`,
/// `subject_dials` and `max_calls_per_number_per_day` of `facts` are read.
pub fn number_held(plan: &CampaignPlan, facts: &Facts<'_>, now: DateTime<Utc>) -> Option<Deferral> {
    let max = facts.max_calls_per_number_per_day;
    if facts.recent_dials.len() as u32 >= max {
        let oldest = facts.recent_dials[facts.recent_dials.len() - max as usize];
        let at = (oldest + Duration::days(1)).max(now + Duration::seconds(1));
        return Some(Deferral::Requeue { at, why: Wait::NumberCap });
    }
    if let Some(cap) = plan.frequency_cap(facts.regions)
        && !rolling_cap_allows(facts.subject_dials, now, cap)
    {
        let at = rolling_cap_next_allowed(facts.subject_dials, now, cap).max(now + Duration::seconds(1));
        return Some(Deferral::Requeue { at, why: Wait::FrequencyCap });
    }
    None
}

/// A number's dials as [`Facts`] counts them: those of the last 24 hours, and those by
/// campaigns about `subject` (as far back as `earlier` goes), each with `extra` more at `now`
/// (dials of the same number committed in the same step).
pub fn dial_lists(
    earlier: &[crate::store::RecentDial],
    extra: usize,
    subject: &str,
    now: DateTime<Utc>,
) -> (Vec<DateTime<Utc>>, Vec<DateTime<Utc>>) {
    let day_ago = now - Duration::days(1);
    let mut dials: Vec<DateTime<Utc>> = earlier.iter().filter(|d| d.at > day_ago).map(|d| d.at).collect();
    dials.extend(std::iter::repeat_n(now, extra));
    let mut subject_dials: Vec<DateTime<Utc>> = earlier.iter().filter(|d| d.subject == subject).map(|d| d.at).collect();
    subject_dials.extend(std::iter::repeat_n(now, extra));
    (dials, subject_dials)
}

impl Ready {
    /// The send-call body for one attempt; `Err` says why Bland could not take the call table
    /// (the job fails: nothing was sent).
    pub fn request(
        self,
        phone: &str,
        metadata: &AttemptMetadata<'_>,
        webhook: Option<&str>,
    ) -> Result<SendCallRequest, String> {
        let mut req =
            SendCallRequest::from_call_table(self.call, phone, metadata.to_value(), webhook.map(str::to_string))
                .map_err(|e| e.to_string())?;
        if let Value::Object(data) = self.request_data {
            req = req.with_request_data(data);
        }
        // Voicemail retries depend on Bland telling voicemail from people.
        req.answered_by_enabled = Some(true);
        Ok(req)
    }
}

#[cfg(test)]
mod tests {
    use chrono_tz::America::New_York;

    use super::*;
    use crate::config::CampaignSpec;
    use crate::window::Compliance;

    fn at(rfc3339: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(rfc3339).unwrap().to_utc()
    }

    /// Open every day 09:00-20:00 in New York, three attempts, the last with its own voicemail.
    fn plan() -> CampaignPlan {
        let text = "name = \"Prepare\"\n[call]\ntask = \"Call {{first_name}}\"\n\
                    [schedule]\ntimezone = \"America/New_York\"\nhours = { \"mon-sun\" = \"09:00-20:00\" }\n\
                    [retry]\nmax_attempts = 3\nlast_attempt_voicemail_message = \"Last try, {{first_name}}\"\n";
        let compliance = Compliance::default();
        let spec = CampaignSpec::parse("prepare.toml", text, &compliance).unwrap();
        let window = spec.dial_window(compliance);
        CampaignPlan { spec, window, analysis: None }
    }

    fn job(attempts: i64) -> ClaimedJob {
        ClaimedJob {
            id: 1,
            campaign_id: "prepare".into(),
            phone: crate::phone::PhoneNumber::parse("+12125550100").unwrap(),
            variables: r#"{"first_name":"Ada"}"#.into(),
            variable_names: None,
            timezones: vec![New_York],
            zone_source: crate::store::ZoneSource::Column,
            number_zones: None,
            regions: Vec::new(),
            attempts,
            resend_attempt_id: None,
        }
    }

    fn facts<'a>(dnc_reason: Option<&'a str>, recent_dials: &'a [DateTime<Utc>]) -> Facts<'a> {
        Facts {
            zones: &[New_York],
            regions: &[],
            dnc_reason,
            recent_dials,
            subject_dials: recent_dials,
            max_calls_per_number_per_day: 2,
        }
    }

    /// Tuesday 12:00 in New York.
    const NOON: &str = "2026-06-02T16:00:00Z";

    #[test]
    fn an_open_window_sends_the_filled_call() {
        let prepared = prepare(&job(0), &plan(), &facts(None, &[]), at(NOON));
        let Prepared::Send(ready) = prepared else { panic!("expected a send, got {prepared:?}") };
        assert_eq!(ready.call["task"], "Call Ada");
        assert!(!ready.call.contains_key("voicemail_message"), "not the last attempt yet");
    }

    #[test]
    fn a_closed_window_defers_to_its_next_opening() {
        // Tuesday 21:00 in New York: Wednesday 09:00 EDT is the next opening.
        let prepared = prepare(&job(0), &plan(), &facts(None, &[]), at("2026-06-03T01:00:00Z"));
        let expected = Deferral::Requeue { at: at("2026-06-03T13:00:00Z"), why: Wait::WindowClosed };
        assert_eq!(prepared, Prepared::Defer(expected));
    }

    #[test]
    fn a_number_on_the_do_not_call_list_is_suppressed_even_while_the_window_is_closed() {
        for now in [NOON, "2026-06-03T01:00:00Z"] {
            let prepared = prepare(&job(0), &plan(), &facts(Some("opted out"), &[]), at(now));
            assert_eq!(prepared, Prepared::Defer(Deferral::Suppress("do-not-call: opted out".into())));
        }
    }

    #[test]
    fn a_number_at_its_daily_cap_waits_until_its_oldest_counted_dial_is_a_day_old() {
        let now = at(NOON);
        let dials = [now - Duration::hours(20), now - Duration::hours(2)];
        let prepared = prepare(&job(0), &plan(), &facts(None, &dials), now);
        let expected = Deferral::Requeue { at: now + Duration::hours(4), why: Wait::NumberCap };
        assert_eq!(prepared, Prepared::Defer(expected));
        // One dial fewer: under the cap, so it goes out.
        assert!(matches!(prepare(&job(0), &plan(), &facts(None, &dials[1..]), now), Prepared::Send(_)));
    }

    #[test]
    fn the_last_attempt_carries_the_last_attempt_voicemail_message() {
        let Prepared::Send(ready) = prepare(&job(2), &plan(), &facts(None, &[]), at(NOON)) else { panic!() };
        assert_eq!(ready.call["voicemail_message"], "Last try, Ada");
    }

    #[test]
    fn a_schedule_with_no_opening_left_fails_the_job() {
        let mut plan = plan();
        let text = "name = \"Ended\"\n[call]\ntask = \"Hi\"\n[schedule]\ntimezone = \"America/New_York\"\n\
                    end = \"2026-06-01T00:00:00-04:00\"\n";
        plan.spec = CampaignSpec::parse("ended.toml", text, &Compliance::default()).unwrap();
        plan.window = plan.spec.dial_window(Compliance::default());
        let prepared = prepare(&job(0), &plan, &facts(None, &[]), at(NOON));
        assert!(matches!(prepared, Prepared::Defer(Deferral::Fail(_))), "{prepared:?}");
    }

    #[test]
    fn the_request_carries_the_metadata_the_recipient_and_voicemail_detection() {
        let Prepared::Send(ready) = prepare(&job(0), &plan(), &facts(None, &[]), at(NOON)) else { panic!() };
        let metadata = AttemptMetadata { attempt_id: "a-1", campaign_id: "prepare", job_id: 1 };
        let req = ready.request("+12125550100", &metadata, Some("https://x.example/webhooks/bland")).unwrap();
        assert_eq!(AttemptMetadata::attempt_id_in(&req.metadata), Some("a-1"));
        assert_eq!(req.phone_number, "+12125550100");
        assert_eq!(req.webhook.as_deref(), Some("https://x.example/webhooks/bland"));
        assert_eq!(req.answered_by_enabled, Some(true));
    }
}
