//! One recipient or one attempt as the cells of its CSV row: pure functions of the stored
//! record, the campaign's spec and the guard.
//!
//! Cells are written into a reused row of `String`s, so a million rows allocate little. Times
//! are RFC 3339 to the second, in UTC (`2026-06-01T13:00:00Z`) and on the recipient's clock
//! with its offset (`2026-06-01T09:00:00-04:00`); the recipient's zone is the first of its
//! zones. Amounts are written as stored; a cost (a sum of prices) is rounded to a millionth of a
//! dollar, so the sum of 0.1 and 0.2 reads `0.3`.

use std::fmt::Write;

use chrono::format::{Item, StrftimeItems};
use chrono::{DateTime, Datelike, Utc, Weekday};
use chrono_tz::Tz;
use serde_json::Value;

use super::columns::{ATTEMPT_COLUMNS, Layout};
use super::filter::RecipientOutcome;
use crate::compliance::Region;
use crate::config::ZonePolicy;
use crate::dispatcher::recipient_zones;
use crate::store::{ExportAttempt, ExportRecipient};
use crate::window::DialWindow;

/// Formats times without parsing a format string per cell.
pub struct Times {
    utc: Vec<Item<'static>>,
    local: Vec<Item<'static>>,
}

impl Default for Times {
    fn default() -> Self {
        Times {
            utc: StrftimeItems::new("%Y-%m-%dT%H:%M:%SZ").collect(),
            local: StrftimeItems::new("%Y-%m-%dT%H:%M:%S%:z").collect(),
        }
    }
}

impl Times {
    fn utc(&self, cell: &mut String, at: DateTime<Utc>) {
        let _ = write!(cell, "{}", at.format_with_items(self.utc.iter()));
    }

    fn local(&self, cell: &mut String, at: DateTime<Utc>, zone: Tz) {
        let _ = write!(cell, "{}", at.with_timezone(&zone).format_with_items(self.local.iter()));
    }
}

fn number(cell: &mut String, x: f64) {
    let _ = write!(cell, "{x}");
}

/// A sum of prices, to the millionth of a dollar.
fn amount(cell: &mut String, x: f64) {
    number(cell, (x * 1e6).round() / 1e6);
}

/// A JSON answer as a cell: a string as it is, `true`/`false`, a number, nothing for `null`,
/// anything else as JSON.
fn answer(cell: &mut String, v: &Value) {
    match v {
        Value::Null => {}
        Value::String(s) => cell.push_str(s),
        Value::Bool(b) => cell.push_str(if *b { "true" } else { "false" }),
        other => {
            let _ = write!(cell, "{other}");
        }
    }
}

fn text(cell: &mut String, v: Option<&str>) {
    if let Some(v) = v {
        cell.push_str(v);
    }
}

/// Empties every cell of `row`, keeping their capacity, and sizes it to `n` cells.
pub fn clear(row: &mut Vec<String>, n: usize) {
    row.resize_with(n, String::new);
    for cell in row.iter_mut() {
        cell.clear();
    }
}

/// A recipient's row (`row` already cleared to the layout's width).
pub fn recipient(row: &mut [String], layout: &Layout, r: &ExportRecipient, times: &Times) {
    layout.place(r.import_id, &r.variables, r.phone.as_str(), |i, v| row[i].push_str(v));
    let Some(at) = layout.ours else { return };
    let zone = r.timezones.first().copied();
    let cells = &mut row[at..];
    cells[0].push_str(r.phone.as_str());
    if let Some(z) = zone {
        cells[1].push_str(z.name());
    }
    Region::push_joined(&mut cells[2], &r.regions);
    if let Some(o) = RecipientOutcome::of(r.state, r.outcome) {
        cells[3].push_str(o.as_str());
    }
    let _ = write!(cells[4], "{}", r.attempts);
    for (t, at) in [(5, r.first_attempt), (7, r.last_attempt)] {
        if let Some(at) = at {
            times.utc(&mut cells[t], at);
            if let Some(z) = zone {
                times.local(&mut cells[t + 1], at, z);
            }
        }
    }
    text(&mut cells[9], r.call_id.as_deref());
    text(&mut cells[10], r.answered_by.as_deref());
    if let Some(x) = r.call_length_min {
        number(&mut cells[11], x);
    }
    if let Some(x) = r.cost_usd {
        amount(&mut cells[12], x);
    }
    text(&mut cells[13], r.summary.as_deref());
    if let Some(analysis) = &r.analysis {
        for (i, field) in layout.schema.iter().enumerate() {
            if let Some(v) = analysis.get(field) {
                answer(&mut row[layout.schema_at + i], v);
            }
        }
    }
    // The latest answer to each question wins: sets come oldest first.
    for set in &r.answers {
        for ((q, _), v) in set.questions.iter().zip(&set.answers) {
            if let Some(i) = layout.questions.iter().position(|x| x == q) {
                let cell = &mut row[layout.questions_at + i];
                cell.clear();
                answer(cell, v);
            }
        }
    }
}

