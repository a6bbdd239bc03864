//! What each simulated call does, decided once at send time, and how it looks at any moment.
//!
//! [`plan_call`] is a pure function of the seed, the number, how many calls that number has had
//! before, and the send body: the same seed and the same sends give the same call ids, outcomes
//! and lengths whatever the request order across numbers. [`render`] is a pure function of a
//! call and the simulated seconds since it was sent; it produces the call-details JSON Bland
//! serves (new shape) and posts to webhooks.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use serde_json::{Map, Value, json};

use super::config::{OutcomeMix, SimConfig};

/// SplitMix64: tiny, fast, and stable across crate versions, so a seed means the same thing in
/// every build.
#[derive(Debug, Clone)]
pub(crate) struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    pub fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }

    pub fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }
}

/// A one-off draw for stream `stream`, item `n` (request faults, where no per-call state exists).
pub(crate) fn draw(seed: u64, stream: u64, n: u64) -> f64 {
    Rng::new(seed ^ stream.wrapping_mul(0xD6E8_FEB8_6659_FD93) ^ n.rotate_left(32)).unit()
}

fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// What really happened on the line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SimOutcome {
    Human,
    Voicemail,
    NoAnswer,
    Busy,
    Failed,
}

impl SimOutcome {
    fn pick(mix: &OutcomeMix, u: f64) -> Self {
        let mut x = u * mix.total();
        for (weight, outcome) in [
            (mix.human, Self::Human),
            (mix.voicemail, Self::Voicemail),
            (mix.no_answer, Self::NoAnswer),
            (mix.busy, Self::Busy),
        ] {
            if x < weight {
                return outcome;
            }
            x -= weight;
        }
        Self::Failed
    }
}

/// A call's whole future, in simulated seconds since the send.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Plan {
    pub call_id: String,
    pub outcome: SimOutcome,
    /// Leaves Bland's queue.
    pub queue_s: f64,
    /// Someone (or a voicemail box) picks up.
    pub connect_s: Option<f64>,
    /// The call ends on its own.
    pub end_s: f64,
    /// After the end, how long until `answered_by` is known (late detection).
    pub answered_by_delay_s: Option<f64>,
    pub duplicate_webhook: bool,
    pub drop_webhook: bool,
    pub ended_by_user: bool,
    /// Seed for the answers of analyses.
    pub answer_seed: u64,
    /// The person asks not to be called again (human calls only).
    pub opt_out: bool,
}

/// Decides a call. `nth` counts earlier calls to the same number in this run.
pub(crate) fn plan_call(cfg: &SimConfig, to: &str, nth: u64, max_duration_min: f64, answered_by_enabled: bool) -> Plan {
    let mut rng = Rng::new(cfg.seed ^ fnv1a(to.as_bytes()) ^ nth.wrapping_mul(0xA24B_AED4_963E_E407));
    let mut id = [0u8; 16];
    id[..8].copy_from_slice(&rng.next_u64().to_le_bytes());
    id[8..].copy_from_slice(&rng.next_u64().to_le_bytes());
    let call_id = uuid::Builder::from_random_bytes(id).into_uuid().to_string();
    let outcome = SimOutcome::pick(&cfg.mix, rng.unit());
    let queue_s = rng.range(1.0, 3.0);
    let cap = max_duration_min * 60.0;
    let (connect_s, end_s) = match outcome {
        SimOutcome::Human => {
            let connect = queue_s + rng.range(4.0, 20.0);
            (Some(connect), connect + rng.range(30.0, 240.0).min(cap))
        }
        SimOutcome::Voicemail => {
            let connect = queue_s + rng.range(15.0, 30.0);
            (Some(connect), connect + rng.range(15.0, 45.0).min(cap))
        }
        SimOutcome::NoAnswer => (None, queue_s + rng.range(30.0, 50.0)),
        SimOutcome::Busy => (None, queue_s + rng.range(2.0, 6.0)),
        SimOutcome::Failed => (None, queue_s + rng.range(0.5, 3.0)),
    };
    let late = rng.chance(cfg.late_answered_by_rate);
    let late_delay = rng.range(10.0, 60.0);
    Plan {
        call_id,
        outcome,
        queue_s,
        connect_s,
        end_s,
        answered_by_delay_s: (answered_by_enabled && late).then_some(late_delay),
        duplicate_webhook: rng.chance(cfg.duplicate_webhook_rate),
        drop_webhook: rng.chance(cfg.drop_webhook_rate),
        ended_by_user: rng.chance(0.5),
        answer_seed: rng.next_u64(),
        // Drawn last, so that every earlier draw (and a seed's calls) stays as it was.
        opt_out: outcome == SimOutcome::Human && rng.chance(cfg.opt_out_rate),
    }
}

