//! The campaign report: what a campaign bought, as a contact-center manager reads it.
//!
//! - **Funnel**: recipients, suppressed (DNC and the like), dialled at least once (list
//!   penetration = dialled ÷ dialable recipients), reached a human (contact rate = human ÷
//!   dialled), final outcomes, still pending.
//! - **Attempts**: dials per recipient, and the retry yield: what each attempt number reached
//!   (what the 2nd and 3rd attempts bought).
//! - **When and where**: dials and outcomes by the recipient's local hour and by time zone.
//! - **Minutes and money**: call minutes (total, mean, mean of calls that lasted), a length
//!   histogram, cost (total, per dial, per human contact), the top failure reasons.
//! - **Answers**: for each `analysis_schema` field and each `[analysis]` question, the
//!   distribution of what the calls that reached a human said.
//!
//! The store counts (`store::report`: a few grouped passes over the campaign's attempts, so a
//! million recipients cost a few hundred rows); [`build`] here is a pure function of those rows
//! and the campaign's spec, and [`render`] lays the result out as text. `--since/--until` bound
//! the dials counted; the recipients' states (suppressed, final, pending) are as of now.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use chrono::{DateTime, Timelike, Utc};
use serde::Serialize;

use crate::campaigns::{self, CampaignError};
use crate::compliance::Region;
use crate::config::{CampaignSpec, DaemonConfig};
use crate::store::{
    AnswerGroup, CampaignState, DialGroup, JobGroup, JobState, LengthBucket, Outcome, Period, ReasonCount,
    RecipientGroup, Store, ZoneQuarter,
};

/// Failure reasons listed.
const TOP_FAILURES: u32 = 10;

/// Where an answer field comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AnswerSource {
    /// `[call] analysis_schema`: answered by Bland with the call.
    AnalysisSchema,
    /// `[analysis] questions`: answered by `POST /v1/calls/{id}/analyze` after it.
    Question,
}

