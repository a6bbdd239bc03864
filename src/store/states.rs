//! The state machine's vocabulary: the states of jobs, attempts and campaigns, the outcomes of
//! calls, and the operator's campaign actions.
//!
//! This is the one place where these names are spelled as text: the store binds
//! [`JobState::as_str`] and friends into SQL and decodes columns back with `from_sql`, which
//! refuses a value it does not know as [`StoreError::Corrupt`] rather than guess. The rest of the
//! code speaks in the enums, so a typo no longer compiles. The migrations' `CHECK` constraints
//! list the same names; `every_name_is_one_the_schema_accepts` keeps the two in step.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Serialize, Serializer};

use super::StoreError;

/// Declares a fieldless enum with the name each variant has in the database (and in output).
macro_rules! named {
    (
        $(#[$meta:meta])*
        pub enum $name:ident ($what:literal) {
            $( $(#[$vmeta:meta])* $variant:ident = $text:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )+
        }

        impl $name {
            /// Every value, in the order reports list them.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The name stored in the database and shown to operators.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $( $name::$variant => $text, )+
                }
            }

            /// Decodes a stored value; an unknown one is a corrupt row, never a default.
            // Not every enum is read back yet (`AnalysisState`: only the analysis worker will).
            #[allow(dead_code)]
            pub(crate) fn from_sql(s: &str) -> Result<Self, StoreError> {
                s.parse().map_err(|_| StoreError::Corrupt(format!(concat!("unknown ", $what, " `{}`"), s)))
            }
        }

        impl FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                Self::ALL.iter().copied().find(|v| v.as_str() == s).ok_or_else(|| {
                    let names: Vec<&str> = Self::ALL.iter().map(|v| v.as_str()).collect();
                    format!(concat!("`{}` is not a ", $what, " (expected {})"), s, names.join(", "))
                })
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }
    };
}

named! {
    /// Where a recipient is in the job state machine (DESIGN.md).
    pub enum JobState ("job state") {
        Queued = "queued",
        Dialing = "dialing",
        InCall = "in_call",
        RetryWait = "retry_wait",
        Done = "done",
        Failed = "failed",
        Cancelled = "cancelled",
        Suppressed = "suppressed",
    }
}

named! {
    /// Where one call attempt is.
    pub enum AttemptState ("attempt state") {
        /// Committed before the POST; the call may or may not exist at Bland.
        Dialing = "dialing",
        InCall = "in_call",
        Ended = "ended",
        /// Bland refused the call for good (4xx).
        Failed = "failed",
        /// Proven never placed; the job went back to the queue.
        NotSent = "not_sent",
    }
}

named! {
    /// A campaign's lifecycle.
    pub enum CampaignState ("campaign state") {
        Draft = "draft",
        Running = "running",
        Paused = "paused",
        Completed = "completed",
        Cancelled = "cancelled",
    }
}

named! {
    /// What became of one call, as the retry policy and the reports see it.
    pub enum Outcome ("outcome") {
        Human = "human",
        Voicemail = "voicemail",
        NoAnswer = "no_answer",
        Busy = "busy",
        Failed = "failed",
        Unknown = "unknown",
    }
}

named! {
    /// Where a job's `timezones` came from (`jobs.zone_source`).
    pub enum ZoneSource ("zone source") {
        /// The file's time-zone column.
        Column = "column",
        /// Inferred from the number (libphonenumber's prefix map).
        AreaCode = "area_code",
        /// The campaign's `[schedule] timezone`.
        Default = "default",
    }
}

named! {
    /// How a webhook delivery ended, as stored in the inbox.
    pub enum Applied ("webhook result") {
        Applied = "applied",
        Updated = "updated",
        Duplicate = "duplicate",
        NotFinal = "not_final",
        Unmatched = "unmatched",
    }
}

named! {
    /// Where one [analysis] request for one call is (`call_analyses.state`).
    pub enum AnalysisState ("analysis state") {
        /// Recorded, not yet answered: asked (again) when `next_try_at` comes.
        Pending = "pending",
        /// Bland answered; the answers and the price are stored.
        Done = "done",
        /// Given up for good (the call cannot be analysed, the spend limit, or too many tries).
        Failed = "failed",
    }
}