/// One simulated call: what was sent and what was decided.
#[derive(Debug, Clone)]
pub(crate) struct CallRecord {
    pub seq: u64,
    pub plan: Plan,
    pub to: String,
    pub from: String,
    pub created_at: DateTime<Utc>,
    /// The send body's bytes as received: far smaller than the parsed tree, and read only when
    /// the call is rendered.
    pub request: Box<[u8]>,
    pub webhook: Option<String>,
    pub answered_by_enabled: bool,
    pub max_duration_min: f64,
    pub record: bool,
    pub byot: bool,
    /// Simulated seconds after the send at which `stop` ended it.
    pub stopped_at_s: Option<f64>,
}

/// The final state of a call as the simulator knows it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Final {
    pub end_s: f64,
    pub connected: bool,
    pub talk_s: f64,
    pub status: &'static str,
    pub queue_status: &'static str,
    pub answered_by: Option<&'static str>,
    pub price: f64,
}

impl Final {
    /// Minutes, to 4 decimals as Bland reports them (short decimals also survive a JSON round
    /// trip exactly, so the truth and the served details compare equal).
    pub fn call_length_minutes(&self) -> f64 {
        (self.talk_s / 60.0 * 10_000.0).round() / 10_000.0
    }
}

impl CallRecord {
    /// The send body (validated as an object when accepted).
    pub fn request_map(&self) -> Map<String, Value> {
        serde_json::from_slice(&self.request).unwrap_or_default()
    }

    /// `metadata` as sent, `Null` when absent.
    pub fn metadata(&self) -> Value {
        self.request_map().remove("metadata").unwrap_or(Value::Null)
    }

    /// When the call ends (or ended), in simulated seconds since the send.
    pub fn end_s(&self) -> f64 {
        match self.stopped_at_s {
            Some(stop) => stop.min(self.plan.end_s),
            None => self.plan.end_s,
        }
    }

    pub fn final_state(&self) -> Final {
        let end_s = self.end_s();
        let stopped_early = self.stopped_at_s.is_some_and(|s| s < self.plan.end_s);
        let connect = self.plan.connect_s.filter(|c| *c <= end_s);
        let talk_s = connect.map_or(0.0, |c| end_s - c);
        let (status, queue_status) = match (stopped_early, connect.is_some(), self.plan.outcome) {
            (true, true, _) => ("completed", "complete"),
            (true, false, _) => ("canceled", "complete"),
            (false, _, SimOutcome::Human | SimOutcome::Voicemail) => ("completed", "complete"),
            (false, _, SimOutcome::NoAnswer) => ("no-answer", "complete"),
            (false, _, SimOutcome::Busy) => ("busy", "complete"),
            (false, _, SimOutcome::Failed) => ("failed", "call_error"),
        };
        let answered_by = if !self.answered_by_enabled {
            None
        } else if connect.is_some() {
            match self.plan.outcome {
                SimOutcome::Voicemail => Some("voicemail"),
                // Stopped during the first seconds: too little audio to tell.
                _ if talk_s < 3.0 => Some("unknown"),
                _ => Some("human"),
            }
        } else if self.plan.outcome == SimOutcome::NoAnswer && !stopped_early {
            Some("no-answer")
        } else {
            None
        };
        // Bland bills per minute with a floor for every dispatched call, failed ones too.
        let price = ((talk_s / 60.0 * 0.09).max(0.015) * 10_000.0).round() / 10_000.0;
        Final { end_s, connected: connect.is_some(), talk_s, status, queue_status, answered_by, price }
    }
}

fn ts(t: DateTime<Utc>) -> Value {
    Value::String(t.to_rfc3339_opts(SecondsFormat::Millis, true))
}

