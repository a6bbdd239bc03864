//! Outcome tracking end to end: the signed webhook receiver (duplicates, out-of-order and late
//! `answered_by` deliveries, forged and malformed ones, both payload shapes), the poller when the
//! receiver is down, and whole campaigns against the Bland simulator whose database must equal
//! the simulator's own record, call for call.
//!
//! switchboard runs on the harness's manual clock; the simulator runs in real time (times its
//! `speed`). Where one waits for the other, it polls with a deadline.

mod common;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, Utc};
use common::eventually_showing;
use common::harness::{Harness, at};
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use switchboard::dispatcher::engine::Dispatcher;
use switchboard::outcomes::{Outcomes, WEBHOOK_BODY_LIMIT, WebhookAuth, webhook_router};
use switchboard::secret::Secret;
use switchboard::sim::SimConfig;
use switchboard::store::{Applied, AttemptState, CampaignState, InboxRecord, JobState, NewAttempt, Outcome};
use tokio::sync::watch;
use tokio::task::JoinHandle;

const WEBHOOK_SECRET: &str = "whsec-outcome-tests";

/// A simulator without request or concurrency limits that signs its webhooks.
fn sim(config: SimConfig) -> SimConfig {
    SimConfig { requests_per_minute: 0, max_concurrent: 0, webhook_secret: Some(Secret::new(WEBHOOK_SECRET)), ..config }
}

/// Hex HMAC-SHA256 of `body`, computed here rather than with switchboard's own signer.
fn signature_with(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

fn signature(body: &[u8]) -> String {
    signature_with(WEBHOOK_SECRET, body)
}

/// The daemon's webhook receiver, served on a loopback port.
struct Receiver {
    addr: SocketAddr,
    stop: watch::Sender<bool>,
    task: JoinHandle<std::io::Result<()>>,
}

impl Receiver {
    async fn start(outcomes: Arc<Outcomes>) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = webhook_router(outcomes, WebhookAuth::Secret(Secret::new(WEBHOOK_SECRET)));
        let (stop, mut stopped) = watch::channel(false);
        let task = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = stopped.wait_for(|s| *s).await;
                })
                .await
        });
        Self { addr, stop, task }
    }

    fn url(&self) -> String {
        format!("http://{}/webhooks/bland", self.addr)
    }

    /// Stops accepting and closes the port (connections in progress finish first).
    async fn shut_down(self) {
        self.stop.send(true).unwrap();
        tokio::time::timeout(StdDuration::from_secs(10), self.task)
            .await
            .expect("the receiver did not stop within 10 s")
            .unwrap()
            .unwrap();
    }

    /// POSTs `body` with `signature` (none: no header); returns the status.
    async fn post_signed_as(&self, body: &[u8], signature: Option<&str>) -> u16 {
        let mut req =
            reqwest::Client::new().post(self.url()).header("content-type", "application/json").body(body.to_vec());
        if let Some(sig) = signature {
            req = req.header("X-Webhook-Signature", sig);
        }
        req.send().await.unwrap().status().as_u16()
    }

    async fn post(&self, body: &Value) -> u16 {
        let bytes = serde_json::to_vec(body).unwrap();
        self.post_signed_as(&bytes, Some(&signature(&bytes))).await
    }
}

// -------------------------------------------------------------------------------------------
// Crafted deliveries against calls the dispatcher placed at the simulator (which sends no
// webhooks of its own here: the dispatcher gives it no webhook URL).

const RECIPIENT: &str = "first_name,phone\nAda,212-555-0100\n";

fn spec(retry: &str) -> String {
    format!(
        "name = \"Webhooks\"\n[call]\ntask = \"Hello {{{{first_name}}}}\"\nmax_duration = 1\n\
         [schedule]\ntimezone = \"America/New_York\"\nhours = {{ \"mon-sun\" = \"09:00-20:00\" }}\n\
         [retry]\n{retry}\n"
    )
}

/// One call in flight, a receiver for its webhooks, and what is needed to craft them.
struct OneCall {
    h: Harness,
    dispatcher: Dispatcher,
    outcomes: Arc<Outcomes>,
    receiver: Receiver,
    campaign: String,
    attempt_id: String,
    call_id: String,
}

/// A Tuesday, 10:00 in New York.
const TUESDAY_10: &str = "2026-06-02T14:00:00Z";

async fn one_call(retry: &str) -> OneCall {
    let h = Harness::new(at(TUESDAY_10), sim(SimConfig::default())).await;
    let campaign = h.campaign(&spec(retry), RECIPIENT).await;
    let outcomes = Arc::new(h.outcomes());
    let receiver = Receiver::start(outcomes.clone()).await;
    let dispatcher = h.dispatcher().await;
    assert_eq!(dispatcher.step().await.unwrap().sent, 1);
    let (attempt_id, call_id) = attempts(&h).await.into_iter().map(|a| (a.id, a.call_id.unwrap())).next().unwrap();
    OneCall { h, dispatcher, outcomes, receiver, campaign, attempt_id, call_id }
}

impl OneCall {
    /// Final call details for this attempt, as Bland posts them; `fields` override.
    fn details(&self, fields: Value) -> Value {
        details(&self.call_id, &self.attempt_id, &self.campaign, fields)
    }
}

fn details(call_id: &str, attempt_id: &str, campaign: &str, fields: Value) -> Value {
    let mut v = json!({
        "call_id": call_id,
        "c_id": call_id,
        "to": "+12125550100",
        "from": "+14155550199",
        "metadata": {"switchboard_attempt_id": attempt_id, "switchboard_campaign_id": campaign},
        "completed": true,
        "queue_status": "complete",
        "status": "completed",
        "answered_by": null,
        "call_length": 0.75,
        "price": 0.0675,
        "summary": "A call.",
        "transcripts": [],
    });
    for (k, val) in fields.as_object().unwrap() {
        v[k] = val.clone();
    }
    v
}

/// A conversation: a person, by the transcript, whatever `answered_by` says.
fn conversation() -> Value {
    json!([
        {"id": 1, "created_at": "2026-06-02T14:00:10Z", "text": "Hi, this is Maya.", "user": "assistant"},
        {"id": 2, "created_at": "2026-06-02T14:00:12Z", "text": "Hello?", "user": "user"},
    ])
}