/// An operator's (or the daemon's) move of a campaign from one state to another. Each action
/// owns the states it may start from; anything else is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CampaignAction {
    Start,
    Pause,
    Resume,
    Cancel,
    Complete,
}

impl CampaignAction {
    /// The states the action may be taken from.
    pub const fn from_states(self) -> &'static [CampaignState] {
        use CampaignState::*;
        match self {
            CampaignAction::Start => &[Draft],
            CampaignAction::Pause => &[Running],
            CampaignAction::Resume => &[Paused],
            CampaignAction::Cancel => &[Draft, Running, Paused],
            CampaignAction::Complete => &[Running],
        }
    }

    /// The state the action leads to.
    pub const fn to(self) -> CampaignState {
        match self {
            CampaignAction::Start | CampaignAction::Resume => CampaignState::Running,
            CampaignAction::Pause => CampaignState::Paused,
            CampaignAction::Cancel => CampaignState::Cancelled,
            CampaignAction::Complete => CampaignState::Completed,
        }
    }

    /// The past participle, for messages: "campaign `x` started".
    pub const fn done(self) -> &'static str {
        match self {
            CampaignAction::Start => "started",
            CampaignAction::Pause => "paused",
            CampaignAction::Resume => "resumed",
            CampaignAction::Cancel => "cancelled",
            CampaignAction::Complete => "completed",
        }
    }

    pub fn allowed_from(self, state: CampaignState) -> bool {
        self.from_states().contains(&state)
    }
}

/// A campaign's jobs by state; every state present, zero when it has none.
#[derive(Clone, Copy, Default, PartialEq, Eq)]
pub struct JobCounts([i64; JobState::ALL.len()]);

impl fmt::Debug for JobCounts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter().map(|(s, n)| (s.as_str(), n))).finish()
    }
}

impl JobCounts {
    pub fn get(&self, state: JobState) -> i64 {
        self.0[state as usize]
    }

    pub(crate) fn set(&mut self, state: JobState, n: i64) {
        self.0[state as usize] = n;
    }

    pub fn total(&self) -> i64 {
        self.0.iter().sum()
    }

    /// Jobs that still have calls ahead or in progress.
    pub fn open(&self) -> i64 {
        use JobState::*;
        [Queued, Dialing, InCall, RetryWait].into_iter().map(|s| self.get(s)).sum()
    }

    /// Every state with its count, in the state machine's order.
    pub fn iter(&self) -> impl Iterator<Item = (JobState, i64)> + '_ {
        JobState::ALL.iter().map(|s| (*s, self.get(*s)))
    }
}

/// `{"queued": n, "dialing": n, …}`: every state, by name.
impl Serialize for JobCounts {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.iter().map(|(state, n)| (state.as_str(), n)))
    }
}

/// A campaign's calls (attempts that reached Bland) by outcome, and those without one yet by
/// the state they are in.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallCounts {
    pub by_outcome: BTreeMap<Outcome, i64>,
    pub open: BTreeMap<AttemptState, i64>,
}

impl CallCounts {
    pub fn total(&self) -> i64 {
        self.by_outcome.values().sum::<i64>() + self.open.values().sum::<i64>()
    }

    pub fn outcome(&self, o: Outcome) -> i64 {
        self.by_outcome.get(&o).copied().unwrap_or(0)
    }

    /// The share of calls with outcome `o`; 0 when there were none.
    pub fn rate(&self, o: Outcome) -> f64 {
        let total = self.total();
        if total == 0 { 0.0 } else { self.outcome(o) as f64 / total as f64 }
    }

    /// Every name (outcome, or state while there is none) with its count, sorted by name.
    pub fn by_name(&self) -> BTreeMap<&'static str, i64> {
        let outcomes = self.by_outcome.iter().map(|(o, n)| (o.as_str(), *n));
        let open = self.open.iter().map(|(s, n)| (s.as_str(), *n));
        let mut map = BTreeMap::new();
        for (k, n) in outcomes.chain(open) {
            *map.entry(k).or_insert(0) += n;
        }
        map
    }
}