/// The call-details JSON at `t` simulated seconds after the send. Timestamps are real instants:
/// `created_at` plus simulated seconds divided by `speed`.
pub(crate) fn render(rec: &CallRecord, t: f64, speed: f64) -> Value {
    let wall = |s: f64| rec.created_at + chrono::Duration::microseconds((s / speed * 1_000_000.0) as i64);
    let fin = rec.final_state();
    let mut request = rec.request_map();
    let done = t >= fin.end_s;
    let connected_now = rec.plan.connect_s.filter(|c| *c <= t.min(fin.end_s));
    let (status, queue_status) = if done {
        (fin.status, fin.queue_status)
    } else if t < rec.plan.queue_s {
        ("queued", "queued")
    } else {
        ("in-progress", "started")
    };
    let answered_by = match (done, rec.plan.answered_by_delay_s) {
        (false, _) => None,
        (true, Some(delay)) if t < fin.end_s + delay => None,
        (true, _) => fin.answered_by,
    };
    let human = done && fin.connected && rec.plan.outcome == SimOutcome::Human;
    let transcripts = if done { transcript(rec, &request, &fin, &wall) } else { Vec::new() };
    let concatenated: Vec<String> = transcripts
        .iter()
        .map(|t| format!("{}: {}", t["user"].as_str().unwrap_or(""), t["text"].as_str().unwrap_or("")))
        .collect();
    let mut v = json!({
        "call_id": rec.plan.call_id,
        "c_id": rec.plan.call_id,
        "batch_id": null,
        "to": rec.to,
        "from": rec.from,
        "request_data": request.get("request_data").cloned().unwrap_or(Value::Null),
        "metadata": request.remove("metadata").unwrap_or(Value::Null),
        "completed": done,
        "inbound": false,
        "created_at": ts(rec.created_at),
        "started_at": connected_now.map(|c| ts(wall(c))).unwrap_or(Value::Null),
        "end_at": connected_now
            .map(|c| ts(wall(c + rec.max_duration_min * 60.0)))
            .unwrap_or(Value::Null),
        "endpoint_url": "api.prod.bland.ai",
        "queue_status": queue_status,
        "status": status,
        "max_duration": rec.max_duration_min,
        "local_dialing": false,
        "record": rec.record,
        "answered_by": answered_by,
        "call_ended_by": Value::Null,
        "error_message": Value::Null,
        "call_length": Value::Null,
        "corrected_duration": Value::Null,
        "price": Value::Null,
        "summary": Value::Null,
        "recording_url": Value::Null,
        "transcripts": transcripts,
        "concatenated_transcript": concatenated.join("\n"),
        "variables": {
            "to": rec.to, "from": rec.from, "call_id": rec.plan.call_id,
            "language": request.get("language").cloned().unwrap_or(json!("en-US")),
        },
        "analysis_schema": request.get("analysis_schema").cloned().unwrap_or(Value::Null),
        "analysis": Value::Null,
        "pathway_logs": Value::Null,
        "transferred_to": Value::Null,
    });
    if done {
        let m = v.as_object_mut().expect("built as an object");
        m.insert("call_length".into(), json!(fin.call_length_minutes()));
        m.insert("corrected_duration".into(), json!(fin.talk_s.round() as u64));
        m.insert("price".into(), json!(fin.price));
        let ended_by = match (fin.connected, rec.stopped_at_s.is_some(), rec.plan.ended_by_user) {
            (false, _, _) => Value::Null,
            (true, true, _) | (true, false, false) => json!("ASSISTANT"),
            (true, false, true) => json!("USER"),
        };
        m.insert("call_ended_by".into(), ended_by);
        if fin.status == "failed" {
            m.insert("error_message".into(), json!("Simulated carrier failure: the call could not be connected."));
        }
        if rec.record && fin.connected {
            m.insert("recording_url".into(), json!(format!("https://sim.invalid/recordings/{}.mp3", rec.plan.call_id)));
        }
        m.insert("summary".into(), json!(summary(rec, &fin)));
        if let Some(Value::Object(schema)) = request.get("analysis_schema") {
            m.insert("analysis".into(), analysis(schema, human, rec.plan.answer_seed));
        }
    }
    v
}

fn summary(rec: &CallRecord, fin: &Final) -> String {
    match (fin.status, rec.plan.outcome) {
        ("canceled", _) => "The call was cancelled before anyone answered.".into(),
        ("completed", SimOutcome::Voicemail) => "The call reached voicemail and the agent left a message.".into(),
        ("completed", _) => format!("The agent spoke with the person for {:.0} seconds.", fin.talk_s),
        ("no-answer", _) => "Nobody answered the call.".into(),
        ("busy", _) => "The line was busy.".into(),
        _ => "The call failed before it connected.".into(),
    }
}