#[derive(Debug, Clone, PartialEq)]
struct JobRow {
    state: JobState,
    attempts: i64,
    outcome: Option<Outcome>,
    next_attempt_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

/// The only job of the test's database.
async fn the_job(h: &Harness) -> JobRow {
    let jobs = h.store.job_records(None).await.unwrap();
    let [j] = jobs.as_slice() else { panic!("the test has one job, not {}", jobs.len()) };
    JobRow {
        state: j.state,
        attempts: j.attempts,
        outcome: j.outcome,
        next_attempt_at: j.next_attempt_at,
        updated_at: j.updated_at,
    }
}

/// An attempt with what Bland billed and when the poller next asks.
#[derive(Debug, Clone)]
struct AttemptRow {
    id: String,
    job_id: i64,
    attempt_no: i64,
    state: AttemptState,
    call_id: Option<String>,
    outcome: Option<Outcome>,
    answered_by: Option<String>,
    price: Option<f64>,
    call_length: Option<f64>,
    dialed_at: DateTime<Utc>,
    sent_at: Option<DateTime<Utc>>,
    ended_at: Option<DateTime<Utc>>,
    poll_at: Option<DateTime<Utc>>,
    /// The raw call details, as JSON text.
    details: Option<String>,
}

/// Every attempt that reached (or may have reached) Bland, by job and number.
async fn attempts(h: &Harness) -> Vec<AttemptRow> {
    let mut rows: Vec<AttemptRow> = (h.store.attempt_details(None).await.unwrap().into_iter())
        .filter(|a| a.record.state != AttemptState::NotSent)
        .map(|a| AttemptRow {
            id: a.record.id,
            job_id: a.record.job_id,
            attempt_no: a.record.attempt_no,
            state: a.record.state,
            call_id: a.record.call_id,
            outcome: a.record.outcome,
            answered_by: a.record.answered_by,
            price: a.price,
            call_length: a.call_length,
            dialed_at: a.record.dialed_at,
            sent_at: a.record.sent_at,
            ended_at: a.record.ended_at,
            poll_at: a.poll_at,
            details: a.record.details,
        })
        .collect();
    rows.sort_by_key(|a| (a.job_id, a.attempt_no));
    rows
}

async fn attempt(h: &Harness, id: &str) -> AttemptRow {
    attempts(h).await.into_iter().find(|a| a.id == id).expect("attempt exists")
}

/// The inbox in arrival order.
async fn inbox(h: &Harness) -> Vec<InboxRecord> {
    h.store.inbox_records(0).await.unwrap()
}

async fn inbox_results(h: &Harness) -> Vec<Applied> {
    inbox(h).await.into_iter().map(|d| d.result).collect()
}

async fn campaign_state(h: &Harness, id: &str) -> CampaignState {
    h.store.campaign(id).await.unwrap().state
}

fn ms(t: chrono::DateTime<chrono::Utc>) -> i64 {
    t.timestamp_millis()
}

const RETRY_VOICEMAIL: &str = "max_attempts = 3\non = [\"voicemail\"]\ndelays = [\"10m\"]";

#[tokio::test]
async fn a_duplicate_delivery_answers_200_is_kept_in_the_inbox_and_changes_nothing() {
    let t = one_call(RETRY_VOICEMAIL).await;
    let voicemail = t.details(json!({"answered_by": "voicemail", "summary": "Reached voicemail."}));
    let first_at = t.h.now();

    assert_eq!(t.receiver.post(&voicemail).await, 200);
    let after_first = t.the_job().await;
    assert_eq!(after_first.state, JobState::RetryWait);
    assert_eq!(ms(after_first.next_attempt_at), ms(first_at + Duration::minutes(10)));

    t.h.clock.advance(Duration::minutes(1));
    assert_eq!(t.receiver.post(&voicemail).await, 200);

    assert_eq!(t.the_job().await, after_first, "the duplicate moved the job again");
    let a = attempt(&t.h, &t.attempt_id).await;
    assert_eq!(
        (a.state, a.outcome, a.answered_by.as_deref()),
        (AttemptState::Ended, Some(Outcome::Voicemail), Some("voicemail"))
    );
    assert_eq!(a.ended_at.map(ms), Some(ms(first_at)), "the outcome was recorded once, at the first delivery");
    let stored = inbox(&t.h).await;
    assert_eq!(stored.len(), 2, "both deliveries are in the inbox");
    for d in &stored {
        assert_eq!(d.call_id.as_deref(), Some(t.call_id.as_str()));
        assert_eq!(d.attempt_id.as_deref(), Some(t.attempt_id.as_str()));
        assert_eq!(serde_json::from_str::<Value>(&d.body).unwrap(), voicemail);
    }
    assert_eq!(inbox_results(&t.h).await, [Applied::Applied, Applied::Duplicate]);

    // The retry goes out; the same delivery once more, while attempt 2 is in call, changes
    // nothing either.
    t.h.clock.advance(Duration::minutes(10));
    assert_eq!(t.dispatcher.step().await.unwrap().sent, 1);
    let in_call = t.the_job().await;
    assert_eq!((in_call.state, in_call.attempts), (JobState::InCall, 2));
    assert_eq!(t.receiver.post(&voicemail).await, 200);
    assert_eq!(t.the_job().await, in_call);
    assert_eq!(attempts(&t.h).await.len(), 2);
    assert_eq!(t.h.sim.sends().len(), 2, "no extra call was placed");
}

impl OneCall {
    async fn the_job(&self) -> JobRow {
        the_job(&self.h).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_the_same_delivery_written_together_is_applied_once_and_stored_every_time() {
    // Concurrent deliveries are written in shared transactions (group commit); within one, a
    // delivery must see the ones before it.
    let t = one_call(RETRY_VOICEMAIL).await;
    let voicemail = t.details(json!({"answered_by": "voicemail", "summary": "Reached voicemail."}));
    let receiver = Arc::new(t.receiver);
    let mut posts = tokio::task::JoinSet::new();
    for _ in 0..40 {
        let (receiver, body) = (receiver.clone(), voicemail.clone());
        posts.spawn(async move { receiver.post(&body).await });
    }
    let statuses: Vec<u16> = posts.join_all().await;
    assert!(statuses.iter().all(|s| *s == 200), "every delivery is acknowledged: {statuses:?}");
    let results = inbox_results(&t.h).await;
    assert_eq!(results.len(), 40, "every delivery is in the inbox");
    assert_eq!(results.iter().filter(|r| **r == Applied::Applied).count(), 1, "{results:?}");
    assert_eq!(results.iter().filter(|r| **r == Applied::Duplicate).count(), 39, "{results:?}");
    let job = the_job(&t.h).await;
    assert_eq!((job.state, job.attempts), (JobState::RetryWait, 1), "one retry is scheduled, once");
    assert_eq!(ms(job.next_attempt_at), ms(t.h.now() + Duration::minutes(10)));
}

#[tokio::test]
async fn a_webhook_that_arrives_before_the_send_response_is_matched_by_attempt_id_and_kept() {
    let h = Harness::new(at(TUESDAY_10), sim(SimConfig::default())).await;
    let campaign = h.campaign(&spec(RETRY_VOICEMAIL), RECIPIENT).await;
    let outcomes = Arc::new(h.outcomes());
    let receiver = Receiver::start(outcomes.clone()).await;
    // What the dispatcher does before its POST: claim the job and commit a `dialing` attempt.
    let attempt_id = uuid::Uuid::new_v4().to_string();
    dial_due(&h, &campaign, std::slice::from_ref(&attempt_id)).await;
    assert_eq!(attempt(&h, &attempt_id).await.state, AttemptState::Dialing);

    // Bland's webhook beats its own send response: the call id is not known here yet.
    h.clock.advance(Duration::seconds(20));
    let human =
        details("call-early", &attempt_id, &campaign, json!({"answered_by": "human", "transcripts": conversation()}));
    assert_eq!(receiver.post(&human).await, 200);

    let a = attempt(&h, &attempt_id).await;
    assert_eq!(
        (a.state, a.call_id.as_deref(), a.outcome),
        (AttemptState::Ended, Some("call-early"), Some(Outcome::Human))
    );
    let job = the_job(&h).await;
    assert_eq!((job.state, job.outcome, job.attempts), (JobState::Done, Some(Outcome::Human), 1));
    assert_eq!(inbox_results(&h).await, [Applied::Applied]);

    // Then the send response is recorded: it adds the send time and keeps the outcome.
    h.clock.advance(Duration::seconds(1));
    h.store.record_sent(&attempt_id, "call-early", h.now()).await.unwrap();
    let a = attempt(&h, &attempt_id).await;
    assert_eq!(
        (a.state, a.call_id.as_deref(), a.outcome),
        (AttemptState::Ended, Some("call-early"), Some(Outcome::Human))
    );
    assert_eq!(a.sent_at.map(ms), Some(ms(h.now())));
    assert_eq!(the_job(&h).await, job, "recording the send moved the finished job");
}

#[tokio::test]
async fn a_late_answered_by_corrects_the_outcome_and_schedules_exactly_one_retry() {
    let t = one_call(RETRY_VOICEMAIL).await;
    // The first delivery has no answered_by yet; the agent's voicemail greeting reads as a
    // conversation, so it counts as a person reached.
    let early = t.details(json!({"transcripts": conversation()}));
    assert_eq!(t.receiver.post(&early).await, 200);
    let a = attempt(&t.h, &t.attempt_id).await;
    assert_eq!((a.outcome, a.answered_by.as_deref()), (Some(Outcome::Human), None));
    assert!(a.poll_at.is_some(), "a recheck of answered_by is scheduled");
    assert_eq!(t.the_job().await.state, JobState::Done);

    t.h.clock.advance(Duration::seconds(40));
    let late = t.details(json!({"answered_by": "voicemail", "transcripts": conversation()}));
    assert_eq!(t.receiver.post(&late).await, 200);
    let a = attempt(&t.h, &t.attempt_id).await;
    assert_eq!((a.outcome, a.answered_by.as_deref(), a.poll_at), (Some(Outcome::Voicemail), Some("voicemail"), None));
    let retrying = t.the_job().await;
    assert_eq!((retrying.state, retrying.outcome), (JobState::RetryWait, Some(Outcome::Voicemail)));
    assert_eq!(ms(retrying.next_attempt_at), ms(t.h.now() + Duration::minutes(10)));

    // The late delivery again, and another late one that disagrees: no second retry, no change.
    t.h.clock.advance(Duration::seconds(30));
    assert_eq!(t.receiver.post(&late).await, 200);
    let other = t.details(json!({"answered_by": "human", "transcripts": conversation()}));
    assert_eq!(t.receiver.post(&other).await, 200);
    assert_eq!(t.the_job().await, retrying);
    assert_eq!(attempt(&t.h, &t.attempt_id).await.outcome, Some(Outcome::Voicemail));
    assert_eq!(inbox_results(&t.h).await, [Applied::Applied, Applied::Updated, Applied::Duplicate, Applied::Duplicate]);
}

const RETRY_UNKNOWN: &str = "max_attempts = 3\non = [\"voicemail\", \"unknown\"]\ndelays = [\"10m\"]";

#[tokio::test]
async fn a_late_answered_by_human_ends_a_job_that_was_waiting_to_retry() {
    let t = one_call(RETRY_UNKNOWN).await;
    // Silence and no answered_by: unknown, which this campaign retries.
    assert_eq!(t.receiver.post(&t.details(json!({}))).await, 200);
    assert_eq!(t.the_job().await.state, JobState::RetryWait);
    assert_eq!(attempt(&t.h, &t.attempt_id).await.outcome, Some(Outcome::Unknown));

    t.h.clock.advance(Duration::seconds(50));
    assert_eq!(t.receiver.post(&t.details(json!({"answered_by": "human"}))).await, 200);
    let job = t.the_job().await;
    assert_eq!((job.state, job.outcome), (JobState::Done, Some(Outcome::Human)));

    // Past the retry's due time nothing is dialled.
    t.h.clock.advance(Duration::minutes(15));
    t.dispatcher.step().await.unwrap();
    assert_eq!(t.h.sim.sends().len(), 1);
}

#[tokio::test]
async fn a_late_answered_by_human_ends_a_job_whose_retry_was_released_but_not_dialled() {
    let t = one_call(RETRY_UNKNOWN).await;
    assert_eq!(t.receiver.post(&t.details(json!({}))).await, 200);
    // The retry falls due and is released to the queue, but no slot is free to dial it yet.
    t.h.clock.advance(Duration::minutes(11));
    assert_eq!(t.h.store.release_due_retries(&t.campaign, t.h.now()).await.unwrap(), 1);
    assert_eq!(t.the_job().await.state, JobState::Queued);

    assert_eq!(t.receiver.post(&t.details(json!({"answered_by": "human"}))).await, 200);
    let job = t.the_job().await;
    assert_eq!((job.state, job.outcome, job.attempts), (JobState::Done, Some(Outcome::Human), 1));
    t.dispatcher.step().await.unwrap();
    assert_eq!(t.h.sim.sends().len(), 1, "the person reached was called again");
}

#[tokio::test]
async fn a_late_answered_by_after_the_job_moved_on_corrects_only_the_old_attempt() {
    let t = one_call(RETRY_UNKNOWN).await;
    assert_eq!(t.receiver.post(&t.details(json!({}))).await, 200);
    t.h.clock.advance(Duration::minutes(11));
    assert_eq!(t.dispatcher.step().await.unwrap().sent, 1);
    let second = t.the_job().await;
    assert_eq!((second.state, second.attempts), (JobState::InCall, 2));

    assert_eq!(t.receiver.post(&t.details(json!({"answered_by": "voicemail"}))).await, 200);

    let a = attempt(&t.h, &t.attempt_id).await;
    assert_eq!((a.outcome, a.answered_by.as_deref()), (Some(Outcome::Voicemail), Some("voicemail")));
    assert_eq!(t.the_job().await, second, "attempt 1's correction moved the job off attempt 2");
}

#[tokio::test]
async fn a_campaign_is_not_completed_while_an_outcome_may_still_get_its_answered_by() {
    let t = one_call(RETRY_VOICEMAIL).await;
    assert_eq!(t.receiver.post(&t.details(json!({"transcripts": conversation()}))).await, 200);
    assert_eq!(t.the_job().await.state, JobState::Done);

    t.outcomes.poll_once().await.unwrap();
    assert_eq!(
        campaign_state(&t.h, &t.campaign).await,
        CampaignState::Running,
        "completed before answered_by could arrive"
    );

    // answered_by arrives and confirms the person: now nothing can change any more.
    t.h.clock.advance(Duration::seconds(30));
    let confirmed = t.details(json!({"answered_by": "human", "transcripts": conversation()}));
    assert_eq!(t.receiver.post(&confirmed).await, 200);
    t.outcomes.poll_once().await.unwrap();
    assert_eq!(campaign_state(&t.h, &t.campaign).await, CampaignState::Completed);
}

#[tokio::test]
async fn forged_unsigned_malformed_and_oversize_webhooks_are_refused_and_nothing_is_stored() {
    let t = one_call(RETRY_VOICEMAIL).await;
    let body = serde_json::to_vec(&t.details(json!({"answered_by": "voicemail"}))).unwrap();
    let r = &t.receiver;

    assert_eq!(r.post_signed_as(&body, Some(&signature_with("not-the-secret", &body))).await, 401, "forged");
    let mut tampered = body.clone();
    let i = tampered.len() - 2;
    tampered[i] = b' ';
    assert_eq!(r.post_signed_as(&tampered, Some(&signature(&body))).await, 401, "tampered body");
    assert_eq!(r.post_signed_as(&body, None).await, 401, "unsigned");
    assert_eq!(r.post_signed_as(&body, Some("")).await, 401, "empty signature");
    assert_eq!(r.post_signed_as(&body, Some("not hex at all")).await, 401, "garbage signature");

    let malformed = br#"{"call_id": "x", "completed": tr"#;
    assert_eq!(r.post_signed_as(malformed, Some(&signature(malformed))).await, 400, "malformed JSON");
    let no_call = br#"{"completed": true, "status": "completed"}"#;
    assert_eq!(r.post_signed_as(no_call, Some(&signature(no_call))).await, 400, "no call id");
    let huge = serde_json::to_vec(&t.details(json!({"summary": "x".repeat(WEBHOOK_BODY_LIMIT)}))).unwrap();
    assert_eq!(r.post_signed_as(&huge, Some(&signature(&huge))).await, 413, "oversize");

    assert!(inbox(&t.h).await.is_empty(), "a refused delivery was stored");
    let a = attempt(&t.h, &t.attempt_id).await;
    assert_eq!((a.state, a.outcome), (AttemptState::InCall, None));
    assert_eq!(t.the_job().await.state, JobState::InCall);

    // The genuine delivery still gets through.
    assert_eq!(r.post_signed_as(&body, Some(&signature(&body))).await, 200);
    assert_eq!(attempt(&t.h, &t.attempt_id).await.outcome, Some(Outcome::Voicemail));
}

#[tokio::test]
async fn plain_and_event_shaped_webhooks_are_both_applied_and_unknown_calls_are_kept() {
    let h = Harness::new(at(TUESDAY_10), sim(SimConfig::default())).await;
    let campaign = h.campaign(&spec(RETRY_VOICEMAIL), "first_name,phone\nAda,212-555-0100\nBob,212-555-0101\n").await;
    let outcomes = Arc::new(h.outcomes());
    let receiver = Receiver::start(outcomes).await;
    assert_eq!(h.dispatcher().await.step().await.unwrap().sent, 2);
    let placed = attempts(&h).await;
    let (plain, event) = (&placed[0], &placed[1]);

    let busy = details(plain.call_id.as_deref().unwrap(), &plain.id, &campaign, json!({"status": "busy"}));
    assert_eq!(receiver.post(&busy).await, 200);
    // The event shape: the call id only on the envelope, the details under `data`.
    let mut data = details(
        event.call_id.as_deref().unwrap(),
        &event.id,
        &campaign,
        json!({"status": "no-answer", "answered_by": "no-answer", "price": 0.015}),
    );
    data.as_object_mut().unwrap().remove("call_id");
    data.as_object_mut().unwrap().remove("c_id");
    let envelope =
        json!({"event": "call.completed", "call_id": event.call_id, "timestamp": "2026-06-02T14:01:00Z", "data": data});
    assert_eq!(receiver.post(&envelope).await, 200);
    // A signed delivery for a call switchboard never placed is kept, not applied.
    let stranger = json!({"call_id": "not-ours", "completed": true, "status": "completed"});
    assert_eq!(receiver.post(&stranger).await, 200);

    let now = attempts(&h).await;
    assert_eq!(now[0].outcome, Some(Outcome::Busy));
    assert_eq!(
        (now[1].outcome, now[1].answered_by.as_deref(), now[1].price),
        (Some(Outcome::NoAnswer), Some("no-answer"), Some(0.015))
    );
    let stored = inbox(&h).await;
    let results: Vec<Applied> = stored.iter().map(|d| d.result).collect();
    assert_eq!(results, [Applied::Applied, Applied::Applied, Applied::Unmatched]);
    assert_eq!(stored[1].call_id.as_deref(), event.call_id.as_deref());
    assert_eq!(serde_json::from_str::<Value>(&stored[1].body).unwrap(), envelope, "the envelope is stored as received");
    assert_eq!((stored[2].call_id.as_deref(), stored[2].attempt_id.as_deref()), (Some("not-ours"), None));
    // The attempt's raw details keep the envelope too.
    let raw = attempt(&h, &event.id).await.details.expect("the attempt keeps its call details");
    assert_eq!(serde_json::from_str::<Value>(&raw).unwrap()["event"], "call.completed");
}

// -------------------------------------------------------------------------------------------
// Whole campaigns against the simulator, webhooks and all.

/// Recipients in New York (area code 212), one a line.
fn new_yorkers(n: usize) -> String {
    std::iter::once("first_name,phone\n".to_string())
        .chain((0..n).map(|i| format!("R{i},212-555-{:04}\n", 1000 + i)))
        .collect()
}

/// Drives the campaign until it completes, or until the inbox holds `until_delivered` webhook
/// deliveries.
async fn drive(
    h: &Harness,
    dispatcher: &Dispatcher,
    outcomes: &Outcomes,
    campaign: &str,
    until_delivered: Option<usize>,
) {
    let Some(n) = until_delivered else {
        return h.drive_to_completion(dispatcher, outcomes, campaign).await;
    };
    h.drive(dispatcher, outcomes, "the inbox fills or the campaign completes", async |h| {
        campaign_state(h, campaign).await == CampaignState::Completed || inbox(h).await.len() >= n
    })
    .await;
}

/// Every call the simulator placed is in the database with the simulator's outcome, price,
/// length and answered_by, and the database holds no other call.
async fn assert_db_matches_the_simulator(h: &Harness) -> Vec<AttemptRow> {
    let rows = attempts(h).await;
    let truth = h.sim.calls();
    assert_eq!(rows.len(), truth.len(), "calls in the database vs calls the simulator placed");
    let by_call: HashMap<&str, &AttemptRow> =
        rows.iter().map(|a| (a.call_id.as_deref().expect("every call has an id"), a)).collect();
    for call in &truth {
        let row = by_call
            .get(call.call_id.as_str())
            .unwrap_or_else(|| panic!("call {} is not in the database", call.call_id));
        let outcome = serde_json::to_value(call.outcome).unwrap();
        assert_eq!(row.outcome.map(Outcome::as_str), outcome.as_str(), "outcome of call {}", call.call_id);
        assert_eq!(row.answered_by, call.answered_by, "answered_by of call {}", call.call_id);
        assert_eq!(row.price, Some(call.price), "price of call {}", call.call_id);
        assert_eq!(row.call_length, Some(call.call_length_minutes), "length of call {}", call.call_id);
        assert_eq!(row.state, AttemptState::Ended);
        assert_eq!(call.metadata["switchboard_attempt_id"], row.id.as_str());
    }
    rows
}

/// The simulator counts a delivery when it has read the 200, which the receiver sends after
/// its commit; a duplicate may still be on its way when the campaign completes, so this waits
/// (with a deadline) for the two counts to meet.
async fn assert_every_acknowledged_delivery_is_in_the_inbox(h: &Harness) {
    let acknowledged = || h.sim.calls().iter().map(|c| c.webhook_deliveries).sum::<u32>() as usize;
    eventually_showing(
        "every acknowledged delivery is in the inbox",
        StdDuration::from_secs(10),
        async || (inbox(h).await.len() == acknowledged()).then_some(()),
        async || format!("{} deliveries acknowledged, {} in the inbox", acknowledged(), inbox(h).await.len()),
    )
    .await;
}

const WHOLE_RETRY: &str = "max_attempts = 3\non = [\"voicemail\", \"no_answer\", \"busy\"]\n\
                           delays = [\"10m\", \"30m\"]\nlast_attempt_voicemail_message = \"Last try, {{first_name}}.\"";

fn whole_spec(retry: &str) -> String {
    format!(
        "name = \"Whole\"\n[call]\ntask = \"Hello {{{{first_name}}}}\"\nmax_duration = 1\n\
         voicemail_message = \"Please call back.\"\n\
         [schedule]\ntimezone = \"America/New_York\"\nhours = {{ \"mon-sun\" = \"08:00-21:00\" }}\n\
         [retry]\n{retry}\n"
    )
}

#[tokio::test]
async fn a_whole_campaign_with_duplicate_late_and_lost_webhooks_ends_equal_to_the_simulators_record() {
    let config = SimConfig {
        seed: 11,
        speed: 3000.0,
        duplicate_webhook_rate: 0.3,
        late_answered_by_rate: 0.4,
        drop_webhook_rate: 0.2,
        mix: switchboard::sim::OutcomeMix { human: 0.4, voicemail: 0.3, no_answer: 0.1, busy: 0.1, failed: 0.1 },
        ..SimConfig::default()
    };
    let mut h = Harness::new(at("2026-06-02T13:00:00Z"), sim(config)).await;
    let campaign = h.campaign(&whole_spec(WHOLE_RETRY), &new_yorkers(40)).await;
    let outcomes = Arc::new(h.outcomes());
    let receiver = Receiver::start(outcomes.clone()).await;
    h.dispatch_cfg.webhook_url = Some(receiver.url());
    let dispatcher = h.dispatcher().await;

    drive(&h, &dispatcher, &outcomes, &campaign, None).await;

    let rows = assert_db_matches_the_simulator(&h).await;
    let truth = h.sim.calls();
    // The scenario really had every kind of delivery trouble.
    let results = inbox_results(&h).await;
    assert!(results.contains(&Applied::Duplicate), "no duplicate delivery: {results:?}");
    assert!(results.contains(&Applied::Updated), "no late answered_by: {results:?}");
    let dropped: Vec<&str> = truth.iter().filter(|c| c.webhook_dropped).map(|c| c.call_id.as_str()).collect();
    assert!(!dropped.is_empty(), "no webhook was dropped");
    let delivered: HashSet<String> = inbox(&h).await.into_iter().filter_map(|d| d.call_id).collect();
    assert!(dropped.iter().all(|c| !delivered.contains(*c)), "a dropped webhook reached the inbox");
    assert_every_acknowledged_delivery_is_in_the_inbox(&h).await;

    // Per job: attempts within the limit, retries only when the policy wanted them and not
    // before their delay, and the final state the policy gives the last outcome.
    let spec =
        switchboard::config::CampaignSpec::parse("w.toml", &whole_spec(WHOLE_RETRY), &h.config.compliance()).unwrap();
    let retry = &spec.retry;
    let jobs = h.store.job_records(None).await.unwrap();
    assert_eq!(jobs.len(), 40);
    let mut by_job: BTreeMap<i64, Vec<&AttemptRow>> = BTreeMap::new();
    for a in &rows {
        by_job.entry(a.job_id).or_default().push(a);
    }
    let mut retried = 0;
    for job in &jobs {
        let (id, n) = (job.id, &job.attempts);
        let tries = &by_job[&id];
        assert_eq!(tries.len() as i64, *n, "job {id}: attempts column vs attempt rows");
        assert!(*n >= 1 && *n <= i64::from(retry.max_attempts), "job {id} has {n} attempts");
        for (i, a) in tries.iter().enumerate() {
            assert_eq!(a.attempt_no, i as i64 + 1);
        }
        for pair in tries.windows(2) {
            let o = pair[0].outcome.unwrap();
            assert!(retry.on.contains(&o), "job {id} was retried after {o:?}");
            let delay = retry.delay_before(pair[1].attempt_no as u32);
            assert!(pair[1].dialed_at - pair[0].dialed_at >= delay, "job {id} retried early");
            retried += 1;
        }
        let last = tries.last().unwrap();
        assert_eq!(job.outcome, last.outcome, "job {id}: its outcome is its last attempt's");
        let o = last.outcome.unwrap();
        let expected = match o {
            Outcome::Human => JobState::Done,
            Outcome::Failed => JobState::Failed,
            o if retry.on.contains(&o) => {
                assert_eq!(*n, i64::from(retry.max_attempts), "job {id} stopped retrying {o:?} early");
                JobState::Done
            }
            _ => JobState::Done,
        };
        assert_eq!(job.state, expected, "job {id} after {o:?} on attempt {n}");
    }
    assert!(retried > 0, "no job was retried");
    // The last attempt carries the last-attempt voicemail message, the others the usual one.
    let attempt_no: HashMap<&str, i64> = rows.iter().map(|a| (a.id.as_str(), a.attempt_no)).collect();
    for send in h.sim.sends() {
        let no = attempt_no[send.metadata["switchboard_attempt_id"].as_str().unwrap()];
        let expected = if no == i64::from(retry.max_attempts) { "Last try, " } else { "Please call back." };
        let message = send.request["voicemail_message"].as_str().unwrap();
        assert!(message.starts_with(expected), "attempt {no} left `{message}`");
    }
    receiver.shut_down().await;
}

#[tokio::test]
async fn with_the_receiver_down_for_part_of_a_campaign_the_poller_recovers_every_outcome() {
    let config = SimConfig { seed: 5, speed: 3000.0, late_answered_by_rate: 0.3, ..SimConfig::default() };
    let mut h = Harness::new(at("2026-06-02T13:00:00Z"), sim(config)).await;
    let retry = "max_attempts = 2\non = [\"voicemail\", \"no_answer\", \"busy\"]\ndelays = [\"5m\"]";
    let campaign = h.campaign(&whole_spec(retry), &new_yorkers(30)).await;
    let outcomes = Arc::new(h.outcomes());
    let receiver = Receiver::start(outcomes.clone()).await;
    h.dispatch_cfg.webhook_url = Some(receiver.url());
    let dispatcher = h.dispatcher().await;

    drive(&h, &dispatcher, &outcomes, &campaign, Some(10)).await;
    receiver.shut_down().await;
    drive(&h, &dispatcher, &outcomes, &campaign, None).await;

    assert_db_matches_the_simulator(&h).await;
    let truth = h.sim.calls();
    let missed = truth.iter().filter(|c| c.webhook_deliveries == 0).count();
    let received = truth.iter().filter(|c| c.webhook_deliveries > 0).count();
    assert!(missed >= 10, "only {missed} calls found the receiver down");
    assert!(received >= 5, "only {received} calls reached the receiver while it was up");
    assert_every_acknowledged_delivery_is_in_the_inbox(&h).await;
}

#[tokio::test]
async fn campaign_show_json_reports_states_outcomes_calls_and_rates_as_the_database_and_simulator_have_them() {
    let config = SimConfig { seed: 3, speed: 3000.0, event_webhooks: true, ..SimConfig::default() };
    let mut h = Harness::new(at("2026-06-02T13:00:00Z"), sim(config)).await;
    let retry = "max_attempts = 2\non = [\"voicemail\", \"no_answer\"]\ndelays = [\"5m\"]";
    let campaign = h.campaign(&whole_spec(retry), &new_yorkers(20)).await;
    let outcomes = Arc::new(h.outcomes());
    let receiver = Receiver::start(outcomes.clone()).await;
    h.dispatch_cfg.webhook_url = Some(receiver.url());
    let dispatcher = h.dispatcher().await;
    drive(&h, &dispatcher, &outcomes, &campaign, None).await;
    receiver.shut_down().await;

    let out = std::process::Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["--db", &h.db_arg(), "campaign", "show", &campaign, "--json"])
        .env("SWITCHBOARD_CONFIG", "/dev/null")
        .env_remove("SWITCHBOARD_DB")
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let shown: Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();

    assert_eq!(shown["id"], campaign.as_str());
    assert_eq!(shown["state"], "completed");
    // Jobs by state and by outcome, counted here from the jobs themselves.
    let jobs = h.store.job_records(None).await.unwrap();
    let mut by_state: BTreeMap<JobState, i64> = BTreeMap::new();
    let mut by_outcome: BTreeMap<Outcome, i64> = BTreeMap::new();
    for j in &jobs {
        *by_state.entry(j.state).or_default() += 1;
        *by_outcome.entry(j.outcome.expect("every job of a completed campaign has an outcome")).or_default() += 1;
    }
    let counts = shown["counts"].as_object().unwrap();
    assert_eq!(counts.values().map(|v| v.as_i64().unwrap()).sum::<i64>(), 20);
    for (state, n) in &by_state {
        assert_eq!(counts[state.as_str()], *n, "jobs {state}");
    }
    let shown_outcomes = shown["outcomes"].as_object().unwrap();
    assert_eq!(shown_outcomes.len(), by_outcome.len());
    for (outcome, n) in &by_outcome {
        assert_eq!(shown_outcomes[outcome.as_str()], *n, "jobs by outcome {outcome}");
    }
    // Calls by outcome and the rates, against the simulator's record.
    let truth = h.sim.calls();
    let mut calls: BTreeMap<String, i64> = BTreeMap::new();
    for c in &truth {
        *calls.entry(serde_json::to_value(c.outcome).unwrap().as_str().unwrap().to_string()).or_default() += 1;
    }
    assert_eq!(shown["calls"], json!(calls));
    let rate = |o: &str| calls.get(o).copied().unwrap_or(0) as f64 / truth.len() as f64;
    assert!((shown["answer_rate"].as_f64().unwrap() - rate("human")).abs() < 1e-9, "{shown}");
    assert!((shown["voicemail_rate"].as_f64().unwrap() - rate("voicemail")).abs() < 1e-9, "{shown}");
    assert!(rate("human") > 0.0 && rate("voicemail") > 0.0, "the mix should have both: {calls:?}");
}

/// What the dispatcher does before its POST: claims the campaign's due jobs (as many as `ids`)
/// and commits a `dialing` first attempt for each, with those ids.
async fn dial_due(h: &Harness, campaign: &str, ids: &[String]) {
    let now = h.now();
    let claimed = h.store.claim_due(campaign, now, 10).await.unwrap();
    assert_eq!(claimed.len(), ids.len());
    let news: Vec<NewAttempt> = claimed
        .iter()
        .zip(ids)
        .map(|(job, id)| NewAttempt {
            id: id.clone(),
            job_id: job.id,
            campaign_id: campaign.to_string(),
            phone: job.phone.clone(),
            attempt_no: 1,
            expires_at: now + Duration::minutes(8),
            poll_at: now + Duration::minutes(3),
            reserved_usd: 0.195,
            rules_version: "2026-12-01".into(),
        })
        .collect();
    h.store.commit_claims(&news, &[], now, None).await.unwrap();
}

/// An outcome as the store is given it, with nothing but the outcome, `answered_by` and a price.
fn record(outcome: Outcome, answered_by: Option<&str>, ended_at: DateTime<Utc>) -> switchboard::store::OutcomeRecord {
    switchboard::store::OutcomeRecord {
        outcome,
        answered_by: answered_by.map(str::to_string),
        call_length: Some(0.5),
        price: Some(0.05),
        summary: None,
        call_ended_by: None,
        error_message: None,
        recording_url: None,
        transcript: None,
        analysis: None,
        details: "{}".into(),
        ended_at,
        recheck_at: None,
        analyse: None,
        opt_out: None,
    }
}

/// A batch of deliveries written in one transaction (the group-commit writer's path, which reads
/// the batch's attempts in one query) must do exactly what the same deliveries do one by one:
/// each sees what the ones before it wrote (a duplicate; a call id an earlier delivery set, by
/// which a later one finds its attempt), whatever the batch read at its start.
#[tokio::test]
async fn a_batch_of_deliveries_sees_and_does_exactly_what_the_same_deliveries_do_one_by_one() {
    use switchboard::store::{Application, AttemptContext, Delivery, JobTarget};

    const FOUR: &str = "first_name,phone\nAda,212-555-0100\nBo,212-555-0101\nCy,212-555-0102\nDi,212-555-0103\n";
    async fn set_up() -> (Harness, Vec<String>) {
        let h = Harness::new(at(TUESDAY_10), sim(SimConfig::default())).await;
        let campaign = h.campaign(&spec(RETRY_VOICEMAIL), FOUR).await;
        let ids: Vec<String> = (0..4).map(|i| format!("00000000-0000-4000-8000-00000000000{i}")).collect();
        dial_due(&h, &campaign, &ids).await;
        (h, ids)
    }
    // What a caller decides from what it sees: a call not over yet for `call-…-live`, else the
    // first outcome (voicemail: a retry) or a duplicate.
    fn decide(d: &Delivery<'_>, ctx: &AttemptContext) -> Application {
        if d.call_id.ends_with("-live") {
            return Application::NotFinal { poll_at: d.now + Duration::minutes(1) };
        }
        match ctx.outcome {
            Some(_) => Application::Duplicate { recheck_done: false },
            None if d.call_id.starts_with("vm") => Application::Record {
                record: record(Outcome::Voicemail, Some("voicemail"), d.now),
                job: JobTarget::Retry(d.now + Duration::minutes(10)),
            },
            None => Application::Record { record: record(Outcome::Human, Some("human"), d.now), job: JobTarget::Done },
        }
    }

    let (one, ids) = set_up().await;
    let (many, _) = set_up().await;
    let now = one.now();
    let delivery = |attempt: Option<usize>, call_id: &'static str| Delivery {
        attempt_id: attempt.map(|i| ids[i].as_str()),
        call_id,
        inbox_body: Some("{}"),
        now,
    };
    let batch = [
        delivery(Some(0), "vm-0"),
        delivery(Some(0), "vm-0"),        // a duplicate of the delivery before it
        delivery(Some(1), "call-1-live"), // sets attempt 1's call id
        delivery(None, "call-1-live"),    // found by that call id, set in this batch
        delivery(Some(2), "human-2"),     // found by its attempt id
        delivery(None, "human-2"),        // by the call id the delivery before it set
        delivery(Some(3), "vm-3"),
        delivery(None, "nobody"), // matches no attempt
        delivery(Some(3), "vm-3"),
    ];