/// `{"human": n, "in_call": n, …}`, by name.
impl Serialize for CallCounts {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.by_name().serialize(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_round_trips_and_an_unknown_one_is_corrupt() {
        for s in JobState::ALL {
            assert_eq!(JobState::from_sql(s.as_str()).unwrap(), *s);
        }
        for s in AttemptState::ALL {
            assert_eq!(AttemptState::from_sql(s.as_str()).unwrap(), *s);
        }
        for s in CampaignState::ALL {
            assert_eq!(CampaignState::from_sql(s.as_str()).unwrap(), *s);
        }
        for o in Outcome::ALL {
            assert_eq!(o.as_str().parse::<Outcome>().unwrap(), *o);
        }
        let err = JobState::from_sql("queud").unwrap_err();
        assert!(matches!(&err, StoreError::Corrupt(m) if m.contains("unknown job state `queud`")), "{err}");
        let err = "maybe".parse::<Outcome>().unwrap_err();
        assert!(err.contains("human, voicemail, no_answer, busy, failed, unknown"), "{err}");
    }

    #[test]
    fn every_name_is_one_the_schema_accepts() {
        let schema = concat!(
            include_str!("../../migrations/0001_initial.sql"),
            include_str!("../../migrations/0003_call_analyses.sql")
        );
        let names = JobState::ALL
            .iter()
            .map(|s| s.as_str())
            .chain(AttemptState::ALL.iter().map(|s| s.as_str()))
            .chain(CampaignState::ALL.iter().map(|s| s.as_str()))
            .chain(Outcome::ALL.iter().map(|s| s.as_str()))
            .chain(AnalysisState::ALL.iter().map(|s| s.as_str()));
        for name in names {
            assert!(schema.contains(&format!("'{name}'")), "`{name}` is not in the schema's CHECK lists");
        }
    }

    #[test]
    fn each_action_moves_only_from_its_own_states() {
        use CampaignAction::*;
        use CampaignState::*;
        let allowed = |a: CampaignAction| -> Vec<CampaignState> {
            CampaignState::ALL.iter().copied().filter(|s| a.allowed_from(*s)).collect()
        };
        assert_eq!(allowed(Start), vec![Draft]);
        assert_eq!(allowed(Pause), vec![Running]);
        assert_eq!(allowed(Resume), vec![Paused]);
        assert_eq!(allowed(Cancel), vec![Draft, Running, Paused]);
        assert_eq!(allowed(Complete), vec![Running]);
        assert_eq!(Start.to(), Running);
        assert_eq!(Resume.to(), Running);
        assert_eq!(Cancel.to(), Cancelled);
        // No action leaves a finished campaign.
        for a in [Start, Pause, Resume, Cancel, Complete] {
            assert!(!a.allowed_from(Completed) && !a.allowed_from(Cancelled), "{a:?}");
        }
    }

    #[test]
    fn job_counts_serialise_every_state_by_name_and_add_up() {
        let mut c = JobCounts::default();
        c.set(JobState::Queued, 3);
        c.set(JobState::InCall, 2);
        c.set(JobState::Done, 5);
        assert_eq!(c.total(), 10);
        assert_eq!(c.open(), 5);
        let v = serde_json::to_value(c).unwrap();
        assert_eq!(v.as_object().unwrap().len(), JobState::ALL.len());
        assert_eq!(v["in_call"], 2);
        assert_eq!(v["suppressed"], 0);
    }

    #[test]
    fn call_counts_rate_over_every_call_including_open_ones() {
        let mut c = CallCounts::default();
        c.by_outcome.insert(Outcome::Human, 3);
        c.by_outcome.insert(Outcome::Voicemail, 1);
        c.open.insert(AttemptState::InCall, 4);
        assert_eq!(c.total(), 8);
        assert!((c.rate(Outcome::Human) - 0.375).abs() < 1e-12);
        assert_eq!(serde_json::to_value(&c).unwrap(), serde_json::json!({"human": 3, "in_call": 4, "voicemail": 1}));
        assert_eq!(CallCounts::default().rate(Outcome::Human), 0.0);
    }
}
