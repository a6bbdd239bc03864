//! The typed requests sent to Bland and the tolerant readers of its answers.
//!
//! Requests are plain serde structs. Answers are read from a `serde_json::Value` field by field
//! rather than derived, because Bland documents two shapes for several of them (call details,
//! list calls, webhooks), writes ids as strings or numbers, and adds fields over time: a reader
//! here never fails on a missing optional field, an unknown field or a number where a string was
//! expected, and each typed answer keeps the raw JSON for storage.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

// ---------------------------------------------------------------------------------------------
// Send call

/// The body of `POST /v1/calls`. The fields switchboard reads or sets are typed; every other Bland
/// field of the campaign's `[call]` table travels in `extra`, untouched.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SendCallRequest {
    pub phone_number: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pathway_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub voice: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_sentence: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub voicemail_message: Option<String>,
    /// Minutes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_duration: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wait_for_greeting: Option<bool>,
    /// Must be true for Bland to report `answered_by` (voicemail detection).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answered_by_enabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary_prompt: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub analysis_prompt: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub analysis_schema: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<String>,
    /// Where Bland POSTs the call details when the call ends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook: Option<String>,
    /// Variables visible to the agent (`{{var}}` in the task).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_data: Option<Map<String, Value>>,
    /// Echoed back verbatim in call details and webhooks: switchboard's correlation key.
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub metadata: Value,
    /// Any other Bland field, passed through as given.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A `[call]` field whose type does not fit what Bland expects.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("call.{field}: {problem}")]
pub struct SendCallFieldError {
    pub field: String,
    pub problem: String,
}

impl SendCallRequest {
    /// Builds the body from a campaign's `[call]` table (placeholders already filled) and the
    /// per-recipient fields. The recipient's `phone`, `metadata` and `webhook` win over the table;
    /// an object `metadata` in the table is merged under the recipient's (recipient keys win).
    /// Fields this type does not name pass through in `extra` exactly as given.
    pub fn from_call_table(
        mut call: Map<String, Value>,
        phone: impl Into<String>,
        metadata: Value,
        webhook: Option<String>,
    ) -> Result<Self, SendCallFieldError> {
        // The phone number always comes from the recipient.
        call.remove("phone_number");
        let table_webhook = take_string(&mut call, "webhook")?;
        let metadata = match (call.remove("metadata"), metadata) {
            (Some(Value::Object(mut base)), Value::Object(own)) => {
                base.extend(own);
                Value::Object(base)
            }
            (Some(base), Value::Null) => base,
            (_, own) => own,
        };
        let request_data = match call.remove("request_data") {
            None | Some(Value::Null) => None,
            Some(Value::Object(map)) => Some(map),
            Some(_) => return Err(field_error("request_data", "must be a table (object)")),
        };
        Ok(Self {
            phone_number: phone.into(),
            task: take_string(&mut call, "task")?,
            pathway_id: take_string(&mut call, "pathway_id")?,
            voice: take_string(&mut call, "voice")?,
            first_sentence: take_string(&mut call, "first_sentence")?,
            model: take_string(&mut call, "model")?,
            language: take_string(&mut call, "language")?,
            timezone: take_string(&mut call, "timezone")?,
            from: take_string(&mut call, "from")?,
            voicemail_message: take_string(&mut call, "voicemail_message")?,
            max_duration: take_number(&mut call, "max_duration")?,
            record: take_bool(&mut call, "record")?,
            wait_for_greeting: take_bool(&mut call, "wait_for_greeting")?,
            answered_by_enabled: take_bool(&mut call, "answered_by_enabled")?,
            summary_prompt: take_string(&mut call, "summary_prompt")?,
            analysis_prompt: take_string(&mut call, "analysis_prompt")?,
            analysis_schema: call.remove("analysis_schema").filter(|v| !v.is_null()),
            start_time: take_string(&mut call, "start_time")?,
            webhook: webhook.or(table_webhook),
            request_data,
            metadata,
            extra: call,
        })
    }

    /// Adds variables for the agent (`{{var}}` in the task), over any the table set.
    pub fn with_request_data(mut self, data: Map<String, Value>) -> Self {
        match &mut self.request_data {
            Some(existing) => existing.extend(data),
            None => self.request_data = Some(data),
        }
        self
    }
}

fn field_error(field: &str, problem: &str) -> SendCallFieldError {
    SendCallFieldError { field: field.to_string(), problem: problem.to_string() }
}