fn transcript(
    rec: &CallRecord,
    request: &Map<String, Value>,
    fin: &Final,
    wall: &dyn Fn(f64) -> DateTime<Utc>,
) -> Vec<Value> {
    let Some(connect) = rec.plan.connect_s.filter(|_| fin.connected) else {
        return Vec::new();
    };
    let text = |key: &str, default: &str| request.get(key).and_then(Value::as_str).unwrap_or(default).to_string();
    let lines: Vec<(&str, String)> = match rec.plan.outcome {
        SimOutcome::Voicemail => {
            vec![("assistant", text("voicemail_message", "Hello, sorry we missed you. Please call us back."))]
        }
        _ => vec![
            ("assistant", text("first_sentence", "Hello, this is an AI assistant calling.")),
            ("user", "Hi, who is this?".into()),
            ("assistant", "I'm calling on behalf of the company about your account.".into()),
            ("user", if rec.plan.opt_out { "Please stop calling me." } else { "Okay, go ahead." }.into()),
        ],
    };
    let step = (fin.talk_s / (lines.len() as f64 + 1.0)).max(0.1);
    lines
        .into_iter()
        .enumerate()
        .map(|(i, (user, text))| {
            json!({
                "id": i as u64 + 1,
                "created_at": ts(wall(connect + step * i as f64)),
                "text": text,
                "user": user,
            })
        })
        .collect()
}

/// Fills an `analysis_schema` (`{name: type}`) with answers; only a conversation can answer.
fn analysis(schema: &Map<String, Value>, human: bool, seed: u64) -> Value {
    let mut rng = Rng::new(seed);
    let out: Map<String, Value> = schema
        .iter()
        .map(|(name, ty)| {
            let ty = ty.as_str().unwrap_or("string");
            let v = if human { answer(ty, name, &mut rng) } else { Value::Null };
            (name.clone(), v)
        })
        .collect();
    Value::Object(out)
}