/// The whole report.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub campaign: CampaignHeader,
    pub period: Period,
    pub generated_at: DateTime<Utc>,
    pub funnel: Funnel,
    /// Recipients by the number of times they were dialled (dialled ones only).
    pub dials_per_recipient: Vec<DialsPerRecipient>,
    pub retry_yield: Vec<AttemptYield>,
    /// Dials by the recipient's local hour of day (0–23), in their first zone.
    pub by_local_hour: Vec<Breakdown>,
    /// Dials by the recipient's time zone(s).
    pub by_zone: Vec<Breakdown>,
    /// Dials by the recipient's state or province (`FL|OK` when the file's state and the area
    /// code's differ; `unknown` when neither is known).
    pub by_state: Vec<Breakdown>,
    pub minutes: Minutes,
    pub cost: Cost,
    /// The most frequent reasons calls failed.
    pub failures: Vec<Reason>,
    pub answers: Vec<FieldAnswers>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CampaignHeader {
    pub id: String,
    pub name: String,
    pub state: CampaignState,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Funnel {
    pub recipients: u64,
    /// Never to be dialled: on the DNC list, or otherwise suppressed at import.
    pub suppressed: u64,
    /// Recipients dialled at least once (in the period).
    pub dialled: u64,
    /// `dialled ÷ (recipients − suppressed)`.
    pub list_penetration: f64,
    /// Recipients one of whose calls reached a human (in the period).
    pub reached_human: u64,
    /// `reached_human ÷ dialled`.
    pub contact_rate: f64,
    /// Recipients with no call ahead, by how it ended: an outcome, `cancelled`, or `failed`.
    pub final_outcomes: BTreeMap<String, u64>,
    /// Recipients still queued, in a call, or waiting to retry.
    pub pending: u64,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct DialsPerRecipient {
    pub dials: u32,
    pub recipients: u64,
}

/// What one attempt number reached.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct AttemptYield {
    pub attempt_no: u32,
    pub dials: u64,
    /// By outcome (`in_progress` while a call has none yet).
    pub outcomes: BTreeMap<String, u64>,
    /// `outcomes.human ÷ dials`.
    pub human_rate: f64,
    /// This attempt's humans as a share of every human reached.
    pub share_of_humans: f64,
}

/// Dials in one class (a local hour, a zone), by outcome.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Breakdown {
    pub key: String,
    pub dials: u64,
    pub outcomes: BTreeMap<String, u64>,
    pub human_rate: f64,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Minutes {
    pub total: f64,
    /// Over every dial.
    pub mean: f64,
    /// Over dials with a length above zero.
    pub mean_nonzero: f64,
    pub histogram: Vec<Bucket>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Bucket {
    pub length: &'static str,
    pub dials: u64,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Cost {
    pub total_usd: f64,
    pub per_dial_usd: f64,
    /// Per recipient who reached a human.
    pub per_human_contact_usd: f64,
    /// The campaign's whole spend as its limit counts it (prices reported, reservations of
    /// calls without one yet), whatever the period.
    pub spent_usd: f64,
    /// `[limits] max_spend_usd`, if set.
    pub limit_usd: Option<f64>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Reason {
    pub reason: String,
    pub count: u64,
}

/// The distribution of one answer field over the calls that reached a human.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FieldAnswers {
    pub source: AnswerSource,
    pub field: String,
    /// The type the spec asked for (`boolean`, `number`, `string`, …).
    pub declared_type: String,
    /// Calls with an answer (not null).
    pub answered: u64,
    /// Calls whose answer was null (the call could not answer it).
    pub unanswered: u64,
    pub yes: u64,
    pub no: u64,
    pub numeric: Option<NumericAnswers>,
    /// The most frequent text answers (the categories, for a category field), most frequent first.
    pub values: Vec<Reason>,
    /// Text answers in all (the values above are a sample of them when there are many).
    pub text_answers: u64,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct NumericAnswers {
    pub count: u64,
    pub min: f64,
    pub mean: f64,
    pub max: f64,
}

/// What the store counted for one report.
#[derive(Debug, Clone, Default)]
pub struct Counted {
    pub jobs: Vec<JobGroup>,
    pub dials: Vec<DialGroup>,
    pub zone_quarters: Vec<ZoneQuarter>,
    pub recipients: Vec<RecipientGroup>,
    pub failures: Vec<ReasonCount>,
    pub schema_answers: Vec<AnswerGroup>,
    pub question_answers: Vec<AnswerGroup>,
    /// [`Store::campaign_spend`].
    pub spent_usd: f64,
}

/// The period whose dials a report counts: `since` (inclusive) to `until` (exclusive), either
/// open; `Err` says why a closed one counts nothing.
pub fn period(since: Option<DateTime<Utc>>, until: Option<DateTime<Utc>>) -> Result<Period, String> {
    match (since, until) {
        (Some(s), Some(u)) if s >= u => Err(format!("the start {s} is not before the end {u}: no dial is counted")),
        _ => Ok(Period { since, until }),
    }
}

/// The report of campaign `id` over `period`, as of `now`. The store's reads run at once (on
/// separate connections of the pool: SQLite's readers do not wait for one another).
pub async fn report(
    store: &Store,
    config: &DaemonConfig,
    id: &str,
    period: Period,
    now: DateTime<Utc>,
) -> Result<Report, CampaignError> {
    let row = store.campaign(id).await?;
    let spec = campaigns::stored_spec(store, config, id).await?;
    let (jobs, dials, zone_quarters, recipients, failures, schema_answers, question_answers, spent_usd) = tokio::try_join!(
        store.report_jobs(id),
        store.report_dials(id, period),
        store.report_zone_quarters(id, period),
        store.report_recipients(id, period),
        store.report_failures(id, period, TOP_FAILURES),
        store.report_schema_answers(id, period),
        store.report_question_answers(id, period),
        store.campaign_spend(id),
    )?;
    let counted =
        Counted { jobs, dials, zone_quarters, recipients, failures, schema_answers, question_answers, spent_usd };
    let header = CampaignHeader { id: row.id, name: row.name, state: row.state };
    Ok(build(header, &spec, period, now, &counted))
}

/// The report, from what the store counted: pure.
pub fn build(campaign: CampaignHeader, spec: &CampaignSpec, period: Period, now: DateTime<Utc>, c: &Counted) -> Report {
    let funnel = funnel(&c.jobs, &c.recipients);
    let dials: u64 = c.dials.iter().map(|d| d.dials).sum();
    let cost_total: f64 = c.dials.iter().map(|d| d.cost).sum();
    Report {
        campaign,
        period,
        generated_at: now,
        dials_per_recipient: dials_per_recipient(&c.recipients),
        retry_yield: retry_yield(&c.dials),
        by_local_hour: by_local_hour(&c.zone_quarters),
        by_zone: by_zone(&c.zone_quarters),
        by_state: by_state(&c.zone_quarters),
        minutes: minutes(&c.dials),
        cost: Cost {
            total_usd: cost_total,
            per_dial_usd: ratio(cost_total, dials as f64),
            per_human_contact_usd: ratio(cost_total, funnel.reached_human as f64),
            spent_usd: c.spent_usd,
            limit_usd: spec.limits.max_spend_usd,
        },
        failures: c.failures.iter().map(|f| Reason { reason: f.reason.clone(), count: f.count }).collect(),
        answers: answers(spec, &c.schema_answers, &c.question_answers),
        funnel,
    }
}

fn ratio(a: f64, b: f64) -> f64 {
    if b > 0.0 { a / b } else { 0.0 }
}

fn outcome_key(outcome: Option<Outcome>) -> String {
    outcome.map_or("in_progress", Outcome::as_str).to_string()
}

fn funnel(jobs: &[JobGroup], recipients: &[RecipientGroup]) -> Funnel {
    let mut f = Funnel::default();
    for g in jobs {
        f.recipients += g.jobs;
        match g.state {
            JobState::Suppressed => f.suppressed += g.jobs,
            JobState::Queued | JobState::Dialing | JobState::InCall | JobState::RetryWait => f.pending += g.jobs,
            JobState::Cancelled => {
                *f.final_outcomes.entry(JobState::Cancelled.as_str().to_string()).or_default() += g.jobs
            }
            JobState::Done | JobState::Failed => {
                let key = g.outcome.unwrap_or(Outcome::Failed).as_str().to_string();
                *f.final_outcomes.entry(key).or_default() += g.jobs;
            }
        }
    }
    f.dialled = recipients.iter().map(|r| r.recipients).sum();
    f.reached_human = recipients.iter().filter(|r| r.reached_human).map(|r| r.recipients).sum();
    f.list_penetration = ratio(f.dialled as f64, f.recipients.saturating_sub(f.suppressed) as f64);
    f.contact_rate = ratio(f.reached_human as f64, f.dialled as f64);
    f
}

fn dials_per_recipient(recipients: &[RecipientGroup]) -> Vec<DialsPerRecipient> {
    let mut by: BTreeMap<u32, u64> = BTreeMap::new();
    for r in recipients {
        *by.entry(r.dials).or_default() += r.recipients;
    }
    by.into_iter().map(|(dials, recipients)| DialsPerRecipient { dials, recipients }).collect()
}

fn retry_yield(dials: &[DialGroup]) -> Vec<AttemptYield> {
    let mut by: BTreeMap<u32, BTreeMap<String, u64>> = BTreeMap::new();
    for d in dials {
        *by.entry(d.attempt_no).or_default().entry(outcome_key(d.outcome)).or_default() += d.dials;
    }
    let humans_of = |o: &BTreeMap<String, u64>| o.get(Outcome::Human.as_str()).copied().unwrap_or(0);
    let all_humans: u64 = by.values().map(humans_of).sum();
    by.into_iter()
        .map(|(attempt_no, outcomes)| {
            let dials: u64 = outcomes.values().sum();
            let humans = humans_of(&outcomes);
            AttemptYield {
                attempt_no,
                dials,
                human_rate: ratio(humans as f64, dials as f64),
                share_of_humans: ratio(humans as f64, all_humans as f64),
                outcomes,
            }
        })
        .collect()
}

/// Rows of one breakdown, from (key, outcome, dials) triples; keys in `order`.
fn breakdown<K: Ord>(
    items: impl IntoIterator<Item = (K, Option<Outcome>, u64)>,
    label: impl Fn(&K) -> String,
) -> Vec<Breakdown> {
    let mut by: BTreeMap<K, BTreeMap<String, u64>> = BTreeMap::new();
    for (key, outcome, n) in items {
        *by.entry(key).or_default().entry(outcome_key(outcome)).or_default() += n;
    }
    by.into_iter()
        .map(|(key, outcomes)| {
            let dials: u64 = outcomes.values().sum();
            let humans = outcomes.get(Outcome::Human.as_str()).copied().unwrap_or(0);
            Breakdown { key: label(&key), dials, human_rate: ratio(humans as f64, dials as f64), outcomes }
        })
        .collect()
}

/// The local hour of each quarter in the recipient's first zone: a quarter hour lies within one
/// local hour in every zone (offsets are whole quarter hours), DST included.
fn by_local_hour(quarters: &[ZoneQuarter]) -> Vec<Breakdown> {
    breakdown(
        quarters.iter().filter_map(|q| {
            let zone = q.zones.first()?;
            Some((q.quarter.with_timezone(zone).hour(), q.outcome, q.dials))
        }),
        |h| format!("{h:02}:00"),
    )
}

fn by_zone(quarters: &[ZoneQuarter]) -> Vec<Breakdown> {
    breakdown(
        quarters.iter().map(|q| {
            let names: Vec<&str> = q.zones.iter().map(|z| z.name()).collect();
            (names.join("|"), q.outcome, q.dials)
        }),
        String::clone,
    )
}

fn by_state(quarters: &[ZoneQuarter]) -> Vec<Breakdown> {
    breakdown(
        quarters.iter().map(|q| {
            let key = if q.regions.is_empty() { "unknown".to_string() } else { Region::joined(&q.regions) };
            (key, q.outcome, q.dials)
        }),
        String::clone,
    )
}

fn minutes(dials: &[DialGroup]) -> Minutes {
    let count: u64 = dials.iter().map(|d| d.dials).sum();
    let total: f64 = dials.iter().map(|d| d.minutes).sum();
    let lasted = |b: LengthBucket| !matches!(b, LengthBucket::Unknown | LengthBucket::Zero);
    let nonzero: u64 = dials.iter().filter(|d| lasted(d.bucket)).map(|d| d.dials).sum();
    let histogram = LengthBucket::ALL
        .iter()
        .map(|b| Bucket { length: b.label(), dials: dials.iter().filter(|d| d.bucket == *b).map(|d| d.dials).sum() })
        .collect();
    Minutes { total, mean: ratio(total, count as f64), mean_nonzero: ratio(total, nonzero as f64), histogram }
}

/// Every declared field (schema fields, then questions, in the spec's order), then any field
/// answered that the spec no longer declares (a question set asked later with `analyze`).
fn answers(spec: &CampaignSpec, schema: &[AnswerGroup], questions: &[AnswerGroup]) -> Vec<FieldAnswers> {
    let mut out = Vec::new();
    let declared_schema: Vec<(String, String)> = spec
        .call
        .get("analysis_schema")
        .and_then(|s| s.as_object())
        .map(|m| m.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or("string").to_string())).collect())
        .unwrap_or_default();
    let declared_questions: Vec<(String, String)> =
        spec.analysis.as_ref().map(|a| a.questions.clone()).unwrap_or_default();
    for (source, declared, groups) in [
        (AnswerSource::AnalysisSchema, declared_schema, schema),
        (AnswerSource::Question, declared_questions, questions),
    ] {
        let mut fields: Vec<(String, String)> = declared;
        let mut undeclared: Vec<&str> =
            groups.iter().map(|g| g.field.as_str()).filter(|f| !fields.iter().any(|(d, _)| d == f)).collect();
        undeclared.sort_unstable();
        undeclared.dedup();
        fields.extend(undeclared.into_iter().map(|f| (f.to_string(), "(not in the spec)".to_string())));
        for (field, declared_type) in fields {
            out.push(field_answers(source, &field, &declared_type, groups));
        }
    }
    out
}

fn field_answers(source: AnswerSource, field: &str, declared_type: &str, groups: &[AnswerGroup]) -> FieldAnswers {
    let mut a = FieldAnswers {
        source,
        field: field.to_string(),
        declared_type: declared_type.to_string(),
        answered: 0,
        unanswered: 0,
        yes: 0,
        no: 0,
        numeric: None,
        values: Vec::new(),
        text_answers: 0,
    };
    let (mut n_count, mut n_sum) = (0u64, 0.0f64);
    let (mut n_min, mut n_max) = (f64::INFINITY, f64::NEG_INFINITY);
    for g in groups.iter().filter(|g| g.field == field) {
        match (g.kind.as_str(), &g.text) {
            ("null", _) => a.unanswered += g.count,
            ("true", _) => a.yes += g.count,
            ("false", _) => a.no += g.count,
            ("integer" | "real", _) => {
                n_count += g.count;
                n_sum += g.sum.unwrap_or(0.0);
                n_min = n_min.min(g.min.unwrap_or(f64::INFINITY));
                n_max = n_max.max(g.max.unwrap_or(f64::NEG_INFINITY));
            }
            ("text", Some(value)) => a.values.push(Reason { reason: value.clone(), count: g.count }),
            ("text", None) => a.text_answers += g.count,
            // Arrays and objects: answered, but with no distribution of their own.
            _ => a.answered += g.count,
        }
    }
    a.values.sort_by(|x, y| y.count.cmp(&x.count).then_with(|| x.reason.cmp(&y.reason)));
    a.answered += a.yes + a.no + n_count + a.text_answers;
    if n_count > 0 {
        a.numeric = Some(NumericAnswers { count: n_count, min: n_min, mean: n_sum / n_count as f64, max: n_max });
    }
    a
}

/// The report as text tables, for people; instants shown as `shown` says (UTC, or `--tz`).
pub fn render(r: &Report, shown: crate::clock::Shown) -> String {
    let mut s = String::new();
    let pct = |x: f64| format!("{:.1} %", 100.0 * x);
    let when = |t: Option<DateTime<Utc>>| t.map_or("-".to_string(), |t| shown.at(t));
    let _ = writeln!(s, "Campaign {} ({}), {}", r.campaign.id, r.campaign.name, r.campaign.state);
    let _ = writeln!(
        s,
        "Dials from {} until {}; recipients' states as of {}",
        when(r.period.since),
        when(r.period.until),
        shown.at(r.generated_at)
    );

    let f = &r.funnel;
    section(&mut s, "Funnel");
    let mut rows = vec![
        vec!["recipients".into(), f.recipients.to_string(), String::new()],
        vec!["suppressed (DNC, …)".into(), f.suppressed.to_string(), String::new()],
        vec![
            "dialled at least once".into(),
            f.dialled.to_string(),
            format!("{} list penetration", pct(f.list_penetration)),
        ],
        vec!["reached a human".into(), f.reached_human.to_string(), format!("{} contact rate", pct(f.contact_rate))],
    ];
    for (outcome, n) in &f.final_outcomes {
        rows.push(vec![format!("final: {outcome}"), n.to_string(), String::new()]);
    }
    rows.push(vec!["still pending".into(), f.pending.to_string(), String::new()]);
    table(&mut s, &["", "recipients", ""], &rows);

    section(&mut s, "Dials per recipient");
    let rows: Vec<Vec<String>> =
        r.dials_per_recipient.iter().map(|d| vec![d.dials.to_string(), d.recipients.to_string()]).collect();
    table(&mut s, &["dials", "recipients"], &rows);

    let outcome_columns = outcome_columns(r);
    section(&mut s, "Retry yield (by attempt number)");
    let mut headers = vec!["attempt", "dials"];
    headers.extend(outcome_columns.iter().map(String::as_str));
    headers.extend(["human rate", "share of humans"]);
    let rows: Vec<Vec<String>> = r
        .retry_yield
        .iter()
        .map(|y| {
            let mut row = vec![y.attempt_no.to_string(), y.dials.to_string()];
            row.extend(outcome_columns.iter().map(|o| y.outcomes.get(o).copied().unwrap_or(0).to_string()));
            row.extend([pct(y.human_rate), pct(y.share_of_humans)]);
            row
        })
        .collect();
    table(&mut s, &headers, &rows);

    for (title, key, rows) in [
        ("By recipient-local hour", "hour", &r.by_local_hour),
        ("By time zone", "zone", &r.by_zone),
        ("By state", "state", &r.by_state),
    ] {
        section(&mut s, title);
        let mut headers = vec![key, "dials"];
        headers.extend(outcome_columns.iter().map(String::as_str));
        headers.push("human rate");
        let rows: Vec<Vec<String>> = rows
            .iter()
            .map(|b| {
                let mut row = vec![b.key.clone(), b.dials.to_string()];
                row.extend(outcome_columns.iter().map(|o| b.outcomes.get(o).copied().unwrap_or(0).to_string()));
                row.push(pct(b.human_rate));
                row
            })
            .collect();
        table(&mut s, &headers, &rows);
    }

    let m = &r.minutes;
    section(&mut s, "Minutes and cost");
    table(
        &mut s,
        &["", ""],
        &[
            vec!["call minutes".into(), format!("{:.1}", m.total)],
            vec!["mean per dial".into(), format!("{:.2} min", m.mean)],
            vec!["mean of calls that lasted".into(), format!("{:.2} min", m.mean_nonzero)],
            vec!["cost".into(), format!("${:.2}", r.cost.total_usd)],
            vec!["per dial".into(), format!("${:.4}", r.cost.per_dial_usd)],
            vec!["per human contact".into(), format!("${:.4}", r.cost.per_human_contact_usd)],
            vec![
                "spend limit".into(),
                match r.cost.limit_usd {
                    Some(limit) => format!("${:.2} of ${limit:.2} (the whole campaign)", r.cost.spent_usd),
                    None => format!("none (${:.2} spent in all)", r.cost.spent_usd),
                },
            ],
        ],
    );
    let rows: Vec<Vec<String>> = m.histogram.iter().map(|b| vec![b.length.to_string(), b.dials.to_string()]).collect();
    table(&mut s, &["length", "dials"], &rows);

    section(&mut s, "Top failure reasons");
    if r.failures.is_empty() {
        s.push_str("  none\n");
    } else {
        let rows: Vec<Vec<String>> = r.failures.iter().map(|f| vec![f.count.to_string(), excerpt(&f.reason)]).collect();
        table(&mut s, &["calls", "reason"], &rows);
    }

    if !r.answers.is_empty() {
        section(&mut s, "Answers (calls that reached a human)");
        for a in &r.answers {
            let source = match a.source {
                AnswerSource::AnalysisSchema => "analysis_schema",
                AnswerSource::Question => "question",
            };
            let _ = writeln!(
                s,
                "  {} [{source}, {}]: {} answered, {} unanswered",
                a.field, a.declared_type, a.answered, a.unanswered
            );
            if a.yes + a.no > 0 {
                let _ = writeln!(s, "      yes {}  no {}", a.yes, a.no);
            }
            if let Some(n) = &a.numeric {
                let _ = writeln!(s, "      min {}  mean {:.2}  max {}  ({} numbers)", n.min, n.mean, n.max, n.count);
            }
            for v in &a.values {
                let _ = writeln!(s, "      {:>8}  {}", v.count, excerpt(&v.reason));
            }
            if a.text_answers > a.values.iter().map(|v| v.count).sum::<u64>() {
                let _ = writeln!(s, "      ({} text answers in all; the most frequent shown)", a.text_answers);
            }
        }
    }
    s
}

/// The outcome columns the tables show: every outcome seen, in the vocabulary's order.
fn outcome_columns(r: &Report) -> Vec<String> {
    let seen = |key: &str| {
        r.retry_yield.iter().any(|y| y.outcomes.contains_key(key))
            || r.by_zone.iter().any(|b| b.outcomes.contains_key(key))
    };
    Outcome::ALL
        .iter()
        .map(|o| o.as_str().to_string())
        .chain(std::iter::once("in_progress".to_string()))
        .filter(|k| seen(k))
        .collect()
}

fn section(s: &mut String, title: &str) {
    let _ = writeln!(s, "\n{title}");
}

/// A text answer or reason on one line, at most 80 characters.
fn excerpt(text: &str) -> String {
    let one_line: String = text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    if one_line.chars().count() > 80 {
        format!("{}…", one_line.chars().take(79).collect::<String>())
    } else {
        one_line
    }
}

/// Columns padded to their widest cell: text left, numbers right.
fn table(s: &mut String, headers: &[&str], rows: &[Vec<String>]) {
    if rows.is_empty() {
        s.push_str("  none\n");
        return;
    }
    let width = |i: usize| {
        rows.iter()
            .map(|r| r.get(i).map_or(0, |c| c.chars().count()))
            .chain([headers[i].chars().count()])
            .max()
            .unwrap_or(0)
    };
    let widths: Vec<usize> = (0..headers.len()).map(width).collect();
    let numeric = |c: &str| c.chars().next().is_some_and(|ch| ch.is_ascii_digit() || ch == '$');
    let line = |cells: &mut dyn Iterator<Item = &str>| {
        let mut out = String::from(" ");
        for (i, c) in cells.enumerate() {
            let w = widths[i];
            if i > 0 && numeric(c) {
                let _ = write!(out, " {c:>w$}");
            } else {
                let _ = write!(out, " {c:<w$}");
            }
        }
        out.trim_end().to_string()
    };
    if headers.iter().any(|h| !h.is_empty()) {
        let _ = writeln!(s, "{}", line(&mut headers.iter().copied()));
    }
    for r in rows {
        let _ = writeln!(s, "{}", line(&mut r.iter().map(String::as_str)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::AttemptState;
    use chrono_tz::Tz;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().to_utc()
    }

    #[test]
    fn a_quarter_hour_is_counted_in_the_recipients_local_hour_across_dst() {
        let ny: Tz = "America/New_York".parse().unwrap();
        let kolkata: Tz = "Asia/Kolkata".parse().unwrap();
        let q = |zone: Tz, at: &str, outcome| ZoneQuarter {
            zones: vec![zone],
            regions: vec![],
            quarter: t(at),
            outcome,
            dials: 1,
        };
        let rows = by_local_hour(&[
            // 13:45 UTC in winter is 08:45 in New York; in summer 09:45.
            q(ny, "2026-01-15T13:45:00Z", Some(Outcome::Human)),
            q(ny, "2026-07-15T13:45:00Z", Some(Outcome::Voicemail)),
            // +05:30: 03:30 UTC is 09:00 local.
            q(kolkata, "2026-07-15T03:30:00Z", None),
        ]);
        let hours: Vec<(&str, u64)> = rows.iter().map(|b| (b.key.as_str(), b.dials)).collect();
        assert_eq!(hours, vec![("08:00", 1), ("09:00", 2)]);
        assert_eq!(rows[1].outcomes.get("voicemail"), Some(&1));
        assert_eq!(rows[1].outcomes.get("in_progress"), Some(&1));
        assert_eq!(rows[0].human_rate, 1.0);
    }

    #[test]
    fn the_funnel_counts_final_pending_and_suppressed_and_its_rates_divide_by_the_right_base() {
        let g = |state, outcome, jobs| JobGroup { state, outcome, jobs };
        let jobs = [
            g(JobState::Done, Some(Outcome::Human), 30),
            g(JobState::Done, Some(Outcome::Voicemail), 10),
            g(JobState::Failed, None, 5),
            g(JobState::Suppressed, None, 20),
            g(JobState::Queued, None, 25),
            g(JobState::RetryWait, Some(Outcome::NoAnswer), 5),
            g(JobState::Cancelled, None, 5),
        ];
        let r = |dials, reached_human, recipients| RecipientGroup { dials, reached_human, recipients };
        let recipients = [r(1, true, 20), r(2, true, 10), r(1, false, 15), r(3, false, 5)];
        let f = funnel(&jobs, &recipients);
        assert_eq!((f.recipients, f.suppressed, f.pending, f.dialled, f.reached_human), (100, 20, 30, 50, 30));
        assert_eq!(f.list_penetration, 50.0 / 80.0);
        assert_eq!(f.contact_rate, 30.0 / 50.0);
        let finals: Vec<(&str, u64)> = f.final_outcomes.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        assert_eq!(finals, vec![("cancelled", 5), ("failed", 5), ("human", 30), ("voicemail", 10)]);
        let per: Vec<(u32, u64)> = dials_per_recipient(&recipients).iter().map(|d| (d.dials, d.recipients)).collect();
        assert_eq!(per, vec![(1, 35), (2, 10), (3, 5)]);
    }

    #[test]
    fn minutes_mean_of_calls_that_lasted_leaves_out_zero_and_unknown_lengths() {
        let d = |bucket, dials, minutes| DialGroup {
            attempt_no: 1,
            state: AttemptState::Ended,
            outcome: Some(Outcome::Human),
            bucket,
            dials,
            minutes,
            cost: 0.0,
        };
        let m = minutes(&[
            d(LengthBucket::Zero, 6, 0.0),
            d(LengthBucket::Unknown, 2, 0.0),
            d(LengthBucket::OneToTwo, 2, 3.0),
        ]);
        assert_eq!((m.total, m.mean, m.mean_nonzero), (3.0, 0.3, 1.5));
        assert_eq!(m.histogram.iter().map(|b| b.dials).sum::<u64>(), 10);
        assert_eq!(LengthBucket::of(Some(0.5)), LengthBucket::HalfToOne);
        assert_eq!(LengthBucket::of(Some(10.0)), LengthBucket::TenOrMore);
    }

    #[test]
    fn answer_groups_become_yes_no_numbers_and_the_most_frequent_text() {
        let g = |kind: &str, text: Option<&str>, count, num: Option<(f64, f64, f64)>| AnswerGroup {
            field: "f".into(),
            kind: kind.into(),
            text: text.map(String::from),
            count,
            min: num.map(|n| n.0),
            sum: num.map(|n| n.1),
            max: num.map(|n| n.2),
        };
        let groups = [
            g("true", None, 7, None),
            g("false", None, 3, None),
            g("null", None, 2, None),
            g("integer", None, 2, Some((1.0, 5.0, 4.0))),
            g("real", None, 2, Some((0.5, 1.0, 0.5))),
            g("text", Some("later"), 1, None),
            g("text", Some("never"), 4, None),
            g("text", None, 9, None),
        ];
        let a = field_answers(AnswerSource::Question, "f", "boolean", &groups);
        assert_eq!((a.yes, a.no, a.unanswered, a.text_answers), (7, 3, 2, 9));
        assert_eq!(a.answered, 7 + 3 + 4 + 9);
        assert_eq!(a.numeric, Some(NumericAnswers { count: 4, min: 0.5, mean: 1.5, max: 4.0 }));
        assert_eq!(a.values[0], Reason { reason: "never".into(), count: 4 });
    }
}