fn take_string(map: &mut Map<String, Value>, key: &'static str) -> Result<Option<String>, SendCallFieldError> {
    match map.remove(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(field_error(key, "must be a string")),
    }
}

fn take_bool(map: &mut Map<String, Value>, key: &'static str) -> Result<Option<bool>, SendCallFieldError> {
    match map.remove(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(b)),
        Some(_) => Err(field_error(key, "must be true or false")),
    }
}

fn take_number(map: &mut Map<String, Value>, key: &'static str) -> Result<Option<f64>, SendCallFieldError> {
    match map.remove(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => lenient_f64(&v).map(Some).ok_or_else(|| field_error(key, "must be a number")),
    }
}

/// Bland's answer to a successful send call.
#[derive(Debug, Clone, PartialEq)]
pub struct SendCallResponse {
    pub call_id: String,
    pub batch_id: Option<String>,
    pub message: Option<String>,
    pub status: Option<String>,
}

impl SendCallResponse {
    /// `None` when the body holds no call id (the caller decides what that means).
    pub fn from_value(v: &Value) -> Option<Self> {
        let map = v.as_object()?;
        Some(Self {
            call_id: get_str(map, "call_id").or_else(|| get_str(map, "c_id"))?,
            batch_id: get_str(map, "batch_id"),
            message: get_str(map, "message"),
            status: get_str(map, "status"),
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Call details

/// `status` of a call: the documented values plus the telephony ones carriers report.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum CallStatus {
    Queued,
    InProgress,
    Completed,
    Failed,
    Busy,
    NoAnswer,
    Canceled,
    Other(String),
}

impl CallStatus {
    /// Reads any spelling Bland or a carrier uses (`no-answer`, `no_answer`, `cancelled`, …).
    pub fn parse(s: &str) -> Self {
        match normalise_word(s).as_str() {
            "queued" | "new" | "pending" => Self::Queued,
            "in-progress" | "inprogress" | "started" | "ringing" | "active" => Self::InProgress,
            "completed" | "complete" | "ended" | "done" => Self::Completed,
            "failed" | "error" => Self::Failed,
            "busy" => Self::Busy,
            "no-answer" | "noanswer" | "unanswered" => Self::NoAnswer,
            "canceled" | "cancelled" => Self::Canceled,
            _ => Self::Other(s.trim().to_string()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            Self::Queued => "queued",
            Self::InProgress => "in-progress",
            Self::Completed => "completed",
            Self::Failed => "failed",
            Self::Busy => "busy",
            Self::NoAnswer => "no-answer",
            Self::Canceled => "canceled",
            Self::Other(s) => s,
        }
    }

    /// Whether the call is over (whatever became of it).
    pub fn is_terminal(&self) -> bool {
        matches!(self, Self::Completed | Self::Failed | Self::Busy | Self::NoAnswer | Self::Canceled)
    }
}

/// `queue_status` of a call, with `complete` and `completed` read as one.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum QueueStatus {
    New,
    Queued,
    Allocated,
    Started,
    Complete,
    PreQueueError,
    QueueError,
    CallError,
    CompleteError,
    Other(String),
}

impl QueueStatus {
    pub fn parse(s: &str) -> Self {
        match normalise_word(s).replace('-', "_").as_str() {
            "new" => Self::New,
            "queued" => Self::Queued,
            "allocated" => Self::Allocated,
            "started" | "in_progress" => Self::Started,
            "complete" | "completed" => Self::Complete,
            "pre_queue_error" => Self::PreQueueError,
            "queue_error" => Self::QueueError,
            "call_error" => Self::CallError,
            "complete_error" | "completed_error" => Self::CompleteError,
            _ => Self::Other(s.trim().to_string()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            Self::New => "new",
            Self::Queued => "queued",
            Self::Allocated => "allocated",
            Self::Started => "started",
            Self::Complete => "complete",
            Self::PreQueueError => "pre_queue_error",
            Self::QueueError => "queue_error",
            Self::CallError => "call_error",
            Self::CompleteError => "complete_error",
            Self::Other(s) => s,
        }
    }

    /// One of the `*_error` states: the call failed (or never went out).
    pub fn is_error(&self) -> bool {
        matches!(self, Self::PreQueueError | Self::QueueError | Self::CallError | Self::CompleteError)
    }
}

/// `answered_by` (voicemail detection), present only when `answered_by_enabled` was sent.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum AnsweredBy {
    Human,
    Voicemail,
    Unknown,
    NoAnswer,
    Other(String),
}

impl AnsweredBy {
    pub fn parse(s: &str) -> Self {
        match normalise_word(s).as_str() {
            "human" => Self::Human,
            "voicemail" | "machine" | "answering-machine" => Self::Voicemail,
            "unknown" => Self::Unknown,
            "no-answer" | "noanswer" => Self::NoAnswer,
            _ => Self::Other(s.trim().to_string()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            Self::Human => "human",
            Self::Voicemail => "voicemail",
            Self::Unknown => "unknown",
            Self::NoAnswer => "no-answer",
            Self::Other(s) => s,
        }
    }
}

macro_rules! display_as_str {
    ($($t:ty),*) => {$(
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    )*};
}
display_as_str!(CallStatus, QueueStatus, AnsweredBy);

fn normalise_word(s: &str) -> String {
    s.trim().to_ascii_lowercase().replace(['_', ' '], "-")
}

/// One utterance: the new shape's `{id, created_at, text, user}` or the old shape's
/// `{speaker, text, timestamp}` (`speaker` lands in `user`).
#[derive(Debug, Clone, PartialEq)]
pub struct TranscriptEntry {
    pub id: Option<String>,
    pub created_at: Option<DateTime<Utc>>,
    pub text: String,
    /// `user`, `assistant`, `robot`, `agent-action` (new shape) or `ai`, `human` (old shape).
    pub user: String,
}

/// The details of one call: `GET /v1/calls/{id}`, each item of list calls, and the webhook body.
#[derive(Debug, Clone, PartialEq)]
pub struct CallDetails {
    /// `call_id`, else `c_id` (both strings, even when Bland sent a number).
    pub call_id: String,
    pub c_id: Option<String>,
    pub batch_id: Option<String>,
    /// The number called (`to`, or the old shape's `phone_number`).
    pub to: Option<String>,
    pub from: Option<String>,
    pub request_data: Option<Value>,
    /// Echoed verbatim from the send call; `Null` when absent.
    pub metadata: Value,
    pub completed: Option<bool>,
    pub inbound: Option<bool>,
    pub created_at: Option<DateTime<Utc>>,
    pub started_at: Option<DateTime<Utc>>,
    /// Not the end of the call: when `max_duration` would cut it off.
    pub end_at: Option<DateTime<Utc>>,
    pub updated_at: Option<DateTime<Utc>>,
    pub queue_status: Option<QueueStatus>,
    pub status: Option<CallStatus>,
    /// Minutes (`call_length`; the old shape's `duration` seconds converted).
    pub call_length_minutes: Option<f64>,
    /// Seconds: `corrected_duration` when present.
    pub corrected_duration_secs: Option<f64>,
    /// Minutes.
    pub max_duration: Option<f64>,
    pub answered_by: Option<AnsweredBy>,
    /// `ASSISTANT` or `USER`.
    pub call_ended_by: Option<String>,
    pub error_message: Option<String>,
    pub summary: Option<String>,
    /// USD.
    pub price: Option<f64>,
    pub recording_url: Option<String>,
    pub record: Option<bool>,
    pub transcripts: Vec<TranscriptEntry>,
    pub concatenated_transcript: Option<String>,
    pub variables: Option<Value>,
    pub analysis: Option<Value>,
    pub transferred_to: Option<String>,
    /// For event-shaped webhooks: the event name (`call.completed`, …).
    pub event: Option<String>,
    /// The object as received, for storage.
    pub raw: Value,
}

impl CallDetails {
    /// Reads either documented shape. Fails only when the value is not an object or carries no
    /// call id at all.
    pub fn from_value(raw: Value) -> Result<Self, String> {
        let Some(map) = raw.as_object() else {
            return Err(format!("expected a JSON object, got {}", json_kind(&raw)));
        };
        let call_id =
            get_str(map, "call_id").or_else(|| get_str(map, "c_id")).ok_or("neither call_id nor c_id is present")?;
        let call_length_minutes =
            get_f64(map, "call_length").or_else(|| get_f64(map, "duration").map(|secs| secs / 60.0));
        let transcripts = match (map.get("transcripts"), map.get("transcript")) {
            (Some(Value::Array(items)), _) | (None | Some(Value::Null), Some(Value::Array(items))) => {
                items.iter().filter_map(transcript_entry).collect()
            }
            _ => Vec::new(),
        };
        let concatenated_transcript = get_str(map, "concatenated_transcript")
            .or_else(|| map.get("transcript").and_then(Value::as_str).map(str::to_string));
        Ok(Self {
            c_id: get_str(map, "c_id"),
            batch_id: get_str(map, "batch_id"),
            to: get_str(map, "to").or_else(|| get_str(map, "phone_number")),
            from: get_str(map, "from"),
            request_data: get_value(map, "request_data"),
            metadata: map.get("metadata").cloned().unwrap_or(Value::Null),
            completed: get_bool(map, "completed"),
            inbound: get_bool(map, "inbound"),
            created_at: get_time(map, "created_at"),
            started_at: get_time(map, "started_at"),
            end_at: get_time(map, "end_at"),
            updated_at: get_time(map, "updated_at"),
            queue_status: get_str(map, "queue_status").map(|s| QueueStatus::parse(&s)),
            status: get_str(map, "status").map(|s| CallStatus::parse(&s)),
            call_length_minutes,
            corrected_duration_secs: get_f64(map, "corrected_duration"),
            max_duration: get_f64(map, "max_duration"),
            answered_by: get_str(map, "answered_by").map(|s| AnsweredBy::parse(&s)),
            call_ended_by: get_str(map, "call_ended_by"),
            error_message: get_str(map, "error_message"),
            summary: get_str(map, "summary"),
            price: get_f64(map, "price"),
            recording_url: get_str(map, "recording_url"),
            record: get_bool(map, "record"),
            transcripts,
            concatenated_transcript,
            variables: get_value(map, "variables"),
            analysis: get_value(map, "analysis"),
            transferred_to: get_str(map, "transferred_to"),
            event: get_str(map, "event"),
            call_id,
            raw,
        })
    }

    /// The call's length in seconds: `corrected_duration`, else `call_length` converted.
    pub fn duration_secs(&self) -> Option<f64> {
        self.corrected_duration_secs.or(self.call_length_minutes.map(|m| m * 60.0))
    }

    /// Whether the call is over. `completed` is Bland's most current flag; a terminal `status`
    /// or an error `queue_status` also ends it, and `queue_status: complete` counts only when
    /// `completed` is absent (when the two disagree, `completed` wins).
    pub fn is_final(&self) -> bool {
        if self.completed == Some(true) {
            return true;
        }
        if self.status.as_ref().is_some_and(CallStatus::is_terminal)
            || self.queue_status.as_ref().is_some_and(QueueStatus::is_error)
        {
            return true;
        }
        self.completed.is_none() && self.queue_status == Some(QueueStatus::Complete)
    }
}

fn transcript_entry(v: &Value) -> Option<TranscriptEntry> {
    let map = v.as_object()?;
    Some(TranscriptEntry {
        id: get_str(map, "id"),
        created_at: get_time(map, "created_at").or_else(|| get_time(map, "timestamp")),
        text: get_str(map, "text").unwrap_or_default(),
        user: get_str(map, "user").or_else(|| get_str(map, "speaker")).unwrap_or_default(),
    })
}

/// Reads a webhook body: the call-details object Bland POSTs when a call ends, or the event shape
/// `{"event":"call.completed","call_id":…,"timestamp":…,"data":{…}}`. For an event, the `data`
/// object is read as call details, with the top-level `call_id` and `event` filled in when `data`
/// lacks them.
pub fn parse_webhook(body: &[u8]) -> Result<CallDetails, String> {
    let value: Value = serde_json::from_slice(body).map_err(|e| format!("webhook body is not JSON: {e}"))?;
    let is_event = value.get("event").is_some_and(|e| e.is_string()) && value.get("data").is_some_and(Value::is_object);
    if !is_event {
        return CallDetails::from_value(value);
    }
    let Value::Object(mut outer) = value else { unreachable!("checked above") };
    let Some(Value::Object(mut data)) = outer.remove("data") else { unreachable!("checked above") };
    for key in ["call_id", "event", "batch_id"] {
        if !data.contains_key(key)
            && let Some(v) = outer.get(key)
        {
            data.insert(key.to_string(), v.clone());
        }
    }
    if !data.contains_key("updated_at")
        && let Some(ts) = outer.get("timestamp")
    {
        data.insert("updated_at".into(), ts.clone());
    }
    let mut details = CallDetails::from_value(Value::Object(data))?;
    outer.insert("data".into(), std::mem::replace(&mut details.raw, Value::Null));
    // Keep the event envelope as received, so storage holds what Bland sent.
    details.raw = Value::Object(outer);
    Ok(details)
}

// ---------------------------------------------------------------------------------------------
// List calls

/// Filters of `GET /v1/calls`; every one optional.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ListCallsQuery {
    pub to_number: Option<String>,
    pub from_number: Option<String>,
    pub batch_id: Option<String>,
    pub campaign_id: Option<String>,
    /// Calls created on or after this date.
    pub start_date: Option<NaiveDate>,
    /// Calls created on or before this date.
    pub end_date: Option<NaiveDate>,
    /// Calls created on this date (not with start/end date).
    pub created_at: Option<NaiveDate>,
    pub completed: Option<bool>,
    pub answered_by: Option<String>,
    pub inbound: Option<bool>,
    /// Call length in minutes.
    pub duration_gt: Option<f64>,
    pub duration_lt: Option<f64>,
    pub limit: Option<u32>,
    /// Index range (from inclusive).
    pub from: Option<u64>,
    pub to: Option<u64>,
    pub ascending: Option<bool>,
}

impl ListCallsQuery {
    /// The query-string pairs, in a fixed order.
    pub fn to_pairs(&self) -> Vec<(&'static str, String)> {
        let mut pairs = Vec::new();
        let mut push = |k: &'static str, v: Option<String>| {
            if let Some(v) = v {
                pairs.push((k, v));
            }
        };
        let date = |d: &Option<NaiveDate>| d.map(|d| d.format("%Y-%m-%d").to_string());
        push("to_number", self.to_number.clone());
        push("from_number", self.from_number.clone());
        push("batch_id", self.batch_id.clone());
        push("campaign_id", self.campaign_id.clone());
        push("start_date", date(&self.start_date));
        push("end_date", date(&self.end_date));
        push("created_at", date(&self.created_at));
        push("completed", self.completed.map(|b| b.to_string()));
        push("answered_by", self.answered_by.clone());
        push("inbound", self.inbound.map(|b| b.to_string()));
        push("duration_gt", self.duration_gt.map(|x| x.to_string()));
        push("duration_lt", self.duration_lt.map(|x| x.to_string()));
        push("limit", self.limit.map(|x| x.to_string()));
        push("from", self.from.map(|x| x.to_string()));
        push("to", self.to.map(|x| x.to_string()));
        push("ascending", self.ascending.map(|b| b.to_string()));
        pairs
    }
}

/// `{total_count, count, calls}` or the older `{calls, total, limit, offset}`.
#[derive(Debug, Clone, PartialEq)]
pub struct ListCallsResponse {
    /// Calls matching the filters, possibly more than returned.
    pub total_count: Option<u64>,
    pub count: usize,
    pub calls: Vec<CallDetails>,
    /// Items without a call id, skipped rather than failing the whole list.
    pub skipped: usize,
}

impl ListCallsResponse {
    pub fn from_value(v: &Value) -> Result<Self, String> {
        let calls_value = match v {
            Value::Object(map) => map.get("calls"),
            Value::Array(_) => Some(v),
            _ => None,
        };
        let items = match calls_value {
            Some(Value::Array(items)) => items.as_slice(),
            Some(Value::Null) | None => &[],
            Some(other) => return Err(format!("`calls` is {}, not a list", json_kind(other))),
        };
        let mut calls = Vec::with_capacity(items.len());
        let mut skipped = 0;
        for item in items {
            match CallDetails::from_value(item.clone()) {
                Ok(c) => calls.push(c),
                Err(_) => skipped += 1,
            }
        }
        let map = v.as_object();
        let total_count = map.and_then(|m| get_f64(m, "total_count").or_else(|| get_f64(m, "total")).map(|n| n as u64));
        Ok(Self { total_count, count: calls.len(), calls, skipped })
    }
}

// ---------------------------------------------------------------------------------------------
// Analyze, stop, account

/// Body of `POST /v1/calls/{id}/analyze` and `POST /v1/batches/{id}/analyze`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnalyzeRequest {
    pub goal: String,
    /// `[question, expected answer type]`, e.g. `["Will they renew?", "boolean"]`.
    pub questions: Vec<(String, String)>,
}

/// Answers for one call, in question order; an unanswerable question is `Null`.
#[derive(Debug, Clone, PartialEq)]
pub struct AnalyzeResponse {
    pub answers: Vec<Value>,
    pub message: Option<String>,
    /// `price` or `credits_used`, whichever came.
    pub price: Option<f64>,
    pub raw: Value,
}

impl AnalyzeResponse {
    pub fn from_value(v: Value) -> Result<Self, String> {
        let map = v.as_object().ok_or("expected a JSON object")?;
        let answers = match map.get("answers") {
            Some(Value::Array(a)) => a.clone(),
            Some(Value::Null) | None => Vec::new(),
            Some(other) => return Err(format!("`answers` is {}, not a list", json_kind(other))),
        };
        Ok(Self {
            answers,
            message: get_str(map, "message"),
            price: get_f64(map, "price").or_else(|| get_f64(map, "credits_used")),
            raw: v,
        })
    }
}

/// Answers for a batch, keyed by call id.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchAnalyzeResponse {
    pub answers: BTreeMap<String, Vec<Value>>,
    pub message: Option<String>,
    pub price: Option<f64>,
    pub raw: Value,
}