/// What an attempt row reads from the campaign: its window and zone policy, under the guard.
pub struct AuditContext {
    window: DialWindow,
    policy: ZonePolicy,
    guard: String,
    /// Each weekday's hours as configured (Monday first), written once.
    days: [String; 7],
}

impl AuditContext {
    pub fn new(window: DialWindow, policy: ZonePolicy) -> Self {
        let days = std::array::from_fn(|i| window.hours.describe_day(WEEK[i]));
        AuditContext { guard: window.compliance.to_string(), window, policy, days }
    }
}

const WEEK: [Weekday; 7] =
    [Weekday::Mon, Weekday::Tue, Weekday::Wed, Weekday::Thu, Weekday::Fri, Weekday::Sat, Weekday::Sun];

fn day_name(day: Weekday) -> &'static str {
    ["mon", "tue", "wed", "thu", "fri", "sat", "sun"][day.num_days_from_monday() as usize]
}

/// An attempt's row (`row` already cleared to [`ATTEMPT_COLUMNS`]' width): the call, and the
/// evidence that it was placed inside the recipient's window — the zones the dispatcher
/// considered (by the campaign's zone policy) and where they came from, and in each the span of
/// the campaign's hours for that weekday, cut to the guard, that the dial time fell in.
pub fn attempt(row: &mut [String], a: &ExportAttempt, audit: &AuditContext, times: &Times) {
    debug_assert_eq!(row.len(), ATTEMPT_COLUMNS.len());
    let zones = recipient_zones(audit.policy, &a.timezones, a.number_zones.as_deref());
    let own = a.timezones.first().copied();
    row[0].push_str(&a.id);
    row[1].push_str(a.phone.as_str());
    let _ = write!(row[2], "{}", a.attempt_no);
    times.utc(&mut row[3], a.dialed_at);
    if let Some(z) = own {
        times.local(&mut row[4], a.dialed_at, z);
        row[5].push_str(z.name());
    }
    join_zones(&mut row[6], &zones);
    row[7].push_str(a.zone_source.as_str());
    join_zones(&mut row[8], &a.timezones);
    if let Some(n) = &a.number_zones {
        join_zones(&mut row[9], n);
    }
    let mut days = Vec::new();
    for (i, &z) in zones.iter().enumerate() {
        if i > 0 {
            row[10].push_str("; ");
        }
        let day = a.dialed_at.with_timezone(&z).weekday();
        match audit.window.span_at_for(z, &a.regions, a.dialed_at) {
            Some((d, span)) => {
                let _ = write!(row[10], "{} {} {span}", z.name(), day_name(d));
            }
            None => {
                let _ = write!(row[10], "{} {} closed", z.name(), day_name(day));
            }
        }
        if !days.contains(&day) {
            days.push(day);
        }
    }
    for (i, day) in days.into_iter().enumerate() {
        if i > 0 {
            row[11].push_str("; ");
        }
        row[11].push_str(&audit.days[day.num_days_from_monday() as usize]);
    }
    row[12].push_str(&audit.guard);
    let recipient = crate::window::Recipient { zones: &zones, regions: &a.regions };
    row[13].push_str(if audit.window.is_open_for(&recipient, a.dialed_at) { "yes" } else { "no" });
    row[14].push_str(a.state.as_str());
    if let Some(o) = a.outcome {
        row[15].push_str(o.as_str());
    }
    text(&mut row[16], a.answered_by.as_deref());
    text(&mut row[17], a.call_id.as_deref());
    if let Some(x) = a.call_length_min {
        number(&mut row[18], x);
    }
    if let Some(x) = a.price_usd {
        number(&mut row[19], x);
    }
    text(&mut row[20], a.error_message.as_deref());
    Region::push_joined(&mut row[21], &a.regions);
    text(&mut row[22], a.rules_version.as_deref());
}