/// A plausible answer of the given type (`boolean`, `number`, `human or voicemail`, text).
pub(crate) fn answer(ty: &str, question: &str, rng: &mut Rng) -> Value {
    let ty = ty.to_ascii_lowercase();
    if ty.contains("bool") {
        json!(rng.chance(0.5))
    } else if ty.contains("number") || ty.contains("int") || ty.contains("float") {
        json!((rng.range(0.0, 10.0)).round())
    } else if ty.contains("human or voicemail") {
        json!("human")
    } else {
        json!(format!("Simulated answer to: {question}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> SimConfig {
        SimConfig::default()
    }

    fn record(plan: Plan, answered_by_enabled: bool) -> CallRecord {
        CallRecord {
            seq: 0,
            plan,
            to: "+12223334444".into(),
            from: "+14155550100".into(),
            created_at: DateTime::parse_from_rfc3339("2026-03-08T12:00:00Z").unwrap().to_utc(),
            request: serde_json::to_vec(&json!({"metadata": {"attempt": "a-1"}})).unwrap().into_boxed_slice(),
            webhook: None,
            answered_by_enabled,
            max_duration_min: 30.0,
            record: false,
            byot: false,
            stopped_at_s: None,
        }
    }

    #[test]
    fn the_same_seed_number_and_count_give_the_same_call() {
        let a = plan_call(&cfg(), "+12223334444", 0, 30.0, true);
        let b = plan_call(&cfg(), "+12223334444", 0, 30.0, true);
        assert_eq!(a, b);
        let c = plan_call(&cfg(), "+12223334444", 1, 30.0, true);
        assert_ne!(a.call_id, c.call_id);
        let other_seed = SimConfig { seed: 1, ..cfg() };
        assert_ne!(a.call_id, plan_call(&other_seed, "+12223334444", 0, 30.0, true).call_id);
    }

    #[test]
    fn outcomes_follow_the_configured_mix() {
        let c = cfg();
        let mut counts = std::collections::HashMap::new();
        for i in 0..10_000u64 {
            let p = plan_call(&c, &format!("+1222{i:07}"), 0, 30.0, false);
            *counts.entry(p.outcome).or_insert(0u32) += 1;
        }
        let share = |o| f64::from(counts[&o]) / 10_000.0;
        assert!((share(SimOutcome::Human) - 0.6).abs() < 0.03);
        assert!((share(SimOutcome::Voicemail) - 0.2).abs() < 0.03);
        assert!((share(SimOutcome::NoAnswer) - 0.1).abs() < 0.02);
        assert!((share(SimOutcome::Failed) - 0.05).abs() < 0.02);
        let only_busy = SimConfig {
            mix: OutcomeMix { human: 0.0, voicemail: 0.0, no_answer: 0.0, busy: 1.0, failed: 0.0 },
            ..cfg()
        };
        assert_eq!(plan_call(&only_busy, "+12223334444", 0, 30.0, false).outcome, SimOutcome::Busy);
    }

    #[test]
    fn a_call_is_queued_then_in_progress_then_complete_with_a_price() {
        let mut plan = plan_call(&cfg(), "+12223334444", 0, 30.0, true);
        plan.outcome = SimOutcome::Human;
        plan.connect_s = Some(10.0);
        plan.end_s = 70.0;
        plan.queue_s = 2.0;
        plan.answered_by_delay_s = None;
        let rec = record(plan, true);
        let at = |t| render(&rec, t, 60.0);
        assert_eq!(at(1.0)["status"], "queued");
        assert_eq!(at(1.0)["completed"], false);
        assert_eq!(at(20.0)["status"], "in-progress");
        assert_eq!(at(20.0)["started_at"], "2026-03-08T12:00:00.166Z");
        assert_eq!(at(20.0)["answered_by"], Value::Null);
        let end = at(70.0);
        assert_eq!(end["completed"], true);
        assert_eq!(end["status"], "completed");
        assert_eq!(end["queue_status"], "complete");
        assert_eq!(end["answered_by"], "human");
        assert_eq!(end["call_length"], 1.0);
        assert_eq!(end["corrected_duration"], 60);
        assert_eq!(end["price"], 0.09);
        assert_eq!(end["metadata"], json!({"attempt": "a-1"}));
        assert_eq!(end["transcripts"].as_array().unwrap().len(), 4);
    }

    #[test]
    fn answered_by_appears_only_when_enabled_and_late_only_after_its_delay() {
        let mut plan = plan_call(&cfg(), "+12223334444", 0, 30.0, true);
        plan.outcome = SimOutcome::Voicemail;
        plan.connect_s = Some(10.0);
        plan.end_s = 40.0;
        plan.answered_by_delay_s = Some(20.0);
        let late = record(plan.clone(), true);
        assert_eq!(render(&late, 45.0, 1.0)["answered_by"], Value::Null);
        assert_eq!(render(&late, 61.0, 1.0)["answered_by"], "voicemail");
        plan.answered_by_delay_s = None;
        let off = record(plan, false);
        assert_eq!(render(&off, 100.0, 1.0)["answered_by"], Value::Null);
    }

    #[test]
    fn unanswered_busy_and_failed_calls_cost_the_minimum_and_have_no_length() {
        for (outcome, status, queue_status) in [
            (SimOutcome::NoAnswer, "no-answer", "complete"),
            (SimOutcome::Busy, "busy", "complete"),
            (SimOutcome::Failed, "failed", "call_error"),
        ] {
            let mut plan = plan_call(&cfg(), "+12223334444", 0, 30.0, true);
            plan.outcome = outcome;
            plan.connect_s = None;
            plan.end_s = 30.0;
            plan.answered_by_delay_s = None;
            let v = render(&record(plan, true), 31.0, 1.0);
            assert_eq!(v["status"], status);
            assert_eq!(v["queue_status"], queue_status);
            assert_eq!(v["call_length"], 0.0);
            assert_eq!(v["price"], 0.015);
            assert_eq!(v["started_at"], Value::Null);
        }
    }

    #[test]
    fn a_call_stopped_before_anyone_answers_is_canceled() {
        let mut plan = plan_call(&cfg(), "+12223334444", 0, 30.0, false);
        plan.outcome = SimOutcome::Human;
        plan.connect_s = Some(10.0);
        plan.end_s = 100.0;
        let mut rec = record(plan, false);
        rec.stopped_at_s = Some(5.0);
        let v = render(&rec, 5.0, 1.0);
        assert_eq!(v["status"], "canceled");
        assert_eq!(v["completed"], true);
        rec.stopped_at_s = Some(40.0);
        let v = render(&rec, 40.0, 1.0);
        assert_eq!(v["status"], "completed");
        assert_eq!(v["call_length"], 0.5);
        assert_eq!(v["call_ended_by"], "ASSISTANT");
    }

    #[test]
    fn talk_time_never_exceeds_max_duration() {
        for i in 0..200u64 {
            let p = plan_call(&cfg(), &format!("+1333{i:07}"), 0, 1.0, false);
            if let Some(c) = p.connect_s {
                assert!(p.end_s - c <= 60.0 + 1e-9);
            }
        }
    }
}