impl BatchAnalyzeResponse {
    pub fn from_value(v: Value) -> Result<Self, String> {
        let map = v.as_object().ok_or("expected a JSON object")?;
        let mut answers = BTreeMap::new();
        match map.get("answers") {
            Some(Value::Object(by_call)) => {
                for (call_id, a) in by_call {
                    let list = match a {
                        Value::Array(items) => items.clone(),
                        Value::Null => Vec::new(),
                        other => vec![other.clone()],
                    };
                    answers.insert(call_id.clone(), list);
                }
            }
            // The stored-analysis shape: a list of {call_id, answers, …}.
            Some(Value::Array(items)) => {
                for item in items {
                    if let Some(m) = item.as_object()
                        && let Some(id) = get_str(m, "call_id")
                    {
                        let list = m.get("answers").and_then(Value::as_array).cloned().unwrap_or_default();
                        answers.insert(id, list);
                    }
                }
            }
            _ => {}
        }
        Ok(Self {
            answers,
            message: get_str(map, "message"),
            price: get_f64(map, "price").or_else(|| get_f64(map, "credits_used")),
            raw: v,
        })
    }
}

/// Answer of the stop endpoints.
#[derive(Debug, Clone, PartialEq)]
pub struct StopResponse {
    pub status: Option<String>,
    pub message: Option<String>,
    /// Stop-all only: how many calls are being cancelled.
    pub num_calls: Option<u64>,
}