    let mut seen_one = Vec::new();
    let mut applied_one = Vec::new();
    for d in &batch {
        let applied = one
            .store
            .apply_call_details(*d, |ctx| {
                seen_one.push(format!("{ctx:?}"));
                decide(d, ctx)
            })
            .await
            .unwrap();
        applied_one.push(applied);
    }
    let mut seen_many = Vec::new();
    let applied_many = many
        .store
        .apply_call_details_many(&batch, |i, ctx| {
            seen_many.push(format!("{ctx:?}"));
            decide(&batch[i], ctx)
        })
        .await
        .unwrap();

    assert_eq!(seen_many, seen_one, "each delivery of the batch saw what it sees on its own");
    assert_eq!(applied_many, applied_one);
    assert_eq!(
        applied_one,
        [
            Applied::Applied,
            Applied::Duplicate,
            Applied::NotFinal,
            Applied::NotFinal,
            Applied::Applied,
            Applied::Duplicate,
            Applied::Applied,
            Applied::Unmatched,
            Applied::Duplicate
        ]
    );
    // The same attempts and jobs (ids and the manual clock are the same in both databases).
    assert_eq!(format!("{:?}", attempts(&many).await), format!("{:?}", attempts(&one).await));
    let jobs = async |h: &Harness| format!("{:?}", h.store.job_records(None).await.unwrap());
    assert_eq!(jobs(&many).await, jobs(&one).await);
    assert_eq!(inbox_results(&many).await, applied_one, "the inbox in arrival order");
}

/// A batch writes its first outcomes together, but an opt-out still comes after the outcomes
/// that arrived before it: a person who asks not to be called again in one campaign has the
/// retry another campaign just scheduled for the same number suppressed, batch or not.
#[tokio::test]
async fn an_opt_out_in_a_batch_suppresses_the_retry_an_earlier_delivery_of_the_batch_scheduled() {
    use switchboard::store::{Application, Delivery, JobTarget};

    async fn set_up() -> (Harness, [String; 2]) {
        let h = Harness::new(at(TUESDAY_10), sim(SimConfig::default())).await;
        let ids = ["00000000-0000-4000-8000-00000000000a", "00000000-0000-4000-8000-00000000000b"].map(String::from);
        for (campaign_id, attempt) in ["first", "second"].into_iter().zip(&ids) {
            let campaign = h.campaign(&format!("id = \"{campaign_id}\"\n{}", spec(RETRY_VOICEMAIL)), RECIPIENT).await;
            dial_due(&h, &campaign, std::slice::from_ref(attempt)).await;
        }
        (h, ids)
    }
    fn decide(i: usize, now: DateTime<Utc>) -> Application {
        if i == 0 {
            // Voicemail in the first campaign: a retry in ten minutes.
            Application::Record {
                record: record(Outcome::Voicemail, Some("voicemail"), now),
                job: JobTarget::Retry(now + Duration::minutes(10)),
            }
        } else {
            // The same person, reached in the second campaign, asks not to be called again.
            let mut opted_out = record(Outcome::Human, None, now);
            opted_out.opt_out = Some("asked on the call".into());
            Application::Update { record: opted_out, job: None }
        }
    }

    let (one, ids) = set_up().await;
    let (many, _) = set_up().await;
    let now = one.now();
    let batch = [("call-a", &ids[0]), ("call-b", &ids[1])].map(|(call_id, id)| Delivery {
        attempt_id: Some(id.as_str()),
        call_id,
        inbox_body: None,
        now,
    });
    for (i, d) in batch.iter().enumerate() {
        one.store.apply_call_details(*d, |_| decide(i, now)).await.unwrap();
    }
    let applied = many.store.apply_call_details_many(&batch, |i, _| decide(i, now)).await.unwrap();
    assert_eq!(applied, [Applied::Applied, Applied::Updated]);

    let jobs = async |h: &Harness| h.store.job_records(Some("first")).await.unwrap();
    let [retry] = jobs(&one).await.try_into().unwrap();
    assert_eq!(retry.state, JobState::Suppressed, "one by one, the opt-out suppresses the retry");
    assert_eq!(format!("{:?}", jobs(&many).await), format!("{:?}", jobs(&one).await), "and so in a batch");
}

/// A first outcome and its job's move go to the database together (one round trip on SQLite):
/// when the attempt already has an outcome, neither is written — the job does not move on a
/// write that did not happen.
#[tokio::test]
async fn a_first_outcome_for_an_attempt_that_has_one_writes_nothing_and_leaves_the_job_where_it_is() {
    use switchboard::store::{Application, Delivery, JobTarget};

    let h = Harness::new(at(TUESDAY_10), sim(SimConfig::default())).await;
    let campaign = h.campaign(&spec(RETRY_VOICEMAIL), RECIPIENT).await;
    let now = h.now();
    let attempt_id = uuid::Uuid::new_v4().to_string();
    dial_due(&h, &campaign, std::slice::from_ref(&attempt_id)).await;
    let d = Delivery { attempt_id: Some(&attempt_id), call_id: "call-1", inbox_body: None, now };

    // An outcome without `answered_by`, written as a correction would be: the job stays put.
    let first = h
        .store
        .apply_call_details(d, |_| Application::Update { record: record(Outcome::Human, None, now), job: None })
        .await
        .unwrap();
    assert_eq!(first, Applied::Updated);
    assert_eq!(the_job(&h).await.state, JobState::Dialing);

    // A first outcome now finds one: the attempt is not written, so the job must not move.
    let again = h
        .store
        .apply_call_details(d, |ctx| {
            assert_eq!(ctx.outcome, Some(Outcome::Human));
            Application::Record {
                record: record(Outcome::Voicemail, Some("voicemail"), now),
                job: JobTarget::Retry(now + Duration::minutes(10)),
            }
        })
        .await
        .unwrap();
    assert_eq!(again, Applied::Duplicate);
    let job = the_job(&h).await;
    assert_eq!((job.state, job.outcome), (JobState::Dialing, None), "the job did not move");
    let a = attempt(&h, &attempt_id).await;
    assert_eq!((a.outcome, a.answered_by), (Some(Outcome::Human), None), "the attempt kept its outcome");
}