fn join_zones(cell: &mut String, zones: &[Tz]) {
    for (i, z) in zones.iter().enumerate() {
        if i > 0 {
            cell.push('|');
        }
        cell.push_str(z.name());
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use chrono_tz::America::{Chicago, New_York};
    use serde_json::json;

    use super::*;
    use crate::export::columns::{ColumnSet, OURS};
    use crate::phone::PhoneNumber;
    use crate::store::{AnalysisAnswers, AttemptState, ImportColumns, JobState, Outcome, Variables, ZoneSource};
    use crate::window::{Compliance, WeeklyHours};

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn recipient_record() -> ExportRecipient {
        ExportRecipient {
            job_id: 1,
            import_id: Some(1),
            phone: PhoneNumber::from_stored("+12125550100".into()),
            variables: Variables::Values(vec!["Ada".into()]),
            timezones: Arc::from(vec![New_York]),
            state: JobState::Done,
            outcome: Some(Outcome::Human),
            attempts: 2,
            first_attempt: Some(at("2026-06-01T13:00:00Z")),
            last_attempt: Some(at("2026-06-02T14:30:05.250Z")),
            cost_usd: Some(0.1 + 0.2),
            call_id: Some("c-2".into()),
            answered_by: Some("human".into()),
            call_length_min: Some(2.35),
            summary: Some("Spoke, =renew".into()),
            analysis: json!({"wants_renewal": true, "callback_time": null}).as_object().cloned(),
            answers: vec![
                AnalysisAnswers {
                    questions: vec![("Renew?".into(), "boolean".into()), ("When?".into(), "string".into())],
                    answers: vec![json!(false), json!("mornings")],
                },
                AnalysisAnswers { questions: vec![("Renew?".into(), "boolean".into())], answers: vec![json!(true)] },
            ],
            regions: vec![crate::compliance::Region::parse("NY").unwrap()],
        }
    }

    #[test]
    fn a_recipient_row_has_its_columns_ours_and_the_latest_answers() {
        let imports = [ImportColumns {
            import_id: 1,
            columns: vec!["first_name".into()],
            phone_column: Some("phone".into()),
            phone_position: Some(1),
        }];
        let sets = [vec![("Renew?".to_string(), "boolean".to_string()), ("When?".to_string(), "string".to_string())]];
        let schema = ["callback_time".to_string(), "wants_renewal".to_string()];
        let layout = Layout::new(ColumnSet::All, &imports, &[], &schema, &sets);
        let mut row = Vec::new();
        clear(&mut row, layout.names.len());
        recipient(&mut row, &layout, &recipient_record(), &Times::default());
        let expected: Vec<&str> = vec![
            "Ada",
            "+12125550100",
            "America/New_York",
            "NY",
            "human",
            "2",
            "2026-06-01T13:00:00Z",
            "2026-06-01T09:00:00-04:00",
            "2026-06-02T14:30:05Z",
            "2026-06-02T10:30:05-04:00",
            "c-2",
            "human",
            "2.35",
            "0.3",
            "Spoke, =renew",
            "",
            "true",
            "true",
            "mornings",
        ];
        assert_eq!(layout.names.len(), 1 + OURS.len() + 4);
        assert_eq!(row, expected);
    }

    #[test]
    fn a_recipient_never_dialled_has_empty_call_columns_and_is_pending() {
        let mut r = recipient_record();
        r.state = JobState::Queued;
        (r.outcome, r.attempts, r.first_attempt, r.last_attempt, r.cost_usd) = (None, 0, None, None, None);
        (r.call_id, r.answered_by, r.call_length_min, r.summary, r.analysis) = (None, None, None, None, None);
        r.answers.clear();
        let layout = Layout::new(ColumnSet::All, &[], &[], &[], &[]);
        let mut row = Vec::new();
        clear(&mut row, layout.names.len());
        recipient(&mut row, &layout, &r, &Times::default());
        assert_eq!(row, ["+12125550100", "America/New_York", "NY", "pending", "0", "", "", "", "", "", "", "", "", ""]);
    }

    #[test]
    fn an_attempt_row_shows_the_zones_considered_and_the_span_that_allowed_the_call() {
        let hours = WeeklyHours::parse([("mon-fri", "07:00-20:00"), ("sat", "10:00-14:00")]).unwrap();
        let audit = AuditContext::new(DialWindow::new(hours, Compliance::default()), ZonePolicy::Strictest);
        let a = ExportAttempt {
            id: "a-1".into(),
            job_id: 1,
            attempt_no: 1,
            phone: PhoneNumber::from_stored("+12125550100".into()),
            state: AttemptState::Ended,
            // Tuesday 10:00 in New York, 09:00 in Chicago.
            dialed_at: at("2026-06-02T14:00:00Z"),
            ended_at: None,
            outcome: Some(Outcome::Voicemail),
            answered_by: Some("voicemail".into()),
            call_id: Some("c-1".into()),
            call_length_min: Some(0.5),
            price_usd: Some(0.045),
            error_message: None,
            timezones: Arc::from(vec![New_York]),
            zone_source: ZoneSource::Column,
            number_zones: Some(Arc::from(vec![Chicago])),
            regions: vec![crate::compliance::Region::parse("NY").unwrap()],
            rules_version: Some("2026-12-01".into()),
        };
        let mut row = Vec::new();
        clear(&mut row, ATTEMPT_COLUMNS.len());
        attempt(&mut row, &a, &audit, &Times::default());
        assert_eq!(
            row,
            [
                "a-1",
                "+12125550100",
                "1",
                "2026-06-02T14:00:00Z",
                "2026-06-02T10:00:00-04:00",
                "America/New_York",
                "America/Chicago|America/New_York",
                "column",
                "America/New_York",
                "America/Chicago",
                "America/Chicago tue 08:00-20:00; America/New_York tue 08:00-20:00",
                "mon-fri 07:00-20:00",
                "08:00-21:00",
                "yes",
                "ended",
                "voicemail",
                "voicemail",
                "c-1",
                "0.5",
                "0.045",
                "",
                "NY",
                "2026-12-01",
            ]
        );
    }
}