impl StopResponse {
    pub fn from_value(v: &Value) -> Self {
        let empty = Map::new();
        let map = v.as_object().unwrap_or(&empty);
        Self {
            status: get_str(map, "status"),
            message: get_str(map, "message"),
            num_calls: get_f64(map, "num_calls").map(|n| n as u64),
        }
    }
}

/// `GET /v1/me`: enough for a pre-flight (key valid, balance left).
#[derive(Debug, Clone, PartialEq)]
pub struct Account {
    pub status: Option<String>,
    pub current_balance: Option<f64>,
    pub refill_to: Option<f64>,
    pub total_calls: Option<u64>,
    pub raw: Value,
}

impl Account {
    pub fn from_value(v: Value) -> Result<Self, String> {
        let map = v.as_object().ok_or("expected a JSON object")?;
        let billing = map.get("billing").and_then(Value::as_object);
        Ok(Self {
            status: get_str(map, "status"),
            current_balance: billing.and_then(|b| get_f64(b, "current_balance")),
            refill_to: billing.and_then(|b| get_f64(b, "refill_to")),
            total_calls: get_f64(map, "total_calls").map(|n| n as u64),
            raw: v,
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Lenient field readers

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// A string, or a number written as one (ids documented as numbers arrive as either).
fn get_str(map: &Map<String, Value>, key: &str) -> Option<String> {
    match map.get(key)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn lenient_f64(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok().filter(|x: &f64| x.is_finite()),
        _ => None,
    }
}

fn get_f64(map: &Map<String, Value>, key: &str) -> Option<f64> {
    lenient_f64(map.get(key)?)
}

fn get_bool(map: &Map<String, Value>, key: &str) -> Option<bool> {
    match map.get(key)? {
        Value::Bool(b) => Some(*b),
        Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" => Some(true),
            "false" | "0" | "no" => Some(false),
            _ => None,
        },
        Value::Number(n) => n.as_i64().map(|n| n != 0),
        _ => None,
    }
}

fn get_value(map: &Map<String, Value>, key: &str) -> Option<Value> {
    map.get(key).filter(|v| !v.is_null()).cloned()
}

fn get_time(map: &Map<String, Value>, key: &str) -> Option<DateTime<Utc>> {
    parse_time(map.get(key)?.as_str()?)
}

/// RFC 3339, `YYYY-MM-DD HH:MM:SS[.f][±HH[:MM]]`, or the same without a zone (read as UTC).
pub fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.to_utc());
    }
    for fmt in ["%Y-%m-%d %H:%M:%S%.f%#z", "%Y-%m-%dT%H:%M:%S%.f%#z"] {
        if let Ok(t) = DateTime::parse_from_str(s, fmt) {
            return Some(t.to_utc());
        }
    }
    for fmt in ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, fmt) {
            return Some(t.and_utc());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_send_body_keeps_unknown_call_fields_untouched_and_recipient_fields_win() {
        let call = json!({
            "task": "Call {{first_name}}",
            "voice": "maya",
            "max_duration": 5,
            "temperature": "0.9",
            "tools": [{"name": "x"}],
            "webhook": "https://table.example/hook",
            "metadata": {"campaign": "spring", "attempt": "table"},
            "phone_number": "+19999999999",
        });
        let Value::Object(call) = call else { unreachable!() };
        let req = SendCallRequest::from_call_table(
            call,
            "+12223334444",
            json!({"attempt": "a-1"}),
            Some("https://me.example/webhooks/bland".into()),
        )
        .unwrap();
        assert_eq!(req.phone_number, "+12223334444");
        assert_eq!(req.webhook.as_deref(), Some("https://me.example/webhooks/bland"));
        assert_eq!(req.metadata, json!({"campaign": "spring", "attempt": "a-1"}));
        let body = serde_json::to_value(&req).unwrap();
        assert_eq!(body["temperature"], "0.9");
        assert_eq!(body["tools"], json!([{"name": "x"}]));
        assert_eq!(body["max_duration"], 5.0);
        assert_eq!(body["voice"], "maya");
        assert!(body.get("pathway_id").is_none(), "absent fields are not sent as null");
    }

    #[test]
    fn a_call_field_of_the_wrong_type_is_named() {
        let Value::Object(call) = json!({"task": "t", "voice": 7}) else { unreachable!() };
        let err = SendCallRequest::from_call_table(call, "+12223334444", Value::Null, None).unwrap_err();
        assert_eq!(err.to_string(), "call.voice: must be a string");
    }

    #[test]
    fn request_data_from_the_recipient_is_added_over_the_table() {
        let Value::Object(call) = json!({"task": "t", "request_data": {"a": 1, "b": 1}}) else { unreachable!() };
        let Value::Object(own) = json!({"b": 2}) else { unreachable!() };
        let req = SendCallRequest::from_call_table(call, "+1", Value::Null, None).unwrap().with_request_data(own);
        assert_eq!(Value::Object(req.request_data.unwrap()), json!({"a": 1, "b": 2}));
    }

    #[test]
    fn statuses_are_normalised_and_unknown_ones_kept() {
        assert_eq!(QueueStatus::parse("complete"), QueueStatus::Complete);
        assert_eq!(QueueStatus::parse("completed"), QueueStatus::Complete);
        assert_eq!(QueueStatus::parse("call_error"), QueueStatus::CallError);
        assert_eq!(CallStatus::parse("no-answer"), CallStatus::NoAnswer);
        assert_eq!(CallStatus::parse("NO_ANSWER"), CallStatus::NoAnswer);
        assert_eq!(CallStatus::parse("cancelled"), CallStatus::Canceled);
        assert_eq!(CallStatus::parse("in-progress"), CallStatus::InProgress);
        assert_eq!(CallStatus::parse("transferring"), CallStatus::Other("transferring".into()));
        assert_eq!(AnsweredBy::parse("no-answer"), AnsweredBy::NoAnswer);
    }

    #[test]
    fn numeric_ids_become_strings_and_missing_fields_are_none() {
        let d = CallDetails::from_value(json!({"c_id": 12345, "weird": {"x": 1}})).unwrap();
        assert_eq!(d.call_id, "12345");
        assert_eq!(d.status, None);
        assert_eq!(d.metadata, Value::Null);
        assert!(d.transcripts.is_empty());
        assert!(CallDetails::from_value(json!({"status": "completed"})).is_err());
        assert!(CallDetails::from_value(json!([1])).is_err());
    }

    #[test]
    fn wrong_typed_optional_fields_are_ignored_not_fatal() {
        let d = CallDetails::from_value(json!({
            "call_id": "x", "price": "0.27", "completed": "true", "call_length": {"m": 1},
            "created_at": "not a time", "transcripts": "nope", "answered_by": null
        }))
        .unwrap();
        assert_eq!(d.price, Some(0.27));
        assert_eq!(d.completed, Some(true));
        assert_eq!(d.call_length_minutes, None);
        assert_eq!(d.created_at, None);
        assert!(d.transcripts.is_empty());
        assert_eq!(d.answered_by, None);
    }

    #[test]
    fn completed_wins_over_a_disagreeing_queue_status() {
        let d = |v: Value| CallDetails::from_value(v).unwrap();
        assert!(d(json!({"call_id": "x", "completed": true, "queue_status": "started"})).is_final());
        assert!(!d(json!({"call_id": "x", "completed": false, "queue_status": "complete"})).is_final());
        assert!(d(json!({"call_id": "x", "queue_status": "completed"})).is_final());
        assert!(d(json!({"call_id": "x", "completed": false, "queue_status": "queue_error"})).is_final());
        assert!(d(json!({"call_id": "x", "completed": false, "status": "busy"})).is_final());
        assert!(!d(json!({"call_id": "x", "status": "in-progress"})).is_final());
    }

    #[test]
    fn times_are_read_in_the_formats_bland_uses() {
        let want = DateTime::parse_from_rfc3339("2024-01-01T12:00:00Z").unwrap().to_utc();
        assert_eq!(parse_time("2024-01-01T12:00:00Z"), Some(want));
        assert_eq!(parse_time("2024-01-01T12:00:00.000Z"), Some(want));
        assert_eq!(parse_time("2024-01-01 07:00:00-05:00"), Some(want));
        assert_eq!(parse_time("2024-01-01 12:00:00+00"), Some(want));
        assert_eq!(parse_time("2024-01-01 12:00:00"), Some(want));
        assert_eq!(parse_time("yesterday"), None);
    }

    #[test]
    fn an_event_webhook_takes_its_call_id_from_the_envelope() {
        let body = br#"{"event":"call.completed","call_id":"9d40","timestamp":"2023-01-01T12:02:00Z","data":{"phone_number":"+15551234567","duration":120,"status":"completed"}}"#;
        let d = parse_webhook(body).unwrap();
        assert_eq!(d.call_id, "9d40");
        assert_eq!(d.event.as_deref(), Some("call.completed"));
        assert_eq!(d.to.as_deref(), Some("+15551234567"));
        assert_eq!(d.call_length_minutes, Some(2.0));
        assert_eq!(d.status, Some(CallStatus::Completed));
        assert_eq!(d.raw["event"], "call.completed");
        assert_eq!(d.raw["data"]["duration"], 120);
    }

    #[test]
    fn a_plain_details_webhook_is_read_as_call_details() {
        let d = parse_webhook(br#"{"call_id":"a","completed":true,"metadata":{"k":[1,2]}}"#).unwrap();
        assert_eq!(d.call_id, "a");
        assert_eq!(d.event, None);
        assert_eq!(d.metadata, json!({"k": [1, 2]}));
        assert!(parse_webhook(b"not json").is_err());
    }

    #[test]
    fn list_query_pairs_use_blands_names_and_formats() {
        let q = ListCallsQuery {
            to_number: Some("+12223334444".into()),
            start_date: NaiveDate::from_ymd_opt(2026, 3, 8),
            completed: Some(true),
            limit: Some(100),
            ..Default::default()
        };
        assert_eq!(
            q.to_pairs(),
            vec![
                ("to_number", "+12223334444".to_string()),
                ("start_date", "2026-03-08".to_string()),
                ("completed", "true".to_string()),
                ("limit", "100".to_string()),
            ]
        );
    }

    #[test]
    fn a_list_item_without_an_id_is_skipped_not_fatal() {
        let r = ListCallsResponse::from_value(&json!({
            "total_count": 3, "count": 2, "calls": [{"call_id": "a"}, {"to": "+1"}]
        }))
        .unwrap();
        assert_eq!(r.total_count, Some(3));
        assert_eq!(r.count, 1);
        assert_eq!(r.skipped, 1);
    }
}
